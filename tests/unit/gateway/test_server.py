"""Tests for gateway.server: lease renewal, the advertised address, NotSupported warnings, the
subprotocol negotiated."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from websockets.datastructures import Headers

from csms.device.v1 import device_service_pb2 as device_pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from gateway import ocppj
from gateway.connection import StationConnection
from gateway.routes import Bound
from gateway.server import Gateway, advertised_address, negotiated
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


# -- NotSupported -----------------------------------------------------------------------------


def _connection(station_id: str) -> StationConnection:
    """A connection as the gateway holds it (no WebSocket needed to refuse a CALL)."""
    return StationConnection(None, station_id, 1, _no_dispatch)  # type: ignore[arg-type]


async def _no_dispatch(call: ocppj.Call) -> str:
    raise AssertionError("not dispatched")


def _not_supported_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "NotSupported" in r.getMessage()
    ]


async def test_not_supported_is_a_warning_once_per_station_and_action(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """A CALL the CSMS does not handle is refused every time, but logged at WARNING only the
    first time per connection and action; a new connection of the station warns again."""
    gateway.connections.update({"CS1": _connection("CS1"), "CS2": _connection("CS2")})
    sent = [
        ("CS1", "NotifyEvent"),
        ("CS1", "NotifyEvent"),
        ("CS1", "ReportChargingProfiles"),
        ("CS2", "NotifyEvent"),
        ("CS1", "NotifyEvent"),
        ("CS2", "NotifyEvent"),
    ]
    with caplog.at_level(logging.DEBUG, logger="gateway.server"):
        for i, (station_id, action) in enumerate(sent):
            frame = await gateway._call(station_id, ocppj.Call(str(i), action, {}))
            assert json.loads(frame)[:3] == [4, str(i), "NotSupported"]
    warned = _not_supported_warnings(caplog)
    assert len(warned) == 3
    assert [("NotifyEvent" in m, "ReportChargingProfiles" in m) for m in warned] == [
        (True, False),
        (False, True),
        (True, False),
    ]
    gateway.connections["CS1"] = _connection("CS1")  # the station reconnected
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="gateway.server"):
        await gateway._call("CS1", ocppj.Call("9", "NotifyEvent", {}))
    assert len(_not_supported_warnings(caplog)) == 1


async def test_a_service_without_the_rpc_is_not_supported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A service answering UNIMPLEMENTED is the same NotSupported: one WARNING per action."""

    async def unimplemented(request: Any, **options: Any) -> Any:
        raise RpcError(grpc.StatusCode.UNIMPLEMENTED)

    bound = Bound(ocpp.NotifyReportRequest, "device", device_pb.NotifyReportCall, rpc=unimplemented)
    router = SimpleNamespace(device=FakeDevice(), bound={"NotifyReport": bound})
    gateway = Gateway(Settings(), router)  # type: ignore[arg-type]
    gateway.connections["CS1"] = _connection("CS1")
    payload = {"requestId": 1, "generatedAt": "2026-01-01T00:00:00Z", "seqNo": 0}
    with caplog.at_level(logging.DEBUG, logger="gateway.server"):
        for i in range(3):
            frame = await gateway._call("CS1", ocppj.Call(str(i), "NotifyReport", payload))
            assert json.loads(frame)[2] == "NotSupported"
    assert len(_not_supported_warnings(caplog)) == 1


def test_refusals_are_remembered_per_action_only() -> None:
    """The memory a connection keeps: nothing until a refusal, then one entry per action."""
    station = _connection("CS1")
    assert station.first_refusal("NotifyEvent") and not station.first_refusal("NotifyEvent")
    assert station.first_refusal("NotifyMonitoringReport")
    assert station.refused == {"NotifyEvent", "NotifyMonitoringReport"}
    assert _connection("CS2").refused == frozenset()


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        (["ocpp2.0.1"], "ocpp2.0.1"),
        (["ocpp1.6"], "ocpp1.6"),
        (["ocpp1.6, ocpp2.0.1"], "ocpp2.0.1"),  # 2.0.1 preferred, whatever the client's order
        (["ocpp1.6", "ocpp2.0.1"], "ocpp2.0.1"),
        (["ocpp2.0", "ocpp1.5"], None),
        ([], None),
    ],
)
def test_negotiated_prefers_2_0_1(offered: list[str], expected: str | None) -> None:
    """The subprotocol a station gets: 2.0.1 when offered, else 1.6, else none (400)."""
    headers = Headers([("Sec-WebSocket-Protocol", value) for value in offered])
    assert negotiated(headers) == expected
