"""Strings that a column cannot hold, sent by direct gRPC callers (no REST in front), on SQLite
and PostgreSQL: INVALID_ARGUMENT naming the field on both, never a database error."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2

from csms.device.v1 import device_service_pb2 as device_pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.user.v1 import user_service_pb2 as user_pb


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"model": "m" * 1_000_000}, "model must be at most 20 characters"),
        ({"vendor_name": "v" * 51}, "vendor_name must be at most 50 characters"),
        ({"modem": device_pb.Modem(iccid="1\x002")}, "modem_iccid contains a NUL character"),
        ({"serial_number": "S\x00"}, "serial_number contains a NUL character"),
    ],
    ids=["long-model", "long-vendor", "nul-iccid", "nul-serial"],
)
async def test_station_strings_are_checked_before_the_database(
    device_stub, fields: dict[str, object], expected: str
) -> None:  # type: ignore[no-untyped-def]
    sid = f"S-{uuid.uuid4().hex[:8]}"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await device_stub.CreateChargingStation(
            device_pb.CreateChargingStationRequest(
                charging_station=device_pb.ChargingStation(id=sid, **fields)
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith(expected)
    await device_stub.CreateChargingStation(
        device_pb.CreateChargingStationRequest(charging_station=device_pb.ChargingStation(id=sid))
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await device_stub.UpdateChargingStation(
            device_pb.UpdateChargingStationRequest(
                charging_station=device_pb.ChargingStation(id=sid, **fields),
                update_mask=field_mask_pb2.FieldMask(paths=[next(iter(fields))]),
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith(expected)
    ok = await device_stub.UpdateChargingStation(
        device_pb.UpdateChargingStationRequest(
            charging_station=device_pb.ChargingStation(id=sid, model="m" * 20),
            update_mask=field_mask_pb2.FieldMask(paths=["model"]),
        )
    )
    assert ok.model == "m" * 20


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (user_pb.IdToken(id_token="T\x001", type=ocpp.ID_TOKEN_ISO14443), "id_token contains"),
        (
            user_pb.IdToken(id_token="T-1", type=ocpp.ID_TOKEN_ISO14443, group_id_token="G\x00"),
            "group_id_token contains",
        ),
    ],
    ids=["nul-token", "nul-group"],
)
async def test_id_token_strings_are_checked_before_the_database(
    user_stub, token: user_pb.IdToken, expected: str
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await user_stub.CreateIdToken(user_pb.CreateIdTokenRequest(id_token=token))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith(expected)
