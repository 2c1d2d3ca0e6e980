"""The device model as plain values: pure code, no I/O, no protobuf.

A station's device model is components × variables, each variable with up to four attributes
(Actual, Target, MinSet, MaxSet) and its characteristics. Values are OCPP JSON spellings
("Actual", "ReadWrite", "integer") as the database keeps them.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

__all__ = [
    "charging_profile_criteria_problem",
    "ACTUAL",
    "Attribute",
    "Characteristics",
    "CustomerInformationPart",
    "ReportedVariable",
    "Route",
    "SecurityEvent",
    "ValueUpdate",
    "VariableRef",
]

# OCPP 2.0.1: an attribute without a type is the Actual one.
ACTUAL = "Actual"


@dataclasses.dataclass(frozen=True, slots=True)
class VariableRef:
    """Which variable of which component: OCPP's key of the device model."""

    component: str
    variable: str
    component_instance: str = ""
    evse_id: int | None = None
    connector_id: int | None = None
    variable_instance: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute of a variable as reported; None where the station said nothing."""

    type: str = ACTUAL
    value: str | None = None
    mutability: str | None = None
    persistent: bool | None = None
    constant: bool | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Characteristics:
    data_type: str
    supports_monitoring: bool
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ReportedVariable:
    """One reportData entry of a NotifyReport."""

    ref: VariableRef
    attributes: tuple[Attribute, ...]
    characteristics: Characteristics | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ValueUpdate:
    """A value the station confirmed (SetVariables accepted, GetVariables answered)."""

    ref: VariableRef
    type: str
    value: str


@dataclasses.dataclass(frozen=True, slots=True)
class CustomerInformationPart:
    request_id: int
    seq_no: int
    data: str
    tbc: bool
    generated_at: datetime.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """Where a CSMS-initiated call to a reachable station goes."""

    gateway: str
    epoch: int


@dataclasses.dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One SecurityEventNotification: what the station says happened, and when we heard it."""

    type: str
    # The station's clock.
    timestamp: datetime.datetime
    tech_info: str = ""
    received_at: datetime.datetime | None = None


def charging_profile_criteria_problem(action: str, request: dict[str, Any]) -> str | None:
    """What makes a ClearChargingProfile or GetChargingProfiles request one the CSMS must not
    send, in words (None: nothing). K10.FR.02: a clear names a chargingProfileId or one or more
    of stackLevel, evseId, chargingProfilePurpose in its criteria. K09.FR.03: a get names
    chargingProfileIds or one or more of stackLevel, chargingLimitSource,
    chargingProfilePurpose (its evseId alone is not enough)."""
    if action == "ClearChargingProfile":
        criteria = request.get("chargingProfileCriteria") or {}
        if "chargingProfileId" in request or any(
            k in criteria for k in ("stackLevel", "evseId", "chargingProfilePurpose")
        ):
            return None
        return (
            "K10.FR.02: name a chargingProfileId or one or more of stackLevel, evseId and "
            "chargingProfilePurpose in chargingProfileCriteria"
        )
    if action == "GetChargingProfiles":
        criteria = request.get("chargingProfile") or {}
        if any(criteria.get(k) for k in ("chargingProfileId", "chargingLimitSource")) or any(
            k in criteria for k in ("stackLevel", "chargingProfilePurpose")
        ):
            return None
        return (
            "K09.FR.03: name chargingProfileIds or one or more of stackLevel, "
            "chargingLimitSource and chargingProfilePurpose in chargingProfile"
        )
    return None
