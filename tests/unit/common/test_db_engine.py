"""common.db's SQLite engine: the trips to aiosqlite's thread a transaction costs, and that a
connection goes back to the pool with no transaction open (its write lock released)."""

from __future__ import annotations

import pathlib
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from common import db, sqlite_driver
from common.prepared import Prepared, padded


@pytest.fixture
async def engine(tmp_path: pathlib.Path) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'trips.sqlite'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (a INTEGER)"))
    yield engine
    await engine.dispose()


# The table the engine fixture makes, for Core statements.
_T = Table("t", MetaData(), Column("a", Integer))


class Trips(list[str]):
    """What each trip to the driver's thread ran (its statements' texts joined by "; ", or the
    function's name: commit, rollback), and the connection it ran on."""

    conn: aiosqlite.Connection | None = None

    def open(self) -> bool:
        """Whether that connection holds a transaction open."""
        assert self.conn is not None
        return bool(self.conn.in_transaction)


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Trips:
    seen = Trips()
    run_in_thread = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if fn is sqlite_driver._run:  # (sqlite3 connection, statement, parameters, many, begin)
            seen.append("; ".join(s for s in (args[4], args[1]) if s is not None))
        else:
            seen.append(fn.__name__)
        seen.conn = self
        return await run_in_thread(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


async def test_a_committed_transaction_costs_no_rollback_on_its_return(
    engine: AsyncEngine, trips: Trips
) -> None:
    """BEGIN with the first statement, COMMIT: two trips. The BEGIN was a trip of its own, and
    the pool's reset rolled back the transaction its commit had already ended: two more for
    every group commit."""
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (1)"))
        await conn.execute(text("INSERT INTO t VALUES (2)"))
    assert trips == [
        "BEGIN IMMEDIATE; INSERT INTO t VALUES (1)",
        "INSERT INTO t VALUES (2)",
        "commit",
    ]
    assert not trips.open()


async def test_a_connection_left_in_its_transaction_is_rolled_back_on_its_return(
    engine: AsyncEngine, trips: Trips
) -> None:
    """A read that never commits (a session's reads) holds BEGIN IMMEDIATE's write lock: the
    pool's reset still rolls it back, or every other writer of the file would wait."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT a FROM t"))
    assert trips == ["BEGIN IMMEDIATE; SELECT a FROM t", "rollback"]
    assert not trips.open()
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t VALUES (2)"))  # not committed: rolled back
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0


async def test_a_failed_transaction_is_rolled_back(engine: AsyncEngine, trips: Trips) -> None:
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (3)"))
            raise RuntimeError("the caller failed")
    assert trips[-1] == "rollback" and trips.count("rollback") == 1
    assert not trips.open()
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0


async def test_a_transaction_that_ran_nothing_costs_no_trip(
    engine: AsyncEngine, trips: Trips
) -> None:
    async with engine.begin():
        pass
    async with engine.connect() as conn:
        await conn.commit()
    assert trips == []
    async with engine.begin() as conn:  # and the next one begins as it should
        await conn.execute(text("INSERT INTO t VALUES (4)"))
    assert trips == ["BEGIN IMMEDIATE; INSERT INTO t VALUES (4)", "commit"]
    assert not trips.open()


async def test_the_write_lock_is_taken_with_the_first_statement(
    engine: AsyncEngine, tmp_path: pathlib.Path, trips: Trips
) -> None:
    """BEGIN IMMEDIATE still comes before the first statement: another writer of the file
    waits (here: is refused at once) from then on, even when that statement only reads."""
    other = sqlite3.connect(tmp_path / "trips.sqlite", timeout=0, isolation_level=None)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT a FROM t"))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # released with the connection
        other.execute("ROLLBACK")
    finally:
        other.close()


# -- common.prepared on SQLite: its statements travel the same one trip ------------------------


async def test_a_prepared_statement_is_one_trip_with_the_transactions_begin(
    engine: AsyncEngine, trips: Trips
) -> None:
    """Each execution one trip (an executemany too, a many-row insert as one statement), the
    first with the transaction's BEGIN IMMEDIATE, then the commit: as SQLAlchemy's own."""
    insert = sqlite_insert(_T).returning(_T.c.a)
    async with engine.begin() as conn:
        assert await Prepared(insert).values(conn, [{"a": 1}, {"a": 2}]) == [(1,), (2,)]
        await Prepared(_T.insert()).many(conn, [{"a": 3}, {"a": 4}])
        assert await Prepared(select(_T.c.a).where(_T.c.a > 2)).rows(conn, {}) == [(3,), (4,)]
    assert trips == [
        "BEGIN IMMEDIATE; INSERT INTO t (a) VALUES (?), (?) RETURNING a",
        "INSERT INTO t (a) VALUES (?)",
        "SELECT t.a \nFROM t \nWHERE t.a > ?",
        "commit",
    ]
    assert not trips.open()


@pytest.mark.parametrize(
    ("count", "size"), [(1, 1), (2, 2), (3, 4), (4, 4), (5, 8), (64, 64), (65, 128)]
)
def test_padded_to_the_next_power_of_two_with_the_last_item(count: int, size: int) -> None:
    items = list(range(count))
    assert padded(items) == [*items, *[count - 1] * (size - count)]


# -- temporary files ------------------------------------------------------------------------------


def _temp_files() -> list[str]:
    """The SQLite temporary files this process holds open (SQLite names them ``etilqs_*`` and
    unlinks them at once: only the open descriptor shows them)."""
    found = []
    for fd in pathlib.Path("/proc/self/fd").iterdir():
        try:
            target = fd.readlink()
        except OSError:  # closed meanwhile
            continue
        if "etilqs_" in target.name:
            found.append(str(target))
    return found


async def test_a_large_statement_journal_stays_in_memory(engine: AsyncEngine) -> None:
    """A statement that rewrites pages its transaction already wrote keeps their earlier content
    in a statement journal while it runs, and SQLite spills one of over 64 KiB to a temporary
    file by default, open until the transaction ends (what this test sees): a group commit's
    set-based statements did, a file opened, written (as much as the WAL itself) and unlinked
    per group. With ``temp_store=MEMORY`` it stays in memory: no file (the WAL's durability does
    not depend on it)."""
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE wide (id INTEGER PRIMARY KEY, body TEXT)"))
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO wide (body) VALUES (:body)"), [{"body": "x" * 500}] * 2_000
        )
        await conn.execute(text("UPDATE wide SET body = upper(body)"))  # 1 MB of pages again
        assert _temp_files() == []
        assert (await conn.execute(text("PRAGMA temp_store"))).scalar() == 2  # MEMORY
    async with engine.connect() as conn:
        assert (
            await conn.execute(text("SELECT count(*) FROM wide WHERE body = :b"), {"b": "X" * 500})
        ).scalar() == 2_000
