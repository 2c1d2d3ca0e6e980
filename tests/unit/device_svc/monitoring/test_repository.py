"""Tests for device_svc.monitoring.repository's mapping: a part's rows and the events read back
from them (the SQL itself runs in tests/integration/test_device_svc_monitoring.py)."""

from __future__ import annotations

import datetime

from device_svc.domain import VariableRef
from device_svc.monitoring.domain import Event, EventPart, StoredEvent
from device_svc.monitoring.models import EventRow
from device_svc.monitoring.repository import event_rows, stored_event

T0 = datetime.datetime(2026, 1, 1, 10, 0, tzinfo=datetime.UTC)
RECEIVED = T0 + datetime.timedelta(seconds=3)
PLAIN = Event(
    event_id=1,
    timestamp=T0,
    trigger="Delta",
    actual_value="Unavailable",
    event_notification_type="HardWiredNotification",
    ref=VariableRef("Connector", "AvailabilityState", evse_id=1, connector_id=1),
)
FULL = Event(
    event_id=2,
    timestamp=T0,
    trigger="Alerting",
    actual_value="90",
    event_notification_type="CustomMonitor",
    ref=VariableRef("TempSensor", "Temperature", "inlet", 2, None, "max"),
    cause=1,
    tech_code="",
    tech_info="hot",
    cleared=False,
    transaction_id="tx",
    variable_monitoring_id=0,
    custom_data={"eventData": {"vendorId": "V"}, "evse": {"vendorId": "W", "n": 1}},
)


def test_rows_of_a_part_and_back() -> None:
    """One row per entry in order, each with the part's fields; read back, each is the event
    with its part, the part's customData apart from the entry's."""
    part = EventPart(T0, 3, True, (PLAIN, FULL), custom_data={"vendorId": "P"})
    rows = event_rows("CS1", part, RECEIVED)
    assert [r["position"] for r in rows] == [0, 1]
    assert rows[0]["custom_data"] == {"request": {"vendorId": "P"}}
    back = [stored_event(EventRow(id=i, **row)) for i, row in enumerate(rows, 10)]
    assert back == [
        StoredEvent(10, "CS1", PLAIN, T0, 3, True, {"vendorId": "P"}, RECEIVED),
        StoredEvent(11, "CS1", FULL, T0, 3, True, {"vendorId": "P"}, RECEIVED),
    ]


def test_no_custom_data_is_null() -> None:
    """A part and entry without customData store NULL, and read back without any."""
    (row,) = event_rows("CS1", EventPart(T0, 0, False, (PLAIN,)), RECEIVED)
    assert row["custom_data"] is None
    stored = stored_event(EventRow(id=1, **row))
    assert stored.part_custom_data is None and stored.event.custom_data == {}
