"""Station faults against a real gateway with a real device_svc, over real loopback sockets.

A station that stops reading its socket: the gateway's buffers for it stay bounded, it is
dropped (1008) after send_timeout, and another station is answered as fast as ever meanwhile.
A station sending fuzzed frames: each is answered per OCPP-J (Part 4) and the connection stays
usable. (The in-memory fuzzing with many more frames is tests/unit/gateway/test_fuzz_frames.py.)
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import orjson
import pytest
from google.protobuf import any_pb2, struct_pb2
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from csms.device.v1 import device_service_pb2 as device_pb
from csms.device.v1 import device_service_pb2_grpc as device_grpc
from csms.gateway.v1 import station_control_pb2 as control_pb
from csms.gateway.v1 import station_control_pb2_grpc as control_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp
from gateway import server as gateway_server
from gateway.connection import MAX_QUEUED_CALLS, StationConnection

SEND_TIMEOUT = 1.5  # seconds; the gateway drops a station that takes no data for this long
STALL_LIMIT = 30.0  # seconds the flood may take to fill the kernel's buffers, then be dropped
BIG = 300_000  # characters of a CSMS→station DataTransfer
FAST = 1.0  # seconds: the most another station may wait for an answer meanwhile
# Part 4's CALLERROR codes.
PART4_CODES = {
    "FormatViolation",
    "GenericError",
    "InternalError",
    "MessageTypeNotSupported",
    "NotImplemented",
    "NotSupported",
    "OccurrenceConstraintViolation",
    "PropertyConstraintViolation",
    "ProtocolError",
    "RpcFrameworkError",
    "SecurityError",
    "TypeConstraintViolation",
}


class Mesh:
    """A real device_svc and a real gateway in-process, and a way to add stations to them."""

    def __init__(
        self,
        running: gateway_server.Running,
        device: device_grpc.DeviceServiceStub,
        control: control_grpc.StationControlServiceStub,
    ) -> None:
        self.running = running
        self.device = device
        self.control = control
        self.clients: list[ClientConnection] = []
        self.sockets: list[socket.socket] = []

    async def register(self) -> str:
        station_id = f"CS-{uuid.uuid4().hex[:10]}"
        await self.device.CreateChargingStation(
            device_pb.CreateChargingStationRequest(
                charging_station=device_pb.ChargingStation(id=station_id, model="M1")
            )
        )
        return station_id

    async def connect(self, station_id: str, sock: socket.socket | None = None) -> ClientConnection:
        client = await connect(
            f"ws://127.0.0.1:{self.running.ws_port}/ocpp/{station_id}",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            sock=sock,
            compression=None,
            ping_interval=None,
            max_queue=1,  # a client that does not read stops taking data after one message
        )
        self.clients.append(client)
        return client

    async def slow_station(self) -> tuple[str, ClientConnection]:
        """A connected station with a small receive buffer that will stop reading."""
        station_id = await self.register()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.running.ws_port))
        client = await self.connect(station_id, sock)
        await heartbeat(client)  # the gateway holds it now
        self.shrink_send_buffer(station_id)
        return station_id, client

    async def mute_station(self) -> str:
        """A station on a raw socket that reads its handshake answer, then not one byte more.

        (A websockets client still takes a message or two into memory before it stops.)
        """
        station_id = await self.register()
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        self.sockets.append(sock)
        await loop.sock_connect(sock, ("127.0.0.1", self.running.ws_port))
        key = base64.b64encode(os.urandom(16)).decode()
        await loop.sock_sendall(
            sock,
            (
                f"GET /ocpp/{station_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp2.0.1\r\n\r\n"
            ).encode(),
        )
        response = b""
        while not response.endswith(b"\r\n\r\n"):  # byte by byte: no frame is read
            response += await loop.sock_recv(sock, 1)
        assert response.startswith(b"HTTP/1.1 101"), response
        for _ in range(100):
            if station_id in self.running.gateway.connections:
                break
            await asyncio.sleep(0.02)
        self.shrink_send_buffer(station_id)
        return station_id

    def shrink_send_buffer(self, station_id: str) -> None:
        # On loopback the kernel grows the gateway's send buffer to ~4 MB, which a flood takes
        # long to fill on a busy machine: a small fixed one gets the test to the stall at once.
        held = self.held(station_id).ws.transport.get_extra_info("socket")
        held.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)

    def held(self, station_id: str) -> StationConnection:
        return self.running.gateway.connections[station_id]


async def heartbeat(client: ClientConnection) -> float:
    """Send a Heartbeat, return how long its CALLRESULT took."""
    message_id = uuid.uuid4().hex
    start = time.perf_counter()
    await client.send(orjson.dumps([2, message_id, "Heartbeat", {}]).decode())
    answer = orjson.loads(await asyncio.wait_for(client.recv(), 5))
    assert answer[:2] == [3, message_id] and type(answer[2]) is dict, answer
    return time.perf_counter() - start


@pytest.fixture
async def mesh(gateway_on_device_svc) -> AsyncIterator[Mesh]:  # type: ignore[no-untyped-def]
    async with gateway_on_device_svc(call_timeout=SEND_TIMEOUT * 4, send_timeout=SEND_TIMEOUT) as (
        running,
        device,
        control,
    ):
        mesh = Mesh(running, device, control)
        try:
            yield mesh
        finally:
            for client in mesh.clients:
                client.transport.abort()
            for sock in mesh.sockets:
                sock.close()


async def watch_until_dropped(
    mesh: Mesh, held: StationConnection, fresh: ClientConnection, extra: int
) -> tuple[int, list[float]]:
    """Until the gateway drops ``held``: check its buffers, time ``fresh``'s Heartbeats.

    Returns the most bytes seen waiting in the held connection's write buffer and the latencies.
    ``extra`` is what may wait beyond websockets' write_limit: one frame per sender.
    """
    transport = held.ws.transport
    high = transport.get_write_buffer_limits()[1]
    most = 0
    latencies: list[float] = []
    deadline = time.monotonic() + STALL_LIMIT
    while not held.closed:
        assert time.monotonic() < deadline, "the station that reads nothing was never dropped"
        most = max(most, transport.get_write_buffer_size())
        assert most <= high + extra, f"{most} bytes waiting, bound {high} + {extra}"
        assert len(held._inbox) <= MAX_QUEUED_CALLS
        latencies.append(await heartbeat(fresh))
        await asyncio.sleep(0.02)
    return most, latencies


async def flood(client: ClientConnection, frame: Callable[[int], str]) -> int:
    """Send frames until the gateway stops taking them for good (it drops the connection)."""
    sent = 0
    try:
        while True:
            await client.send(frame(sent))
            sent += 1
            # send() yields only when the buffer is full: without this the flood, which shares
            # the event loop with the gateway here, would hold it as no remote station can.
            await asyncio.sleep(0)
    except ConnectionClosed:
        return sent


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(lambda i: orjson.dumps([2, f"h{i}", "Heartbeat", {}]).decode(), id="calls"),
        pytest.param(lambda i: "not json", id="bad-frames"),
    ],
)
async def test_station_that_stops_reading_is_bounded_then_dropped(
    mesh: Mesh, frame: Callable[[int], str], caplog: pytest.LogCaptureFixture
) -> None:
    """A station that sends without reading: bounded buffers, others fast, dropped with 1008."""
    caplog.set_level(logging.WARNING, logger="gateway.connection")
    fresh = await mesh.connect(await mesh.register())
    await heartbeat(fresh)
    slow_id, slow = await mesh.slow_station()
    held = mesh.held(slow_id)
    flooding = asyncio.create_task(flood(slow, frame))
    try:
        most, latencies = await watch_until_dropped(mesh, held, fresh, extra=3 * 200)
    finally:
        flooding.cancel()
        await asyncio.gather(flooding, return_exceptions=True)
    assert max(latencies) < FAST, f"the other station waited {max(latencies):.2f} s"
    assert "station took no data" in caplog.text
    assert held.ws.protocol.close_sent is not None
    assert held.ws.protocol.close_sent.code == 1008
    assert slow_id not in mesh.running.gateway.connections
    assert (await heartbeat(fresh)) < FAST  # and the gateway goes on


async def test_csms_calls_to_a_station_that_stops_reading(mesh: Mesh) -> None:
    """Big CSMS→station CALLs, some given up by their callers: bounded, then UNAVAILABLE."""
    fresh = await mesh.connect(await mesh.register())
    slow_id = await mesh.mute_station()
    held = mesh.held(slow_id)
    big = ocpp.DataTransferRequest(vendor_id="fuzz", data=struct_pb2.Value(string_value="x" * BIG))
    packed = any_pb2.Any()
    packed.Pack(big)

    async def call(deadline: float) -> grpc.StatusCode:
        try:
            await mesh.control.Call(
                control_pb.StationCall(station_id=slow_id, request=packed), timeout=deadline
            )
        except grpc.aio.AioRpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK

    # Callers that give up early leave their frame behind: no later one may add to it.
    calls = [asyncio.create_task(call(1.0))]
    calls += [asyncio.create_task(call(1.0 + i * 0.1)) for i in range(1, 6)]
    calls.append(asyncio.create_task(call(SEND_TIMEOUT * 4)))
    most, latencies = await watch_until_dropped(mesh, held, fresh, extra=2 * (BIG + 100))
    codes = await asyncio.gather(*calls)
    assert codes[-1] == grpc.StatusCode.UNAVAILABLE
    assert set(codes) <= {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE}
    assert max(latencies) < FAST


# -- fuzzed frames over the real socket --------------------------------------------------------

_TEMPLATES: list[list[Any]] = [
    [
        2,
        "b",
        "BootNotification",
        {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}},
    ],
    [
        2,
        "s",
        "StatusNotification",
        {
            "timestamp": "2024-05-01T12:00:00Z",
            "connectorStatus": "Available",
            "evseId": 1,
            "connectorId": 1,
        },
    ],
    [
        2,
        "n",
        "SecurityEventNotification",
        {"type": "StartupOfTheDevice", "timestamp": "2024-05-01T12:00:00Z"},
    ],
    [2, "d", "DataTransfer", {"vendorId": "fuzz", "data": {"k": [1, 2.5, None]}}],
    [2, "r", "Reset", {"type": "Immediate"}],
    [2, "u", "NoSuchAction", {}],
    [3, "x", {"status": "Accepted"}],
    [4, "y", "GenericError", "", {}],
]
_ODD: list[Any] = [None, True, -1, 2**31, 2**64 - 1, 1.5e308, "", "x" * 5000, [], {}, [[[[[]]]]]]


def fuzzed(rng: random.Random) -> str | bytes:
    """One frame: a template with a few parts replaced, cut, or random bytes."""
    roll = rng.random()
    if roll < 0.1:
        return rng.randbytes(rng.randrange(40))
    frame = orjson.loads(orjson.dumps(rng.choice(_TEMPLATES)))
    frame[1] = uuid.UUID(int=rng.getrandbits(128)).hex
    for _ in range(rng.randrange(3)):
        target: Any = frame
        if isinstance(frame[-1], dict) and frame[-1] and rng.random() < 0.7:
            target = frame[-1]
        key = rng.choice(list(target.keys()) if isinstance(target, dict) else range(len(target)))
        target[key] = rng.choice(_ODD)
    text = orjson.dumps(frame).decode()
    if roll > 0.95:
        text = text[: rng.randrange(len(text) + 1)]
    elif roll > 0.9:
        text = text.replace("1", "NaN", 1)
    return text


def expect_answer(frame: str | bytes) -> str | None:
    """The id the answer must carry, or None when OCPP-J has the CSMS answer nothing."""
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return "-1"
    if type(message) is not list or not message:
        return "-1"
    readable = len(message) > 1 and type(message[1]) is str and len(message[1]) <= 36
    if type(message[0]) is int and message[0] in (3, 4):
        return None
    return message[1] if readable else "-1"


async def test_fuzzed_frames_are_answered_and_the_connection_stays(mesh: Mesh) -> None:
    """A short run of fuzzed frames, each then a Heartbeat: answers per Part 4, link usable."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    client = await mesh.connect(await mesh.register())
    for _ in range(60):
        frame = fuzzed(rng)
        await client.send(frame)
        message_id = expect_answer(frame)
        if message_id is not None:
            answer = orjson.loads(await asyncio.wait_for(client.recv(), 5))
            assert answer[1] == message_id, (seed, frame, answer)
            if answer[0] == 3:
                assert len(answer) == 3 and type(answer[2]) is dict, (seed, frame, answer)
            else:
                assert answer[0] == 4 and len(answer) == 5, (seed, frame, answer)
                assert answer[2] in PART4_CODES and len(answer[3]) <= 255, (seed, frame, answer)
                assert answer[2] != "InternalError", (seed, frame, answer)
        assert (await heartbeat(client)) < FAST, (seed, frame)
