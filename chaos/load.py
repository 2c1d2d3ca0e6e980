"""The load the faults hit: a fleet of resending stations, and an offline backlog burst.

Each fleet station (OCPP 2.0.1; or 1.6J with ``protocol="ocpp1.6"``, whose transactions are
StartTransaction, MeterValues and StopTransaction: bench/station16.py) is two tasks: a *meter*
that queues the next TransactionEvent every ``interval`` seconds (Started, a few Updated, Ended,
then the next transaction), whether or not the station is connected (events queued while
disconnected carry ``offline: true``), and a *sender* that delivers the outbox head first and
re-sends what got no CALLRESULT (:class:`bench.station.Resend`). Every loop is bounded: the
meter by ``stop``, the sender by the drain deadline :meth:`Fleet.stop` sets.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.station import CallFailed, Resend, Station, TxEventRecord
from bench.station16 import Station16
from bench.stats import Recorder

__all__ = ["Fleet", "FleetOptions", "offline_burst"]

# At most this many events wait in one station's outbox; the meter skips a tick beyond it.
MAX_OUTBOX = 2000


@dataclass(frozen=True)
class FleetOptions:
    url: str  # ws://127.0.0.1:PORT/ocpp
    prefix: str  # station ids are prefix + number
    stations: int = 50
    interval: float = 0.5  # seconds between one station's events
    updates: tuple[int, int] = (3, 8)  # Updated events per transaction, at random in this range
    timeout: float = 15.0  # per call; above the gateway's RPC timeout, so it answers first
    id_token: str = "CHAOS0001"
    resend: Resend = Resend()
    # "ocpp1.6": the stations speak OCPP 1.6J (bench/station16.py): StartTransaction,
    # MeterValues and StopTransaction instead of TransactionEvents.
    protocol: str = "ocpp2.0.1"


class Fleet:
    """Stations in a steady transaction load; ``start()``, then ``stop(drain_s)``."""

    def __init__(self, opts: FleetOptions) -> None:
        self.opts = opts
        self.rec = Recorder()
        kind = Station16 if opts.protocol == "ocpp1.6" else Station
        self.stations = [
            kind(
                f"{opts.prefix}{i:04d}",
                opts.url,
                self.rec,
                opts.timeout,
                opts.id_token,
                resend=opts.resend,
            )
            for i in range(opts.stations)
        ]
        self._stop = asyncio.Event()
        self._deadline = float("inf")  # for the senders; set by stop()
        self._wake = {st.id: asyncio.Event() for st in self.stations}
        self._tasks: list[asyncio.Task[None]] = []
        self.booted = 0
        self._setup_connects = 0

    @property
    def ledger(self) -> list[TxEventRecord]:
        return [r for st in self.stations for r in st.ledger]

    @property
    def reconnects(self) -> int:
        """Reconnections after the first connection (the faults' doing)."""
        return sum(st.reconnects for st in self.stations) - self._setup_connects

    @property
    def backlog(self) -> int:
        return sum(len(st.outbox) for st in self.stations)

    async def start(self, setup_timeout: float = 30.0) -> None:
        """Connect and boot every station (a few tries each), then start their load."""
        deadline = time.perf_counter() + setup_timeout

        async def setup(st: Station) -> None:
            await asyncio.sleep(random.uniform(0, min(1.0, len(self.stations) / 200)))
            while time.perf_counter() < deadline:
                if await st.reconnect(deadline):
                    with contextlib.suppress(CallFailed):
                        if await st.boot():
                            self.booted += 1
                            return
                await asyncio.sleep(0.3)

        await asyncio.gather(*(setup(st) for st in self.stations))
        self._setup_connects = sum(st.reconnects for st in self.stations)
        for st in self.stations:
            self._tasks.append(asyncio.create_task(self._meter(st)))
            self._tasks.append(asyncio.create_task(self._sender(st)))

    async def _meter(self, st: Station) -> None:
        wake = self._wake[st.id]
        low, high = self.opts.updates
        while not self._stop.is_set():
            # One transaction: Started, some Updated, Ended.
            plan = ["Started"] + ["Updated"] * random.randint(low, high) + ["Ended"]
            for event_type in plan:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._stop.wait(), self.opts.interval * random.uniform(0.8, 1.2)
                    )
                if self._stop.is_set():
                    # A transaction is left open, as at any instant of a real fleet.
                    return
                if len(st.outbox) < MAX_OUTBOX:
                    st.enqueue(event_type)
                    wake.set()

    async def _sender(self, st: Station) -> None:
        wake = self._wake[st.id]
        while True:
            if not st.outbox:
                if self._stop.is_set():
                    return
                wake.clear()
                # Woken by the meter, or by stop() (checked every second regardless).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), 1.0)
                continue
            if time.perf_counter() >= self._deadline:
                return
            # In slices, so a deadline set by stop() meanwhile is seen.
            await st.deliver(min(self._deadline, time.perf_counter() + 5.0))

    async def stop(self, drain_s: float) -> bool:
        """Stop queueing events; let the stations deliver their backlog for up to ``drain_s``
        seconds; close them. True when every backlog was delivered."""
        self._deadline = time.perf_counter() + drain_s
        self._stop.set()
        for wake in self._wake.values():
            wake.set()
        with contextlib.suppress(TimeoutError):
            # Bounded: deliver() overshoots the deadline by at most one call timeout.
            await asyncio.wait_for(
                asyncio.gather(*self._tasks, return_exceptions=True),
                drain_s + self.opts.timeout + 10,
            )
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        drained = self.backlog == 0
        await close_all(self.stations)
        return drained


async def close_all(stations: Sequence[Station], limit_s: float = 10.0) -> None:
    async def close(st: Station) -> None:
        with contextlib.suppress(Exception):
            await st.close()

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(close(s) for s in stations)), limit_s)


@dataclass
class BurstResult:
    station: str
    queued: int
    acknowledged: int
    seconds: float
    transactions: list[str]
    ledger: list[TxEventRecord]


async def offline_burst(
    url: str,
    station_id: str,
    events: int = 200,
    transactions: int = 4,
    id_token: str = "CHAOS0001",
    call_timeout: float = 15.0,
    limit_s: float = 60.0,
) -> BurstResult:
    """A station that was offline: ``events`` TransactionEvents across ``transactions``
    transactions queued with ``offline: true``, then it connects and sends them as fast as
    they are answered (one at a time, in queue order, as OCPP-J wants)."""
    rec = Recorder()
    st = Station(station_id, url, rec, call_timeout, id_token, resend=Resend())
    per_tx = max(2, events // transactions)
    tx_ids = []
    for i in range(events):
        k = i % per_tx
        last = k == per_tx - 1 or i == events - 1
        record = st.enqueue("Started" if k == 0 else "Ended" if last else "Updated", offline=True)
        if k == 0:
            tx_ids.append(record.tx_id)
    t0 = time.perf_counter()
    try:
        if not await st.reconnect(t0 + limit_s):
            raise RuntimeError(f"{station_id} could not connect to {url}")
        await st.boot()
        await st.deliver(t0 + limit_s)
    finally:
        await close_all([st])
    return BurstResult(
        station_id,
        events,
        sum(r.acknowledged for r in st.ledger),
        time.perf_counter() - t0,
        tx_ids,
        st.ledger,
    )
