"""Block K's values between protobuf messages and the domain's OCPP JSON: pure code.

OCPP messages become their OCPP JSON (:func:`common.ocpp_json.to_ocpp`: enums spelled as OCPP
spells them, date-times UTC with Z) on the way in, and go back through
:func:`common.ocpp_json.to_proto` on the way out; our own enum filters become OCPP words.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from common.columns import enum_column, timestamp
from common.ocpp_json import proto_enum_number, to_ocpp, to_proto
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as pb
from transaction_svc.smart_charging.domain import ProfileFilter, StoredProfile
from transaction_svc.smart_charging.models import (
    ChargingLimitRow,
    EVChargingNeedsRow,
    EVChargingScheduleRow,
)

__all__ = [
    "ev_charging_needs_to_proto",
    "ev_charging_schedule_to_proto",
    "json_of",
    "limit_to_proto",
    "profile_filter",
    "profile_to_proto",
]


def json_of(message: Message) -> dict[str, Any]:
    """An OCPP message as its OCPP JSON."""
    return to_ocpp(message)


def profile_to_proto(station_id: str, stored: StoredProfile) -> pb.StationChargingProfile:
    return pb.StationChargingProfile(
        station_id=station_id,
        evse_id=stored.evse_id,
        charging_limit_source=proto_enum_number(ocpp.ChargingLimitSourceEnum, stored.source),
        charging_profile=to_proto(ocpp.ChargingProfile, dict(stored.profile)),
        update_time=timestamp(stored.updated_at),
    )


def limit_to_proto(row: ChargingLimitRow) -> pb.StationChargingLimit:
    msg = pb.StationChargingLimit(
        station_id=row.station_id,
        charging_limit=to_proto(ocpp.ChargingLimit, dict(row.charging_limit)),
        charging_schedule=[to_proto(ocpp.ChargingSchedule, dict(s)) for s in row.schedules],
        update_time=timestamp(row.updated_at),
    )
    if row.evse_id:
        msg.evse_id = row.evse_id
    return msg


def ev_charging_needs_to_proto(row: EVChargingNeedsRow) -> pb.EVChargingNeeds:
    msg = pb.EVChargingNeeds(
        station_id=row.station_id,
        evse_id=row.evse_id,
        charging_needs=to_proto(ocpp.ChargingNeeds, dict(row.charging_needs)),
        status=proto_enum_number(ocpp.NotifyEVChargingNeedsStatusEnum, row.status),
        transaction_id=row.transaction_id or "",
        receive_time=timestamp(row.received_at),
    )
    if row.max_schedule_tuples is not None:
        msg.max_schedule_tuples = row.max_schedule_tuples
    return msg


def ev_charging_schedule_to_proto(row: EVChargingScheduleRow) -> pb.EVChargingSchedule:
    return pb.EVChargingSchedule(
        station_id=row.station_id,
        evse_id=row.evse_id,
        time_base=timestamp(row.time_base),
        charging_schedule=to_proto(ocpp.ChargingSchedule, dict(row.charging_schedule)),
        status=proto_enum_number(ocpp.GenericStatusEnum, row.status),
        transaction_id=row.transaction_id or "",
        receive_time=timestamp(row.received_at),
    )


def profile_filter(request: pb.ListChargingProfilesRequest) -> ProfileFilter:
    """ListChargingProfiles' filters (INVALID_ARGUMENT for an enum number OCPP lacks)."""
    return ProfileFilter(
        evse_id=request.evse_id if request.HasField("evse_id") else None,
        purpose=enum_column(ocpp.ChargingProfilePurposeEnum, request.purpose, "purpose"),
        stack_level=request.stack_level if request.HasField("stack_level") else None,
        source=enum_column(ocpp.ChargingLimitSourceEnum, request.source, "source"),
    )
