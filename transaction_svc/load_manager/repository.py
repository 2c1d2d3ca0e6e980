"""The load manager's SQL on an AsyncSession: sites, the limits the stations hold, and the facts
of the transactions, EV needs and idToken groups the decisions need."""

from __future__ import annotations

import datetime
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, delete, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import upsert
from transaction_svc.load_manager.domain import Held
from transaction_svc.load_manager.models import SiteLimitRow, SiteRow
from transaction_svc.models import Transaction
from transaction_svc.smart_charging.allocation import SessionKey
from transaction_svc.smart_charging.models import ChargingLimitRow, EVChargingNeedsRow

__all__ = ["SitesRepository"]


class SitesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- sites -----------------------------------------------------------------------------------

    async def site(self, site_id: str, *, for_update: bool = False) -> SiteRow | None:
        return await self.session.get(SiteRow, site_id, with_for_update=for_update)

    async def sites(self, after: str = "", limit: int | None = None) -> Sequence[SiteRow]:
        """Sites by id, from after ``after``."""
        stmt = select(SiteRow).where(SiteRow.id > after).order_by(SiteRow.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        return (await self.session.scalars(stmt)).all()

    async def put_site(self, values: Mapping[str, Any]) -> None:
        await upsert(self.session, SiteRow, values, ["id"])

    async def delete_site(self, site_id: str) -> None:
        await self.session.execute(delete(SiteRow).where(SiteRow.id == site_id))
        await self.session.execute(delete(SiteLimitRow).where(SiteLimitRow.site_id == site_id))

    # -- limits ----------------------------------------------------------------------------------

    async def held(self, site_id: str) -> dict[SessionKey, Held]:
        rows = await self.session.scalars(
            select(SiteLimitRow).where(SiteLimitRow.site_id == site_id)
        )
        return {
            (r.station_id, r.evse_id, r.transaction_id): Held(r.held, r.pending, r.answer)
            for r in rows
        }

    async def put_held(
        self, site_id: str, key: SessionKey, held: Held, at: datetime.datetime
    ) -> None:
        station_id, evse_id, transaction_id = key
        await upsert(
            self.session,
            SiteLimitRow,
            {
                "site_id": site_id,
                "station_id": station_id,
                "evse_id": evse_id,
                "transaction_id": transaction_id,
                "held": held.held,
                "pending": held.pending,
                "answer": held.answer,
                "updated_at": at,
            },
            ["site_id", "station_id", "evse_id", "transaction_id"],
        )

    async def forget(self, site_id: str, keys: Collection[SessionKey]) -> None:
        """Drop the rows of ``keys`` (transactions that ended, EVSEs no longer on the site)."""
        if not keys:
            return
        r = SiteLimitRow
        await self.session.execute(
            delete(r).where(
                r.site_id == site_id,
                tuple_(r.station_id, r.evse_id, r.transaction_id).in_(sorted(keys)),
            )
        )

    # -- what decisions need ---------------------------------------------------------------------

    async def active(
        self, evses: Collection[tuple[str, int]]
    ) -> list[tuple[str, int, str, datetime.datetime, str]]:
        """(station, EVSE, transactionId, since, idToken) of the active transactions on
        ``evses``, by station (one query per 500 stations)."""
        stations = sorted({s for s, _ in evses})
        wanted = set(evses)
        t = Transaction
        found: list[tuple[str, int, str, datetime.datetime, str]] = []
        for i in range(0, len(stations), 500):
            rows = await self.session.execute(
                select(t.station_id, t.evse_id, t.id, t.started_at, t.created_at, t.id_token).where(
                    t.station_id.in_(stations[i : i + 500]), t.active.is_(True)
                )
            )
            for row in rows:
                if (row.station_id, row.evse_id) in wanted:
                    since = row.started_at or row.created_at
                    found.append((row.station_id, row.evse_id, row.id, since, row.id_token))
        return found

    async def needs(
        self, keys: Collection[tuple[str, int, str]]
    ) -> dict[tuple[str, int, str], dict[str, Any]]:
        """The last ChargingNeedsType JSON of each (station, EVSE, transactionId), if sent in
        that transaction."""
        if not keys:
            return {}
        n = EVChargingNeedsRow
        pairs = sorted({(s, e) for s, e, _ in keys})
        found: dict[tuple[str, int, str], dict[str, Any]] = {}
        for i in range(0, len(pairs), 500):
            rows = await self.session.scalars(
                select(n).where(
                    or_(*(and_(n.station_id == s, n.evse_id == e) for s, e in pairs[i : i + 500]))
                )
            )
            for row in rows:
                key = (row.station_id, row.evse_id, row.transaction_id or "")
                if key in keys:
                    found[key] = dict(row.charging_needs)
        return found

    async def limits(
        self, stations: Collection[str]
    ) -> list[tuple[str, int, list[dict[str, Any]], datetime.datetime]]:
        """(station, EVSE (0: the station), schedules, reported) of the external limits the
        stations reported and did not clear (NotifyChargingLimit)."""
        found: list[tuple[str, int, list[dict[str, Any]], datetime.datetime]] = []
        ordered = sorted(stations)
        for i in range(0, len(ordered), 500):
            rows = await self.session.scalars(
                select(ChargingLimitRow).where(
                    ChargingLimitRow.station_id.in_(ordered[i : i + 500])
                )
            )
            for r in rows:
                if r.schedules:
                    found.append((r.station_id, r.evse_id, list(r.schedules), r.updated_at))
        return found
