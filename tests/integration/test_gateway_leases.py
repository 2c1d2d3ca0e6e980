"""Two real gateways on one real device_svc (SQLite and PostgreSQL), stations on real WebSockets:
a station taken over by the other gateway has its old connection closed by the first, commands
go to the new one only, and a gateway that stops renewing loses its stations within its lease."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from csms.device.v1 import device_service_pb2 as pb
from csms.device.v1 import device_service_pb2_grpc as pb_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp
from deploy.mesh import free_port
from device_svc import server as device_server
from device_svc.settings import Settings as DeviceSettings
from gateway import server as gateway_server
from gateway.settings import Settings as GatewaySettings

# Renewed every second.
LEASE_SECONDS = 3


class Station:
    """A WebSocket station that answers every CSMS CALL Accepted and records them."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.calls: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for frame in self.ws:
                message = orjson.loads(frame)
                if message[0] == 2:
                    self.calls.append(message[2])
                    await self.ws.send(orjson.dumps([3, message[1], {"status": "Accepted"}]))

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


class Mesh:
    def __init__(self, device: pb_grpc.DeviceServiceStub, gateways: list[Any]) -> None:
        self.device = device
        self.gateways = gateways
        self.stations: list[Station] = []

    async def connect(self, station_id: str, gateway: int) -> Station:
        running = self.gateways[gateway]
        ws = await connect(
            f"ws://127.0.0.1:{running.ws_port}/ocpp/{station_id}",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        )
        station = Station(ws)
        self.stations.append(station)
        return station

    async def station(self) -> str:
        station_id = f"L-{uuid.uuid4().hex[:10]}"
        await self.device.CreateChargingStation(
            pb.CreateChargingStationRequest(charging_station=pb.ChargingStation(id=station_id))
        )
        return station_id

    async def holder(self, station_id: str) -> str:
        got = await self.device.GetChargingStation(pb.GetChargingStationRequest(id=station_id))
        return got.gateway if got.connected else ""

    def address(self, gateway: int) -> str:
        return str(self.gateways[gateway].gateway.address)


@pytest.fixture
async def mesh(migrated_db) -> AsyncIterator[Mesh]:  # type: ignore[no-untyped-def]
    url = await asyncio.to_thread(migrated_db, "device_svc")
    device, engine = await device_server.start(
        DeviceSettings(grpc_listen="127.0.0.1:0", database_url=url, heartbeat_interval=60)
    )
    unused = f"127.0.0.1:{free_port()}"
    gateways = []
    try:
        for _ in range(2):
            gateways.append(
                await gateway_server.start(
                    GatewaySettings(
                        host="127.0.0.1",
                        port=free_port(),
                        grpc_listen="127.0.0.1:0",
                        device_svc_addr=f"127.0.0.1:{device.port}",
                        transaction_svc_addr=unused,
                        user_svc_addr=unused,
                        allow_unsecured_stations=True,
                        lease_seconds=LEASE_SECONDS,
                    )
                )
            )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{device.port}") as channel:
            mesh = Mesh(pb_grpc.DeviceServiceStub(channel), gateways)
            try:
                yield mesh
            finally:
                for station in mesh.stations:
                    await station.close()
    finally:
        for running in gateways:
            await running.stop(1)
        await device.stop(1)
        await engine.dispose()


def _reset(station_id: str) -> pb.ResetCommand:
    return pb.ResetCommand(
        station_id=station_id, request=ocpp.ResetRequest(type=ocpp.RESET_ON_IDLE)
    )


async def _until(check: Any, seconds: float) -> None:
    """Poll ``check()`` every 50 ms until it is true; fail after ``seconds``."""
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not so after {seconds} s")


async def test_a_takeover_closes_the_old_connection_and_commands_follow(mesh: Mesh) -> None:
    """The station connects to gateway 0, then (its link lost, as the old gateway does not
    know yet) to gateway 1: gateway 0 closes its old connection at its next renewal, within a
    third of the lease (plus slack), and a command reaches the new connection only."""
    sid = await mesh.station()
    old = await mesh.connect(sid, 0)
    await _until(lambda: _is(mesh.holder(sid), mesh.address(0)), 5)
    new = await mesh.connect(sid, 1)
    await _until(lambda: _is(mesh.holder(sid), mesh.address(1)), 5)
    async with asyncio.timeout(LEASE_SECONDS / 3 + 3):
        await old.ws.wait_closed()
    assert old.ws.close_reason == "connected to another gateway"
    assert not new.ws.close_code
    await mesh.device.Reset(_reset(sid))
    assert new.calls == ["Reset"] and old.calls == []
    assert sid not in mesh.gateways[0].gateway.connections


async def test_a_gateway_that_stops_renewing_loses_its_stations_in_its_lease(
    mesh: Mesh,
) -> None:
    """Gateway 0 stops renewing (hung, or cut off from device_svc; its WebSockets still open):
    within its lease its stations are offline and commands UNAVAILABLE, reaching no one;
    gateway 1's stations stay connected."""
    frozen, alive = await mesh.station(), await mesh.station()
    on_frozen, on_alive = await mesh.connect(frozen, 0), await mesh.connect(alive, 1)
    await _until(lambda: _is(mesh.holder(frozen), mesh.address(0)), 5)
    await _until(lambda: _is(mesh.holder(alive), mesh.address(1)), 5)
    renewal = mesh.gateways[0]._renewal
    renewal.cancel()
    await asyncio.gather(renewal, return_exceptions=True)
    stopped = asyncio.get_running_loop().time()
    await _until(lambda: _is(mesh.holder(frozen), ""), LEASE_SECONDS + 2)
    assert asyncio.get_running_loop().time() - stopped <= LEASE_SECONDS + 1
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await mesh.device.Reset(_reset(frozen))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert on_frozen.calls == []
    await asyncio.sleep(LEASE_SECONDS / 3)  # gateway 1 still renews its own lease
    assert await mesh.holder(alive) == mesh.address(1)
    await mesh.device.Reset(_reset(alive))
    assert on_alive.calls == ["Reset"]


async def _is(value: Any, expected: Any) -> bool:
    return bool(await value == expected)
