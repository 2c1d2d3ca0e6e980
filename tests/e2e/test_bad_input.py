"""Bad input end to end, on SQLite and PostgreSQL: refused alike on both backends, with a 4xx
or a CALLERROR naming what is wrong, never a database's words, an address or a traceback.

NUL characters (PostgreSQL's text cannot hold them) in stations' payloads, the handshake URL and
REST input; strings longer than their columns; huge bodies and page tokens; a station's huge
CALLERROR; a station resetting its TCP connection right after the upgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from deploy.mesh import Mesh
from tests.e2e.station_sim import CallErrorAnswer, Station, now

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
LEAKS = ("sqlalchemy", "asyncpg", "INSERT", "SELECT", "ipv4", "127.0.0.1", "Traceback", "0x00")


def _no_leak(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, text


@pytest.fixture
async def station(ws_url: Callable[[str], str], station_id: str) -> AsyncIterator[Station]:
    st = await Station.connect(ws_url(station_id), station_id)
    try:
        assert (await st.boot())["status"] == "Accepted"
        yield st
    finally:
        await st.close()


def _tx_started(tx_id: str) -> JSON:
    return {
        "eventType": "Started",
        "timestamp": now(),
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": tx_id},
    }


NUL_PAYLOADS: list[tuple[str, JSON, str]] = [
    ("TransactionEvent", _tx_started("TX\u00001"), "transactionInfo.transactionId"),
    (
        "Authorize",
        {"idToken": {"idToken": "TAG\u00001", "type": "ISO14443"}},
        "idToken.idToken",
    ),
    (
        "BootNotification",
        {"reason": "PowerUp", "chargingStation": {"model": "M\u0000", "vendorName": "V"}},
        "chargingStation.model",
    ),
    (
        "SecurityEventNotification",
        {"type": "Tamper\u0000Detected", "timestamp": now(), "techInfo": "ok"},
        "type",
    ),
    (
        "SecurityEventNotification",
        {"type": "TamperDetected", "timestamp": now(), "techInfo": "a\u0000b"},
        "techInfo",
    ),
    (
        "NotifyReport",
        {
            "requestId": 1,
            "generatedAt": now(),
            "seqNo": 0,
            "reportData": [
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "variableAttribute": [{"type": "Actual", "value": "3\u00000"}],
                }
            ],
        },
        "reportData[0].variableAttribute[0].value",
    ),
]


@pytest.mark.parametrize(("action", "payload", "field"), NUL_PAYLOADS, ids=lambda v: str(v)[:30])
async def test_nul_in_a_payload_is_refused_naming_the_field(
    station: Station, action: str, payload: JSON, field: str
) -> None:
    """PropertyConstraintViolation naming the field (not InternalError, which a station would
    retry for ever); the connection stays usable."""
    with pytest.raises(CallErrorAnswer) as caught:
        await station.call(action, payload)
    assert caught.value.code == "PropertyConstraintViolation"
    assert field in caught.value.description and "NUL" in caught.value.description
    _no_leak(caught.value.description)
    assert "currentTime" in await station.heartbeat()


async def test_nul_in_the_handshake_url_is_400(ws_url: Callable[[str], str]) -> None:
    """A NUL in the station id of the URL: HTTP 400 at the handshake, not 503."""
    with pytest.raises(InvalidStatus) as caught:
        await connect(ws_url("CS%00NUL"), subprotocols=["ocpp2.0.1"], open_timeout=10)  # type: ignore[list-item]
    assert caught.value.response.status_code == 400
    _no_leak(caught.value.response.body.decode())


async def test_huge_callerror_reaches_the_rest_client_mapped(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """A CALLERROR of 60 KB: the client gets its mapped status (400 for a
    PropertyConstraintViolation), its description cut to 255 characters, not 429."""
    station.fail(
        "UnlockConnector", "PropertyConstraintViolation", "d" * 30_000, {"dump": "x" * 30_000}
    )
    resp = await rest.post(
        f"/v1/chargingStations/{station_id}:unlockConnector", json={"evseId": 1, "connectorId": 1}
    )
    assert resp.status_code == 400, resp.text[:300]
    body = resp.json()
    [info] = [d for d in body["details"] if d["@type"].endswith("google.rpc.ErrorInfo")]
    assert info["reason"] == "PropertyConstraintViolation"
    assert info["metadata"]["description"] == "d" * 254 + "…"
    assert info["metadata"]["details"] == "{}"


# -- REST ------------------------------------------------------------------------------------------


async def test_nul_in_rest_input_is_400_naming_the_field(rest: httpx.AsyncClient) -> None:
    """In a body, a nested body field, a path parameter: 400 naming the field."""
    sid = f"NUL-{uuid.uuid4().hex[:8]}"
    resp = await rest.post("/v1/chargingStations", json={"id": sid, "model": "M\u0000"})
    assert resp.status_code == 400, resp.text
    assert "model" in resp.json()["message"] and "NUL" in resp.json()["message"]
    resp = await rest.post(
        "/v1/chargingStations", json={"id": sid, "modem": {"iccid": "1\u00002", "imsi": "2"}}
    )
    assert resp.status_code == 400 and "modem.iccid" in resp.json()["message"], resp.text
    resp = await rest.post("/v1/idTokens", json={"idToken": "T\u00001", "type": "ISO14443"})
    assert resp.status_code == 400 and "idToken" in resp.json()["message"], resp.text
    resp = await rest.get("/v1/chargingStations/CS%00X")
    assert resp.status_code == 400 and "id" in resp.json()["message"], resp.text
    resp = await rest.get("/v1/idTokens/T%001")
    assert resp.status_code == 400, resp.text
    for r in (resp,):
        _no_leak(r.text)


async def test_strings_longer_than_their_columns_are_400(rest: httpx.AsyncClient) -> None:
    """A 1 MB model (the column holds 20): 400 naming the field, on create and on update."""
    sid = f"LEN-{uuid.uuid4().hex[:8]}"
    resp = await rest.post("/v1/chargingStations", json={"id": sid, "model": "m" * 1_000_000})
    assert resp.status_code == 400, resp.text[:300]
    assert "model" in resp.json()["message"] and "20" in resp.json()["message"]
    assert (await rest.post("/v1/chargingStations", json={"id": sid})).status_code == 200
    resp = await rest.patch(
        f"/v1/chargingStations/{sid}",
        params={"updateMask": "vendorName"},
        json={"vendorName": "v" * 51},
    )
    assert resp.status_code == 400, resp.text[:300]
    assert "vendor_name" in resp.json()["message"]
    ok = await rest.patch(
        f"/v1/chargingStations/{sid}", params={"updateMask": "model"}, json={"model": "m" * 20}
    )
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("pieces", [1, 6], ids=["whole", "in-pieces"])
async def test_a_20_mb_body_is_413(mesh: Mesh, operator_key: str, pieces: int) -> None:
    """A 20 MB body: 413, JSON like Envoy's other answers (not 429 or 500), as soon as the
    limit is passed: the client is answered without sending the rest. Also when its first bytes
    come in small pieces (the transcoder, parsing as it read, answered 400 then)."""
    size = 20 * 1024 * 1024
    reader, writer = await asyncio.open_connection("127.0.0.1", mesh.settings.envoy_port)

    async def send() -> None:
        writer.write(
            f"POST /v1/chargingStations HTTP/1.1\r\nHost: x\r\n"
            f"authorization: Bearer {operator_key}\r\ncontent-type: application/json\r\n"
            f"content-length: {size}\r\n\r\n".encode()
        )
        # Valid JSON as far as it goes (one long string), however Envoy happens to chunk it:
        # only its size may be refused, not its syntax.
        prefix = b'{"model": "'
        step = -(-len(prefix) // pieces)
        for start in range(0, len(prefix), step):
            writer.write(prefix[start : start + step])
            await writer.drain()
            if pieces > 1:
                await asyncio.sleep(0.02)  # each piece its own read on Envoy's side
        chunk = b"m" * 65536
        with contextlib.suppress(OSError):  # Envoy closes once it has answered
            for _ in range(size // len(chunk)):
                writer.write(chunk)
                await writer.drain()

    sending = asyncio.create_task(send())
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        body = orjson.loads(await asyncio.wait_for(reader.readexactly(length), 10))
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        writer.close()
    assert head.startswith(b"HTTP/1.1 413 "), (head, body)
    assert body["httpStatus"] == 413 and body["message"], body


async def test_a_huge_page_token_is_400(rest: httpx.AsyncClient) -> None:
    """A 10 KB page token (valid base64 or not) is not one the service issued: 400."""
    for token in ("A" * 10_000, "QUFB" * 2_500):
        resp = await rest.get("/v1/chargingStations", params={"pageToken": token})
        assert resp.status_code == 400, resp.text[:300]
        assert "page_token" in resp.json()["message"]


# -- the handshake -------------------------------------------------------------------------------


async def test_aborted_handshake_is_no_error_in_the_log(
    mesh: Mesh, rest: httpx.AsyncClient, ws_url: Callable[[str], str]
) -> None:
    """A TCP reset right after the upgrade: at most an INFO line, never ERROR or a traceback."""
    logs = sorted(mesh.log_dir.glob("gateway*.log")) if mesh.log_dir else []
    assert logs, "the mesh logs to files"
    before = {p: p.stat().st_size for p in logs}
    port = mesh.settings.gateway_port
    ids = [f"RST-{uuid.uuid4().hex[:8]}" for _ in range(11)]
    for sid in ids:
        assert (await rest.post("/v1/chargingStations", json={"id": sid})).status_code == 200
    # Reset before the 101 (while the gateway still decides), then after it.
    for i, sid in enumerate(ids[:-1]):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"GET /ocpp/{sid} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: ocpp2.0.1\r\n\r\n".encode()
        )
        await writer.drain()
        if i % 2:
            await reader.readuntil(b"\r\n\r\n")
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    # A station connecting after them is answered: the gateway is done with the resets.
    st = await Station.connect(ws_url(ids[-1]), ids[-1])
    assert (await st.boot())["status"] == "Accepted"
    await st.close()
    for path in logs:
        with path.open("rb") as f:
            f.seek(before[path])
            text = f.read().decode(errors="replace")
        assert "level=ERROR" not in text and "Traceback" not in text, text[-3000:]
