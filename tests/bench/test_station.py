"""The simulated station's answers to CSMS CALLs, checked against the official OCPP schemas."""

from __future__ import annotations

import json
import pathlib

import jsonschema
import ocpp.v201
import orjson
import pytest

from bench.station import CANNED, answer_csms_call

SCHEMAS = pathlib.Path(ocpp.v201.__file__).parent / "schemas"

REQUESTS = {
    **{action: {} for action in CANNED},
    "GetVariables": {
        "getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "X"}}]
    },
    "SetVariables": {
        "setVariableData": [
            {
                "attributeValue": "1",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "X"},
            }
        ]
    },
}


def _schema(action: str) -> dict:  # type: ignore[type-arg]
    return json.loads((SCHEMAS / f"{action}Response.json").read_text())


@pytest.mark.parametrize("action", sorted(REQUESTS))
def test_answer_is_a_schema_valid_callresult(action: str) -> None:
    """Each simulated CALL gets a CALLRESULT whose payload the official schema accepts."""
    frame = orjson.loads(answer_csms_call([2, "m1", action, REQUESTS[action]]))
    assert frame[:2] == [3, "m1"]
    jsonschema.validate(frame[2], _schema(action))


def test_unsimulated_call_gets_not_supported() -> None:
    """A CALL the station does not simulate gets a NotSupported CALLERROR."""
    frame = orjson.loads(answer_csms_call([2, "m2", "InstallCertificate", {}]))
    assert frame[0] == 4 and frame[1] == "m2" and frame[2] == "NotSupported" and frame[4] == {}
