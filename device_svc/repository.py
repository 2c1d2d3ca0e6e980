"""Stations on an AsyncSession: the only place device_svc writes SQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from device_svc.models import Connector, Station

__all__ = ["StationRepository"]


class StationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, station_id: str, *, for_update: bool = False) -> Station | None:
        stmt = select(Station).where(Station.id == station_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).one_or_none()

    def add(self, station: Station) -> None:
        self.session.add(station)

    async def page(self, after: str, limit: int) -> Sequence[Station]:
        stmt = select(Station).where(Station.id > after).order_by(Station.id).limit(limit)
        return (await self.session.scalars(stmt)).all()

    async def delete(self, station_id: str) -> bool:
        await self.session.execute(delete(Connector).where(Connector.station_id == station_id))
        result = await self.session.execute(delete(Station).where(Station.id == station_id))
        return result.rowcount > 0  # type: ignore[attr-defined]

    async def disconnect(self, station_id: str, epoch: int) -> None:
        await self.session.execute(
            update(Station)
            .where(Station.id == station_id, Station.epoch == epoch)
            .values(connected=False)
        )

    async def connector(self, station_id: str, evse_id: int, connector_id: int) -> Connector | None:
        return await self.session.get(Connector, (station_id, evse_id, connector_id))

    def add_connector(self, connector: Connector) -> None:
        self.session.add(connector)
