"""The body of every service's Alembic ``env.py``: async migrations on its own database."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from common.db import create_engine

__all__ = ["run"]


def _do_run(connection: Connection, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite can only ALTER through batch mode
        compare_type=True,
    )
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode alters a table by copying it and dropping the old one; with foreign keys on
        # (common.db turns them on) the drop deletes every row that references the table. SQLite
        # ignores this pragma inside a transaction, so it goes on the driver's connection first.
        _pragma(connection, "PRAGMA foreign_keys=OFF")
    try:
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    # Rolled back with the migrations: nothing half-done is left behind.
                    raise RuntimeError(f"the migrations broke references: {broken[:10]}")
    finally:
        if sqlite:
            _pragma(connection, "PRAGMA foreign_keys=ON")


def _pragma(connection: Connection, statement: str) -> None:
    """Run a pragma outside any transaction (the driver is in autocommit: common.db)."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


async def _run_online(metadata: MetaData) -> None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_do_run, metadata)
    finally:
        await engine.dispose()


def run(metadata: MetaData) -> None:
    """Apply the migrations (online only: there is always a database to talk to)."""
    if context.is_offline_mode():
        raise SystemExit("offline migrations are not supported; give a database URL")
    asyncio.run(_run_online(metadata))
