"""Block H's TransactionService methods, mixed into
:class:`transaction_svc.servicer.TransactionServicer`."""

from __future__ import annotations

import grpc

from common import logging as log_ctx
from common.errors import InvalidArgument
from common.ocpp_json import to_ocpp
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as pb
from transaction_svc.reservations import convert
from transaction_svc.reservations.service import Reservations

__all__ = ["ReservationsServicer"]


class ReservationsServicer:
    reservations: Reservations

    async def CreateReservation(
        self, request: pb.CreateReservationRequest, context: grpc.aio.ServicerContext
    ) -> pb.Reservation:
        r = request.reservation
        if not r.HasField("expiry_date_time"):
            raise InvalidArgument("expiryDateTime is required")
        row = await self.reservations.create(r.station_id, convert.reserve_now_of(r))
        return convert.reservation_to_proto(row)

    async def GetReservation(
        self, request: pb.GetReservationRequest, context: grpc.aio.ServicerContext
    ) -> pb.Reservation:
        return convert.reservation_to_proto(await self.reservations.get(request.id))

    async def ListReservations(
        self, request: pb.ListReservationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListReservationsResponse:
        if request.page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        rows, token = await self.reservations.list_reservations(
            request.station_id,
            request.state,
            request.id_token,
            request.page_size,
            request.page_token,
        )
        return pb.ListReservationsResponse(
            reservations=[convert.reservation_to_proto(r) for r in rows], next_page_token=token
        )

    async def CancelReservation(
        self, request: pb.CancelReservationRequest, context: grpc.aio.ServicerContext
    ) -> pb.Reservation:
        return convert.reservation_to_proto(await self.reservations.cancel(request.id))

    async def ReservationStatusUpdate(
        self, request: pb.ReservationStatusUpdateCall, context: grpc.aio.ServicerContext
    ) -> ocpp.ReservationStatusUpdateResponse:
        log_ctx.station_id.set(request.station_id)
        payload = to_ocpp(request.request)
        await self.reservations.status_update(
            request.station_id,
            int(payload.get("reservationId", 0)),
            str(payload.get("reservationUpdateStatus", "")),
        )
        return ocpp.ReservationStatusUpdateResponse()
