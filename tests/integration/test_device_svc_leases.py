"""device_svc's gateway leases over real gRPC on SQLite and PostgreSQL: a renewal's cost does not
grow with the stations held, a gateway that stops renewing loses its stations within its lease,
a restarted gateway (a new incarnation) gets none of its predecessor's back, a takeover or a
deletion tells the old gateway which connection to close, and commands follow the station."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, select

from common import db
from csms.device.v1 import device_service_pb2 as pb
from csms.device.v1 import device_service_pb2_grpc as pb_grpc
from csms.device.v1 import fleet_pb2 as fleet_pb
from csms.device.v1 import fleet_pb2_grpc as fleet_grpc
from csms.gateway.v1 import station_control_pb2 as gw
from csms.gateway.v1 import station_control_pb2_grpc as gw_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc import server as device_server
from device_svc.models import Base, GatewayLease, StationMove
from device_svc.service import FORGET_LEASES_AFTER, Devices
from device_svc.settings import Settings as DeviceSettings

MOVED = "connected to another gateway"


class Statements:
    """What device_svc's engine executes: each statement's verb and the rows it wrote."""

    def __init__(self) -> None:
        self.on = False
        self.seen: list[tuple[str, int]] = []

    def after(self, conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if self.on:
            verb = statement.lstrip().split(None, 1)[0].upper()
            written = cursor.rowcount if verb in ("INSERT", "UPDATE", "DELETE") else 0
            self.seen.append((verb, max(written, 0)))

    def writes(self) -> int:
        return sum(rows for _, rows in self.seen)

    def verbs(self) -> list[str]:
        return [verb for verb, _ in self.seen]


class Device:
    def __init__(self, stub: pb_grpc.DeviceServiceStub, fleet: Any, statements: Statements):
        self.stub = stub
        self.fleet = fleet
        self.statements = statements

    async def connect(self, station_id: str, gateway: str, lease: str, seconds: int = 30) -> int:
        """Register (if new) and connect ``station_id`` through ``gateway`` incarnation
        ``lease``; its epoch."""
        try:
            await self.stub.CreateChargingStation(
                pb.CreateChargingStationRequest(charging_station=pb.ChargingStation(id=station_id))
            )
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.ALREADY_EXISTS
        resp = await self.stub.ConnectStation(
            pb.ConnectStationRequest(
                station_id=station_id,
                gateway=gateway,
                gateway_lease=lease,
                lease_seconds=seconds,
                allow_unsecured=True,
            )
        )
        assert resp.under_gateway_lease
        return resp.epoch

    async def renew(
        self, gateway: str, lease: str, seconds: int = 30, ack: tuple[int, ...] = ()
    ) -> pb.RenewGatewayLeaseResponse:
        return await self.stub.RenewGatewayLease(
            pb.RenewGatewayLeaseRequest(
                gateway=gateway, gateway_lease=lease, ttl_seconds=seconds, acknowledged=ack
            )
        )

    async def connected(self, station_id: str) -> tuple[bool, str]:
        got = await self.stub.GetChargingStation(pb.GetChargingStationRequest(id=station_id))
        return got.connected, got.gateway

    async def listed(self, status: str) -> list[str]:
        resp = await self.stub.ListChargingStations(
            pb.ListChargingStationsRequest(page_size=1000, status=status)
        )
        return [s.id for s in resp.charging_stations]


@pytest.fixture
async def device(migrated_db) -> AsyncIterator[Device]:  # type: ignore[no-untyped-def]
    """A real device_svc whose engine's statements can be counted."""
    url = await asyncio.to_thread(migrated_db, "device_svc")
    server, engine = await device_server.start(
        DeviceSettings(grpc_listen="127.0.0.1:0", database_url=url, heartbeat_interval=60)
    )
    statements = Statements()
    event.listen(engine.sync_engine, "after_cursor_execute", statements.after)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield Device(
            pb_grpc.DeviceServiceStub(channel), fleet_grpc.FleetServiceStub(channel), statements
        )
    await server.stop(1)
    await engine.dispose()


class FakeGateway(gw_grpc.StationControlServiceServicer):
    """A StationControlService that answers every Reset Accepted and records who got what."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def Call(self, request, context):  # type: ignore[no-untyped-def]
        self.calls.append((request.station_id, request.epoch))
        result = gw.StationCallResult()
        result.response.Pack(ocpp.ResetResponse(status=ocpp.RESET_STATUS_ACCEPTED))
        return result


@pytest.fixture
async def gateways() -> AsyncIterator[list[tuple[FakeGateway, str]]]:
    """Two stand-in gateways and their addresses."""
    made = []
    for _ in range(2):
        fake = FakeGateway()
        server = grpc.aio.server()
        gw_grpc.add_StationControlServiceServicer_to_server(fake, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        made.append((fake, f"127.0.0.1:{port}", server))
    yield [(fake, addr) for fake, addr, _ in made]
    for _, _, server in made:
        await server.stop(0)


def _reset(station_id: str) -> pb.ResetCommand:
    return pb.ResetCommand(
        station_id=station_id, request=ocpp.ResetRequest(type=ocpp.RESET_ON_IDLE)
    )


async def test_a_renewal_costs_the_same_whatever_the_stations_held(device: Device) -> None:
    """Statements executed and rows written by a renewal are counted, with 5 stations held,
    then 205: the same few statements and one row written (the gateway's lease) both times;
    the stations' rows are not touched."""
    costs = []
    for first, count in ((0, 5), (5, 200)):
        for i in range(first, first + count):
            await device.connect(f"S{i:04}", "gw1:1", "lease-1")
        device.statements.seen.clear()
        device.statements.on = True
        resp = await device.renew("gw1:1", "lease-1")
        device.statements.on = False
        assert list(resp.moves) == [] and not resp.more
        costs.append((device.statements.verbs(), device.statements.writes()))
    assert costs[0] == costs[1], costs
    verbs, writes = costs[0]
    assert writes == 1, costs
    assert verbs.count("UPDATE") + verbs.count("INSERT") == 1, verbs
    assert len(verbs) <= 6, verbs
    assert len(await device.listed("connected")) == 205


async def test_a_gateway_that_stops_renewing_loses_its_stations_within_its_lease(
    device: Device, gateways: list[tuple[FakeGateway, str]]
) -> None:
    """Stations of a gateway that stops renewing (crashed) are offline once its lease ran out:
    not shown connected, listed offline, counted offline, and commands are UNAVAILABLE without
    reaching it; those of a gateway renewing all along stay, with no write of their own."""
    (dead, dead_addr), (alive, alive_addr) = gateways
    for sid in ("D1", "D2"):
        await device.connect(sid, dead_addr, "lease-dead", seconds=2)
    await device.connect("A1", alive_addr, "lease-alive", seconds=2)
    assert await device.connected("D1") == (True, dead_addr)
    await device.stub.Reset(_reset("D1"))
    assert dead.calls == [("D1", 1)]
    loop = asyncio.get_running_loop()
    until = loop.time() + 2.5
    while loop.time() < until:  # only lease-alive renews, every third of its lease
        await device.renew(alive_addr, "lease-alive", seconds=2)
        await asyncio.sleep(0.6)
    assert await device.connected("D1") == (False, "")
    assert await device.connected("A1") == (True, alive_addr)
    assert await device.listed("offline") == ["D1", "D2"]
    assert await device.listed("connected") == ["A1"]
    summary = await device.fleet.GetFleetSummary(fleet_pb.GetFleetSummaryRequest())
    assert (summary.connected, summary.offline) == (1, 2)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await device.stub.Reset(_reset("D2"))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert dead.calls == [("D1", 1)]
    await device.stub.Reset(_reset("A1"))
    assert alive.calls == [("A1", 1)]


async def test_a_restarted_gateway_does_not_get_its_predecessors_stations_back(
    device: Device,
) -> None:
    """The same address under a new incarnation renews its own lease only: the stations the
    crashed one held go offline with its lease, and stay so."""
    await device.connect("R1", "gw1:1", "before-crash", seconds=1)
    await device.renew("gw1:1", "after-restart", seconds=30)
    await asyncio.sleep(1.2)
    await device.renew("gw1:1", "after-restart", seconds=30)
    assert await device.connected("R1") == (False, "")
    # It comes back when the station reconnects to the new incarnation.
    await device.connect("R1", "gw1:1", "after-restart")
    assert await device.connected("R1") == (True, "gw1:1")


async def test_a_takeover_tells_the_old_gateway_and_commands_go_to_the_new(
    device: Device, gateways: list[tuple[FakeGateway, str]]
) -> None:
    """A station connecting through another gateway: the old one learns at its next renewal
    which connection (station, old epoch) to close, until it acknowledges it; the new one has
    nothing to close; commands go to the new gateway under the new epoch only."""
    (old, old_addr), (new, new_addr) = gateways
    first = await device.connect("T1", old_addr, "lease-old")
    await device.connect("K1", old_addr, "lease-old")
    second = await device.connect("T1", new_addr, "lease-new")
    assert second == first + 1
    resp = await device.renew(old_addr, "lease-old")
    assert [(m.station_id, m.epoch, m.reason) for m in resp.moves] == [("T1", first, MOVED)]
    again = await device.renew(old_addr, "lease-old")
    assert list(again.moves) == list(resp.moves)  # not acknowledged yet: sent again
    acked = await device.renew(old_addr, "lease-old", ack=(resp.moves[0].id,))
    assert list(acked.moves) == []
    assert list((await device.renew(new_addr, "lease-new")).moves) == []
    assert await device.connected("T1") == (True, new_addr)
    assert await device.connected("K1") == (True, old_addr)
    await device.stub.Reset(_reset("T1"))
    assert new.calls == [("T1", second)] and old.calls == []


async def test_a_reconnection_on_the_same_gateway_names_the_old_epoch(device: Device) -> None:
    """Two connections of one station racing on one gateway: it is told to close the older
    one (by its epoch), so that it never keeps the one commands no longer go to."""
    first = await device.connect("Q1", "gw1:1", "lease-1")
    await device.connect("Q1", "gw1:1", "lease-1")
    resp = await device.renew("gw1:1", "lease-1")
    assert [(m.station_id, m.epoch) for m in resp.moves] == [("Q1", first)]


async def test_a_deleted_station_is_a_move_too(device: Device) -> None:
    """Deleting a connected station tells its gateway to close it (in case the immediate
    Disconnect did not reach the gateway)."""
    epoch = await device.connect("X1", "127.0.0.1:9", "lease-1")
    await device.stub.DeleteChargingStation(pb.DeleteChargingStationRequest(id="X1"))
    resp = await device.renew("127.0.0.1:9", "lease-1")
    assert [(m.station_id, m.epoch, m.reason) for m in resp.moves] == [
        ("X1", epoch, "charging station deleted")
    ]


async def test_bad_renewals_are_refused(device: Device) -> None:
    for lease, seconds in (("", 30), ("x" * 65, 30), ("ok", -1)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await device.renew("gw1:1", lease, seconds)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_gateway_from_before_gateway_leases_still_renews_station_by_station(
    device: Device,
) -> None:
    """A ConnectStation without gateway_lease (a gateway of the previous release, during a
    rolling upgrade) gets a lease of its own, kept by RenewLeases; a gateway lease renewal of
    the same address does not keep it."""
    await device.stub.CreateChargingStation(
        pb.CreateChargingStationRequest(charging_station=pb.ChargingStation(id="OLD"))
    )
    resp = await device.stub.ConnectStation(
        pb.ConnectStationRequest(
            station_id="OLD", gateway="gw1:1", lease_seconds=1, allow_unsecured=True
        )
    )
    assert not resp.under_gateway_lease and resp.charging_station.connected
    await asyncio.sleep(1.1)
    await device.renew("gw1:1", "someone-new")
    assert await device.connected("OLD") == (False, "")
    renewed = await device.stub.RenewLeases(
        pb.RenewLeasesRequest(
            gateway="gw1:1",
            stations=[pb.StationLease(station_id="OLD", epoch=resp.epoch)],
            ttl_seconds=30,
        )
    )
    assert list(renewed.lost) == []
    assert await device.connected("OLD") == (True, "gw1:1")


def _ours(diff: list[Any]) -> Iterator[Any]:
    names = (GatewayLease.__tablename__, StationMove.__tablename__, "gateway_lease")
    return (d for d in diff if any(name in repr(d) for name in names))


async def test_the_migration_makes_the_model(migrated_db) -> None:  # type: ignore[no-untyped-def]
    """The lease tables and column the migrations make are the ones the models describe."""
    url = await asyncio.to_thread(migrated_db, "device_svc")
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    assert list(_ours(diff)) == []


async def test_leases_run_out_a_day_ago_are_forgotten_with_their_moves(migrated_db) -> None:  # type: ignore[no-untyped-def]
    """A renewal deletes the leases that ran out over FORGET_LEASES_AFTER ago and their moves
    (a dead gateway's), and nothing of a lease run out less long ago."""
    url = await asyncio.to_thread(migrated_db, "device_svc")
    engine = db.create_engine(url)
    sessions = db.session_factory(engine)
    now = db.utcnow()
    try:
        async with sessions.begin() as session:
            for lease_id, ago in (
                ("long-dead", FORGET_LEASES_AFTER * 1.1),
                ("just-dead", 0.5 * FORGET_LEASES_AFTER),
            ):
                session.add(GatewayLease(id=lease_id, address="gw:1", expires_at=now - ago))
                session.add(
                    StationMove(gateway_lease=lease_id, station_id="S", epoch=1, reason="r")
                )
        devices = Devices(sessions, heartbeat_interval=60)
        await devices.renew_gateway_lease("gw:2", "alive", 30)
        async with sessions() as session:
            leases = set((await session.scalars(select(GatewayLease.id))).all())
            moves = set((await session.scalars(select(StationMove.gateway_lease))).all())
        assert leases == {"just-dead", "alive"} and moves == {"just-dead"}
        assert datetime.timedelta(hours=1) <= FORGET_LEASES_AFTER
        await devices.drain()
    finally:
        await engine.dispose()
