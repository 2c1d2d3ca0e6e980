"""Tests for device_svc.monitoring.domain: which parts are stored, what a part needs, filters and
page tokens."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from common import pagination
from common.errors import InvalidArgument
from device_svc.domain import VariableRef
from device_svc.monitoring.domain import (
    Event,
    EventFilter,
    EventPart,
    check_part,
    decode_page_token,
    encode_page_token,
    parts_to_store,
)

T0 = datetime.datetime(2026, 1, 1, 10, 0, tzinfo=datetime.UTC)
T1 = T0 + datetime.timedelta(microseconds=1)
EVENT = Event(
    event_id=1,
    timestamp=T0,
    trigger="Delta",
    actual_value="Unavailable",
    event_notification_type="HardWiredNotification",
    ref=VariableRef("Connector", "AvailabilityState", evse_id=1, connector_id=1),
)


def test_parts_to_store_leaves_out_stored_parts_and_repeats() -> None:
    """A part is stored unless it is stored already or an earlier one of the group is the same
    part; another seqNo, generatedAt or station is another part."""
    keys = [
        ("CS1", T0, 0),
        ("CS1", T0, 1),  # the next part of the same message
        ("CS1", T0, 0),  # sent again in the same group
        ("CS1", T1, 0),  # a new message
        ("CS2", T0, 0),  # another station
        ("CS1", T0, 2),  # stored already
        ("CS2", T0, 0),
    ]
    assert parts_to_store(keys, {("CS1", T0, 2), ("CS3", T0, 0)}) == [
        True,
        True,
        False,
        True,
        True,
        False,
        False,
    ]
    assert parts_to_store([], {("CS1", T0, 0)}) == []


def test_check_part_accepts_a_complete_part() -> None:
    """A part with complete events passes."""
    check_part(EventPart(T0, 0, False, (EVENT, dataclasses.replace(EVENT, event_id=2))))


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ((), "at least one event"),
        ((dataclasses.replace(EVENT, trigger=""),), "event_data[0].trigger"),
        ((EVENT, dataclasses.replace(EVENT, trigger="Sometimes")), "event_data[1].trigger"),
        (
            (dataclasses.replace(EVENT, event_notification_type=""),),
            "event_data[0].event_notification_type",
        ),
        ((dataclasses.replace(EVENT, ref=VariableRef("", "V")),), "component and variable"),
        ((dataclasses.replace(EVENT, ref=VariableRef("C", "")),), "component and variable"),
    ],
)
def test_check_part_refuses_what_ocpp_requires(events: tuple[Event, ...], message: str) -> None:
    """No eventData (minItems 1), or an entry without trigger, notification type, component or
    variable, is INVALID_ARGUMENT naming the entry."""
    with pytest.raises(InvalidArgument, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_part(EventPart(T0, 0, False, events))


def test_event_filter() -> None:
    """A known trigger and since before until pass; an unknown trigger or since not before until
    is INVALID_ARGUMENT."""
    EventFilter(trigger="Alerting", since=T0, until=T1)
    EventFilter(since=T1)
    with pytest.raises(InvalidArgument, match="trigger"):
        EventFilter(trigger="ALERTING")
    for since, until in [(T0, T0), (T1, T0)]:
        with pytest.raises(InvalidArgument, match="since"):
            EventFilter(since=since, until=until)


def test_page_token_round_trip() -> None:
    """A token gives back its key, microseconds and zone kept."""
    key = (T1, 42)
    assert decode_page_token(encode_page_token(key)) == key


@pytest.mark.parametrize(
    "token",
    [
        "!!",
        pagination.encode_token("2026-01-01T10:00:00+00:00"),  # one part
        pagination.encode_token("2026-01-01T10:00:00", "1"),  # naive
        pagination.encode_token("yesterday", "1"),
        pagination.encode_token("2026-01-01T10:00:00+00:00", "x"),
    ],
)
def test_foreign_page_tokens_are_refused(token: str) -> None:
    """A token this service did not issue is INVALID_ARGUMENT."""
    with pytest.raises(InvalidArgument, match="page_token"):
        decode_page_token(token)
