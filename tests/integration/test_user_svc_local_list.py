"""user_svc's local authorization list over real gRPC on SQLite and PostgreSQL.

user_svc is the module under test; device_svc is stood in for by :class:`FakeStation`, a real
``grpc.aio`` DeviceService that answers SendLocalList and GetLocalListVersion the way an OCPP
2.0.1 station would (the whole path through the real gateway is the end-to-end tests' job).
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2, field_mask_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from common.ocpp_json import to_ocpp, to_proto
from csms.device.v1 import device_service_pb2_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.user.v1 import user_service_pb2 as pb

STATION = "CS1"
EXPIRY = datetime.datetime(2030, 1, 1, 12, 0, tzinfo=datetime.UTC)


class FakeStation(device_service_pb2_grpc.DeviceServiceServicer):
    """device_svc with one station behind it that keeps a local list as OCPP says."""

    def __init__(self) -> None:
        self.version = 0
        self.entries: dict[tuple[str, str], dict[str, Any]] = {}
        self.received: list[dict[str, Any]] = []
        self.connected = True
        # Statuses to answer the next SendLocalLists with instead of applying them.
        self.forced: list[str] = []
        # A CALLERROR to answer the next SendLocalList with (a google.rpc.Status).
        self.call_error: status_pb2.Status | None = None

    async def GetLocalListVersion(self, request, context):  # type: ignore[no-untyped-def]
        if not self.connected:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"station {STATION} not connected")
        return ocpp.GetLocalListVersionResponse(version_number=self.version)

    async def SendLocalList(self, request, context):  # type: ignore[no-untyped-def]
        assert request.station_id == STATION
        if not self.connected:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"station {STATION} not connected")
        if self.call_error is not None:
            await context.abort_with_status(rpc_status.to_status(self.call_error))
        payload = to_ocpp(request.request)
        self.received.append(payload)
        if self.forced:
            return _answer(self.forced.pop(0))
        version, full = payload["versionNumber"], payload["updateType"] == "Full"
        if not full and version <= self.version:
            return _answer("VersionMismatch")
        if full:
            self.entries = {}
        for entry in payload.get("localAuthorizationList", ()):
            key = (entry["idToken"]["idToken"].lower(), entry["idToken"]["type"])
            if "idTokenInfo" in entry:
                self.entries[key] = entry
            else:
                self.entries.pop(key, None)
        self.version = version
        return _answer("Accepted")


def _answer(status: str) -> ocpp.SendLocalListResponse:
    payload: dict[str, Any] = {"status": status}
    if status == "Failed":
        payload["statusInfo"] = {"reasonCode": "ListFull", "additionalInfo": "too many entries"}
    return to_proto(ocpp.SendLocalListResponse, payload)  # type: ignore[return-value]


@pytest.fixture
async def station() -> AsyncIterator[tuple[FakeStation, str]]:
    """The fake device_svc with its station, and its address."""
    fake = FakeStation()
    server = grpc.aio.server()
    device_service_pb2_grpc.add_DeviceServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield fake, f"127.0.0.1:{port}"
    await server.stop(0)


@pytest.fixture
async def users(start_user_svc, station):  # type: ignore[no-untyped-def]
    """user_svc talking to the fake device_svc, two entries per SendLocalList."""
    _, stub = await start_user_svc(device_svc_addr=station[1], local_list_items_per_message=2)
    return stub


def _ts(when: datetime.datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(when)
    return ts


async def _create(stub, id_token: str, type_: int = ocpp.ID_TOKEN_ISO14443, **fields) -> None:  # type: ignore[no-untyped-def]
    await stub.CreateIdToken(
        pb.CreateIdTokenRequest(id_token=pb.IdToken(id_token=id_token, type=type_, **fields))
    )


async def _sync(stub, full: bool = False) -> pb.SyncLocalListResponse:  # type: ignore[no-untyped-def]
    return await stub.SyncLocalList(pb.SyncLocalListRequest(station_id=STATION, full=full))


async def _stored(stub) -> pb.LocalList:  # type: ignore[no-untyped-def]
    return await stub.GetLocalList(pb.GetLocalListRequest(station_id=STATION))


async def _error(call) -> grpc.aio.AioRpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


def _entry(id_token: str, status: str = "Accepted", type_: str = "ISO14443", **info: Any) -> dict:
    return {
        "idToken": {"idToken": id_token, "type": type_},
        "idTokenInfo": {"status": status, **info},
    }


def _removed(id_token: str, type_: str = "ISO14443") -> dict:
    return {"idToken": {"idToken": id_token, "type": type_}}


async def _three_tokens(stub) -> None:  # type: ignore[no-untyped-def]
    await _create(stub, "AA01", expiry_date=_ts(EXPIRY), group_id_token="FLEET")
    await _create(stub, "BB02", status=ocpp.AUTHORIZATION_STATUS_BLOCKED)
    await _create(stub, "CC03", type_=ocpp.ID_TOKEN_EMAID)
    await _create(stub, "ANY", type_=ocpp.ID_TOKEN_UNSPECIFIED)  # no type: not in the list


FIRST_LIST = [
    _entry(
        "AA01",
        cacheExpiryDateTime="2030-01-01T12:00:00Z",
        groupIdToken={"idToken": "FLEET", "type": "Central"},
    ),
    _entry("BB02", "Blocked"),
    _entry("CC03", type_="eMAID"),
]


async def test_first_sync_is_full(users, station) -> None:
    """The first sync sends every typed token as a Full update (split by the per-message limit)."""
    fake, _ = station
    await _three_tokens(users)
    result = await _sync(users)
    assert result.update_type == ocpp.UPDATE_FULL and result.entries == 3
    assert result.station_response.status == ocpp.SEND_LOCAL_LIST_STATUS_ACCEPTED
    # Two entries per message: a Full update of the first two, a Differential adding the third.
    assert [(m["updateType"], m["versionNumber"]) for m in fake.received] == [
        ("Full", 1),
        ("Differential", 2),
    ]
    assert fake.received[0]["localAuthorizationList"] == FIRST_LIST[:2]
    assert fake.received[1]["localAuthorizationList"] == FIRST_LIST[2:]
    assert result.version == fake.version == 2
    stored = await _stored(users)
    assert stored.station_id == STATION and stored.version == 2
    assert [to_ocpp(e) for e in stored.entries] == FIRST_LIST == list(fake.entries.values())
    assert stored.update_time.seconds > 0


async def test_second_sync_is_differential(users, station) -> None:
    """After changes only the changed, added and removed tokens go, removed ones without info."""
    fake, _ = station
    await _three_tokens(users)
    await _sync(users)
    fake.received.clear()
    await users.UpdateIdToken(
        pb.UpdateIdTokenRequest(
            id_token=pb.IdToken(id_token="BB02", status=ocpp.AUTHORIZATION_STATUS_ACCEPTED),
            update_mask=field_mask_pb2.FieldMask(paths=["status"]),
        )
    )
    await users.DeleteIdToken(pb.DeleteIdTokenRequest(id_token="AA01"))
    await _create(users, "DD04")
    result = await _sync(users)
    assert result.update_type == ocpp.UPDATE_DIFFERENTIAL and result.entries == 3
    assert result.version == 4  # two messages of at most two entries: versions 3 and 4
    sent = [e for m in fake.received for e in m["localAuthorizationList"]]
    assert [m["updateType"] for m in fake.received] == ["Differential", "Differential"]
    assert sent == [_removed("AA01"), _entry("BB02"), _entry("DD04")]
    expected = [_entry("BB02"), FIRST_LIST[2], _entry("DD04")]
    assert [to_ocpp(e) for e in (await _stored(users)).entries] == expected
    assert sorted(fake.entries.values(), key=lambda e: e["idToken"]["idToken"]) == expected
    assert fake.version == 4


async def test_unchanged_sync_sends_nothing(users, station) -> None:
    """With nothing changed no SendLocalList is sent and the version stays."""
    fake, _ = station
    await _create(users, "AA01")
    first = await _sync(users)
    again = await _sync(users)
    assert len(fake.received) == 1
    assert again.version == first.version == 1
    assert again.update_type == ocpp.UPDATE_UNSPECIFIED and again.entries == 0
    assert not again.HasField("station_response")


async def test_full_when_asked_or_when_the_station_version_differs(users, station) -> None:
    """`full`, or a station whose version is not ours, gets a Full update above both versions."""
    fake, _ = station
    await _create(users, "AA01")
    await _sync(users)
    forced = await _sync(users, full=True)
    assert forced.update_type == ocpp.UPDATE_FULL and forced.version == 2
    fake.version = 7  # e.g. another CSMS, or a station reset, changed the list
    result = await _sync(users)
    assert result.update_type == ocpp.UPDATE_FULL and result.version == 8
    assert fake.received[-1] == {
        "versionNumber": 8,
        "updateType": "Full",
        "localAuthorizationList": [_entry("AA01")],
    }
    assert (await _stored(users)).version == 8


async def test_version_mismatch_is_answered_with_full(users, station) -> None:
    """A station answering VersionMismatch to a differential update gets one Full update."""
    fake, _ = station
    await _create(users, "AA01")
    await _sync(users)
    await _create(users, "BB02")
    fake.forced = ["VersionMismatch"]
    result = await _sync(users)
    assert [(m["updateType"], m["versionNumber"]) for m in fake.received[1:]] == [
        ("Differential", 2),
        ("Full", 3),
    ]
    assert result.update_type == ocpp.UPDATE_FULL and result.version == 3 and result.entries == 2
    assert (await _stored(users)).version == 3 and fake.version == 3


async def test_failed_is_failed_precondition(users, station) -> None:
    """Failed (or a second VersionMismatch) is FAILED_PRECONDITION with the station's answer."""
    fake, _ = station
    await _create(users, "AA01")
    fake.forced = ["Failed"]
    err = await _error(_sync(users))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "Failed" in err.details() and "ListFull too many entries" in err.details()
    assert (await _error(_stored(users))).code() == grpc.StatusCode.NOT_FOUND

    await _sync(users)
    await _create(users, "BB02")
    fake.forced = ["VersionMismatch", "VersionMismatch"]
    err = await _error(_sync(users))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "VersionMismatch" in err.details()
    assert (await _stored(users)).version == 1


async def test_unavailable_station_stores_nothing(users, station) -> None:
    """A station that is not connected is UNAVAILABLE, and nothing is stored."""
    fake, _ = station
    await _create(users, "AA01")
    fake.connected = False
    err = await _error(_sync(users))
    assert err.code() == grpc.StatusCode.UNAVAILABLE and STATION in err.details()
    assert (await _error(_stored(users))).code() == grpc.StatusCode.NOT_FOUND
    assert fake.received == []


async def test_station_callerror_passes_through(users, station) -> None:
    """A station's CALLERROR keeps device_svc's status, message and OCPP error details."""
    fake, _ = station
    await _create(users, "AA01")
    info = error_details_pb2.ErrorInfo(
        reason="NotSupported", domain="ocpp", metadata={"description": "no local list"}
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    fake.call_error = status_pb2.Status(
        code=grpc.StatusCode.UNIMPLEMENTED.value[0],
        message="station answered NotSupported",
        details=[detail],
    )
    err = await _error(_sync(users))
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED
    status = rpc_status.from_call(err)
    assert status is not None and status.message == "station answered NotSupported"
    got = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(got) and got == info
    assert (await _error(_stored(users))).code() == grpc.StatusCode.NOT_FOUND


async def test_device_svc_down_is_unavailable(start_user_svc) -> None:
    """Without device_svc the sync is UNAVAILABLE, saying device_svc could not be reached."""
    _, stub = await start_user_svc(device_svc_addr="127.0.0.1:1", device_svc_timeout=5)
    err = await _error(_sync(stub))
    assert err.code() == grpc.StatusCode.UNAVAILABLE and err.details().startswith("device_svc:")
    # gRPC's own words about the failed connection name internal addresses: not for the client.
    assert "ipv4" not in err.details() and "127.0.0.1" not in err.details(), err.details()


async def test_bad_station_id(users) -> None:
    """An empty or over-long station id is INVALID_ARGUMENT."""
    for bad in ("", "x" * 49):
        err = await _error(users.SyncLocalList(pb.SyncLocalListRequest(station_id=bad)))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        err = await _error(users.GetLocalList(pb.GetLocalListRequest(station_id=bad)))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
