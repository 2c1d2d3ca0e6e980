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
    """RenewGatewayLease and RenewLeases that record their requests and answer what the test
    queued (per RPC)."""

    def __init__(self) -> None:
        self.requests: list[device_pb.RenewLeasesRequest] = []
        self.answers: list[device_pb.RenewLeasesResponse | grpc.StatusCode] = []
        self.gateway_requests: list[device_pb.RenewGatewayLeaseRequest] = []
        self.gateway_answers: list[device_pb.RenewGatewayLeaseResponse | grpc.StatusCode] = []

    async def RenewLeases(self, request: Any, **options: Any) -> Any:  # noqa: N802
        self.requests.append(request)
        return _answer(self.answers.pop(0))

    async def RenewGatewayLease(self, request: Any, **options: Any) -> Any:  # noqa: N802
        self.gateway_requests.append(request)
        if not self.gateway_answers:
            return device_pb.RenewGatewayLeaseResponse()
        return _answer(self.gateway_answers.pop(0))


def _answer(answer: Any) -> Any:
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


def _move(move_id: int, station_id: str, epoch: int) -> device_pb.StationMove:
    return device_pb.StationMove(
        id=move_id, station_id=station_id, epoch=epoch, reason="connected to another gateway"
    )


async def test_renewal_is_one_request_whatever_the_stations_held(
    gateway: Gateway, device: FakeDevice
) -> None:
    """The gateway's lease is renewed by one request naming no station, however many it holds;
    nothing goes station by station."""
    for i in range(500):
        gateway.connections[f"CS{i}"] = FakeStation(i)  # type: ignore[assignment]
    await gateway.renew_leases()
    [request] = device.gateway_requests
    assert request.gateway == "10.0.0.5:50060" and request.ttl_seconds == 30
    assert request.gateway_lease == gateway.lease_id and len(gateway.lease_id) == 32
    assert request.ByteSize() < 100
    assert device.requests == []


async def test_each_gateway_is_an_incarnation_of_its_own(device: FakeDevice) -> None:
    """A restarted gateway (a new Gateway) renews another lease than its predecessor."""
    settings = Settings(grpc_listen="10.0.0.5:50060", lease_seconds=30)
    router: Any = SimpleNamespace(device=device, bound={})
    assert Gateway(settings, router).lease_id != Gateway(settings, router).lease_id


async def test_renewal_closes_moved_connections_and_acknowledges_them(
    gateway: Gateway, device: FakeDevice
) -> None:
    """Moves close the connection of their epoch only (a station back here under a newer one
    stays), and are acknowledged at the next renewal, not before, and then once."""
    kept, moved, back = FakeStation(3), FakeStation(9), FakeStation(5)
    gateway.connections.update({"CS1": kept, "CS2": moved, "CS3": back})  # type: ignore[dict-item]
    device.gateway_answers.append(
        device_pb.RenewGatewayLeaseResponse(
            moves=[_move(11, "CS2", 9), _move(12, "CS3", 4), _move(13, "GONE", 1)]
        )
    )
    await gateway.renew_leases()
    assert list(device.gateway_requests[0].acknowledged) == []
    assert moved.closed_because == "connected to another gateway"
    assert kept.closed_because is None and back.closed_because is None
    await gateway.renew_leases()
    assert list(device.gateway_requests[1].acknowledged) == [11, 12, 13]
    await gateway.renew_leases()
    assert list(device.gateway_requests[2].acknowledged) == []


async def test_acknowledgements_survive_a_failed_renewal(
    gateway: Gateway, device: FakeDevice
) -> None:
    """A renewal that fails (device_svc down) has forgotten nothing: the next one acknowledges
    the same moves."""
    device.gateway_answers += [
        device_pb.RenewGatewayLeaseResponse(moves=[_move(1, "X", 1)]),
        grpc.StatusCode.UNAVAILABLE,
    ]
    for _ in range(3):
        await gateway.renew_leases()
    assert [list(r.acknowledged) for r in device.gateway_requests] == [[], [1], [1]]


async def test_more_moves_are_fetched_at_once(gateway: Gateway, device: FakeDevice) -> None:
    """An answer saying more moves wait is followed at once by another renewal."""
    first, second = FakeStation(1), FakeStation(2)
    gateway.connections.update({"A": first, "B": second})  # type: ignore[dict-item]
    device.gateway_answers += [
        device_pb.RenewGatewayLeaseResponse(moves=[_move(1, "A", 1)], more=True),
        device_pb.RenewGatewayLeaseResponse(moves=[_move(2, "B", 2)]),
    ]
    await gateway.renew_leases()
    assert [list(r.acknowledged) for r in device.gateway_requests] == [[], [1]]
    assert first.closed_because and second.closed_because


async def test_connections_under_leases_of_their_own_are_renewed_one_by_one(
    gateway: Gateway, device: FakeDevice
) -> None:
    """Connections a device_svc from before gateway leases took (own_leases) are renewed with
    RenewLeases, only they; those listed as lost are closed."""
    kept, lost, ours = FakeStation(3), FakeStation(9), FakeStation(4)
    gateway.connections.update({"CS1": kept, "CS2": lost, "CS3": ours})  # type: ignore[dict-item]
    gateway.own_leases.update({"CS1": 3, "CS2": 9})
    device.answers.append(device_pb.RenewLeasesResponse(lost=["CS2"]))
    await gateway.renew_leases()
    [request] = device.requests
    assert request.gateway == "10.0.0.5:50060" and request.ttl_seconds == 30
    assert {(s.station_id, s.epoch) for s in request.stations} == {("CS1", 3), ("CS2", 9)}
    assert kept.closed_because is None and ours.closed_because is None
    assert lost.closed_because == "connected to another gateway"


async def test_renewal_does_not_close_a_newer_connection(
    gateway: Gateway, device: FakeDevice
) -> None:
    """A station that reconnected here while the per-station renewal was under way is left
    alone."""
    old, new = FakeStation(1), FakeStation(2)
    gateway.connections["CS1"] = old  # type: ignore[assignment]
    gateway.own_leases["CS1"] = 1

    async def renew(request: Any, **options: Any) -> Any:
        gateway.connections["CS1"] = new  # type: ignore[assignment]
        return device_pb.RenewLeasesResponse(lost=["CS1"])

    device.RenewLeases = renew  # type: ignore[method-assign]
    await gateway.renew_leases()
    assert old.closed_because is None and new.closed_because is None


async def test_without_gateway_leases_every_connection_is_renewed_by_itself(
    gateway: Gateway, device: FakeDevice, caplog: pytest.LogCaptureFixture
) -> None:
    """device_svc without RenewGatewayLease (a rolling upgrade): every held connection goes in
    RenewLeases, said once in the log."""
    station = FakeStation(1)
    gateway.connections["CS1"] = station  # type: ignore[assignment]
    device.gateway_answers += [grpc.StatusCode.UNIMPLEMENTED] * 2
    device.answers += [device_pb.RenewLeasesResponse()] * 2
    with caplog.at_level(logging.DEBUG, logger="gateway.server"):
        for _ in range(2):
            await gateway.renew_leases()
    assert [[s.station_id for s in r.stations] for r in device.requests] == [["CS1"]] * 2
    assert caplog.text.count("no gateway leases") == 1


async def test_renewal_tolerates_unavailable_and_unimplemented(
    gateway: Gateway, device: FakeDevice, caplog: pytest.LogCaptureFixture
) -> None:
    """device_svc down or without either renewal: logged, nothing closed, next tick tries
    again."""
    station = FakeStation(1)
    gateway.connections["CS1"] = station  # type: ignore[assignment]
    device.gateway_answers += [grpc.StatusCode.UNAVAILABLE] + [grpc.StatusCode.UNIMPLEMENTED] * 3
    device.answers += [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.UNIMPLEMENTED,
    ]
    with caplog.at_level(logging.DEBUG, logger="gateway.server"):
        for _ in range(4):
            await gateway.renew_leases()
    assert len(device.gateway_requests) == 4 and len(device.requests) == 3
    assert station.closed_because is None
    assert caplog.text.count("lease renewal failed") == 2
    assert caplog.text.count("does not implement RenewLeases") == 1


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


class FakeWebSocket:
    """Just what Gateway.handler touches of a connection it closes at once."""

    def __init__(self, admitted: Any) -> None:
        self.admitted = admitted
        self.request = None
        self.response = None
        self.closed: tuple[int, str] | None = None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)


async def test_an_older_connection_arriving_late_is_closed_not_installed(
    gateway: Gateway,
) -> None:
    """Two handshakes of one station raced and the newer epoch got in first: the older one is
    closed at once and the newer one stays held (commands go to the newer epoch)."""
    from gateway.server import _Admitted

    newer = FakeStation(8, "CS1")
    gateway.connections["CS1"] = newer  # type: ignore[assignment]
    disconnected: list[tuple[str, int]] = []

    async def record(station_id: str, epoch: int) -> None:
        disconnected.append((station_id, epoch))

    gateway._disconnected = record  # type: ignore[method-assign]
    late = FakeWebSocket(_Admitted("CS1", 7, "ocpp2.0.1", 0))
    await gateway.handler(late)  # type: ignore[arg-type]
    assert late.closed == (1000, "replaced by a newer connection")
    assert gateway.connections["CS1"] is newer and newer.closed_because is None
    assert disconnected == [("CS1", 7)]
