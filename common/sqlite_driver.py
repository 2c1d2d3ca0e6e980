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

:meth:`Connection.one_trip` runs a statement in that one trip without SQLAlchemy's execution
layer: :mod:`common.prepared`'s way on SQLite.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

__all__ = ["Connection", "dbapi"]


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
