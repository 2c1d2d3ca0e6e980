"""Tests for device_svc.operations: the operation table, deadlines, the generated servicer,
recording remote starts."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from common.errors import CsmsError, FailedPrecondition
from common.ocpp_json import RESPONSE_TYPES, proto_enum_number, to_ocpp, to_proto
from csms.device.v1 import device_service_pb2_grpc as pb_grpc
from csms.gateway.v1 import station_control_pb2 as gw
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc import credentials
from device_svc.credentials import Passwords
from device_svc.domain import Route, charging_profile_criteria_problem
from device_svc.operations import ACTIONS, Gateways, Operations, _timeout
from device_svc.servicer import DeviceServicer

ISSUE_OPERATIONS = (
    "Reset",
    "ChangeAvailability",
    "UnlockConnector",
    "TriggerMessage",
    "GetVariables",
    "SetVariables",
    "GetBaseReport",
    "GetReport",
    "RequestStartTransaction",
    "RequestStopTransaction",
    "GetTransactionStatus",
    "ClearCache",
    "SendLocalList",
    "GetLocalListVersion",
    "DataTransfer",
    "SetNetworkProfile",
    "CustomerInformation",
    "InstallCertificate",
    "GetInstalledCertificateIds",
    "DeleteCertificate",
    "CertificateSigned",
    "ReserveNow",
    "CancelReservation",
    "SetChargingProfile",
    "GetChargingProfiles",
    "ClearChargingProfile",
    "GetCompositeSchedule",
    "SetVariableMonitoring",
    "ClearVariableMonitoring",
    "SetMonitoringBase",
    "SetMonitoringLevel",
    "GetMonitoringReport",
    "CostUpdated",
    "SetDisplayMessage",
    "GetDisplayMessages",
    "ClearDisplayMessage",
    "UpdateFirmware",
    "PublishFirmware",
    "UnpublishFirmware",
    "GetLog",
)


def test_actions_are_the_contract_operations() -> None:
    """The table read from the proto holds exactly the 40 operations of the contract."""
    assert ACTIONS == ISSUE_OPERATIONS


@pytest.mark.parametrize("action", ISSUE_OPERATIONS)
def test_servicer_implements_each_operation(action: str) -> None:
    """Every operation RPC is ours, not the generated UNIMPLEMENTED stub."""
    method = getattr(DeviceServicer, action)
    assert method is not getattr(pb_grpc.DeviceServiceServicer, action)
    assert method.__name__ == action


@pytest.mark.parametrize(
    ("remaining", "cap", "expected"),
    [(None, 35.0, 35.0), (10.0, 35.0, 10.0), (50.0, 35.0, 35.0), (-1.0, 35.0, 0.0)],
)
def test_timeout(remaining: float | None, cap: float, expected: float) -> None:
    """The caller's remaining time, capped; no deadline means the cap."""
    assert _timeout(remaining, cap) == expected


@pytest.mark.parametrize("action", ISSUE_OPERATIONS)
def test_each_operation_has_its_rest_verb(action: str) -> None:
    """DeviceRestService.<action>: POST /v1/chargingStations/{station_id}:<lowerCamel action>,
    the OCPP request as the whole body."""
    from google.api import annotations_pb2

    from csms.device.v1 import device_service_pb2 as pb

    method = pb.DESCRIPTOR.services_by_name["DeviceRestService"].methods_by_name[action]
    rule = method.GetOptions().Extensions[annotations_pb2.http]
    verb = action[0].lower() + action[1:]
    assert (rule.post, rule.body) == (f"/v1/chargingStations/{{station_id}}:{verb}", "request")
    assert method.input_type.name == "StationCommandJson"


class FakeTransactionChannel:
    """A channel whose RecordRemoteStart waits for ``release`` and records what it got."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.recorded: list[Any] = []
        self.closed = False

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        async def call(request: Any, **options: Any) -> Any:
            assert method.endswith("/RecordRemoteStart"), method
            self.started.set()
            await self.release.wait()
            self.recorded.append(request)

        return call

    async def close(self) -> None:
        self.closed = True


async def test_a_remote_start_is_recorded_even_when_the_caller_gives_up() -> None:
    """The station accepted, so its transaction will come: the record goes on after the caller
    of RequestStartTransaction went away (its deadline cancels the RPC)."""
    channel = FakeTransactionChannel()
    operations = Operations(
        None,  # type: ignore[arg-type]
        Gateways(),
        1.0,
        0.0,
        signer=None,  # type: ignore[arg-type]
        transactions=channel,  # type: ignore[arg-type]
    )
    request = ocpp.RequestStartTransactionRequest(
        id_token=ocpp.IdToken(id_token="APP-1", type=ocpp.ID_TOKEN_CENTRAL), remote_start_id=9
    )
    accepted = ocpp.RequestStartTransactionResponse(status=ocpp.REQUEST_START_STOP_STATUS_ACCEPTED)
    caller = asyncio.create_task(
        operations._learn["RequestStartTransaction"]("CS1", request, accepted)
    )
    await channel.started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    channel.release.set()
    await operations.idle()
    [recorded] = channel.recorded
    assert (recorded.station_id, recorded.remote_start_id) == ("CS1", 9)
    assert recorded.id_token == request.id_token
    await operations.close()
    assert channel.closed


# -- security: the Basic auth password (A01) and security profile upgrades (A05) ----------------


class FakeDevices:
    """The Devices an operation needs, over one station held in memory."""

    def __init__(self, profile: int, password_set: bool = True) -> None:
        self.station = types.SimpleNamespace(
            id="CS1", security_profile=profile, password_hash="old" if password_set else None
        )
        self.passwords = Passwords(time_cost=1, memory_cost=8)
        self.hashes: list[str] = []
        self.pending_hashes: list[str] = []
        self.pending: list[int] = []
        self.fail_pending = False

    async def get(self, station_id: str) -> Any:
        assert station_id == "CS1"
        return self.station

    async def route(self, station_id: str) -> Route:
        return Route(gateway="gw:1", epoch=1)

    async def hash_password(self, password: str) -> str:
        credentials.validate_password(password)
        return self.passwords.hash(password)

    async def set_password_hash(self, station_id: str, password_hash: str) -> None:
        self.hashes.append(password_hash)

    async def set_pending_password_hash(self, station_id: str, password_hash: str) -> None:
        self.pending_hashes.append(password_hash)

    async def record_values(self, station_id: str, updates: Any) -> None:
        pass

    async def check_upgrade(self, station_id: str, new_profile: int) -> None:
        credentials.require_upgrade_password(
            self.station.security_profile, new_profile, self.station.password_hash is not None
        )

    async def record_pending_profile(self, station_id: str, new_profile: int) -> int | None:
        if self.fail_pending:
            raise RuntimeError("database down")
        if new_profile <= self.station.security_profile:
            return None
        self.pending.append(new_profile)
        return new_profile


class FakeGateways(Gateways):
    """A gateway whose station answers each request with ``answer(request)``."""

    def __init__(self, answer: Callable[[Any], dict[str, Any]]) -> None:
        super().__init__()
        self.answer = answer
        self.sent: list[Any] = []

    async def call(self, station_id: str, route: Route, request: Any, seconds: float) -> Any:
        self.sent.append(request)
        payload = self.answer(to_ocpp(request))
        response = RESPONSE_TYPES[type(request).__name__.removesuffix("Request")]()
        result = gw.StationCallResult(payload_json=orjson.dumps(payload).decode())
        result.response.Pack(to_proto(type(response), payload))
        return result


def _operations(devices: FakeDevices, gateways: FakeGateways) -> Operations:
    return Operations(devices, gateways, 1.0, 0.0, signer=None)  # type: ignore[arg-type]


def _answer_password(status: str) -> Callable[[Any], dict[str, Any]]:
    def answer(request: Any) -> dict[str, Any]:
        [data] = request["setVariableData"]
        return {
            "setVariableResult": [
                {
                    "component": data["component"],
                    "variable": data["variable"],
                    "attributeType": data.get("attributeType", "Actual"),
                    "attributeStatus": status,
                }
            ]
        }

    return answer


async def test_update_basic_auth_password_accepted_switches_to_a_new_random_password() -> None:
    """A01: a 40-character password goes to SecurityCtrlr.BasicAuthPassword (Actual); Accepted
    stores its hash, which verifies that password and no other."""
    devices = FakeDevices(profile=1)
    gateways = FakeGateways(_answer_password("Accepted"))
    update = await _operations(devices, gateways).update_basic_auth_password("CS1", None)
    [request] = gateways.sent
    [data] = to_ocpp(request)["setVariableData"]
    assert data["component"] == {"name": "SecurityCtrlr"}
    assert data["variable"] == {"name": "BasicAuthPassword"}
    assert data["attributeType"] == "Actual"
    password = data["attributeValue"]
    assert len(password) == 40 and set(password) <= set(credentials.NEW_PASSWORD_ALPHABET)
    assert (update.status, update.changed, update.pending) == (
        ocpp.SET_VARIABLE_STATUS_ACCEPTED,
        True,
        False,
    )
    assert devices.pending_hashes == []
    [stored] = devices.hashes
    assert devices.passwords.verify(stored, password)
    assert not devices.passwords.verify(stored, credentials.new_password())
    assert orjson.loads(update.payload_json)["setVariableResult"][0]["attributeStatus"] == (
        "Accepted"
    )


@pytest.mark.parametrize("status", ["Rejected", "UnknownVariable"])
async def test_update_basic_auth_password_refused_keeps_the_old_one(status: str) -> None:
    """A01.FR.04: a station that does not take the password keeps the old one, alone: nothing
    is stored; the answer says so."""
    devices = FakeDevices(profile=2)
    update = await _operations(
        devices, FakeGateways(_answer_password(status))
    ).update_basic_auth_password("CS1", None)
    assert devices.hashes == [] and devices.pending_hashes == []
    assert (update.changed, update.pending) == (False, False)
    assert update.status == proto_enum_number(ocpp.SetVariableStatusEnum, status)


async def test_update_basic_auth_password_reboot_required_is_pending() -> None:
    """RebootRequired: the old password stays and the new one's hash is pending (taken too,
    until the rebooted station connects with it)."""
    devices = FakeDevices(profile=1)
    gateways = FakeGateways(_answer_password("RebootRequired"))
    update = await _operations(devices, gateways).update_basic_auth_password("CS1", None)
    [request] = gateways.sent
    password = to_ocpp(request)["setVariableData"][0]["attributeValue"]
    assert devices.hashes == []
    [pending] = devices.pending_hashes
    assert devices.passwords.verify(pending, password)
    assert (update.changed, update.pending) == (False, True)
    assert update.status == ocpp.SET_VARIABLE_STATUS_REBOOT_REQUIRED


@pytest.mark.parametrize("profile", [0, 3])
async def test_update_basic_auth_password_needs_profile_1_or_2(profile: int) -> None:
    """A station without Basic auth gets no password: FAILED_PRECONDITION, nothing sent."""
    devices = FakeDevices(profile=profile)
    gateways = FakeGateways(_answer_password("Accepted"))
    with pytest.raises(FailedPrecondition):
        await _operations(devices, gateways).update_basic_auth_password("CS1", None)
    assert gateways.sent == [] and devices.hashes == []


def _network_profile(security_profile: int) -> ocpp.SetNetworkProfileRequest:
    return to_proto(  # type: ignore[return-value]
        ocpp.SetNetworkProfileRequest,
        {
            "configurationSlot": 2,
            "connectionData": {
                "ocppVersion": "OCPP20",
                "ocppTransport": "JSON",
                "ocppCsmsUrl": "wss://csms.example/ocpp",
                "messageTimeout": 30,
                "securityProfile": security_profile,
                "ocppInterface": "Wired0",
            },
        },
    )


@pytest.mark.parametrize(
    ("profile", "new_profile", "status", "pending"),
    [
        pytest.param(1, 2, "Accepted", [2], id="upgrade-accepted"),
        pytest.param(2, 3, "Accepted", [3], id="2-to-3-accepted"),
        pytest.param(1, 2, "Rejected", [], id="upgrade-rejected"),
        pytest.param(1, 2, "Failed", [], id="upgrade-failed"),
        pytest.param(2, 2, "Accepted", [], id="same-profile"),
        pytest.param(3, 2, "Accepted", [], id="lower-profile"),
    ],
)
async def test_set_network_profile_records_an_accepted_upgrade(
    profile: int, new_profile: int, status: str, pending: list[int]
) -> None:
    """A05: only a higher securityProfile the station Accepted becomes pending."""
    devices = FakeDevices(profile=profile)
    gateways = FakeGateways(lambda _request: {"status": status})
    answer = await _operations(devices, gateways).call(
        "SetNetworkProfile", "CS1", _network_profile(new_profile), None
    )
    assert answer.status == proto_enum_number(ocpp.SetNetworkProfileStatusEnum, status)  # type: ignore[attr-defined]
    assert devices.pending == pending


async def test_set_network_profile_to_basic_auth_without_password_is_not_sent() -> None:
    """Up to profile 2 without a stored password the station could never get in: refused
    (FAILED_PRECONDITION) before anything is sent."""
    devices = FakeDevices(profile=0, password_set=False)
    gateways = FakeGateways(lambda _request: {"status": "Accepted"})
    with pytest.raises(FailedPrecondition):
        await _operations(devices, gateways).call(
            "SetNetworkProfile", "CS1", _network_profile(2), None
        )
    assert gateways.sent == [] and devices.pending == []


async def test_an_accepted_upgrade_the_csms_cannot_record_is_an_error() -> None:
    """Not recording an accepted upgrade would lock the station out later: the caller is told."""
    devices = FakeDevices(profile=2)
    devices.fail_pending = True
    gateways = FakeGateways(lambda _request: {"status": "Accepted"})
    with pytest.raises(CsmsError, match="send the SetNetworkProfile again"):
        await _operations(devices, gateways).call(
            "SetNetworkProfile", "CS1", _network_profile(3), None
        )


@pytest.mark.parametrize(
    ("action", "request_", "refused"),
    [
        ("ClearChargingProfile", {}, True),
        ("ClearChargingProfile", {"chargingProfileCriteria": {}}, True),
        ("ClearChargingProfile", {"chargingProfileId": 3}, False),
        ("ClearChargingProfile", {"chargingProfileCriteria": {"evseId": 0}}, False),
        ("ClearChargingProfile", {"chargingProfileCriteria": {"stackLevel": 0}}, False),
        ("GetChargingProfiles", {"requestId": 1, "chargingProfile": {}}, True),
        ("GetChargingProfiles", {"requestId": 1, "evseId": 1, "chargingProfile": {}}, True),
        (
            "GetChargingProfiles",
            {"requestId": 1, "chargingProfile": {"chargingProfileId": []}},
            True,
        ),
        (
            "GetChargingProfiles",
            {"requestId": 1, "chargingProfile": {"chargingProfileId": [4]}},
            False,
        ),
        ("GetChargingProfiles", {"requestId": 1, "chargingProfile": {"stackLevel": 0}}, False),
        (
            "GetChargingProfiles",
            {"requestId": 1, "chargingProfile": {"chargingLimitSource": ["EMS"]}},
            False,
        ),
        ("Reset", {}, False),
    ],
)
def test_charging_profile_requests_name_what_they_are_about(
    action: str, request_: dict[str, object], refused: bool
) -> None:
    """K10.FR.02 and K09.FR.03: a clear or get that names nothing is not sent."""
    problem = charging_profile_criteria_problem(action, request_)
    assert (problem is not None) == refused
    if refused:
        assert problem is not None and problem.startswith(("K10.FR.02", "K09.FR.03"))
