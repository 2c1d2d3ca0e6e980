"""Tests for common.ocpp_json.to_proto_steps: to_proto's message, in steps of a long list."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
from google.protobuf.message import Message

from common.ocpp_json import REQUEST_TYPES, ConversionError, to_proto, to_proto_steps

NOTIFY_REPORT = REQUEST_TYPES["NotifyReport"]


def _drive(steps: Generator[None, None, Message]) -> tuple[Message, int]:
    """The message and how many times the generator yielded before it."""
    yields = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value, yields
        yields += 1


def _report(entries: int, generated_at: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {
        "requestId": 1,
        "generatedAt": generated_at,
        "seqNo": 0,
        "tbc": False,
        "reportData": [
            {
                "component": {"name": "Ctrlr", "evse": {"id": 1}},
                "variable": {"name": f"V{i}"},
                "variableAttribute": [{"type": "Actual", "value": str(i)}],
                "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": False},
            }
            for i in range(entries)
        ],
    }


def test_a_long_list_is_converted_in_steps_to_the_same_message() -> None:
    """600 reportData entries in steps of 256: three yields, to_proto's message, in order."""
    payload = _report(600)
    message, yields = _drive(to_proto_steps(NOTIFY_REPORT, payload, step=256))
    assert yields == 3
    assert message == to_proto(NOTIFY_REPORT, payload)


def test_a_long_list_of_scalars_is_converted_in_steps() -> None:
    """A repeated scalar (ClearVariableMonitoring's ids) is extended a step at a time."""
    payload = {"id": [1, 2, 3, 4, 5]}
    message, yields = _drive(to_proto_steps(REQUEST_TYPES["ClearVariableMonitoring"], payload, 2))
    assert yields == 3
    assert message == to_proto(REQUEST_TYPES["ClearVariableMonitoring"], payload)


def test_a_payload_without_a_long_list_is_converted_at_once() -> None:
    """No list longer than a step: no yield at all (the hot path of small frames)."""
    payload = _report(3)
    message, yields = _drive(to_proto_steps(NOTIFY_REPORT, payload, step=256))
    assert yields == 0
    assert message == to_proto(NOTIFY_REPORT, payload)


def test_what_the_direct_path_refuses_goes_the_json_format_way() -> None:
    """A date-time protobuf's own parser refuses (lower-case t and z, valid for OCPP) is
    converted as to_proto converts it; a payload that cannot be converted fails alike."""
    payload = _report(300, generated_at="2026-01-01t00:00:00z")
    message, _ = _drive(to_proto_steps(NOTIFY_REPORT, payload, step=256))
    assert message == to_proto(NOTIFY_REPORT, payload)
    broken = _report(300)
    broken["reportData"][299]["variableAttribute"][0]["type"] = "Sideways"
    with pytest.raises(ConversionError) as expected:
        to_proto(NOTIFY_REPORT, broken)
    with pytest.raises(ConversionError) as got:
        _drive(to_proto_steps(NOTIFY_REPORT, broken, step=256))
    assert str(got.value) == str(expected.value)
