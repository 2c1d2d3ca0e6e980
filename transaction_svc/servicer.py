"""TransactionService over gRPC: proto ⇄ domain, plus asking user_svc about an event's idToken.

OCPP 1.6J transactions arrive as the TransactionEvents the gateway translates them into
(gateway/ocpp16.py), with ``protocol`` "ocpp1.6" on the call: their idToken is a 1.6 idTag
(authorized whatever the stored token's type; the placeholder type is not kept). Their integer
transactionId comes first from AssignTransactionId16 (:meth:`Transactions.assign_id16`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import grpc

from common import grpc_server, registration
from common import logging as log_ctx
from common.columns import enum_column as _ocpp_value
from common.columns import enum_number as _number
from common.columns import timestamp as _ts
from common.columns import utc_datetime
from common.errors import InvalidArgument, Unavailable
from common.ocpp_json import proto_enum_number, to_ocpp, to_proto
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as pb
from csms.transaction.v1 import transaction_service_pb2_grpc as pb_grpc
from transaction_svc.domain import Event, energy_wh
from transaction_svc.load_manager.service import LoadManager
from transaction_svc.load_manager.servicer import SitesServicer
from transaction_svc.models import (
    EventConflictRow,
    ImplausibleReadingRow,
    MeterValuesRow,
    Transaction,
    TransactionEventRow,
)
from transaction_svc.reservations.service import Reservations
from transaction_svc.reservations.servicer import ReservationsServicer
from transaction_svc.service import MeterValues, Transactions, state_of
from transaction_svc.smart_charging.service import SmartCharging
from transaction_svc.smart_charging.servicer import SmartChargingServicer
from transaction_svc.tariffs.domain import message_for
from transaction_svc.tariffs.service import Tariffs
from transaction_svc.tariffs.servicer import TariffsServicer
from transaction_svc.users import Users

__all__ = ["TransactionServicer", "event_of", "meter_values_to_proto", "transaction_to_proto"]

log = logging.getLogger(__name__)

_STATES = {
    pb.ListTransactionsRequest.STATE_ACTIVE: True,
    pb.ListTransactionsRequest.STATE_ENDED: False,
}


def event_of(req: ocpp.TransactionEventRequest) -> Event:
    """The domain event of an OCPP TransactionEventRequest; INVALID_ARGUMENT if it lacks one."""
    for name in ("event_type", "trigger_reason", "seq_no", "timestamp", "transaction_info"):
        if not req.HasField(name):
            raise InvalidArgument(f"{name} is required")
    info = req.transaction_info
    return Event(
        seq_no=req.seq_no,
        event_type=_ocpp_value(ocpp.TransactionEventEnum, req.event_type, "event_type"),
        trigger_reason=_ocpp_value(ocpp.TriggerReasonEnum, req.trigger_reason, "trigger_reason"),
        timestamp=utc_datetime(req.timestamp),
        offline=req.offline,
        meter_values=[to_ocpp(mv) for mv in req.meter_value],
        evse_id=req.evse.id if req.HasField("evse") else None,
        connector_id=(
            req.evse.connector_id
            if req.HasField("evse") and req.evse.HasField("connector_id")
            else None
        ),
        id_token=req.id_token.id_token if req.HasField("id_token") else "",
        id_token_type=(
            _ocpp_value(ocpp.IdTokenEnum, req.id_token.type, "id_token.type")
            if req.HasField("id_token")
            else ""
        ),
        charging_state=_ocpp_value(
            ocpp.ChargingStateEnum, info.charging_state, "transaction_info.charging_state"
        ),
        stopped_reason=_ocpp_value(
            ocpp.ReasonEnum, info.stopped_reason, "transaction_info.stopped_reason"
        ),
        remote_start_id=info.remote_start_id if info.HasField("remote_start_id") else None,
    )


def _event_to_proto(row: TransactionEventRow | EventConflictRow) -> pb.TransactionEvent:
    return pb.TransactionEvent(
        seq_no=row.seq_no,
        event_type=proto_enum_number(ocpp.TransactionEventEnum, row.event_type),
        trigger_reason=proto_enum_number(ocpp.TriggerReasonEnum, row.trigger_reason),
        timestamp=_ts(row.timestamp),
        offline=row.offline,
        meter_values=[to_proto(ocpp.MeterValue, mv) for mv in row.meter_values],
    )


def transaction_to_proto(
    row: Transaction,
    events: Sequence[TransactionEventRow] = (),
    conflicts: Sequence[EventConflictRow] = (),
    implausible: Sequence[ImplausibleReadingRow] = (),
) -> pb.Transaction:
    msg = pb.Transaction(
        id=row.id,
        station_id=row.station_id,
        evse_id=row.evse_id or 0,
        connector_id=row.connector_id or 0,
        id_token=row.id_token,
        id_token_type=_number(ocpp.IdTokenEnum, row.id_token_type),
        charging_state=_number(ocpp.ChargingStateEnum, row.charging_state),
        stopped_reason=_number(ocpp.ReasonEnum, row.stopped_reason),
        active=row.active,
        started_at=_ts(row.started_at),
        ended_at=_ts(row.ended_at),
        energy_wh=energy_wh(state_of(row)),
        events=[_event_to_proto(e) for e in events],
        conflicts=[_event_to_proto(e) for e in conflicts],
        implausible_readings=[
            pb.ImplausibleReading(seq_no=r.seq_no, timestamp=_ts(r.at), wh=r.wh, reason=r.reason)
            for r in implausible
        ],
        update_time=_ts(row.updated_at),
        protocol=row.protocol,
    )
    if row.remote_start_id is not None:
        msg.remote_start_id = row.remote_start_id
    return msg


def meter_values_to_proto(row: MeterValuesRow) -> pb.StationMeterValues:
    return pb.StationMeterValues(
        station_id=row.station_id,
        evse_id=row.evse_id,
        meter_values=[to_proto(ocpp.MeterValue, mv) for mv in row.meter_values],
        received_at=_ts(row.received_at),
    )


class TransactionServicer(
    SmartChargingServicer,
    SitesServicer,
    TariffsServicer,
    ReservationsServicer,
    pb_grpc.TransactionServiceServicer,
):
    """Block K's methods (smart charging) come from :class:`SmartChargingServicer`, the sites'
    from :class:`SitesServicer`, tariffs and charge detail records from
    :class:`TariffsServicer`."""

    def __init__(
        self,
        transactions: Transactions,
        users: Users,
        meter_values: MeterValues,
        smart_charging: SmartCharging,
        load_manager: LoadManager,
        tariffs: Tariffs,
        reservations: Reservations,
    ) -> None:
        self.transactions = transactions
        self.users = users
        self.meter_values = meter_values
        self.smart_charging = smart_charging
        self.load_manager = load_manager
        self.tariffs = tariffs
        self.reservations = reservations

    async def TransactionEvent(
        self, request: pb.TransactionEventCall, context: grpc.aio.ServicerContext
    ) -> ocpp.TransactionEventResponse:
        return await self._transaction_event(request)

    async def TransactionEvents(
        self, request: pb.TransactionEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.TransactionEventsResponse:
        """Each item as TransactionEvent would answer it; together, so that their writes share
        group commits."""
        return await grpc_server.answer_each(
            request, self._transaction_event, pb.TransactionEventsResponse
        )

    async def _transaction_event(
        self, call: pb.TransactionEventCall
    ) -> ocpp.TransactionEventResponse:
        log_ctx.station_id.set(call.station_id)
        req = call.request
        if call.HasField("registration"):
            registration.check(call.registration, "TransactionEvent", req.trigger_reason)
        event = event_of(req)
        protocol = call.protocol or "ocpp2.0.1"
        if protocol == "ocpp1.6" and event.id_token_type:
            # A 1.6 idTag has no type: the one in the request only satisfies the 2.0.1 schema.
            event = dataclasses.replace(event, id_token_type="")
        response = ocpp.TransactionEventResponse()
        group: str | None = None
        if req.HasField("id_token"):
            # Asked before storing: if user_svc cannot answer, nothing is stored and the
            # station's retry of this event is a first delivery, not a duplicate.
            try:
                info = await self.users.authorize(call.station_id, req.id_token, call.protocol)
            except grpc.aio.AioRpcError as exc:
                log.warning("user_svc Authorize failed: %s %s", exc.code().name, exc.details())
                raise Unavailable(
                    f"user_svc cannot authorize the idToken now ({exc.code().name})"
                ) from None
            response.id_token_info.CopyFrom(info)
            group = info.group_id_token.id_token
        await self.transactions.record(
            call.station_id, req.transaction_info.transaction_id, event, protocol
        )
        refused = await self.reservations.on_event(
            call.station_id,
            req.transaction_info.transaction_id,
            req.reservation_id if req.HasField("reservation_id") else None,
            req.evse.id if req.HasField("evse") else None,
            req.id_token.id_token if req.HasField("id_token") else "",
            group or "",
        )
        if refused is not None:  # Another driver's token on a reserved EVSE (H01).
            response.id_token_info.status = proto_enum_number(ocpp.AuthorizationStatusEnum, refused)
        priced = await self.tariffs.on_event(
            call.station_id, req.transaction_info.transaction_id, event, group
        )
        if priced.total is not None:  # The transaction has ended: its final cost (I03).
            response.total_cost = float(priced.total)
        message = message_for(priced.messages, response.id_token_info.language1)
        if message is not None and req.HasField("id_token"):  # The driver's tariff (I01).
            response.updated_personal_message.CopyFrom(to_proto(ocpp.MessageContent, dict(message)))
        if req.event_type != ocpp.TRANSACTION_EVENT_UPDATED or req.HasField("evse"):
            # A transaction started, ended or learnt its EVSE: its site's limits change.
            self.load_manager.touched(call.station_id)
        return response

    async def AssignTransactionId16(
        self, request: pb.AssignTransactionId16Request, context: grpc.aio.ServicerContext
    ) -> pb.AssignTransactionId16Response:
        log_ctx.station_id.set(request.station_id)
        if request.HasField("registration"):
            registration.check(request.registration, "StartTransaction")
        if not request.HasField("timestamp"):
            raise InvalidArgument("timestamp is required")
        charging_state = _ocpp_value(
            ocpp.ChargingStateEnum, request.charging_state, "charging_state"
        )
        got = await self.transactions.assign_id16(
            request.station_id,
            request.connector_id,
            request.id_tag,
            utc_datetime(request.timestamp),
            request.meter_start,
            charging_state or None,
        )
        response = pb.AssignTransactionId16Response(
            transaction_id=got.transaction_id,
            assigned=got.assigned,
            charging_state=_number(ocpp.ChargingStateEnum, got.charging_state),
        )
        if got.remote_start_id is not None:
            response.remote_start_id = got.remote_start_id
        return response

    async def ExpectRemoteStart16(
        self, request: pb.ExpectRemoteStart16Request, context: grpc.aio.ServicerContext
    ) -> pb.ExpectRemoteStart16Response:
        log_ctx.station_id.set(request.station_id)
        await self.transactions.expect_remote_start16(
            request.station_id,
            request.remote_start_id,
            request.id_tag,
            request.connector_id if request.HasField("connector_id") else None,
        )
        return pb.ExpectRemoteStart16Response()

    async def ForgetRemoteStart16(
        self, request: pb.ForgetRemoteStart16Request, context: grpc.aio.ServicerContext
    ) -> pb.ForgetRemoteStart16Response:
        log_ctx.station_id.set(request.station_id)
        await self.transactions.forget_remote_start16(request.station_id, request.remote_start_id)
        return pb.ForgetRemoteStart16Response()

    async def GetTransaction(
        self, request: pb.GetTransactionRequest, context: grpc.aio.ServicerContext
    ) -> pb.Transaction:
        row, events = await self.transactions.get(request.id, request.station_id)
        conflicts, implausible = await self.transactions.anomalies(row.station_id, row.id)
        return transaction_to_proto(row, events, conflicts, implausible)

    async def CountChargingStations(
        self, request: pb.CountChargingStationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.CountChargingStationsResponse:
        return pb.CountChargingStationsResponse(
            stations=await self.transactions.count_charging_stations()
        )

    async def ListTransactions(
        self, request: pb.ListTransactionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTransactionsResponse:
        rows, token = await self.transactions.list(
            request.station_id,
            _STATES.get(request.state),
            request.page_size,
            request.page_token,
            request.remote_start_id if request.HasField("remote_start_id") else None,
            _ocpp_value(ocpp.ChargingStateEnum, request.charging_state, "charging_state") or None,
            request.id_token or None,
        )
        return pb.ListTransactionsResponse(
            transactions=[transaction_to_proto(r) for r in rows], next_page_token=token
        )

    async def RecordRemoteStart(
        self, request: pb.RecordRemoteStartRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordRemoteStartResponse:
        log_ctx.station_id.set(request.station_id)
        if not request.HasField("id_token"):
            raise InvalidArgument("id_token is required")
        await self.transactions.record_remote_start(
            request.station_id,
            request.remote_start_id,
            request.id_token.id_token,
            _ocpp_value(ocpp.IdTokenEnum, request.id_token.type, "id_token.type"),
        )
        return pb.RecordRemoteStartResponse()

    async def MeterValues(
        self, request: pb.MeterValuesCall, context: grpc.aio.ServicerContext
    ) -> ocpp.MeterValuesResponse:
        log_ctx.station_id.set(request.station_id)
        req = request.request
        if not req.HasField("evse_id"):
            raise InvalidArgument("evse_id is required")
        await self.meter_values.record(
            request.station_id, req.evse_id, [to_ocpp(mv) for mv in req.meter_value]
        )
        return ocpp.MeterValuesResponse()

    async def ListMeterValues(
        self, request: pb.ListMeterValuesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMeterValuesResponse:
        rows, token = await self.meter_values.list(
            request.station_id,
            request.evse_id if request.HasField("evse_id") else None,
            request.page_size,
            request.page_token,
        )
        return pb.ListMeterValuesResponse(
            meter_values=[meter_values_to_proto(r) for r in rows], next_page_token=token
        )
