"""device_svc's block N over real gRPC on SQLite and PostgreSQL: NotifyEvent parts stored (every
part, a repeated one once) and ListEvents (newest first, filters, pages); the migration matches
the model.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import grpc
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from google.protobuf import timestamp_pb2

from common import db
from common.ocpp_json import to_ocpp, to_proto
from csms.device.v1 import device_service_pb2 as pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.models import Base
from device_svc.monitoring.models import EventRow


def _entry(event_id: int, iso: str, **fields: Any) -> dict[str, Any]:
    """An eventData entry as a station writes it (AvailabilityState of connector 1 by default)."""
    return {
        "eventId": event_id,
        "timestamp": iso,
        "trigger": "Delta",
        "actualValue": "Available",
        "eventNotificationType": "HardWiredNotification",
        "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
        "variable": {"name": "AvailabilityState"},
        **fields,
    }


def _call(
    station_id: str, generated_at: str, seq_no: int, entries: list[dict[str, Any]], **part: Any
) -> pb.NotifyEventCall:
    payload = {"generatedAt": generated_at, "seqNo": seq_no, "eventData": entries, **part}
    request = to_proto(ocpp.NotifyEventRequest, copy.deepcopy(payload))
    return pb.NotifyEventCall(station_id=station_id, request=request)


def _ts(iso: str) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromJsonString(iso)
    return ts


async def _create(device, station_id: str) -> None:  # type: ignore[no-untyped-def]
    await device.CreateChargingStation(
        pb.CreateChargingStationRequest(charging_station=pb.ChargingStation(id=station_id))
    )


async def _all(device, **request: Any) -> list[pb.Event]:  # type: ignore[no-untyped-def]
    """Every event ListEvents gives, page after page."""
    events: list[pb.Event] = []
    token = ""
    while True:
        page = await device.ListEvents(pb.ListEventsRequest(page_token=token, **request))
        events.extend(page.events)
        token = page.next_page_token
        if not token:
            return events


async def _expect_error(call, code: grpc.StatusCode) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == code, err.value.details()


# A three-part NotifyEvent (seqNo 0..2, tbc on all but the last), then a later one-part message.
FAULT = _entry(
    3,
    "2026-01-01T10:00:02Z",
    trigger="Alerting",
    actualValue="Faulted",
    cause=1,
    techCode="E42",
    techInfo="over temperature",
    cleared=False,
    transactionId="tx-1",
    variableMonitoringId=12,
    eventNotificationType="CustomMonitor",
    component={"name": "Connector", "instance": "main", "evse": {"id": 1, "connectorId": 1}},
    variable={"name": "AvailabilityState", "instance": "x", "customData": {"vendorId": "V"}},
    customData={"vendorId": "V", "level": 2},
)
PARTS = [
    (
        "2026-01-01T10:00:05Z",
        0,
        [_entry(1, "2026-01-01T10:00:00Z"), _entry(2, "2026-01-01T10:00:01Z")],
        True,
    ),
    ("2026-01-01T10:00:05Z", 1, [FAULT], True),
    (
        "2026-01-01T10:00:05Z",
        2,
        [_entry(4, "2026-01-01T10:00:03Z", component={"name": "EVSE", "evse": {"id": 2}})],
        False,
    ),
    ("2026-01-01T11:00:00Z", 0, [_entry(5, "2026-01-01T11:00:00Z", trigger="Periodic")], False),
]


async def _send_parts(device, station_id: str) -> None:  # type: ignore[no-untyped-def]
    for generated_at, seq_no, entries, tbc in PARTS:
        resp = await device.NotifyEvent(_call(station_id, generated_at, seq_no, entries, tbc=tbc))
        assert resp == ocpp.NotifyEventResponse()


async def test_every_part_is_stored_and_listed_newest_first(device_stub) -> None:  # type: ignore[no-untyped-def]
    """Each entry of each part is stored with its part's generatedAt, seqNo and tbc, exactly as
    sent; listed newest first by the event's timestamp, page by page; other stations apart."""
    device = device_stub
    await _create(device, "CS1")
    await _create(device, "CS2")
    await _send_parts(device, "CS1")
    await device.NotifyEvent(
        _call("CS2", "2026-01-01T10:00:05Z", 0, [_entry(1, "2026-01-01T12:00:00Z")])
    )

    listed, token, pages = [], "", 0
    while True:
        page = await device.ListEvents(
            pb.ListEventsRequest(station_id="CS1", page_size=2, page_token=token)
        )
        listed.extend(page.events)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 3
    assert [e.event_data.event_id for e in listed] == [5, 4, 3, 2, 1]
    assert all(e.station_id == "CS1" and e.receive_time.seconds > 0 for e in listed)
    by_id = {e.event_data.event_id: e for e in listed}
    for generated_at, seq_no, entries, tbc in PARTS:
        for entry in entries:
            event = by_id[entry["eventId"]]
            assert to_ocpp(event.event_data) == entry
            assert (event.generated_at.ToJsonString(), event.seq_no, event.tbc) == (
                generated_at,
                seq_no,
                tbc,
            )
    other = await device.ListEvents(pb.ListEventsRequest(station_id="CS2"))
    assert [e.station_id for e in other.events] == ["CS2"] and not other.next_page_token


async def test_a_part_sent_again_is_stored_once(device_stub) -> None:  # type: ignore[no-untyped-def]
    """The same part (station, generatedAt, seqNo) sent again, one after the other or several at
    once, is answered and stored once, as first sent; another seqNo or generatedAt is another
    part; the part's customData is kept."""
    device = device_stub
    await _create(device, "CS1")
    first = _call(
        "CS1",
        "2026-01-01T10:00:05.5Z",
        0,
        [_entry(1, "2026-01-01T10:00:00Z"), _entry(2, "2026-01-01T10:00:00Z")],
        tbc=True,
        customData={"vendorId": "V", "boot": 7},
    )
    await device.NotifyEvent(first)
    # Resent after a lost answer; a copy with other (more) entries under the same key changes
    # nothing either.
    await device.NotifyEvent(first)
    await device.NotifyEvent(
        _call(
            "CS1",
            "2026-01-01T10:00:05.5Z",
            0,
            [_entry(i, "2026-01-01T10:00:00Z") for i in (9, 10, 11)],
        )
    )
    # Several copies at once (one group commit, or racing ones): still once.
    second = _call("CS1", "2026-01-01T10:00:05.5Z", 1, [_entry(3, "2026-01-01T10:00:00Z")])
    answers = await asyncio.gather(*(device.NotifyEvent(second) for _ in range(6)))
    assert all(a == ocpp.NotifyEventResponse() for a in answers)
    # Not the same part: another message (generatedAt) with the same seqNo.
    await device.NotifyEvent(
        _call("CS1", "2026-01-01T10:00:06Z", 0, [_entry(4, "2026-01-01T10:00:00Z")])
    )

    events = await _all(device, station_id="CS1")
    assert sorted(e.event_data.event_id for e in events) == [1, 2, 3, 4]
    part0 = [e for e in events if e.event_data.event_id in (1, 2)]
    assert all(dict(e.custom_data) == {"vendorId": "V", "boot": 7} and e.tbc for e in part0)
    assert all(not e.HasField("custom_data") for e in events if e.event_data.event_id in (3, 4))
    # Same timestamp: the later arrival first.
    assert [e.event_data.event_id for e in events] == [4, 3, 2, 1]


async def test_filters(device_stub) -> None:  # type: ignore[no-untyped-def]
    """component, variable, trigger, since (inclusive) and until (exclusive), together too."""
    device = device_stub
    await _create(device, "CS1")
    await _send_parts(device, "CS1")

    async def ids(**request: Any) -> list[int]:
        return [e.event_data.event_id for e in await _all(device, station_id="CS1", **request)]

    assert await ids(component="EVSE") == [4]
    assert await ids(component="Connector") == [5, 3, 2, 1]
    assert await ids(variable="AvailabilityState") == [5, 4, 3, 2, 1]
    assert await ids(variable="Nope") == []
    assert await ids(trigger=ocpp.EVENT_TRIGGER_ALERTING) == [3]
    assert await ids(trigger=ocpp.EVENT_TRIGGER_PERIODIC) == [5]
    assert await ids(since=_ts("2026-01-01T10:00:01Z")) == [5, 4, 3, 2]
    assert await ids(until=_ts("2026-01-01T10:00:01Z")) == [1]
    assert await ids(
        since=_ts("2026-01-01T10:00:01Z"), until=_ts("2026-01-01T11:00:00Z"), page_size=1
    ) == [4, 3, 2]
    assert await ids(component="Connector", trigger=ocpp.EVENT_TRIGGER_DELTA) == [2, 1]
    # Component and variable names are case-insensitive (OCPP 2.0.1 Part 2, ComponentType and
    # VariableType): so are their filters.
    assert await ids(component="evse") == [4]
    assert await ids(component="CONNECTOR", variable="availabilitystate") == [5, 3, 2, 1]


async def test_errors(device_stub) -> None:  # type: ignore[no-untyped-def]
    """Unknown stations are NOT_FOUND; a part without events, a foreign page token, a negative
    page size or since not before until is INVALID_ARGUMENT; a station deleted with its events
    comes back without them."""
    device = device_stub
    await _create(device, "CS1")
    await _expect_error(
        device.NotifyEvent(
            _call("NOPE", "2026-01-01T10:00:00Z", 0, [_entry(1, "2026-01-01T10:00:00Z")])
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    await _expect_error(
        device.ListEvents(pb.ListEventsRequest(station_id="NOPE")), grpc.StatusCode.NOT_FOUND
    )
    await _expect_error(
        device.NotifyEvent(
            pb.NotifyEventCall(
                station_id="CS1",
                request=ocpp.NotifyEventRequest(generated_at=_ts("2026-01-01T10:00:00Z"), seq_no=0),
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    for request in (
        pb.ListEventsRequest(station_id="CS1", page_token="!!"),
        pb.ListEventsRequest(station_id="CS1", page_size=-1),
        pb.ListEventsRequest(
            station_id="CS1", since=_ts("2026-01-02T00:00:00Z"), until=_ts("2026-01-01T00:00:00Z")
        ),
    ):
        await _expect_error(device.ListEvents(request), grpc.StatusCode.INVALID_ARGUMENT)

    await device.NotifyEvent(
        _call("CS1", "2026-01-01T10:00:00Z", 0, [_entry(1, "2026-01-01T10:00:00Z")])
    )
    await device.DeleteChargingStation(pb.DeleteChargingStationRequest(id="CS1"))
    await _create(device, "CS1")
    assert (await device.ListEvents(pb.ListEventsRequest(station_id="CS1"))).events == []


async def test_the_migration_makes_the_model(migrated_db) -> None:  # type: ignore[no-untyped-def]
    """The events table the migrations make is the one the model describes (no difference
    Alembic's autogenerate would find)."""
    url = await asyncio.to_thread(migrated_db, "device_svc")
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    ours = [d for d in diff if EventRow.__tablename__ in repr(d)]
    assert ours == []
