"""Integration fixtures: real gRPC servers on port 0 over real databases."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from common.grpc_server import Server
from csms.device.v1 import device_service_pb2_grpc
from csms.gateway.v1 import station_control_pb2_grpc
from csms.transaction.v1 import transaction_service_pb2_grpc
from csms.user.v1 import user_service_pb2_grpc
from deploy.mesh import free_port
from device_svc import server as device_server
from device_svc.settings import Settings as DeviceSettings
from gateway import server as gateway_server
from gateway.settings import Settings as GatewaySettings
from transaction_svc import server as transaction_server
from transaction_svc.settings import Settings as TransactionSettings
from user_svc import server as user_server
from user_svc.settings import Settings as UserSettings


@pytest.fixture
async def device_stub(migrated_db) -> AsyncIterator[device_service_pb2_grpc.DeviceServiceStub]:  # type: ignore[no-untyped-def]
    url = await asyncio.to_thread(migrated_db, "device_svc")
    server, engine = await device_server.start(
        DeviceSettings(grpc_listen="127.0.0.1:0", database_url=url, heartbeat_interval=60)
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield device_service_pb2_grpc.DeviceServiceStub(channel)
    await server.stop(1)
    await engine.dispose()


# Appended with user_stub (the file is shared; hoist these into the import block when tidying).
# Appended with transaction_stub (hoist these into the import block when tidying).


TransactionStub = transaction_service_pb2_grpc.TransactionServiceStub


@pytest.fixture
async def start_transaction_svc(  # type: ignore[no-untyped-def]
    migrated_db,
) -> AsyncIterator[Callable[..., Awaitable[TransactionStub]]]:
    """A factory: ``await start_transaction_svc(user_svc_addr=...)`` gives a fresh one's stub."""
    running: list[tuple[Server, Callable[[], Awaitable[None]]]] = []
    channels: list[grpc.aio.Channel] = []

    async def start(**settings: object) -> TransactionStub:
        url = await asyncio.to_thread(migrated_db, "transaction_svc")
        server, close = await transaction_server.start(
            TransactionSettings(grpc_listen="127.0.0.1:0", database_url=url, **settings)
        )
        running.append((server, close))
        channels.append(grpc.aio.insecure_channel(f"127.0.0.1:{server.port}"))
        return TransactionStub(channels[-1])

    yield start
    for channel in channels:
        await channel.close()
    for server, close in running:
        await server.stop(1)
        await close()


@pytest.fixture
async def transaction_stub(start_transaction_svc, user_svc_addr) -> TransactionStub:  # type: ignore[no-untyped-def]
    """transaction_svc over a real database, asking the real user_svc at ``user_svc_addr``."""
    return await start_transaction_svc(user_svc_addr=user_svc_addr)


# Appended with start_user_svc: user_svc.server.start now returns (server, close) like
# transaction_svc's (close also closes its device_svc channel), so user_stub and user_svc_addr
# are redefined here on top of it; delete the two definitions above when tidying.
UserStub = user_service_pb2_grpc.UserServiceStub


@pytest.fixture
async def start_user_svc(  # type: ignore[no-untyped-def]
    migrated_db,
) -> AsyncIterator[Callable[..., Awaitable[tuple[str, UserStub]]]]:
    """A factory: ``await start_user_svc(device_svc_addr=...)`` gives a fresh one's address and
    stub."""
    running: list[tuple[Server, Callable[[], Awaitable[None]]]] = []
    channels: list[grpc.aio.Channel] = []

    async def start(**settings: object) -> tuple[str, UserStub]:
        url = await asyncio.to_thread(migrated_db, "user_svc")
        server, close = await user_server.start(
            UserSettings(grpc_listen="127.0.0.1:0", database_url=url, **settings)
        )
        running.append((server, close))
        addr = f"127.0.0.1:{server.port}"
        channels.append(grpc.aio.insecure_channel(addr))
        return addr, UserStub(channels[-1])

    yield start
    for channel in channels:
        await channel.close()
    for server, close in running:
        await server.stop(1)
        await close()


@pytest.fixture
async def user_stub(start_user_svc) -> UserStub:  # type: ignore[no-untyped-def]
    """user_svc over a real database, with device_svc at its default address."""
    _, stub = await start_user_svc()
    return stub


@pytest.fixture
async def user_svc_addr(start_user_svc) -> str:  # type: ignore[no-untyped-def]
    """host:port of a real user_svc, for the services that call it (transaction_svc)."""
    addr, _ = await start_user_svc()
    return addr


# Appended with start_device_svc (hoist these into the import block when tidying).

DeviceStub = device_service_pb2_grpc.DeviceServiceStub


@pytest.fixture
async def start_device_svc(  # type: ignore[no-untyped-def]
    migrated_db, tmp_path
) -> AsyncIterator[Callable[..., Awaitable[DeviceStub]]]:
    """A factory: ``await start_device_svc(boot_followup_delay=0.05)`` gives a fresh one's stub."""
    running: list[tuple[device_server.DeviceServer, AsyncEngine]] = []
    channels: list[grpc.aio.Channel] = []

    async def start(**settings: object) -> DeviceStub:
        url = await asyncio.to_thread(migrated_db, "device_svc")
        settings.setdefault("heartbeat_interval", 60)
        # The Plug & Charge test PKI (made on first use) in the test's directory, not in var/.
        settings.setdefault("pnc_dir", str(tmp_path / "pnc"))
        server, engine = await device_server.start(
            DeviceSettings(grpc_listen="127.0.0.1:0", database_url=url, **settings)
        )
        running.append((server, engine))
        channels.append(grpc.aio.insecure_channel(f"127.0.0.1:{server.port}"))
        return DeviceStub(channels[-1])

    yield start
    for channel in channels:
        await channel.close()
    for server, engine in running:
        await server.stop(1)
        await engine.dispose()


class _CommitFails:
    """An engine whose transactions roll back and raise where they would commit."""

    def __init__(self, real: AsyncEngine) -> None:
        self.real = real

    def begin(self):  # type: ignore[no-untyped-def]
        real = self.real.begin()

        class Transaction:
            async def __aenter__(self):  # type: ignore[no-untyped-def]
                return await real.__aenter__()

            async def __aexit__(self, *exc_info: object) -> None:
                failure = RuntimeError("commit failed")
                await real.__aexit__(RuntimeError, failure, None)  # rolls back
                raise failure

        return Transaction()


@pytest.fixture
def commit_fails() -> type[_CommitFails]:
    """Wraps an engine so that every commit fails (after rolling back): ``commit_fails(engine)``."""
    return _CommitFails


GatewayOnDevice = tuple[
    gateway_server.Running,
    device_service_pb2_grpc.DeviceServiceStub,
    station_control_pb2_grpc.StationControlServiceStub,
]


@pytest.fixture
def gateway_on_device_svc(  # type: ignore[no-untyped-def]
    migrated_db,
) -> Callable[..., contextlib.AbstractAsyncContextManager[GatewayOnDevice]]:
    """A factory: ``async with gateway_on_device_svc(**gateway_settings) as (running, device,
    control)`` gives a real device_svc and a real gateway in-process (WebSocket and
    StationControlService; transaction_svc and user_svc absent), its stations without
    credentials (security profile 0); everything is stopped on leaving."""

    @contextlib.asynccontextmanager
    async def start(**gateway: Any) -> AsyncIterator[GatewayOnDevice]:
        url = await asyncio.to_thread(migrated_db, "device_svc")
        device, engine = await device_server.start(
            DeviceSettings(grpc_listen="127.0.0.1:0", database_url=url, heartbeat_interval=60)
        )
        unused = f"127.0.0.1:{free_port()}"  # transaction_svc and user_svc: not needed here
        running = await gateway_server.start(
            GatewaySettings(
                **{
                    "host": "127.0.0.1",
                    "port": free_port(),
                    "grpc_listen": "127.0.0.1:0",
                    "device_svc_addr": f"127.0.0.1:{device.port}",
                    "transaction_svc_addr": unused,
                    "user_svc_addr": unused,
                    "allow_unsecured_stations": True,
                    **gateway,
                }
            )
        )
        try:
            async with (
                grpc.aio.insecure_channel(f"127.0.0.1:{device.port}") as device_channel,
                grpc.aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as control_channel,
            ):
                yield (
                    running,
                    device_service_pb2_grpc.DeviceServiceStub(device_channel),
                    station_control_pb2_grpc.StationControlServiceStub(control_channel),
                )
        finally:
            await running.stop(1)
            await device.stop(1)
            await engine.dispose()

    return start


# What a step does to a SQLite database, told by SQLite's own query planner.
SqlitePlans = Callable[[str, str, Callable[[Any], Awaitable[Any]]], Awaitable[list[list[str]]]]


@pytest.fixture
def sqlite_plans(tmp_path, monkeypatch) -> SqlitePlans:  # type: ignore[no-untyped-def]
    """``await sqlite_plans(package, verb, step)``: a fresh migrated SQLite database of the
    service ``package``; ``step(conn)`` runs in one transaction on it, and the result is the
    query plan (EXPLAIN QUERY PLAN's details) of each statement beginning with ``verb`` that
    the step executed. Statements are caught where every one of them goes to the driver's
    thread (common.sqlite_driver's one trip), SQLAlchemy's and common.prepared's alike; of an
    executemany, its first parameters are explained."""
    from common import db, sqlite_driver

    executed: list[tuple[str, Any]] = []
    one_trip = sqlite_driver.Connection.one_trip

    async def _capture(self, operation, parameters, many=False):  # type: ignore[no-untyped-def]
        executed.append((operation, tuple(parameters[0] if many else parameters or ())))
        return await one_trip(self, operation, parameters, many)

    monkeypatch.setattr(sqlite_driver.Connection, "one_trip", _capture)

    async def plans(
        package: str, verb: str, step: Callable[[Any], Awaitable[Any]]
    ) -> list[list[str]]:
        url = f"sqlite+aiosqlite:///{tmp_path / package}.sqlite"
        await asyncio.to_thread(db.migrate, package, url)
        engine = db.create_engine(url)
        executed.clear()
        try:
            async with engine.begin() as conn:
                await step(conn)
                found = [(s, p) for s, p in executed if s.lstrip().upper().startswith(verb)]
                assert found, f"the step executed no {verb}"
                result = []
                for statement, parameters in found:
                    rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                    result.append([row[-1] for row in rows])
                return result
        finally:
            await engine.dispose()

    return plans
