"""Keepalive of the stations' connections: one sweep for all of them, pings only to the silent.

websockets' own keepalive pings every connection every 20 s from a task of its own: at 100,000
idle stations, 5,000 pings a second and a task, a timer and their frames in each connection's
memory, for stations that prove they are alive with their Heartbeats anyway. Here one task
sweeps the gateway's connections every ``period`` seconds, without I/O: a station heard from
(any frame) within ``idle`` seconds costs nothing more; a silent one is pinged, and dropped
(1011, as websockets' keepalive does) when its pong has not come ``timeout`` seconds later. A
pong counts as hearing from it.

So with ``idle`` above the stations' heartbeat interval (the default: 330 s for the CSMS's
300 s), a station that heartbeats is never pinged, and a dead link (a half-open connection) is
found within ``idle + period + timeout`` seconds of its last frame.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from websockets.frames import CloseCode

from common import logging as log_ctx
from common import metrics
from gateway.connection import StationConnection

__all__ = ["Keepalive"]

log = logging.getLogger(__name__)


async def _ping(station: StationConnection) -> None:
    """Ping, and return when the pong came."""
    pong = await station.ws.ping()
    await pong


class Keepalive:
    def __init__(
        self,
        connections: Mapping[str, StationConnection],
        idle: float,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connections = connections
        self.idle = idle
        self.timeout = timeout
        # Often enough that a missing pong is acted on within a third of its timeout.
        self.period = max(0.05, min(idle, timeout) / 3)
        self.clock = clock
        # The stations pinged whose pong has not come: their connection, ping and deadline.
        self._pinged: dict[str, tuple[StationConnection, asyncio.Task[None], float]] = {}
        self._sent = metrics.KEEPALIVE.labels("sent")
        self._closed = metrics.KEEPALIVE.labels("closed")

    async def run_forever(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.period)
                self.sweep()
        finally:
            for _, ping, _ in self._pinged.values():
                ping.cancel()

    def sweep(self) -> None:
        """Act on the pongs (or their absence) of the stations pinged, then ping the silent."""
        now = self.clock()
        for station_id, (station, ping, deadline) in list(self._pinged.items()):
            if ping.done():
                del self._pinged[station_id]
                if not ping.cancelled() and ping.exception() is None:
                    station.last_heard = now
            elif station.closed or self.connections.get(station_id) is not station:
                del self._pinged[station_id]
                ping.cancel()
            elif now >= deadline:
                del self._pinged[station_id]
                ping.cancel()
                self._closed.inc()
                log_ctx.station_id.set(station_id)
                log.info(
                    "silent for %.0f s and no pong within %.0f s: closing (1011)",
                    now - station.last_heard,
                    self.timeout,
                )
                station.drop(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        silent = now - self.idle
        for station_id, station in self.connections.items():
            if station.last_heard <= silent and station_id not in self._pinged:
                if station.closed:
                    continue
                self._sent.inc()
                ping = asyncio.ensure_future(_ping(station))
                self._pinged[station_id] = (station, ping, now + self.timeout)
