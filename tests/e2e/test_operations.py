"""CSMS-initiated operations end to end: REST and gRPC through Envoy, to a real station and back.

Every operation goes from a management client through Envoy, device_svc and the gateway to a
WebSocket station (:mod:`tests.e2e.station_sim`), and the station's own answer comes back; so do
its CALLERRORs, its silence (504), its absence (503) and requests that break the OCPP schema
(400, nothing sent). Also what the CSMS keeps from it: the device model, the boot policy, the
local authorization list, transactions started remotely, customer information and meter values.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from websockets.asyncio.client import connect

from csms.device.v1 import device_service_pb2 as device_pb
from csms.device.v1 import device_service_pb2_grpc as device_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp
from deploy.mesh import Mesh
from tests.e2e.station_sim import Station, now

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]


# -- the operations, as a table --------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One operation: what the client sends, what the station gets, answers, and we return."""

    action: str
    body: JSON  # the REST body: the OCPP request in protobuf JSON
    sent: JSON  # what the station must receive: OCPP JSON
    reply: JSON  # what the station answers: OCPP JSON
    expected: JSON  # what the client gets back: protobuf JSON

    @property
    def verb(self) -> str:
        return self.action[0].lower() + self.action[1:]

    def __str__(self) -> str:
        return self.action


_CV = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
_TOKEN = {"idToken": "E2E-TOKEN-1", "type": "ID_TOKEN_ISO14443"}
_OCPP_TOKEN = {"idToken": "E2E-TOKEN-1", "type": "ISO14443"}

OPS = [
    Op(
        "Reset",
        {"type": "RESET_ON_IDLE", "evseId": 1},
        {"type": "OnIdle", "evseId": 1},
        {"status": "Scheduled", "statusInfo": {"reasonCode": "Busy", "additionalInfo": "later"}},
        {
            "status": "RESET_STATUS_SCHEDULED",
            "statusInfo": {"reasonCode": "Busy", "additionalInfo": "later"},
        },
    ),
    Op(
        "ChangeAvailability",
        {"operationalStatus": "OPERATIONAL_STATUS_INOPERATIVE", "evse": {"id": 1}},
        {"operationalStatus": "Inoperative", "evse": {"id": 1}},
        {"status": "Accepted"},
        {"status": "CHANGE_AVAILABILITY_STATUS_ACCEPTED"},
    ),
    Op(
        "UnlockConnector",
        {"evseId": 1, "connectorId": 2},
        {"evseId": 1, "connectorId": 2},
        {"status": "Unlocked"},
        {"status": "UNLOCK_STATUS_UNLOCKED"},
    ),
    Op(
        "TriggerMessage",
        {
            "requestedMessage": "MESSAGE_TRIGGER_STATUS_NOTIFICATION",
            "evse": {"id": 1, "connectorId": 1},
        },
        {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}},
        {"status": "Accepted"},
        {"status": "TRIGGER_MESSAGE_STATUS_ACCEPTED"},
    ),
    Op(
        "GetVariables",
        {"getVariableData": [{**_CV, "attributeType": "ATTRIBUTE_ACTUAL"}]},
        {"getVariableData": [{**_CV, "attributeType": "Actual"}]},
        {"getVariableResult": [{**_CV, "attributeStatus": "Accepted", "attributeValue": "42"}]},
        {
            "getVariableResult": [
                {**_CV, "attributeStatus": "GET_VARIABLE_STATUS_ACCEPTED", "attributeValue": "42"}
            ]
        },
    ),
    Op(
        "SetVariables",
        {"setVariableData": [{**_CV, "attributeValue": "60"}]},
        {"setVariableData": [{**_CV, "attributeValue": "60"}]},
        {"setVariableResult": [{**_CV, "attributeStatus": "RebootRequired"}]},
        {"setVariableResult": [{**_CV, "attributeStatus": "SET_VARIABLE_STATUS_REBOOT_REQUIRED"}]},
    ),
    Op(
        "GetBaseReport",
        {"requestId": 7, "reportBase": "REPORT_BASE_SUMMARY_INVENTORY"},
        {"requestId": 7, "reportBase": "SummaryInventory"},
        {"status": "Accepted"},
        {"status": "GENERIC_DEVICE_MODEL_STATUS_ACCEPTED"},
    ),
    Op(
        "GetReport",
        {
            "requestId": 8,
            "componentCriteria": ["COMPONENT_CRITERION_PROBLEM"],
            "componentVariable": [{"component": {"name": "EVSE", "evse": {"id": 1}}}],
        },
        {
            "requestId": 8,
            "componentCriteria": ["Problem"],
            "componentVariable": [{"component": {"name": "EVSE", "evse": {"id": 1}}}],
        },
        {"status": "EmptyResultSet"},
        {"status": "GENERIC_DEVICE_MODEL_STATUS_EMPTY_RESULT_SET"},
    ),
    Op(
        "RequestStartTransaction",
        {"idToken": _TOKEN, "remoteStartId": 5, "evseId": 1},
        {"idToken": _OCPP_TOKEN, "remoteStartId": 5, "evseId": 1},
        {"status": "Accepted", "transactionId": "tx-e2e"},
        {"status": "REQUEST_START_STOP_STATUS_ACCEPTED", "transactionId": "tx-e2e"},
    ),
    Op(
        "RequestStopTransaction",
        {"transactionId": "tx-e2e"},
        {"transactionId": "tx-e2e"},
        {"status": "Rejected"},
        {"status": "REQUEST_START_STOP_STATUS_REJECTED"},
    ),
    Op(
        "GetTransactionStatus",
        {"transactionId": "tx-e2e"},
        {"transactionId": "tx-e2e"},
        {"ongoingIndicator": False, "messagesInQueue": True},
        {"ongoingIndicator": False, "messagesInQueue": True},
    ),
    Op("ClearCache", {}, {}, {"status": "Accepted"}, {"status": "CLEAR_CACHE_STATUS_ACCEPTED"}),
    Op(
        "SendLocalList",
        {
            "versionNumber": 3,
            "updateType": "UPDATE_FULL",
            "localAuthorizationList": [
                {"idToken": _TOKEN, "idTokenInfo": {"status": "AUTHORIZATION_STATUS_ACCEPTED"}}
            ],
        },
        {
            "versionNumber": 3,
            "updateType": "Full",
            "localAuthorizationList": [
                {"idToken": _OCPP_TOKEN, "idTokenInfo": {"status": "Accepted"}}
            ],
        },
        {"status": "Accepted"},
        {"status": "SEND_LOCAL_LIST_STATUS_ACCEPTED"},
    ),
    Op("GetLocalListVersion", {}, {}, {"versionNumber": 12}, {"versionNumber": 12}),
    Op(
        "DataTransfer",
        {"vendorId": "com.example.e2e", "messageId": "ping", "data": {"n": 1, "s": "x"}},
        {"vendorId": "com.example.e2e", "messageId": "ping", "data": {"n": 1, "s": "x"}},
        {"status": "Accepted", "data": {"pong": [1, 2]}},
        {"status": "DATA_TRANSFER_STATUS_ACCEPTED", "data": {"pong": [1, 2]}},
    ),
    Op(
        "SetNetworkProfile",
        {
            "configurationSlot": 1,
            "connectionData": {
                "ocppVersion": "OCPP_VERSION_OCPP20",
                "ocppTransport": "OCPP_TRANSPORT_JSON",
                "ocppCsmsUrl": "ws://csms.example.com/ocpp",
                "messageTimeout": 30,
                # The station's own profile (0): an upgrade has its own tests (A05).
                "securityProfile": 0,
                "ocppInterface": "OCPP_INTERFACE_WIRED0",
            },
        },
        {
            "configurationSlot": 1,
            "connectionData": {
                "ocppVersion": "OCPP20",
                "ocppTransport": "JSON",
                "ocppCsmsUrl": "ws://csms.example.com/ocpp",
                "messageTimeout": 30,
                # The station's own profile (0): an upgrade has its own tests (A05).
                "securityProfile": 0,
                "ocppInterface": "Wired0",
            },
        },
        {"status": "Accepted"},
        {"status": "SET_NETWORK_PROFILE_STATUS_ACCEPTED"},
    ),
    Op(
        "CustomerInformation",
        {"requestId": 3, "report": True, "clear": False, "customerIdentifier": "cust-1"},
        {"requestId": 3, "report": True, "clear": False, "customerIdentifier": "cust-1"},
        {"status": "Accepted"},
        {"status": "CUSTOMER_INFORMATION_STATUS_ACCEPTED"},
    ),
]


# -- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture
async def station(ws_url: Callable[[str], str], station_id: str) -> AsyncIterator[Station]:
    """The registered station, connected and booted (Accepted); it must see no schema breach."""
    st = await Station.connect(ws_url(station_id), station_id)
    try:
        boot = await st.boot()
        assert boot["status"] == "Accepted" and boot["interval"] == 42, boot
        yield st
    finally:
        await st.close()
    assert st.violations == []


class Devices:
    """DeviceService over native gRPC through Envoy, with the operator key in metadata."""

    def __init__(self, channel: grpc.aio.Channel, key: str) -> None:
        self.stub = device_grpc.DeviceServiceStub(channel)
        self.metadata = (("authorization", f"Bearer {key}"),)

    async def command(self, action: str, station_id: str, body: JSON, deadline: float = 10) -> JSON:
        """The operation ``action`` with the request given as protobuf JSON; the answer too."""
        request = json_format.ParseDict(body, getattr(ocpp, f"{action}Request")())
        command = getattr(device_pb, f"{action}Command")(station_id=station_id, request=request)
        response = await getattr(self.stub, action)(
            command, metadata=self.metadata, timeout=deadline
        )
        return json_format.MessageToDict(response)


@pytest.fixture
async def devices(mesh: Mesh, operator_key: str) -> AsyncIterator[Devices]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh.settings.envoy_port}") as channel:
        yield Devices(channel, operator_key)


async def command(
    rest: httpx.AsyncClient, station_id: str, action: str, body: JSON, **kwargs: Any
) -> httpx.Response:
    verb = action[0].lower() + action[1:]
    return await rest.post(f"/v1/chargingStations/{station_id}:{verb}", json=body, **kwargs)


def error_info(status_details: list[JSON]) -> JSON:
    """The google.rpc.ErrorInfo among a REST error's details."""
    [info] = [d for d in status_details if d["@type"].endswith("google.rpc.ErrorInfo")]
    return info


def grpc_error_info(err: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The google.rpc.ErrorInfo in a gRPC error's grpc-status-details-bin trailer."""
    [raw] = [v for k, v in err.trailing_metadata() or () if k == "grpc-status-details-bin"]
    status = status_pb2.Status.FromString(raw)
    assert status.code == err.code().value[0]
    [detail] = status.details
    info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(info)
    return info


async def register(rest: httpx.AsyncClient, **fields: Any) -> str:
    sid = f"OP-{uuid.uuid4().hex[:12]}"
    resp = await rest.post("/v1/chargingStations", json={"id": sid, "model": "M1", **fields})
    assert resp.status_code == 200, resp.text
    return sid


# -- every operation, both ways --------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["ocpp", "protobuf-deprecated"])
@pytest.mark.parametrize("op", OPS, ids=str)
async def test_operation_over_rest(
    rest: httpx.AsyncClient, station: Station, station_id: str, op: Op, spelling: str
) -> None:
    """POST /v1/chargingStations/{id}:verb with the OCPP request as body reaches the station as
    it was sent, and answers the station's own response payload. A body in the protobuf enum
    names REST took before (deprecated) still reaches the station as the same OCPP request."""
    station.answer(op.action, op.reply)
    body = op.sent if spelling == "ocpp" else op.body
    resp = await command(rest, station_id, op.action, body)
    assert resp.status_code == 200, resp.text
    assert resp.json() == op.reply
    [got] = station.calls(op.action)
    assert got.payload == op.sent


@pytest.mark.parametrize("op", OPS, ids=str)
async def test_operation_over_grpc(
    devices: Devices, station: Station, station_id: str, op: Op
) -> None:
    """DeviceService.<Action>, native gRPC via Envoy: reaches the station, returns its answer."""
    station.answer(op.action, op.reply)
    assert await devices.command(op.action, station_id, op.body) == op.expected
    [got] = station.calls(op.action)
    assert got.payload == op.sent


# -- the error paths -------------------------------------------------------------------------


async def test_station_not_connected_is_503(
    rest: httpx.AsyncClient, devices: Devices, ws_url: Callable[[str], str], station_id: str
) -> None:
    """A registered station that is not connected (never, or any more): 503 / UNAVAILABLE."""
    resp = await command(rest, station_id, "ClearCache", {})
    assert resp.status_code == 503, resp.text
    assert resp.json()["code"] == grpc.StatusCode.UNAVAILABLE.value[0]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await devices.command("ClearCache", station_id, {})
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE

    st = await Station.connect(ws_url(station_id), station_id)
    await st.boot()
    assert (await command(rest, station_id, "ClearCache", {})).status_code == 200
    await st.close()
    for _ in range(50):
        resp = await command(rest, station_id, "ClearCache", {})
        if resp.status_code == 503:
            break
        await asyncio.sleep(0.1)
    assert resp.status_code == 503, resp.text

    unknown = await command(rest, f"NOPE-{uuid.uuid4().hex[:8]}", "ClearCache", {})
    assert unknown.status_code == 404, unknown.text


async def test_silence_is_504(
    rest: httpx.AsyncClient, devices: Devices, station: Station, station_id: str
) -> None:
    """A station that does not answer within the caller's deadline: 504 / DEADLINE_EXCEEDED."""
    station.silence("Reset")
    started = time.monotonic()
    resp = await command(
        rest, station_id, "Reset", {"type": "Immediate"}, headers={"grpc-timeout": "1S"}
    )
    assert resp.status_code == 504, resp.text
    assert resp.json()["code"] == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
    assert 0.9 < time.monotonic() - started < 5
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await devices.command("Reset", station_id, {"type": "RESET_IMMEDIATE"}, deadline=1)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert len(station.calls("Reset")) == 2
    # The turn was given back: the next call goes out and is answered.
    station.reset("Reset")
    resp = await command(rest, station_id, "Reset", {"type": "Immediate"})
    assert resp.status_code == 200 and resp.json() == {"status": "Accepted"}


async def test_late_answer_after_504_is_not_taken_for_the_next_call(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """A Reset answered after its deadline: 504; the next call gets its own answer, not that one."""
    station.answer("Reset", {"status": "Rejected"})
    station.delay("Reset", 1.5)
    resp = await command(
        rest, station_id, "Reset", {"type": "Immediate"}, headers={"grpc-timeout": "500m"}
    )
    assert resp.status_code == 504, resp.text
    # Sent while the station still works on the Reset; its late answer arrives in between.
    station.delay("GetLocalListVersion", 1.5)
    resp = await command(rest, station_id, "GetLocalListVersion", {})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"versionNumber": 0}
    [reset] = station.calls("Reset")
    assert reset.answered is not None
    assert reset.answered < station.calls("GetLocalListVersion")[0].answered  # type: ignore[operator]


async def test_station_answer_breaking_the_schema_is_500(
    rest: httpx.AsyncClient, devices: Devices, station: Station, station_id: str
) -> None:
    """A CALLRESULT that breaks the response schema is the station's fault: 500 / UNKNOWN."""
    station.answer("Reset", {"status": "Maybe"}, unchecked=True)
    resp = await command(rest, station_id, "Reset", {"type": "Immediate"})
    assert resp.status_code == 500, resp.text
    assert resp.json()["code"] == grpc.StatusCode.UNKNOWN.value[0]
    assert "ResetResponse" in resp.json()["message"]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await devices.command("Reset", station_id, {"type": "RESET_IMMEDIATE"})
    assert err.value.code() == grpc.StatusCode.UNKNOWN


@pytest.mark.parametrize(
    ("code", "http", "grpc_code"),
    [
        ("NotSupported", 501, grpc.StatusCode.UNIMPLEMENTED),
        ("PropertyConstraintViolation", 400, grpc.StatusCode.INVALID_ARGUMENT),
        ("InternalError", 500, grpc.StatusCode.UNKNOWN),
    ],
)
async def test_station_callerror_is_an_error_with_its_code(
    rest: httpx.AsyncClient,
    devices: Devices,
    station: Station,
    station_id: str,
    code: str,
    http: int,
    grpc_code: grpc.StatusCode,
) -> None:
    """The station's CALLERROR: an HTTP error / gRPC status with ErrorInfo{reason, description}."""
    station.fail("UnlockConnector", code, "connector 2 is jammed", {"motor": "stuck"})
    resp = await command(rest, station_id, "UnlockConnector", {"evseId": 1, "connectorId": 2})
    assert resp.status_code == http, resp.text
    body = resp.json()
    assert body["code"] == grpc_code.value[0]
    assert code in body["message"] and "connector 2 is jammed" in body["message"]
    info = error_info(body["details"])
    assert info["reason"] == code and info["domain"] == "ocpp"
    assert info["metadata"]["description"] == "connector 2 is jammed"
    assert info["metadata"]["details"] == '{"motor":"stuck"}'

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await devices.command("UnlockConnector", station_id, {"evseId": 1, "connectorId": 2})
    assert err.value.code() == grpc_code
    ginfo = grpc_error_info(err.value)
    assert ginfo.reason == code and ginfo.metadata["description"] == "connector 2 is jammed"


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("Reset", {}),  # type is required
        ("UnlockConnector", {"evseId": 1}),  # connectorId is required
        ("DataTransfer", {"vendorId": "v" * 256}),  # maxLength 255
        ("GetVariables", {"getVariableData": []}),  # minItems 1
    ],
    ids=["missing-type", "missing-connector", "too-long", "empty-list"],
)
async def test_request_breaking_the_schema_is_400_and_not_sent(
    rest: httpx.AsyncClient,
    devices: Devices,
    station: Station,
    station_id: str,
    action: str,
    body: JSON,
) -> None:
    """A request failing the OCPP schema: 400 / INVALID_ARGUMENT, and the station gets nothing."""
    resp = await command(rest, station_id, action, body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await devices.command(action, station_id, body)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await command(rest, station_id, "ClearCache", {})).status_code == 200
    assert [r.action for r in station.received] == ["ClearCache"]


# -- one call at a time ----------------------------------------------------------------------


async def test_one_call_at_a_time_under_concurrent_requests(
    rest: httpx.AsyncClient, devices: Devices, station: Station, station_id: str
) -> None:
    """5 concurrent requests reach the station one after another; its Heartbeats still pass."""
    station.delay("Reset", 0.3)
    station.start_heartbeats(0.05)
    started = time.monotonic()
    rest_calls = [
        command(rest, station_id, "Reset", {"type": "RESET_ON_IDLE", "evseId": i})
        for i in range(1, 4)
    ]
    grpc_calls = [
        devices.command("Reset", station_id, {"type": "RESET_ON_IDLE", "evseId": i})
        for i in range(4, 6)
    ]
    results = await asyncio.gather(*rest_calls, *grpc_calls)
    elapsed = time.monotonic() - started
    for resp in results[:3]:
        assert resp.status_code == 200, resp.text  # type: ignore[union-attr]
    assert results[3:] == [{"status": "RESET_STATUS_ACCEPTED"}] * 2
    resets = station.calls("Reset")
    assert sorted(r.payload["evseId"] for r in resets) == [1, 2, 3, 4, 5]
    station.assert_one_at_a_time()
    assert elapsed >= 5 * 0.3
    # The station's own CALLs were answered all along, not held behind ours.
    first, last = resets[0].arrived, resets[-1].answered
    assert last is not None
    during = [
        answered for sent, answered in station.heartbeats if first <= sent and answered < last
    ]
    assert len(during) >= 5, station.heartbeats


# -- transactions started remotely -----------------------------------------------------------


def _tx_event(kind: str, seq: int, tx_id: str, trigger: str, **info: Any) -> JSON:
    event: JSON = {
        "eventType": kind,
        "timestamp": now(),
        "triggerReason": trigger,
        "seqNo": seq,
        "transactionInfo": {"transactionId": tx_id, **info},
    }
    return event


async def test_remote_start_is_found_by_remote_start_id_and_stopped(
    rest: httpx.AsyncClient, devices: Devices, station: Station, station_id: str
) -> None:
    """RequestStartTransaction → the station starts it → listed by remoteStartId; then stopped."""
    token = f"RS{uuid.uuid4().hex[:8]}".upper()
    resp = await rest.post("/v1/idTokens", json={"idToken": token, "type": "ISO14443"})
    assert resp.status_code == 200, resp.text
    remote_start_id = random.randrange(1, 2**31)
    tx_id = f"tx-{uuid.uuid4().hex[:10]}"
    resp = await command(
        rest,
        station_id,
        "RequestStartTransaction",
        {
            "idToken": {"idToken": token, "type": "ISO14443"},
            "remoteStartId": remote_start_id,
            "evseId": 1,
        },
    )
    assert resp.status_code == 200 and resp.json() == {"status": "Accepted"}, resp.text
    started = _tx_event("Started", 0, tx_id, "RemoteStart", remoteStartId=remote_start_id)
    started.update(idToken={"idToken": token, "type": "ISO14443"}, evse={"id": 1, "connectorId": 1})
    answer = await station.call("TransactionEvent", started)
    assert answer["idTokenInfo"]["status"] == "Accepted"

    listed = await rest.get("/v1/transactions", params={"remoteStartId": remote_start_id})
    assert listed.status_code == 200, listed.text
    [tx] = listed.json()["transactions"]
    assert tx["id"] == tx_id and tx["stationId"] == station_id
    assert tx["remoteStartId"] == remote_start_id and tx["active"] is True
    other = await rest.get("/v1/transactions", params={"remoteStartId": remote_start_id ^ 1})
    assert other.json().get("transactions", []) == []

    station.answer("GetTransactionStatus", {"ongoingIndicator": True, "messagesInQueue": False})
    status = await devices.command("GetTransactionStatus", station_id, {"transactionId": tx_id})
    assert status == {"ongoingIndicator": True, "messagesInQueue": False}

    resp = await command(rest, station_id, "RequestStopTransaction", {"transactionId": tx_id})
    assert resp.status_code == 200, resp.text
    assert station.calls("RequestStopTransaction")[0].payload == {"transactionId": tx_id}
    await station.call(
        "TransactionEvent", _tx_event("Ended", 1, tx_id, "RemoteStop", stoppedReason="Remote")
    )
    got = (await rest.get(f"/v1/transactions/{tx_id}")).json()
    assert not got.get("active") and got["stoppedReason"] == "Remote"
    assert got["remoteStartId"] == remote_start_id


async def test_remote_start_of_a_transaction_begun_by_plugging_in(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """Cable first (Started without remoteStartId), then RequestStartTransaction: found by it."""
    tx_id = f"tx-{uuid.uuid4().hex[:10]}"
    started = _tx_event("Started", 0, tx_id, "CablePluggedIn", chargingState="EVConnected")
    started["evse"] = {"id": 1, "connectorId": 1}
    await station.call("TransactionEvent", started)
    remote_start_id = random.randrange(1, 2**31)
    resp = await command(
        rest,
        station_id,
        "RequestStartTransaction",
        {"idToken": _OCPP_TOKEN, "remoteStartId": remote_start_id, "evseId": 1},
    )
    assert resp.status_code == 200, resp.text
    updated = _tx_event(
        "Updated", 1, tx_id, "RemoteStart", remoteStartId=remote_start_id, chargingState="Charging"
    )
    updated["idToken"] = {"idToken": _TOKEN["idToken"], "type": "ISO14443"}
    await station.call("TransactionEvent", updated)
    listed = await rest.get("/v1/transactions", params={"remoteStartId": remote_start_id})
    assert [t["id"] for t in listed.json().get("transactions", [])] == [tx_id], listed.text


# -- the local authorization list through user_svc -------------------------------------------


async def test_local_list_sync_end_to_end(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """localList:sync asks the version, sends a Full list, then only the difference."""
    first = f"LL{uuid.uuid4().hex[:8]}".upper()
    await rest.post("/v1/idTokens", json={"idToken": first, "type": "ISO14443"})
    resp = await rest.post(f"/v1/chargingStations/{station_id}/localList:sync", json={})
    assert resp.status_code == 200, resp.text
    synced = resp.json()
    assert synced["updateType"] == "Full" and synced["version"] >= 1
    assert synced["stationResponse"] == {"status": "Accepted"}
    # The list holds every id token of the mesh, which the suite's tests share: past 100 (the
    # entries per message), a Full update of the first 100 and Differential ones of the rest.
    actions = [r.action for r in station.received]
    assert actions[0] == "GetLocalListVersion" and set(actions[1:]) == {"SendLocalList"}
    sends = [c.payload for c in station.calls("SendLocalList")]
    assert [s["updateType"] for s in sends] == ["Full"] + ["Differential"] * (len(sends) - 1)
    assert all(len(s["localAuthorizationList"]) <= 100 for s in sends)
    assert sends[-1]["versionNumber"] == synced["version"]
    assert first in station.local_list
    assert station.local_list[first]["idTokenInfo"]["status"] == "Accepted"
    assert synced["entries"] == len(station.local_list)

    kept = (await rest.get(f"/v1/chargingStations/{station_id}/localList")).json()
    assert kept["version"] == synced["version"]
    assert first in {e["idToken"]["idToken"] for e in kept["entries"]}

    second = f"LL{uuid.uuid4().hex[:8]}".upper()
    await rest.post("/v1/idTokens", json={"idToken": second, "type": "ISO14443"})
    resp = await rest.post(f"/v1/chargingStations/{station_id}/localList:sync", json={})
    assert resp.status_code == 200, resp.text
    diff = resp.json()
    assert diff["updateType"] == "Differential" and diff["entries"] == 1
    assert diff["version"] == synced["version"] + 1
    sent = station.calls("SendLocalList")[len(sends)].payload
    assert sent["updateType"] == "Differential"
    assert [e["idToken"]["idToken"] for e in sent["localAuthorizationList"]] == [second]
    assert station.local_list_version == diff["version"]

    # The station lost its list: GetLocalListVersion tells, and the next sync is Full again.
    station.local_list_version, station.local_list = 0, {}
    resp = await rest.post(f"/v1/chargingStations/{station_id}/localList:sync", json={})
    assert resp.status_code == 200, resp.text
    assert resp.json()["updateType"] == "Full"
    assert {first, second} <= set(station.local_list)


# -- station-initiated messages the operations come with -------------------------------------


async def test_station_data_transfer_is_unknown_vendor(station: Station) -> None:
    """The station's own DataTransfer: the CSMS implements no vendor extension (UnknownVendorId)."""
    answer = await station.call(
        "DataTransfer", {"vendorId": "com.example.e2e", "messageId": "hello", "data": [1, "x"]}
    )
    assert answer["status"] == "UnknownVendorId"


async def test_customer_information_and_its_notifications(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """CustomerInformation, then the station's NotifyCustomerInformation parts, listed by REST."""
    request_id = random.randrange(1, 2**31)
    resp = await command(
        rest,
        station_id,
        "CustomerInformation",
        {"requestId": request_id, "report": True, "clear": False, "idToken": _OCPP_TOKEN},
    )
    assert resp.status_code == 200, resp.text
    assert station.calls("CustomerInformation")[0].payload["idToken"] == _OCPP_TOKEN
    stamp = "2026-01-02T03:04:05Z"
    for seq, (data, tbc) in enumerate([("part one;", True), ("part two.", False)]):
        await station.call(
            "NotifyCustomerInformation",
            {"data": data, "tbc": tbc, "seqNo": seq, "generatedAt": stamp, "requestId": request_id},
        )
    await station.call(
        "NotifyCustomerInformation",
        {"data": "other", "seqNo": 0, "generatedAt": stamp, "requestId": request_id + 1},
    )
    url = f"/v1/chargingStations/{station_id}/customerInformation"
    parts = (await rest.get(url, params={"requestId": request_id})).json()["parts"]
    assert [(p.get("seqNo", 0), p["data"], p.get("tbc", False)) for p in parts] == [
        (0, "part one;", True),
        (1, "part two.", False),
    ]
    assert all(p["requestId"] == request_id and p["generatedAt"] == stamp for p in parts)
    every = (await rest.get(url)).json()["parts"]
    assert len(every) == 3


async def test_meter_values_outside_transactions(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """MeterValues of the main meter and of an EVSE are stored and listed by REST."""
    for evse_id, wh in [(0, 1000.5), (1, 250.0)]:
        await station.call(
            "MeterValues",
            {
                "evseId": evse_id,
                "meterValue": [
                    {
                        "timestamp": now(),
                        "sampledValue": [
                            {"value": wh, "measurand": "Energy.Active.Import.Register"}
                        ],
                    }
                ],
            },
        )
    url = f"/v1/chargingStations/{station_id}/meterValues"
    every = (await rest.get(url)).json()["meterValues"]
    assert sorted(m.get("evseId", 0) for m in every) == [0, 1]
    assert all(m["stationId"] == station_id for m in every)
    [one] = (await rest.get(url, params={"evseId": 1})).json()["meterValues"]
    assert one["meterValues"][0]["sampledValue"][0]["value"] == 250.0


# -- the device model ------------------------------------------------------------------------


def _report_item(component: JSON, variable: str, value: str, mutability: str) -> JSON:
    return {
        "component": component,
        "variable": {"name": variable},
        "variableAttribute": [
            {"type": "Actual", "value": value, "mutability": mutability, "persistent": True}
        ],
        "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": False, "unit": "s"}
        if variable.endswith("Interval")
        else {"dataType": "string", "supportsMonitoring": True},
    }


async def test_device_model_from_multipart_report(
    rest: httpx.AsyncClient, devices: Devices, station: Station, station_id: str
) -> None:
    """GetBaseReport, a two-part NotifyReport (tbc), the variables by REST; Set/Get update them."""
    request_id = random.randrange(1, 2**31)
    resp = await command(
        rest,
        station_id,
        "GetBaseReport",
        {"requestId": request_id, "reportBase": "FullInventory"},
    )
    assert resp.status_code == 200, resp.text
    comm = {"name": "OCPPCommCtrlr"}
    evse = {"name": "EVSE", "evse": {"id": 1}}

    def comm_var(name: str) -> JSON:
        return {"component": comm, "variable": {"name": name}}

    parts = [
        [
            _report_item(comm, "HeartbeatInterval", "300", "ReadWrite"),
            _report_item(comm, "MessageTimeout", "30", "ReadOnly"),
        ],
        [_report_item(evse, "AvailabilityState", "Available", "ReadOnly")],
    ]
    for seq, items in enumerate(parts):
        await station.call(
            "NotifyReport",
            {
                "requestId": request_id,
                "generatedAt": now(),
                "seqNo": seq,
                "tbc": seq < len(parts) - 1,
                "reportData": items,
            },
        )

    url = f"/v1/chargingStations/{station_id}/variables"

    async def variables(**params: str) -> list[JSON]:
        resp = await rest.get(url, params=params)
        assert resp.status_code == 200, resp.text
        return resp.json().get("variables", [])  # type: ignore[no-any-return]

    every = await variables()
    assert sorted((v["component"]["name"], v["variable"]["name"]) for v in every) == [
        ("EVSE", "AvailabilityState"),
        ("OCPPCommCtrlr", "HeartbeatInterval"),
        ("OCPPCommCtrlr", "MessageTimeout"),
    ]
    assert len(await variables(component="OCPPCommCtrlr")) == 2
    [hb] = await variables(component="OCPPCommCtrlr", variable="HeartbeatInterval")
    assert hb["attributes"] == [
        {
            "type": "Actual",
            "value": "300",
            "mutability": "ReadWrite",
            "persistent": True,
        }
    ]
    assert hb["characteristics"]["dataType"] == "integer"
    assert hb["characteristics"]["unit"] == "s"
    [avail] = await variables(component="EVSE")
    assert avail["component"]["evse"] == {"id": 1}

    # SetVariables: what the station accepted is now its value.
    resp = await command(
        rest,
        station_id,
        "SetVariables",
        {"setVariableData": [{**_CV, "attributeValue": "60"}]},
    )
    assert resp.status_code == 200, resp.text
    assert station.variables[("OCPPCommCtrlr", "HeartbeatInterval", "Actual")] == "60"
    [hb] = await variables(component="OCPPCommCtrlr", variable="HeartbeatInterval")
    assert hb["attributes"][0]["value"] == "60"
    assert hb["attributes"][0]["mutability"] == "ReadWrite"

    # A value the station rejected is not taken; one of an EVSE's component updates that one.
    station.answer(
        "SetVariables",
        lambda req: {
            "setVariableResult": [
                {
                    "component": d["component"],
                    "variable": d["variable"],
                    "attributeStatus": "Rejected"
                    if d["variable"]["name"] == "MessageTimeout"
                    else "Accepted",
                }
                for d in req["setVariableData"]
            ]
        },
    )
    resp = await command(
        rest,
        station_id,
        "SetVariables",
        {
            "setVariableData": [
                {**comm_var("MessageTimeout"), "attributeValue": "99"},
                {
                    "component": evse,
                    "variable": {"name": "AvailabilityState"},
                    "attributeValue": "Unavailable",
                },
            ]
        },
    )
    assert resp.status_code == 200, resp.text
    [timeout] = await variables(component="OCPPCommCtrlr", variable="MessageTimeout")
    assert timeout["attributes"][0]["value"] == "30"
    [avail] = await variables(component="EVSE")
    assert avail["component"]["evse"] == {"id": 1}
    assert avail["attributes"][0]["value"] == "Unavailable"
    station.reset("SetVariables")

    # Pages.
    page = (await rest.get(url, params={"pageSize": 2})).json()
    assert len(page["variables"]) == 2 and page["nextPageToken"]
    rest_page = (
        await rest.get(url, params={"pageSize": 2, "pageToken": page["nextPageToken"]})
    ).json()
    assert len(rest_page["variables"]) == 1 and not rest_page.get("nextPageToken")

    # GetVariables results refresh it (here over gRPC).
    station.variables[("OCPPCommCtrlr", "HeartbeatInterval", "Actual")] = "90"
    got = await devices.command("GetVariables", station_id, {"getVariableData": [_CV]})
    assert got["getVariableResult"][0]["attributeValue"] == "90"
    [hb] = await variables(component="OCPPCommCtrlr", variable="HeartbeatInterval")
    assert hb["attributes"][0]["value"] == "90"


# -- the boot policy -------------------------------------------------------------------------


async def test_pending_station_is_accepted_by_rest(
    rest: httpx.AsyncClient, ws_url: Callable[[str], str]
) -> None:
    """Pending at boot; provisioned while Pending; :accept → TriggerMessage(Boot) → Accepted."""
    sid = await register(rest, registrationStatus="Pending")
    st = await Station.connect(ws_url(sid), sid)
    try:
        boot = await st.boot()
        assert boot["status"] == "Pending", boot
        got = (await rest.get(f"/v1/chargingStations/{sid}")).json()
        assert got["registrationStatus"] == "Pending"
        # While Pending, the CSMS may provision it.
        resp = await command(
            rest, sid, "SetVariables", {"setVariableData": [{**_CV, "attributeValue": "120"}]}
        )
        assert resp.status_code == 200, resp.text

        resp = await rest.post(f"/v1/chargingStations/{sid}:accept", json={})
        assert resp.status_code == 200, resp.text
        assert resp.json()["registrationStatus"] == "Accepted"
        trigger = await st.wait_for("TriggerMessage")
        assert trigger.payload == {"requestedMessage": "BootNotification"}
        await st.wait_answered(trigger)
        boot = await st.boot("Triggered")
        assert boot["status"] == "Accepted", boot
        assert st.violations == []
    finally:
        await st.close()


async def test_pending_station_accepted_while_away_boots_accepted(
    rest: httpx.AsyncClient, ws_url: Callable[[str], str]
) -> None:
    """:accept of a station that is not connected: nothing to trigger, its next boot Accepted."""
    sid = await register(rest, registrationStatus="Pending")
    resp = await rest.post(f"/v1/chargingStations/{sid}:accept", json={})
    assert resp.status_code == 200, resp.text
    st = await Station.connect(ws_url(sid), sid)
    try:
        assert (await st.boot())["status"] == "Accepted"
        await asyncio.sleep(0.3)
        assert st.calls() == [] and st.violations == []
    finally:
        await st.close()


async def test_pending_station_is_accepted_after_its_base_report(
    rest: httpx.AsyncClient, ws_url: Callable[[str], str]
) -> None:
    """The automatic rule: Pending boot → GetBaseReport → complete NotifyReport → accepted."""
    sid = await register(rest, registrationStatus="Pending", acceptAfterBaseReport=True)
    st = await Station.connect(ws_url(sid), sid)
    try:
        assert (await st.boot())["status"] == "Pending"
        report = await st.wait_for("GetBaseReport")
        assert report.payload["reportBase"] == "FullInventory"
        await st.wait_answered(report)
        for seq in (0, 1):
            await st.call(
                "NotifyReport",
                {
                    "requestId": report.payload["requestId"],
                    "generatedAt": now(),
                    "seqNo": seq,
                    "tbc": seq == 0,
                    "reportData": [
                        _report_item({"name": "OCPPCommCtrlr"}, f"V{seq}", "1", "ReadOnly")
                    ],
                },
            )
        trigger = await st.wait_for("TriggerMessage")
        assert trigger.payload == {"requestedMessage": "BootNotification"}
        await st.wait_answered(trigger)
        assert (await st.boot("Triggered"))["status"] == "Accepted"
        got = (await rest.get(f"/v1/chargingStations/{sid}")).json()
        assert got["registrationStatus"] == "Accepted"
        assert st.violations == []
    finally:
        await st.close()


# -- security: the CSMS's own password rotation (A01), profile upgrades (A05) ------------------

PASSWORD = "e2e-operations-password-0"


def _network_profile(security_profile: int) -> JSON:
    """A SetNetworkProfileRequest moving the station to ``security_profile``."""
    return {
        "configurationSlot": 2,
        "connectionData": {
            "ocppVersion": "OCPP20",
            "ocppTransport": "JSON",
            "ocppCsmsUrl": "wss://csms.example.com/ocpp",
            "messageTimeout": 30,
            "securityProfile": security_profile,
            "ocppInterface": "Wired0",
        },
    }


async def connect_as(url: str, station_id: str, password: str) -> Station:
    """The station connected with HTTP Basic auth (security profile 1), booted Accepted."""
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    ws = await connect(
        url,
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Basic {token}"},
        open_timeout=10,
        proxy=None,
    )
    st = Station(station_id, ws)
    boot = await st.boot()
    assert boot["status"] == "Accepted", boot
    return st


async def test_update_basic_auth_password_over_rest_and_grpc(
    rest: httpx.AsyncClient, devices: Devices, ws_url: Callable[[str], str]
) -> None:
    """:updateBasicAuthPassword sends a new password the operator never sees; Accepted makes it
    the station's (its reconnect with it gets in), a Rejected one over gRPC changes nothing."""
    sid = await register(rest, securityProfile=1, basicAuthPassword=PASSWORD)
    st = await connect_as(ws_url(sid), sid, PASSWORD)
    try:
        resp = await rest.post(f"/v1/chargingStations/{sid}:updateBasicAuthPassword", json={})
        assert resp.status_code == 200, resp.text
        [sent] = st.calls("SetVariables")
        [data] = sent.payload["setVariableData"]
        assert (data["component"], data["variable"]) == (
            {"name": "SecurityCtrlr"},
            {"name": "BasicAuthPassword"},
        )
        new_password = data["attributeValue"]
        assert len(new_password) == 40 and new_password not in resp.text
        assert sent.reply is not None
        assert resp.json() == {
            "status": "Accepted",
            "passwordChanged": True,
            "passwordPending": False,
            "setVariablesResponse": sent.reply[2],
        }
        assert (
            "BasicAuthPassword"
            not in (await rest.get(f"/v1/chargingStations/{sid}/variables")).text
        )

        st.answer(
            "SetVariables",
            lambda request: {
                "setVariableResult": [
                    {
                        "component": d["component"],
                        "variable": d["variable"],
                        "attributeStatus": "Rejected",
                    }
                    for d in request["setVariableData"]
                ]
            },
        )
        answer = await devices.stub.UpdateBasicAuthPassword(
            device_pb.UpdateBasicAuthPasswordRequest(station_id=sid),
            metadata=devices.metadata,
            timeout=10,
        )
        assert answer.status == ocpp.SET_VARIABLE_STATUS_REJECTED
        assert answer.password_changed is False
        assert answer.set_variables_response.set_variable_result[0].attribute_status == (
            ocpp.SET_VARIABLE_STATUS_REJECTED
        )
        assert st.violations == []
    finally:
        await st.close()
    again = await connect_as(ws_url(sid), sid, new_password)
    await again.close()


async def test_update_basic_auth_password_refusals(
    rest: httpx.AsyncClient, reader_key: str, station: Station, station_id: str
) -> None:
    """Profile 0: 400 FAILED_PRECONDITION, nothing sent; a profile-1 station not connected: 503;
    an unknown one: 404; a reader key: 403."""
    resp = await rest.post(f"/v1/chargingStations/{station_id}:updateBasicAuthPassword", json={})
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert "security profile 0" in resp.json()["message"]
    assert station.calls("SetVariables") == []

    away = await register(rest, securityProfile=1, basicAuthPassword=PASSWORD)
    resp = await rest.post(f"/v1/chargingStations/{away}:updateBasicAuthPassword", json={})
    assert resp.status_code == 503, resp.text
    unknown = f"NOPE-{uuid.uuid4().hex[:8]}"
    resp = await rest.post(f"/v1/chargingStations/{unknown}:updateBasicAuthPassword", json={})
    assert resp.status_code == 404, resp.text
    resp = await rest.post(
        f"/v1/chargingStations/{away}:updateBasicAuthPassword",
        json={},
        headers={"authorization": f"Bearer {reader_key}"},
    )
    assert resp.status_code == 403, resp.text


async def test_an_accepted_upgrade_is_pending_until_the_station_connects_under_it(
    rest: httpx.AsyncClient, ws_url: Callable[[str], str]
) -> None:
    """A05: SetNetworkProfile to profile 2 Accepted shows pendingSecurityProfile 2; the station
    still gets in under profile 1 (plain ws) meanwhile; setting the profile drops the pending
    one. (Its connection under profile 2 is TC_A_19, tests/e2e/octt.)"""
    sid = await register(rest, securityProfile=1, basicAuthPassword=PASSWORD)
    st = await connect_as(ws_url(sid), sid, PASSWORD)
    try:
        resp = await command(rest, sid, "SetNetworkProfile", _network_profile(2))
        assert resp.status_code == 200 and resp.json() == {"status": "Accepted"}, resp.text
    finally:
        await st.close()
    got = (await rest.get(f"/v1/chargingStations/{sid}")).json()
    assert (got["securityProfile"], got["pendingSecurityProfile"]) == (1, 2)

    st = await connect_as(ws_url(sid), sid, PASSWORD)
    try:
        got = (await rest.get(f"/v1/chargingStations/{sid}")).json()
        assert (got["securityProfile"], got["pendingSecurityProfile"]) == (1, 2)
        # A rejected upgrade records nothing (the pending one stays as it was).
        st.answer("SetNetworkProfile", {"status": "Rejected"})
        resp = await command(rest, sid, "SetNetworkProfile", _network_profile(3))
        assert resp.status_code == 200 and resp.json() == {"status": "Rejected"}, resp.text
        got = (await rest.get(f"/v1/chargingStations/{sid}")).json()
        assert got["pendingSecurityProfile"] == 2
        assert st.violations == []
    finally:
        await st.close()

    resp = await rest.patch(
        f"/v1/chargingStations/{sid}",
        params={"updateMask": "securityProfile"},
        json={"securityProfile": 1},
    )
    assert resp.status_code == 200, resp.text
    assert "pendingSecurityProfile" not in resp.json()


async def test_an_upgrade_to_basic_auth_without_a_password_is_400_and_not_sent(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """Profile 0 without a password to profile 1: the CSMS could never let it in, so the
    SetNetworkProfile is refused (400 FAILED_PRECONDITION) and never reaches the station."""
    resp = await command(rest, station_id, "SetNetworkProfile", _network_profile(1))
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert station.calls("SetNetworkProfile") == []
    got = (await rest.get(f"/v1/chargingStations/{station_id}")).json()
    assert "pendingSecurityProfile" not in got
