"""The action → RPC table: which service answers which OCPP CALL from a station.

One row per OCPP 2.0.1 action the CSMS handles; a 1.6 station's CALLs come through the same rows,
translated by :mod:`gateway.ocpp16`. A known OCPP 2.0.1 action without a row is answered
NotSupported; an unknown one NotImplemented (see :mod:`gateway.ocppj`). Most rows name an RPC; a
:class:`Local` row is answered by the gateway itself, by the handler of that name the
:class:`Router` is given (Heartbeat: :mod:`gateway.heartbeats`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message

from common.batched_rpc import BatchedRpc
from common.ocpp_json import REQUEST_TYPES
from csms.device.v1 import device_service_pb2 as device_pb
from csms.device.v1 import device_service_pb2_grpc as device_grpc
from csms.transaction.v1 import transaction_service_pb2 as transaction_pb
from csms.transaction.v1 import transaction_service_pb2_grpc as transaction_grpc
from csms.user.v1 import user_service_pb2 as user_pb
from csms.user.v1 import user_service_pb2_grpc as user_grpc

__all__ = ["Bound", "Local", "LocalAnswer", "Route", "ROUTES", "Router"]


@dataclass(frozen=True, slots=True)
class Route:
    service: str  # "device", "transaction" or "user": which channel
    method: str  # the RPC's name on that service's stub (not always the action's)
    call_type: type[Message]  # the <Action>Call wrapper: station_id + the OCPP request
    # Sent in batches through this RPC of the same service when the Router is given a batch
    # size (common.batched_rpc): the hot paths of a busy fleet and of a boot storm.
    batch_method: str = ""


@dataclass(frozen=True, slots=True)
class Local:
    """Answered by the gateway, without an RPC: ``handler`` names one given to the Router."""

    handler: str


#: A local handler: (station id, OCPP request) → OCPP response, at once.
LocalAnswer = Callable[[str, Message], Message]

ROUTES: Mapping[str, Route | Local] = {
    "BootNotification": Route(
        "device",
        "BootNotification",
        device_pb.BootNotificationCall,
        batch_method="BootNotifications",
    ),
    # Nothing to store but last-seen, which the gateway sends device_svc in batches
    # (DeviceService.RecordHeartbeats); device_svc's Heartbeat RPC stays for other callers.
    "Heartbeat": Local("heartbeat"),
    "StatusNotification": Route(
        "device",
        "StatusNotification",
        device_pb.StatusNotificationCall,
        batch_method="StatusNotifications",
    ),
    "Authorize": Route("user", "Authorize", user_pb.AuthorizeCall, batch_method="Authorizes"),
    # The durable hot path: the events that queue behind the calls in flight go together.
    "TransactionEvent": Route(
        "transaction",
        "TransactionEvent",
        transaction_pb.TransactionEventCall,
        batch_method="TransactionEvents",
    ),
    "MeterValues": Route("transaction", "MeterValues", transaction_pb.MeterValuesCall),
    "NotifyReport": Route("device", "NotifyReport", device_pb.NotifyReportCall),
    "NotifyCustomerInformation": Route(
        "device", "NotifyCustomerInformation", device_pb.NotifyCustomerInformationCall
    ),
    "NotifyEvent": Route("device", "NotifyEvent", device_pb.NotifyEventCall),
    "NotifyMonitoringReport": Route(
        "device", "NotifyMonitoringReport", device_pb.NotifyMonitoringReportCall
    ),
    "NotifyDisplayMessages": Route(
        "device", "NotifyDisplayMessages", device_pb.NotifyDisplayMessagesCall
    ),
    # DataTransfer goes both ways; the station's own is StationDataTransfer on device_svc, since
    # DeviceService.DataTransfer is the CSMS-initiated command.
    "DataTransfer": Route("device", "StationDataTransfer", device_pb.DataTransferCall),
    "SecurityEventNotification": Route(
        "device", "SecurityEventNotification", device_pb.SecurityEventNotificationCall
    ),
    "SignCertificate": Route("device", "SignCertificate", device_pb.SignCertificateCall),
    # ISO 15118 Plug & Charge (block M): device_svc/plug_and_charge.
    "Get15118EVCertificate": Route(
        "device", "Get15118EVCertificate", device_pb.Get15118EVCertificateCall
    ),
    "GetCertificateStatus": Route(
        "device", "GetCertificateStatus", device_pb.GetCertificateStatusCall
    ),
    # Firmware (block L) and logs (block N): device_svc keeps every status (device_svc/firmware,
    # device_svc/logs).
    "FirmwareStatusNotification": Route(
        "device", "FirmwareStatusNotification", device_pb.FirmwareStatusNotificationCall
    ),
    "PublishFirmwareStatusNotification": Route(
        "device",
        "PublishFirmwareStatusNotification",
        device_pb.PublishFirmwareStatusNotificationCall,
    ),
    "LogStatusNotification": Route(
        "device", "LogStatusNotification", device_pb.LogStatusNotificationCall
    ),
    # Smart charging (block K): transaction_svc keeps the profiles stations hold, their external
    # limits and the EVs' needs and schedules (transaction_svc/smart_charging).
    "ReportChargingProfiles": Route(
        "transaction", "ReportChargingProfiles", transaction_pb.ReportChargingProfilesCall
    ),
    "NotifyChargingLimit": Route(
        "transaction", "NotifyChargingLimit", transaction_pb.NotifyChargingLimitCall
    ),
    "ClearedChargingLimit": Route(
        "transaction", "ClearedChargingLimit", transaction_pb.ClearedChargingLimitCall
    ),
    "NotifyEVChargingNeeds": Route(
        "transaction", "NotifyEVChargingNeeds", transaction_pb.NotifyEVChargingNeedsCall
    ),
    "ReservationStatusUpdate": Route(
        "transaction", "ReservationStatusUpdate", transaction_pb.ReservationStatusUpdateCall
    ),
    "NotifyEVChargingSchedule": Route(
        "transaction", "NotifyEVChargingSchedule", transaction_pb.NotifyEVChargingScheduleCall
    ),
}

# Each service's messages (a batch RPC's request type is <BatchMethod>Request there).
_MESSAGES: Mapping[str, Any] = {"device": device_pb, "transaction": transaction_pb, "user": user_pb}

_STUBS: Mapping[str, Callable[[grpc.aio.Channel], Any]] = {
    "device": device_grpc.DeviceServiceStub,
    "transaction": transaction_grpc.TransactionServiceStub,
    "user": user_grpc.UserServiceStub,
}


@dataclass(frozen=True, slots=True)
class Bound:
    """One row bound: the request type, and either the RPC (with its wrapper) or the handler."""

    request_type: type[Message]
    service: str = ""  # the channel the RPC goes through ("" for a Local row)
    call_type: type[Message] | None = None  # the RPC's <Action>Call wrapper
    rpc: Callable[..., Awaitable[Message]] | None = None
    answer: LocalAnswer | None = None
    # The wrapper has a ``registration`` field: the gateway fills it in (common/registration.py).
    tells_registration: bool = False
    # The wrapper has a ``protocol`` field: the gateway fills in the station's OCPP-J subprotocol
    # when it is not 2.0.1 (a 1.6 CALL translated by gateway.ocpp16).
    tells_protocol: bool = False


class Router:
    """The table bound to live channels and to the gateway's local handlers."""

    def __init__(
        self,
        channels: Mapping[str, grpc.aio.Channel],
        local: Mapping[str, LocalAnswer],
        *,
        batch_size: int = 0,
        batches_in_flight: int = 1,
    ) -> None:
        """``batch_size`` 0: every row's RPC is unary (no batching)."""
        stubs = {name: make(channels[name]) for name, make in _STUBS.items()}
        self.device = stubs["device"]
        # OCPP 1.6J StartTransaction's transactionId (gateway.server, before its row's RPC).
        self.transaction = stubs["transaction"]

        def batched(service: str, method: str, batch_method: str) -> Callable[..., Any]:
            unary: Callable[..., Any] = getattr(stubs[service], method)
            if batch_size <= 0:
                return unary
            return BatchedRpc(
                getattr(stubs[service], batch_method),
                unary,
                getattr(_MESSAGES[service], f"{batch_method}Request"),
                max_in_flight=batches_in_flight,
                max_batch=batch_size,
            )

        # The handshake's and the close's calls (gateway.server), batched like the rows below.
        self.connect_station = batched("device", "ConnectStation", "ConnectStations")
        self.disconnect_station = batched("device", "DisconnectStation", "DisconnectStations")
        self.bound: dict[str, Bound] = {}
        for action, route in ROUTES.items():
            if isinstance(route, Local):
                # A missing handler is a wiring bug: fail at start, not on the first frame.
                self.bound[action] = Bound(REQUEST_TYPES[action], answer=local[route.handler])
            else:
                if route.batch_method:
                    rpc = batched(route.service, route.method, route.batch_method)
                else:
                    rpc = getattr(stubs[route.service], route.method)
                self.bound[action] = Bound(
                    REQUEST_TYPES[action],
                    route.service,
                    route.call_type,
                    rpc,
                    tells_registration="registration" in route.call_type.DESCRIPTOR.fields_by_name,
                    tells_protocol="protocol" in route.call_type.DESCRIPTOR.fields_by_name,
                )
