"""common.ocpp_schema: the official schemas as validators, a breach naming its rule."""

from __future__ import annotations

from typing import Any

import pytest

from common import ocpp_schema
from common.ocpp_schema import SchemaViolation


@pytest.mark.parametrize(
    ("action", "payload", "rule", "words"),
    [
        ("Reset", {}, "required", "must contain ['type']"),
        ("Reset", {"type": "Soft"}, "enum", "type must be one of ['Immediate', 'OnIdle']"),
        ("Reset", {"type": "Immediate", "evseId": "1"}, "type", "evseId must be integer"),
        ("Reset", {"type": "Immediate", "evseId": 2**31}, "maximum", "evseId must be smaller"),
        ("Reset", {"type": "Immediate", "colour": 1}, "additionalProperties", "must not contain"),
        ("DataTransfer", {"vendorId": "v" * 256}, "maxLength", "vendorId must be shorter"),
        ("Reset", [], "type", "payload must be object"),
    ],
)
def test_a_breach_names_its_rule(action: str, payload: Any, rule: str, words: str) -> None:
    with pytest.raises(SchemaViolation) as err:
        ocpp_schema.check(action, "Request", payload)
    assert err.value.rule == rule
    assert words in err.value.description


def test_valid_payloads_pass_and_unknown_schemas_are_key_errors() -> None:
    ocpp_schema.check("Reset", "Request", {"type": "OnIdle", "evseId": 2**31 - 1})
    ocpp_schema.check("Heartbeat", "Response", {"currentTime": "2026-12-04T10:00:00.123Z"})
    with pytest.raises(KeyError):
        ocpp_schema.check("Teleport", "Request", {})
    with pytest.raises(KeyError):
        ocpp_schema.check("Reset", "Answer", {})  # type: ignore[arg-type]


def test_the_64_actions_each_have_both_schemas() -> None:
    assert len(ocpp_schema.ACTIONS) == 64
    for action in ocpp_schema.ACTIONS:
        for kind in ("Request", "Response"):
            assert ocpp_schema.schema(action, kind)["type"] == "object"  # type: ignore[arg-type]
