"""Keepalive (gateway/keepalive.py) against a real gateway and device_svc over loopback: a
station that answers nothing is pinged and dropped (1011) once silent for ``keepalive_idle``
plus ``keepalive_timeout``; one that answers pings stays; one that talks more often than
``keepalive_idle`` is never pinged at all."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from common import metrics
from csms.device.v1 import device_service_pb2 as device_pb

IDLE = 0.4
TIMEOUT = 0.6


def _count(outcome: str) -> float:
    return metrics.KEEPALIVE.labels(outcome)._value.get()  # type: ignore[no-any-return]


@pytest.fixture
async def mesh(gateway_on_device_svc) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    async with gateway_on_device_svc(keepalive_idle=IDLE, keepalive_timeout=TIMEOUT) as started:
        yield started


async def _register(device: Any) -> str:
    station_id = f"KA-{uuid.uuid4().hex[:10]}"
    await device.CreateChargingStation(
        device_pb.CreateChargingStationRequest(
            charging_station=device_pb.ChargingStation(id=station_id, model="M1")
        )
    )
    return station_id


async def _held(running: Any, station_id: str) -> Any:
    for _ in range(200):
        held = running.gateway.connections.get(station_id)
        if held is not None:
            return held
        await asyncio.sleep(0.02)
    raise AssertionError(f"{station_id} never held")


async def _client(running: Any, station_id: str) -> ClientConnection:
    return await connect(
        f"ws://127.0.0.1:{running.ws_port}/ocpp/{station_id}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        ping_interval=None,  # it answers the gateway's pings (automatic), sends none
    )


async def test_a_station_that_answers_nothing_is_dropped(mesh: Any) -> None:
    running, device, _ = mesh
    station_id = await _register(device)
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", running.ws_port))
        key = base64.b64encode(os.urandom(16)).decode()
        await loop.sock_sendall(
            sock,
            (
                f"GET /ocpp/{station_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp2.0.1\r\n\r\n"
            ).encode(),
        )
        held = await _held(running, station_id)
        sent, closed = _count("sent"), _count("closed")
        start = time.monotonic()
        # A half-open link: the socket stays open, nothing comes back, not even a pong.
        while not held.closed:
            assert time.monotonic() - start < 10, "a station answering nothing was never dropped"
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - start
    finally:
        sock.close()
    assert elapsed >= TIMEOUT  # pinged first, then given the pong's time
    assert _count("sent") - sent >= 1 and _count("closed") - closed == 1
    assert held.ws.protocol.close_sent is not None
    assert held.ws.protocol.close_sent.code == 1011
    for _ in range(100):
        if station_id not in running.gateway.connections:
            break
        await asyncio.sleep(0.02)
    assert station_id not in running.gateway.connections


async def test_a_silent_station_that_answers_pings_stays(mesh: Any) -> None:
    running, device, _ = mesh
    station_id = await _register(device)
    client = await _client(running, station_id)
    try:
        held = await _held(running, station_id)
        sent, closed = _count("sent"), _count("closed")
        await asyncio.sleep(3 * (IDLE + TIMEOUT))
        assert not held.closed and running.gateway.connections.get(station_id) is held
        assert _count("sent") - sent >= 2  # pinged each time it fell silent
        assert _count("closed") == closed
    finally:
        await client.close()


async def test_a_station_that_talks_is_never_pinged(mesh: Any) -> None:
    running, device, _ = mesh
    station_id = await _register(device)
    client = await _client(running, station_id)
    try:
        held = await _held(running, station_id)
        sent = _count("sent")
        deadline = time.monotonic() + 3 * (IDLE + TIMEOUT)
        n = 0
        while time.monotonic() < deadline:
            n += 1
            await client.send(orjson.dumps([2, f"hb{n}", "Heartbeat", {}]).decode())
            answer = orjson.loads(await asyncio.wait_for(client.recv(), 5))
            assert answer[:2] == [3, f"hb{n}"]
            await asyncio.sleep(IDLE / 4)
        assert _count("sent") == sent
        assert not held.closed
    finally:
        await client.close()
