"""The device model between OCPP protobuf messages and domain values: pure code, tested with tables.

Enum numbers become OCPP spellings on the way in (what the database keeps) and go back on the way
out; absent optional fields stay absent both ways.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf.message import Message

from common.columns import timestamp
from common.errors import InvalidArgument
from common.ocpp_json import ocpp_enum_value, proto_enum_number
from csms.device.v1 import device_service_pb2 as pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.credentials import is_basic_auth_password
from device_svc.domain import (
    ACTUAL,
    Attribute,
    Characteristics,
    ReportedVariable,
    ValueUpdate,
    VariableRef,
)
from device_svc.models import NO_ID, DeviceVariable

__all__ = [
    "ref_of",
    "reported_variables",
    "set_results",
    "basic_auth_password",
    "basic_auth_password_accepted",
    "basic_auth_password_status",
    "get_results",
    "variable_to_proto",
    "timestamp",
]

# SetVariables results that mean the value sent is now the station's (RebootRequired: after its
# next reboot, which is the value it reports from then on).
_SET_OK = frozenset({ocpp.SET_VARIABLE_STATUS_ACCEPTED, ocpp.SET_VARIABLE_STATUS_REBOOT_REQUIRED})


def ref_of(component: ocpp.Component, variable: ocpp.Variable) -> VariableRef:
    evse = component.evse if component.HasField("evse") else None
    return VariableRef(
        component=component.name,
        variable=variable.name,
        component_instance=component.instance,
        evse_id=evse.id if evse is not None and evse.HasField("id") else None,
        connector_id=evse.connector_id
        if evse is not None and evse.HasField("connector_id")
        else None,
        variable_instance=variable.instance,
    )


def _attribute_type(message: Message, field: str) -> str:
    """The OCPP spelling of an optional AttributeEnum field; absent means Actual."""
    if not message.HasField(field):
        return ACTUAL
    return ocpp_enum_value(ocpp.AttributeEnum, getattr(message, field))


def _optional(message: Message, field: str) -> Any:
    """The optional field's value (its type is the field's), None when it is not set."""
    return getattr(message, field) if message.HasField(field) else None


def reported_variables(report: Iterable[ocpp.ReportData]) -> list[ReportedVariable]:
    """The reportData entries of a NotifyReport part."""
    out = []
    for item in report:
        attributes = tuple(
            Attribute(
                type=_attribute_type(a, "type"),
                value=_optional(a, "value"),
                mutability=ocpp_enum_value(ocpp.MutabilityEnum, a.mutability)
                if a.HasField("mutability")
                else None,
                persistent=_optional(a, "persistent"),
                constant=_optional(a, "constant"),
            )
            for a in item.variable_attribute
        )
        characteristics = None
        if item.HasField("variable_characteristics"):
            c = item.variable_characteristics
            characteristics = Characteristics(
                data_type=ocpp_enum_value(ocpp.DataEnum, c.data_type),
                supports_monitoring=c.supports_monitoring,
                unit=_optional(c, "unit"),
                min_limit=_optional(c, "min_limit"),
                max_limit=_optional(c, "max_limit"),
                values_list=_optional(c, "values_list"),
            )
        out.append(
            ReportedVariable(ref_of(item.component, item.variable), attributes, characteristics)
        )
    return out


def set_results(
    request: ocpp.SetVariablesRequest, response: ocpp.SetVariablesResponse
) -> list[ValueUpdate]:
    """The values the station took: those it answered Accepted or RebootRequired.

    Results are matched to the data sent by component, variable and attribute type, not by
    position.
    """
    sent = {
        (ref_of(d.component, d.variable), _attribute_type(d, "attribute_type")): d.attribute_value
        for d in request.set_variable_data
    }
    updates = []
    for result in response.set_variable_result:
        if result.attribute_status not in _SET_OK:
            continue
        key = (ref_of(result.component, result.variable), _attribute_type(result, "attribute_type"))
        if key in sent:
            updates.append(ValueUpdate(key[0], key[1], sent[key]))
    return updates


def basic_auth_password(request: ocpp.SetVariablesRequest) -> str | None:
    """The new Basic auth password a SetVariables request sends (SecurityCtrlr.BasicAuthPassword,
    attribute Actual), if it sends one."""
    sent = [
        d.attribute_value
        for d in request.set_variable_data
        if is_basic_auth_password(ref_of(d.component, d.variable))
        and _attribute_type(d, "attribute_type") == ACTUAL
    ]
    if len(sent) > 1:
        raise InvalidArgument("send at most one SecurityCtrlr.BasicAuthPassword per SetVariables")
    return sent[0] if sent else None


def basic_auth_password_status(response: ocpp.SetVariablesResponse) -> int:
    """The station's attributeStatus for the BasicAuthPassword it was sent (SecurityCtrlr.
    BasicAuthPassword, attribute Actual: its first such result); UNSPECIFIED when it has none."""
    for r in response.set_variable_result:
        if (
            is_basic_auth_password(ref_of(r.component, r.variable))
            and _attribute_type(r, "attribute_type") == ACTUAL
        ):
            return int(r.attribute_status)
    return int(ocpp.SET_VARIABLE_STATUS_UNSPECIFIED)


def basic_auth_password_accepted(response: ocpp.SetVariablesResponse) -> bool:
    """The station answered Accepted to the BasicAuthPassword it was sent: it uses it from now.

    RebootRequired is not enough: until it reboots the station still presents the old one.
    """
    return bool(basic_auth_password_status(response) == ocpp.SET_VARIABLE_STATUS_ACCEPTED)


def get_results(response: ocpp.GetVariablesResponse) -> list[ValueUpdate]:
    """The values the station reported: results Accepted with a value."""
    return [
        ValueUpdate(
            ref_of(r.component, r.variable),
            _attribute_type(r, "attribute_type"),
            r.attribute_value,
        )
        for r in response.get_variable_result
        if r.attribute_status == ocpp.GET_VARIABLE_STATUS_ACCEPTED and r.HasField("attribute_value")
    ]


def variable_to_proto(row: DeviceVariable) -> pb.Variable:
    msg = pb.Variable(
        component=ocpp.Component(name=row.component_name),
        variable=ocpp.Variable(name=row.variable_name),
        update_time=timestamp(row.updated_at),
    )
    if row.component_instance:
        msg.component.instance = row.component_instance
    if row.evse_id != NO_ID:
        msg.component.evse.id = row.evse_id
        if row.connector_id != NO_ID:
            msg.component.evse.connector_id = row.connector_id
    if row.variable_instance:
        msg.variable.instance = row.variable_instance
    for a in row.attributes:
        attribute = msg.attributes.add(type=proto_enum_number(ocpp.AttributeEnum, a.type))
        if a.value is not None:
            attribute.value = a.value
        if a.mutability is not None:
            attribute.mutability = proto_enum_number(ocpp.MutabilityEnum, a.mutability)
        if a.persistent is not None:
            attribute.persistent = a.persistent
        if a.constant is not None:
            attribute.constant = a.constant
    if row.data_type is not None:
        c = msg.characteristics
        c.data_type = proto_enum_number(ocpp.DataEnum, row.data_type)
        c.supports_monitoring = bool(row.supports_monitoring)
        if row.unit is not None:
            c.unit = row.unit
        if row.min_limit is not None:
            c.min_limit = row.min_limit
        if row.max_limit is not None:
            c.max_limit = row.max_limit
        if row.values_list is not None:
            c.values_list = row.values_list
    return msg
