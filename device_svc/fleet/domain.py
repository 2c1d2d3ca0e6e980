"""A station's live state and the fleet's counts, from what device_svc knows (no I/O)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

__all__ = ["STATUSES", "FleetCounts", "station_status"]

# The connectors' OCPP ConnectorStatusEnumType values, the most telling first: a station with one
# Faulted connector is "faulted" whatever the others say.
_PRIORITY = ("Faulted", "Occupied", "Reserved", "Unavailable", "Available")

#: Every status :func:`station_status` answers ("unknown": connected, no StatusNotification yet).
STATUSES = ("offline", *(s.lower() for s in _PRIORITY), "unknown")


def station_status(reachable: bool, connector_statuses: Iterable[str]) -> str:
    """``offline`` unless reachable; else the most telling connector status, in lower case."""
    if not reachable:
        return "offline"
    present = set(connector_statuses)
    for status in _PRIORITY:
        if status in present:
            return status.lower()
    return "unknown"


@dataclasses.dataclass(frozen=True, slots=True)
class FleetCounts:
    """The fleet summary; ``charging`` is None when transaction_svc did not say."""

    stations: int
    connected: int
    faulted: int
    charging: int | None

    @property
    def offline(self) -> int:
        return self.stations - self.connected
