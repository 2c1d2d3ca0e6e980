"""The simulated station's answers to CSMS CALLs, checked against the official OCPP schemas."""

from __future__ import annotations

import asyncio
import json
import pathlib
import socket
import time

import jsonschema
import ocpp.v201
import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from bench.station import (
    CANNED,
    IP_BIND_ADDRESS_NO_PORT,
    Resend,
    Station,
    answer_csms_call,
)
from bench.stats import Recorder

SCHEMAS = pathlib.Path(ocpp.v201.__file__).parent / "schemas"

REQUESTS = {
    **{action: {} for action in CANNED},
    "GetVariables": {
        "getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "X"}}]
    },
    "SetVariables": {
        "setVariableData": [
            {
                "attributeValue": "1",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "X"},
            }
        ]
    },
}


def _schema(action: str) -> dict:  # type: ignore[type-arg]
    return json.loads((SCHEMAS / f"{action}Response.json").read_text())


@pytest.mark.parametrize("action", sorted(REQUESTS))
def test_answer_is_a_schema_valid_callresult(action: str) -> None:
    """Each simulated CALL gets a CALLRESULT whose payload the official schema accepts."""
    frame = orjson.loads(answer_csms_call([2, "m1", action, REQUESTS[action]]))
    assert frame[:2] == [3, "m1"]
    jsonschema.validate(frame[2], _schema(action))


def test_unsimulated_call_gets_not_supported() -> None:
    """A CALL the station does not simulate gets a NotSupported CALLERROR."""
    frame = orjson.loads(answer_csms_call([2, "m2", "InstallCertificate", {}]))
    assert frame[0] == 4 and frame[1] == "m2" and frame[2] == "NotSupported" and frame[4] == {}


async def test_stations_sharing_a_gate_reconnect_at_most_that_many_at_once() -> None:
    """A generator's stations reconnecting at once (a reconnect storm) start no more handshakes
    than their gate allows: a generator that starts thousands finishes none in time."""
    handshaking = most = 0

    async def process_request(conn: object, request: object) -> None:
        nonlocal handshaking, most
        handshaking += 1
        most = max(most, handshaking)
        await asyncio.sleep(0.05)
        handshaking -= 1

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
        port = server.sockets[0].getsockname()[1]
        gate = asyncio.Semaphore(3)
        stations = [
            Station(f"CS{i}", f"ws://127.0.0.1:{port}/ocpp", Recorder(), 10.0, "T", resend=Resend())
            for i in range(12)
        ]
        for st in stations:
            st.connect_gate = gate
        deadline = time.perf_counter() + 10.0
        assert all(await asyncio.gather(*(st.reconnect(deadline) for st in stations)))
        assert most == 3
        for st in stations:
            await st.close()


async def test_a_station_connects_from_its_source_address_leaving_the_port_to_connect() -> None:
    """A station given a source address connects from it, its socket bound with
    IP_BIND_ADDRESS_NO_PORT: bind() alone picks a port free on that address, searching the
    kernel's bind table (a third of a fleet generator's CPU in a reconnect storm, perf); with it,
    connect() picks one unique for the connection's four-tuple. A refused connection is still
    counted as refused."""
    peers: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        peers.append(ws.remote_address[0])
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        st = Station(
            "CS1", f"ws://127.0.0.1:{port}/ocpp", Recorder(), 10.0, "T", source="127.0.0.9"
        )
        assert await st.connect()
        assert st.ws is not None
        sock = st.ws.transport.get_extra_info("socket")
        assert sock.getsockname()[0] == "127.0.0.9"
        assert sock.getsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT) == 1
        await st.close()
    assert peers == ["127.0.0.9"]
    rec = Recorder()
    refused = Station("CS2", f"ws://127.0.0.1:{port}/ocpp", rec, 10.0, "T", source="127.0.0.9")
    assert not await refused.connect()
    assert rec.errors == {"connect:refused": 1}
