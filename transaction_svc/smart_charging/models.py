"""Block K's tables in transaction_svc's database (revision 0006 of its migration chain).

On transaction_svc's ``Base``, so its metadata holds them (``migrations/env.py`` imports this
module). OCPP payloads are kept as OCPP JSON (``JSON`` columns), the columns beside them are what
the rules and the filters look up; enum-like columns keep OCPP's spelling. Every lookup is by
station (the primary keys' leading column): no other index.
"""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from transaction_svc.models import Base

__all__ = [
    "ChargingLimitRow",
    "ChargingProfileReportRow",
    "ChargingProfileRow",
    "EVChargingNeedsRow",
    "EVChargingScheduleRow",
]


class ChargingProfileRow(Base):
    """A charging profile a station holds, as the CSMS knows it: one per station and profile id
    (a profile of the same id replaces it, OCPP K01.FR.05)."""

    __tablename__ = "charging_profiles"

    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    # ChargingProfileType.id.
    id: Mapped[int] = mapped_column(primary_key=True)
    # 0: the station as a whole.
    evse_id: Mapped[int]
    # ChargingProfilePurposeEnumType value, e.g. "TxProfile".
    purpose: Mapped[str] = mapped_column(String(40))
    stack_level: Mapped[int]
    # ChargingLimitSourceEnumType value: "CSO" (set by the CSMS), "EMS", "SO", "Other".
    source: Mapped[str] = mapped_column(String(8))
    # A TxProfile's transactionId as the profile gives it (NULL: none, e.g. one sent with
    # RequestStartTransaction, whose transaction is found by remote_start_id).
    transaction_id: Mapped[str | None] = mapped_column(String(36))
    remote_start_id: Mapped[int | None]
    # The OCPP ChargingProfileType JSON, as set or reported.
    profile: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The requestId of the GetChargingProfiles report that last listed it; NULL: none did.
    reported_by: Mapped[int | None]
    updated_at: Mapped[datetime.datetime]


class ChargingProfileReportRow(Base):
    """A GetChargingProfiles sent and not yet fully answered: its report reconciles the profiles
    matching its criteria."""

    __tablename__ = "charging_profile_reports"

    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    request_id: Mapped[int] = mapped_column(primary_key=True)
    # The GetChargingProfilesRequest as sent (OCPP JSON).
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    requested_at: Mapped[datetime.datetime]


class ChargingLimitRow(Base):
    """The external limit a source last reported for a station or one of its EVSEs
    (NotifyChargingLimit), until it is cleared (ClearedChargingLimit)."""

    __tablename__ = "charging_limits"

    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    # ChargingLimitSourceEnumType value, e.g. "EMS".
    source: Mapped[str] = mapped_column(String(8), primary_key=True)
    # 0: the station as a whole (NotifyChargingLimit without evseId).
    evse_id: Mapped[int] = mapped_column(primary_key=True)
    # The ChargingLimitType JSON (chargingLimitSource, isGridCritical, customData).
    charging_limit: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The ChargingScheduleType JSON list; [] when the station sent none.
    schedules: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    updated_at: Mapped[datetime.datetime]


class EVChargingNeedsRow(Base):
    """The last NotifyEVChargingNeeds of an EVSE."""

    __tablename__ = "ev_charging_needs"

    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    evse_id: Mapped[int] = mapped_column(primary_key=True)
    # The ChargingNeedsType JSON.
    charging_needs: Mapped[dict[str, Any]] = mapped_column(JSON)
    max_schedule_tuples: Mapped[int | None]
    # What the CSMS answered: NotifyEVChargingNeedsStatusEnumType value.
    status: Mapped[str] = mapped_column(String(12))
    # The transaction active on the EVSE then, if any.
    transaction_id: Mapped[str | None] = mapped_column(String(36))
    received_at: Mapped[datetime.datetime]


class EVChargingScheduleRow(Base):
    """The last NotifyEVChargingSchedule of an EVSE: the schedule the EV plans."""

    __tablename__ = "ev_charging_schedules"

    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    evse_id: Mapped[int] = mapped_column(primary_key=True)
    time_base: Mapped[datetime.datetime]
    # The ChargingScheduleType JSON.
    charging_schedule: Mapped[dict[str, Any]] = mapped_column(JSON)
    # What the CSMS answered: GenericStatusEnumType value.
    status: Mapped[str] = mapped_column(String(12))
    transaction_id: Mapped[str | None] = mapped_column(String(36))
    received_at: Mapped[datetime.datetime]
