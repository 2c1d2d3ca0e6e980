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
    with context.begin_transaction():
        context.run_migrations()


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
