"""UserService over gRPC: proto ⇄ domain, nothing else."""

from __future__ import annotations

import datetime
from typing import Any

import grpc
from google.protobuf import empty_pb2, timestamp_pb2

from common.errors import InvalidArgument
from common.ocpp_json import (
    ConversionError,
    ocpp_enum_value,
    proto_enum_number,
    to_proto,
)
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.user.v1 import user_service_pb2 as pb
from csms.user.v1 import user_service_pb2_grpc as pb_grpc
from user_svc.models import IdToken, LocalList
from user_svc.service import Authorization, IdTokens, LocalLists, SyncResult

__all__ = [
    "UserServicer",
    "authorization_to_proto",
    "id_token_to_proto",
    "local_list_to_proto",
    "sync_result_to_proto",
]

# Where a gRPC status carries its google.rpc.Status (with the station's OCPP error code).
_STATUS_DETAILS_KEY = "grpc-status-details-bin"

# update_mask paths are the writable columns themselves.
_MASK_PATHS = frozenset({"type", "status", "expiry_date", "group_id_token"})


def _ts(value: datetime.datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def _ocpp_value(enum_type: Any, number: int, field: str) -> str:
    """The OCPP spelling of an enum number; "" for UNSPECIFIED, a bad number is the caller's."""
    if number == 0:
        return ""
    try:
        return ocpp_enum_value(enum_type, number)
    except ConversionError as exc:
        raise InvalidArgument(f"{field}: {exc.reason}") from None


def _number(enum_type: Any, value: str) -> int:
    return proto_enum_number(enum_type, value) if value else 0


def _columns(msg: pb.IdToken) -> dict[str, Any]:
    """Every writable column as the message gives it."""
    return {
        "type": _ocpp_value(ocpp.IdTokenEnum, msg.type, "type"),
        "status": _ocpp_value(ocpp.AuthorizationStatusEnum, msg.status, "status"),
        "expiry_date": (
            msg.expiry_date.ToDatetime(tzinfo=datetime.UTC) if msg.HasField("expiry_date") else None
        ),
        "group_id_token": msg.group_id_token,
    }


def id_token_to_proto(token: IdToken) -> pb.IdToken:
    return pb.IdToken(
        id_token=token.id_token,
        type=_number(ocpp.IdTokenEnum, token.type),
        status=_number(ocpp.AuthorizationStatusEnum, token.status),
        expiry_date=_ts(token.expiry_date),
        group_id_token=token.group_id_token,
        create_time=_ts(token.created_at),
        update_time=_ts(token.updated_at),
    )


def authorization_to_proto(decision: Authorization) -> ocpp.AuthorizeResponse:
    info = ocpp.IdTokenInfo(
        status=proto_enum_number(ocpp.AuthorizationStatusEnum, decision.status),
        cache_expiry_date_time=_ts(decision.cache_expiry),
    )
    if decision.group_id_token:
        # A group is an idToken value of no reader technology: OCPP's type for that is Central.
        info.group_id_token.id_token = decision.group_id_token
        info.group_id_token.type = ocpp.ID_TOKEN_CENTRAL
    return ocpp.AuthorizeResponse(id_token_info=info)


def local_list_to_proto(row: LocalList) -> pb.LocalList:
    return pb.LocalList(
        station_id=row.station_id,
        version=row.version,
        entries=[to_proto(ocpp.AuthorizationData, e) for e in row.entries],
        update_time=_ts(row.updated_at),
    )


def sync_result_to_proto(result: SyncResult) -> pb.SyncLocalListResponse:
    msg = pb.SyncLocalListResponse(
        version=result.version,
        update_type=_number(ocpp.UpdateEnum, result.update_type),
        entries=result.entries,
    )
    if result.station_response is not None:
        msg.station_response.CopyFrom(
            to_proto(ocpp.SendLocalListResponse, dict(result.station_response))
        )
    return msg


class UserServicer(pb_grpc.UserServiceServicer):
    def __init__(self, id_tokens: IdTokens, local_lists: LocalLists) -> None:
        self.id_tokens = id_tokens
        self.local_lists = local_lists

    async def CreateIdToken(self, request, context):  # type: ignore[no-untyped-def]
        msg = request.id_token
        return id_token_to_proto(await self.id_tokens.create(msg.id_token, _columns(msg)))

    async def GetIdToken(self, request, context):  # type: ignore[no-untyped-def]
        return id_token_to_proto(await self.id_tokens.get(request.id_token))

    async def ListIdTokens(self, request, context):  # type: ignore[no-untyped-def]
        rows, token = await self.id_tokens.list(request.page_size, request.page_token)
        return pb.ListIdTokensResponse(
            id_tokens=[id_token_to_proto(t) for t in rows], next_page_token=token
        )

    async def UpdateIdToken(self, request, context):  # type: ignore[no-untyped-def]
        msg = request.id_token
        given = _columns(msg)
        if request.update_mask.paths:
            bad = [p for p in request.update_mask.paths if p not in _MASK_PATHS]
            if bad:
                raise InvalidArgument(f"update_mask: {', '.join(bad)} not writable")
            fields = {p: given[p] for p in request.update_mask.paths}
        else:
            # No mask: PATCH the fields the body sets.
            fields = {n: v for n, v in given.items() if v not in ("", None)}
        return id_token_to_proto(await self.id_tokens.update(msg.id_token, fields))

    async def DeleteIdToken(self, request, context):  # type: ignore[no-untyped-def]
        await self.id_tokens.delete(request.id_token)
        return empty_pb2.Empty()

    async def Authorize(self, request, context):  # type: ignore[no-untyped-def]
        req = request.request
        if not req.HasField("id_token"):
            raise InvalidArgument("request.id_token is required")
        presented = req.id_token
        decision = await self.id_tokens.authorize(
            presented.id_token,
            _ocpp_value(ocpp.IdTokenEnum, presented.type, "request.id_token.type"),
        )
        return authorization_to_proto(decision)

    async def SyncLocalList(self, request, context):  # type: ignore[no-untyped-def]
        try:
            result = await self.local_lists.sync(request.station_id, request.full)
        except grpc.aio.AioRpcError as exc:
            # device_svc's status is the answer (UNAVAILABLE: not connected, DEADLINE_EXCEEDED,
            # the station's CALLERROR); its google.rpc.Status details travel on unchanged, and
            # the message with them, since clients check that the two agree.
            details = [(k, v) for k, v in exc.trailing_metadata() or () if k == _STATUS_DETAILS_KEY]
            if details:
                message = exc.details() or ""
            else:
                message = f"device_svc: {exc.details()}"
            await context.abort(exc.code(), message, tuple(details))
        return sync_result_to_proto(result)

    async def GetLocalList(self, request, context):  # type: ignore[no-untyped-def]
        return local_list_to_proto(await self.local_lists.get(request.station_id))
