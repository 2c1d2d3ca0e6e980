"""SQLAlchemy's aiosqlite adapter with one trip to the driver's thread per statement.

aiosqlite runs SQLite in a thread of its own; every call crosses to it and back (a queue put, the
thread's wake-up, a call_soon_threadsafe that wakes the event loop): about 45 µs of CPU on this
project's machines. SQLAlchemy's adapter makes four such trips per statement (open a cursor,
execute, fetch the rows, close the cursor), so a group commit of five statements cost about
twenty trips, most of what a small group costs: at a fleet's pace (a few events per group) that
was most of transaction_svc's CPU per event.

Here the cursor does the four in one trip: a function run in the driver's thread opens a sqlite3
cursor, executes, reads the rows if the statement returns any, keeps ``description``,
``rowcount`` and ``lastrowid``, and closes it. What SQLAlchemy then reads of the cursor is the
result kept. Server-side cursors (streamed results, which this project does not use) stay
SQLAlchemy's own. Given to the engine as its DBAPI module (``create_async_engine(module=...)``),
so URLs stay ``sqlite+aiosqlite://``.

It leans on aiosqlite's ``Connection._execute`` (run a function in its thread), which
SQLAlchemy's own adapter uses the queue beneath (its isolation-level setter); both packages are
pinned, and the whole suite runs on it.

:class:`Prepared` goes one step further for a group commit's hot statements: a Core statement
compiled once (per set of parameter names) and run in that one trip without SQLAlchemy's
execution layer (its execution context, connection events, parameter dicts and Row objects).
Parameters go through their types' own bind processors and result columns through their own
result processors, as SQLAlchemy's execution would do; the duration goes to
``csms_db_statement_seconds`` too. Measured on transaction_svc's group of 50 TransactionEvents
(the event loop's CPU, one core): the lock's SELECT 395 -> 215 µs, the events' INSERT 490 -> 255,
the transactions' UPDATE 296 -> 187; the mesh's CPU per event 146-149 -> 135-139 µs.
"""

from __future__ import annotations

import collections
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiosqlite
from sqlalchemy import bindparam
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

from common import metrics

__all__ = ["Connection", "Prepared", "dbapi"]


class _Done:
    """What a statement left: what SQLAlchemy reads of a cursor once it has run."""

    __slots__ = ("description", "rowcount", "lastrowid", "arraysize")

    def __init__(self, description: Any = None, rowcount: int = -1, lastrowid: Any = None) -> None:
        self.description = description
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self.arraysize = 1

    def close(self) -> None:
        """Nothing to close: the sqlite3 cursor was closed in the driver's thread."""


def _run(
    conn: sqlite3.Connection, operation: str, parameters: Any, many: bool, begin: str | None
) -> tuple[_Done, list[Any]]:
    """In the driver's thread: the transaction's BEGIN when it is still to be sent, the
    statement, its rows, and what its cursor says."""
    cursor = conn.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return _Done(description, cursor.rowcount, cursor.lastrowid), rows
    finally:
        cursor.close()


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No trip to open a cursor: each statement opens (and closes) its own in the thread.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = _Done()  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._one_trip(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await self._one_trip(operation, seq_of_parameters, many=True)

    async def _one_trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        adapt: Connection = self._adapt_connection  # type: ignore[assignment]
        done, rows = await adapt.one_trip(operation, parameters, many)
        self._cursor = done  # type: ignore[assignment]
        self._rows = collections.deque(rows)

    async def _async_soft_close(self) -> None:
        """The rows are read already and the sqlite3 cursor closed: nothing to do."""

    def nextset(self) -> None:
        raise NotImplementedError("sqlite3 cursors have no next result set")

    def setinputsizes(self, *inputsizes: Any) -> None:
        """A no-op, as it is for sqlite3."""


class Connection(AsyncAdapt_aiosqlite_connection):
    """A connection whose BEGIN travels with the transaction's first statement (:meth:`begin`),
    one trip to the driver's thread less per transaction, and whose return to the pool costs a
    trip only when a transaction is still open (:meth:`reset`)."""

    __slots__ = ("pending_begin",)

    _cursor_cls = _OneTripCursor  # type: ignore[assignment]

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        # The BEGIN statement the next statement runs first, in the same trip (None: none).
        self.pending_begin: str | None = None

    async def one_trip(
        self, operation: str, parameters: Any, many: bool = False
    ) -> tuple[_Done, list[Any]]:
        """Run one statement in the driver's thread, in one trip (the transaction's BEGIN first
        when it is still to be sent): what its cursor said, and its rows as sqlite3 gives them."""
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._execute_mutex:
            begin, self.pending_begin = self.pending_begin, None
            return await connection._execute(  # type: ignore[no-untyped-call,no-any-return]
                _run, connection._conn, operation, parameters, many, begin
            )

    def begin(self, statement: str) -> None:
        """Begin a transaction with ``statement`` (``BEGIN IMMEDIATE``) when its first statement
        runs: a transaction that runs none is never begun, and its commit or rollback is no
        trip either. An error of the BEGIN (the database busy) is that first statement's."""
        self.pending_begin = statement

    def commit(self) -> None:
        if self.pending_begin is not None:  # nothing ran: no transaction to commit
            self.pending_begin = None
            return
        super().commit()

    def rollback(self) -> None:
        if self.pending_begin is not None:
            self.pending_begin = None
            return
        super().rollback()

    def reset(self) -> None:
        """Back to the pool (give it ``pool_reset_on_return=None`` and call this from its
        ``reset`` event): roll back what is still open (a read that never committed holds BEGIN
        IMMEDIATE's write lock), as the pool's own reset would, but not a transaction its commit
        or rollback already ended, which sqlite3 knows without a trip to the thread."""
        if self._connection.in_transaction:
            self.rollback()
        else:
            self.pending_begin = None  # a BEGIN no statement followed


class _Dbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> Connection:
        creator_fn = kw.pop("async_creator_fn", None)
        connection = creator_fn(*arg, **kw) if creator_fn else self.aiosqlite.connect(*arg, **kw)
        # The driver's thread must not keep the process alive (as SQLAlchemy's adapter does).
        connection._thread.daemon = True
        return Connection(self, await_(connection))


def dbapi() -> _Dbapi:
    """The DBAPI module to give ``create_async_engine(module=...)`` for an aiosqlite URL."""
    return _Dbapi(aiosqlite, sqlite3)


_Processor = Callable[[Any], Any] | None


class _Compiled:
    __slots__ = ("sql", "names", "binds", "results")

    def __init__(
        self,
        sql: str,
        names: list[str],
        binds: list[tuple[_Processor, Any]],
        results: list[tuple[int, Callable[[Any], Any]]],
    ) -> None:
        self.sql = sql
        self.names = names
        self.binds = binds  # per positional parameter: (its type's processor, its own value)
        self.results = results  # (column index, its type's processor), processed columns only


_NO_VALUE = object()
# A many-row INSERT compiled: the statement, and per positional parameter its (row, name).
_Values = tuple[_Compiled, list[tuple[int, str]]]


class Prepared:
    """A Core statement run on SQLite in one trip to the driver's thread (see the module
    docstring): :meth:`rows` executes it once and gives its rows as tuples, :meth:`many`
    executes it once per parameter set (an executemany, no rows). The connection must be an
    :class:`AsyncConnection` of an engine made with :func:`dbapi`, inside a transaction begun
    by SQLAlchemy (its BEGIN goes with the first statement, as for any other)."""

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
        results = []
        for i, column in enumerate(getattr(self.statement, "exported_columns", ())):
            process = column.type._cached_result_processor(dialect, None)
            if process is not None:
                results.append((i, process))
        return _Compiled(str(compiled), names, binds, results)

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
            value = params[name] if own is _NO_VALUE else params.get(name, own)
            values.append(value if process is None or value is None else process(value))
        return values

    @staticmethod
    async def _trip(conn: AsyncConnection, sql: str, parameters: Any, many: bool) -> list[Any]:
        raw = await conn.get_raw_connection()
        driver: Connection = raw.dbapi_connection  # type: ignore[assignment]
        began = time.perf_counter()
        _, rows = await driver.one_trip(sql, parameters, many)
        metrics.DB_STATEMENT.observe(time.perf_counter() - began)
        return rows

    async def rows(self, conn: AsyncConnection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute once with ``params`` (by name); the rows, each column processed by its type."""
        compiled = self._for(conn, tuple(params))
        rows = await self._trip(conn, compiled.sql, self._bound(compiled, params), False)
        return self._processed(compiled, rows)

    async def values(
        self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Any, ...]]:
        """An INSERT of ``rows`` as one statement (one VALUES list; each row gives every column
        the statement needs, no column default is applied); its RETURNING rows, processed.
        Compiled once per row count and names: group sizes stay below a few hundred."""
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
        parameters = []
        for (process, _), (at, key) in zip(compiled.binds, sources, strict=True):
            value = rows[at][key]
            parameters.append(value if process is None or value is None else process(value))
        return self._processed(compiled, await self._trip(conn, compiled.sql, parameters, False))

    @staticmethod
    def _processed(compiled: _Compiled, rows: list[Any]) -> list[tuple[Any, ...]]:
        if not compiled.results:
            return rows
        out = []
        for row in rows:
            values = list(row)
            for i, process in compiled.results:
                values[i] = process(values[i])
            out.append(tuple(values))
        return out

    async def many(self, conn: AsyncConnection, params: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per parameter set (all with the names of the first)."""
        if not params:
            return
        compiled = self._for(conn, tuple(params[0]))
        await self._trip(conn, compiled.sql, [self._bound(compiled, p) for p in params], True)
