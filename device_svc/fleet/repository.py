"""The fleet's aggregate reads over the stations' rows."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from sqlalchemy import and_, distinct, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from device_svc.models import Connector, GatewayLease, Station

__all__ = ["FleetRepository", "reachable"]


def reachable(now: datetime.datetime) -> ColumnElement[bool]:
    """The SQL of :func:`device_svc.service.is_reachable`: connected, and the gateway
    incarnation holding it has a live lease (or, from a gateway from before gateway leases, its
    own lease runs). Never NULL, so that ``not_()`` of it is "offline".

    The live leases are an uncorrelated subquery, read once per statement (a hashed set on
    PostgreSQL, an ephemeral index on SQLite), not once per station."""
    live = select(GatewayLease.id).where(GatewayLease.expires_at > now)
    return and_(
        Station.connected.is_(True),
        or_(
            and_(Station.gateway_lease.is_not(None), Station.gateway_lease.in_(live)),
            and_(Station.lease_expires_at.is_not(None), Station.lease_expires_at > now),
        ),
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
