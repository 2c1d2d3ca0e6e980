"""Tests for device_svc.operations: the operation table, deadlines, the generated servicer."""

from __future__ import annotations

import pytest

from csms.device.v1 import device_service_pb2_grpc as pb_grpc
from device_svc.operations import ACTIONS, _timeout
from device_svc.servicer import DeviceServicer

ISSUE_OPERATIONS = (
    "Reset",
    "ChangeAvailability",
    "UnlockConnector",
    "TriggerMessage",
    "GetVariables",
    "SetVariables",
    "GetBaseReport",
    "GetReport",
    "RequestStartTransaction",
    "RequestStopTransaction",
    "GetTransactionStatus",
    "ClearCache",
    "SendLocalList",
    "GetLocalListVersion",
    "DataTransfer",
    "SetNetworkProfile",
    "CustomerInformation",
    "InstallCertificate",
    "GetInstalledCertificateIds",
    "DeleteCertificate",
    "CertificateSigned",
    "ReserveNow",
    "CancelReservation",
)


def test_actions_are_the_contract_operations() -> None:
    """The table read from the proto holds exactly the 23 operations of the contract."""
    assert ACTIONS == ISSUE_OPERATIONS


@pytest.mark.parametrize("action", ISSUE_OPERATIONS)
def test_servicer_implements_each_operation(action: str) -> None:
    """Every operation RPC is ours, not the generated UNIMPLEMENTED stub."""
    method = getattr(DeviceServicer, action)
    assert method is not getattr(pb_grpc.DeviceServiceServicer, action)
    assert method.__name__ == action


@pytest.mark.parametrize(
    ("remaining", "cap", "expected"),
    [(None, 35.0, 35.0), (10.0, 35.0, 10.0), (50.0, 35.0, 35.0), (-1.0, 35.0, 0.0)],
)
def test_timeout(remaining: float | None, cap: float, expected: float) -> None:
    """The caller's remaining time, capped; no deadline means the cap."""
    assert _timeout(remaining, cap) == expected


@pytest.mark.parametrize("action", ISSUE_OPERATIONS)
def test_each_operation_has_its_rest_verb(action: str) -> None:
    """DeviceRestService.<action>: POST /v1/chargingStations/{station_id}:<lowerCamel action>,
    the OCPP request as the whole body."""
    from google.api import annotations_pb2

    from csms.device.v1 import device_service_pb2 as pb

    method = pb.DESCRIPTOR.services_by_name["DeviceRestService"].methods_by_name[action]
    rule = method.GetOptions().Extensions[annotations_pb2.http]
    verb = action[0].lower() + action[1:]
    assert (rule.post, rule.body) == (f"/v1/chargingStations/{{station_id}}:{verb}", "request")
    assert method.input_type.name == "StationCommandJson"
