"""common.db's PostgreSQL engines, against the real server: what a group commit costs the server
does not depend on when its statements were first prepared, and a connection taken from the pool
under load costs no round trip of its own, while one that sat idle is still checked before use.

Counted by the server's own statistics (``pg_stat_user_tables``, ``pg_stat_database``), flushed
by the connection that made them (``pg_stat_force_next_flush``, PostgreSQL 15) before they are
read from another one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from common import db
from transaction_svc.repository import EventWriter

pytestmark = pytest.mark.postgres


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def tx_url(postgres_url: str) -> AsyncIterator[str]:
    """A migrated transaction_svc database of its own."""
    url = f"{postgres_url}/csms_test_engine_{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(db.migrate, "transaction_svc", url)
    yield url
    await db.drop_database(url)


async def _flush_stats(engine: AsyncEngine) -> None:
    """The pooled connection's pending statistics, flushed: asked for on the driver's connection
    outside any transaction, so that the server flushes them as that statement ends (inside one,
    it would wait for the end of the transaction and a second or more)."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.execute("SELECT pg_stat_force_next_flush()")  # type: ignore[union-attr]


async def _ask(url: str, query: str, *args: object) -> asyncpg.Record:
    """One row of ``query`` on a connection of its own (the server's view, not the engine's)."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        return await conn.fetchrow(query, *args)
    finally:
        await conn.close()


async def _table_stats(url: str, table: str) -> tuple[int, int]:
    """(seq_scan, idx_scan) of ``table`` as the server counted them so far."""
    row = await _ask(
        url,
        "SELECT seq_scan, coalesce(idx_scan, 0) AS idx_scan FROM pg_stat_user_tables"
        " WHERE relname = $1",
        table,
    )
    return int(row["seq_scan"]), int(row["idx_scan"])


async def _rollbacks(url: str) -> int:
    row = await _ask(
        url,
        "SELECT xact_rollback FROM pg_stat_database WHERE datname = $1",
        make_url(url).database,
    )
    return int(row["xact_rollback"])


_ADD_TRANSACTIONS = text(
    "INSERT INTO transactions (station_id, id, active, start_event_received, id_token,"
    " id_token_type, charging_state, ended_ev_gone, stopped_reason, created_at, updated_at,"
    " protocol) SELECT 'cs' || g, 'tx' || g, true, true, '', '', '', false, '', now(), now(),"
    " 'ocpp2.0.1' FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g"
)


def _keys(first: int, count: int) -> list[tuple[str, str]]:
    return sorted((f"cs{n}", f"tx{n}") for n in range(first, first + count))


async def test_a_group_locks_its_transactions_by_key_however_small_the_table_was(
    tx_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group commit's lock of its transactions, first run while the table was small (a new
    CSMS, the first minutes of a fleet), finds them through the primary key once the table holds
    thousands (within ``REPLAN_AFTER``, here half a second): not a scan of every transaction per
    group. (A plan the server made once for the statement and kept, a sequential scan of the
    then small table, cost each group of a fleet of 20,000 charging stations a scan of all
    20,000 rows, on a server without autovacuum for as long as the connection lived.)"""
    monkeypatch.setattr(db, "REPLAN_AFTER", 0.5)
    engine: AsyncEngine = db.create_engine(tx_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(_ADD_TRANSACTIONS, {"first": 1, "last": 20})
        for _ in range(10):  # the statement prepared and run while the table is small
            async with engine.begin() as conn:
                assert len(await EventWriter(conn).lock_many(_keys(1, 10))) == 10
        async with engine.begin() as conn:
            await conn.execute(_ADD_TRANSACTIONS, {"first": 21, "last": 20_020})
        await _flush_stats(engine)
        await asyncio.sleep(0.6)
        seq0, idx0 = await _table_stats(tx_url, "transactions")
        for n in range(20):
            async with engine.begin() as conn:
                assert len(await EventWriter(conn).lock_many(_keys(100 + 10 * n, 10))) == 10
        await _flush_stats(engine)
        seq1, idx1 = await _table_stats(tx_url, "transactions")
    finally:
        await engine.dispose()
    assert seq1 - seq0 == 0, f"{seq1 - seq0} scans of the whole table for 20 groups"
    assert idx1 - idx0 >= 20


async def test_a_connection_in_use_is_not_pinged_at_each_checkout(tx_url: str) -> None:
    """Under load a connection goes back to the pool and out again within milliseconds: taking
    it costs no round trip to the server. (A ping at every checkout was three: BEGIN, an empty
    statement, ROLLBACK, as many as a group commit's own statements.)"""
    engine = db.create_engine(tx_url)
    try:
        await _flush_stats(engine)  # the connection made, before counting
        before = await _rollbacks(tx_url)
        for _ in range(20):
            async with engine.begin() as conn:
                await conn.execute(text("SELECT 1"))
        await _flush_stats(engine)
        after = await _rollbacks(tx_url)
    finally:
        await engine.dispose()
    assert after - before == 0, f"{after - before} rollbacks for 20 committed transactions"


async def test_a_connection_that_sat_idle_is_checked_and_replaced_if_dead(
    tx_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection idle in the pool longer than ``PING_AFTER_IDLE`` is pinged before use: one
    the server dropped meanwhile (a restart, an idle timeout, an administrator) is replaced
    without the caller seeing an error."""
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.2)
    engine = db.create_engine(tx_url)
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert (await _ask(tx_url, "SELECT pg_terminate_backend($1)", pid))[0]
        await asyncio.sleep(0.4)
        async with engine.begin() as conn:
            again = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    finally:
        await engine.dispose()
    assert again != pid
