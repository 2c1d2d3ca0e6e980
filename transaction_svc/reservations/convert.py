"""Reservations between protobuf and rows: pure code."""

from __future__ import annotations

from common.columns import timestamp
from common.ocpp_json import proto_enum_number, to_proto
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as pb
from transaction_svc.reservations.models import ReservationRow

__all__ = ["reservation_to_proto", "reserve_now_of"]


def reserve_now_of(r: pb.Reservation) -> ocpp.ReserveNowRequest:
    """The ReserveNowRequest a Reservation asks for (its id assigned later)."""
    request = ocpp.ReserveNowRequest(expiry_date_time=r.expiry_date_time, id_token=r.id_token)
    if r.HasField("evse_id"):
        request.evse_id = r.evse_id
    if r.connector_type:
        request.connector_type = r.connector_type
    if r.HasField("group_id_token"):
        request.group_id_token.CopyFrom(r.group_id_token)
    return request


def reservation_to_proto(row: ReservationRow) -> pb.Reservation:
    msg = pb.Reservation(
        id=row.id,
        station_id=row.station_id,
        id_token=to_proto(ocpp.IdToken, dict(row.id_token)),
        expiry_date_time=timestamp(row.expiry),
        state=row.state,
        transaction_id=row.transaction_id or "",
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )
    if row.evse_id is not None:
        msg.evse_id = row.evse_id
    if row.connector_type:
        msg.connector_type = proto_enum_number(ocpp.ConnectorEnum, row.connector_type)
    if row.group_id_token:
        msg.group_id_token.CopyFrom(to_proto(ocpp.IdToken, dict(row.group_id_token)))
    return msg
