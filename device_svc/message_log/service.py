"""The message log's use cases: store a gateway's batch, list a station's frames, prune."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common import pagination
from common.db import utcnow
from common.errors import InvalidArgument, NotFound
from device_svc.message_log.models import StationMessageRow
from device_svc.models import Station

__all__ = ["Frame", "MessageLog"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Frame:
    station_id: str
    at: datetime.datetime
    direction: str
    type: str
    message_id: str
    action: str
    payload: str  # JSON text


class MessageLog:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keep_days: int = 7,
        max_rows: int = 5_000_000,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.keep = datetime.timedelta(days=keep_days)
        self.max_rows = max_rows
        self.clock = clock
        self._pruner: asyncio.Task[None] | None = None

    async def record(self, frames: Sequence[Frame]) -> None:
        """A gateway's batch, in one statement."""
        if not frames:
            return
        async with self.sessions.begin() as session:
            await session.execute(
                insert(StationMessageRow),
                [
                    {
                        "station_id": f.station_id[:48],
                        "at": f.at,
                        "direction": f.direction,
                        "type": f.type,
                        "message_id": f.message_id[:64],
                        "action": f.action[:64],
                        "payload": f.payload,
                    }
                    for f in frames
                ],
            )

    async def page(
        self,
        station_id: str,
        since: datetime.datetime | None,
        action: str,
        page_size: int,
        page_token: str,
    ) -> tuple[list[StationMessageRow], str]:
        size = pagination.page_size(page_size)
        m = StationMessageRow
        stmt = select(m).where(m.station_id == station_id)
        if since is not None:
            stmt = stmt.where(m.at >= since)
        if action:
            stmt = stmt.where(m.action == action)
        if page_token:
            try:
                before = int(pagination.decode_token(page_token)[0])
            except ValueError:
                raise InvalidArgument("page_token is not one this service issued") from None
            stmt = stmt.where(m.id < before)
        async with self.sessions() as session:
            if await session.get(Station, station_id) is None:
                raise NotFound(f"charging station {station_id} not found")
            rows = list((await session.scalars(stmt.order_by(m.id.desc()).limit(size + 1))).all())
        more = len(rows) > size
        return rows[:size], pagination.encode_token(str(rows[size - 1].id)) if more else ""

    async def prune(self) -> int:
        """Drop what is older than the retention, then the oldest beyond ``max_rows``."""
        m = StationMessageRow
        async with self.sessions.begin() as session:
            old = await session.execute(delete(m).where(m.at < self.clock() - self.keep))
            dropped = int(getattr(old, "rowcount", 0) or 0)
            newest = await session.scalar(select(func.max(m.id)))
            if newest is not None and newest > self.max_rows:
                extra = await session.execute(delete(m).where(m.id <= newest - self.max_rows))
                dropped += int(getattr(extra, "rowcount", 0) or 0)
        if dropped:
            log.info("message log: %d old frames dropped", dropped)
        return dropped

    def start(self, every: float = 300.0) -> None:
        async def run() -> None:
            while True:
                await asyncio.sleep(every)
                try:
                    await self.prune()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("message log: pruning failed")

        self._pruner = asyncio.create_task(run(), name="message-log-pruner")

    async def stop(self) -> None:
        if self._pruner is not None:
            self._pruner.cancel()
            await asyncio.gather(self._pruner, return_exceptions=True)
            self._pruner = None
