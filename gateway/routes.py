"""The action → RPC table: which service answers which OCPP CALL from a station.

One row per action the CSMS handles. A known OCPP 2.0.1 action without a row is answered
NotSupported; an unknown one NotImplemented (see :mod:`gateway.ocppj`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message

from common.ocpp_json import REQUEST_TYPES
from csms.device.v1 import device_service_pb2 as device_pb
from csms.device.v1 import device_service_pb2_grpc as device_grpc
from csms.transaction.v1 import transaction_service_pb2 as transaction_pb
from csms.transaction.v1 import transaction_service_pb2_grpc as transaction_grpc
from csms.user.v1 import user_service_pb2 as user_pb
from csms.user.v1 import user_service_pb2_grpc as user_grpc

__all__ = ["Route", "ROUTES", "Router"]


@dataclass(frozen=True, slots=True)
class Route:
    service: str  # "device", "transaction" or "user": which channel
    method: str  # the RPC's name on that service's stub (not always the action's)
    call_type: type[Message]  # the <Action>Call wrapper: station_id + the OCPP request


ROUTES: Mapping[str, Route] = {
    "BootNotification": Route("device", "BootNotification", device_pb.BootNotificationCall),
    "Heartbeat": Route("device", "Heartbeat", device_pb.HeartbeatCall),
    "StatusNotification": Route("device", "StatusNotification", device_pb.StatusNotificationCall),
    "Authorize": Route("user", "Authorize", user_pb.AuthorizeCall),
    "TransactionEvent": Route(
        "transaction", "TransactionEvent", transaction_pb.TransactionEventCall
    ),
    "MeterValues": Route("transaction", "MeterValues", transaction_pb.MeterValuesCall),
    "NotifyReport": Route("device", "NotifyReport", device_pb.NotifyReportCall),
    "NotifyCustomerInformation": Route(
        "device", "NotifyCustomerInformation", device_pb.NotifyCustomerInformationCall
    ),
    # DataTransfer goes both ways; the station's own is StationDataTransfer on device_svc, since
    # DeviceService.DataTransfer is the CSMS-initiated command.
    "DataTransfer": Route("device", "StationDataTransfer", device_pb.DataTransferCall),
    "SecurityEventNotification": Route(
        "device", "SecurityEventNotification", device_pb.SecurityEventNotificationCall
    ),
    "SignCertificate": Route("device", "SignCertificate", device_pb.SignCertificateCall),
}

_STUBS: Mapping[str, Callable[[grpc.aio.Channel], Any]] = {
    "device": device_grpc.DeviceServiceStub,
    "transaction": transaction_grpc.TransactionServiceStub,
    "user": user_grpc.UserServiceStub,
}


@dataclass(frozen=True, slots=True)
class Bound:
    route: Route
    request_type: type[Message]
    rpc: Callable[..., Awaitable[Message]]


class Router:
    """The table bound to live channels: action → (request type, wrapper, RPC callable)."""

    def __init__(self, channels: Mapping[str, grpc.aio.Channel]) -> None:
        stubs = {name: make(channels[name]) for name, make in _STUBS.items()}
        self.device = stubs["device"]
        self.bound: dict[str, Bound] = {
            action: Bound(route, REQUEST_TYPES[action], getattr(stubs[route.service], route.method))
            for action, route in ROUTES.items()
        }
