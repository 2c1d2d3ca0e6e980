"""CSMS-initiated operations with two gateways: commands find the station on either, and follow it.

Stations connect through Envoy's one stations' URL, which spreads them over both gateways; a
command through Envoy's API goes to device_svc, which sends it to the gateway that holds the
station now (its ``gateway`` field tells which one).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import grpc
import httpx
import pytest
from google.protobuf import json_format

from csms.device.v1 import device_service_pb2 as device_pb
from csms.device.v1 import device_service_pb2_grpc as device_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp
from deploy.mesh import Mesh
from tests.e2e.station_sim import Station, now
from tests.e2e.station_sim16 import Station16

from .conftest import rest_client, running_mesh

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mesh2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """A mesh of its own with two gateways on SQLite, every port free."""
    with running_mesh(
        tmp_path_factory.mktemp("mesh-ops-2gw"), gateways=2, heartbeat_interval=42
    ) as mesh:
        yield mesh


@pytest.fixture(scope="module")
def operator_key2(mesh2: Mesh) -> str:
    return mesh2.create_api_key("operator", "e2e operations multi-gateway")


@pytest.fixture
async def rest(mesh2: Mesh, operator_key2: str) -> AsyncIterator[httpx.AsyncClient]:
    """A REST client through this mesh's Envoy, with an operator key."""
    async with rest_client(mesh2, operator_key2) as client:
        yield client


async def _register(rest: httpx.AsyncClient) -> str:
    sid = f"MO-{uuid.uuid4().hex[:10]}"
    resp = await rest.post("/v1/chargingStations", json={"id": sid, "model": "M1"})
    assert resp.status_code == 200, resp.text
    return sid


async def _connect(mesh: Mesh, station_id: str) -> Station:
    """Through the stations' one URL (Envoy), booted; retried while Envoy meets a dead gateway."""
    url = f"ws://127.0.0.1:{mesh.settings.gateway_port}/ocpp/{station_id}"
    station = await Station.connect(url, station_id, attempts=50)
    boot = await station.boot()
    assert boot["status"] == "Accepted", boot
    return station


async def _holder(rest: httpx.AsyncClient, mesh: Mesh, station_id: str) -> str:
    """The name of the gateway device_svc routes the station's commands to."""
    names = {f"127.0.0.1:{gw.grpc_port}": gw.name for gw in mesh.gateways}
    got = (await rest.get(f"/v1/chargingStations/{station_id}")).json()
    assert got.get("connected") is True, got
    return names[got["gateway"]]


async def _reset(rest: httpx.AsyncClient, station: Station, evse_id: int) -> None:
    """A Reset through Envoy's REST API, answered by this very station."""
    before = len(station.calls("Reset"))
    resp = await rest.post(
        f"/v1/chargingStations/{station.station_id}:reset",
        json={"type": "OnIdle", "evseId": evse_id},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"status": "Accepted"}
    [got] = station.calls("Reset")[before:]
    assert got.payload == {"type": "OnIdle", "evseId": evse_id}


async def test_commands_reach_stations_on_either_gateway(
    mesh2: Mesh, rest: httpx.AsyncClient, operator_key2: str
) -> None:
    """REST and gRPC commands through Envoy reach stations held by gateway-1 and gateway-2."""
    stations: list[Station] = []
    holders: dict[str, str] = {}
    try:
        while len(set(holders.values())) < 2:
            assert len(stations) < 16, f"every station landed on one gateway: {holders}"
            station = await _connect(mesh2, await _register(rest))
            stations.append(station)
            holders[station.station_id] = await _holder(rest, mesh2, station.station_id)
        await asyncio.gather(*(_reset(rest, s, i + 1) for i, s in enumerate(stations)))

        channel = grpc.aio.insecure_channel(f"127.0.0.1:{mesh2.settings.envoy_port}")
        async with channel:
            stub = device_grpc.DeviceServiceStub(channel)
            for station in stations:
                request = json_format.ParseDict(
                    {"requestedMessage": "MESSAGE_TRIGGER_HEARTBEAT"}, ocpp.TriggerMessageRequest()
                )
                answer = await stub.TriggerMessage(
                    device_pb.TriggerMessageCommand(station_id=station.station_id, request=request),
                    metadata=(("authorization", f"Bearer {operator_key2}"),),
                    timeout=10,
                )
                assert answer.status == ocpp.TRIGGER_MESSAGE_STATUS_ACCEPTED
                [got] = station.calls("TriggerMessage")
                assert got.payload == {"requestedMessage": "Heartbeat"}
        for station in stations:
            station.assert_one_at_a_time()
            assert station.violations == []
    finally:
        for station in stations:
            await station.close()


async def test_commands_follow_a_station_that_reconnects_on_the_other_gateway(
    mesh2: Mesh, rest: httpx.AsyncClient
) -> None:
    """Reconnected until it lands on the other gateway, the station still gets every command."""
    sid = await _register(rest)
    station = await _connect(mesh2, sid)
    first = await _holder(rest, mesh2, sid)
    await _reset(rest, station, 1)
    try:
        for _ in range(40):
            await station.close()
            station = await _connect(mesh2, sid)
            if await _holder(rest, mesh2, sid) != first:
                break
        else:
            pytest.fail(f"the station never left {first}")
        await _reset(rest, station, 2)
        await _reset(rest, station, 3)
        assert station.violations == []
    finally:
        await station.close()


async def test_a_1_6_remote_start_follows_the_station_to_the_other_gateway(
    mesh2: Mesh, rest: httpx.AsyncClient
) -> None:
    """A 1.6 station accepts a RemoteStartTransaction on one gateway, then reconnects until it
    lands on the other and sends its StartTransaction there: the transaction still carries the
    remote start's remoteStartId and is Started by RemoteStart (the link lives in
    transaction_svc, not in the gateway that sent the request)."""
    sid = await _register(rest)
    tag = f"MG{uuid.uuid4().hex[:12].upper()}"
    resp = await rest.post(
        "/v1/idTokens", json={"idToken": tag, "type": "ISO14443", "status": "Accepted"}
    )
    assert resp.status_code == 200, resp.text
    url = f"ws://127.0.0.1:{mesh2.settings.gateway_port}/ocpp/{sid}"
    station = await Station16.connect(url, sid, attempts=50)
    try:
        assert (await station.boot())["status"] == "Accepted"
        first = await _holder(rest, mesh2, sid)
        body = {"idToken": {"idToken": tag, "type": "ISO14443"}, "remoteStartId": 4242}
        resp = await rest.post(f"/v1/chargingStations/{sid}:requestStartTransaction", json=body)
        assert resp.status_code == 200 and resp.json()["status"] == "Accepted", resp.text
        assert (await station.wait_for("RemoteStartTransaction")).payload["idTag"] == tag
        for _ in range(40):
            await station.close()
            station = await Station16.connect(url, sid, attempts=50)
            assert (await station.boot())["status"] == "Accepted"
            if await _holder(rest, mesh2, sid) != first:
                break
        else:
            pytest.fail(f"the station never left {first}")
        start = {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": now()}
        answer = await station.call("StartTransaction", start)
        assert answer["idTagInfo"]["status"] == "Accepted", answer
        tx_id = answer["transactionId"]
        got = (await rest.get(f"/v1/transactions/{tx_id}", params={"stationId": sid})).json()
        assert got["remoteStartId"] == 4242, got
        assert [(e["eventType"], e["triggerReason"]) for e in got["events"]] == [
            ("Started", "RemoteStart")
        ]
        assert station.violations == []
    finally:
        await station.close()


async def test_commands_go_to_the_newest_connection_across_gateways(
    mesh2: Mesh, rest: httpx.AsyncClient
) -> None:
    """A second connection of the station on the other gateway takes its commands from the old."""
    sid = await _register(rest)
    old = await _connect(mesh2, sid)
    first = await _holder(rest, mesh2, sid)
    newer: list[Station] = []
    try:
        # Without closing the old connection: one landing on the same gateway replaces it there.
        for _ in range(40):
            newer.append(await _connect(mesh2, sid))
            if await _holder(rest, mesh2, sid) != first:
                break
        else:
            pytest.fail(f"no second connection left {first}")
        await _reset(rest, newer[-1], 7)
        assert old.calls("Reset") == [] and all(s.calls("Reset") == [] for s in newer[:-1])
        assert newer[-1].violations == []
    finally:
        for station in (old, *newer):
            await station.close()


# Last: Envoy sets the crashed gateway aside for a while, which would skew the tests above.
async def test_commands_follow_a_station_whose_gateway_was_killed(
    mesh2: Mesh, rest: httpx.AsyncClient
) -> None:
    """Its gateway crashed: 503 until the station reconnects on the other one, then commands."""
    sid = await _register(rest)
    station = await _connect(mesh2, sid)
    dead = await _holder(rest, mesh2, sid)
    await _reset(rest, station, 1)
    mesh2.kill(dead)
    try:
        await station.wait_closed()  # Envoy drops the station with its upstream
        resp = await rest.post(f"/v1/chargingStations/{sid}:clearCache", json={})
        assert resp.status_code == 503, resp.text

        await station.close()
        station = await _connect(mesh2, sid)
        assert await _holder(rest, mesh2, sid) != dead
        await _reset(rest, station, 2)
        assert station.violations == []
    finally:
        await station.close()
        await asyncio.to_thread(mesh2.restart, dead)
