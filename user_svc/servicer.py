"""UserService, and Envoy's external authorization (Authorization/Check), over gRPC.

Proto ⇄ domain, nothing else: the decisions are :mod:`user_svc.access`'s and
:class:`user_svc.service.ApiKeys`'.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import grpc
import orjson
from envoy.config.core.v3 import base_pb2 as envoy_core
from envoy.service.auth.v3 import external_auth_pb2 as authz
from envoy.service.auth.v3 import external_auth_pb2_grpc as authz_grpc
from envoy.type.v3 import http_status_pb2
from google.protobuf import empty_pb2
from google.rpc import code_pb2, status_pb2

from common import grpc_server, registration
from common.columns import enum_column as _ocpp_value
from common.columns import enum_number as _number
from common.columns import timestamp as _ts
from common.columns import utc_datetime
from common.errors import InvalidArgument, sent_by_peer
from common.ocpp_json import (
    proto_enum_number,
    to_proto,
)
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.user.v1 import user_service_pb2 as pb
from csms.user.v1 import user_service_pb2_grpc as pb_grpc
from user_svc import access
from user_svc.devices import Devices
from user_svc.models import ApiKey, IdToken, LocalList
from user_svc.service import (
    ANY_TYPE,
    ApiKeys,
    Authorization,
    IdTokens,
    LocalLists,
    SyncResult,
    with_contract,
)

__all__ = [
    "ExtAuthzServicer",
    "UserServicer",
    "api_key_to_proto",
    "authorization_to_proto",
    "id_token_to_proto",
    "local_list_to_proto",
    "sync_result_to_proto",
]

# Where a gRPC status carries its google.rpc.Status (with the station's OCPP error code).
_STATUS_DETAILS_KEY = "grpc-status-details-bin"

log = logging.getLogger(__name__)

# update_mask paths are the writable columns themselves.
_MASK_PATHS = frozenset({"type", "status", "expiry_date", "group_id_token"})


def _columns(msg: pb.IdToken) -> dict[str, Any]:
    """Every writable column as the message gives it."""
    return {
        "type": _ocpp_value(ocpp.IdTokenEnum, msg.type, "type"),
        "status": _ocpp_value(ocpp.AuthorizationStatusEnum, msg.status, "status"),
        "expiry_date": (utc_datetime(msg.expiry_date) if msg.HasField("expiry_date") else None),
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


_ROLES = {access.READER: pb.API_KEY_ROLE_READER, access.OPERATOR: pb.API_KEY_ROLE_OPERATOR}
_ROLE_NAMES = {number: name for name, number in _ROLES.items()}


def api_key_to_proto(key: ApiKey, secret: str = "") -> pb.ApiKey:
    return pb.ApiKey(
        id=key.id,
        name=key.name,
        role=_ROLES.get(key.role, pb.API_KEY_ROLE_UNSPECIFIED),
        secret=secret,
        create_time=_ts(key.created_at),
        revoke_time=_ts(key.revoked_at),
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
    def __init__(
        self,
        id_tokens: IdTokens,
        local_lists: LocalLists,
        api_keys: ApiKeys,
        contracts: Devices | None = None,
    ) -> None:
        """``contracts``: device_svc, which checks contract certificates (Plug & Charge); None
        (tests of other things): an Authorize with one is answered as its certificate unknown."""
        self.contracts = contracts
        self.id_tokens = id_tokens
        self.local_lists = local_lists
        self.api_keys = api_keys

    async def CreateIdToken(
        self, request: pb.CreateIdTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.IdToken:
        msg = request.id_token
        return id_token_to_proto(await self.id_tokens.create(msg.id_token, _columns(msg)))

    async def GetIdToken(
        self, request: pb.GetIdTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.IdToken:
        return id_token_to_proto(await self.id_tokens.get(request.id_token))

    async def ListIdTokens(
        self, request: pb.ListIdTokensRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListIdTokensResponse:
        rows, token = await self.id_tokens.list(
            request.page_size,
            request.page_token,
            _ocpp_value(ocpp.AuthorizationStatusEnum, request.status, "status") or None,
            _ocpp_value(ocpp.IdTokenEnum, request.type, "type") or None,
        )
        return pb.ListIdTokensResponse(
            id_tokens=[id_token_to_proto(t) for t in rows], next_page_token=token
        )

    async def UpdateIdToken(
        self, request: pb.UpdateIdTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.IdToken:
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

    async def DeleteIdToken(
        self, request: pb.DeleteIdTokenRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self.id_tokens.delete(request.id_token)
        return empty_pb2.Empty()

    async def Authorize(
        self, request: pb.AuthorizeCall, context: grpc.aio.ServicerContext
    ) -> ocpp.AuthorizeResponse:
        return await self._authorize(request)

    async def Authorizes(
        self, request: pb.AuthorizesRequest, context: grpc.aio.ServicerContext
    ) -> pb.AuthorizesResponse:
        """Each item as Authorize would answer it; together, so that their tokens are read
        together."""
        return await grpc_server.answer_each(request, self._authorize, pb.AuthorizesResponse)

    async def _authorize(self, request: pb.AuthorizeCall) -> ocpp.AuthorizeResponse:
        if request.HasField("registration"):
            registration.check(request.registration, "Authorize")
        req = request.request
        if not req.HasField("id_token"):
            raise InvalidArgument("request.id_token is required")
        presented = req.id_token
        decision = await self.id_tokens.authorize(
            presented.id_token,
            ANY_TYPE
            if request.protocol == "ocpp1.6"
            else _ocpp_value(ocpp.IdTokenEnum, presented.type, "request.id_token.type"),
        )
        if not (req.certificate or req.iso15118_certificate_hash_data):
            return authorization_to_proto(decision)
        # Plug & Charge (C07): the contract's chain and status are device_svc's to check.
        if self.contracts is None:
            status, emaid, reason = "NoCertificateAvailable", "", "no device_svc to check it"
        else:
            status, emaid, reason = await self.contracts.check_contract(
                request.station_id, req.certificate, req.iso15118_certificate_hash_data
            )
        if reason:
            log.info("contract of %s: %s (%s)", presented.id_token, status, reason)
        decision = with_contract(decision, status, presented.id_token, emaid)
        response = authorization_to_proto(decision)
        response.certificate_status = proto_enum_number(ocpp.AuthorizeCertificateStatusEnum, status)
        return response

    async def SyncLocalList(
        self, request: pb.SyncLocalListRequest, context: grpc.aio.ServicerContext
    ) -> pb.SyncLocalListResponse:
        try:
            result = await self.local_lists.sync(request.station_id, request.full)
        except grpc.aio.AioRpcError as exc:
            # device_svc's status is the answer (UNAVAILABLE: not connected, DEADLINE_EXCEEDED,
            # the station's CALLERROR); its google.rpc.Status details travel on unchanged, and
            # the message with them, since clients check that the two agree.
            details = [(k, v) for k, v in exc.trailing_metadata() or () if k == _STATUS_DETAILS_KEY]
            if details:
                message = exc.details() or ""
            elif sent_by_peer(exc):
                message = f"device_svc: {exc.details()}"
            else:  # gRPC's own words name addresses: they stay in the log
                log.warning("device_svc unreachable: %s %s", exc.code().name, exc.details())
                message = "device_svc: unreachable"
            await context.abort(exc.code(), message, tuple(details))
        return sync_result_to_proto(result)

    async def GetLocalList(
        self, request: pb.GetLocalListRequest, context: grpc.aio.ServicerContext
    ) -> pb.LocalList:
        return local_list_to_proto(await self.local_lists.get(request.station_id))

    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ApiKey:
        msg = request.api_key
        key, secret = await self.api_keys.create(msg.name, _ROLE_NAMES.get(msg.role, ""))
        return api_key_to_proto(key, secret)

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListApiKeysResponse:
        rows, token = await self.api_keys.list(request.page_size, request.page_token)
        return pb.ListApiKeysResponse(
            api_keys=[api_key_to_proto(k) for k in rows], next_page_token=token
        )

    async def RevokeApiKey(
        self, request: pb.RevokeApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ApiKey:
        return api_key_to_proto(await self.api_keys.revoke(request.id))


# The secret's headers: removed before the request goes on to the services, which need no key.
_KEY_HEADERS = ("authorization", "x-api-key")
_DENIED = {
    401: (http_status_pb2.Unauthorized, code_pb2.UNAUTHENTICATED),
    403: (http_status_pb2.Forbidden, code_pb2.PERMISSION_DENIED),
}


def _header(key: str, value: str) -> envoy_core.HeaderValueOption:
    return envoy_core.HeaderValueOption(
        header=envoy_core.HeaderValue(key=key, value=value),
        append_action=envoy_core.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
    )


def _headers(http: Any) -> Mapping[str, str]:
    """The request's headers (lower-case names), however Envoy chose to send them."""
    if http.headers:
        headers: Mapping[str, str] = http.headers
        return headers
    return {
        h.key.lower(): h.raw_value.decode(errors="replace") or h.value
        for h in http.header_map.headers
    }


def _presented(headers: Mapping[str, str]) -> tuple[bool, str]:
    """(whether a key was presented at all, the secret: "" when not a usable one)."""
    auth = headers.get("authorization", "").strip()
    if auth:
        scheme, _, value = auth.partition(" ")
        return True, value.strip() if scheme.lower() == "bearer" else ""
    key = headers.get("x-api-key", "").strip()
    return bool(key), key


class ExtAuthzServicer(authz_grpc.AuthorizationServicer):
    """Envoy's ``envoy.service.auth.v3.Authorization``: may this API request go on?

    Refusals carry the body the client gets: for REST, the JSON of the API's other errors
    (``{"code": 16, "message": ...}``); for gRPC clients the message alone, which Envoy sends as
    grpc-message with the gRPC status of the HTTP one (401 → UNAUTHENTICATED, 403 →
    PERMISSION_DENIED).
    """

    def __init__(self, api_keys: ApiKeys, allow_anonymous_legacy_create: bool) -> None:
        self.api_keys = api_keys
        self.allow_anonymous_legacy_create = allow_anonymous_legacy_create

    async def Check(
        self, request: authz.CheckRequest, context: grpc.aio.ServicerContext
    ) -> authz.CheckResponse:
        http = request.attributes.request.http
        headers = _headers(http)
        presented, secret = _presented(headers)
        role = await self.api_keys.authenticate(secret) if secret else None
        decision = access.decide(
            http.method,
            http.path,
            role,
            key_presented=presented,
            allow_anonymous_legacy_create=self.allow_anonymous_legacy_create,
        )
        if decision.allowed:
            return authz.CheckResponse(
                status=status_pb2.Status(code=code_pb2.OK),
                ok_response=authz.OkHttpResponse(headers_to_remove=list(_KEY_HEADERS)),
            )
        http_status, code = _DENIED[decision.status]
        log.info(
            "refused %s %s: %d %s (key %s)",
            http.method,
            http.path.partition("?")[0],
            decision.status,
            decision.message,
            access.key_id_of(secret) or "-",
        )
        out = []
        if decision.status == 401:
            out.append(_header("www-authenticate", 'Bearer realm="csms"'))
        # Envoy's local reply config gives REST refusals their content-type (application/json).
        if headers.get("content-type", "").startswith("application/grpc"):
            body = decision.message
        else:
            body = orjson.dumps({"code": code, "message": decision.message}).decode()
        return authz.CheckResponse(
            status=status_pb2.Status(code=code, message=decision.message),
            denied_response=authz.DeniedHttpResponse(
                status=http_status_pb2.HttpStatus(code=http_status), headers=out, body=body
            ),
        )
