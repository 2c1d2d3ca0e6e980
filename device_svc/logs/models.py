"""Block N's log table in device_svc's database (revision 0010 of its migration chain)."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from device_svc.models import Base

__all__ = ["StationLogRow"]


class StationLogRow(Base):
    """A GetLog a station was sent, what it said of it since, and the file it uploaded."""

    __tablename__ = "station_logs"

    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    request_id: Mapped[int] = mapped_column(primary_key=True)
    log_type: Mapped[str] = mapped_column(String(16))
    remote_location: Mapped[str] = mapped_column(String(512))
    # GetLog's answer, then the latest LogStatusNotification (OCPP's words).
    status: Mapped[str] = mapped_column(String(24))
    # [{"status": ..., "at": ISO 8601}], oldest first.
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    filename: Mapped[str] = mapped_column(String(255))
    # The upload the CSMS received (None: none yet).
    storage_key: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime.datetime]
    received_at: Mapped[datetime.datetime | None]
