"""Heartbeats, answered by the gateway itself; last-seen times sent to device_svc in batches.

A Heartbeat carries nothing to store but "this station was alive then", so no database write
needs to delay its answer. The action → RPC table routes it to :meth:`LastSeen.answer`, which
answers at once (currentTime = now, UTC, to the millisecond) and remembers the time;
:class:`HeartbeatFlusher` sends what was remembered to ``DeviceService.RecordHeartbeats`` about
once a second, a few thousand stations per RPC instead of one transaction per Heartbeat.

Memory is bounded: at most ``limit`` stations wait for the next flush (one entry per station,
the newest time). When device_svc cannot be reached, the batch is put back, newer times winning,
and goes again with the next tick; the last flush happens when the gateway stops. A station's
last-seen time is therefore up to a tick late in device_svc, and lost only if the gateway dies
before its flush, which OCPP tolerates (the next Heartbeat sets it again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf import timestamp_pb2

from csms.device.v1 import device_service_pb2 as device_pb
from csms.ocpp.v201 import messages_pb2 as ocpp

__all__ = ["HeartbeatFlusher", "LastSeen"]

log = logging.getLogger(__name__)

_NANOS_PER_MILLI = 1_000_000


class LastSeen:
    """The stations that sent a Heartbeat since the last flush, each with its latest time (ns)."""

    def __init__(self, limit: int, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.limit = limit
        self.clock_ns = clock_ns
        self._times: dict[str, int] = {}
        # Heartbeats not remembered because ``limit`` stations were waiting already.
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._times)

    def answer(self, station_id: str, request: ocpp.HeartbeatRequest) -> ocpp.HeartbeatResponse:
        """The Heartbeat's answer: the time now, which is also remembered as last seen."""
        now = self.clock_ns()
        self._remember(station_id, now)
        response = ocpp.HeartbeatResponse()
        # OCPP 2.0.1 Part 2 allows a date-time three decimal places: the answer holds what is
        # sent, cut (not rounded: never a time still to come) to the millisecond.
        response.current_time.FromNanoseconds(now - now % _NANOS_PER_MILLI)
        return response

    def _remember(self, station_id: str, at: int) -> None:
        times = self._times
        current = times.get(station_id)
        if current is None:
            if len(times) >= self.limit:
                self.dropped += 1
                return
            times[station_id] = at
        elif at > current:
            times[station_id] = at

    def take(self) -> dict[str, int]:
        """Everything remembered; forgotten here until :meth:`put_back`."""
        taken, self._times = self._times, {}
        return taken

    def put_back(self, taken: dict[str, int]) -> None:
        """Remember again what could not be sent; a newer time seen meanwhile wins."""
        for station_id, at in taken.items():
            self._remember(station_id, at)


def _chunks(times: dict[str, int], size: int) -> Iterator[dict[str, int]]:
    items = list(times.items())
    for start in range(0, len(items), size):
        yield dict(items[start : start + size])


def _request(times: dict[str, int]) -> device_pb.RecordHeartbeatsRequest:
    beats = []
    for station_id, at in times.items():
        ts = timestamp_pb2.Timestamp()
        ts.FromNanoseconds(at)
        beats.append(device_pb.StationHeartbeat(station_id=station_id, time=ts))
    return device_pb.RecordHeartbeatsRequest(heartbeats=beats)


class HeartbeatFlusher:
    """Sends :class:`LastSeen`'s times to device_svc every ``interval`` seconds."""

    def __init__(
        self,
        last_seen: LastSeen,
        device: Any,  # a DeviceServiceStub (or a fake with RecordHeartbeats)
        interval: float,
        timeout: float,
        batch_size: int,
    ) -> None:
        self.last_seen = last_seen
        self.device = device
        self.interval = interval
        self.timeout = timeout
        self.batch_size = batch_size
        self._failing = False

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    async def flush(self) -> bool:
        """Send everything remembered; False (and kept for the next tick) when it failed."""
        dropped, self.last_seen.dropped = self.last_seen.dropped, 0
        if dropped:
            log.warning(
                "%d heartbeats not recorded: %d stations were waiting already",
                dropped,
                self.last_seen.limit,
            )
        taken = self.last_seen.take()
        if not taken:
            return True
        chunks = list(_chunks(taken, self.batch_size))
        sent = 0
        try:
            for chunk in chunks:
                await self.device.RecordHeartbeats(_request(chunk), timeout=self.timeout)
                sent += 1
        except grpc.aio.AioRpcError as exc:
            self._put_back(chunks[sent:])
            if not self._failing:
                log.warning(
                    "recording heartbeats failed (kept, retried next tick): %s %s",
                    exc.code().name,
                    exc.details(),
                )
            self._failing = True
            return False
        except BaseException:  # cancelled (stopping): the final flush sends them
            self._put_back(chunks[sent:])
            raise
        if self._failing:
            log.info("recording heartbeats works again")
            self._failing = False
        return True

    def _put_back(self, chunks: list[dict[str, int]]) -> None:
        for chunk in chunks:
            self.last_seen.put_back(chunk)
