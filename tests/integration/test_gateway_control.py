"""StationControlService on a real gateway, with a real device_svc and a real WebSocket station."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import orjson
import pytest
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from websockets.asyncio.client import ClientConnection, connect

from common import errors
from csms.device.v1 import device_service_pb2 as device_pb
from csms.device.v1 import device_service_pb2_grpc as device_grpc
from csms.gateway.v1 import station_control_pb2 as pb
from csms.gateway.v1 import station_control_pb2_grpc as pb_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp
from gateway import server as gateway_server

CALL_TIMEOUT = 2.0
QUIET = 0.3  # seconds of silence that show nothing was sent

Frame = list[Any]
Responder = Callable[["Station", Frame], Awaitable[Frame | None]]


async def accept(station: Station, call: Frame) -> Frame:
    """Answer any CSMS call with a schema-valid {"status": "Accepted"} after a moment."""
    await asyncio.sleep(0.02)
    return [3, call[1], {"status": "Accepted"}]


class Station:
    """A station on a real WebSocket: answers CSMS CALLs through ``responder``, sends its own."""

    def __init__(self, ws: ClientConnection, responder: Responder) -> None:
        self.ws = ws
        self.responder = responder
        self.received: list[Frame] = []
        self.outstanding = 0
        self.max_outstanding = 0
        self._answers: dict[str, asyncio.Future[Frame]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = orjson.loads(raw)
            if frame[0] == 2:
                self.received.append(frame)
                self.outstanding += 1
                self.max_outstanding = max(self.max_outstanding, self.outstanding)
                task = asyncio.create_task(self._answer(frame))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                self._answers.pop(frame[1]).set_result(frame)

    async def _answer(self, call: Frame) -> None:
        reply = await self.responder(self, call)
        if reply is not None:
            self.outstanding -= 1
            await self.ws.send(orjson.dumps(reply).decode())

    async def call(self, action: str, payload: dict[str, Any]) -> Frame:
        """Send the station's own CALL and return the CSMS's answer frame."""
        message_id = uuid.uuid4().hex
        future = asyncio.get_running_loop().create_future()
        self._answers[message_id] = future
        await self.ws.send(orjson.dumps([2, message_id, action, payload]).decode())
        return await asyncio.wait_for(future, 5)

    async def close(self) -> None:
        self._reader.cancel()
        for task in self._tasks:
            task.cancel()
        await self.ws.close()


class Mesh:
    """A real device_svc and a real gateway (WebSocket + StationControlService) in-process."""

    def __init__(
        self,
        running: gateway_server.Running,
        control: pb_grpc.StationControlServiceStub,
        device: device_grpc.DeviceServiceStub,
    ) -> None:
        self.running = running
        self.control = control
        self.device = device
        self.stations: list[Station] = []

    async def station(self, responder: Responder = accept) -> tuple[str, Station]:
        """A registered station, connected and booted far enough to be held by the gateway."""
        station_id = f"CS-{uuid.uuid4().hex[:10]}"
        await self.device.CreateChargingStation(
            device_pb.CreateChargingStationRequest(
                charging_station=device_pb.ChargingStation(id=station_id, model="M1")
            )
        )
        ws = await connect(
            f"ws://127.0.0.1:{self.running.ws_port}/ocpp/{station_id}",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        )
        station = Station(ws, responder)
        self.stations.append(station)
        # An answered Heartbeat shows the gateway's handler holds the connection.
        assert (await station.call("Heartbeat", {}))[0] == 3
        return station_id, station

    async def call(
        self, station_id: str, request: Message, *, epoch: int = 0, deadline: float | None = 10
    ) -> pb.StationCallResult:
        packed = any_pb2.Any()
        packed.Pack(request)
        return await self.control.Call(
            pb.StationCall(station_id=station_id, epoch=epoch, request=packed), timeout=deadline
        )


@pytest.fixture
async def mesh(gateway_on_device_svc) -> AsyncIterator[Mesh]:  # type: ignore[no-untyped-def]
    async with gateway_on_device_svc(call_timeout=CALL_TIMEOUT, lease_seconds=3) as (
        running,
        device,
        control,
    ):
        mesh = Mesh(running, control, device)
        try:
            yield mesh
        finally:
            for station in mesh.stations:
                await station.close()


def _reset() -> ocpp.ResetRequest:
    return ocpp.ResetRequest(type=ocpp.RESET_IMMEDIATE)


async def test_call_returns_the_station_reply(mesh: Mesh) -> None:
    """A typed Reset reaches the station as OCPP JSON; its CALLRESULT comes back typed."""
    station_id, station = await mesh.station()
    result = await mesh.call(station_id, _reset())
    response = ocpp.ResetResponse()
    assert result.response.Unpack(response)
    assert response.status == ocpp.RESET_STATUS_ACCEPTED
    [frame] = station.received
    assert frame[0] == 2 and frame[2:] == ["Reset", {"type": "Immediate"}]
    assert 0 < len(frame[1]) <= 36


@pytest.mark.parametrize(
    ("ocpp_code", "grpc_code"),
    [
        ("NotSupported", grpc.StatusCode.UNIMPLEMENTED),
        ("SecurityError", grpc.StatusCode.PERMISSION_DENIED),
        ("GenericError", grpc.StatusCode.UNKNOWN),
    ],
)
async def test_callerror_becomes_status_with_error_info(
    mesh: Mesh, ocpp_code: str, grpc_code: grpc.StatusCode
) -> None:
    """A CALLERROR is the mapped status with an ErrorInfo carrying the OCPP code and details."""

    async def refuse(station: Station, call: Frame) -> Frame:
        return [4, call[1], ocpp_code, "not today", {"retryAfter": 30}]

    station_id, _ = await mesh.station(refuse)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.call(station_id, _reset())
    assert caught.value.code() == grpc_code == errors.grpc_status_of_callerror(ocpp_code)
    assert ocpp_code in (caught.value.details() or "")
    status = rpc_status.from_call(caught.value)
    assert status is not None and status.code == grpc_code.value[0]
    [detail] = status.details
    info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(info)
    assert info.reason == ocpp_code and info.domain == errors.OCPP_ERROR_DOMAIN
    assert info.metadata["description"] == "not today"
    assert orjson.loads(info.metadata["details"]) == {"retryAfter": 30}


async def test_schema_invalid_request_is_refused_and_nothing_sent(mesh: Mesh) -> None:
    """A request breaking its OCPP schema is INVALID_ARGUMENT and never reaches the station."""
    station_id, station = await mesh.station()
    too_long = ocpp.DataTransferRequest(vendor_id="v" * 256)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.call(station_id, too_long)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "vendorId" in (caught.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.call(station_id, ocpp.ResetRequest())  # type is required
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await asyncio.sleep(QUIET)
    assert station.received == []


async def test_not_an_ocpp_request_is_invalid_argument(mesh: Mesh) -> None:
    """An Any holding something else than a csms.ocpp.v201.<Action>Request is refused."""
    station_id, station = await mesh.station()
    for wrong in (ocpp.ResetResponse(status=ocpp.RESET_STATUS_ACCEPTED), pb.StationCall()):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await mesh.call(station_id, wrong)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert station.received == []


async def test_schema_invalid_reply_is_unknown(mesh: Mesh) -> None:
    """A station's CALLRESULT that breaks the response schema is UNKNOWN, with a clear message."""

    async def garble(station: Station, call: Frame) -> Frame:
        return [3, call[1], {"status": "Perhaps"}]

    station_id, _ = await mesh.station(garble)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.call(station_id, _reset())
    assert caught.value.code() == grpc.StatusCode.UNKNOWN
    assert "ResetResponse breaks the OCPP 2.0.1 schema" in (caught.value.details() or "")


async def test_no_answer_is_deadline_exceeded(mesh: Mesh) -> None:
    """A silent station: the caller's deadline, else call_timeout, ends in DEADLINE_EXCEEDED."""

    async def silence(station: Station, call: Frame) -> None:
        return None

    station_id, station = await mesh.station(silence)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.call(station_id, _reset(), deadline=0.5)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.call(station_id, _reset(), deadline=None)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert CALL_TIMEOUT - 0.2 < time.monotonic() - started < CALL_TIMEOUT + 2
    assert len(station.received) == 2  # the first call's turn ended with its deadline


async def test_not_connected_or_other_epoch_is_unavailable(mesh: Mesh) -> None:
    """An unknown or disconnected station, or a stale epoch, is UNAVAILABLE; nothing is sent."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.call("CS-nowhere", _reset())
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    station_id, station = await mesh.station()
    epoch = mesh.running.gateway.connections[station_id].epoch
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.call(station_id, _reset(), epoch=epoch + 1)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert station.received == []
    await mesh.call(station_id, _reset(), epoch=epoch)
    await station.close()
    for _ in range(250):  # the gateway notices the close
        if station_id not in mesh.running.gateway.connections:
            break
        await asyncio.sleep(0.02)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.call(station_id, _reset())
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_concurrent_calls_reach_the_station_one_at_a_time(mesh: Mesh) -> None:
    """5 concurrent Calls: never two outstanding, while the station's own Heartbeats go on."""
    heartbeats: list[Frame] = []

    async def heartbeat_then_accept(station: Station, call: Frame) -> Frame:
        # The station makes a CALL of its own while it owes us an answer: with one lock shared
        # by both directions this would deadlock.
        heartbeats.append(await station.call("Heartbeat", {}))
        return await accept(station, call)

    station_id, station = await mesh.station(heartbeat_then_accept)
    results = await asyncio.gather(
        *(
            mesh.call(
                station_id,
                ocpp.TriggerMessageRequest(
                    requested_message=ocpp.MESSAGE_TRIGGER_HEARTBEAT,
                    evse=ocpp.EVSE(id=i + 1),
                ),
            )
            for i in range(5)
        )
    )
    for result in results:
        response = ocpp.TriggerMessageResponse()
        assert result.response.Unpack(response)
        assert response.status == ocpp.TRIGGER_MESSAGE_STATUS_ACCEPTED
    assert station.max_outstanding == 1
    assert sorted(frame[3]["evse"]["id"] for frame in station.received) == [1, 2, 3, 4, 5]
    assert len({frame[1] for frame in station.received}) == 5
    assert len(heartbeats) == 5 and all(frame[0] == 3 for frame in heartbeats)
