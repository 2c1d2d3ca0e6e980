"""Tests for gateway.routes: the action → RPC table against the contracts."""

from __future__ import annotations

import pytest

from common.ocpp_json import REQUEST_TYPES, RESPONSE_TYPES
from csms.device.v1 import device_service_pb2 as device_pb
from csms.transaction.v1 import transaction_service_pb2 as transaction_pb
from csms.user.v1 import user_service_pb2 as user_pb
from gateway.routes import ROUTES, Local, Route

_SERVICES = {
    "device": device_pb.DESCRIPTOR.services_by_name["DeviceService"],
    "transaction": transaction_pb.DESCRIPTOR.services_by_name["TransactionService"],
    "user": user_pb.DESCRIPTOR.services_by_name["UserService"],
}
RPC_ROWS = sorted(action for action, route in ROUTES.items() if isinstance(route, Route))


@pytest.mark.parametrize("action", RPC_ROWS)
def test_each_row_names_an_rpc_taking_its_wrapper_and_answering_the_ocpp_response(
    action: str,
) -> None:
    """The RPC exists on its service, takes the row's ``<Action>Call`` (the station and the OCPP
    request of that action) and answers the action's OCPP response."""
    route = ROUTES[action]
    assert isinstance(route, Route)
    method = _SERVICES[route.service].methods_by_name[route.method]
    assert method.input_type is route.call_type.DESCRIPTOR
    fields = route.call_type.DESCRIPTOR.fields_by_name
    assert fields["station_id"].type == fields["station_id"].TYPE_STRING
    assert fields["request"].message_type is REQUEST_TYPES[action].DESCRIPTOR
    assert method.output_type is RESPONSE_TYPES[action].DESCRIPTOR


SMART_CHARGING = [
    "ReportChargingProfiles",
    "NotifyChargingLimit",
    "ClearedChargingLimit",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
]


@pytest.mark.parametrize("action", SMART_CHARGING)
def test_smart_charging_goes_to_transaction_svc(action: str) -> None:
    """Block K's station messages are stored where the profiles are: transaction_svc, each by
    the RPC of its own name."""
    route = ROUTES[action]
    assert isinstance(route, Route)
    assert (route.service, route.method, route.batch_method) == ("transaction", action, "")


def test_local_rows_and_every_action_is_ocpp() -> None:
    assert {a for a, r in ROUTES.items() if isinstance(r, Local)} == {"Heartbeat"}
    assert set(ROUTES) <= set(REQUEST_TYPES)
