"""common.prepared on both backends: a statement run straight on the driver reads and writes as
SQLAlchemy's own execution does, inside the transaction SQLAlchemy began (also as its first
statement), and a driver's error leaves that transaction to roll back as any other."""

from __future__ import annotations

import datetime
import pathlib
import uuid
from collections.abc import AsyncIterator

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
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from common import db, metrics
from common.prepared import Prepared

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
async def engine(
    backend: str, tmp_path: pathlib.Path, postgres_url: str
) -> AsyncIterator[AsyncEngine]:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'prepared.sqlite'}"
    else:
        url = f"{postgres_url}/csms_test_prepared_{uuid.uuid4().hex[:10]}"
    await db.ensure_database(url)
    engine = db.create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_metadata.create_all)
    yield engine
    await engine.dispose()
    await db.drop_database(url)


def _insert(dialect: str):  # type: ignore[no-untyped-def]
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(_rows)
        .on_conflict_do_nothing(index_elements=["k"])
        .returning(_rows.c.k, _rows.c.flag, _rows.c.at, _rows.c.doc)
    )


async def test_rows_are_read_and_bound_as_sqlalchemy_does(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            _rows.insert(),
            [
                {"k": "a", "n": 1, "flag": True, "at": _AT, "doc": {"x": [1, "y"]}},
                {"k": "b", "n": 2, "flag": False, "at": None, "doc": None},
            ],
        )
    stmt = (
        select(_rows)
        .where(or_(_rows.c.k == bindparam("k0"), _rows.c.at == bindparam("t")))
        .order_by(_rows.c.k)
    )
    async with engine.begin() as conn:
        got = await Prepared(stmt).rows(conn, {"k0": "b", "t": _AT})
        expected = [tuple(row) for row in await conn.execute(stmt, {"k0": "b", "t": _AT})]
    assert got == expected
    assert got == [("a", 1, True, _AT, {"x": [1, "y"]}, 7), ("b", 2, False, None, None, 7)]
    assert type(got[0][2]) is bool and got[0][3].tzinfo is not None


async def test_many_and_values_write_as_sqlalchemy_does(engine: AsyncEngine) -> None:
    row = {"n": 1, "flag": True, "at": _AT, "doc": [1], "made": 1}
    inserting = Prepared(_insert(engine.dialect.name))
    async with engine.begin() as conn:
        first = await inserting.values(conn, [{"k": "a", **row}, {"k": "b", **row}])
        again = await inserting.values(conn, [{"k": "b", **row}, {"k": "c", **row, "at": None}])
        await Prepared(
            _rows.update()
            .where(_rows.c.k == bindparam("key"))
            .values(n=bindparam("n"), at=bindparam("at"))
        ).many(conn, [{"key": "a", "n": 5, "at": None}, {"key": "c", "n": 7, "at": _AT}])
    assert sorted(first) == [("a", True, _AT, [1]), ("b", True, _AT, [1])]
    assert again == [("c", True, None, [1])]
    async with engine.connect() as conn:
        stored = [tuple(r) for r in await conn.execute(select(_rows).order_by(_rows.c.k))]
        at_at = (await conn.execute(select(_rows.c.k).where(_rows.c.at == _AT))).scalars().all()
    assert stored == [
        ("a", 5, True, None, [1], 1),
        ("b", 1, True, _AT, [1], 1),
        ("c", 7, True, _AT, [1], 1),
    ]
    assert sorted(at_at) == ["b", "c"]  # what SQLAlchemy compares with is what was written


async def test_the_first_statement_of_a_transaction_runs_inside_it(engine: AsyncEngine) -> None:
    """Rolled back with the transaction SQLAlchemy began (no autocommit of a statement that came
    before any of SQLAlchemy's own)."""
    inserting = Prepared(_insert(engine.dialect.name))
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await inserting.values(
                conn, [{"k": "z", "n": 1, "flag": False, "at": None, "doc": None, "made": 1}]
            )
            raise RuntimeError("the caller failed")
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(_rows))).scalar() == 0


async def test_a_drivers_error_is_raised_and_its_transaction_rolls_back(
    engine: AsyncEngine,
) -> None:
    plain = Prepared(_rows.insert())
    async with engine.begin() as conn:
        await plain.many(
            conn, [{"k": "a", "n": 1, "flag": True, "at": None, "doc": None, "made": 1}]
        )
    # The driver's own error (sqlite3's, or the one SQLAlchemy's asyncpg adapter makes of
    # asyncpg's): what SQLAlchemy would wrap, unwrapped.
    with pytest.raises(Exception, match="(?i)unique"):
        async with engine.begin() as conn:
            await plain.many(
                conn, [{"k": "b", "n": 1, "flag": True, "at": None, "doc": None, "made": 1}]
            )
            await plain.many(
                conn, [{"k": "a", "n": 2, "flag": True, "at": None, "doc": None, "made": 1}]
            )
    async with engine.begin() as conn:  # the connection is usable again; "b" was rolled back
        keys = (await conn.execute(select(_rows.c.k).order_by(_rows.c.k))).scalars().all()
    assert keys == ["a"]


async def test_no_column_default_is_applied_and_every_statement_is_timed(
    engine: AsyncEngine,
) -> None:
    """A many-row insert whose rows lack a column with a Python-side default is refused before
    anything runs (SQLAlchemy's execution would have computed it; Prepared does not); each
    execution counts in csms_db_statement_seconds."""
    before = _statements()
    async with engine.begin() as conn:
        with pytest.raises(ValueError, match="every column"):
            await Prepared(_insert(engine.dialect.name)).values(
                conn, [{"k": "d", "n": 1, "flag": True, "at": None, "doc": None}]
            )
        with pytest.raises(ValueError, match="no value"):
            await Prepared(_rows.insert()).many(
                conn, [{"k": "d", "n": 1, "flag": True, "at": None, "doc": None}]
            )
        await Prepared(select(_rows.c.k)).rows(conn, {})
    assert _statements() == before + 1


def _statements() -> float:
    for metric in metrics.DB_STATEMENT.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count"):
                return float(sample.value)
    raise AssertionError("no count of statements")


async def test_literals_single_names_and_a_parameter_set_short_of_a_name(
    engine: AsyncEngine,
) -> None:
    """A statement's own literal keeps its place among the parameters given; a statement of one
    parameter binds it as any other; a parameter set of an executemany that lacks a name its
    first had is refused before anything runs."""
    row = {"n": 1, "flag": True, "at": None, "doc": None, "made": 1}
    setting = Prepared(
        _rows.update().where(_rows.c.k == bindparam("key")).values(n=5, at=bindparam("at"))
    )
    async with engine.begin() as conn:
        await Prepared(_rows.insert()).many(conn, [{"k": "a", **row}, {"k": "b", **row}])
        await setting.many(conn, [{"key": "a", "at": _AT}, {"key": "b", "at": None}])
        got = await Prepared(
            select(_rows.c.k, _rows.c.n, _rows.c.at).where(_rows.c.k == bindparam("one"))
        ).rows(conn, {"one": "a"})
        with pytest.raises(ValueError, match="at: no value"):
            await setting.many(conn, [{"key": "a", "at": _AT}, {"key": "b"}])
    assert got == [("a", 5, _AT)]
    async with engine.connect() as conn:
        stored = [tuple(r) for r in await conn.execute(select(_rows.c.k, _rows.c.n, _rows.c.at))]
    assert sorted(stored) == [("a", 5, _AT), ("b", 5, None)]
