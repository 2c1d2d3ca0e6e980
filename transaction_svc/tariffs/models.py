"""Block I's tables in transaction_svc's database (revision 0008 of its chain). Money and
energy are kept as decimal strings: exact on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from transaction_svc.models import Base

__all__ = ["ChargeDetailRecordRow", "TariffRow", "TransactionCostRow"]


class TariffRow(Base):
    __tablename__ = "tariffs"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    currency: Mapped[str] = mapped_column(String(3))
    price_per_kwh: Mapped[str] = mapped_column(String(32))
    price_per_hour: Mapped[str] = mapped_column(String(32))
    idle_price_per_hour: Mapped[str] = mapped_column(String(32))
    idle_grace_seconds: Mapped[int]
    session_fee: Mapped[str] = mapped_column(String(32))
    vat_percent: Mapped[str] = mapped_column(String(32))
    is_default: Mapped[bool]
    station_ids: Mapped[list[str]] = mapped_column(JSON)
    group_id_tokens: Mapped[list[str]] = mapped_column(JSON)
    cost_update_interval: Mapped[int | None]
    # [MessageContentType JSON, ...]: what the driver is shown of the tariff.
    personal_messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime.datetime]
    updated_at: Mapped[datetime.datetime]


class TransactionCostRow(Base):
    """A priced transaction: the tariff it got (a snapshot, so that later changes to the tariff
    change nothing), its charging-state changes for charging and idle time, and when the last
    CostUpdated left."""

    __tablename__ = "transaction_costs"

    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # domain.Tariff.as_json().
    tariff: Mapped[dict[str, Any]] = mapped_column(JSON)
    # [[seqNo, timestamp (RFC 3339), chargingState], ...]: one per event that said one.
    states: Mapped[list[list[Any]]] = mapped_column(JSON)
    cost_updated_at: Mapped[datetime.datetime | None]
    created_at: Mapped[datetime.datetime]


class ChargeDetailRecordRow(Base):
    """What a transaction cost, written once when it ended and never changed."""

    __tablename__ = "charge_detail_records"

    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    id_token: Mapped[str] = mapped_column(String(36), default="")
    evse_id: Mapped[int | None]
    start_time: Mapped[datetime.datetime]
    end_time: Mapped[datetime.datetime]
    energy_wh: Mapped[str] = mapped_column(String(32))
    charging_seconds: Mapped[int]
    idle_seconds: Mapped[int]
    tariff_id: Mapped[str] = mapped_column(String(48))
    currency: Mapped[str] = mapped_column(String(3))
    # domain.Cost.as_json(): the lines, net, VAT, total.
    cost: Mapped[dict[str, Any]] = mapped_column(JSON)
    total: Mapped[str] = mapped_column(String(32))
    # Indexed: the listing is by it.
    created_at: Mapped[datetime.datetime] = mapped_column(index=True)
