"""The fleet's aggregate reads over the stations' rows."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from sqlalchemy import and_, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from device_svc.models import Connector, Station

__all__ = ["FleetRepository", "reachable"]


def reachable(now: datetime.datetime) -> ColumnElement[bool]:
    """The SQL of :func:`device_svc.service.is_reachable`: connected, its lease running."""
    return and_(
        Station.connected.is_(True),
        Station.lease_expires_at.is_not(None),
        Station.lease_expires_at > now,
    )


class FleetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def counts(self, now: datetime.datetime) -> tuple[int, int, int]:
        """(stations, connected, faulted): faulted = connected with a Faulted connector."""
        up = reachable(now)
        row = (
            await self.session.execute(
                select(func.count(), func.count().filter(up)).select_from(Station)
            )
        ).one()
        faulted = await self.session.scalar(
            select(func.count(distinct(Connector.station_id)))
            .join(Station, Station.id == Connector.station_id)
            .where(Connector.status == "Faulted", up)
        )
        return int(row[0]), int(row[1]), int(faulted or 0)

    async def stations(self, ids: Sequence[str]) -> Sequence[Station]:
        """These stations (with their connectors), those that exist."""
        if not ids:
            return []
        return (await self.session.scalars(select(Station).where(Station.id.in_(ids)))).all()
