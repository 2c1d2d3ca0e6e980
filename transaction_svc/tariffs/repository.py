"""Block I's SQL on an AsyncSession."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import equal_in_any_case, insert_new, upsert
from transaction_svc.models import Transaction, TransactionEventRow
from transaction_svc.tariffs.models import ChargeDetailRecordRow, TariffRow, TransactionCostRow

__all__ = ["TariffRepository"]


class TariffRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- tariffs ---------------------------------------------------------------------------------

    async def tariffs(self, after: str = "", limit: int | None = None) -> Sequence[TariffRow]:
        stmt = select(TariffRow).where(TariffRow.id > after).order_by(TariffRow.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        return (await self.session.scalars(stmt)).all()

    async def tariff(self, tariff_id: str) -> TariffRow | None:
        return await self.session.get(TariffRow, tariff_id)

    async def put_tariff(self, values: Mapping[str, Any]) -> None:
        await upsert(self.session, TariffRow, values, ["id"])

    async def delete_tariff(self, tariff_id: str) -> None:
        await self.session.execute(delete(TariffRow).where(TariffRow.id == tariff_id))

    # -- transactions ----------------------------------------------------------------------------

    async def transaction(self, station_id: str, transaction_id: str) -> Transaction | None:
        return await self.session.get(Transaction, (station_id, transaction_id))

    async def cost_row(self, station_id: str, transaction_id: str) -> TransactionCostRow | None:
        return await self.session.get(
            TransactionCostRow, (station_id, transaction_id), populate_existing=True
        )

    async def new_cost_row(self, values: Mapping[str, Any]) -> None:
        await insert_new(self.session, TransactionCostRow, values)

    async def first_event_times(
        self, station_id: str, transaction_id: str
    ) -> tuple[datetime.datetime | None, datetime.datetime | None]:
        """(the earliest, the latest) timestamp of the transaction's events."""
        e = TransactionEventRow
        rows = await self.session.execute(
            select(e.timestamp).where(
                e.station_id == station_id, e.transaction_id == transaction_id
            )
        )
        times = [r.timestamp for r in rows]
        return (min(times), max(times)) if times else (None, None)

    # -- records ---------------------------------------------------------------------------------

    async def record(self, station_id: str, transaction_id: str) -> ChargeDetailRecordRow | None:
        return await self.session.get(ChargeDetailRecordRow, (station_id, transaction_id))

    async def new_record(self, values: Mapping[str, Any]) -> None:
        await insert_new(self.session, ChargeDetailRecordRow, values)

    async def records(
        self,
        *,
        station_id: str = "",
        id_token: str = "",
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        after: tuple[datetime.datetime, str, str] | None = None,
        limit: int = 50,
    ) -> Sequence[ChargeDetailRecordRow]:
        """Records by creation time, then station and transaction (the page key)."""
        r = ChargeDetailRecordRow
        stmt = select(r)
        if station_id:
            stmt = stmt.where(r.station_id == station_id)
        if id_token:  # in any case: OCPP's idToken is case-insensitive
            stmt = stmt.where(equal_in_any_case(r.id_token, id_token))
        if since is not None:
            stmt = stmt.where(r.end_time >= since)
        if until is not None:
            stmt = stmt.where(r.end_time < until)
        if after is not None:
            stmt = stmt.where(tuple_(r.created_at, r.station_id, r.transaction_id) > after)
        stmt = stmt.order_by(r.created_at, r.station_id, r.transaction_id).limit(limit)
        return (await self.session.scalars(stmt)).all()
