"""The message log's use cases: store the gateways' batches, list a station's frames, prune.

A batch (one station's frames of one gateway flush) is one row, stored as the gateway encoded
it: nothing is parsed when frames are recorded. Reading a station's log decodes its newest
batches, only as many as the page needs (``domain.Page``).
"""

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
from device_svc.message_log.domain import LINK_WINDOW, PER_BATCH, Frame, Page, decode
from device_svc.message_log.models import StationMessageBatchRow
from device_svc.models import Station

__all__ = ["Batch", "MessageLog"]

log = logging.getLogger(__name__)

# Batch rows read at a time while a page fills (a few hundred frames under load).
_ROWS_AT_A_TIME = 8


@dataclass(frozen=True, slots=True)
class Batch:
    station_id: str
    first_at: datetime.datetime
    last_at: datetime.datetime
    frames: int
    body: bytes  # as the gateway encoded it (csms.device.v1.StationMessageBatch.body)


class MessageLog:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keep_days: int = 7,
        max_frames: int = 5_000_000,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.keep = datetime.timedelta(days=keep_days)
        self.max_frames = max_frames
        self.clock = clock
        self._pruner: asyncio.Task[None] | None = None

    async def record(self, batches: Sequence[Batch]) -> None:
        """The gateway's batches, in one statement."""
        if not batches:
            return
        async with self.sessions.begin() as session:
            await session.execute(
                insert(StationMessageBatchRow),
                [
                    {
                        "station_id": b.station_id[:48],
                        "first_at": b.first_at,
                        "last_at": b.last_at,
                        "frames": min(b.frames, PER_BATCH),
                        "body": b.body,
                    }
                    for b in batches
                ],
            )

    async def page(
        self,
        station_id: str,
        since: datetime.datetime | None,
        action: str,
        page_size: int,
        page_token: str,
    ) -> tuple[list[Frame], str]:
        """A station's frames newest first (replies under their CALL's action), at or after
        ``since`` and of ``action`` when given."""
        size = pagination.page_size(page_size)
        before: int | None = None
        if page_token:
            try:
                before = int(pagination.decode_token(page_token)[0])
            except ValueError:
                raise InvalidArgument("page_token is not one this service issued") from None
        m = StationMessageBatchRow
        stmt = select(m.id, m.body).where(m.station_id == station_id)
        if before is not None:
            stmt = stmt.where(m.id <= before // PER_BATCH)
        if since is not None:
            stmt = stmt.where(m.last_at >= since - LINK_WINDOW)
        stmt = stmt.order_by(m.id.desc())
        wanted = Page(since, action, size)
        async with self.sessions() as session:
            if await session.get(Station, station_id) is None:
                raise NotFound(f"charging station {station_id} not found")
            done = False
            below: int | None = None
            while not done:
                chunk = stmt if below is None else stmt.where(m.id < below)
                rows = (await session.execute(chunk.limit(_ROWS_AT_A_TIME))).all()
                if not rows:
                    break
                below = rows[-1][0]
                for row_id, body in rows:
                    for frame in reversed(decode(row_id, station_id, body)):
                        if before is not None and frame.id >= before:
                            continue
                        if wanted.add(frame):
                            done = True
                            break
                    if done:
                        break
        frames, next_before = wanted.result()
        token = pagination.encode_token(str(next_before)) if next_before is not None else ""
        return frames, token

    async def prune(self) -> int:
        """Drop the batches older than the retention, then the oldest beyond ``max_frames``
        frames in all; how many frames were dropped."""
        m = StationMessageBatchRow
        async with self.sessions.begin() as session:
            cutoff = self.clock() - self.keep
            dropped = int(
                await session.scalar(select(func.sum(m.frames)).where(m.last_at < cutoff)) or 0
            )
            if dropped:
                await session.execute(delete(m).where(m.last_at < cutoff))
            # The newest batch that still fits is the last kept: the sum of frames from the
            # newest down to each batch, the first batch beyond max_frames and all older go.
            newer = func.sum(m.frames).over(order_by=m.id.desc(), rows=(None, 0)).label("newer")
            ranked = select(m.id, m.frames, newer).subquery()
            first_out = await session.scalar(
                select(func.max(ranked.c.id)).where(ranked.c.newer > self.max_frames)
            )
            if first_out is not None:
                extra = int(
                    await session.scalar(select(func.sum(m.frames)).where(m.id <= first_out)) or 0
                )
                await session.execute(delete(m).where(m.id <= first_out))
                dropped += extra
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
