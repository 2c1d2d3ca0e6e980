"""The message log's table in device_svc's database (revision 0013 of its migration chain)."""

from __future__ import annotations

import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from device_svc.models import Base

__all__ = ["StationMessageRow"]


class StationMessageRow(Base):
    """One OCPP frame through a gateway (its payload as JSON text, secrets redacted)."""

    __tablename__ = "station_messages"
    __table_args__ = (
        Index("ix_station_messages_station", "station_id", "id"),
        Index("ix_station_messages_at", "at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    station_id: Mapped[str] = mapped_column(String(48))
    at: Mapped[datetime.datetime]
    # "in" or "out".
    direction: Mapped[str] = mapped_column(String(3))
    # "call", "result" or "error".
    type: Mapped[str] = mapped_column(String(6))
    message_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
