"""The one error mapping of the mesh, kept as tables.

Service error (a :class:`CsmsError` subclass) → gRPC status code → OCPP CALLERROR code for
stations (used by the gateway) and → HTTP status for REST (applied by Envoy's gRPC-JSON
transcoder, which follows ``google/rpc/code.proto``; the table here documents it and the tests
check Envoy against it). Business outcomes (Accepted/Rejected/Unknown) are data, never errors.
"""

from __future__ import annotations

import re

import grpc

__all__ = [
    "CsmsError",
    "InvalidArgument",
    "NotFound",
    "AlreadyExists",
    "FailedPrecondition",
    "PermissionDenied",
    "GRPC_TO_OCPP",
    "GRPC_TO_HTTP",
    "OCPP_TO_GRPC",
    "OCPP_ERROR_DOMAIN",
    "OCPP_DEFAULT",
    "grpc_status_of_callerror",
    "sent_by_peer",
    "ocpp_code",
]


class CsmsError(Exception):
    """A failure a service reports to its caller; the subclass picks the gRPC status."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidArgument(CsmsError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(CsmsError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(CsmsError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(CsmsError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class PermissionDenied(CsmsError):
    """The caller may not do this (a station: SecurityError)."""

    code = grpc.StatusCode.PERMISSION_DENIED


class Unavailable(CsmsError):
    """A service this one needs cannot answer now; the caller may retry."""

    code = grpc.StatusCode.UNAVAILABLE


# What a station hears when the service behind its CALL failed (OCPP 2.0.1 Part 4 codes).
GRPC_TO_OCPP: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.INVALID_ARGUMENT: "PropertyConstraintViolation",
    grpc.StatusCode.OUT_OF_RANGE: "PropertyConstraintViolation",
    grpc.StatusCode.FAILED_PRECONDITION: "GenericError",
    grpc.StatusCode.NOT_FOUND: "GenericError",
    grpc.StatusCode.ALREADY_EXISTS: "GenericError",
    grpc.StatusCode.PERMISSION_DENIED: "SecurityError",
    grpc.StatusCode.UNAUTHENTICATED: "SecurityError",
    grpc.StatusCode.UNIMPLEMENTED: "NotSupported",
}
# Everything else (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, UNKNOWN, ...) is our fault.
OCPP_DEFAULT = "InternalError"

# What a CSMS-initiated call ends in when the station answers with a CALLERROR (the OCPP code
# itself travels along as a google.rpc.ErrorInfo reason). Unlisted codes → UNKNOWN (HTTP 500):
# the station failed, not us.
OCPP_TO_GRPC: dict[str, grpc.StatusCode] = {
    "NotImplemented": grpc.StatusCode.UNIMPLEMENTED,
    "NotSupported": grpc.StatusCode.UNIMPLEMENTED,
    "FormatViolation": grpc.StatusCode.INVALID_ARGUMENT,
    "PropertyConstraintViolation": grpc.StatusCode.INVALID_ARGUMENT,
    "OccurrenceConstraintViolation": grpc.StatusCode.INVALID_ARGUMENT,
    "TypeConstraintViolation": grpc.StatusCode.INVALID_ARGUMENT,
    "ProtocolError": grpc.StatusCode.INVALID_ARGUMENT,
    "SecurityError": grpc.StatusCode.PERMISSION_DENIED,
    # OCPP-J 1.6's spellings of two of them (a 1.6 station's CALLERROR to a command).
    "FormationViolation": grpc.StatusCode.INVALID_ARGUMENT,
    "OccurenceConstraintViolation": grpc.StatusCode.INVALID_ARGUMENT,
}
OCPP_ERROR_DOMAIN = "ocpp"

# What a REST client sees (google/rpc/code.proto's mapping, as Envoy applies it).
GRPC_TO_HTTP: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


# How gRPC's own transport errors name a peer ("failed to connect to all addresses; last error:
# UNKNOWN: ipv4:127.0.0.1:50052: ..."); our services never write that.
_GRPC_ADDRESS = re.compile(r"\b(?:ipv4|ipv6|unix|unix-abstract|dns):")


def sent_by_peer(exc: grpc.aio.AioRpcError) -> bool:
    """Whether a failed call's details are the called service's own words, fit to pass on, or
    gRPC's about the connection (refused, reset), which name internal addresses: those stay in
    the log. (The debug string does not tell them apart; the addresses they name do.)"""
    return _GRPC_ADDRESS.search(exc.details() or "") is None


def grpc_status_of_callerror(ocpp_error_code: str) -> grpc.StatusCode:
    """The gRPC status of a station's CALLERROR answer to a CSMS-initiated call."""
    return OCPP_TO_GRPC.get(ocpp_error_code, grpc.StatusCode.UNKNOWN)


def ocpp_code(code: grpc.StatusCode) -> str:
    """The CALLERROR code a station gets when its CALL ended in this gRPC status."""
    return GRPC_TO_OCPP.get(code, OCPP_DEFAULT)
