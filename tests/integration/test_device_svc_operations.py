"""device_svc's CSMS-initiated operations, leases, device model and boot policy, over real gRPC on
SQLite and PostgreSQL, with a stand-in gateway: a real grpc.aio StationControlService defined here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

from common.errors import OCPP_ERROR_DOMAIN, grpc_status_of_callerror
from common.ocpp_json import REQUEST_TYPES, RESPONSE_TYPES, to_ocpp, to_proto
from csms.device.v1 import device_service_pb2 as pb
from csms.gateway.v1 import station_control_pb2 as gw
from csms.gateway.v1 import station_control_pb2_grpc as gw_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp
from deploy.mesh import free_port

STATUS_DETAILS_KEY = "grpc-status-details-bin"
Answer = Callable[[Message], Message]


class CallError(Exception):
    """Makes the stand-in gateway answer like a station's CALLERROR."""

    def __init__(self, ocpp_code: str, description: str) -> None:
        super().__init__(description)
        self.ocpp_code = ocpp_code
        self.description = description


class FakeGateway(gw_grpc.StationControlServiceServicer):
    """Answers each StationCall as a station would: a scripted answer per action, else the empty
    response of the action; records what it received."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.delay = 0.0
        self.calls: asyncio.Queue[tuple[gw.StationCall, Message, float | None]] = asyncio.Queue()

    async def Call(self, request, context):  # type: ignore[no-untyped-def]
        action = request.request.TypeName().rsplit(".", 1)[-1].removesuffix("Request")
        payload = REQUEST_TYPES[action]()
        request.request.Unpack(payload)
        await self.calls.put((request, payload, context.time_remaining()))
        await asyncio.sleep(self.delay)
        answer = self.answers.get(action, lambda _: RESPONSE_TYPES[action]())
        try:
            response = answer(payload)
        except CallError as exc:
            info = error_details_pb2.ErrorInfo(
                reason=exc.ocpp_code,
                domain=OCPP_ERROR_DOMAIN,
                metadata={"description": exc.description, "details": "{}"},
            )
            code = grpc_status_of_callerror(exc.ocpp_code)
            status = status_pb2.Status(code=code.value[0], message=exc.description)
            status.details.add().Pack(info)
            await context.abort(
                code, exc.description, ((STATUS_DETAILS_KEY, status.SerializeToString()),)
            )
        result = gw.StationCallResult()
        result.response.Pack(response)
        return result

    async def next_call(self, action: str) -> tuple[gw.StationCall, Any]:
        """The next call the gateway received, which must be ``action``."""
        call, payload, _ = await asyncio.wait_for(self.calls.get(), 5)
        assert payload.DESCRIPTOR.name == f"{action}Request"
        return call, payload


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[FakeGateway, str]]:
    """The stand-in gateway and its address."""
    fake = FakeGateway()
    server = grpc.aio.server()
    gw_grpc.add_StationControlServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield fake, f"127.0.0.1:{port}"
    await server.stop(0)


@pytest.fixture
async def device(start_device_svc):  # type: ignore[no-untyped-def]
    """device_svc with a short boot follow-up delay."""
    return await start_device_svc(boot_followup_delay=0.05)


def _ts(iso: str) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromJsonString(iso)
    return ts


async def _connected(device, station_id: str, gateway: str, **station: Any) -> int:  # type: ignore[no-untyped-def]
    """Register the station and connect it through ``gateway``; its epoch."""
    await device.CreateChargingStation(
        pb.CreateChargingStationRequest(
            charging_station=pb.ChargingStation(id=station_id, **station)
        )
    )
    resp = await device.ConnectStation(
        pb.ConnectStationRequest(
            station_id=station_id, gateway=gateway, lease_seconds=30, allow_unsecured=True
        )
    )
    return resp.epoch


async def _expect_error(call, code: grpc.StatusCode) -> grpc.aio.AioRpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == code, err.value.details()
    return err.value


def _reset(station_id: str) -> pb.ResetCommand:
    return pb.ResetCommand(
        station_id=station_id, request=ocpp.ResetRequest(type=ocpp.RESET_ON_IDLE)
    )


def _boot(station_id: str) -> pb.BootNotificationCall:
    return pb.BootNotificationCall(
        station_id=station_id,
        request=ocpp.BootNotificationRequest(
            reason=ocpp.BOOT_REASON_POWER_UP,
            charging_station=ocpp.ChargingStation(model="M", vendor_name="V"),
        ),
    )


def _report(station_id: str, request_id: int, seq_no: int, tbc: bool, data: list[dict]):  # type: ignore[no-untyped-def]
    request = to_proto(
        ocpp.NotifyReportRequest,
        {
            "requestId": request_id,
            "generatedAt": "2026-01-01T10:00:00Z",
            "tbc": tbc,
            "seqNo": seq_no,
            "reportData": data,
        },
    )
    return pb.NotifyReportCall(station_id=station_id, request=request)


def _item(
    component_name: str,
    variable_name: str,
    value: str,
    component: dict[str, Any] | None = None,
    attribute: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One reportData entry in OCPP JSON, with a single (Actual) attribute."""
    return {
        "component": {"name": component_name, **(component or {})},
        "variable": {"name": variable_name},
        "variableAttribute": [{"value": value, **(attribute or {})}],
        **extra,
    }


# -- operations ----------------------------------------------------------------------------------


async def test_reset_reaches_the_gateway_and_returns_the_station_answer(device, gateway) -> None:
    """A Reset goes to the owning gateway with the station, epoch and typed request; the answer
    comes back typed."""
    fake, addr = gateway
    epoch = await _connected(device, "CS1", addr)
    fake.answers["Reset"] = lambda _: ocpp.ResetResponse(
        status=ocpp.RESET_STATUS_SCHEDULED, status_info=ocpp.StatusInfo(reason_code="Busy")
    )
    resp = await device.Reset(_reset("CS1"), timeout=10)
    assert resp.status == ocpp.RESET_STATUS_SCHEDULED and resp.status_info.reason_code == "Busy"
    call, payload, remaining = fake.calls.get_nowait()
    assert call.station_id == "CS1" and call.epoch == epoch
    assert payload == ocpp.ResetRequest(type=ocpp.RESET_ON_IDLE)
    assert remaining is not None and 5 < remaining <= 10.5  # (gRPC rounds timeouts up)


async def test_every_operation_is_forwarded(device, gateway) -> None:
    """All 40 operation RPCs send their own request type and return their own response type
    (but SetChargingProfile, whose profile transaction_svc checks first:
    test_device_svc_smart_charging.py)."""
    fake, addr = gateway
    await _connected(device, "CS1", addr)
    actions = [m.name for m in pb.DESCRIPTOR.services_by_name["DeviceService"].methods]
    actions = [a for a in actions if a in REQUEST_TYPES and hasattr(pb, f"{a}Command")]
    assert len(actions) == 40
    # K10.FR.02 / K09.FR.03: these two are sent only when they name what they are about.
    requests = {
        "ClearChargingProfile": {"chargingProfileId": 1},
        "GetChargingProfiles": {"requestId": 1, "chargingProfile": {"stackLevel": 0}},
    }
    for action in actions:
        if action == "SetChargingProfile":
            continue
        command = getattr(pb, f"{action}Command")(station_id="CS1")
        if action in requests:
            command.request.CopyFrom(to_proto(REQUEST_TYPES[action], requests[action]))
        resp = await getattr(device, action)(command, timeout=10)
        assert resp.DESCRIPTOR.name == f"{action}Response"
        await fake.next_call(action)


async def test_callerror_is_forwarded_unchanged(device, gateway) -> None:
    """The gateway's CALLERROR status, details and ErrorInfo trailer reach our caller as sent."""
    fake, addr = gateway
    await _connected(device, "CS1", addr)

    def refuse(_: Message) -> Message:
        raise CallError("NotSupported", "no reset here")

    fake.answers["Reset"] = refuse
    err = await _expect_error(device.Reset(_reset("CS1")), grpc.StatusCode.UNIMPLEMENTED)
    assert err.details() == "no reset here"
    [raw] = [v for k, v in err.trailing_metadata() if k == STATUS_DETAILS_KEY]
    status = status_pb2.Status.FromString(raw)
    assert status.code == code_pb2.UNIMPLEMENTED and status.message == "no reset here"
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "NotSupported" and info.domain == OCPP_ERROR_DOMAIN
    assert info.metadata["description"] == "no reset here"


async def test_caller_deadline_passes_on(device, gateway) -> None:
    """The gateway gets the caller's remaining time; a silent station ends in DEADLINE_EXCEEDED."""
    fake, addr = gateway
    await _connected(device, "CS1", addr)
    fake.delay = 2.0
    await _expect_error(device.Reset(_reset("CS1"), timeout=0.5), grpc.StatusCode.DEADLINE_EXCEEDED)
    _, _, remaining = fake.calls.get_nowait()
    assert remaining is not None and remaining <= 1.0


async def test_gateway_call_timeout_caps_the_deadline(start_device_svc, gateway) -> None:
    """Without a deadline (or with a longer one) the call gets gateway_call_timeout."""
    fake, addr = gateway
    device = await start_device_svc(gateway_call_timeout=1.0)
    await _connected(device, "CS1", addr)
    await device.Reset(_reset("CS1"))
    await device.Reset(_reset("CS1"), timeout=20)
    for _ in range(2):
        _, _, remaining = fake.calls.get_nowait()
        assert remaining is not None and remaining <= 1.5


async def test_unreachable_station_is_unavailable(device, gateway) -> None:
    """Unknown → NOT_FOUND; never connected, disconnected, lease run out, no or a dead gateway
    → UNAVAILABLE, and nothing reaches the gateway."""
    fake, addr = gateway
    await _expect_error(device.Reset(_reset("NOPE")), grpc.StatusCode.NOT_FOUND)

    await device.CreateChargingStation(
        pb.CreateChargingStationRequest(charging_station=pb.ChargingStation(id="IDLE"))
    )
    err = await _expect_error(device.Reset(_reset("IDLE")), grpc.StatusCode.UNAVAILABLE)
    assert err.details() == "station IDLE is not connected"

    epoch = await _connected(device, "GONE", addr)
    await device.DisconnectStation(pb.DisconnectStationRequest(station_id="GONE", epoch=epoch))
    await _expect_error(device.Reset(_reset("GONE")), grpc.StatusCode.UNAVAILABLE)

    await device.CreateChargingStation(
        pb.CreateChargingStationRequest(charging_station=pb.ChargingStation(id="SHORT"))
    )
    await device.ConnectStation(
        pb.ConnectStationRequest(
            station_id="SHORT", gateway=addr, lease_seconds=1, allow_unsecured=True
        )
    )
    await asyncio.sleep(1.1)
    await _expect_error(device.Reset(_reset("SHORT")), grpc.StatusCode.UNAVAILABLE)
    got = await device.GetChargingStation(pb.GetChargingStationRequest(id="SHORT"))
    assert not got.connected and got.gateway == ""
    assert fake.calls.empty()

    await _connected(device, "NOGW", "")  # a gateway that gave no address
    await _expect_error(device.Reset(_reset("NOGW")), grpc.StatusCode.UNAVAILABLE)

    await _connected(device, "DOWN", f"127.0.0.1:{free_port()}")
    err = await _expect_error(device.Reset(_reset("DOWN")), grpc.StatusCode.UNAVAILABLE)
    assert "gateway" in err.details()


# -- leases --------------------------------------------------------------------------------------


async def test_renew_leases_extends_held_and_reports_lost(device) -> None:
    """RenewLeases (gateways from before gateway leases: no gateway_lease in ConnectStation)
    extends what the gateway still holds (even past expiry) and lists as lost the stations that
    reconnected elsewhere, disconnected or do not exist."""
    for sid in ("A", "B", "C"):
        await device.CreateChargingStation(
            pb.CreateChargingStationRequest(charging_station=pb.ChargingStation(id=sid))
        )
    conn = {
        sid: await device.ConnectStation(
            pb.ConnectStationRequest(
                station_id=sid, gateway="gw1:1", lease_seconds=1, allow_unsecured=True
            )
        )
        for sid in ("A", "B", "C")
    }
    assert conn["A"].charging_station.gateway == "gw1:1" and conn["A"].charging_station.connected
    await device.ConnectStation(
        pb.ConnectStationRequest(station_id="B", gateway="gw2:1", allow_unsecured=True)
    )
    await device.DisconnectStation(
        pb.DisconnectStationRequest(station_id="C", epoch=conn["C"].epoch)
    )
    await asyncio.sleep(1.1)  # A's lease has run out, but nobody else took A
    resp = await device.RenewLeases(
        pb.RenewLeasesRequest(
            gateway="gw1:1",
            stations=[pb.StationLease(station_id=s, epoch=conn[s].epoch) for s in "ABC"]
            + [pb.StationLease(station_id="ZZ", epoch=1)],
            ttl_seconds=30,
        )
    )
    assert list(resp.lost) == ["B", "C", "ZZ"]
    a = await device.GetChargingStation(pb.GetChargingStationRequest(id="A"))
    b = await device.GetChargingStation(pb.GetChargingStationRequest(id="B"))
    assert a.connected and a.gateway == "gw1:1"
    assert b.connected and b.gateway == "gw2:1"
    # The gateway that holds B now renews it under its own epoch.
    resp = await device.RenewLeases(
        pb.RenewLeasesRequest(
            gateway="gw2:1", stations=[pb.StationLease(station_id="B", epoch=conn["B"].epoch + 1)]
        )
    )
    assert list(resp.lost) == []


# -- device model --------------------------------------------------------------------------------

REPORT_PART_0 = [
    _item(
        "OCPPCommCtrlr",
        "HeartbeatInterval",
        "300",
        attribute={"mutability": "ReadWrite", "persistent": True, "constant": False},
        variableCharacteristics={
            "dataType": "integer",
            "unit": "s",
            "minLimit": 1,
            "maxLimit": 86400,
            "supportsMonitoring": False,
        },
    ),
    _item("SecurityCtrlr", "OrganizationName", "ACME", attribute={"mutability": "ReadOnly"}),
]
REPORT_PART_1 = [
    _item("Connector", "AvailabilityState", "Available", component={"evse": {"id": 1}}),
    _item(
        "Connector",
        "AvailabilityState",
        "Occupied",
        component={"evse": {"id": 2, "connectorId": 1}},
    ),
    {
        "component": {"name": "EVSE", "instance": "Main"},
        "variable": {"name": "Power", "instance": "Max"},
        "variableAttribute": [{"value": "22000"}, {"type": "MaxSet", "value": "11000"}],
        "variableCharacteristics": {"dataType": "decimal", "supportsMonitoring": True},
    },
]


async def _list_all(device, station_id: str, **filters: Any) -> list[pb.Variable]:  # type: ignore[no-untyped-def]
    out: list[pb.Variable] = []
    token = ""
    while True:
        page = await device.ListVariables(
            pb.ListVariablesRequest(station_id=station_id, page_size=2, page_token=token, **filters)
        )
        out += page.variables
        token = page.next_page_token
        if not token:
            return out


def _names(variables: list[pb.Variable]) -> list[tuple[str, str, int, int, str, str]]:
    return [
        (
            v.component.name,
            v.component.instance,
            v.component.evse.id,
            v.component.evse.connector_id,
            v.variable.name,
            v.variable.instance,
        )
        for v in variables
    ]


async def test_notify_report_builds_the_device_model(device) -> None:
    """A two-part NotifyReport is stored whole; ListVariables filters and pages it; replaying a
    part changes nothing."""
    await device.CreateChargingStation(
        pb.CreateChargingStationRequest(charging_station=pb.ChargingStation(id="CS1"))
    )
    await device.NotifyReport(_report("CS1", 7, 0, True, REPORT_PART_0))
    await device.NotifyReport(_report("CS1", 7, 1, False, REPORT_PART_1))
    replay = [_item("OCPPCommCtrlr", "HeartbeatInterval", "999")]
    await device.NotifyReport(_report("CS1", 7, 0, True, replay))

    every = await _list_all(device, "CS1")
    assert _names(every) == [
        ("Connector", "", 1, 0, "AvailabilityState", ""),
        ("Connector", "", 2, 1, "AvailabilityState", ""),
        ("EVSE", "Main", 0, 0, "Power", "Max"),
        ("OCPPCommCtrlr", "", 0, 0, "HeartbeatInterval", ""),
        ("SecurityCtrlr", "", 0, 0, "OrganizationName", ""),
    ]
    connector1 = every[0]
    assert connector1.component.evse.id == 1 and not connector1.component.evse.HasField(
        "connector_id"
    )
    assert not every[3].component.HasField("evse")
    hb = every[3]
    [attr] = hb.attributes
    assert attr.type == ocpp.ATTRIBUTE_ACTUAL and attr.value == "300"
    assert attr.mutability == ocpp.MUTABILITY_READ_WRITE and attr.persistent and not attr.constant
    assert attr.HasField("constant")
    c = hb.characteristics
    assert c.data_type == ocpp.DATA_INTEGER and c.unit == "s" and c.max_limit == 86400
    assert c.HasField("supports_monitoring") and not c.supports_monitoring
    power = every[2]
    assert {(a.type, a.value) for a in power.attributes} == {
        (ocpp.ATTRIBUTE_ACTUAL, "22000"),
        (ocpp.ATTRIBUTE_MAX_SET, "11000"),
    }
    assert not power.attributes[0].HasField("persistent")
    assert power.attributes[0].mutability == ocpp.MUTABILITY_UNSPECIFIED
    assert not every[4].HasField("characteristics")

    connectors = await _list_all(device, "CS1", component="Connector")
    assert len(connectors) == 2
    [only] = await _list_all(device, "CS1", component="EVSE", variable="Power")
    assert only.variable.instance == "Max"
    assert await _list_all(device, "CS1", variable="Nothing") == []
    await _expect_error(
        device.ListVariables(pb.ListVariablesRequest(station_id="NOPE")), grpc.StatusCode.NOT_FOUND
    )
    await _expect_error(
        device.ListVariables(pb.ListVariablesRequest(station_id="CS1", page_token="!!")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )


async def test_set_and_get_variables_results_update_the_model(device, gateway) -> None:
    """Accepted and RebootRequired SetVariables results store the value sent; Accepted
    GetVariables results refresh the stored value; other results change nothing."""
    fake, addr = gateway
    await _connected(device, "CS1", addr)
    await device.NotifyReport(_report("CS1", 1, 0, False, REPORT_PART_0))

    def component(name: str) -> ocpp.Component:
        return ocpp.Component(name=name)

    def var(name: str) -> ocpp.Variable:
        return ocpp.Variable(name=name)

    fake.answers["SetVariables"] = lambda req: ocpp.SetVariablesResponse(
        set_variable_result=[
            # Answered in another order than asked: matched by key, not position.
            ocpp.SetVariableResult(
                attribute_status=ocpp.SET_VARIABLE_STATUS_REJECTED,
                component=component("SecurityCtrlr"),
                variable=var("OrganizationName"),
            ),
            ocpp.SetVariableResult(
                attribute_status=ocpp.SET_VARIABLE_STATUS_ACCEPTED,
                component=component("OCPPCommCtrlr"),
                variable=var("HeartbeatInterval"),
            ),
            ocpp.SetVariableResult(
                attribute_status=ocpp.SET_VARIABLE_STATUS_REBOOT_REQUIRED,
                attribute_type=ocpp.ATTRIBUTE_TARGET,
                component=component("New"),
                variable=var("Thing"),
            ),
        ]
    )
    resp = await device.SetVariables(
        pb.SetVariablesCommand(
            station_id="CS1",
            request=ocpp.SetVariablesRequest(
                set_variable_data=[
                    ocpp.SetVariableData(
                        attribute_value="60",
                        component=component("OCPPCommCtrlr"),
                        variable=var("HeartbeatInterval"),
                    ),
                    ocpp.SetVariableData(
                        attribute_value="Evil",
                        component=component("SecurityCtrlr"),
                        variable=var("OrganizationName"),
                    ),
                    ocpp.SetVariableData(
                        attribute_value="on",
                        attribute_type=ocpp.ATTRIBUTE_TARGET,
                        component=component("New"),
                        variable=var("Thing"),
                    ),
                ]
            ),
        )
    )
    assert len(resp.set_variable_result) == 3

    def values(variables: list[pb.Variable]) -> dict[str, tuple[int, str]]:
        return {v.variable.name: (v.attributes[0].type, v.attributes[0].value) for v in variables}

    assert values(await _list_all(device, "CS1")) == {
        "HeartbeatInterval": (ocpp.ATTRIBUTE_ACTUAL, "60"),
        "OrganizationName": (ocpp.ATTRIBUTE_ACTUAL, "ACME"),
        "Thing": (ocpp.ATTRIBUTE_TARGET, "on"),
    }
    [hb] = await _list_all(device, "CS1", variable="HeartbeatInterval")
    assert hb.attributes[0].mutability == ocpp.MUTABILITY_READ_WRITE  # kept from the report

    fake.answers["GetVariables"] = lambda req: ocpp.GetVariablesResponse(
        get_variable_result=[
            ocpp.GetVariableResult(
                attribute_status=ocpp.GET_VARIABLE_STATUS_ACCEPTED,
                attribute_value="120",
                component=component("OCPPCommCtrlr"),
                variable=var("HeartbeatInterval"),
            ),
            ocpp.GetVariableResult(
                attribute_status=ocpp.GET_VARIABLE_STATUS_REJECTED,
                attribute_value="Other",
                component=component("SecurityCtrlr"),
                variable=var("OrganizationName"),
            ),
        ]
    )
    await device.GetVariables(pb.GetVariablesCommand(station_id="CS1"))
    assert values(await _list_all(device, "CS1")) == {
        "HeartbeatInterval": (ocpp.ATTRIBUTE_ACTUAL, "120"),
        "OrganizationName": (ocpp.ATTRIBUTE_ACTUAL, "ACME"),
        "Thing": (ocpp.ATTRIBUTE_TARGET, "on"),
    }


# -- boot policy ---------------------------------------------------------------------------------


async def test_pending_station_accepted_is_asked_to_boot(device, gateway) -> None:
    """A Pending station boots Pending; AcceptChargingStation makes it Accepted and sends it
    TriggerMessage(BootNotification); its next boot is Accepted."""
    fake, addr = gateway
    await _connected(device, "CS1", addr, registration_status=ocpp.REGISTRATION_STATUS_PENDING)
    boot = await device.BootNotification(_boot("CS1"))
    assert boot.status == ocpp.REGISTRATION_STATUS_PENDING
    got = await device.GetChargingStation(pb.GetChargingStationRequest(id="CS1"))
    assert got.registration_status == ocpp.REGISTRATION_STATUS_PENDING

    accepted = await device.AcceptChargingStation(pb.AcceptChargingStationRequest(id="CS1"))
    assert accepted.registration_status == ocpp.REGISTRATION_STATUS_ACCEPTED
    _, trigger = await fake.next_call("TriggerMessage")
    assert trigger.requested_message == ocpp.MESSAGE_TRIGGER_BOOT_NOTIFICATION
    boot = await device.BootNotification(_boot("CS1"))
    assert boot.status == ocpp.REGISTRATION_STATUS_ACCEPTED
    await _expect_error(
        device.AcceptChargingStation(pb.AcceptChargingStationRequest(id="NOPE")),
        grpc.StatusCode.NOT_FOUND,
    )
    unknown = await device.BootNotification(_boot("NOPE"))
    assert unknown.status == ocpp.REGISTRATION_STATUS_REJECTED


async def test_registration_status_is_writable(device, gateway) -> None:
    """Create defaults to Accepted; update sets the status and the rule; an unset status in the
    mask is INVALID_ARGUMENT; accepting an offline station sends nothing."""
    fake, _ = gateway
    created = await device.CreateChargingStation(
        pb.CreateChargingStationRequest(charging_station=pb.ChargingStation(id="CS1"))
    )
    assert created.registration_status == ocpp.REGISTRATION_STATUS_ACCEPTED
    assert not created.accept_after_base_report
    updated = await device.UpdateChargingStation(
        pb.UpdateChargingStationRequest(
            charging_station=pb.ChargingStation(
                id="CS1",
                registration_status=ocpp.REGISTRATION_STATUS_PENDING,
                accept_after_base_report=True,
            )
        )
    )
    assert updated.registration_status == ocpp.REGISTRATION_STATUS_PENDING
    assert updated.accept_after_base_report
    await _expect_error(
        device.UpdateChargingStation(
            pb.UpdateChargingStationRequest(
                charging_station=pb.ChargingStation(id="CS1"),
                update_mask={"paths": ["registration_status"]},
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    cleared = await device.UpdateChargingStation(
        pb.UpdateChargingStationRequest(
            charging_station=pb.ChargingStation(id="CS1"),
            update_mask={"paths": ["accept_after_base_report"]},
        )
    )
    assert not cleared.accept_after_base_report
    assert cleared.registration_status == ocpp.REGISTRATION_STATUS_PENDING
    accepted = await device.AcceptChargingStation(pb.AcceptChargingStationRequest(id="CS1"))
    assert accepted.registration_status == ocpp.REGISTRATION_STATUS_ACCEPTED
    await asyncio.sleep(0.1)
    assert fake.calls.empty()


async def test_accept_after_base_report(device, gateway) -> None:
    """A Pending station under the rule gets GetBaseReport(FullInventory) after its boot, is
    accepted when that report's last part arrives, and is asked to boot again."""
    fake, addr = gateway
    await _connected(
        device,
        "CS1",
        addr,
        registration_status=ocpp.REGISTRATION_STATUS_PENDING,
        accept_after_base_report=True,
    )
    fake.answers["GetBaseReport"] = lambda _: ocpp.GetBaseReportResponse(
        status=ocpp.GENERIC_DEVICE_MODEL_STATUS_ACCEPTED
    )
    boot = await device.BootNotification(_boot("CS1"))
    assert boot.status == ocpp.REGISTRATION_STATUS_PENDING
    _, get_report = await fake.next_call("GetBaseReport")
    assert get_report.report_base == ocpp.REPORT_BASE_FULL_INVENTORY
    request_id = get_report.request_id

    async def status() -> int:
        got = await device.GetChargingStation(pb.GetChargingStationRequest(id="CS1"))
        return got.registration_status

    # Another report, and the rule's report before its last part, accept nothing.
    await device.NotifyReport(_report("CS1", request_id + 1, 0, False, REPORT_PART_0))
    await device.NotifyReport(_report("CS1", request_id, 0, True, REPORT_PART_0))
    assert await status() == ocpp.REGISTRATION_STATUS_PENDING
    await device.NotifyReport(_report("CS1", request_id, 1, False, REPORT_PART_1))
    assert await status() == ocpp.REGISTRATION_STATUS_ACCEPTED
    _, trigger = await fake.next_call("TriggerMessage")
    assert trigger.requested_message == ocpp.MESSAGE_TRIGGER_BOOT_NOTIFICATION
    assert len(await _list_all(device, "CS1")) == 5
    boot = await device.BootNotification(_boot("CS1"))
    assert boot.status == ocpp.REGISTRATION_STATUS_ACCEPTED
    await asyncio.sleep(0.1)
    assert fake.calls.empty()  # an Accepted boot starts nothing


async def test_accept_after_empty_base_report(device, gateway) -> None:
    """A station with nothing to report (EmptyResultSet) is accepted at once."""
    fake, addr = gateway
    await _connected(
        device,
        "CS1",
        addr,
        registration_status=ocpp.REGISTRATION_STATUS_PENDING,
        accept_after_base_report=True,
    )
    fake.answers["GetBaseReport"] = lambda _: ocpp.GetBaseReportResponse(
        status=ocpp.GENERIC_DEVICE_MODEL_STATUS_EMPTY_RESULT_SET
    )
    await device.BootNotification(_boot("CS1"))
    await fake.next_call("GetBaseReport")
    await fake.next_call("TriggerMessage")
    got = await device.GetChargingStation(pb.GetChargingStationRequest(id="CS1"))
    assert got.registration_status == ocpp.REGISTRATION_STATUS_ACCEPTED


# -- customer information and DataTransfer -------------------------------------------------------


async def test_notify_customer_information(device) -> None:
    """Parts are stored once each and listed in order, all or by requestId."""
    await device.CreateChargingStation(
        pb.CreateChargingStationRequest(charging_station=pb.ChargingStation(id="CS1"))
    )
    parts = [(5, 0, "name: Jane", True), (5, 1, "card: 04AB", False), (6, 0, "none", False)]
    for request_id, seq_no, data, tbc in [*parts, (5, 0, "replayed", True)]:
        await device.NotifyCustomerInformation(
            pb.NotifyCustomerInformationCall(
                station_id="CS1",
                request=ocpp.NotifyCustomerInformationRequest(
                    request_id=request_id,
                    seq_no=seq_no,
                    data=data,
                    tbc=tbc,
                    generated_at=_ts("2026-01-01T10:00:00Z"),
                ),
            )
        )
    every = await device.ListCustomerInformation(
        pb.ListCustomerInformationRequest(station_id="CS1")
    )
    assert [(p.request_id, p.seq_no, p.data, p.tbc) for p in every.parts] == parts
    assert every.parts[0].generated_at.ToJsonString() == "2026-01-01T10:00:00Z"
    only = await device.ListCustomerInformation(
        pb.ListCustomerInformationRequest(station_id="CS1", request_id=6)
    )
    assert [p.data for p in only.parts] == ["none"]
    await _expect_error(
        device.NotifyCustomerInformation(
            pb.NotifyCustomerInformationCall(
                station_id="NOPE",
                request=ocpp.NotifyCustomerInformationRequest(
                    request_id=1, seq_no=0, data="x", generated_at=_ts("2026-01-01T10:00:00Z")
                ),
            )
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_station_data_transfer_is_unknown_vendor(device) -> None:
    """A station's DataTransfer is answered UnknownVendorId: we implement no vendor extension."""
    resp = await device.StationDataTransfer(
        pb.DataTransferCall(
            station_id="CS1", request=ocpp.DataTransferRequest(vendor_id="com.example")
        )
    )
    assert resp.status == ocpp.DATA_TRANSFER_STATUS_UNKNOWN_VENDOR_ID


async def test_lease_renewal_finds_each_station_by_its_key_on_sqlite(sqlite_plans) -> None:  # type: ignore[no-untyped-def]
    """A renewal updates each held station through the primary key: SQLite scans the whole
    stations table for a row-value IN, once per chunk of a renewal every third of a lease."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from common import db
    from device_svc.repository import StationRepository

    async def renew(conn) -> None:  # type: ignore[no-untyped-def]
        leases = [("A", 1), ("B", 2)]
        async with AsyncSession(bind=conn) as session:
            renewed = await StationRepository(session).renew_leases("gw1:1", leases, db.utcnow())
        assert renewed == set()

    for details in await sqlite_plans("device_svc", "UPDATE", renew):
        assert not [d for d in details if d.startswith("SCAN charging_stations")], details
        assert any("SEARCH charging_stations" in d for d in details), details


async def test_a_list_longer_than_the_station_takes_goes_as_several_calls(device, gateway) -> None:  # type: ignore[no-untyped-def]
    """B06 / N06.FR.04: the station's DeviceDataCtrlr.ItemsPerMessage[GetVariables] is 2 (as
    the device model learnt it from the station): a GetVariables of 5 goes as 3 CALLs of at
    most 2, and the caller gets one answer with the 5 results in order."""
    fake, addr = gateway
    await _connected(device, "CS1", addr)
    limit = {
        "component": {"name": "DeviceDataCtrlr"},
        "variable": {"name": "ItemsPerMessage", "instance": "GetVariables"},
    }

    def answer(request: Message) -> Message:
        results = []
        for data in to_ocpp(request)["getVariableData"]:
            value = (
                "2"
                if data["variable"].get("instance") == "GetVariables"
                else data["variable"]["name"]
            )
            results.append(
                {
                    "attributeStatus": "Accepted",
                    "attributeValue": value,
                    **{k: data[k] for k in ("component", "variable")},
                }
            )
        return to_proto(ocpp.GetVariablesResponse, {"getVariableResult": results})

    fake.answers["GetVariables"] = answer
    learn = to_proto(ocpp.GetVariablesRequest, {"getVariableData": [limit]})
    await device.GetVariables(pb.GetVariablesCommand(station_id="CS1", request=learn))
    await fake.next_call("GetVariables")
    names = [f"V{i}" for i in range(5)]
    request = to_proto(
        ocpp.GetVariablesRequest,
        {"getVariableData": [{"component": {"name": "C"}, "variable": {"name": n}} for n in names]},
    )
    resp = await device.GetVariables(pb.GetVariablesCommand(station_id="CS1", request=request))
    sent = [len((await fake.next_call("GetVariables"))[1].get_variable_data) for _ in range(3)]
    assert sent == [2, 2, 1]
    assert fake.calls.empty()
    assert [r.attribute_value for r in resp.get_variable_result] == names
