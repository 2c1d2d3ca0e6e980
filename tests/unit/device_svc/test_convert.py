"""Tests for device_svc.convert: the device model between OCPP protobuf and domain values."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from common.ocpp_json import proto_enum_number, to_proto
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.convert import (
    basic_auth_password_accepted,
    basic_auth_password_status,
    get_results,
    ref_of,
    reported_variables,
    set_results,
    variable_to_proto,
)
from device_svc.domain import Attribute, Characteristics, ValueUpdate, VariableRef
from device_svc.models import NO_ID, DeviceVariable, DeviceVariableAttribute

T0 = datetime.datetime(2026, 1, 1, 10, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("component", "variable", "expected"),
    [
        ({"name": "C"}, {"name": "V"}, VariableRef("C", "V")),
        (
            {"name": "C", "instance": "i", "evse": {"id": 2}},
            {"name": "V", "instance": "j"},
            VariableRef("C", "V", component_instance="i", evse_id=2, variable_instance="j"),
        ),
        (
            {"name": "C", "evse": {"id": 1, "connectorId": 3}},
            {"name": "V"},
            VariableRef("C", "V", evse_id=1, connector_id=3),
        ),
    ],
)
def test_ref_of(component: dict[str, Any], variable: dict[str, Any], expected: VariableRef) -> None:
    """Component and variable keys come through with absent parts as ""/None."""
    assert (
        ref_of(to_proto(ocpp.Component, component), to_proto(ocpp.Variable, variable)) == expected
    )  # type: ignore[arg-type]


def test_reported_variables() -> None:
    """reportData becomes domain values in OCPP spellings; absent fields stay None."""
    report = to_proto(
        ocpp.NotifyReportRequest,
        {
            "requestId": 1,
            "generatedAt": "2026-01-01T10:00:00Z",
            "seqNo": 0,
            "reportData": [
                {
                    "component": {"name": "C"},
                    "variable": {"name": "V"},
                    "variableAttribute": [
                        {"value": "1"},
                        {"type": "MaxSet", "mutability": "ReadOnly", "persistent": False},
                    ],
                    "variableCharacteristics": {
                        "dataType": "decimal",
                        "unit": "A",
                        "minLimit": 0,
                        "supportsMonitoring": True,
                    },
                }
            ],
        },
    )
    [variable] = reported_variables(report.report_data)  # type: ignore[attr-defined]
    assert variable.ref == VariableRef("C", "V")
    assert variable.attributes == (
        Attribute("Actual", "1"),
        Attribute("MaxSet", None, "ReadOnly", False, None),
    )
    assert variable.characteristics == Characteristics("decimal", True, "A", 0.0, None, None)


def test_set_results_keep_the_values_taken() -> None:
    """Accepted and RebootRequired take the value sent (matched by key); the rest are dropped."""
    request = to_proto(
        ocpp.SetVariablesRequest,
        {
            "setVariableData": [
                {"attributeValue": "a", "component": {"name": "C"}, "variable": {"name": "A"}},
                {"attributeValue": "b", "component": {"name": "C"}, "variable": {"name": "B"}},
                {
                    "attributeValue": "c",
                    "attributeType": "Target",
                    "component": {"name": "C"},
                    "variable": {"name": "C"},
                },
            ]
        },
    )
    response = to_proto(
        ocpp.SetVariablesResponse,
        {
            "setVariableResult": [
                {
                    "attributeStatus": "RebootRequired",
                    "attributeType": "Target",
                    "component": {"name": "C"},
                    "variable": {"name": "C"},
                },
                {
                    "attributeStatus": "Rejected",
                    "component": {"name": "C"},
                    "variable": {"name": "B"},
                },
                {
                    "attributeStatus": "Accepted",
                    "component": {"name": "C"},
                    "variable": {"name": "A"},
                },
                # Not asked for: ignored.
                {
                    "attributeStatus": "Accepted",
                    "component": {"name": "X"},
                    "variable": {"name": "A"},
                },
            ]
        },
    )
    assert set_results(request, response) == [  # type: ignore[arg-type]
        ValueUpdate(VariableRef("C", "C"), "Target", "c"),
        ValueUpdate(VariableRef("C", "A"), "Actual", "a"),
    ]


def test_get_results_keep_accepted_values() -> None:
    """Only Accepted results with a value refresh the model."""
    response = to_proto(
        ocpp.GetVariablesResponse,
        {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "attributeValue": "5",
                    "component": {"name": "C"},
                    "variable": {"name": "A"},
                },
                {
                    "attributeStatus": "Accepted",
                    "component": {"name": "C"},
                    "variable": {"name": "B"},
                },
                {
                    "attributeStatus": "UnknownVariable",
                    "attributeValue": "x",
                    "component": {"name": "C"},
                    "variable": {"name": "C"},
                },
            ]
        },
    )
    assert get_results(response) == [ValueUpdate(VariableRef("C", "A"), "Actual", "5")]  # type: ignore[arg-type]


def test_variable_to_proto() -> None:
    """A stored variable goes out with EVSE, attributes and characteristics; NULLs stay unset."""
    row = DeviceVariable(
        component_name="Connector",
        component_instance="",
        evse_id=1,
        connector_id=NO_ID,
        variable_name="Current",
        variable_instance="Max",
        data_type="decimal",
        supports_monitoring=False,
        unit="A",
        min_limit=None,
        max_limit=32.0,
        values_list=None,
        updated_at=T0,
        attributes=[
            DeviceVariableAttribute(type="Actual", value="16", mutability="ReadWrite"),
            DeviceVariableAttribute(type="MaxSet", value=None, persistent=True),
        ],
    )
    msg = variable_to_proto(row)
    assert msg.component.name == "Connector" and not msg.component.HasField("instance")
    assert msg.component.evse.id == 1 and not msg.component.evse.HasField("connector_id")
    assert msg.variable.instance == "Max"
    actual, max_set = msg.attributes
    assert actual.type == ocpp.ATTRIBUTE_ACTUAL and actual.value == "16"
    assert actual.mutability == ocpp.MUTABILITY_READ_WRITE and not actual.HasField("persistent")
    assert max_set.type == ocpp.ATTRIBUTE_MAX_SET and not max_set.HasField("value")
    assert max_set.persistent
    c = msg.characteristics
    assert c.data_type == ocpp.DATA_DECIMAL and c.max_limit == 32.0 and not c.HasField("min_limit")
    assert msg.update_time.ToDatetime(tzinfo=datetime.UTC) == T0


def test_variable_without_evse_or_characteristics() -> None:
    """NO_ID means no EVSE; no data type means no characteristics."""
    row = DeviceVariable(
        component_name="C",
        component_instance="",
        evse_id=NO_ID,
        connector_id=NO_ID,
        variable_name="V",
        variable_instance="",
        data_type=None,
        updated_at=T0,
        attributes=[],
    )
    msg = variable_to_proto(row)
    assert not msg.component.HasField("evse") and not msg.HasField("characteristics")


def _password_result(status: str, **component: Any) -> dict[str, Any]:
    return {
        "component": {"name": "SecurityCtrlr", **component},
        "variable": {"name": "BasicAuthPassword"},
        "attributeStatus": status,
    }


@pytest.mark.parametrize(
    ("results", "status", "accepted"),
    [
        pytest.param([_password_result("Accepted")], "Accepted", True, id="accepted"),
        pytest.param(
            [_password_result("RebootRequired")], "RebootRequired", False, id="reboot-required"
        ),
        pytest.param([_password_result("Rejected")], "Rejected", False, id="rejected"),
        pytest.param(
            [
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "attributeStatus": "Accepted",
                },
                _password_result("Rejected"),
            ],
            "Rejected",
            False,
            id="among-others",
        ),
        pytest.param(
            [{**_password_result("Accepted"), "attributeType": "Target"}],
            None,
            False,
            id="not-actual",
        ),
        pytest.param(
            [_password_result("Accepted", evse={"id": 1})], None, False, id="an-evse-component"
        ),
        pytest.param([], None, False, id="no-result"),
    ],
)
def test_basic_auth_password_status(
    results: list[dict[str, Any]], status: str | None, accepted: bool
) -> None:
    """The station's status for SecurityCtrlr.BasicAuthPassword (Actual); only Accepted switches
    the password."""
    response = to_proto(ocpp.SetVariablesResponse, {"setVariableResult": results})
    expected = (
        ocpp.SET_VARIABLE_STATUS_UNSPECIFIED
        if status is None
        else proto_enum_number(ocpp.SetVariableStatusEnum, status)
    )
    assert basic_auth_password_status(response) == expected  # type: ignore[arg-type]
    assert basic_auth_password_accepted(response) is accepted  # type: ignore[arg-type]
