"""``csms.gateway.v1.StationControlService``: CSMS-initiated OCPP calls to the stations held here.

One ``Call``: the typed request (an ``Any`` holding ``csms.ocpp.v201.<Action>Request``) becomes
OCPP JSON, is checked against the official request schema (INVALID_ARGUMENT, nothing sent), goes
to the station's :class:`~gateway.connection.StationConnection` (UNAVAILABLE when the station is
not connected here, or under another epoch than the caller routes by), and the station's answer
comes back as the typed response: a CALLRESULT that breaks the response schema is UNKNOWN, a
CALLERROR the status of :func:`common.errors.grpc_status_of_callerror` with a
``google.rpc.ErrorInfo`` detail carrying the OCPP error code. The wait is bounded by
``call_timeout`` and the caller's deadline, whichever ends first (DEADLINE_EXCEEDED).

A station that speaks OCPP 1.6J gets the 1.6 CALL(s) of the command (:data:`gateway.ocpp16.
COMMANDS`), checked against the 1.6 schema; a command 1.6 cannot say is FAILED_PRECONDITION with
the reason, and nothing is sent. The station's 1.6 answer is checked against the 1.6 response
schema (UNKNOWN when it breaks it) and returned as the 2.0.1 response, typed and as JSON; its
CALLERROR keeps the code as the station spelled it.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NoReturn

import grpc
import orjson
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from common import errors
from common import logging as log_ctx
from common.ocpp_json import REQUEST_TYPES, RESPONSE_TYPES, ConversionError, to_ocpp, to_proto
from csms.gateway.v1 import station_control_pb2 as pb
from csms.gateway.v1 import station_control_pb2_grpc as pb_grpc
from gateway import ocpp16, ocppj
from gateway.connection import InvalidAnswer, StationConnection, StationUnavailable

__all__ = ["CONTROL_SERVICE_NAME", "MAX_DETAILS_LENGTH", "StationControl", "callerror_status"]

log = logging.getLogger(__name__)

CONTROL_SERVICE_NAME = pb.DESCRIPTOR.services_by_name["StationControlService"].full_name

_OCPP_PACKAGE = "csms.ocpp.v201."
# OCPP-J leaves errorDetails' size open; what we pass on of them must fit in gRPC's trailers
# (16 KiB by default, or the caller sees RESOURCE_EXHAUSTED instead of the station's error).
MAX_DETAILS_LENGTH = 2048
# The longest OCPP-J error code is 31 characters; a made-up one is cut here.
_MAX_CODE_LENGTH = 64


def callerror_status(error: ocppj.CallError) -> grpc.Status:
    """The gRPC status (with its ErrorInfo detail) of a station's CALLERROR."""
    code = errors.grpc_status_of_callerror(error.code)
    # Bounded per OCPP-J (description string[0..255]; the codes are short words), so that what
    # a station sends always fits in the trailers and the caller gets the mapped error.
    reason = error.code[:_MAX_CODE_LENGTH]
    description = ocppj.truncate(error.description)
    metadata = {"description": description}
    details = orjson.dumps(error.details).decode()
    if len(details) <= MAX_DETAILS_LENGTH:
        metadata["details"] = details
    else:  # cut JSON is no JSON: left out, its size told
        metadata["details"] = "{}"
        metadata["detailsOmitted"] = str(len(details))
    info = error_details_pb2.ErrorInfo(
        reason=reason, domain=errors.OCPP_ERROR_DOMAIN, metadata=metadata
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    message = f"the station answered {reason}"
    if description:
        message += f": {description}"
    status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    return rpc_status.to_status(status)


def _action_of(request: any_pb2.Any) -> str | None:
    """The action an ``Any`` names when it holds one of the generated OCPP requests."""
    type_name: str = request.TypeName()
    if not type_name.startswith(_OCPP_PACKAGE) or not type_name.endswith("Request"):
        return None
    action = type_name[len(_OCPP_PACKAGE) : -len("Request")]
    request_type = REQUEST_TYPES.get(action)
    if request_type is None or request_type.DESCRIPTOR.full_name != type_name:
        return None
    return action


#: The gateway serving a CALL as if the station had sent it: (station id, CALL) → answer frame.
Serve = Callable[[str, ocppj.Call], Awaitable[str]]


def _now() -> str:
    """The gateway's time as OCPP sends it: UTC, milliseconds."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class StationControl(pb_grpc.StationControlServiceServicer):
    """Sends typed OCPP CALLs to the stations in ``connections`` (the gateway's own dict)."""

    def __init__(
        self,
        connections: Mapping[str, StationConnection],
        call_timeout: float,
        serve: Serve | None = None,
    ) -> None:
        """``serve``: the gateway's own serving of a station's 2.0.1 CALL (station id, CALL →
        the answer's frame), for what a 1.6 station answers and 2.0.1 reports in a CALL of its
        own (GetBaseReport's NotifyReport); None: such reports are not stored."""
        self.connections = connections
        self.call_timeout = call_timeout
        self.serve = serve

    async def Call(  # noqa: N802 - the RPC's name
        self, request: pb.StationCall, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.StationCallResult:
        log_ctx.station_id.set(request.station_id or "-")
        action = _action_of(request.request)
        if action is None:
            await _abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                "request must hold a csms.ocpp.v201.<Action>Request, "
                f"not {request.request.TypeName() or 'nothing'!r}",
            )
        message = REQUEST_TYPES[action]()
        request.request.Unpack(message)
        try:
            payload = to_ocpp(message)
            ocppj.validate(action, "Request", payload)
        except ConversionError as exc:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"{action}Request: {exc}")
        except ocppj.OcppError as exc:
            await _abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{action}Request breaks the OCPP 2.0.1 schema ({exc.code}): {exc.description}",
            )
        station = self.connections.get(request.station_id)
        if station is None or (request.epoch and request.epoch != station.epoch):
            await _abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                f"charging station {request.station_id!r} is not connected to this gateway"
                + (f" under epoch {request.epoch}" if station is not None else ""),
            )
        timeout = self.call_timeout
        remaining = context.time_remaining()
        if remaining is not None:
            timeout = min(timeout, remaining)
        if station.protocol == ocpp16.PROTOCOL:
            answered = await self._call16(context, station, action, payload, timeout)
        else:
            answered = await self._call201(context, station, action, payload, timeout)
        try:
            response = to_proto(RESPONSE_TYPES[action], answered)
        except ConversionError as exc:
            # The station's fault, not the caller's: UNKNOWN (HTTP 500), as for unlisted
            # CALLERROR codes.
            log.warning("%s: the station's answer does not convert: %s", action, exc)
            await _abort(
                context,
                grpc.StatusCode.UNKNOWN,
                f"the station's {action}Response breaks the OCPP 2.0.1 schema: {exc}",
            )
        result = any_pb2.Any()
        result.Pack(response)
        return pb.StationCallResult(response=result, payload_json=orjson.dumps(answered).decode())

    async def _send(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        station: StationConnection,
        action: str,
        payload: dict[str, Any],
        seconds: float,
    ) -> ocppj.CallResult:
        """One CALL to the station and its CALLRESULT; every other ending is our caller's
        error (the station's CALLERROR with its code, no answer in time, no station)."""
        try:
            async with asyncio.timeout(seconds):
                answer = await station.call(action, payload)
        except TimeoutError:
            log.info("%s: no answer within %.1f s", action, seconds)
            await _abort(
                context,
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"the station did not answer {action} within {seconds:.1f} s",
            )
        except StationUnavailable as exc:
            await _abort(context, grpc.StatusCode.UNAVAILABLE, f"{action} not answered: {exc}")
        except InvalidAnswer as exc:
            log.warning("%s: the station's answer breaks OCPP-J: %s", action, exc)
            await _abort(
                context,
                grpc.StatusCode.UNKNOWN,
                f"the station's answer to {action} breaks OCPP-J: {exc}",
            )
        log_ctx.message_id.set(answer.message_id)
        if isinstance(answer, ocppj.CallError):
            log.info("%s answered %s: %s", action, answer.code, answer.description)
            await context.abort_with_status(callerror_status(answer))
            raise AssertionError("abort_with_status returned")  # pragma: no cover
        return answer

    async def _call201(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        station: StationConnection,
        action: str,
        payload: dict[str, Any],
        seconds: float,
    ) -> dict[str, Any]:
        answer = await self._send(context, station, action, payload, seconds)
        try:
            ocppj.validate(action, "Response", answer.payload)
        except ocppj.OcppError as exc:
            # The station's fault, not the caller's: UNKNOWN (HTTP 500).
            log.warning("%s: the station's answer breaks the schema: %s", action, exc)
            await _abort(
                context,
                grpc.StatusCode.UNKNOWN,
                f"the station's {action}Response breaks the OCPP 2.0.1 schema: {exc}",
            )
        return answer.payload

    async def _call16(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        station: StationConnection,
        action: str,
        payload: dict[str, Any],
        seconds: float,
    ) -> dict[str, Any]:
        """The 2.0.1 command as the 1.6 CALLs of :func:`gateway.ocpp16.command`, the station's
        1.6 answers as the 2.0.1 response. A command 1.6 cannot say is FAILED_PRECONDITION and
        nothing is sent; several CALLs (SetVariables, one ChangeConfiguration per key) go one
        after the other, within one ``seconds``, the first CALLERROR ending the command."""
        refusal = f"not sent to {station.station_id!r}, which speaks {ocpp16.PROTOCOL}"
        try:
            command = ocpp16.command(action, payload)
        except KeyError:
            await _abort(
                context,
                grpc.StatusCode.FAILED_PRECONDITION,
                f"{action} has no OCPP 1.6 counterpart: {refusal}",
            )
        try:
            requests = command.requests(payload)
            for request in requests:
                ocppj.validate(command.action, "Request", request, version=ocpp16.PROTOCOL)
        except ocpp16.Untranslatable as exc:
            await _abort(context, grpc.StatusCode.FAILED_PRECONDITION, f"{exc}: {refusal}")
        except ocppj.OcppError as exc:
            await _abort(
                context,
                grpc.StatusCode.FAILED_PRECONDITION,
                f"{action} as OCPP 1.6 {command.action} breaks its schema ({exc.code}): "
                f"{exc.description}: {refusal}",
            )
        deadline = asyncio.get_running_loop().time() + seconds
        answers = []
        for request in requests:
            left = max(0.0, deadline - asyncio.get_running_loop().time())
            answer = await self._send(context, station, command.action, request, left)
            try:
                ocppj.validate(command.action, "Response", answer.payload, version="ocpp1.6")
            except ocppj.OcppError as exc:
                log.warning("%s: the station's answer breaks the 1.6 schema: %s", action, exc)
                await _abort(
                    context,
                    grpc.StatusCode.UNKNOWN,
                    f"the station's {command.action} answer breaks the OCPP 1.6 schema: {exc}",
                )
            answers.append(answer.payload)
        answered = command.response(payload, answers)
        try:
            ocppj.validate(action, "Response", answered)
        except ocppj.OcppError as exc:  # our translation's bug
            log.error("%s: the translated answer breaks the 2.0.1 schema: %s", action, exc)
            await _abort(
                context,
                grpc.StatusCode.INTERNAL,
                f"the station's {command.action} answer has no valid {action}Response: {exc}",
            )
        if command.reports is not None and self.serve is not None:
            for report_action, report in command.reports(payload, answers, _now()):
                # As if the station had sent it: served before our caller hears the answer, so
                # that what it reported is stored when the command returns.
                frame = await self.serve(
                    station.station_id, ocppj.Call(uuid.uuid4().hex, report_action, report)
                )
                message = orjson.loads(frame)
                if message[0] != ocppj.MessageType.CALL_RESULT:
                    log.warning(
                        "%s of the 1.6 %s answer not stored: %s",
                        report_action,
                        command.action,
                        message[2:4],
                    )
        return answered

    async def Disconnect(  # noqa: N802 - the RPC's name
        self, request: pb.DisconnectRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.DisconnectResponse:
        """Close the station's connection here (under ``epoch`` if given) at once."""
        log_ctx.station_id.set(request.station_id or "-")
        station = self.connections.get(request.station_id)
        if station is None or (request.epoch and request.epoch != station.epoch):
            return pb.DisconnectResponse(closed=False)
        reason = request.reason or "disconnected by the CSMS"
        log.info("closing the connection: %s", reason)
        await station.close(reason[:120])  # a close frame's reason has at most 123 bytes
        return pb.DisconnectResponse(closed=True)


async def _abort(
    context: grpc.aio.ServicerContext[Any, Any], code: grpc.StatusCode, why: str
) -> NoReturn:
    await context.abort(code, why)
    raise AssertionError("abort returned")  # pragma: no cover
