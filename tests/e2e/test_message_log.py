"""The station message log end to end: a real station's frames through the gateway, recorded
by device_svc off the stations' path, listed over REST newest first with replies under their
CALL's action, the Basic auth password redacted (in what is stored, not only in what is
listed)."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from common import message_log_codec
from deploy.mesh import Mesh
from tests.e2e.conftest import rest_client, running_mesh
from tests.e2e.station_sim import Station

pytestmark = pytest.mark.e2e


async def _messages(
    rest: httpx.AsyncClient, station_id: str, **params: Any
) -> list[dict[str, Any]]:
    resp = await rest.get(f"/v1/chargingStations/{station_id}/messages", params=params)
    assert resp.status_code == 200, resp.text
    return list(resp.json().get("messages", []))


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """A mesh of its own with the message log on (CSMS_MESSAGE_LOG=true; off by default)."""
    with running_mesh(
        tmp_path_factory.mktemp("mesh-message-log"), message_log=True, heartbeat_interval=42
    ) as mesh:
        yield mesh


@pytest.fixture
async def rest(logged: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with rest_client(logged, logged.create_api_key("operator", "log")) as client:
        yield client


@pytest.fixture
async def station_id(rest: httpx.AsyncClient) -> str:
    sid = f"LOG-{uuid.uuid4().hex[:8]}"
    assert (await rest.post("/v1/chargingStations", json={"id": sid})).status_code == 200
    return sid


@pytest.fixture
async def station(logged: Mesh, station_id: str) -> AsyncIterator[Station]:
    sim = await Station.connect(
        f"ws://127.0.0.1:{logged.settings.gateway_port}/ocpp/{station_id}", station_id
    )
    await sim.boot()
    try:
        yield sim
    finally:
        await sim.close()


async def test_frames_are_recorded_and_secrets_are_not(
    logged: Mesh, rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    station.answer(
        "SetVariables",
        lambda r: {
            "setVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": d["component"],
                    "variable": d["variable"],
                }
                for d in r["setVariableData"]
            ]
        },
    )
    secret = "a-password-of-sixteen-chars-or-more"
    body = {
        "setVariableData": [
            {
                "attributeValue": secret,
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
            }
        ]
    }
    resp = await rest.post(f"/v1/chargingStations/{station_id}:setVariables", json=body)
    assert resp.status_code == 200, resp.text
    await station.call("Heartbeat", {})
    found: list[dict[str, Any]] = []
    for _ in range(50):  # recorded within a flush interval (0.5 s) or a few
        found = await _messages(rest, station_id)
        if {m.get("action") for m in found} >= {
            "BootNotification",
            "SetVariables",
            "Heartbeat",
        } and len(found) >= 6:
            break
        await asyncio.sleep(0.1)
    shapes = [(m["direction"], m["type"], m.get("action", "")) for m in reversed(found)]
    assert shapes[:6] == [
        ("in", "call", "BootNotification"),
        ("out", "result", "BootNotification"),
        ("out", "call", "SetVariables"),
        ("in", "result", "SetVariables"),
        ("in", "call", "Heartbeat"),
        ("out", "result", "Heartbeat"),
    ], shapes
    call = next(m for m in found if m["type"] == "call" and m.get("action") == "SetVariables")
    assert call["payload"]["setVariableData"][0]["attributeValue"] == "***"
    assert secret not in str(found)
    path = logged.settings.data_dir / "device.sqlite"
    with sqlite3.connect(path) as db:
        stored = [
            text
            for (body,) in db.execute("SELECT body FROM station_message_batches")
            for _, _, text in message_log_codec.decode(body)
        ]
    assert stored and not any(secret in text for text in stored)
    only = await _messages(rest, station_id, action="Heartbeat")
    assert [m["type"] for m in only] == ["result", "call"]
    page = await _messages(rest, station_id, pageSize=2)
    # ids are int64, strings in JSON (proto3): compared as the numbers they are
    assert len(page) == 2 and int(page[0]["id"]) > int(page[1]["id"])


async def test_a_1_6_stations_frames_are_recorded_as_they_went_and_its_key_is_not(
    logged: Mesh, rest: httpx.AsyncClient, station_id: str
) -> None:
    """A command to a 1.6 station is logged as the 1.6 frames that went (ChangeConfiguration of
    the whitepaper's AuthorizationKey), its value redacted in what is stored."""
    from tests.e2e.station_sim16 import Station16

    sim = await Station16.connect(
        f"ws://127.0.0.1:{logged.settings.gateway_port}/ocpp/{station_id}", station_id
    )
    try:
        await sim.boot()
        secret = "a-1.6-password-of-sixteen-chars"
        body = {
            "setVariableData": [
                {
                    "attributeValue": secret,
                    "component": {"name": "SecurityCtrlr"},
                    "variable": {"name": "BasicAuthPassword"},
                }
            ]
        }
        resp = await rest.post(f"/v1/chargingStations/{station_id}:setVariables", json=body)
        assert resp.status_code == 200, resp.text
        assert sim.authorization_key == secret
        found: list[dict[str, Any]] = []
        for _ in range(50):
            found = await _messages(rest, station_id, action="ChangeConfiguration")
            if len(found) >= 2:
                break
            await asyncio.sleep(0.1)
        shapes = [(m["direction"], m["type"]) for m in reversed(found)]
        assert shapes == [("out", "call"), ("in", "result")], found
        assert found[1]["payload"] == {"key": "AuthorizationKey", "value": "***"}
        assert secret not in str(await _messages(rest, station_id))
        path = logged.settings.data_dir / "device.sqlite"
        with sqlite3.connect(path) as db:
            stored = [
                text
                for (body,) in db.execute("SELECT body FROM station_message_batches")
                for _, _, text in message_log_codec.decode(body)
            ]
        assert stored and not any(secret in text for text in stored)
        assert sim.violations == []
    finally:
        await sim.close()
