"""Tests for device_svc.rest: the REST answers that are not the generic facade's."""

from __future__ import annotations

import orjson
import pytest
from google.api import annotations_pb2

from common.errors import InvalidArgument
from common.rest_json import from_struct
from csms.device.v1 import device_service_pb2 as pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.operations import ACTIONS, PasswordUpdate
from device_svc.rest import REST_SERVICE, _update_basic_auth_password

# The station's answer as it sent it, with what the typed message would not keep.
RAW = {
    "setVariableResult": [
        {
            "attributeType": "Actual",
            "attributeStatus": "Rejected",
            "attributeStatusInfo": {"reasonCode": "PolicyViolation"},
            "component": {"name": "SecurityCtrlr"},
            "variable": {"name": "BasicAuthPassword"},
        }
    ],
    "customData": {"vendorId": "acme", "note": "kept as sent"},
}


class FakeOperations:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def update_basic_auth_password(
        self, station_id: str, time_remaining: float | None
    ) -> PasswordUpdate:
        self.asked.append(station_id)
        return PasswordUpdate(
            status=ocpp.SET_VARIABLE_STATUS_REJECTED,
            changed=False,
            pending=False,
            response=ocpp.SetVariablesResponse(),
            payload_json=orjson.dumps(RAW).decode(),
        )


class FakeContext:
    def time_remaining(self) -> float | None:
        return None


def test_update_basic_auth_password_is_an_operator_command_not_an_ocpp_action() -> None:
    """POST /v1/chargingStations/{station_id}:updateBasicAuthPassword, body "*"; not one of the
    OCPP operations (its body is no OCPP payload)."""
    rule = (
        REST_SERVICE.methods_by_name["UpdateBasicAuthPassword"]
        .GetOptions()
        .Extensions[annotations_pb2.http]
    )
    assert (rule.post, rule.body) == (
        "/v1/chargingStations/{station_id}:updateBasicAuthPassword",
        "*",
    )
    assert "UpdateBasicAuthPassword" not in ACTIONS


async def test_update_basic_auth_password_answers_the_status_and_the_stations_raw_answer() -> None:
    """REST answers the status in OCPP's words, passwordChanged (false printed), and the
    station's SetVariablesResponse exactly as it sent it; never a password."""
    operations = FakeOperations()
    handle = _update_basic_auth_password(operations)  # type: ignore[arg-type]
    struct = await handle(pb.UpdateBasicAuthPasswordRequest(station_id="CS1"), FakeContext())  # type: ignore[arg-type]
    assert from_struct(struct) == {
        "status": "Rejected",
        "passwordChanged": False,
        "passwordPending": False,
        "setVariablesResponse": RAW,
    }
    assert operations.asked == ["CS1"]


async def test_update_basic_auth_password_refuses_a_nul_in_the_station_id() -> None:
    """A NUL in the path is a 400 naming the field, before anything is asked."""
    operations = FakeOperations()
    handle = _update_basic_auth_password(operations)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="stationId|station_id"):
        await handle(pb.UpdateBasicAuthPasswordRequest(station_id="CS\x001"), FakeContext())  # type: ignore[arg-type]
    assert operations.asked == []
