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

__all__ = ["dbapi"]


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
    conn: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[_Done, list[Any]]:
    """In the driver's thread: the statement, its rows, and what its cursor says."""
    cursor = conn.cursor()
    try:
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
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            done, rows = await connection._execute(  # type: ignore[no-untyped-call]
                _run, connection._conn, operation, parameters, many
            )
        self._cursor = done
        self._rows = collections.deque(rows)

    async def _async_soft_close(self) -> None:
        """The rows are read already and the sqlite3 cursor closed: nothing to do."""

    def nextset(self) -> None:
        raise NotImplementedError("sqlite3 cursors have no next result set")

    def setinputsizes(self, *inputsizes: Any) -> None:
        """A no-op, as it is for sqlite3."""


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    _cursor_cls = _OneTripCursor  # type: ignore[assignment]


class _Dbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> _Connection:
        creator_fn = kw.pop("async_creator_fn", None)
        connection = creator_fn(*arg, **kw) if creator_fn else self.aiosqlite.connect(*arg, **kw)
        # The driver's thread must not keep the process alive (as SQLAlchemy's adapter does).
        connection._thread.daemon = True
        return _Connection(self, await_(connection))


def dbapi() -> _Dbapi:
    """The DBAPI module to give ``create_async_engine(module=...)`` for an aiosqlite URL."""
    return _Dbapi(aiosqlite, sqlite3)
