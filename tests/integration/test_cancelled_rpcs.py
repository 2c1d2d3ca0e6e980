"""A call its client gave up on (deadline passed, connection gone) while the service was in the
database: the service still answers the next call.

SQLAlchemy's asyncio session is not safe to cancel mid-statement: the connection of a task
cancelled there is never given back to the pool, and on SQLite a service has exactly one
(common/db.py), so every later call waited for it (up to the pool's 120 s). Found by the
console's browser tests, whose page changes cancel the REST calls in flight. common.grpc_server
runs each unary call to its end whatever happens to its caller."""

from __future__ import annotations

import asyncio
import pathlib
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from sqlalchemy import text

from common import grpc_server
from common.db import create_engine, session_factory

# A statement that keeps SQLite busy for a good fraction of a second.
SLOW = text(
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) "
    "SELECT count(*) FROM c"
)


@pytest.fixture
async def channel(tmp_path: pathlib.Path) -> AsyncIterator[grpc.aio.Channel]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    sessions = session_factory(engine)

    async def slow(request: bytes, context: Any) -> bytes:
        async with sessions() as session:
            await session.execute(SLOW)
        return b"slow"

    async def quick(request: bytes, context: Any) -> bytes:
        async with sessions() as session:
            return str((await session.execute(text("SELECT 42"))).scalar()).encode()

    def add(server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "test.Db",
                    {
                        "Slow": grpc.unary_unary_rpc_method_handler(slow),
                        "Quick": grpc.unary_unary_rpc_method_handler(quick),
                    },
                ),
            )
        )

    server = await grpc_server.start("127.0.0.1:0", add, ["test.Db"], tls=None)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as ch:
            yield ch
    finally:
        await server.stop(0)
        await engine.dispose()


async def test_a_call_given_up_mid_statement_leaves_the_database_to_the_next(
    channel: grpc.aio.Channel,
) -> None:
    slow = channel.unary_unary("/test.Db/Slow")
    quick = channel.unary_unary("/test.Db/Quick")
    for _ in range(3):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await slow(b"", timeout=0.05)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        began = time.monotonic()
        assert await quick(b"", timeout=10) == b"42"
        assert time.monotonic() - began < 10
    # And a caller that goes away (its call cancelled) rather than timing out.
    call = slow(b"")
    await asyncio.sleep(0.05)
    call.cancel()
    assert await quick(b"", timeout=10) == b"42"
