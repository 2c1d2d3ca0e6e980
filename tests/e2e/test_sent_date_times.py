"""What stations receive follows OCPP to the letter: every date-time in every frame the gateway
sends (its answers and the CSMS's own CALLs) is UTC with ``Z`` and at most three fraction digits
(OCPP 2.0.1 Part 2), found through the official JSON schema of each payload. And a transaction
started by RequestStartTransaction shows the idToken the CSMS sent when the station leaves it out.

A real mesh (Envoy, gateway, services) and a real WebSocket station; the CSMS is driven over the
services' own gRPC ports, the values given with nanoseconds so that nothing arrives cut already.
"""

from __future__ import annotations

import importlib.resources
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import orjson
import pytest
from google.protobuf import timestamp_pb2

from common.ocpp_json import to_proto
from csms.device.v1 import device_service_pb2 as device_pb
from csms.device.v1 import device_service_pb2_grpc as device_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as tx_pb
from csms.transaction.v1 import transaction_service_pb2_grpc as tx_grpc
from csms.user.v1 import user_service_pb2 as user_pb
from csms.user.v1 import user_service_pb2_grpc as user_grpc
from deploy.mesh import Mesh

from .station_sim import Station, now

pytestmark = pytest.mark.e2e

# What OCPP 2.0.1 Part 2 lets the CSMS send: UTC, at most three decimal places.
OCPP_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z")
_SCHEMAS = importlib.resources.files("ocpp").joinpath("v201", "schemas")
# 2030-01-01T00:00:00Z and nine fraction digits: what each date-time given to the CSMS carries.
FUTURE = timestamp_pb2.Timestamp(seconds=1_893_456_000, nanos=123_456_789)
FUTURE_JSON = "2030-01-01T00:00:00.123456789Z"


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = orjson.loads(_SCHEMAS.joinpath(f"{name}.json").read_bytes())
    return schema


def date_times(
    schema: dict[str, Any], node: dict[str, Any], value: Any, path: str
) -> Iterator[tuple[str, Any]]:
    """(path, value) of every value at a ``format: date-time`` position of ``schema``; indices
    left out of the paths."""
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    if node.get("format") == "date-time":
        yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            sub = node.get("properties", {}).get(key)
            if sub is not None:
                yield from date_times(schema, sub, item, f"{path}.{key}" if path else key)
    elif isinstance(value, list) and "items" in node:
        for item in value:
            yield from date_times(schema, node["items"], item, f"{path}[]")


def frame_date_times(station: Station) -> Iterator[tuple[str, str, Any]]:
    """(payload, path, value) of every date-time in every frame the station received."""
    for frame in station.frames:
        if frame[0] == 2:  # the CSMS's CALL
            name, payload = f"{frame[2]}Request", frame[3]
        elif frame[0] == 3:  # its answer to ours
            name, payload = f"{station.sent_actions[frame[1]]}Response", frame[2]
        else:  # a CALLERROR carries no date-time
            continue
        schema = _schema(name)
        for path, value in date_times(schema, schema, payload, ""):
            yield name, path, value


@pytest.fixture
async def grpc_services(mesh: Mesh) -> AsyncIterator[tuple[Any, Any, Any]]:
    """Stubs of device_svc, user_svc and transaction_svc on their own ports."""
    s = mesh.settings
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{s.device_port}") as device,
        grpc.aio.insecure_channel(f"127.0.0.1:{s.user_port}") as user,
        grpc.aio.insecure_channel(f"127.0.0.1:{s.transaction_port}") as transaction,
    ):
        yield (
            device_grpc.DeviceServiceStub(device),
            user_grpc.UserServiceStub(user),
            tx_grpc.TransactionServiceStub(transaction),
        )


def _start_request(
    token: dict[str, str], remote_start_id: int
) -> ocpp.RequestStartTransactionRequest:
    """A RequestStartTransaction with a charging profile: three date-times of the CSMS's."""
    message = to_proto(
        ocpp.RequestStartTransactionRequest,
        {
            "idToken": token,
            "remoteStartId": remote_start_id,
            "evseId": 1,
            "chargingProfile": {
                "id": remote_start_id,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxProfile",
                "chargingProfileKind": "Absolute",
                "validFrom": "2020-01-01T00:00:00.987654321Z",
                "validTo": FUTURE_JSON,
                "chargingSchedule": [
                    {
                        "id": 1,
                        "startSchedule": "2026-01-01T00:00:00.000999999Z",
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
                    }
                ],
            },
        },
    )
    assert isinstance(message, ocpp.RequestStartTransactionRequest)
    return message


async def test_every_date_time_sent_has_at_most_three_fraction_digits(
    mesh: Mesh, ws_url: Any, grpc_services: tuple[Any, Any, Any]
) -> None:
    """Boot, Heartbeat, StatusNotification, Authorize, TransactionEvent, then the CSMS's own
    SendLocalList and RequestStartTransaction: every date-time the station receives is UTC with
    at most three fraction digits; and the remotely started transaction whose Started event
    (sent before the station answers) omits the idToken shows the one the CSMS sent."""
    device, users, transactions = grpc_services
    station_id = f"CS-{uuid.uuid4().hex[:12]}"
    await device.CreateChargingStation(
        device_pb.CreateChargingStationRequest(
            charging_station=device_pb.ChargingStation(id=station_id, model="M1")
        )
    )
    card = {"idToken": f"TAG-{uuid.uuid4().hex[:8]}", "type": "ISO14443"}
    await users.CreateIdToken(
        user_pb.CreateIdTokenRequest(
            id_token=user_pb.IdToken(
                id_token=card["idToken"],
                type=ocpp.ID_TOKEN_ISO14443,
                status=ocpp.AUTHORIZATION_STATUS_ACCEPTED,
                expiry_date=FUTURE,
            )
        )
    )
    station = await Station.connect(ws_url(station_id), station_id)
    try:
        assert (await station.boot())["status"] == "Accepted"
        await station.heartbeat()
        await station.call(
            "StatusNotification",
            {"timestamp": now(), "connectorStatus": "Available", "evseId": 1, "connectorId": 1},
        )
        await station.call("Authorize", {"idToken": card})
        await station.call(
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": now(),
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": f"{station_id}-local"},
                "idToken": card,
                "evse": {"id": 1, "connectorId": 1},
            },
        )
        await users.SyncLocalList(user_pb.SyncLocalListRequest(station_id=station_id, full=True))

        # The station starts the transaction (without the idToken) before it answers.
        remote_tx = f"{station_id}-remote"

        async def start_first(request: dict[str, Any]) -> dict[str, Any]:
            await station.call(
                "TransactionEvent",
                {
                    "eventType": "Started",
                    "timestamp": now(),
                    "triggerReason": "RemoteStart",
                    "seqNo": 0,
                    "transactionInfo": {
                        "transactionId": remote_tx,
                        "remoteStartId": request["remoteStartId"],
                    },
                    "evse": {"id": 1, "connectorId": 1},
                },
            )
            return {"status": "Accepted"}

        station.answer("RequestStartTransaction", start_first)
        app = {"idToken": f"APP-{uuid.uuid4().hex[:8]}", "type": "Central"}
        answer = await device.RequestStartTransaction(
            device_pb.RequestStartTransactionCommand(
                station_id=station_id, request=_start_request(app, 4242)
            ),
            timeout=15,
        )
        assert answer.status == ocpp.REQUEST_START_STOP_STATUS_ACCEPTED
        assert station.violations == []
    finally:
        await station.close()

    checked: dict[tuple[str, str], list[Any]] = {}
    for name, path, value in frame_date_times(station):
        checked.setdefault((name, path), []).append(value)
    wrong = {k: v for k, v in checked.items() if not all(OCPP_DATE_TIME.fullmatch(x) for x in v)}
    assert wrong == {}
    # Every kind of date-time the scenario makes the CSMS send was seen, cut where it had more.
    assert set(checked) >= {
        ("BootNotificationResponse", "currentTime"),
        ("HeartbeatResponse", "currentTime"),
        ("AuthorizeResponse", "idTokenInfo.cacheExpiryDateTime"),
        ("TransactionEventResponse", "idTokenInfo.cacheExpiryDateTime"),
        ("SendLocalListRequest", "localAuthorizationList[].idTokenInfo.cacheExpiryDateTime"),
        ("RequestStartTransactionRequest", "chargingProfile.validFrom"),
        ("RequestStartTransactionRequest", "chargingProfile.validTo"),
        ("RequestStartTransactionRequest", "chargingProfile.chargingSchedule[].startSchedule"),
    }, sorted(checked)
    assert checked["AuthorizeResponse", "idTokenInfo.cacheExpiryDateTime"] == [
        "2030-01-01T00:00:00.123Z"
    ]
    assert checked["RequestStartTransactionRequest", "chargingProfile.validFrom"] == [
        "2020-01-01T00:00:00.987Z"
    ]
    assert checked[
        "RequestStartTransactionRequest", "chargingProfile.chargingSchedule[].startSchedule"
    ] == ["2026-01-01T00:00:00Z"]

    tx = await transactions.GetTransaction(
        tx_pb.GetTransactionRequest(id=remote_tx, station_id=station_id)
    )
    assert (tx.id_token, tx.id_token_type) == (app["idToken"], ocpp.ID_TOKEN_CENTRAL)
    assert tx.remote_start_id == 4242
