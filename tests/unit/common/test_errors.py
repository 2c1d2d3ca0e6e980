"""The error mapping tables of common.errors."""

from __future__ import annotations

import grpc
import pytest

from common import errors

# Part 4's complete list of CALLERROR codes: no other string may reach a station.
PART4_CODES = {
    "FormatViolation",
    "GenericError",
    "InternalError",
    "MessageTypeNotSupported",
    "NotImplemented",
    "NotSupported",
    "OccurrenceConstraintViolation",
    "PropertyConstraintViolation",
    "ProtocolError",
    "RpcFrameworkError",
    "SecurityError",
    "TypeConstraintViolation",
}


@pytest.mark.parametrize(
    ("status", "ocpp"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, "PropertyConstraintViolation"),
        (grpc.StatusCode.NOT_FOUND, "GenericError"),
        (grpc.StatusCode.FAILED_PRECONDITION, "GenericError"),
        (grpc.StatusCode.UNIMPLEMENTED, "NotSupported"),
        (grpc.StatusCode.PERMISSION_DENIED, "SecurityError"),
        (grpc.StatusCode.UNAVAILABLE, "InternalError"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "InternalError"),
        (grpc.StatusCode.INTERNAL, "InternalError"),
        (grpc.StatusCode.UNKNOWN, "InternalError"),
    ],
)
def test_grpc_status_to_ocpp_code(status: grpc.StatusCode, ocpp: str) -> None:
    """A failed service call reaches the station as the Part 4 code of the table."""
    assert errors.ocpp_code(status) == ocpp


def test_every_status_maps_to_a_part4_code() -> None:
    """Whatever the status, the station gets one of Part 4's codes."""
    assert {errors.ocpp_code(s) for s in grpc.StatusCode if s != grpc.StatusCode.OK} <= PART4_CODES


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
        (errors.NotFound, grpc.StatusCode.NOT_FOUND),
        (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
        (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
        (errors.CsmsError, grpc.StatusCode.INTERNAL),
    ],
)
def test_service_error_to_grpc_status(
    error: type[errors.CsmsError], status: grpc.StatusCode
) -> None:
    """Each service error class carries its gRPC status."""
    assert error("x").code == status


def test_http_table_covers_every_status() -> None:
    """The REST table names an HTTP status for every gRPC status (google/rpc/code.proto)."""
    assert set(errors.GRPC_TO_HTTP) == set(grpc.StatusCode)
    assert errors.GRPC_TO_HTTP[grpc.StatusCode.NOT_FOUND] == 404
    assert errors.GRPC_TO_HTTP[grpc.StatusCode.ALREADY_EXISTS] == 409
    assert errors.GRPC_TO_HTTP[grpc.StatusCode.INVALID_ARGUMENT] == 400


@pytest.mark.parametrize(
    ("ocpp", "status"),
    [
        ("NotImplemented", grpc.StatusCode.UNIMPLEMENTED),
        ("NotSupported", grpc.StatusCode.UNIMPLEMENTED),
        ("FormatViolation", grpc.StatusCode.INVALID_ARGUMENT),
        ("PropertyConstraintViolation", grpc.StatusCode.INVALID_ARGUMENT),
        ("SecurityError", grpc.StatusCode.PERMISSION_DENIED),
        ("InternalError", grpc.StatusCode.UNKNOWN),
        ("GenericError", grpc.StatusCode.UNKNOWN),
        ("SomethingNew", grpc.StatusCode.UNKNOWN),
        # OCPP-J 1.6's spellings (a 1.6 station's answer to a command)
        ("FormationViolation", grpc.StatusCode.INVALID_ARGUMENT),
        ("OccurenceConstraintViolation", grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_station_callerror_to_grpc_status(ocpp: str, status: grpc.StatusCode) -> None:
    """A station's CALLERROR to our call becomes the gRPC status of the table."""
    assert errors.grpc_status_of_callerror(ocpp) == status


@pytest.mark.parametrize(
    ("details", "ours"),
    [
        ("station CS1 not connected", True),
        ("model must be at most 20 characters", True),
        ("Deadline Exceeded", True),
        (
            "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:50052: "
            "Failed to connect to remote host: Connection refused",
            False,
        ),
        ("connections to all backends failing; last error: UNAVAILABLE: ipv6:[::1]:50051", False),
        ("unix:/run/csms.sock: Connection reset", False),
    ],
)
def test_sent_by_peer_tells_grpcs_own_words_by_their_addresses(details: str, ours: bool) -> None:
    """What a service wrote may be passed on; gRPC's transport errors name addresses."""
    exc = grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details
    )
    assert errors.sent_by_peer(exc) is ours
