"""DeviceRestService: DeviceService in the REST API's JSON (see :mod:`common.rest`).

The resources go through the generic facade. The commands do not: their body is the OCPP
request payload itself, checked against the official request schema by the very rules the
gateway applies to stations' frames (:mod:`common.ocpp_schema`: a breach is INVALID_ARGUMENT
naming the rule, and nothing is sent), and their answer is the station's response payload as the
station sent it. UpdateBasicAuthPassword answers as its typed method, with the station's
SetVariablesResponse as the station sent it.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
import orjson
from google.protobuf import struct_pb2
from google.protobuf.message import Message

from common import ocpp_schema
from common.errors import InvalidArgument
from common.ocpp_json import REQUEST_TYPES, ConversionError, to_ocpp, to_proto
from common.rest import Handler, RestFacade, update_request
from common.rest_json import RestJsonError, check_text, from_struct, parse, render
from csms.device.v1 import device_service_pb2 as pb
from device_svc.operations import ACTIONS, GatewayError, Operations
from device_svc.servicer import DeviceServicer, password_update_to_proto

__all__ = ["REST_SERVICE", "device_rest"]

log = logging.getLogger(__name__)

REST_SERVICE = pb.DESCRIPTOR.services_by_name["DeviceRestService"]


def _request(action: str, request_type: type[Message], payload: dict[str, Any]) -> Message:
    """The typed request of a command's body: OCPP's JSON, checked against OCPP's schema.

    A body in the protobuf JSON of the typed request (enum identifiers such as
    ``RESET_IMMEDIATE``: how REST spelled commands before it spoke OCPP) is still taken when it
    means a valid OCPP request; deprecated, to be removed in the next release.
    """
    try:
        ocpp_schema.check(action, "Request", payload)
    except ocpp_schema.SchemaViolation as exc:
        try:
            legacy = parse(request_type, payload)
            ocpp_schema.check(action, "Request", to_ocpp(legacy))
        except (RestJsonError, ConversionError, ocpp_schema.SchemaViolation):
            raise InvalidArgument(
                f"the body breaks the OCPP 2.0.1 {action}Request schema "
                f"({exc.rule or 'schema'}): {exc.description}"
            ) from None
        log.info("%s: a body in protobuf enum names (deprecated: use OCPP's)", action)
        return legacy
    try:
        return to_proto(request_type, payload)
    except ConversionError as exc:
        raise InvalidArgument(f"{action}Request: {exc}") from None


def _command(operations: Operations, action: str) -> Handler:
    request_type = REQUEST_TYPES[action]

    async def handle(request: Any, context: grpc.aio.ServicerContext) -> struct_pb2.Struct:
        typed = _request(action, request_type, from_struct(request.request))
        try:
            response, answer = await operations.exchange(
                action, request.station_id, typed, context.time_remaining()
            )
        except GatewayError as exc:
            await context.abort(exc.code, exc.details, exc.trailing_metadata)
            raise AssertionError("abort returned") from None  # pragma: no cover
        # A gateway of an earlier release sends no payload_json: the typed answer in OCPP JSON.
        struct = struct_pb2.Struct()
        struct.update(orjson.loads(answer) if answer else to_ocpp(response))
        return struct

    return handle


def _update_basic_auth_password(operations: Operations) -> Handler:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> struct_pb2.Struct:
        try:
            check_text(request)
        except RestJsonError as exc:
            raise InvalidArgument(str(exc)) from None
        try:
            update = await operations.update_basic_auth_password(
                request.station_id, context.time_remaining()
            )
        except GatewayError as exc:
            await context.abort(exc.code, exc.details, exc.trailing_metadata)
            raise AssertionError("abort returned") from None  # pragma: no cover
        answer = render(password_update_to_proto(update))
        if update.payload_json:
            answer["setVariablesResponse"] = orjson.loads(update.payload_json)
        struct = struct_pb2.Struct()
        struct.update(answer)
        return struct

    return handle


def _to_many(servicer: DeviceServicer, method: str, action: str) -> Handler:
    """SetDisplayMessages / ClearDisplayMessages: {"stationIds": [...], "request": <the OCPP
    payload>}, the payload checked once against its schema; each station's answer as it sent
    it."""
    request_type = REQUEST_TYPES[action]
    typed_type = getattr(pb, f"{method}Request")

    async def handle(request: Any, context: grpc.aio.ServicerContext) -> struct_pb2.Struct:
        try:
            check_text(request)
        except RestJsonError as exc:
            raise InvalidArgument(str(exc)) from None
        if not request.HasField("request"):
            raise InvalidArgument("request (the OCPP payload) is required")
        typed = typed_type(
            station_ids=list(request.station_ids),
            request=_request(action, request_type, from_struct(request.request)),
        )
        answers = await getattr(servicer, method)(typed, context)
        struct = struct_pb2.Struct()
        struct.update(render(answers))
        return struct

    return handle


def device_rest(servicer: DeviceServicer, operations: Operations) -> RestFacade:
    """The DeviceRestService servicer over ``servicer``."""
    return RestFacade(
        REST_SERVICE,
        servicer,
        requests={
            "UpdateChargingStation": update_request(
                pb.UpdateChargingStationRequest, "charging_station", "id"
            )
        },
        handlers={
            **{action: _command(operations, action) for action in ACTIONS},
            "UpdateBasicAuthPassword": _update_basic_auth_password(operations),
            "SetDisplayMessages": _to_many(servicer, "SetDisplayMessages", "SetDisplayMessage"),
            "ClearDisplayMessages": _to_many(
                servicer, "ClearDisplayMessages", "ClearDisplayMessage"
            ),
        },
    )
