"""Block H's table in transaction_svc's database (revision 0009 of its chain)."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from transaction_svc.models import Base

__all__ = ["ReservationRow"]


class ReservationRow(Base):
    __tablename__ = "reservations"
    __table_args__ = (Index("ix_reservations_station_state", "station_id", "state"),)

    # ReserveNowRequest.id: assigned here, unique.
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(48))
    evse_id: Mapped[int | None]
    # ConnectorEnumType value, e.g. "cType2"; "" when none.
    connector_type: Mapped[str] = mapped_column(String(24), default="")
    # The IdTokenType JSON (idToken, type, additionalInfo).
    id_token: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The group's IdTokenType JSON; {} when none.
    group_id_token: Mapped[dict[str, Any]] = mapped_column(JSON)
    expiry: Mapped[datetime.datetime]
    # domain's states: "Sending" until the station answers ReserveNow.
    state: Mapped[str] = mapped_column(String(16))
    transaction_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime.datetime]
    updated_at: Mapped[datetime.datetime]
