"""Block O's SQL on an AsyncSession."""

from __future__ import annotations

import datetime
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import upsert
from device_svc.display_messages.domain import StoredMessage
from device_svc.display_messages.models import DisplayMessageReportRow, DisplayMessageRow

__all__ = ["DisplayMessageRepository"]


def _stored(row: DisplayMessageRow) -> StoredMessage:
    return StoredMessage(row.id, row.info, row.source, row.updated_at, row.reported_by)


class DisplayMessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def messages(self, station_id: str) -> list[StoredMessage]:
        rows = await self.session.scalars(
            select(DisplayMessageRow)
            .where(DisplayMessageRow.station_id == station_id)
            .order_by(DisplayMessageRow.id)
        )
        return [_stored(r) for r in rows]

    async def put(
        self,
        station_id: str,
        info: dict[str, Any],
        source: str,
        at: datetime.datetime,
        reported_by: int | None = None,
    ) -> None:
        await upsert(
            self.session,
            DisplayMessageRow,
            {
                "station_id": station_id,
                "id": int(info["id"]),
                "priority": str(info.get("priority", "")),
                "state": info.get("state"),
                "info": info,
                "source": source,
                "reported_by": reported_by,
                "updated_at": at,
            },
            ["station_id", "id"],
        )

    async def delete(self, station_id: str, ids: Collection[int]) -> None:
        if ids:
            await self.session.execute(
                delete(DisplayMessageRow).where(
                    DisplayMessageRow.station_id == station_id,
                    DisplayMessageRow.id.in_(sorted(ids)),
                )
            )

    async def expect_report(
        self, station_id: str, request_id: int, criteria: dict[str, Any], at: datetime.datetime
    ) -> None:
        await upsert(
            self.session,
            DisplayMessageReportRow,
            {
                "station_id": station_id,
                "request_id": request_id,
                "criteria": criteria,
                "requested_at": at,
            },
            ["station_id", "request_id"],
        )

    async def report(self, station_id: str, request_id: int) -> DisplayMessageReportRow | None:
        return await self.session.get(DisplayMessageReportRow, (station_id, request_id))

    async def end_report(self, station_id: str, request_id: int) -> None:
        await self.session.execute(
            delete(DisplayMessageReportRow).where(
                DisplayMessageReportRow.station_id == station_id,
                DisplayMessageReportRow.request_id == request_id,
            )
        )

    async def station_ids(self) -> Sequence[str]:
        rows = await self.session.scalars(select(DisplayMessageRow.station_id).distinct())
        return rows.all()
