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

    async def station(
        self, responder: Responder = accept, protocol: str = "ocpp2.0.1"
    ) -> tuple[str, Station]:
        """A registered station, connected and booted far enough to be held by the gateway."""
        station_id = f"CS-{uuid.uuid4().hex[:10]}"
        await self.device.CreateChargingStation(
            device_pb.CreateChargingStationRequest(
                charging_station=device_pb.ChargingStation(id=station_id, model="M1")
            )
        )
        ws = await connect(
            f"ws://127.0.0.1:{self.running.ws_port}/ocpp/{station_id}",
            subprotocols=[protocol],  # type: ignore[list-item]
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


# -- OCPP 1.6 stations: the commands as 1.6 CALLs (gateway.ocpp16.COMMANDS) ---------------------


def _answers(*payloads: dict[str, Any]) -> Responder:
    """Answer the CSMS's CALLs with these payloads in turn."""
    left = list(payloads)

    async def answer(station: Station, call: Frame) -> Frame:
        return [3, call[1], left.pop(0)]

    return answer


async def test_1_6_station_gets_the_1_6_call_and_the_caller_the_2_0_1_answer(mesh: Mesh) -> None:
    """Reset Immediate reaches a 1.6 station as Reset Hard; UnlockConnector's 1.6-only answer
    NotSupported comes back as UnlockFailed naming it; the answer as JSON is 2.0.1's."""
    station_id, station = await mesh.station(
        _answers({"status": "Accepted"}, {"status": "NotSupported"}), protocol="ocpp1.6"
    )
    result = await mesh.call(station_id, _reset())
    response = ocpp.ResetResponse()
    assert result.response.Unpack(response)
    assert response.status == ocpp.RESET_STATUS_ACCEPTED
    assert orjson.loads(result.payload_json) == {"status": "Accepted"}
    result = await mesh.call(station_id, ocpp.UnlockConnectorRequest(evse_id=2, connector_id=1))
    assert orjson.loads(result.payload_json) == {
        "status": "UnlockFailed",
        "statusInfo": {
            "reasonCode": "NotSupported",
            "additionalInfo": "the OCPP 1.6 station answered NotSupported",
        },
    }
    assert [frame[2:] for frame in station.received] == [
        ["Reset", {"type": "Hard"}],
        ["UnlockConnector", {"connectorId": 2}],
    ]


@pytest.mark.parametrize(
    ("request_201", "why"),
    [
        pytest.param(
            ocpp.GetTransactionStatusRequest(), "no OCPP 1.6 counterpart", id="no-1.6-action"
        ),
        pytest.param(
            ocpp.ResetRequest(type=ocpp.RESET_IMMEDIATE, evse_id=1), "whole station", id="evse"
        ),
        pytest.param(
            ocpp.RequestStopTransactionRequest(transaction_id="tx-1"), "integer", id="tx-id"
        ),
        pytest.param(
            ocpp.DataTransferRequest(vendor_id="v", message_id="m"),
            None,
            id="valid-control",
        ),
    ],
)
async def test_1_6_refusals_send_nothing(mesh: Mesh, request_201: Message, why: str | None) -> None:
    """A command 1.6 cannot say is FAILED_PRECONDITION, saying why; the station gets nothing.
    (The last row, a valid one, shows the station would have received what was sent.)"""
    station_id, station = await mesh.station(_answers({"status": "Accepted"}), protocol="ocpp1.6")
    if why is None:
        await mesh.call(station_id, request_201)
        assert len(station.received) == 1
        return
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.call(station_id, request_201)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert why in (caught.value.details() or "")
    assert "ocpp1.6" in (caught.value.details() or "")
    await asyncio.sleep(QUIET)
    assert station.received == []


async def test_1_6_callerror_keeps_its_1_6_code(mesh: Mesh) -> None:
    """A 1.6 station's OccurenceConstraintViolation (1.6's spelling) is INVALID_ARGUMENT with
    the code as the station spelled it."""

    async def refuse(station: Station, call: Frame) -> Frame:
        return [4, call[1], "OccurenceConstraintViolation", "no type", {}]

    station_id, _ = await mesh.station(refuse, protocol="ocpp1.6")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.call(station_id, _reset())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "OccurenceConstraintViolation"


async def test_1_6_answer_breaking_the_1_6_schema_is_unknown(mesh: Mesh) -> None:
    """A 1.6 answer with a value 1.6 lacks is the station's fault: UNKNOWN, naming 1.6."""
    station_id, _ = await mesh.station(_answers({"status": "Scheduled"}), protocol="ocpp1.6")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.call(station_id, _reset())
    assert caught.value.code() == grpc.StatusCode.UNKNOWN
    assert "OCPP 1.6 schema" in (caught.value.details() or "")


def _set(key: str, value: str) -> ocpp.SetVariableData:
    return ocpp.SetVariableData(
        component=ocpp.Component(name="OCPP16"),
        variable=ocpp.Variable(name=key),
        attribute_value=value,
    )


async def test_1_6_set_variables_is_one_change_configuration_per_key(mesh: Mesh) -> None:
    """SetVariables of two keys: two ChangeConfiguration CALLs in order, one merged answer; a
    CALLERROR on one ends the command with it (the rest is not sent)."""
    station_id, station = await mesh.station(
        _answers({"status": "Accepted"}, {"status": "RebootRequired"}), protocol="ocpp1.6"
    )
    request = ocpp.SetVariablesRequest(
        set_variable_data=[_set("HeartbeatInterval", "60"), _set("WebSocketPingInterval", "0")]
    )
    result = await mesh.call(station_id, request)
    assert [frame[2:] for frame in station.received] == [
        ["ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}],
        ["ChangeConfiguration", {"key": "WebSocketPingInterval", "value": "0"}],
    ]
    statuses = [
        r["attributeStatus"] for r in orjson.loads(result.payload_json)["setVariableResult"]
    ]
    assert statuses == ["Accepted", "RebootRequired"]

    async def refuse_first(station: Station, call: Frame) -> Frame:
        return [4, call[1], "NotSupported", "read-only", {}]

    station_id, station = await mesh.station(refuse_first, protocol="ocpp1.6")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await mesh.call(station_id, request)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    await asyncio.sleep(QUIET)
    assert len(station.received) == 1


async def test_1_6_base_report_fills_the_device_model(mesh: Mesh) -> None:
    """GetBaseReport goes as GetConfiguration of every key; the keys land in the device model as
    variables of component OCPP16 (readonly → ReadOnly) before the command returns."""
    keys = {
        "configurationKey": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
        ]
    }
    station_id, station = await mesh.station(_answers(keys), protocol="ocpp1.6")
    result = await mesh.call(
        station_id,
        ocpp.GetBaseReportRequest(
            request_id=41, report_base=ocpp.REPORT_BASE_CONFIGURATION_INVENTORY
        ),
    )
    assert orjson.loads(result.payload_json) == {"status": "Accepted"}
    assert [frame[2:] for frame in station.received] == [["GetConfiguration", {}]]
    listed = await mesh.device.ListVariables(
        device_pb.ListVariablesRequest(station_id=station_id, component="OCPP16")
    )
    got = {
        v.variable.name: [(a.value, a.mutability) for a in v.attributes] for v in listed.variables
    }
    assert got == {
        "HeartbeatInterval": [("300", ocpp.MUTABILITY_READ_WRITE)],
        "NumberOfConnectors": [("2", ocpp.MUTABILITY_READ_ONLY)],
    }
