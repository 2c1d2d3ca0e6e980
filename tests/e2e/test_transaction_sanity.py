"""Transaction data stays sane, end to end (real Envoy, gateway, services, a WebSocket station):
an Ended sent under a used seqNo ends the transaction and shows as a conflict over REST, a
register reading dated 2099 or going backwards shows under implausibleReadings and is left out
of energyWh; a deleted station is disconnected at once."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

BOOT = {"reason": "PowerUp", "chargingStation": {"model": "M1", "vendorName": "V"}}


async def send(ws: ClientConnection, action: str, payload: dict[str, Any]) -> list[Any]:
    message_id = uuid.uuid4().hex[:8]
    await ws.send(json.dumps([2, message_id, action, payload]))
    async with asyncio.timeout(10):  # a bound on the test, not a speed check
        answer: list[Any] = json.loads(await ws.recv())
    assert answer[:2] == [3, message_id], answer
    return answer


def event(seq: int, kind: str, minute: int, wh: float, at: str = "") -> dict[str, Any]:
    ts = f"2026-01-01T10:{minute:02d}:00Z"
    return {
        "eventType": kind,
        "timestamp": ts,
        "triggerReason": "MeterValuePeriodic",
        "seqNo": seq,
        "transactionInfo": {"transactionId": TX},
        "meterValue": [{"timestamp": at or ts, "sampledValue": [{"value": wh}]}],
    }


TX = f"tx-{uuid.uuid4().hex[:10]}"


async def test_conflicts_and_implausible_readings_over_rest(  # type: ignore[no-untyped-def]
    rest: httpx.AsyncClient, ws_url, station_id: str
) -> None:
    async with connect(ws_url(station_id), subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        assert (await send(ws, "BootNotification", BOOT))[2]["status"] == "Accepted"
        await send(ws, "TransactionEvent", event(0, "Started", 0, 5000))
        await send(ws, "TransactionEvent", event(1, "Updated", 10, 10))  # backwards
        await send(ws, "TransactionEvent", event(2, "Updated", 20, 1e8, "2099-01-01T00:00:00Z"))
        await send(ws, "TransactionEvent", event(3, "Updated", 30, 5400))
        await send(ws, "TransactionEvent", event(3, "Ended", 40, 5600))  # under a used seqNo
    got = (await rest.get(f"/v1/transactions/{TX}")).json()
    assert got["active"] is False
    assert got["energyWh"] == 600
    assert [(c["seqNo"], c["eventType"]) for c in got["conflicts"]] == [(3, "Ended")]
    assert [(r["seqNo"], r["reason"]) for r in got["implausibleReadings"]] == [
        (1, "backwards"),
        (2, "future"),
    ]


async def test_a_deleted_station_is_disconnected(  # type: ignore[no-untyped-def]
    rest: httpx.AsyncClient, ws_url, station_id: str
) -> None:
    async with connect(ws_url(station_id), subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        assert (await send(ws, "BootNotification", BOOT))[2]["status"] == "Accepted"
        resp = await rest.delete(f"/v1/chargingStations/{station_id}")
        assert resp.status_code == 200, resp.text
        async with asyncio.timeout(10):  # a bound on the test, not a speed check
            await ws.wait_closed()
        assert ws.close_reason == "charging station deleted"
