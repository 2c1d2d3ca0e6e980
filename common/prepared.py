"""Hot statements without SQLAlchemy's execution layer: a group commit's few statements.

SQLAlchemy's execution of a statement (its execution context, connection events, parameter
dicts, Row objects, and on asyncio the greenlet it runs in) costs the event loop about as much
as the database's own work on a group of tens of rows. :class:`Prepared` keeps a Core statement
(built once, with SQLAlchemy, as any other) and runs it straight on the driver, inside the
transaction SQLAlchemy began, with what SQLAlchemy's execution would do to its values: each
parameter through its type's bind processor, each result column through its type's result
processor; its duration goes to ``csms_db_statement_seconds`` as every statement's.

* SQLite: in one trip to aiosqlite's thread (:meth:`common.sqlite_driver.Connection.one_trip`,
  the transaction's BEGIN with the first statement as for any other).
* PostgreSQL: asyncpg's prepared statement from SQLAlchemy's adapter's own cache, after the
  adapter began its transaction if it had not yet; a driver's error is translated as the
  adapter translates it.

Measured on transaction_svc's group of 50 TransactionEvents (the event loop's CPU, one core):
on SQLite the lock's SELECT 395 -> 215 µs, the events' INSERT 490 -> 255, the transactions'
UPDATE 296 -> 187; the mesh's CPU per event 146-149 -> 135-139 µs.

It leans on SQLAlchemy's compiled statements (``positiontup``, ``binds``) and, on PostgreSQL, on
its asyncpg adapter's transaction and statement cache; SQLAlchemy is pinned, and both backends'
suites run through it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import bindparam, column, func
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement, TableValuedAlias
from sqlalchemy.sql.elements import ColumnClause

from common import metrics, sqlite_driver

__all__ = ["Prepared", "arrays", "padded"]

_Processor = Callable[[Any], Any] | None
_Item = TypeVar("_Item")


def padded(items: Sequence[_Item]) -> list[_Item]:
    """``items`` (not empty) made as long as the next power of two by repeating the last: a
    statement taking one parameter set per item is compiled for a few sizes, not one per group
    size (a key looked up twice finds the same row)."""
    size = 1 << (len(items) - 1).bit_length()
    return [*items, *[items[-1]] * (size - len(items))]


def arrays(*columns: ColumnClause[Any]) -> TableValuedAlias:
    """PostgreSQL: rows given as one array parameter per column (``a_<column>``), the derived
    table's columns named after the columns: ``unnest($1::VARCHAR[], ...) AS anon(station_id,
    ...)``. The statement's text does not depend on the number of rows, so PostgreSQL and
    asyncpg prepare it once, and SQLAlchemy does not rewrite it per execution as it does an
    expanding IN; the server runs one statement for all the rows (an executemany runs one per
    row)."""
    params = (bindparam(f"a_{c.name}", type_=postgresql.ARRAY(c.type)) for c in columns)
    return (
        func.unnest(*params)
        .table_valued(*(column(c.name, c.type) for c in columns))
        .render_derived()
    )


class _Compiled:
    __slots__ = ("sql", "names", "binds", "results")

    def __init__(
        self,
        sql: str,
        names: list[str],
        binds: list[tuple[_Processor, Any]],
        results: list[tuple[int, Callable[[Any], Any]]] | None,
    ) -> None:
        self.sql = sql
        self.names = names
        self.binds = binds  # per positional parameter: (its type's processor, its own value)
        # (column index, its type's processor), processed columns only; None until the first
        # execution told the columns' types (a processor may depend on the driver's type).
        self.results = results


_NO_VALUE = object()


def _bound_value(process: _Processor, value: Any) -> Any:
    """A parameter's value as the driver takes it (its type's bind processor; None stays)."""
    return value if process is None or value is None else process(value)


# A many-row INSERT compiled: the statement, and per positional parameter its (row, name).
_Values = tuple[_Compiled, list[tuple[int, str]]]


# What a driver gives back: the rows, and the result columns' types as the driver names them
# (what a DBAPI cursor's description says; None where the driver does not say).
_Ran = tuple[list[Any], list[Any] | None]


async def _sqlite(conn: AsyncConnection, sql: str, parameters: Any, many: bool) -> _Ran:
    raw = await conn.get_raw_connection()
    driver: sqlite_driver.Connection = raw.dbapi_connection  # type: ignore[assignment]
    _, rows = await driver.one_trip(sql, parameters, many)
    return rows, None


async def _asyncpg(conn: AsyncConnection, sql: str, parameters: Any, many: bool) -> _Ran:
    raw = await conn.get_raw_connection()
    adapt: Any = raw.dbapi_connection  # SQLAlchemy's AsyncAdapt_asyncpg_connection
    async with adapt._execute_mutex:
        if adapt._transaction is None:
            await adapt._start_transaction()
        try:
            # The dialect's schema-change mark, as the adapter's own cursor passes it.
            invalidated = getattr(conn.dialect, "_invalidate_schema_cache_asof", 0)
            statement, _ = await adapt._prepare(sql, invalidated)
            if many:
                await statement.executemany(parameters)
                return [], None
            rows = [tuple(record) for record in await statement.fetch(*parameters)]
            return rows, [attribute.type.oid for attribute in statement.get_attributes()]
        except Exception as error:
            adapt._handle_exception(error)  # raises the DBAPI error SQLAlchemy would
            raise


_DRIVERS = {"aiosqlite": _sqlite, "asyncpg": _asyncpg}


class Prepared:
    """A Core statement run straight on the driver (see the module docstring): :meth:`rows`
    executes it once and gives its rows as tuples, :meth:`many` once per parameter set (no
    rows), :meth:`values` inserts several rows as one statement. The connection is an
    :class:`AsyncConnection` of :func:`common.db.create_engine`'s engines, inside a transaction
    SQLAlchemy began."""

    __slots__ = ("statement", "_compiled", "_values")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[tuple[int, tuple[str, ...]], _Compiled] = {}
        # INSERTs of several rows (values): per (dialect, row count, names), the statement and
        # where each positional parameter comes from (row, name).
        self._values: dict[tuple[int, int, tuple[str, ...]], _Values] = {}

    def _compile(self, dialect: Dialect, keys: tuple[str, ...]) -> _Compiled:
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=list(keys))
        names = list(compiled.positiontup or ())
        binds: list[tuple[_Processor, Any]] = []
        for name in names:
            bind = compiled.binds[name]
            value = bind.effective_value if bind.value is not None or bind.callable else _NO_VALUE
            binds.append((bind.type._cached_bind_processor(dialect), value))
        return _Compiled(str(compiled), names, binds, None)

    def _results(
        self, dialect: Dialect, types: list[Any] | None
    ) -> list[tuple[int, Callable[[Any], Any]]]:
        results = []
        for i, exported in enumerate(getattr(self.statement, "exported_columns", ())):
            coltype = types[i] if types is not None and i < len(types) else None
            process = exported.type._cached_result_processor(dialect, coltype)
            if process is not None:
                results.append((i, process))
        return results

    def _for(self, conn: AsyncConnection, keys: tuple[str, ...]) -> _Compiled:
        dialect = conn.dialect
        found = self._compiled.get((id(dialect), keys))
        if found is None:
            found = self._compiled[(id(dialect), keys)] = self._compile(dialect, keys)
        return found

    @staticmethod
    def _bound(compiled: _Compiled, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, (process, own) in zip(compiled.names, compiled.binds, strict=True):
            if own is _NO_VALUE and name not in params:
                raise ValueError(f"{name}: no value given (no column default is applied)")
            values.append(_bound_value(process, params.get(name, own)))
        return values

    @staticmethod
    async def _run(conn: AsyncConnection, sql: str, parameters: Any, many: bool) -> _Ran:
        run = _DRIVERS.get(conn.dialect.driver)
        if run is None:
            raise NotImplementedError(f"no straight path to the {conn.dialect.driver} driver")
        began = time.perf_counter()
        ran = await run(conn, sql, parameters, many)
        metrics.DB_STATEMENT.observe(time.perf_counter() - began)
        return ran

    def _processed(
        self, conn: AsyncConnection, compiled: _Compiled, ran: _Ran
    ) -> list[tuple[Any, ...]]:
        """The rows, each column through its type's result processor (a many-row INSERT's
        RETURNING columns are this statement's)."""
        rows, types = ran
        if compiled.results is None:
            compiled.results = self._results(conn.dialect, types)
        if not compiled.results:
            return rows
        out = []
        for row in rows:
            values = list(row)
            for i, process in compiled.results:
                values[i] = process(values[i])
            out.append(tuple(values))
        return out

    async def rows(self, conn: AsyncConnection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute once with ``params`` (by name); the rows, each column processed by its type."""
        compiled = self._for(conn, tuple(params))
        ran = await self._run(conn, compiled.sql, self._bound(compiled, params), False)
        return self._processed(conn, compiled, ran)

    async def many(self, conn: AsyncConnection, params: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per parameter set (all with the names of the first)."""
        if not params:
            return
        compiled = self._for(conn, tuple(params[0]))
        await self._run(conn, compiled.sql, [self._bound(compiled, p) for p in params], True)

    async def values(
        self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Any, ...]]:
        """An INSERT of ``rows`` as one statement (one VALUES list; each row gives every column
        the statement needs, no column default is applied); its RETURNING rows, processed.
        Compiled once per row count and names (group sizes stay below a few hundred): for
        SQLite, whose statements cost nothing to prepare; on PostgreSQL prefer a statement
        whose text does not depend on the row count (arrays, ``unnest``) and :meth:`rows`."""
        if not rows:
            return []
        keys = tuple(rows[0])
        dialect = conn.dialect
        cache_key = (id(dialect), len(rows), keys)
        found = self._values.get(cache_key)
        if found is None:
            insert: Any = self.statement
            table = insert.table
            multi = insert.values(
                [
                    {k: bindparam(f"{k}_{i}", type_=table.c[k].type) for k in keys}
                    for i in range(len(rows))
                ]
            )
            compiled = Prepared(multi)._compile(dialect, ())
            sources = []
            for name in compiled.names:
                key, _, number = name.rpartition("_")
                if key not in keys or not number.isdigit():
                    raise ValueError(f"{name}: every row must give every column the insert needs")
                sources.append((int(number), key))
            found = self._values[cache_key] = (compiled, sources)
        compiled, sources = found
        parameters = [
            _bound_value(process, rows[at][key])
            for (process, _), (at, key) in zip(compiled.binds, sources, strict=True)
        ]
        ran = await self._run(conn, compiled.sql, parameters, False)
        return self._processed(conn, compiled, ran)
