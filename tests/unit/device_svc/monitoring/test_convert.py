"""Tests for device_svc.monitoring.convert: NotifyEvent between OCPP protobuf and domain values,
nothing lost on the way back."""

from __future__ import annotations

import copy
import datetime
from typing import Any

import pytest
from google.protobuf import timestamp_pb2

from common.errors import InvalidArgument
from common.ocpp_json import to_ocpp, to_proto
from csms.device.v1 import device_service_pb2 as pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.domain import VariableRef
from device_svc.monitoring.convert import event_data, event_filter, event_part, event_to_proto
from device_svc.monitoring.domain import Event, EventFilter, StoredEvent

T0 = datetime.datetime(2026, 1, 1, 10, 0, tzinfo=datetime.UTC)

MINIMAL: dict[str, Any] = {
    "eventId": 1,
    "timestamp": "2026-01-01T10:00:00Z",
    "trigger": "Delta",
    "actualValue": "Unavailable",
    "eventNotificationType": "HardWiredNotification",
    "component": {"name": "Connector"},
    "variable": {"name": "AvailabilityState"},
}
# Every field of EventDataType, customData in each place it may be, false and 0 included.
FULL: dict[str, Any] = {
    "eventId": 0,
    "timestamp": "2026-01-01T10:00:00.123Z",
    "trigger": "Alerting",
    "cause": 3,
    "actualValue": "",
    "techCode": "E42",
    "techInfo": "over temperature",
    "cleared": False,
    "transactionId": "tx-1",
    "variableMonitoringId": 12,
    "eventNotificationType": "CustomMonitor",
    "component": {
        "name": "Connector",
        "instance": "main",
        "evse": {"id": 1, "connectorId": 2, "customData": {"vendorId": "V", "slot": 4}},
        "customData": {"vendorId": "V", "ratio": 1.5},
    },
    "variable": {"name": "AvailabilityState", "instance": "i", "customData": {"vendorId": "V"}},
    "customData": {"vendorId": "V", "nested": {"list": [1, "a", True, None]}},
}


def _request(*entries: dict[str, Any], **part: Any) -> ocpp.NotifyEventRequest:
    payload = {
        "generatedAt": "2026-01-01T10:00:01Z",
        "seqNo": 0,
        **part,
        "eventData": list(entries),
    }
    message = to_proto(ocpp.NotifyEventRequest, copy.deepcopy(payload))
    assert isinstance(message, ocpp.NotifyEventRequest)
    return message


def test_event_part_minimal() -> None:
    """A part without tbc is not to be continued; absent optional fields are None."""
    part = event_part(_request(MINIMAL, seqNo=4))
    assert (part.generated_at, part.seq_no, part.tbc, part.custom_data) == (
        datetime.datetime(2026, 1, 1, 10, 0, 1, tzinfo=datetime.UTC),
        4,
        False,
        None,
    )
    assert part.events == (
        Event(
            event_id=1,
            timestamp=T0,
            trigger="Delta",
            actual_value="Unavailable",
            event_notification_type="HardWiredNotification",
            ref=VariableRef("Connector", "AvailabilityState"),
        ),
    )


def test_event_part_full() -> None:
    """Every field comes through in OCPP spellings, 0 and false kept, each customData by its
    place with whole numbers as ints."""
    part = event_part(_request(MINIMAL, FULL, tbc=True, customData={"vendorId": "V", "n": 2}))
    assert part.tbc is True and part.custom_data == {"vendorId": "V", "n": 2}
    assert part.events[1] == Event(
        event_id=0,
        timestamp=T0 + datetime.timedelta(milliseconds=123),
        trigger="Alerting",
        actual_value="",
        event_notification_type="CustomMonitor",
        ref=VariableRef(
            "Connector",
            "AvailabilityState",
            component_instance="main",
            evse_id=1,
            connector_id=2,
            variable_instance="i",
        ),
        cause=3,
        tech_code="E42",
        tech_info="over temperature",
        cleared=False,
        transaction_id="tx-1",
        variable_monitoring_id=12,
        custom_data={
            "eventData": {"vendorId": "V", "nested": {"list": [1, "a", True, None]}},
            "component": {"vendorId": "V", "ratio": 1.5},
            "evse": {"vendorId": "V", "slot": 4},
            "variable": {"vendorId": "V"},
        },
    )


@pytest.mark.parametrize(
    "entry",
    [
        MINIMAL,
        FULL,
        {**MINIMAL, "component": {"name": "EVSE", "evse": {"id": 2}}, "cleared": True},
    ],
)
def test_event_data_gives_back_what_the_station_sent(entry: dict[str, Any]) -> None:
    """Domain and back: the eventData entry is the one sent, as OCPP JSON."""
    (event,) = event_part(_request(entry)).events
    assert to_ocpp(event_data(event)) == entry


def test_event_to_proto() -> None:
    """The resource carries the station, the entry, the part's fields and customData, and the
    receive time."""
    part = event_part(_request(FULL, seqNo=2, tbc=True, customData={"vendorId": "V"}))
    received = T0 + datetime.timedelta(seconds=5)
    stored = StoredEvent(
        id=9,
        station_id="CS1",
        event=part.events[0],
        generated_at=part.generated_at,
        seq_no=part.seq_no,
        tbc=part.tbc,
        part_custom_data=part.custom_data,
        received_at=received,
    )
    msg = event_to_proto(stored)
    assert msg.station_id == "CS1"
    assert to_ocpp(msg.event_data) == FULL
    assert msg.generated_at.ToJsonString() == "2026-01-01T10:00:01Z"
    assert (msg.seq_no, msg.tbc) == (2, True)
    assert dict(msg.custom_data) == {"vendorId": "V"}
    assert msg.receive_time.ToDatetime(datetime.UTC) == received
    plain = event_to_proto(
        StoredEvent(9, "CS1", part.events[0], part.generated_at, 0, False, None, received)
    )
    assert not plain.HasField("custom_data")


def _ts(value: datetime.datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def test_event_filter() -> None:
    """Filters in OCPP spellings; unset ones are any."""
    assert event_filter(pb.ListEventsRequest(station_id="CS1")) == EventFilter()
    later = T0 + datetime.timedelta(hours=1)
    request = pb.ListEventsRequest(
        station_id="CS1",
        component="Connector",
        variable="AvailabilityState",
        trigger=ocpp.EVENT_TRIGGER_PERIODIC,
        since=_ts(T0),
        until=_ts(later),
    )
    assert event_filter(request) == EventFilter(
        "Connector", "AvailabilityState", "Periodic", T0, later
    )


@pytest.mark.parametrize(
    "request_",
    [
        pb.ListEventsRequest(trigger=99),  # type: ignore[arg-type]
        pb.ListEventsRequest(since=_ts(T0), until=_ts(T0)),
    ],
)
def test_event_filter_refuses(request_: pb.ListEventsRequest) -> None:
    """A trigger number OCPP lacks, or since not before until, is INVALID_ARGUMENT."""
    with pytest.raises(InvalidArgument):
        event_filter(request_)


def test_event_part_refuses_an_unknown_enum_number() -> None:
    """A trigger number OCPP lacks (a gRPC caller's mistake) is INVALID_ARGUMENT."""
    request = _request(MINIMAL)
    request.event_data[0].trigger = 99  # type: ignore[assignment]
    with pytest.raises(InvalidArgument, match=r"event_data\[0\].trigger"):
        event_part(request)
