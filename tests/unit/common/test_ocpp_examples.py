"""Tests for common/ocpp_examples.py: one valid example per OCPP 2.0.1 payload, by the rules."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from common import ocpp_examples
from common.ocpp_json import REQUEST_TYPES, RESPONSE_TYPES, to_ocpp, to_proto
from gateway import ocppj

PAYLOADS = sorted(
    [(action, "Request") for action in REQUEST_TYPES]
    + [(action, "Response") for action in RESPONSE_TYPES]
)


def _walk(node: Any) -> list[Any]:
    """Every value in a JSON document, containers included."""
    found = [node]
    if isinstance(node, dict):
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


@pytest.mark.parametrize(("action", "kind"), PAYLOADS)
def test_every_example_is_valid_against_its_schema(action: str, kind: Any) -> None:
    """The official schema (draft-06, formats checked) and the gateway's validator accept it."""
    example = ocpp_examples.payload_example(action, kind)
    validator = jsonschema.Draft6Validator(
        ocpp_examples.schema(action, kind),
        format_checker=jsonschema.Draft6Validator.FORMAT_CHECKER,
    )
    assert list(validator.iter_errors(example)) == []
    ocppj.validate(action, kind, example)


@pytest.mark.parametrize(("action", "kind"), PAYLOADS)
def test_every_example_survives_the_conversion_to_proto_and_back(action: str, kind: Any) -> None:
    """What the REST commands and the gateway do with a payload gives it back unchanged."""
    example = ocpp_examples.payload_example(action, kind)
    types = REQUEST_TYPES if kind == "Request" else RESPONSE_TYPES
    assert to_ocpp(to_proto(types[action], example)) == example


def test_every_property_is_filled() -> None:
    """Optional properties too, customData included (vendorId cut to its maxLength)."""
    assert ocpp_examples.payload_example("Reset", "Request") == {
        "customData": {"vendorId": "vendorId"},
        "type": "Immediate",
        "evseId": 1,
    }


def test_custom_data_can_be_left_out() -> None:
    example = ocpp_examples.payload_example("TransactionEvent", "Request", custom_data=False)
    assert all(ocpp_examples.CUSTOM_DATA not in v for v in _walk(example) if isinstance(v, dict))
    assert example["transactionInfo"]["transactionId"] == "transactionId"


def test_enums_prefer_a_value_with_a_dot_or_a_dash() -> None:
    """The spellings protobuf identifiers cannot carry, where the enum has one."""
    meter = ocpp_examples.payload_example("MeterValues", "Request")
    assert meter["meterValue"][0]["sampledValue"][0]["measurand"] == "Current.Export"
    reserve = ocpp_examples.payload_example("ReserveNow", "Request")
    assert reserve["connectorType"] == "s309-1P-16A"
    # No such value: the first.
    change = ocpp_examples.payload_example("ChangeAvailability", "Request")
    assert change["operationalStatus"] == "Inoperative"


def test_date_times_have_three_fractional_digits_in_utc() -> None:
    example = ocpp_examples.payload_example("TransactionEvent", "Request")
    assert example["timestamp"] == ocpp_examples.DATE_TIME == "2026-12-04T10:00:00.123Z"


def test_constraints_are_respected() -> None:
    schema = {
        "definitions": {"Small": {"type": "integer", "minimum": 5, "maximum": 7}},
        "type": "object",
        "properties": {
            "several": {"type": "array", "minItems": 3, "items": {"$ref": "#/definitions/Small"}},
            "capped": {"type": "array", "maxItems": 1, "items": {"type": "boolean"}},
            "short": {"type": "string", "maxLength": 3},
            "long": {"type": "string", "minLength": 6},
            "negative": {"type": "number", "maximum": -2},
            "anything": {"description": "any JSON"},
            "when": {"type": "string", "format": "date-time"},
        },
    }
    assert ocpp_examples.example(schema) == {
        "several": [5, 5, 5],
        "capped": [True],
        "short": "sho",
        "long": "longxx",
        "negative": -2,
        "anything": "anything",
        "when": ocpp_examples.DATE_TIME,
    }


def test_examples_are_deterministic_and_fresh() -> None:
    first = ocpp_examples.payload_example("SetVariables", "Request")
    first["setVariableData"].clear()
    assert ocpp_examples.payload_example("SetVariables", "Request")["setVariableData"]


def test_unknown_payload_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        ocpp_examples.schema("NoSuchAction", "Request")
