"""Block N's events as plain values, and the rules on them: pure code, no I/O, no protobuf.

A NotifyEvent is one part of a possibly multi-part message (generatedAt, seqNo, tbc) carrying
one or more eventData entries (OCPP EventDataType). Every part is stored. A part is known by its
station, generatedAt and seqNo (:data:`PartKey`): a station that lost our answer sends the same
part again, and that repeat is stored once. Enum-like values are OCPP's spellings ("Alerting",
"HardWiredNotification"), as the database keeps them.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from common import pagination
from common.errors import InvalidArgument
from device_svc.domain import VariableRef

__all__ = [
    "CUSTOM_DATA_PLACES",
    "EVENT_NOTIFICATION_TYPES",
    "TRIGGERS",
    "Event",
    "EventFilter",
    "EventPart",
    "PageKey",
    "PartKey",
    "StoredEvent",
    "check_part",
    "decode_page_token",
    "encode_page_token",
    "parts_to_store",
]

# OCPP EventTriggerEnumType and EventNotificationEnumType.
TRIGGERS = frozenset({"Alerting", "Delta", "Periodic"})
EVENT_NOTIFICATION_TYPES = frozenset(
    {"HardWiredNotification", "HardWiredMonitor", "PreconfiguredMonitor", "CustomMonitor"}
)
# Where an eventData entry can carry a vendor extension (customData), by OCPP's field names.
CUSTOM_DATA_PLACES = ("eventData", "component", "evse", "variable")

# (station id, generatedAt, seqNo): a NotifyEvent part; sent again, it is the same part.
PartKey = tuple[str, datetime.datetime, int]
# ListEvents' order, newest first: the event's timestamp (station clock), then the stored row.
PageKey = tuple[datetime.datetime, int]


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One eventData entry: every field of OCPP's EventDataType, None where the station sent
    nothing (component and variable in ``ref``, "" for an absent instance)."""

    event_id: int
    # When it happened, by the station's clock.
    timestamp: datetime.datetime
    # EventTriggerEnumType: "Alerting", "Delta" or "Periodic".
    trigger: str
    actual_value: str
    # EventNotificationEnumType, e.g. "HardWiredNotification".
    event_notification_type: str
    ref: VariableRef
    cause: int | None = None
    tech_code: str | None = None
    tech_info: str | None = None
    cleared: bool | None = None
    transaction_id: str | None = None
    variable_monitoring_id: int | None = None
    # Vendor extensions as sent (JSON), by place (CUSTOM_DATA_PLACES); only those present.
    custom_data: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class EventPart:
    """One NotifyEvent: its place in the message (generatedAt, seqNo, tbc) and its events."""

    generated_at: datetime.datetime
    seq_no: int
    tbc: bool
    events: tuple[Event, ...]
    # The request's own customData (JSON), None when it had none.
    custom_data: Mapping[str, Any] | None = None

    def key(self, station_id: str) -> PartKey:
        return station_id, self.generated_at, self.seq_no


@dataclasses.dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as ListEvents gives it: the event, the part that carried it, when we got it."""

    id: int
    station_id: str
    event: Event
    generated_at: datetime.datetime
    seq_no: int
    tbc: bool
    part_custom_data: Mapping[str, Any] | None
    received_at: datetime.datetime

    @property
    def page_key(self) -> PageKey:
        return self.event.timestamp, self.id


@dataclasses.dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events ListEvents gives; empty or None: any. ``since`` is inclusive, ``until``
    exclusive, both on the event's timestamp."""

    component: str = ""
    variable: str = ""
    trigger: str = ""
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None
    # Only events of a known monitor of this severity or a more severe one (0..9).
    max_severity: int | None = None

    def __post_init__(self) -> None:
        if self.max_severity is not None and not 0 <= self.max_severity <= 9:
            raise InvalidArgument("maxSeverity must be 0 (Danger) to 9 (Debug)")
        if self.trigger and self.trigger not in TRIGGERS:
            raise InvalidArgument(f"trigger must be one of {sorted(TRIGGERS)}")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise InvalidArgument("since must be before until")


def check_part(part: EventPart) -> None:
    """What OCPP requires of a NotifyEvent and a caller could still break: at least one
    eventData entry (minItems 1), each with its trigger, notification type, component and
    variable. The gateway's schema validation catches these on the wire; gRPC callers do not
    pass through it."""
    if not part.events:
        raise InvalidArgument("event_data: at least one event is required")
    for i, event in enumerate(part.events):
        if event.trigger not in TRIGGERS:
            raise InvalidArgument(f"event_data[{i}].trigger is required")
        if event.event_notification_type not in EVENT_NOTIFICATION_TYPES:
            raise InvalidArgument(f"event_data[{i}].event_notification_type is required")
        if not event.ref.component or not event.ref.variable:
            raise InvalidArgument(f"event_data[{i}]: component and variable names are required")


def parts_to_store(keys: Sequence[PartKey], stored: Collection[PartKey]) -> list[bool]:
    """For parts arriving together, in order: whether each is to be stored. Not if it is stored
    already, nor if an earlier one of them is the same part (the station sent it twice)."""
    seen = set(stored)
    out = []
    for key in keys:
        out.append(key not in seen)
        seen.add(key)
    return out


def encode_page_token(key: PageKey) -> str:
    return pagination.encode_time_key(*key)


def decode_page_token(token: str) -> PageKey:
    """The key a ListEvents page token holds; INVALID_ARGUMENT for one we did not issue."""
    return pagination.decode_time_key(token)
