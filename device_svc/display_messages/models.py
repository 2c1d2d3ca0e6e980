"""Block O's tables in device_svc's database (revision 0008 of its migration chain)."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from device_svc.models import Base

__all__ = ["DisplayMessageReportRow", "DisplayMessageRow"]


class DisplayMessageRow(Base):
    """A message a station shows, as the CSMS knows it: one per station and message id (a
    message of the same id replaces it, as it does on the station)."""

    __tablename__ = "display_messages"

    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    id: Mapped[int] = mapped_column(primary_key=True)
    # MessagePriorityEnumType and MessageStateEnumType values, for the filters.
    priority: Mapped[str] = mapped_column(String(16))
    state: Mapped[str | None] = mapped_column(String(16))
    # The MessageInfoType JSON.
    info: Mapped[dict[str, Any]] = mapped_column(JSON)
    # "CSMS" or "Station" (domain.CSMS, domain.STATION).
    source: Mapped[str] = mapped_column(String(8))
    reported_by: Mapped[int | None]
    updated_at: Mapped[datetime.datetime]


class DisplayMessageReportRow(Base):
    """A GetDisplayMessages whose NotifyDisplayMessages parts are awaited."""

    __tablename__ = "display_message_reports"

    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    request_id: Mapped[int] = mapped_column(primary_key=True)
    # domain.Criteria.as_json().
    criteria: Mapped[dict[str, Any]] = mapped_column(JSON)
    requested_at: Mapped[datetime.datetime]
