"""Block I between protobuf and the domain: pure code."""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Sequence
from typing import Any

from common.columns import timestamp
from common.ocpp_json import to_ocpp, to_proto
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as pb
from transaction_svc.tariffs.domain import Tariff, decimal_of
from transaction_svc.tariffs.models import ChargeDetailRecordRow, TariffRow
from transaction_svc.tariffs.service import tariff_of_row

__all__ = [
    "CSV_COLUMNS",
    "MASK_PATHS",
    "record_to_proto",
    "records_csv",
    "tariff_fields",
    "tariff_of",
    "tariff_to_proto",
]

# update_mask path (Tariff's field) → domain.Tariff's field.
MASK_PATHS = {
    "name": "name",
    "currency": "currency",
    "price_per_kwh": "price_per_kwh",
    "price_per_hour": "price_per_hour",
    "idle_price_per_hour": "idle_price_per_hour",
    "idle_grace_minutes": "idle_grace",
    "session_fee": "session_fee",
    "vat_percent": "vat_percent",
    "is_default": "is_default",
    "station_ids": "station_ids",
    "group_id_tokens": "group_id_tokens",
    "cost_update_interval": "cost_update_interval",
    "personal_messages": "personal_messages",
}


def tariff_fields(t: pb.Tariff) -> dict[str, Any]:
    """domain.Tariff's fields from a Tariff message (prices checked: InvalidArgument)."""
    return {
        "name": t.name,
        "currency": t.currency,
        "price_per_kwh": decimal_of(t.price_per_kwh, "pricePerKwh"),
        "price_per_hour": decimal_of(t.price_per_hour, "pricePerHour"),
        "idle_price_per_hour": decimal_of(t.idle_price_per_hour, "idlePricePerHour"),
        "idle_grace": datetime.timedelta(minutes=t.idle_grace_minutes),
        "session_fee": decimal_of(t.session_fee, "sessionFee"),
        "vat_percent": decimal_of(t.vat_percent, "vatPercent"),
        "is_default": t.is_default,
        "station_ids": tuple(t.station_ids),
        "group_id_tokens": tuple(t.group_id_tokens),
        "cost_update_interval": (
            t.cost_update_interval if t.HasField("cost_update_interval") else None
        ),
        "personal_messages": tuple(to_ocpp(m) for m in t.personal_messages),
    }


def tariff_of(t: pb.Tariff) -> Tariff:
    return Tariff(id=t.id, **tariff_fields(t))


def tariff_to_proto(row: TariffRow) -> pb.Tariff:
    t = tariff_of_row(row)
    msg = pb.Tariff(
        id=t.id,
        name=t.name,
        currency=t.currency,
        price_per_kwh=str(t.price_per_kwh),
        price_per_hour=str(t.price_per_hour),
        idle_price_per_hour=str(t.idle_price_per_hour),
        idle_grace_minutes=int(t.idle_grace.total_seconds() // 60),
        session_fee=str(t.session_fee),
        vat_percent=str(t.vat_percent),
        is_default=t.is_default,
        station_ids=list(t.station_ids),
        group_id_tokens=list(t.group_id_tokens),
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )
    if t.cost_update_interval is not None:
        msg.cost_update_interval = t.cost_update_interval
    msg.personal_messages.extend(
        to_proto(ocpp.MessageContent, dict(m)) for m in t.personal_messages
    )
    return msg


def record_to_proto(row: ChargeDetailRecordRow) -> pb.ChargeDetailRecord:
    msg = pb.ChargeDetailRecord(
        station_id=row.station_id,
        transaction_id=row.transaction_id,
        id_token=row.id_token,
        start_time=timestamp(row.start_time),
        end_time=timestamp(row.end_time),
        energy_wh=row.energy_wh,
        charging_seconds=row.charging_seconds,
        idle_seconds=row.idle_seconds,
        tariff_id=row.tariff_id,
        currency=row.currency,
        lines=[
            pb.CostLine(
                kind=line["kind"],
                quantity=line["quantity"],
                unit_price=line["unitPrice"],
                amount=line["amount"],
            )
            for line in row.cost.get("lines", [])
        ],
        net=row.cost.get("net", ""),
        vat=row.cost.get("vat", ""),
        total=row.total,
        create_time=timestamp(row.created_at),
    )
    if row.evse_id is not None:
        msg.evse_id = row.evse_id
    return msg


CSV_COLUMNS = (
    "stationId",
    "transactionId",
    "idToken",
    "evseId",
    "startTime",
    "endTime",
    "energyWh",
    "chargingSeconds",
    "idleSeconds",
    "tariffId",
    "currency",
    "net",
    "vat",
    "total",
)


def records_csv(rows: Sequence[ChargeDetailRecordRow]) -> str:
    """The records as CSV (RFC 4180, a header line first; times UTC RFC 3339)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r.station_id,
                r.transaction_id,
                r.id_token,
                "" if r.evse_id is None else r.evse_id,
                r.start_time.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z"),
                r.end_time.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z"),
                r.energy_wh,
                r.charging_seconds,
                r.idle_seconds,
                r.tariff_id,
                r.currency,
                r.cost.get("net", ""),
                r.cost.get("vat", ""),
                r.total,
            ]
        )
    return out.getvalue()
