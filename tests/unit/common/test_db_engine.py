"""common.db's SQLite engine: the trips to aiosqlite's thread a transaction costs, and that a
connection goes back to the pool with no transaction open (its write lock released)."""

from __future__ import annotations

import datetime
import pathlib
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from common import db, metrics, sqlite_driver
from common.prepared import Prepared


@pytest.fixture
async def engine(tmp_path: pathlib.Path) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'trips.sqlite'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (a INTEGER)"))
    yield engine
    await engine.dispose()


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


# -- common.prepared.Prepared on SQLite: a Core statement without SQLAlchemy's execution layer

_metadata = MetaData()
_rows = Table(
    "prepared_rows",
    _metadata,
    Column("k", String(8), primary_key=True),
    Column("n", Integer, nullable=False),
    Column("flag", Boolean, nullable=False),
    Column("at", db.UtcDateTime, nullable=True),
    Column("doc", JSON, nullable=True),
    Column("made", Integer, default=7),  # a Python-side default, which Prepared does not apply
)
_AT = datetime.datetime(2026, 12, 6, 11, 0, 0, 123000, tzinfo=datetime.UTC)


@pytest.fixture
async def table(engine: AsyncEngine) -> AsyncEngine:
    async with engine.begin() as conn:
        await conn.run_sync(_metadata.create_all)
    return engine


async def test_prepared_rows_read_as_sqlalchemy_reads_them(table: AsyncEngine) -> None:
    """Each column through its type's result processor (an aware UTC datetime, a bool, JSON),
    each parameter through its bind processor: the same values SQLAlchemy's execution gives."""
    async with table.begin() as conn:
        await conn.execute(
            _rows.insert(),
            [
                {"k": "a", "n": 1, "flag": True, "at": _AT, "doc": {"x": [1, "y"]}},
                {"k": "b", "n": 2, "flag": False, "at": None, "doc": None},
            ],
        )
    stmt = select(_rows).where(or_(_rows.c.k == bindparam("k0"), _rows.c.at == bindparam("t")))
    statement = Prepared(stmt.order_by(_rows.c.k))
    async with table.begin() as conn:
        got = await statement.rows(conn, {"k0": "b", "t": _AT})
        expected = [
            tuple(row)
            for row in await conn.execute(stmt.order_by(_rows.c.k), {"k0": "b", "t": _AT})
        ]
    assert (
        got
        == expected
        == [
            ("a", 1, True, _AT, {"x": [1, "y"]}, 7),
            ("b", 2, False, None, None, 7),
        ]
    )
    assert type(got[0][2]) is bool and got[0][3].tzinfo is datetime.UTC


async def test_prepared_many_writes_as_an_executemany_would(
    table: AsyncEngine, trips: Trips
) -> None:
    """Every parameter set in one trip, with the transaction's BEGIN; stored as SQLAlchemy's own
    executemany stores them (the timestamp's text included: rows of both compare alike)."""
    async with table.begin() as conn:
        await conn.execute(_rows.insert(), [{"k": k, "n": 0, "flag": False} for k in "abc"])
    update = (
        _rows.update()
        .where(_rows.c.k == bindparam("key"))
        .values(n=bindparam("n"), flag=bindparam("flag"), at=bindparam("at"))
    )
    trips.clear()
    async with table.begin() as conn:
        await Prepared(update).many(
            conn,
            [
                {"key": "a", "n": 5, "flag": True, "at": _AT},
                {"key": "c", "n": 7, "flag": False, "at": None},
            ],
        )
    assert len(trips) == 2 and trips[0].startswith("BEGIN IMMEDIATE; UPDATE prepared_rows")
    async with table.connect() as conn:
        stored = (await conn.exec_driver_sql("SELECT k, n, flag, at FROM prepared_rows")).all()
        core = await conn.execute(select(_rows.c.k).where(_rows.c.at == _AT))
        assert [r.k for r in core] == ["a"]  # the text Core compares with is the text written
    assert sorted(stored) == [
        ("a", 5, 1, "2026-12-06 11:00:00.123000"),
        ("b", 0, 0, None),
        ("c", 7, 0, None),
    ]


async def test_prepared_values_inserts_every_row_in_one_statement(
    table: AsyncEngine, trips: Trips
) -> None:
    """Several rows as one VALUES list; with ON CONFLICT DO NOTHING and RETURNING, the rows it
    inserted (a stored key returns nothing). A row without a column the insert needs is
    refused before anything runs (no column default is applied)."""
    insert = (
        sqlite_insert(_rows)
        .on_conflict_do_nothing(index_elements=["k"])
        .returning(_rows.c.k, _rows.c.flag, _rows.c.at)
    )
    statement = Prepared(insert)
    row = {"n": 1, "flag": True, "at": _AT, "doc": [1], "made": 1}
    trips.clear()
    async with table.begin() as conn:
        first = await statement.values(conn, [{"k": "a", **row}, {"k": "b", **row}])
        again = await statement.values(
            conn, [{"k": "b", **row}, {"k": "c", **row, "flag": False, "at": None}]
        )
    assert sorted(first) == [("a", True, _AT), ("b", True, _AT)]
    assert again == [("c", False, None)]
    assert len(trips) == 3 and trips[0].count("(?, ?, ?, ?, ?, ?)") == 2  # 2 statements, commit
    async with table.connect() as conn:
        assert (await conn.execute(select(_rows.c.doc).where(_rows.c.k == "a"))).scalar() == [1]
        with pytest.raises(ValueError, match="every column"):
            await statement.values(conn, [{"k": "d", "n": 1, "flag": True}])


async def test_a_prepared_statement_is_timed(table: AsyncEngine) -> None:
    before = _statements()
    async with table.begin() as conn:
        await Prepared(select(_rows.c.k)).rows(conn, {})
    assert _statements() == before + 1


def _statements() -> float:
    for metric in metrics.DB_STATEMENT.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count"):
                return sample.value
    raise AssertionError("no count of statements")
