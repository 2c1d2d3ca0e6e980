"""Tests for device_svc.operations: the operation table, deadlines, the generated servicer,
recording remote starts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from csms.device.v1 import device_service_pb2_grpc as pb_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.operations import ACTIONS, Gateways, Operations, _timeout
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


class FakeTransactionChannel:
    """A channel whose RecordRemoteStart waits for ``release`` and records what it got."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.recorded: list[Any] = []
        self.closed = False

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        async def call(request: Any, **options: Any) -> Any:
            assert method.endswith("/RecordRemoteStart"), method
            self.started.set()
            await self.release.wait()
            self.recorded.append(request)

        return call

    async def close(self) -> None:
        self.closed = True


async def test_a_remote_start_is_recorded_even_when_the_caller_gives_up() -> None:
    """The station accepted, so its transaction will come: the record goes on after the caller
    of RequestStartTransaction went away (its deadline cancels the RPC)."""
    channel = FakeTransactionChannel()
    operations = Operations(
        None,  # type: ignore[arg-type]
        Gateways(),
        1.0,
        0.0,
        signer=None,  # type: ignore[arg-type]
        transactions=channel,  # type: ignore[arg-type]
    )
    request = ocpp.RequestStartTransactionRequest(
        id_token=ocpp.IdToken(id_token="APP-1", type=ocpp.ID_TOKEN_CENTRAL), remote_start_id=9
    )
    accepted = ocpp.RequestStartTransactionResponse(status=ocpp.REQUEST_START_STOP_STATUS_ACCEPTED)
    caller = asyncio.create_task(
        operations._learn["RequestStartTransaction"]("CS1", request, accepted)
    )
    await channel.started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    channel.release.set()
    await operations.idle()
    [recorded] = channel.recorded
    assert (recorded.station_id, recorded.remote_start_id) == ("CS1", 9)
    assert recorded.id_token == request.id_token
    await operations.close()
    assert channel.closed
