"""The message log's table in device_svc's database (revision 0014 of its migration chain)."""

from __future__ import annotations

import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from device_svc.models import Base

__all__ = ["StationMessageBatchRow"]


class StationMessageBatchRow(Base):
    """One station's frames of one gateway flush (``domain.decode`` reads ``body``)."""

    __tablename__ = "station_message_batches"
    __table_args__ = (
        Index("ix_station_message_batches_station", "station_id", "id"),
        Index("ix_station_message_batches_last_at", "last_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    station_id: Mapped[str] = mapped_column(String(48))
    # The times of its first and last frame.
    first_at: Mapped[datetime.datetime]
    last_at: Mapped[datetime.datetime]
    # How many frames body holds.
    frames: Mapped[int]
    # The frames as the gateway encoded them (common.message_log_codec; on PostgreSQL a large
    # body is compressed by lz4, revision 0018).
    body: Mapped[bytes] = mapped_column(LargeBinary)
