"""transaction_svc's set-based group writes against its one-event-at-a-time path, on SQLite and
PostgreSQL: the same events, concurrent, out of order and repeated, give the same transactions
and the same answers either way."""

from __future__ import annotations

import asyncio
import datetime
import random

from common import db
from transaction_svc.domain import Event
from transaction_svc.repository import EventWriter
from transaction_svc.service import Transactions, state_of

T0 = datetime.datetime(2026, 1, 1, 10, tzinfo=datetime.UTC)


def _events(n_tx: int, per_tx: int, seed: int) -> list[tuple[str, Event]]:
    """Events of ``n_tx`` transactions (some sent twice), shuffled."""
    rng = random.Random(seed)
    out: list[tuple[str, Event]] = []
    for t in range(n_tx):
        register = 1000.0
        for seq in range(per_tx):
            register += rng.uniform(1, 100)
            kind = "Started" if seq == 0 else "Ended" if seq == per_tx - 1 else "Updated"
            at = T0 + datetime.timedelta(minutes=seq)
            out.append(
                (
                    f"tx-{t}",
                    Event(
                        seq_no=seq,
                        event_type=kind,
                        timestamp=at,
                        trigger_reason="MeterValuePeriodic",
                        evse_id=1 if seq in (0, 2) else None,
                        connector_id=seq + 1 if seq in (0, 2) else None,
                        id_token="CARD" if kind != "Updated" else "",
                        id_token_type="ISO14443" if kind != "Updated" else "",
                        charging_state=rng.choice(["Charging", "SuspendedEV", "Idle"]),
                        stopped_reason="Local" if kind == "Ended" else "",
                        meter_values=[
                            {
                                "timestamp": at.isoformat(),
                                "sampledValue": [{"value": round(register, 1)}],
                            }
                        ],
                    ),
                )
            )
    out += rng.sample(out, len(out) // 4)  # retries
    rng.shuffle(out)
    return out


async def _write(transactions: Transactions, station: str, events) -> list[bool]:  # type: ignore[no-untyped-def]
    return list(await asyncio.gather(*(transactions.record(station, tx, ev) for tx, ev in events)))


async def test_set_based_groups_equal_one_by_one(migrated_db) -> None:  # type: ignore[no-untyped-def]
    url = await asyncio.to_thread(migrated_db, "transaction_svc")
    engine = db.create_engine(url)
    try:
        sessions = db.session_factory(engine)
        grouped, single = Transactions(sessions), Transactions(sessions)
        single._events.apply_many = None  # the one-event-at-a-time path
        calls: list[int] = []
        store_many = grouped._store_many

        async def counting(conn, items):  # type: ignore[no-untyped-def]
            results = await store_many(conn, items)
            calls.append(len(items))  # only a set-based write that succeeded counts
            return results

        grouped._events.apply_many = counting
        events = _events(n_tx=12, per_tx=6, seed=7)
        answers_grouped = await _write(grouped, "CS-A", events)
        answers_single = await _write(single, "CS-B", events)

        assert max(calls) > 1, "the events were never written as a group"
        assert sum(calls) == len(events)
        # The first copy of each event is True, its repeats False, in both.
        assert sorted(answers_grouped) == sorted(answers_single)
        assert answers_grouped.count(True) == 12 * 6
        for t in range(12):
            a = await grouped.get(f"tx-{t}", "CS-A")
            b = await single.get(f"tx-{t}", "CS-B")
            assert state_of(a[0])._asdict() == state_of(b[0])._asdict()
            assert [e.seq_no for e in a[1]] == list(range(6)) == [e.seq_no for e in b[1]]
            assert [e.meter_values for e in a[1]] == [e.meter_values for e in b[1]]
            # Written at the driver, read back through the ORM: the same values, the same types.
            assert [(e.event_type, e.trigger_reason, e.timestamp, e.offline) for e in a[1]] == [
                (e.event_type, e.trigger_reason, e.timestamp, e.offline) for e in b[1]
            ]
            assert all(e.received_at.tzinfo is not None for e in a[1])
            assert a[0].updated_at.tzinfo is not None and a[0].updated_at >= a[0].created_at
            assert not a[0].active and a[0].stopped_reason == "Local"
    finally:
        await engine.dispose()


async def test_group_lock_reads_each_key_by_index_on_sqlite(sqlite_plans) -> None:  # type: ignore[no-untyped-def]
    """The group write's lock finds each transaction through the primary key on SQLite, which
    scans the whole table for a row-value IN: a cost growing with every transaction ever
    stored, paid by every group."""
    keys = [("CS-1", "tx-a"), ("CS-1", "tx-b"), ("CS-2", "tx-a")]

    async def lock(conn) -> None:  # type: ignore[no-untyped-def]
        assert sorted(await EventWriter(conn).lock_many(keys)) == keys

    for details in await sqlite_plans("transaction_svc", "SELECT", lock):
        assert not [d for d in details if d.startswith("SCAN transactions")], details
        assert any("SEARCH transactions" in d for d in details), details
