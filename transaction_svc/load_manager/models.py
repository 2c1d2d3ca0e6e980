"""The load manager's tables in transaction_svc's database (revision 0007 of its chain).

On transaction_svc's ``Base``, so its metadata holds them (``migrations/env.py`` imports this
module). ``site_limits`` is the manager's memory of what each station holds, written before a
raise is sent (``pending``) and after each answer, so that a restarted process counts every
limit a station may hold.
"""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import JSON, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from transaction_svc.models import Base

__all__ = ["SiteLimitRow", "SiteRow"]


class SiteRow(Base):
    """A site as the operator defined it."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    limit: Mapped[float] = mapped_column(Float)
    # "A" or "W", as OCPP's chargingRateUnit.
    unit: Mapped[str] = mapped_column(String(1))
    min_limit: Mapped[float | None] = mapped_column(Float)
    evse_max: Mapped[float | None] = mapped_column(Float)
    # "equalShare" or "priority".
    strategy: Mapped[str] = mapped_column(String(16))
    # [[stationId, evseId], ...]: an EVSE belongs to one site at most (checked on write).
    evses: Mapped[list[list[Any]]] = mapped_column(JSON)
    # {groupIdToken: priority}.
    priorities: Mapped[dict[str, int]] = mapped_column(JSON)
    created_at: Mapped[datetime.datetime]
    updated_at: Mapped[datetime.datetime]


class SiteLimitRow(Base):
    """What the load manager knows a station holds for one key: a transaction's TxProfile, or
    (``transaction_id`` "") the EVSE's TxDefaultProfile."""

    __tablename__ = "site_limits"

    site_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    evse_id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # The last limit the station Accepted; NULL before any.
    held: Mapped[float | None] = mapped_column(Float)
    # A raise sent and not answered yet: counted until it is.
    pending: Mapped[float | None] = mapped_column(Float)
    # The station's last answer: Accepted, Rejected, NoAnswer.
    answer: Mapped[str] = mapped_column(String(8), default="")
    updated_at: Mapped[datetime.datetime]
