"""callerror_status: a station's CALLERROR as a gRPC status that fits in trailing metadata."""

from __future__ import annotations

import orjson
from google.rpc import error_details_pb2, status_pb2

from common import errors
from gateway import ocppj
from gateway.control import MAX_DETAILS_LENGTH, callerror_status

# gRPC refuses trailers beyond 16 KiB by default (the REST client saw 429 "metadata size
# exceeds hard limit"); the status and its detail must stay well inside 8 KiB.
TRAILER_BUDGET = 8 * 1024


def _decode(error: ocppj.CallError) -> tuple[status_pb2.Status, error_details_pb2.ErrorInfo]:
    status = callerror_status(error)
    details_bin = dict(status.trailing_metadata)["grpc-status-details-bin"]
    assert len(details_bin) + len(status.details) < TRAILER_BUDGET
    rich = status_pb2.Status.FromString(details_bin)
    info = error_details_pb2.ErrorInfo()
    assert rich.details[0].Unpack(info)
    return rich, info


def test_small_callerror_passes_unchanged() -> None:
    """Within OCPP-J's bounds, code, description and details arrive as the station sent them."""
    rich, info = _decode(ocppj.CallError("m", "NotSupported", "no resets here", {"why": 1}))
    assert rich.code == errors.grpc_status_of_callerror("NotSupported").value[0]
    assert info.reason == "NotSupported"
    assert info.domain == errors.OCPP_ERROR_DOMAIN
    assert info.metadata["description"] == "no resets here"
    assert orjson.loads(info.metadata["details"]) == {"why": 1}
    assert rich.message == "the station answered NotSupported: no resets here"


def test_huge_description_is_cut_to_255_characters() -> None:
    """OCPP-J Part 4: ErrorDescription is string[0..255]."""
    rich, info = _decode(ocppj.CallError("m", "GenericError", "d" * 40_000, {}))
    assert len(info.metadata["description"]) == ocppj.MAX_DESCRIPTION_LENGTH
    assert info.metadata["description"].startswith("d" * 200)
    assert len(rich.message) < 400


def test_huge_details_are_left_out_and_say_so() -> None:
    """Details beyond the bound are not cut into broken JSON: left out, their size told."""
    big = {"trace": "x" * 40_000}
    rich, info = _decode(ocppj.CallError("m", "InternalError", "it broke", big))
    assert orjson.loads(info.metadata["details"]) == {}
    assert info.metadata["detailsOmitted"] == str(len(orjson.dumps(big)))
    assert info.metadata["description"] == "it broke"


def test_details_at_the_bound_pass() -> None:
    """Details of exactly the bound still arrive whole."""
    pad = MAX_DETAILS_LENGTH - len(orjson.dumps({"k": ""}))
    details = {"k": "y" * pad}
    assert len(orjson.dumps(details)) == MAX_DETAILS_LENGTH
    _, info = _decode(ocppj.CallError("m", "InternalError", "", details))
    assert orjson.loads(info.metadata["details"]) == details
    assert "detailsOmitted" not in info.metadata


def test_huge_unknown_code_is_bounded() -> None:
    """A made-up error code thousands of characters long does not blow the trailers either."""
    rich, info = _decode(ocppj.CallError("m", "C" * 20_000, "", {}))
    assert len(info.reason) <= 64
    assert rich.code == errors.grpc_status_of_callerror("C" * 20_000).value[0]
