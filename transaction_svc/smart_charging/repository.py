"""Block K's SQL on an AsyncSession: the profiles, reports, limits, needs and schedules of a
station, and the few facts of its transactions the rules need."""

from __future__ import annotations

import datetime
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import upsert
from transaction_svc.models import Transaction
from transaction_svc.smart_charging.domain import StoredProfile, TransactionInfo
from transaction_svc.smart_charging.models import (
    ChargingLimitRow,
    ChargingProfileReportRow,
    ChargingProfileRow,
    EVChargingNeedsRow,
    EVChargingScheduleRow,
)

__all__ = ["SmartChargingRepository", "stored_profile"]


def stored_profile(row: ChargingProfileRow) -> StoredProfile:
    return StoredProfile(
        evse_id=row.evse_id,
        source=row.source,
        profile=row.profile,
        updated_at=row.updated_at,
        remote_start_id=row.remote_start_id,
        reported_by=row.reported_by,
    )


def _info(row: Any) -> TransactionInfo:
    return TransactionInfo(
        id=row.id,
        evse_id=row.evse_id,
        active=row.active,
        started_at=row.started_at,
        remote_start_id=row.remote_start_id,
    )


class SmartChargingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _upsert(self, model: Any, values: Mapping[str, Any], keys: Sequence[str]) -> None:
        await upsert(self.session, model, values, keys)

    # -- transactions ----------------------------------------------------------------------------

    async def transactions(
        self, station_id: str, ids: Collection[str], remote_start_ids: Collection[int]
    ) -> dict[str, TransactionInfo]:
        """The station's active transactions, and those of ``ids`` or carrying one of
        ``remote_start_ids`` (ended or not), by transactionId."""
        t = Transaction
        wanted = [t.active.is_(True)]
        if ids:
            wanted.append(t.id.in_(sorted(ids)))
        if remote_start_ids:
            wanted.append(t.remote_start_id.in_(sorted(remote_start_ids)))
        rows = await self.session.execute(
            select(t.id, t.evse_id, t.active, t.started_at, t.remote_start_id).where(
                t.station_id == station_id, or_(*wanted)
            )
        )
        return {row.id: _info(row) for row in rows}

    # -- profiles --------------------------------------------------------------------------------

    async def profiles(self, station_id: str) -> Sequence[ChargingProfileRow]:
        """Every stored profile of the station, by EVSE then id."""
        found = await self.session.scalars(
            select(ChargingProfileRow)
            .where(ChargingProfileRow.station_id == station_id)
            .order_by(ChargingProfileRow.evse_id, ChargingProfileRow.id)
        )
        return found.all()

    async def put_profile(
        self,
        station_id: str,
        evse_id: int,
        profile: Mapping[str, Any],
        *,
        source: str,
        now: datetime.datetime,
        remote_start_id: int | None = None,
        reported_by: int | None = None,
    ) -> None:
        """Store the profile, replacing the station's one of the same id."""
        await self._upsert(
            ChargingProfileRow,
            {
                "station_id": station_id,
                "id": profile["id"],
                "evse_id": evse_id,
                "purpose": profile["chargingProfilePurpose"],
                "stack_level": profile["stackLevel"],
                "source": source,
                "transaction_id": profile.get("transactionId"),
                "remote_start_id": remote_start_id,
                "profile": dict(profile),
                "reported_by": reported_by,
                "updated_at": now,
            },
            ("station_id", "id"),
        )

    async def delete_profiles(self, station_id: str, ids: Collection[int]) -> None:
        if ids:
            await self.session.execute(
                delete(ChargingProfileRow).where(
                    ChargingProfileRow.station_id == station_id,
                    ChargingProfileRow.id.in_(sorted(ids)),
                )
            )

    # -- GetChargingProfiles reports -------------------------------------------------------------

    async def expect_report(
        self, station_id: str, request_id: int, request: Mapping[str, Any], now: datetime.datetime
    ) -> None:
        """Await the report of this request; no profile counts as listed by it yet (a requestId
        used before names an earlier report)."""
        await self._upsert(
            ChargingProfileReportRow,
            {
                "station_id": station_id,
                "request_id": request_id,
                "request": dict(request),
                "requested_at": now,
            },
            ("station_id", "request_id"),
        )
        rows = await self.session.scalars(
            select(ChargingProfileRow).where(
                ChargingProfileRow.station_id == station_id,
                ChargingProfileRow.reported_by == request_id,
            )
        )
        for row in rows:
            row.reported_by = None

    async def report(self, station_id: str, request_id: int) -> ChargingProfileReportRow | None:
        return await self.session.get(ChargingProfileReportRow, (station_id, request_id))

    async def end_report(self, station_id: str, request_id: int) -> None:
        await self.session.execute(
            delete(ChargingProfileReportRow).where(
                ChargingProfileReportRow.station_id == station_id,
                ChargingProfileReportRow.request_id == request_id,
            )
        )

    # -- external limits -------------------------------------------------------------------------

    async def put_limit(
        self,
        station_id: str,
        source: str,
        evse_id: int,
        charging_limit: Mapping[str, Any],
        schedules: Sequence[Mapping[str, Any]],
        now: datetime.datetime,
    ) -> None:
        await self._upsert(
            ChargingLimitRow,
            {
                "station_id": station_id,
                "source": source,
                "evse_id": evse_id,
                "charging_limit": dict(charging_limit),
                "schedules": [dict(s) for s in schedules],
                "updated_at": now,
            },
            ("station_id", "source", "evse_id"),
        )

    async def delete_limits(self, station_id: str, source: str, evse_id: int | None) -> int:
        """Remove the source's limits of the station (of one EVSE when given); how many."""
        stmt = delete(ChargingLimitRow).where(
            ChargingLimitRow.station_id == station_id, ChargingLimitRow.source == source
        )
        if evse_id is not None:
            stmt = stmt.where(ChargingLimitRow.evse_id == evse_id)
        result = await self.session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)

    async def limits(self, station_id: str) -> Sequence[ChargingLimitRow]:
        found = await self.session.scalars(
            select(ChargingLimitRow)
            .where(ChargingLimitRow.station_id == station_id)
            .order_by(ChargingLimitRow.evse_id, ChargingLimitRow.source)
        )
        return found.all()

    # -- the EVs' needs and schedules ------------------------------------------------------------

    async def put_needs(self, values: Mapping[str, Any]) -> None:
        await self._upsert(EVChargingNeedsRow, values, ("station_id", "evse_id"))

    async def put_ev_schedule(self, values: Mapping[str, Any]) -> None:
        await self._upsert(EVChargingScheduleRow, values, ("station_id", "evse_id"))

    async def needs(self, station_id: str) -> Sequence[EVChargingNeedsRow]:
        found = await self.session.scalars(
            select(EVChargingNeedsRow)
            .where(EVChargingNeedsRow.station_id == station_id)
            .order_by(EVChargingNeedsRow.evse_id)
        )
        return found.all()

    async def ev_schedules(self, station_id: str) -> Sequence[EVChargingScheduleRow]:
        found = await self.session.scalars(
            select(EVChargingScheduleRow)
            .where(EVChargingScheduleRow.station_id == station_id)
            .order_by(EVChargingScheduleRow.evse_id)
        )
        return found.all()
