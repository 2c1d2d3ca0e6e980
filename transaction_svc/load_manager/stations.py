"""The load manager's way to the stations: device_svc's SetChargingProfile, over one channel.

device_svc owns the route to each station (its lease on a gateway) and checks the profile
against K01 with transaction_svc before sending, as for an operator's profile; it records what
the station Accepted among the station's profiles. Here the answer is reduced to what the load
manager must count (:mod:`transaction_svc.load_manager.domain`).
"""

from __future__ import annotations

import logging
from typing import Any

import grpc

from common import logging as log_ctx
from common.grpc_server import REQUEST_ID_KEY
from common.ocpp_json import to_proto
from csms.device.v1 import device_service_pb2 as dev
from csms.device.v1 import device_service_pb2_grpc as dev_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp
from transaction_svc.load_manager.domain import ACCEPTED, NO_ANSWER, OFFLINE, REJECTED

__all__ = ["StationProfiles"]

log = logging.getLogger(__name__)

# Definite answers that nothing was applied: the station's Rejected or CALLERROR, or device_svc
# refusing the profile before sending it.
_NOT_APPLIED = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


class StationProfiles:
    """SetChargingProfile through device_svc; the answer as Accepted, Rejected, Offline (not
    connected: nothing sent) or NoAnswer (it may have been applied)."""

    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self.stub = dev_grpc.DeviceServiceStub(channel)
        self.timeout = timeout

    async def set(self, station_id: str, evse_id: int, profile: dict[str, Any]) -> str:
        request = to_proto(
            ocpp.SetChargingProfileRequest, {"evseId": evse_id, "chargingProfile": profile}
        )
        rid = log_ctx.request_id.get()
        metadata = () if rid == "-" else ((REQUEST_ID_KEY, rid),)
        try:
            answer = await self.stub.SetChargingProfile(
                dev.SetChargingProfileCommand(station_id=station_id, request=request),
                timeout=self.timeout,
                metadata=metadata,
            )
        except grpc.aio.AioRpcError as exc:
            code, details = exc.code(), exc.details() or ""
            log.info(
                "load manager: SetChargingProfile %d to %s EVSE %d: %s %s",
                profile["id"],
                station_id,
                evse_id,
                code.name,
                details,
            )
            if code == grpc.StatusCode.UNAVAILABLE and "is not connected" in details:
                return OFFLINE
            return REJECTED if code in _NOT_APPLIED else NO_ANSWER
        status = answer.status == ocpp.CHARGING_PROFILE_STATUS_ACCEPTED
        return ACCEPTED if status else REJECTED

    async def clear(self, station_id: str, profile_id: int) -> str:
        """ClearChargingProfile of one id: Accepted, or why not (Unknown is Rejected here)."""
        request = ocpp.ClearChargingProfileRequest(charging_profile_id=profile_id)
        try:
            answer = await self.stub.ClearChargingProfile(
                dev.ClearChargingProfileCommand(station_id=station_id, request=request),
                timeout=self.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            log.info(
                "load manager: ClearChargingProfile %d on %s: %s %s",
                profile_id,
                station_id,
                exc.code().name,
                exc.details(),
            )
            return NO_ANSWER
        ok = answer.status == ocpp.CLEAR_CHARGING_PROFILE_STATUS_ACCEPTED
        return ACCEPTED if ok else REJECTED
