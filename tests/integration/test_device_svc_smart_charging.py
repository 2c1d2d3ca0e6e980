"""device_svc's smart-charging commands around transaction_svc: a profile is checked there
before it is sent, what the station accepts is recorded there. Real device_svc and
transaction_svc over real gRPC on SQLite and PostgreSQL, a stand-in gateway for the station."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
import pytest

from common.ocpp_json import RESPONSE_TYPES, to_proto
from csms.device.v1 import device_service_pb2 as pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as tx_pb
from csms.transaction.v1 import transaction_service_pb2_grpc as tx_grpc
from deploy.mesh import free_port
from transaction_svc import server as transaction_server
from transaction_svc.settings import Settings as TransactionSettings

from .test_device_svc_operations import _connected, gateway  # noqa: F401 - the fixture

JSON = dict[str, Any]
STATION = "CS1"


def profile(id_: int = 1, **fields: Any) -> JSON:
    return {
        "id": id_,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
            }
        ],
        **fields,
    }


def set_profile(evse: int, p: JSON) -> pb.SetChargingProfileCommand:
    return pb.SetChargingProfileCommand(
        station_id=STATION,
        request=to_proto(ocpp.SetChargingProfileRequest, {"evseId": evse, "chargingProfile": p}),
    )


def answer(action: str, status: str) -> Any:
    """The stand-in station's answer to ``action``: ``status``."""
    return lambda _: to_proto(RESPONSE_TYPES[action], {"status": status})


@pytest.fixture
async def services(start_device_svc, migrated_db):  # type: ignore[no-untyped-def]
    """transaction_svc, and a device_svc that asks and tells it."""
    url = await asyncio.to_thread(migrated_db, "transaction_svc")
    server, close = await transaction_server.start(
        TransactionSettings(
            grpc_listen="127.0.0.1:0", database_url=url, user_svc_addr=f"127.0.0.1:{free_port()}"
        )
    )
    address = f"127.0.0.1:{server.port}"
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            device = await start_device_svc(transaction_svc_addr=address)
            yield device, tx_grpc.TransactionServiceStub(channel)
    finally:
        await server.stop(1)
        await close()


async def listed(transactions: Any) -> list[tuple[int, int]]:
    found = await transactions.ListChargingProfiles(
        tx_pb.ListChargingProfilesRequest(station_id=STATION)
    )
    return [(p.evse_id, p.charging_profile.id) for p in found.charging_profiles]


async def test_an_accepted_profile_is_recorded_a_rejected_one_not(services, gateway) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    device, transactions = services
    fake, addr = gateway
    await _connected(device, STATION, addr)
    fake.answers["SetChargingProfile"] = answer("SetChargingProfile", "Accepted")
    await device.SetChargingProfile(set_profile(1, profile(1)), timeout=10)
    _, sent = await fake.next_call("SetChargingProfile")
    assert sent.charging_profile.id == 1
    assert await listed(transactions) == [(1, 1)]
    fake.answers["SetChargingProfile"] = answer("SetChargingProfile", "Rejected")
    result = await device.SetChargingProfile(set_profile(2, profile(2)), timeout=10)
    assert result.status == ocpp.CHARGING_PROFILE_STATUS_REJECTED
    assert await listed(transactions) == [(1, 1)]


async def test_an_invalid_profile_is_refused_and_not_sent(services, gateway) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """A TxProfile without an active transaction (K01.FR.09): FAILED_PRECONDITION naming the
    rule; a Relative ChargingStationMaxProfile (K01.FR.38): INVALID_ARGUMENT; the station gets
    neither."""
    device, transactions = services
    fake, addr = gateway
    await _connected(device, STATION, addr)
    tx = profile(1, chargingProfilePurpose="TxProfile", transactionId="tx-1")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await device.SetChargingProfile(set_profile(1, tx), timeout=10)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "K01.FR.09" in (err.value.details() or "")
    max_profile = profile(2, chargingProfilePurpose="ChargingStationMaxProfile")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await device.SetChargingProfile(set_profile(0, max_profile), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "K01.FR.38" in (err.value.details() or "")
    assert fake.calls.empty()


async def test_clear_and_no_profiles_forget(services, gateway) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    device, transactions = services
    fake, addr = gateway
    await _connected(device, STATION, addr)
    fake.answers["SetChargingProfile"] = answer("SetChargingProfile", "Accepted")
    for evse, id_ in [(0, 1), (1, 2), (2, 3)]:
        await device.SetChargingProfile(set_profile(evse, profile(id_)), timeout=10)
    fake.answers["ClearChargingProfile"] = answer("ClearChargingProfile", "Unknown")
    clear = pb.ClearChargingProfileCommand(
        station_id=STATION, request=ocpp.ClearChargingProfileRequest(charging_profile_id=2)
    )
    await device.ClearChargingProfile(clear, timeout=10)
    assert await listed(transactions) == [(0, 1), (1, 2), (2, 3)]
    fake.answers["ClearChargingProfile"] = answer("ClearChargingProfile", "Accepted")
    await device.ClearChargingProfile(clear, timeout=10)
    assert await listed(transactions) == [(0, 1), (2, 3)]
    fake.answers["GetChargingProfiles"] = answer("GetChargingProfiles", "NoProfiles")
    get = to_proto(
        ocpp.GetChargingProfilesRequest,
        {
            "requestId": 4,
            "evseId": 2,
            "chargingProfile": {"chargingLimitSource": ["CSO", "EMS", "SO", "Other"]},
        },
    )
    await device.GetChargingProfiles(
        pb.GetChargingProfilesCommand(station_id=STATION, request=get), timeout=10
    )
    assert await listed(transactions) == [(0, 1)]


async def test_a_get_charging_profiles_report_reconciles(services, gateway) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Accepted, then the station's report (over transaction_svc, as the gateway routes it)
    lists only profile 3: profile 1, which the CSMS thought the station held, is gone."""
    device, transactions = services
    fake, addr = gateway
    await _connected(device, STATION, addr)
    fake.answers["SetChargingProfile"] = answer("SetChargingProfile", "Accepted")
    await device.SetChargingProfile(set_profile(1, profile(1)), timeout=10)
    fake.answers["GetChargingProfiles"] = answer("GetChargingProfiles", "Accepted")
    get = to_proto(
        ocpp.GetChargingProfilesRequest,
        {"requestId": 9, "chargingProfile": {"chargingLimitSource": ["CSO", "EMS", "SO", "Other"]}},
    )
    await device.GetChargingProfiles(
        pb.GetChargingProfilesCommand(station_id=STATION, request=get), timeout=10
    )
    report = {
        "requestId": 9,
        "chargingLimitSource": "CSO",
        "evseId": 1,
        "chargingProfile": [profile(3, stackLevel=1)],
    }
    await transactions.ReportChargingProfiles(
        tx_pb.ReportChargingProfilesCall(
            station_id=STATION, request=to_proto(ocpp.ReportChargingProfilesRequest, report)
        )
    )
    assert await listed(transactions) == [(1, 3)]


async def test_a_remote_start_with_a_profile(services, gateway) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """RequestStartTransaction with a TxProfile: checked (F01.FR.11: no transactionId), then,
    Accepted, recorded for the transaction that carries its remoteStartId."""
    device, transactions = services
    fake, addr = gateway
    await _connected(device, STATION, addr)
    start = {
        "idToken": {"idToken": "APP-1", "type": "Central"},
        "remoteStartId": 42,
        "evseId": 1,
        "chargingProfile": profile(7, chargingProfilePurpose="TxProfile", transactionId="x"),
    }
    command = pb.RequestStartTransactionCommand(
        station_id=STATION, request=to_proto(ocpp.RequestStartTransactionRequest, start)
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await device.RequestStartTransaction(command, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "F01.FR.11" in (err.value.details() or "")
    assert fake.calls.empty()
    del start["chargingProfile"]["transactionId"]
    command.request.CopyFrom(to_proto(ocpp.RequestStartTransactionRequest, start))
    fake.answers["RequestStartTransaction"] = answer("RequestStartTransaction", "Accepted")
    await device.RequestStartTransaction(command, timeout=10)
    assert await listed(transactions) == [(1, 7)]
    started = {
        "eventType": "Started",
        "timestamp": "2026-01-01T10:00:00Z",
        "triggerReason": "RemoteStart",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-R", "remoteStartId": 42},
        "evse": {"id": 1, "connectorId": 1},
    }
    await transactions.TransactionEvent(
        tx_pb.TransactionEventCall(
            station_id=STATION, request=to_proto(ocpp.TransactionEventRequest, started)
        )
    )
    found = await transactions.ListChargingProfiles(
        tx_pb.ListChargingProfilesRequest(station_id=STATION)
    )
    assert found.charging_profiles[0].charging_profile.transaction_id == "tx-R"


async def test_without_transaction_svc_nothing_unchecked_is_sent(  # type: ignore[no-untyped-def]
    start_device_svc,
    gateway,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """transaction_svc unreachable: a SetChargingProfile is UNAVAILABLE and not sent; the other
    commands still work (a ClearChargingProfile's record is a WARNING)."""
    device = await start_device_svc(
        transaction_svc_addr=f"127.0.0.1:{free_port()}", transaction_svc_timeout=1.0
    )
    fake, addr = gateway
    await _connected(device, STATION, addr)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await device.SetChargingProfile(set_profile(1, profile(1)), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert fake.calls.empty()
    fake.answers["ClearChargingProfile"] = answer("ClearChargingProfile", "Accepted")
    clear = pb.ClearChargingProfileCommand(
        station_id=STATION, request=ocpp.ClearChargingProfileRequest(charging_profile_id=2)
    )
    with caplog.at_level(logging.WARNING, logger="device_svc.operations"):
        result = await device.ClearChargingProfile(clear, timeout=10)
    assert result.status == ocpp.CLEAR_CHARGING_PROFILE_STATUS_ACCEPTED
    assert any("ForgetChargingProfiles" in r.getMessage() for r in caplog.records)
