"""Database plumbing shared by the services: engines, sessions, creating the database, migrating.

Each service owns its own database. SQLite (the embedded default) runs in WAL mode with
``synchronous=FULL`` so that a commit is on disk before the service answers; PostgreSQL is
reached through asyncpg.
"""

from __future__ import annotations

import asyncio
import datetime
import pathlib

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, TypeDecorator, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

__all__ = [
    "create_engine",
    "session_factory",
    "ensure_database",
    "migrate",
    "drop_database",
    "UtcDateTime",
    "utcnow",
]


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def create_engine(database_url: str) -> AsyncEngine:
    """An async engine with the pragmas and pool settings the service needs."""
    url = make_url(database_url)
    if _is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


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

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: give UTC")
        value = value.astimezone(datetime.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        return value.replace(tzinfo=datetime.UTC) if value.tzinfo is None else value


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
