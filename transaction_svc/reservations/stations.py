"""ReserveNow and CancelReservation to the station: device_svc's commands, over its channel."""

from __future__ import annotations

import grpc

from common.errors import CsmsError
from csms.device.v1 import device_service_pb2 as dev
from csms.device.v1 import device_service_pb2_grpc as dev_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp

__all__ = ["ReservationCommands"]


class _StationError(CsmsError):
    """device_svc's error, passed on to our caller with its code and words."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code


class ReservationCommands:
    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self.stub = dev_grpc.DeviceServiceStub(channel)
        self.timeout = timeout

    async def reserve_now(
        self, station_id: str, request: ocpp.ReserveNowRequest
    ) -> ocpp.ReserveNowResponse:
        try:
            answer: ocpp.ReserveNowResponse = await self.stub.ReserveNow(
                dev.ReserveNowCommand(station_id=station_id, request=request),
                timeout=self.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            raise _StationError(exc.code(), exc.details() or exc.code().name) from None
        return answer

    async def cancel(self, station_id: str, reservation_id: int) -> ocpp.CancelReservationResponse:
        try:
            answer: ocpp.CancelReservationResponse = await self.stub.CancelReservation(
                dev.CancelReservationCommand(
                    station_id=station_id,
                    request=ocpp.CancelReservationRequest(reservation_id=reservation_id),
                ),
                timeout=self.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            raise _StationError(exc.code(), exc.details() or exc.code().name) from None
        return answer
