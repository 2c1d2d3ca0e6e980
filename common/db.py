"""Database plumbing shared by the services: engines, sessions, creating the database, migrating.

Each service owns its own database. SQLite (the embedded default) runs in WAL mode with
``synchronous=FULL`` so that a commit is on disk before the service answers, and keeps its
statement journals in memory (``temp_store=MEMORY``: a set-based statement's spilled to a
temporary file per group commit); PostgreSQL is reached through asyncpg.

SQLite has one writer at a time. A pool of several connections makes a service's transactions
contend for that lock inside SQLite (each one spinning in the busy handler, and the more of them
the longer), so a service gets exactly one SQLite connection: its transactions queue in the
pool, in order, and each runs at full speed. That makes one rule binding on every service: never
hold a session while awaiting another one (the second waits for the first for ever). The driver
is put in autocommit mode and SQLAlchemy's ``begin`` emits ``BEGIN`` itself, the documented way
to have SAVEPOINTs work on pysqlite/aiosqlite.

:class:`GroupCommit` writes many requests in one transaction and one commit: set-based statements
for the whole group when the service gives them, else (or when they fail) one SAVEPOINT each.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import logging
import pathlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    DateTime,
    Table,
    TypeDecorator,
    event,
    func,
    make_url,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import PoolResetState
from sqlalchemy.util import await_

from common import metrics, sqlite_driver

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

__all__ = [
    "GroupCommit",
    "SQLITE_POOL_TIMEOUT",
    "create_engine",
    "session_factory",
    "ensure_database",
    "equal_in_any_case",
    "migrate",
    "drop_database",
    "UtcDateTime",
    "insert_new",
    "table_of",
    "to_the_end",
    "upsert",
    "utcnow",
]

log = logging.getLogger(__name__)

# Seconds a transaction may queue for the one SQLite connection; far above any RPC deadline, so
# a burst waits its turn instead of failing.
SQLITE_POOL_TIMEOUT = 120.0


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _timed(engine: AsyncEngine) -> AsyncEngine:
    """Every statement's duration into common.metrics.DB_STATEMENT (its driver call: for
    aiosqlite the thread hop included, for asyncpg the round trip)."""
    observe = metrics.DB_STATEMENT.observe

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _before(
        conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any
    ) -> None:
        conn.info["csms_t0"] = time.perf_counter()

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _after(
        conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any
    ) -> None:
        began = conn.info.pop("csms_t0", None)
        if began is not None:
            observe(time.perf_counter() - began)

    return engine


def create_engine(database_url: str) -> AsyncEngine:
    """An async engine with the pragmas and pool settings the service needs."""
    return _timed(_create_engine(database_url))


def _create_engine(database_url: str) -> AsyncEngine:
    url = make_url(database_url)
    if _is_sqlite(url):
        # One connection (see the module docstring); the busy timeout stays for other processes
        # on the same file (migrations, the user_svc CLI).
        in_memory = url.database in (None, "", ":memory:")  # a static pool: one connection
        pool = {} if in_memory else {"pool_size": 1, "max_overflow": 0}
        engine = create_async_engine(
            url,
            # One trip to the driver's thread per statement instead of four (sqlite_driver).
            module=sqlite_driver.dbapi(),
            connect_args={"timeout": 30},
            pool_timeout=SQLITE_POOL_TIMEOUT,
            # The pool's rollback of a returned connection only when a transaction is still
            # open (see _reset): after a commit, it was one more trip to the driver's thread.
            pool_reset_on_return=None,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            **pool,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # Statement journals in memory: a group commit's set-based statements rewrite pages
            # their transaction already wrote, and SQLite spilled such a journal over 64 KiB to
            # a temporary file (opened, written, unlinked per group: as many writes as the WAL's
            # own). Only a statement's rollback reads it; the WAL alone makes commits durable.
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.close()
            # The driver's own transaction handling would let a SAVEPOINT start (and its RELEASE
            # commit) a transaction: SQLAlchemy begins them instead (see _begin).
            dbapi_conn.isolation_level = None

        @event.listens_for(engine.sync_engine, "reset")
        def _reset(
            dbapi_conn: sqlite_driver.Connection, _record: Any, state: PoolResetState
        ) -> None:
            # A connection comes back to the pool (sqlite_driver's reset: a rollback only of a
            # transaction still open). Not where no I/O may be done (a connection collected
            # outside its event loop: the pool closes it).
            if state.asyncio_safe and not state.terminate_only:
                dbapi_conn.reset()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Connection) -> None:
            # IMMEDIATE: take the write lock up front. A deferred BEGIN that later writes gets
            # SQLITE_BUSY at once in WAL mode when another process holds the lock, without the
            # busy timeout ever applying (the service has one connection, so this costs nothing).
            # Sent with the transaction's first statement, in its trip (sqlite_driver).
            conn.connection.dbapi_connection.begin("BEGIN IMMEDIATE")  # type: ignore[union-attr]

        return engine
    engine = create_async_engine(
        url,
        pool_size=10,
        max_overflow=20,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )
    _check_at_checkout(engine)
    return engine


#: Seconds a PostgreSQL connection may have sat in the pool before it is checked when taken out.
PING_AFTER_IDLE = 5.0
#: Seconds after which a PostgreSQL connection's statements are planned afresh.
REPLAN_AFTER = 60.0


def _check_at_checkout(engine: AsyncEngine) -> None:
    """A PostgreSQL connection taken from the pool runs ``DISCARD PLANS`` first when it sat in
    the pool ``PING_AFTER_IDLE`` seconds or more, or its plans are ``REPLAN_AFTER`` seconds old:
    under load, one round trip per connection a minute; otherwise none.

    It is the ping: a connection that fails it is replaced (SQLAlchemy's documented pessimistic
    check, ``DisconnectionError`` from a checkout handler). ``pool_pre_ping`` pinged at every
    checkout, and the asyncpg adapter's ping is three round trips (BEGIN, an empty statement,
    ROLLBACK), as many as a group commit's own statements. A connection in use goes back and out
    again within milliseconds; if the server dropped it in between, the statement fails,
    SQLAlchemy replaces the pool's connections, and the caller's retry gets a new one.

    And it re-plans: asyncpg prepares each statement once per connection, and the server keeps
    the plan it settles on (a generic plan, after five runs) until an ANALYZE or a schema change
    invalidates it. A new database's tables are small, and the group commits' statements kept
    the sequential scans that were best then: a fleet of 20,000 charging stations on a server
    without autovacuum had every group scan all 20,000 transactions to lock its ten (11 ms a
    lock, under 1 ms re-planned). Planning every execution instead (``plan_cache_mode``) cost
    the closed loop of TransactionEvents about a tenth of its throughput in an A/B."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        now = time.monotonic()
        info = record.info
        planned = info.setdefault("planned_at", now)  # a new connection: planned from now on
        if now - info.get("idle_since", now) < PING_AFTER_IDLE and now - planned < REPLAN_AFTER:
            return
        try:
            await_(dbapi_conn.driver_connection.execute("DISCARD PLANS"))
        except Exception as exc:
            raise DisconnectionError(f"a pooled connection failed its check: {exc!r}") from exc
        info["planned_at"] = now


def _json_dumps(value: object) -> str:
    """JSON columns (meter values, reports) through orjson, several times the stdlib's speed."""
    return orjson.dumps(value).decode()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ensure_database(database_url: str) -> None:
    """Create the SQLite file's folder or the PostgreSQL database if it does not exist yet."""
    url = make_url(database_url)
    if _is_sqlite(url):
        if url.database and url.database != ":memory:":
            pathlib.Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return
    admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            found = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}
            )
            if not found:
                await conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    finally:
        await admin.dispose()


async def drop_database(database_url: str) -> None:
    """Remove a database (tests only): the SQLite file or the PostgreSQL database."""
    url = make_url(database_url)
    if _is_sqlite(url):
        if url.database and url.database != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                pathlib.Path(url.database + suffix).unlink(missing_ok=True)  # noqa: ASYNC240
        return
    admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    finally:
        await admin.dispose()


def migrate(package: str, database_url: str) -> None:
    """Create the database if needed and apply the Alembic migrations of ``package`` to head.

    ``package`` is the service's import name (``device_svc``); its migrations live in
    ``<package>/migrations``. Runs its own event loop: call it before the service's loop starts.
    """
    asyncio.run(ensure_database(database_url))
    cfg = Config()
    cfg.set_main_option("script_location", f"{package}:migrations")
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")


class UtcDateTime(TypeDecorator[datetime.datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime.datetime | None, dialect: Dialect
    ) -> datetime.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: give UTC")
        value = value.astimezone(datetime.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: datetime.datetime | None, dialect: Dialect
    ) -> datetime.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=datetime.UTC) if value.tzinfo is None else value

    # SQLite: one C call each way instead of two processors in a row (this type's, then
    # SQLite's DATETIME formatting its text from a dict of the fields): a group commit binds
    # and reads a few timestamps per row. The text is DATETIME's own storage format,
    # "YYYY-MM-DD HH:MM:SS.ffffff" (what isoformat gives with microseconds), so rows written
    # before and after compare alike; the column stays DATETIME (DDL and migrations unchanged).

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_text

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return _sqlite_datetime


_UTC = datetime.UTC


def _sqlite_text(value: datetime.datetime | None) -> str | None:
    """An aware datetime as SQLite's DATETIME text of it in UTC (see UtcDateTime)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime: give UTC")
    if value.tzinfo is not _UTC:
        value = value.astimezone(_UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_datetime(value: str | None) -> datetime.datetime | None:
    """SQLite's DATETIME text as an aware UTC datetime."""
    if value is None:
        return None
    when = datetime.datetime.fromisoformat(value)
    return when.replace(tzinfo=_UTC) if when.tzinfo is None else when.astimezone(_UTC)


def equal_in_any_case(column: ColumnExpressionArgument[str], value: str) -> ColumnElement[bool]:
    """``column = value`` in any case, both sides lowered by the database (SQLite lowers ASCII
    letters only, PostgreSQL every letter its collation knows: each backend agrees with itself).
    For what OCPP compares in any case: idTokens, component and variable names."""
    return func.lower(column) == func.lower(value)


def table_of(model: type[DeclarativeBase]) -> Table:
    """The Table of a declarative model, for Core statements (SQLAlchemy types ``__table__`` as
    any FromClause; a model mapped with ``mapped_column`` always has a Table)."""
    table = model.__table__
    assert isinstance(table, Table), f"{model.__name__} is not mapped to a Table"
    return table


async def upsert(
    session: AsyncSession,
    model: type[DeclarativeBase],
    values: Mapping[str, Any],
    keys: Sequence[str],
) -> None:
    """Insert the row, or overwrite the one of the same ``keys`` (the dialect's own INSERT ...
    ON CONFLICT DO UPDATE)."""
    bind = session.bind
    assert bind is not None, "the session is bound to the service's engine"
    insert = (postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert)(
        table_of(model)
    )
    stmt = insert.values(**values).on_conflict_do_update(
        index_elements=list(keys),
        set_={k: insert.excluded[k] for k in values if k not in keys},
    )
    await session.execute(stmt)


async def insert_new(
    session: AsyncSession, model: type[DeclarativeBase], values: Mapping[str, Any]
) -> None:
    """Insert the row unless one of its primary key exists (which is never overwritten)."""
    bind = session.bind
    assert bind is not None, "the session is bound to the service's engine"
    insert = (postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert)(
        table_of(model)
    )
    await session.execute(insert.values(**values).on_conflict_do_nothing())


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


T = TypeVar("T")
R = TypeVar("R")


class _Waiting(Generic[T, R]):
    __slots__ = ("item", "future")

    def __init__(self, item: T, future: asyncio.Future[R]) -> None:
        self.item = item
        self.future = future


class GroupCommit(Generic[T, R]):
    """Writes what callers submit in batches: one transaction, one commit.

    Reads that many callers make at once group the same way, with nothing to write (user_svc's
    Authorize reads the tokens of the waiting calls in one statement).

    Items are written with Core statements on the transaction's connection (no ORM session: its
    bookkeeping per SAVEPOINT grows with everything the session holds, i.e. with the batch).
    ``apply_many(conn, items)``, when given, writes the whole batch with a few set-based
    statements and returns the results in the items' order: a statement costs a round trip to
    the driver (a thread hop on aiosqlite, a network round trip on PostgreSQL), so the batch
    costs a handful of them instead of several per item. If it raises, its transaction is rolled
    back and the batch is written again item by item, each in a SAVEPOINT, as below, in a new
    transaction, so one bad item still fails alone.

    :meth:`submit` returns (or raises) only after the commit of its batch, so nothing is
    acknowledged before it is durable. A writer task takes the items waiting at that moment, up
    to ``max_batch``; while it commits, the next ones queue, so the batch grows with the load by
    itself. When, right after a write, the previous batch was larger than what waits now, more
    are most likely on their way (their callers just got their answers): the writer then waits
    up to ``max_wait`` seconds for as many as last time. A new writer does not wait: what it finds
    came while nothing was being written, e.g. a batch RPC's items, whose caller sends no more
    before they are answered. The task ends when nothing waits.

    ``linger`` (seconds, 0: never) is for items that come one by one from many callers (a
    fleet's TransactionEvents from several gateways, each alone at a fleet's pace): a writer
    that finds fewer than ``linger_below`` items waiting, new or right after a write, then waits
    that long for more (or until that many wait) before it takes its group, so that a commit's
    fixed cost (a transaction, a few statements: most of what a small group costs) is shared.
    After a write too: where items come about as often as a write lasts, the writer finds one
    after each, and groups of one each paid the whole fixed cost. A linger during which nothing
    came (one caller, waiting for its answer) is not repeated for the next ``probe_every``
    groups.

    ``apply(conn, item)`` runs inside the item's SAVEPOINT: when it raises, only that item is
    rolled back, and ``recover(conn, item, exc)`` (if given) runs after the rollback in the
    same transaction and may return the item's result instead of letting it fail. Items are
    applied in ``order`` (a sort key), so that two writers (two replicas) take row locks in the
    same order and cannot deadlock. If the transaction or its commit fails, every item of the
    batch fails with that error: none of them is acknowledged.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        apply: Callable[[AsyncConnection, T], Awaitable[R]],
        *,
        recover: Callable[[AsyncConnection, T, Exception], Awaitable[R]] | None = None,
        apply_many: Callable[[AsyncConnection, list[T]], Awaitable[list[R]]] | None = None,
        order: Callable[[T], SupportsRichComparison] | None = None,
        max_batch: int = 256,
        max_wait: float = 0.002,
        linger: float = 0.0,
        linger_below: int = 8,
        probe_every: int = 64,
        name: str = "group-commit",
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.engine = engine
        self.apply = apply
        self.recover = recover
        self.apply_many = apply_many
        self.order = order
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.linger = linger
        self.linger_below = max(1, min(linger_below, max_batch))
        self.probe_every = probe_every
        # Groups still to take without lingering (the last linger gained nothing).
        self._no_linger = 0
        self.name = name
        self._queue: collections.deque[_Waiting[T, R]] = collections.deque()
        self._writer: asyncio.Task[None] | None = None
        self._last_batch = 0
        self._sizes = metrics.GROUP_COMMIT.labels(self.name)
        # Set by submit() once as many items wait as the writer hopes for (see _take).
        self._enough: asyncio.Event | None = None
        self._wanted = 0

    async def submit(self, item: T) -> R:
        """Queue ``item``; its result once its batch is committed (or its error)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(item, future))
        if self._enough is not None and len(self._queue) >= self._wanted:
            self._enough.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name=self.name)
        return await future

    async def drain(self) -> None:
        """Wait until everything submitted so far is written (for a graceful stop)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _write_all(self) -> None:
        after_write = False
        while self._queue:
            batch = await self._take(wait=after_write)
            if batch:
                await self._write(batch)
                after_write = True

    async def _take(self, *, wait: bool) -> list[_Waiting[T, R]]:
        if self.linger > 0 and len(self._queue) < self.linger_below:
            await self._linger()
        wanted = min(self._last_batch, self.max_batch)
        if wait and self.max_wait > 0 and len(self._queue) < wanted:
            self._wanted, self._enough = wanted, asyncio.Event()
            try:
                await asyncio.wait_for(self._enough.wait(), self.max_wait)
            except TimeoutError:
                pass
            finally:
                self._enough = None
        batch: list[_Waiting[T, R]] = []
        while self._queue and len(batch) < self.max_batch:
            waiting = self._queue.popleft()
            if not waiting.future.done():  # a caller that gave up (cancelled) is not written
                batch.append(waiting)
        self._last_batch = len(batch)
        if self.order is not None:
            order = self.order
            batch.sort(key=lambda w: order(w.item))
        return batch

    async def _linger(self) -> None:
        """A new writer's wait for more items (see ``linger``), unless the last one was vain."""
        if self._no_linger > 0:
            self._no_linger -= 1
            return
        found = len(self._queue)
        self._wanted, self._enough = self.linger_below, asyncio.Event()
        try:
            await asyncio.wait_for(self._enough.wait(), self.linger)
        except TimeoutError:
            pass
        finally:
            self._enough = None
        if len(self._queue) == found:
            self._no_linger = self.probe_every

    async def _write(self, batch: list[_Waiting[T, R]]) -> None:
        self._sizes.observe(len(batch))
        outcomes: list[tuple[_Waiting[T, R], R | None, Exception | None]] = []
        try:
            results = await self._write_many(batch)
            if results is not None:
                outcomes = [(w, r, None) for w, r in zip(batch, results, strict=True)]
            else:
                async with self.engine.begin() as conn:
                    for waiting in batch:
                        result, error = await self._apply_one(conn, waiting.item)
                        outcomes.append((waiting, result, error))
        except Exception as exc:  # the batch's transaction or its commit failed
            log.warning("%s: a batch of %d failed: %r", self.name, len(batch), exc)
            for waiting in batch:
                if not waiting.future.done():
                    waiting.future.set_exception(exc)
            return
        for waiting, result, error in outcomes:
            if waiting.future.done():
                continue
            if error is not None:
                waiting.future.set_exception(error)
            else:
                waiting.future.set_result(result)  # type: ignore[arg-type]

    async def _write_many(self, batch: list[_Waiting[T, R]]) -> list[R] | None:
        """The batch written by ``apply_many`` in a transaction of its own, committed; None
        when there is none or it raised (its transaction then rolled back: the caller writes the
        batch item by item in a new one). A failed commit raises."""
        if self.apply_many is None:
            return None
        items = [w.item for w in batch]
        refused: Exception | None = None
        try:
            async with self.engine.begin() as conn:
                try:
                    results = await self.apply_many(conn, items)
                    if len(results) != len(items):
                        raise RuntimeError(
                            f"apply_many gave {len(results)} results for {len(items)}"
                        )
                except Exception as exc:
                    refused = exc
                    raise
        except Exception:
            if refused is None:
                raise  # the commit failed: nobody is answered
            log.info(
                "%s: the set-based write of %d failed (%r): item by item",
                self.name,
                len(items),
                refused,
            )
            return None
        return results

    async def _apply_one(self, conn: AsyncConnection, item: T) -> tuple[R | None, Exception | None]:
        try:
            async with conn.begin_nested():
                return await self.apply(conn, item), None
        except Exception as exc:
            if self.recover is None:
                return None, exc
            try:
                return await self.recover(conn, item, exc), None
            except Exception as again:
                return None, again


def _forget(task: asyncio.Task[Any]) -> None:
    """Retrieve what a task whose caller left ended with (nobody else will)."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("a call whose caller left ended with %r", task.exception())


async def to_the_end(work: Coroutine[Any, Any, Any]) -> Any:
    """Run ``work`` to its end even if the call is cancelled (its caller's deadline passed, or
    it went away): SQLAlchemy's asyncio sessions are not safe to cancel mid-statement, and the
    connection of a session cancelled there never returns to the pool (on SQLite a service has
    one: every later call would wait for it). The caller still gets its cancellation at once."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(_forget)
        raise
