"""The fleet's summary and live states, read while someone watches.

Every watcher of the fleet shares one summary per interval (one aggregate query and one
question to transaction_svc however many consoles are open); each reads the few stations it
asked for. Nothing runs while nobody watches.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import to_the_end, utcnow
from common.errors import InvalidArgument
from device_svc.fleet.domain import FleetCounts, station_status
from device_svc.fleet.repository import FleetRepository
from device_svc.models import Station
from device_svc.service import is_reachable

__all__ = ["MAX_WATCHED", "Fleet", "FleetUpdate", "StationState"]

log = logging.getLogger(__name__)

#: Stations one watcher may follow (a page of the console's list).
MAX_WATCHED = 200

#: How many stations are charging (None: unknown), asked of transaction_svc.
ChargingCount = Callable[[], Awaitable[int | None]]


@dataclasses.dataclass(frozen=True, slots=True)
class StationState:
    id: str
    connected: bool
    status: str
    last_heartbeat_at: datetime.datetime | None
    # (evse id, connector id, OCPP status, the station's time of it), in order.
    connectors: tuple[tuple[int, int, str, datetime.datetime], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class FleetUpdate:
    counts: FleetCounts
    stations: tuple[StationState, ...]
    time: datetime.datetime


def state_of(station: Station, now: datetime.datetime) -> StationState:
    up = is_reachable(station, now)
    connectors = tuple(
        (c.evse_id, c.connector_id, c.status, c.status_time) for c in station.connectors
    )
    return StationState(
        id=station.id,
        connected=up,
        status=station_status(up, (c[2] for c in connectors)),
        last_heartbeat_at=station.last_heartbeat_at,
        connectors=connectors,
    )


class Fleet:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        charging: ChargingCount | None = None,
        *,
        interval: float = 1.0,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.charging = charging
        self.interval = interval
        self.clock = clock
        self._stopping = asyncio.Event()
        self._lock = asyncio.Lock()
        self._cached: tuple[float, FleetCounts] | None = None

    def stop(self) -> None:
        """End every watch (the server is stopping)."""
        self._stopping.set()

    async def summary(self) -> FleetCounts:
        """The counts, read at most once per interval whoever asks."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._cached is not None and loop.time() - self._cached[0] < self.interval:
                return self._cached[1]
            # A watch ends by cancellation (its client left): never in the middle of a
            # statement (common.db.to_the_end says why).
            stations, connected, faulted = await to_the_end(self._counts())
            charging = await self._charging()
            counts = FleetCounts(stations, connected, faulted, charging)
            self._cached = (loop.time(), counts)
            return counts

    async def _counts(self) -> tuple[int, int, int]:
        async with self.sessions() as session:
            return await FleetRepository(session).counts(self.clock())

    async def _rows(self, ids: Sequence[str]) -> Sequence[Station]:
        async with self.sessions() as session:
            return await FleetRepository(session).stations(ids)

    async def _charging(self) -> int | None:
        if self.charging is None:
            return None
        try:
            return await self.charging()
        except Exception as exc:  # transaction_svc down or slow: unknown, not an error
            log.info("fleet: charging count unknown (%s)", exc)
            return None

    async def states(self, ids: Sequence[str]) -> dict[str, StationState]:
        rows = await to_the_end(self._rows(ids))
        now = self.clock()
        return {row.id: state_of(row, now) for row in rows}

    async def watch(self, ids: Sequence[str], keepalive: float) -> AsyncIterator[FleetUpdate]:
        """An update now, then on each change and at least every ``keepalive`` seconds, until
        :meth:`stop` (or the caller stops iterating)."""
        wanted = list(dict.fromkeys(ids))
        if len(wanted) > MAX_WATCHED:
            raise InvalidArgument(f"stationIds: at most {MAX_WATCHED} stations per watch")
        loop = asyncio.get_running_loop()
        counts: FleetCounts | None = None
        known: dict[str, StationState] = {}
        sent_at = float("-inf")
        while not self._stopping.is_set():
            new_counts = await self.summary()
            states = await self.states(wanted) if wanted else {}
            changed = tuple(s for i, s in states.items() if known.get(i) != s)
            if new_counts != counts or changed or loop.time() - sent_at >= keepalive:
                counts, sent_at = new_counts, loop.time()
                known.update({s.id: s for s in changed})
                yield FleetUpdate(new_counts, changed, self.clock())
            try:
                await asyncio.wait_for(self._stopping.wait(), self.interval)
            except TimeoutError:
                pass
