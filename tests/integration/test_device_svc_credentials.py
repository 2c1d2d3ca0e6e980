"""device_svc's station credentials over real gRPC on SQLite and PostgreSQL: security profiles,
passwords (hashed, never returned), the ConnectStation decision, rotation through SetVariables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from csms.device.v1 import device_service_pb2 as pb
from csms.device.v1 import device_service_pb2_grpc as pb_grpc
from csms.gateway.v1 import station_control_pb2 as gw
from csms.gateway.v1 import station_control_pb2_grpc as gw_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp

PASSWORD = "correct-horse-battery"
OTHER = "another-station-password"
UNAUTH = grpc.StatusCode.UNAUTHENTICATED


async def _create(device: pb_grpc.DeviceServiceStub, sid: str, **fields: Any) -> pb.ChargingStation:
    return await device.CreateChargingStation(
        pb.CreateChargingStationRequest(charging_station=pb.ChargingStation(id=sid, **fields))
    )


async def _connect(device: pb_grpc.DeviceServiceStub, sid: str, **presented: Any) -> Any:
    return await device.ConnectStation(
        pb.ConnectStationRequest(station_id=sid, gateway="gw:1", lease_seconds=30, **presented)
    )


async def _code(call: Any) -> grpc.StatusCode:
    """The status of ``call``: OK, or the error's code."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


OK = grpc.StatusCode.OK
TLS = {"secure_transport": True}

# (profile, password set, what the station presented, allow_unsecured) → outcome
DECISIONS = [
    # 0: no credentials; only while the deployment allows it.
    (0, False, {}, False, UNAUTH),
    (0, False, {}, True, OK),
    (0, False, TLS, True, OK),
    # Credentials presented are checked: a password the station does not have is wrong.
    (0, False, {"password": PASSWORD, **TLS}, True, UNAUTH),
    (0, False, {"password": PASSWORD}, True, UNAUTH),
    # 1: Basic auth; never falls back to 0, TLS is welcome.
    (1, True, {"password": PASSWORD}, False, OK),
    (1, True, {"password": PASSWORD, **TLS}, False, OK),
    (1, True, {}, True, UNAUTH),
    (1, True, {"password": OTHER}, True, UNAUTH),
    (1, True, {"password": PASSWORD[:-1]}, False, UNAUTH),
    (1, True, {"client_certificate_cn": "S", **TLS}, True, UNAUTH),
    # 2: TLS and Basic auth.
    (2, True, {"password": PASSWORD, **TLS}, False, OK),
    (2, True, {"password": PASSWORD}, True, UNAUTH),
    (2, True, TLS, True, UNAUTH),
    (2, True, {"password": OTHER, **TLS}, False, UNAUTH),
    # 3: mutual TLS, the certificate's CN is the station id.
    (3, False, {"client_certificate_cn": "S", **TLS}, False, OK),
    (3, False, {"client_certificate_cn": "S"}, True, UNAUTH),  # claimed without TLS
    (3, False, TLS, True, UNAUTH),
    (3, False, {"client_certificate_cn": "OTHER", **TLS}, True, UNAUTH),
    (3, True, {"password": PASSWORD, **TLS}, True, UNAUTH),
]


@pytest.mark.parametrize(("profile", "with_password", "presented", "allow", "outcome"), DECISIONS)
async def test_connect_station_decision_table(
    device_stub: pb_grpc.DeviceServiceStub,
    profile: int,
    with_password: bool,
    presented: dict[str, Any],
    allow: bool,
    outcome: grpc.StatusCode,
) -> None:
    """Each security profile lets in exactly the station that presents what it requires."""
    await _create(
        device_stub,
        "S",
        security_profile=profile,
        basic_auth_password=PASSWORD if with_password else "",
    )
    assert await _code(_connect(device_stub, "S", allow_unsecured=allow, **presented)) == outcome
    got = await device_stub.GetChargingStation(pb.GetChargingStationRequest(id="S"))
    assert got.connected is (outcome == OK)


async def test_auto_registered_stations_are_unsecured(
    device_stub: pb_grpc.DeviceServiceStub,
) -> None:
    """auto_register creates a profile-0 station only while unsecured stations are allowed."""
    refused = pb.ConnectStationRequest(station_id="NEW1", auto_register=True)
    assert await _code(device_stub.ConnectStation(refused)) == UNAUTH
    assert await _code(device_stub.GetChargingStation(pb.GetChargingStationRequest(id="NEW1"))) == (
        grpc.StatusCode.NOT_FOUND
    )
    allowed = pb.ConnectStationRequest(station_id="NEW2", auto_register=True, allow_unsecured=True)
    resp = await device_stub.ConnectStation(allowed)
    assert resp.charging_station.security_profile == 0


async def test_password_is_never_returned(device_stub: pb_grpc.DeviceServiceStub) -> None:
    """Create, get and list say password_set and never the password; a password implies 1."""
    created = await _create(device_stub, "P1", basic_auth_password=PASSWORD)
    assert created.password_set and created.security_profile == 1
    assert created.basic_auth_password == ""
    got = await device_stub.GetChargingStation(pb.GetChargingStationRequest(id="P1"))
    listed = await device_stub.ListChargingStations(pb.ListChargingStationsRequest())
    for station in (got, *listed.charging_stations):
        assert station.basic_auth_password == "" and station.password_set
        assert PASSWORD not in str(station)
    plain = await _create(device_stub, "P2")
    assert not plain.password_set and plain.security_profile == 0


@pytest.mark.parametrize(
    "password", ["x" * 15, "x" * 41, "sixteen chars ok", "sixteen-chars-é!", "tab\tinside-pass"]
)
async def test_password_must_be_16_to_40_printable_ascii(
    device_stub: pb_grpc.DeviceServiceStub, password: str
) -> None:
    """OCPP's passwordString: 16 to 40 characters (printable ASCII, no spaces): else 400."""
    code = await _code(_create(device_stub, "L", basic_auth_password=password))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("password", ["x" * 16, "y" * 40])
async def test_password_length_bounds_are_accepted(
    device_stub: pb_grpc.DeviceServiceStub, password: str
) -> None:
    """Exactly 16 and exactly 40 characters are fine."""
    assert (await _create(device_stub, "L", basic_auth_password=password)).password_set


@pytest.mark.parametrize("profile", [1, 2])
async def test_profiles_1_and_2_need_a_password(
    device_stub: pb_grpc.DeviceServiceStub, profile: int
) -> None:
    """A profile-1 or -2 station without a password could never connect: 400, nothing made."""
    code = await _code(_create(device_stub, "NP", security_profile=profile))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    get = device_stub.GetChargingStation(pb.GetChargingStationRequest(id="NP"))
    assert await _code(get) == grpc.StatusCode.NOT_FOUND


async def test_update_to_profile_2_needs_a_password(
    device_stub: pb_grpc.DeviceServiceStub,
) -> None:
    """Raising a passwordless station to profile 1 or 2 is 400 and changes nothing; with a
    password in the same update, or one already set, it is fine."""
    await _create(device_stub, "UP")

    def update(paths: list[str], **fields: Any) -> Any:
        return device_stub.UpdateChargingStation(
            pb.UpdateChargingStationRequest(
                charging_station=pb.ChargingStation(id="UP", **fields),
                update_mask=field_mask_pb2.FieldMask(paths=paths),
            )
        )

    for profile in (1, 2):
        code = await _code(update(["security_profile"], security_profile=profile))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    got = await device_stub.GetChargingStation(pb.GetChargingStationRequest(id="UP"))
    assert got.security_profile == 0 and not got.password_set
    both = await update(
        ["security_profile", "basic_auth_password"], security_profile=2, basic_auth_password=OTHER
    )
    assert both.security_profile == 2 and both.password_set
    assert (await update(["security_profile"], security_profile=1)).security_profile == 1


async def test_profile_must_be_0_to_3(device_stub: pb_grpc.DeviceServiceStub) -> None:
    """security_profile outside 0..3 is INVALID_ARGUMENT."""
    code = await _code(_create(device_stub, "X", security_profile=4))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_update_sets_profile_and_password(device_stub: pb_grpc.DeviceServiceStub) -> None:
    """update_mask basic_auth_password / security_profile change them; a PATCH without a mask
    never lowers the profile."""
    await _create(device_stub, "U", security_profile=1, basic_auth_password=PASSWORD)
    update = pb.UpdateChargingStationRequest(
        charging_station=pb.ChargingStation(id="U", basic_auth_password=OTHER, security_profile=2),
        update_mask=field_mask_pb2.FieldMask(paths=["basic_auth_password", "security_profile"]),
    )
    updated = await device_stub.UpdateChargingStation(update)
    assert updated.security_profile == 2 and updated.password_set
    assert await _code(_connect(device_stub, "U", password=PASSWORD, **TLS)) == UNAUTH
    assert await _code(_connect(device_stub, "U", password=OTHER, **TLS)) == OK
    no_mask = pb.UpdateChargingStationRequest(
        charging_station=pb.ChargingStation(id="U", model="M2")
    )
    assert (await device_stub.UpdateChargingStation(no_mask)).security_profile == 2
    empty = pb.UpdateChargingStationRequest(
        charging_station=pb.ChargingStation(id="U"),
        update_mask=field_mask_pb2.FieldMask(paths=["basic_auth_password"]),
    )
    assert await _code(device_stub.UpdateChargingStation(empty)) == grpc.StatusCode.INVALID_ARGUMENT


# -- rotation through SetVariables ----------------------------------------------------------


class Station(gw_grpc.StationControlServiceServicer):
    """A stand-in gateway whose station answers SetVariables with ``status`` for every entry."""

    def __init__(self) -> None:
        self.status = ocpp.SET_VARIABLE_STATUS_ACCEPTED
        self.received: list[ocpp.SetVariablesRequest] = []

    async def Call(self, request, context):  # type: ignore[no-untyped-def]
        payload = ocpp.SetVariablesRequest()
        assert request.request.Unpack(payload)
        self.received.append(payload)
        response = ocpp.SetVariablesResponse(
            set_variable_result=[
                ocpp.SetVariableResult(
                    component=d.component,
                    variable=d.variable,
                    attribute_status=self.status,
                )
                for d in payload.set_variable_data
            ]
        )
        result = gw.StationCallResult()
        result.response.Pack(response)
        return result


@pytest.fixture
async def station() -> AsyncIterator[tuple[Station, str]]:
    fake = Station()
    server = grpc.aio.server()
    gw_grpc.add_StationControlServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield fake, f"127.0.0.1:{port}"
    await server.stop(0)


def _set_password(
    sid: str,
    password: str,
    component: str = "SecurityCtrlr",
    variable: str = "BasicAuthPassword",
) -> pb.SetVariablesCommand:
    return pb.SetVariablesCommand(
        station_id=sid,
        request=ocpp.SetVariablesRequest(
            set_variable_data=[
                ocpp.SetVariableData(
                    component=ocpp.Component(name=component),
                    variable=ocpp.Variable(name=variable),
                    attribute_value=password,
                )
            ]
        ),
    )


async def _connected_profile_1(device: pb_grpc.DeviceServiceStub, sid: str, gateway: str) -> None:
    await _create(device, sid, security_profile=1, basic_auth_password=PASSWORD)
    await device.ConnectStation(
        pb.ConnectStationRequest(
            station_id=sid, gateway=gateway, lease_seconds=30, password=PASSWORD
        )
    )


async def test_rotation_takes_effect_when_the_station_accepts(
    device_stub: pb_grpc.DeviceServiceStub, station: tuple[Station, str]
) -> None:
    """SetVariables BasicAuthPassword answered Accepted: the new password works, the old not;
    the password is not kept in the device model."""
    fake, address = station
    await _connected_profile_1(device_stub, "R1", address)
    response = await device_stub.SetVariables(_set_password("R1", OTHER))
    assert response.set_variable_result[0].attribute_status == ocpp.SET_VARIABLE_STATUS_ACCEPTED
    assert fake.received[0].set_variable_data[0].attribute_value == OTHER
    assert await _code(_connect(device_stub, "R1", password=PASSWORD)) == UNAUTH
    assert await _code(_connect(device_stub, "R1", password=OTHER)) == OK
    variables = await device_stub.ListVariables(pb.ListVariablesRequest(station_id="R1"))
    assert OTHER not in str(variables)


@pytest.mark.parametrize(
    "component, variable",
    [("securityctrlr", "basicauthpassword"), ("SECURITYCTRLR", "basicAuthPassword")],
)
async def test_rotation_knows_the_password_whatever_the_case_of_its_name(
    device_stub: pb_grpc.DeviceServiceStub,
    station: tuple[Station, str],
    component: str,
    variable: str,
) -> None:
    """OCPP 2.0.1's component and variable names are case-insensitive (Part 2, ComponentType and
    VariableType): the station takes any spelling as its Basic auth password, so the CSMS does
    too: the new password works, the old not, and it is not kept in the device model."""
    fake, address = station
    await _connected_profile_1(device_stub, "R5", address)
    await device_stub.SetVariables(_set_password("R5", OTHER, component, variable))
    assert fake.received[0].set_variable_data[0].attribute_value == OTHER
    assert await _code(_connect(device_stub, "R5", password=PASSWORD)) == UNAUTH
    assert await _code(_connect(device_stub, "R5", password=OTHER)) == OK
    variables = await device_stub.ListVariables(pb.ListVariablesRequest(station_id="R5"))
    assert OTHER not in str(variables)


@pytest.mark.parametrize(
    "status", [ocpp.SET_VARIABLE_STATUS_REJECTED, ocpp.SET_VARIABLE_STATUS_UNKNOWN_VARIABLE]
)
async def test_rotation_not_accepted_keeps_the_old_password(
    device_stub: pb_grpc.DeviceServiceStub, station: tuple[Station, str], status: int
) -> None:
    """A station that does not take the password leaves the old one in force, alone."""
    fake, address = station
    fake.status = status
    await _connected_profile_1(device_stub, "R2", address)
    await device_stub.SetVariables(_set_password("R2", OTHER))
    assert await _code(_connect(device_stub, "R2", password=PASSWORD)) == OK
    assert await _code(_connect(device_stub, "R2", password=OTHER)) == UNAUTH


async def test_rotation_reboot_required_takes_both_until_the_new_one_is_used(
    device_stub: pb_grpc.DeviceServiceStub, station: tuple[Station, str]
) -> None:
    """RebootRequired: the old password stays in force and the new one works too (the station
    takes it at its reboot); its first connection with the new one makes the old one refused."""
    fake, address = station
    fake.status = ocpp.SET_VARIABLE_STATUS_REBOOT_REQUIRED
    await _connected_profile_1(device_stub, "R4", address)
    await device_stub.SetVariables(_set_password("R4", OTHER))
    assert await _code(_connect(device_stub, "R4", password=PASSWORD)) == OK
    assert await _code(_connect(device_stub, "R4", password=OTHER)) == OK
    assert await _code(_connect(device_stub, "R4", password=PASSWORD)) == UNAUTH
    assert await _code(_connect(device_stub, "R4", password=OTHER)) == OK


async def test_rotation_to_an_invalid_password_is_never_sent(
    device_stub: pb_grpc.DeviceServiceStub, station: tuple[Station, str]
) -> None:
    """A new password OCPP would not take is INVALID_ARGUMENT before reaching the station."""
    fake, address = station
    await _connected_profile_1(device_stub, "R3", address)
    code = await _code(device_stub.SetVariables(_set_password("R3", "short")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and fake.received == []
    assert await _code(_connect(device_stub, "R3", password=PASSWORD)) == OK
