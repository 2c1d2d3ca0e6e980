"""Transaction data stays sane, over real gRPC on SQLite and PostgreSQL: a different event under
a used seqNo is kept as a conflict (and still folded), a station's plain retry is not; register
readings that go backwards, come from the future or come after the end are kept, reported and
left out of the energy."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from typing import Any

import pytest

from common import db
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as pb
from tests.integration.test_transaction_svc import FULL, call, event, send
from transaction_svc.domain import Event
from transaction_svc.service import Transactions


async def get(stub, tx: str = "tx-1") -> pb.Transaction:  # type: ignore[no-untyped-def]
    return await stub.GetTransaction(pb.GetTransactionRequest(id=tx))


async def test_ended_under_a_used_seq_no_is_a_conflict_and_ends(transaction_stub) -> None:  # type: ignore[no-untyped-def]
    """An Ended event under the Updated event's seqNo is acknowledged, kept as a conflict and
    ends the transaction; repeating either version adds nothing."""
    await send(transaction_stub, FULL[:2])
    ended = {**FULL[2], "seqNo": 1}
    answer = await transaction_stub.TransactionEvent(call(ended))
    assert answer == ocpp.TransactionEventResponse()
    await send(transaction_stub, [ended, FULL[1], FULL[0]])  # retries of each version
    tx = await get(transaction_stub)
    assert not tx.active
    assert tx.ended_at.ToJsonString() == "2026-01-01T10:20:00Z"
    assert tx.stopped_reason == ocpp.REASON_EV_DISCONNECTED
    assert [e.seq_no for e in tx.events] == [0, 1]
    assert tx.events[1].event_type == ocpp.TRANSACTION_EVENT_UPDATED
    assert [(c.seq_no, c.event_type) for c in tx.conflicts] == [(1, ocpp.TRANSACTION_EVENT_ENDED)]
    assert tx.energy_wh == pytest.approx(500.0)


async def test_conflicts_in_one_batch(transaction_stub) -> None:  # type: ignore[no-untyped-def]
    """Two versions of one seqNo in the same batch call: the first is the event, the second a
    conflict; a plain retry in the batch is neither."""
    items = [FULL[0], FULL[1], {**FULL[2], "seqNo": 1}, FULL[1]]
    await transaction_stub.TransactionEvents(
        pb.TransactionEventsRequest(
            items=[pb.TransactionEventsRequest.Item(call=call(p)) for p in items]
        )
    )
    tx = await get(transaction_stub)
    assert [e.seq_no for e in tx.events] == [0, 1]
    assert [c.event_type for c in tx.conflicts] == [ocpp.TRANSACTION_EVENT_ENDED]
    assert not tx.active


def _register(seq: int, kind: str, minute: int, wh: float, at: str = "") -> dict[str, Any]:
    payload = event(seq, kind, minute, meter=[{"value": wh}])
    if at:
        payload["meterValue"][0]["timestamp"] = at
    return payload


async def test_backwards_and_future_readings_are_left_out(transaction_stub) -> None:  # type: ignore[no-untyped-def]
    """A meter going backwards and a reading dated 2099 gave -4,990 Wh and 99,999,899 Wh; now
    they are reported and the energy counts the plausible readings."""
    await send(
        transaction_stub,
        [
            _register(0, "Started", 0, 5000),
            _register(1, "Updated", 10, 10),
            _register(2, "Updated", 20, 99_999_999, at="2099-01-01T00:00:00Z"),
        ],
    )
    tx = await get(transaction_stub)
    assert tx.energy_wh == 0.0
    assert [(r.seq_no, r.wh, r.reason) for r in tx.implausible_readings] == [
        (1, 10.0, "backwards"),
        (2, 99_999_999.0, "future"),
    ]
    assert tx.implausible_readings[1].timestamp.ToJsonString() == "2099-01-01T00:00:00Z"
    await send(transaction_stub, [_register(3, "Ended", 30, 5400)])
    assert (await get(transaction_stub)).energy_wh == pytest.approx(400.0)


async def test_a_correctly_dated_jump_is_left_out(transaction_stub) -> None:  # type: ignore[no-untyped-def]
    """A reading 99,999,899 Wh above the start, dated ten minutes later (no charger delivers
    that), is reported as a jump and the energy counts the readings around it."""
    await send(
        transaction_stub,
        [
            _register(0, "Started", 0, 100),
            _register(1, "Updated", 10, 99_999_999),
            _register(2, "Ended", 20, 5100),
        ],
    )
    tx = await get(transaction_stub)
    assert [(r.seq_no, r.wh, r.reason) for r in tx.implausible_readings] == [
        (1, 99_999_999.0, "jump")
    ]
    assert tx.energy_wh == pytest.approx(5000.0)


async def test_events_after_ended_change_nothing(transaction_stub) -> None:  # type: ignore[no-untyped-def]
    """An Updated event numbered after the Ended event (Charging, a higher register) is stored
    but leaves the energy, the charging state and the end as they were."""
    await send(transaction_stub, FULL)
    before = await get(transaction_stub)
    stray = event(3, "Updated", 40, info={"chargingState": "Charging"}, meter=[{"value": 9000}])
    late_end = event(4, "Ended", 50, info={"stoppedReason": "Other"})
    await send(transaction_stub, [stray, late_end])
    tx = await get(transaction_stub)
    assert [e.seq_no for e in tx.events] == [0, 1, 2, 3, 4]
    assert tx.energy_wh == pytest.approx(500.0)
    assert (tx.charging_state, tx.stopped_reason, tx.ended_at, tx.active) == (
        before.charging_state,
        before.stopped_reason,
        before.ended_at,
        False,
    )
    assert [(r.seq_no, r.reason) for r in tx.implausible_readings] == [(3, "afterEnd")]


T0 = datetime.datetime(2026, 1, 1, 10, tzinfo=datetime.UTC)


@pytest.mark.parametrize("path", ["grouped", "single"])
async def test_conflict_on_both_write_paths(migrated_db, path: str) -> None:  # type: ignore[no-untyped-def]
    """The set-based group write and the one-event path agree on conflicts and retries."""
    url = await asyncio.to_thread(migrated_db, "transaction_svc")
    engine = db.create_engine(url)
    try:
        transactions = Transactions(db.session_factory(engine))
        if path == "single":
            transactions._events.apply_many = None
        started = Event(seq_no=0, event_type="Started", timestamp=T0)
        updated = Event(seq_no=1, event_type="Updated", timestamp=T0 + datetime.timedelta(1))
        ended = dataclasses.replace(updated, event_type="Ended", stopped_reason="Local")
        assert await transactions.record("CS1", "tx", started)
        assert await transactions.record("CS1", "tx", updated)
        answers = await asyncio.gather(
            *(transactions.record("CS1", "tx", e) for e in (ended, ended, updated, started))
        )
        assert answers == [False] * 4
        row, events = await transactions.get("tx", "CS1")
        conflicts, implausible = await transactions.anomalies("CS1", "tx")
        assert not row.active and row.stopped_reason == "Local"
        assert [e.event_type for e in events] == ["Started", "Updated"]
        assert [(c.seq_no, c.event_type) for c in conflicts] == [(1, "Ended")]
        assert implausible == []
    finally:
        await transactions.drain()
        await engine.dispose()
