"""Tests for gateway.server: lease renewal and the advertised address."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import grpc
import pytest

from csms.device.v1 import device_service_pb2 as device_pb
from gateway.server import Gateway, advertised_address
from gateway.settings import Settings


class RpcError(grpc.aio.AioRpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=code.name)


class FakeDevice:
    """RenewLeases that records its requests and answers what the test queued."""

    def __init__(self) -> None:
        self.requests: list[device_pb.RenewLeasesRequest] = []
        self.answers: list[device_pb.RenewLeasesResponse | grpc.StatusCode] = []

    async def RenewLeases(self, request: Any, **options: Any) -> Any:  # noqa: N802
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, grpc.StatusCode):
            raise RpcError(answer)
        return answer


class FakeStation:
    def __init__(self, epoch: int, station_id: str = "CS") -> None:
        self.epoch = epoch
        self.station_id = station_id
        self.closed_because: str | None = None

    async def close(self, reason: str) -> None:
        self.closed_because = reason


@pytest.fixture
def device() -> FakeDevice:
    return FakeDevice()


@pytest.fixture
def gateway(device: FakeDevice) -> Gateway:
    settings = Settings(grpc_listen="10.0.0.5:50060", lease_seconds=30)
    return Gateway(settings, SimpleNamespace(device=device, bound={}))  # type: ignore[arg-type]


async def test_renewal_sends_every_held_lease_and_closes_the_lost(
    gateway: Gateway, device: FakeDevice
) -> None:
    """Every held (station, epoch) is renewed; stations listed as lost are closed."""
    kept, lost = FakeStation(3), FakeStation(9)
    gateway.connections.update({"CS1": kept, "CS2": lost})  # type: ignore[dict-item]
    device.answers.append(device_pb.RenewLeasesResponse(lost=["CS2"]))
    await gateway.renew_leases()
    [request] = device.requests
    assert request.gateway == "10.0.0.5:50060" and request.ttl_seconds == 30
    assert {(s.station_id, s.epoch) for s in request.stations} == {("CS1", 3), ("CS2", 9)}
    assert kept.closed_because is None
    assert lost.closed_because == "connected to another gateway"


async def test_renewal_does_not_close_a_newer_connection(
    gateway: Gateway, device: FakeDevice
) -> None:
    """A station that reconnected here while the renewal was under way is left alone."""
    old, new = FakeStation(1), FakeStation(2)
    gateway.connections["CS1"] = old  # type: ignore[assignment]

    async def renew(request: Any, **options: Any) -> Any:
        gateway.connections["CS1"] = new  # type: ignore[assignment]
        return device_pb.RenewLeasesResponse(lost=["CS1"])

    device.RenewLeases = renew  # type: ignore[method-assign]
    await gateway.renew_leases()
    assert old.closed_because is None and new.closed_because is None


async def test_renewal_tolerates_unavailable_and_unimplemented(
    gateway: Gateway, device: FakeDevice, caplog: pytest.LogCaptureFixture
) -> None:
    """device_svc down or without RenewLeases: logged, nothing closed, next tick tries again."""
    station = FakeStation(1)
    gateway.connections["CS1"] = station  # type: ignore[assignment]
    device.answers += [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.UNIMPLEMENTED,
        device_pb.RenewLeasesResponse(),
    ]
    with caplog.at_level(logging.DEBUG, logger="gateway.server"):
        for _ in range(4):
            await gateway.renew_leases()
    assert len(device.requests) == 4 and station.closed_because is None
    assert "lease renewal failed" in caplog.text
    assert caplog.text.count("does not implement RenewLeases") == 1


async def test_no_connections_no_renewal(gateway: Gateway, device: FakeDevice) -> None:
    """A gateway holding no station sends nothing."""
    await gateway.renew_leases()
    assert device.requests == []


def test_advertised_address() -> None:
    """advertise_addr wins; else grpc_listen with the port the server really bound."""
    assert advertised_address(Settings(grpc_listen="127.0.0.1:0"), 41234) == "127.0.0.1:41234"
    assert advertised_address(Settings(grpc_listen="[::1]:0"), 7) == "[::1]:7"
    settings = Settings(grpc_listen="0.0.0.0:50060", advertise_addr="10.1.2.3:50060")
    assert advertised_address(settings, 50060) == "10.1.2.3:50060"
