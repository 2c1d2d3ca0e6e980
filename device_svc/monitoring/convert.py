"""Block N's values between OCPP protobuf messages and the domain: pure code, tested with tables.

Enum numbers become OCPP spellings on the way in and go back on the way out; absent optional
fields stay absent both ways, and customData (a Struct) travels as its JSON.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message

from common.columns import enum_column, timestamp, utc_datetime
from common.ocpp_json import integral, proto_enum_number
from csms.device.v1 import device_service_pb2 as pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.convert import ref_of
from device_svc.monitoring.domain import Event, EventFilter, EventPart, StoredEvent
from device_svc.monitoring.models import AlertRow

__all__ = ["alert_to_proto", "event_data", "event_filter", "event_part", "event_to_proto"]


def _optional(message: Message, field: str) -> Any:
    """The optional field's value, None when it is not set."""
    return getattr(message, field) if message.HasField(field) else None


def _json(message: Message, field: str) -> dict[str, Any] | None:
    """A customData field as JSON (whole numbers as ints), None when it is not set."""
    if not message.HasField(field):
        return None
    data: dict[str, Any] = integral(json_format.MessageToDict(getattr(message, field)))
    return data


def _struct(data: Any) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(data)
    return out


def _event(data: ocpp.EventData, i: int) -> Event:
    evse = data.component.evse if data.component.HasField("evse") else None
    places = {
        "eventData": _json(data, "custom_data"),
        "component": _json(data.component, "custom_data"),
        "evse": _json(evse, "custom_data") if evse is not None else None,
        "variable": _json(data.variable, "custom_data"),
    }
    return Event(
        event_id=data.event_id,
        timestamp=utc_datetime(data.timestamp),
        trigger=enum_column(ocpp.EventTriggerEnum, data.trigger, f"event_data[{i}].trigger"),
        actual_value=data.actual_value,
        event_notification_type=enum_column(
            ocpp.EventNotificationEnum,
            data.event_notification_type,
            f"event_data[{i}].event_notification_type",
        ),
        ref=ref_of(data.component, data.variable),
        cause=_optional(data, "cause"),
        tech_code=_optional(data, "tech_code"),
        tech_info=_optional(data, "tech_info"),
        cleared=_optional(data, "cleared"),
        transaction_id=_optional(data, "transaction_id"),
        variable_monitoring_id=_optional(data, "variable_monitoring_id"),
        custom_data={place: json for place, json in places.items() if json is not None},
    )


def event_part(request: ocpp.NotifyEventRequest) -> EventPart:
    """A NotifyEvent as the domain's part (INVALID_ARGUMENT for an enum number OCPP lacks)."""
    return EventPart(
        generated_at=utc_datetime(request.generated_at),
        seq_no=request.seq_no,
        tbc=request.tbc,
        events=tuple(_event(data, i) for i, data in enumerate(request.event_data)),
        custom_data=_json(request, "custom_data"),
    )


def event_data(event: Event) -> ocpp.EventData:
    """The eventData entry as the station sent it."""
    ref = event.ref
    data = ocpp.EventData(
        event_id=event.event_id,
        timestamp=timestamp(event.timestamp),
        trigger=proto_enum_number(ocpp.EventTriggerEnum, event.trigger),
        actual_value=event.actual_value,
        event_notification_type=proto_enum_number(
            ocpp.EventNotificationEnum, event.event_notification_type
        ),
        component=ocpp.Component(name=ref.component),
        variable=ocpp.Variable(name=ref.variable),
    )
    for field in (
        "cause",
        "tech_code",
        "tech_info",
        "cleared",
        "transaction_id",
        "variable_monitoring_id",
    ):
        value = getattr(event, field)
        if value is not None:
            setattr(data, field, value)
    if ref.component_instance:
        data.component.instance = ref.component_instance
    if ref.evse_id is not None:
        data.component.evse.id = ref.evse_id
        if ref.connector_id is not None:
            data.component.evse.connector_id = ref.connector_id
    if ref.variable_instance:
        data.variable.instance = ref.variable_instance
    custom = event.custom_data
    for place, message in (
        ("eventData", data),
        ("component", data.component),
        ("evse", data.component.evse),
        ("variable", data.variable),
    ):
        if place in custom:
            message.custom_data.CopyFrom(_struct(custom[place]))
    return data


def event_to_proto(stored: StoredEvent) -> pb.Event:
    msg = pb.Event(
        station_id=stored.station_id,
        event_data=event_data(stored.event),
        generated_at=timestamp(stored.generated_at),
        seq_no=stored.seq_no,
        tbc=stored.tbc,
        receive_time=timestamp(stored.received_at),
    )
    if stored.part_custom_data is not None:
        msg.custom_data.CopyFrom(_struct(stored.part_custom_data))
    return msg


def event_filter(request: pb.ListEventsRequest) -> EventFilter:
    """ListEvents' filters (INVALID_ARGUMENT for a trigger number OCPP lacks, or since not
    before until)."""
    return EventFilter(
        component=request.component,
        variable=request.variable,
        trigger=enum_column(ocpp.EventTriggerEnum, request.trigger, "trigger"),
        since=utc_datetime(request.since) if request.HasField("since") else None,
        until=utc_datetime(request.until) if request.HasField("until") else None,
        max_severity=request.max_severity if request.HasField("max_severity") else None,
    )


def alert_to_proto(r: AlertRow) -> pb.Alert:
    msg = pb.Alert(
        id=r.id,
        station_id=r.station_id,
        event_id=r.event_id,
        timestamp=timestamp(r.timestamp),
        trigger=r.trigger,
        actual_value=r.actual_value,
        component=r.component_name,
        variable=r.variable_name,
        monitor_id=r.monitor_id,
        severity=r.severity,
        acknowledged=r.acknowledged,
        acknowledge_time=timestamp(r.acknowledged_at),
        create_time=timestamp(r.created_at),
        webhook=r.webhook_state or "",
        webhook_attempts=r.webhook_attempts,
    )
    if r.evse_id is not None:
        msg.evse_id = r.evse_id
    return msg
