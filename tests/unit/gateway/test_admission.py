"""Tests for gateway.admission on the gateway's real WebSocket server: slow and half-open
handshakes are bounded in time and in count, and a real client still gets in."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server

from common import rlimits
from gateway.server import Gateway
from gateway.settings import Settings

# A WebSocket upgrade request cut before its blank line: the server waits for the rest.
PARTIAL_REQUEST = b"GET /ocpp/CS1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"


async def _served(**settings: Any) -> tuple[Gateway, Server]:
    gateway = Gateway(
        Settings(host="127.0.0.1", port=0, **settings),
        SimpleNamespace(device=None, connect_station=None, bound={}),  # type: ignore[arg-type]
    )
    server = await gateway.serve()
    return gateway, server


@pytest.fixture
async def gateway_factory() -> AsyncIterator[Any]:
    servers: list[Server] = []

    async def make(**settings: Any) -> tuple[Gateway, int]:
        gateway, server = await _served(**settings)
        servers.append(server)
        return gateway, next(iter(server.sockets)).getsockname()[1]

    yield make
    for server in servers:
        server.close()
        await server.wait_closed()


async def _half_open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(PARTIAL_REQUEST)
    await writer.drain()
    return reader, writer


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    """The server closed the connection without answering (EOF or reset, no bytes), within
    10 s: far less than the 60 s handshake_timeout."""
    try:
        data = await asyncio.wait_for(reader.read(), 10)
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return data == b""


async def test_a_half_open_handshake_is_dropped_after_request_timeout(
    gateway_factory: Any,
) -> None:
    """A request not complete request_timeout after the connect is dropped, although the
    whole handshake may take handshake_timeout (60 s: device_svc in a boot storm)."""
    gateway, port = await gateway_factory(request_timeout=0.2, handshake_timeout=60)
    reader, writer = await _half_open(port)
    try:
        assert await _closed_by_server(reader)
    finally:
        writer.close()
    assert gateway.admission.timed_out == 1
    assert gateway.admission.open == 0


async def test_a_full_port_drops_the_oldest_half_open_handshake_for_a_newcomer(
    gateway_factory: Any,
) -> None:
    """At max_connections, a new connection takes the place of the oldest one still waiting
    for its request: a real client is answered while half-open connections fill the port."""
    gateway, port = await gateway_factory(max_connections=3, request_timeout=60)
    held = [await _half_open(port) for _ in range(3)]
    await asyncio.sleep(0.1)  # let the server accept all three (in order)
    try:
        # A real client (to a path the gateway refuses before any RPC): answered, not dropped.
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{port}/elsewhere", open_timeout=10):
                pass
        assert refused.value.response.status_code == 404
        # Its place was the oldest half-open connection's; the newer ones are still held.
        assert await _closed_by_server(held[0][0])
        assert gateway.admission.evicted == 1
        assert gateway.admission.waiting == 2
    finally:
        for _, writer in held:
            writer.close()


async def test_a_port_full_of_upgraded_connections_refuses_the_newcomer(
    gateway_factory: Any,
) -> None:
    """Connections past their request are never dropped to make room: the newcomer is."""
    gateway, port = await gateway_factory(max_connections=1, request_timeout=60)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    # A whole request (refused with 404 before any RPC) that the client keeps open after.
    writer.write(b"GET /elsewhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    assert (await reader.readline()).startswith(b"HTTP/1.1 404")
    try:
        other, other_writer = await _half_open(port)
        assert await _closed_by_server(other)
        other_writer.close()
    finally:
        writer.close()
    assert gateway.admission.evicted == 0


async def test_the_port_is_sized_from_the_open_file_limit(gateway_factory: Any) -> None:
    """max_connections 0: the open-file limit minus a reserve, never above it."""
    gateway, _ = await gateway_factory()
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert gateway.admission.max_connections == rlimits.connection_budget(soft)
    assert 0 < gateway.admission.max_connections < soft
