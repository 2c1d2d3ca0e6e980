"""Variable monitors' rules: pure code, no I/O; monitors as OCPP JSON.

**Which monitors a GetMonitoringReport asks for** (N02): those of the componentVariables it
names (a component by name, and instance and EVSE when given; a variable by name, and instance
when given; a component without variable: all its variables), and of the monitoringCriteria it
names (ThresholdMonitoring: UpperThreshold and LowerThreshold; DeltaMonitoring: Delta;
PeriodicMonitoring: Periodic and PeriodicClockAligned); neither: every monitor. When its report
ends, the stored monitors it asked for that no part listed, stored before it left, are gone
from the station (as for charging profiles and display messages).

**What a monitoring base clears** (N03): HardWiredOnly "clears all custom monitors and disables
all pre-configured monitors" (MonitoringBaseEnumType); All and FactoryDefault activate
pre-configured monitors and leave the custom ones. Custom monitors are the ones the CSMS set.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from common import reports

__all__ = ["MonitorCriteria", "StoredMonitor", "clears_custom_monitors", "stale_after_report"]

JSON = Mapping[str, Any]

_CRITERIA_TYPES = {
    "ThresholdMonitoring": {"UpperThreshold", "LowerThreshold"},
    "DeltaMonitoring": {"Delta"},
    "PeriodicMonitoring": {"Periodic", "PeriodicClockAligned"},
}


@dataclasses.dataclass(frozen=True)
class StoredMonitor:
    id: int
    component: JSON
    variable: JSON
    type: str
    updated_at: datetime.datetime
    reported_by: int | None = None


def _component_matches(wanted: JSON, have: JSON) -> bool:
    if wanted.get("name") != have.get("name"):
        return False
    if "instance" in wanted and wanted["instance"] != have.get("instance"):
        return False
    evse = wanted.get("evse")
    if evse is not None:
        mine = have.get("evse") or {}
        if evse.get("id") != mine.get("id"):
            return False
        if "connectorId" in evse and evse["connectorId"] != mine.get("connectorId"):
            return False
    return True


def _variable_matches(wanted: JSON | None, have: JSON) -> bool:
    if wanted is None:
        return True
    if wanted.get("name") != have.get("name"):
        return False
    return "instance" not in wanted or wanted["instance"] == have.get("instance")


@dataclasses.dataclass(frozen=True)
class MonitorCriteria:
    component_variables: tuple[JSON, ...] = ()
    criteria: tuple[str, ...] = ()

    @classmethod
    def of_request(cls, request: JSON) -> MonitorCriteria:
        return cls(
            tuple(request.get("componentVariable") or ()),
            tuple(request.get("monitoringCriteria") or ()),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "componentVariable": [dict(c) for c in self.component_variables],
            "monitoringCriteria": list(self.criteria),
        }

    def matches(self, m: StoredMonitor) -> bool:
        if self.criteria:
            types = set().union(*(_CRITERIA_TYPES.get(c, set()) for c in self.criteria))
            if m.type not in types:
                return False
        if self.component_variables:
            return any(
                _component_matches(cv.get("component") or {}, m.component)
                and _variable_matches(cv.get("variable"), m.variable)
                for cv in self.component_variables
            )
        return True


def stale_after_report(
    stored: Iterable[StoredMonitor],
    criteria: MonitorCriteria,
    request_id: int,
    requested_at: datetime.datetime,
    listed: Sequence[int] = (),
) -> list[int]:
    """The stored ones a finished report shows the station no longer has
    (:func:`common.reports.stale_after_report`, asked for by ``criteria``)."""
    return reports.stale_after_report(stored, criteria.matches, request_id, requested_at, listed)


def clears_custom_monitors(monitoring_base: str) -> bool:
    """Whether a station that accepted this SetMonitoringBase no longer has custom monitors."""
    return monitoring_base == "HardWiredOnly"
