"""Block N's use cases: storing NotifyEvent parts, listing a station's events.

A station sends NotifyEvent at every boot (OCTT's "Booted" state: each connector's
AvailabilityState right after its StatusNotification), so a fleet coming back at once sends a
storm of them: parts are group-committed (:class:`common.db.GroupCommit`) as device_svc's other
boot-time writes are, and each caller returns only once its part is durable.
"""

from __future__ import annotations

import builtins
import datetime
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from common import pagination
from common.db import GroupCommit, utcnow
from common.errors import CsmsError, NotFound
from device_svc.monitoring.domain import (
    EventFilter,
    EventPart,
    StoredEvent,
    check_part,
    decode_page_token,
    encode_page_token,
    parts_to_store,
)
from device_svc.monitoring.repository import EventRepository, EventWriter, event_rows, stored_event

__all__ = ["Monitoring"]

# One NotifyEvent waiting for its group commit.
_Item = tuple[str, EventPart]
# Its outcome: stored (True), a repeat of a stored part (False), or the refusal (returned, not
# raised: nothing was written for it, and the rest of the group goes on).
_Outcome = bool | CsmsError


def _order(item: _Item) -> tuple[str, datetime.datetime, int]:
    """Write order (a part's rows, then the next part's): the same in every writer."""
    station_id, part = item
    return part.key(station_id)


class Monitoring:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime.datetime] = utcnow,
        *,
        max_batch: int = 256,
        max_wait: float = 0.002,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self._parts: GroupCommit[_Item, _Outcome] = GroupCommit(
            sessions.kw["bind"],
            self._record_one,
            apply_many=self._record_many,
            order=_order,
            max_batch=max_batch,
            max_wait=max_wait,
            name="notify-event",
        )

    async def drain(self) -> None:
        """Wait for the group commits under way (before the engine is disposed of)."""
        await self._parts.drain()

    async def record_events(self, station_id: str, part: EventPart) -> bool:
        """Store one NotifyEvent part; False when this part is stored already (the station sent
        it again, e.g. after losing our answer): nothing changes then."""
        check_part(part)
        outcome = await self._parts.submit((station_id, part))
        if isinstance(outcome, CsmsError):
            raise outcome
        return outcome

    async def _record_one(self, conn: AsyncConnection, item: _Item) -> _Outcome:
        return (await self._record_many(conn, [item]))[0]

    async def _record_many(
        self, conn: AsyncConnection, items: builtins.list[_Item]
    ) -> builtins.list[_Outcome]:
        """A group of parts: unknown stations refused, repeats left out, the rest inserted in
        one statement."""
        writer = EventWriter(conn)
        known = await writer.known_stations({station_id for station_id, _ in items})
        keys = [part.key(station_id) for station_id, part in items if station_id in known]
        # One decision per known station's part, in the items' order.
        decisions = iter(parts_to_store(keys, await writer.stored_parts(keys)))
        now = self.clock()
        rows = []
        outcomes: list[_Outcome] = []
        for station_id, part in items:
            if station_id not in known:
                outcomes.append(NotFound(f"charging station {station_id} not found"))
                continue
            store = next(decisions)
            outcomes.append(store)
            if store:
                rows.extend(event_rows(station_id, part, now))
        await writer.add(rows)
        return outcomes

    async def list_events(
        self, station_id: str, where: EventFilter, size: int, token: str
    ) -> tuple[builtins.list[StoredEvent], str]:
        """A station's events (every station's when ``station_id`` is empty) newest first by
        the stations' clocks, a page at a time."""
        limit = pagination.page_size(size)
        before = decode_page_token(token) if token else None
        async with self.sessions() as session:
            repo = EventRepository(session)
            if station_id and not await repo.station_exists(station_id):
                raise NotFound(f"charging station {station_id} not found")
            rows = await repo.page(station_id, where, before, limit + 1)
        events = [stored_event(row) for row in rows[:limit]]
        return events, encode_page_token(events[-1].page_key) if len(rows) > limit else ""
