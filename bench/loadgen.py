"""``python -m bench.loadgen``: thousands of OCPP 2.0.1 stations from one process, measured.

Works against any OCPP 2.0.1 CSMS that serves ``{url}/{stationId}`` with the ``ocpp2.0.1``
subprotocol. The stations must be known to it (register them first, or let it auto-register).

Scenarios (every loop is bounded by ``--duration`` and ``--timeout``):

- ``connect``: N stations connect (``--ramp`` per second), boot, heartbeat every
  ``--heartbeat-interval`` s, held ``--duration`` s; with ``--measure-pid`` the RSS growth of
  that process per connection.
- ``bootstorm``: N stations connect and boot all at once; time until all are Accepted.
- ``steady``: N stations each in a transaction, a TransactionEvent Updated every
  ``--tx-interval`` s plus heartbeats, for ``--duration`` s once all are in their
  transaction (the latencies of Heartbeat and TransactionEvent.Updated are that window's).
- ``fleet``: N stations connect (``--ramp`` per second), boot and heartbeat every
  ``--heartbeat-interval`` s; ``--fleet-transactions`` of them start a transaction once booted
  and send TransactionEvent Updated (with meter values) every ``--tx-interval`` s; held
  ``--duration`` s once all are in. Latencies per message type, the ramp's apart; with
  ``--measure-pid`` the RSS growth per connection. Connections come from
  ``--sources`` loopback addresses (127.0.0.2 and on, ``--stations-per-source`` each).
- ``throughput``: closed loop, each of N stations sends its next ``--message`` (``heartbeat`` or
  ``transaction-event``) as soon as the previous is answered, for ``--duration`` s.

``--protocol ocpp1.6``: the stations speak OCPP 1.6J (``bench.station16``): their boot and
heartbeats are 1.6's, and throughput's ``transaction-event`` is a StartTransaction, then
MeterValues with its transactionId (counted as ``MeterValues.Updated``), then StopTransaction.

Prints a progress line on stderr (at most once a second), a summary on stdout, and writes a
JSON result and a PNG plot (``--json``; the PNG goes beside it).

``--resend``: stations behave as real ones under faults: a closed connection or a call without a
CALLRESULT makes them reconnect (short growing pauses) and re-send their TransactionEvents that
had none, same transactionId and seqNo, in seqNo order (see ``bench.station.Resend``). Off by
default: a measurement then counts every failure once and retries nothing.

Example::

    python -m bench.loadgen --url ws://127.0.0.1:3000/ocpp --stations 1000 --scenario steady
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import math
import pathlib
import random
import resource
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from bench.station import CallFailed, Resend, Station
from bench.station16 import Station16
from bench.stats import Recorder, summary_table
from common import gc_tuning

__all__ = ["Options", "run", "main", "SCENARIOS"]

SCENARIOS = ("connect", "bootstorm", "steady", "throughput", "fleet")
# Connections per loopback source address in a fleet. An address has about 28,000 ephemeral
# ports, but Linux gives bind(address, 0) those of one parity first (connect() takes the other):
# beyond half of them every bind searches the whole range, 1.8 ms a socket measured at 16,000
# (12 us below 14,000), which a generator reconnecting a crashed gateway's stations paid for
# each of them. A margin below half, for a storm's old and new connections side by side.
STATIONS_PER_SOURCE = 10_000


@dataclass
class Options:
    url: str
    scenario: str
    stations: int = 100
    ramp: float = 500.0  # connections started per second; 0: all at once
    concurrency: int = 0  # at most this many stations connecting/booting at once; 0: no limit
    duration: float = 10.0
    heartbeat_interval: float = 30.0
    tx_interval: float = 10.0
    message: str = "heartbeat"  # throughput: heartbeat | transaction-event
    # "ocpp1.6": the stations speak OCPP 1.6J (bench/station16.py); throughput's
    # transaction-event messages are then MeterValues of a transaction.
    protocol: str = "ocpp2.0.1"
    timeout: float = 30.0
    measure_pid: int | None = None
    id_token: str = "BENCH0001"
    password: str = ""  # HTTP Basic auth (security profile 1) for every station; "": none
    prefix: str = ""
    label: str = ""
    progress: bool = True
    tx_log: bool = False
    resend: bool = False  # reconnect and re-send unacknowledged TransactionEvents
    fleet_transactions: int = 0  # fleet: stations in a transaction
    # fleet: after the hold, the transactions end and the fleet only heartbeats this long.
    idle_duration: float = 0.0
    # fleet: files <prefix>.hold, .storm, .idle and .end written as those phases begin (and
    # the last ends), for whoever measures the mesh meanwhile ("": none).
    phase_files: str = ""
    # fleet with phase files: after .end, the stations stay (heartbeating) until <prefix>.release
    # exists, for at most this many seconds (0: they leave at once). Generators reach their
    # idle phase up to a transaction interval apart: one leaving at its own end would
    # disconnect its stations inside the others' idle window.
    release_timeout: float = 0.0
    # fleet: after the hold, a window this long in which the CSMS may drop connections (a
    # gateway killed): stations reconnect at once, with backoff, and re-send (needs --resend).
    storm_duration: float = 0.0
    # Source addresses 127.0.0.<first_source>, +1, ... each for stations_per_source stations
    # (0: the kernel picks the source, 127.0.0.1).
    stations_per_source: int = 0
    first_source: int = 2


def raise_fd_limit() -> int:
    """Raise the open-files limit to the hard limit (each station is one socket)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid: int) -> int:
    """VmRSS of a process, in KiB (Linux)."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def _progress(rec: Recorder, stop: asyncio.Event) -> None:
    tty = sys.stderr.isatty()
    last_answered, last_t = 0, rec.now()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        t = rec.now()
        rate = (rec.answered - last_answered) / max(t - last_t, 1e-9)
        last_answered, last_t = rec.answered, t
        tx = rec.tx
        line = (
            f"[{t:7.1f}s] connected {rec.connected:6d}  answered {rec.answered:8d} "
            f"({rate:8.0f}/s)  errors {sum(rec.errors.values()):6d}  "
            f"tx ack {tx.acknowledged}/{tx.sent}"
        )
        sys.stderr.write(("\r" + line) if tty else (line + "\n"))
        sys.stderr.flush()
    if tty:
        sys.stderr.write("\n")


def _guarded(
    rec: Recorder, body: Callable[[Station], Coroutine[Any, Any, None]]
) -> Callable[[Station], Coroutine[Any, Any, None]]:
    """``body`` whose unexpected exceptions are counted (``crash:<Type>``), never lost."""

    async def run(st: Station) -> None:
        try:
            await body(st)
        except Exception as exc:
            rec.error(f"crash:{type(exc).__name__}")

    return run


async def _ramp(
    stations: Sequence[Station], rate: float, body: Callable[[Station], Coroutine[Any, Any, None]]
) -> list[asyncio.Task[None]]:
    """Start ``body(station)`` for each station, ``rate`` per second (0: all at once)."""
    body = _guarded(stations[0].rec, body) if stations else body
    tasks = []
    t0 = time.perf_counter()
    for i, station in enumerate(stations):
        if rate > 0:
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(body(station)))
    return tasks


async def _sleep_until(deadline: float, stop: asyncio.Event) -> bool:
    """Sleep until ``deadline`` (perf_counter) or ``stop``; True when stopped."""
    delay = deadline - time.perf_counter()
    if delay > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
    return stop.is_set()


async def _close_all(stations: Sequence[Station], limit_s: float) -> None:
    async def close(st: Station) -> None:
        with contextlib.suppress(Exception):
            await st.close()

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(close(s) for s in stations)), limit_s)


def _gate(opts: Options) -> contextlib.AbstractAsyncContextManager[Any]:
    """Bounds the stations in setup at once (``--concurrency``), so that a ramp faster than
    the CSMS admits queues in the generator instead of timing out in the CSMS's backlog."""
    if opts.concurrency > 0:
        return asyncio.Semaphore(opts.concurrency)
    return contextlib.AsyncExitStack()  # a no-op async context manager, reusable


async def _setup(
    st: Station,
    in_transaction: bool = False,
    gate: contextlib.AbstractAsyncContextManager[Any] | None = None,
) -> bool:
    """Connect and boot (then, for a transaction: Occupied, Authorize, Started)."""
    if gate is None:
        return await _setup_now(st, in_transaction)
    async with gate:
        return await _setup_now(st, in_transaction)


async def _setup_now(st: Station, in_transaction: bool) -> bool:
    if not await st.connect():
        return False
    try:
        if not await st.boot():
            return False
        if in_transaction:
            await st.status("Occupied")
            await st.authorize()
            return await st.transaction_event("Started")
    except CallFailed:
        return False
    return True


class _Settled:
    """Counts stations whose setup ended (ready or failed); wakes the scenario when all did."""

    def __init__(self, total: int) -> None:
        self.total, self.count = total, 0
        self.event = asyncio.Event()
        if total == 0:
            self.event.set()

    def tick(self) -> None:
        self.count += 1
        if self.count >= self.total:
            self.event.set()

    async def wait(self, opts: Options) -> None:
        """Until all settled, bounded: the ramp's length, 10 ms per station, 3 timeouts."""
        ramp = opts.stations / opts.ramp if opts.ramp > 0 else 0.0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self.event.wait(), ramp + opts.stations * 0.01 + opts.timeout * 3
            )


# -- scenarios ----------------------------------------------------------------------------------


async def _connect(opts: Options, rec: Recorder, stations: list[Station]) -> dict[str, Any]:
    stop = asyncio.Event()
    rss_before = rss_kib(opts.measure_pid) if opts.measure_pid else None
    booted = 0
    gate = _gate(opts)
    settled = _Settled(len(stations))

    async def body(st: Station) -> None:
        nonlocal booted
        ok = await _setup(st, gate=gate)
        booted += ok
        settled.tick()
        if not ok:
            return
        next_hb = time.perf_counter() + random.uniform(0, opts.heartbeat_interval)
        while not await _sleep_until(next_hb, stop):
            try:
                await st.heartbeat()
            except CallFailed as exc:
                if exc.kind == "closed":
                    return
            next_hb += opts.heartbeat_interval

    t0 = time.perf_counter()
    tasks = await _ramp(stations, opts.ramp, body)
    await settled.wait(opts)
    setup_s = time.perf_counter() - t0
    await _sleep_until(time.perf_counter() + opts.duration, stop)
    rss_after = rss_kib(opts.measure_pid) if opts.measure_pid else None
    connected = rec.connected
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    figures: dict[str, Any] = {
        "stations": len(stations),
        "booted": booted,
        "connected_at_end": connected,
        "setup_s": round(setup_s, 2),
        "connect_rate_per_s": round(booted / setup_s, 1) if setup_s else 0,
    }
    if rss_before is not None and rss_after is not None:
        figures["rss_before_kib"] = rss_before
        figures["rss_after_kib"] = rss_after
        figures["rss_per_connection_kib"] = (
            round((rss_after - rss_before) / connected, 2) if connected else None
        )
    return figures


async def _bootstorm(opts: Options, rec: Recorder, stations: list[Station]) -> dict[str, Any]:
    t0 = time.perf_counter()
    accepted_at: list[float] = []

    async def body(st: Station) -> None:
        if await _setup(st):
            t = time.perf_counter() - t0
            accepted_at.append(t)
            rec.observe("station_ready", t)

    guarded = _guarded(rec, body)
    tasks = [asyncio.create_task(guarded(st)) for st in stations]
    await asyncio.gather(*tasks, return_exceptions=True)
    all_ok = len(accepted_at) == len(stations)
    ready = rec.hists.get("station_ready")
    return {
        "stations": len(stations),
        "accepted": len(accepted_at),
        "all_accepted": all_ok,
        "time_to_all_accepted_s": round(max(accepted_at), 3) if all_ok and accepted_at else None,
        "ready_p50_ms": ready.get_value_at_percentile(50) / 1000 if ready else None,
        "ready_p99_ms": ready.get_value_at_percentile(99) / 1000 if ready else None,
    }


async def _steady(opts: Options, rec: Recorder, stations: list[Station]) -> dict[str, Any]:
    stop = asyncio.Event()
    in_tx = 0
    gate = _gate(opts)
    settled = _Settled(len(stations))
    left = _Settled(len(stations))  # stations out of the steady loop
    go = asyncio.Event()

    async def body(st: Station) -> None:
        nonlocal in_tx
        ok = await _setup(st, in_transaction=True, gate=gate)
        in_tx += ok
        settled.tick()
        try:
            if not ok:
                return
            # The fleet runs once every station is in its transaction: the measured Heartbeats
            # and Updated events are all in the steady window, none competes with the ramp.
            await go.wait()
            now = time.perf_counter()
            next_tx = now + random.uniform(0, opts.tx_interval)
            next_hb = now + random.uniform(0, opts.heartbeat_interval)
            while not await _sleep_until(min(next_tx, next_hb), stop):
                try:
                    if next_tx <= next_hb:
                        next_tx += opts.tx_interval
                        await st.transaction_event("Updated")
                    else:
                        next_hb += opts.heartbeat_interval
                        await st.heartbeat()
                except CallFailed as exc:
                    if exc.kind == "closed":
                        return
        finally:
            left.tick()
        # Nor with the teardown: Ended and Available go once every station has left the loop
        # (its last call answered), not while the last steady calls of others are in flight.
        with contextlib.suppress(TimeoutError):  # bounded: a station stuck in its setup
            await asyncio.wait_for(left.event.wait(), opts.timeout * 3)
        with contextlib.suppress(CallFailed):
            await st.transaction_event("Ended")
            await st.status("Available")

    tasks = await _ramp(stations, opts.ramp, body)
    await settled.wait(opts)
    updated_before = _count(rec, "TransactionEvent.Updated")
    t_start = time.perf_counter()
    go.set()
    await _sleep_until(t_start + opts.duration, stop)
    elapsed = time.perf_counter() - t_start
    updated = _count(rec, "TransactionEvent.Updated") - updated_before
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    p99s = [
        rec.hists[k].get_value_at_percentile(99) / 1000
        for k in ("Heartbeat", "TransactionEvent.Updated")
        if k in rec.hists
    ]
    return {
        "stations": len(stations),
        "in_transaction": in_tx,
        "duration_s": round(elapsed, 2),
        "tx_updated_per_s": round(updated / elapsed, 1) if elapsed else 0,
        "steady_p99_ms": max(p99s) if p99s else None,
    }


def _phase(opts: Options, name: str) -> None:
    if opts.phase_files:
        pathlib.Path(f"{opts.phase_files}.{name}").write_text(f"{time.time()}\n")


async def _released(opts: Options, stop: asyncio.Event) -> None:
    """Until ``<phase_files>.release`` exists, ``release_timeout`` passed or ``stop``."""
    if not opts.phase_files or opts.release_timeout <= 0:
        return
    path = pathlib.Path(f"{opts.phase_files}.release")
    deadline = time.perf_counter() + opts.release_timeout
    while not path.exists() and time.perf_counter() < deadline:  # noqa: ASYNC240 - a stat
        if await _sleep_until(min(deadline, time.perf_counter() + 0.2), stop):
            return


async def _fleet(opts: Options, rec: Recorder, stations: list[Station]) -> dict[str, Any]:
    stop = asyncio.Event()
    idle = asyncio.Event()  # the hold is over: transactions end, heartbeats go on
    rss_before = rss_kib(opts.measure_pid) if opts.measure_pid else None
    booted = in_tx = 0
    gate = _gate(opts)
    settled = _Settled(len(stations))
    ended = _Settled(min(opts.fleet_transactions, len(stations)))
    resend = opts.resend

    async def nap(st: Station, until: float) -> None:
        """Until ``until`` (perf_counter), the end, or (resending) the connection's loss."""
        delay = until - time.perf_counter()
        if delay > 0 and st.wake is not None and not st.wake.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(st.wake.wait(), delay)

    async def body(st: Station, charging: bool) -> None:
        nonlocal booted, in_tx
        st.wake = asyncio.Event()
        ok = await _setup(st, gate=gate)
        # From now on its reconnections take turns like the ramp's connections (--concurrency);
        # not during its setup, which holds a turn already (a reconnect there would wait for a
        # second one, and 500 of them for ever).
        st.connect_gate = gate
        booted += ok
        tx = False
        if ok and charging:
            with contextlib.suppress(CallFailed):
                await st.status("Occupied")
                tx = await st.transaction_event("Started")
            in_tx += tx
        settled.tick()
        if not tx and charging:
            ended.tick()
        if not ok:
            return
        now = time.perf_counter()
        next_hb = now + random.uniform(0, opts.heartbeat_interval)
        next_tx = now + random.uniform(0, opts.tx_interval) if tx else math.inf
        while not stop.is_set():
            await nap(st, min(next_hb, next_tx))
            if stop.is_set():
                return
            st.wake.clear()
            if not st.online:
                if not resend:
                    return
                # As a station does when its link drops: reconnect now (with backoff), then
                # what waits in its outbox goes first.
                if not await st.reconnect(time.perf_counter() + 3 * opts.timeout):
                    rec.error("not_back")
                    return
                with contextlib.suppress(CallFailed):
                    await st.deliver(time.perf_counter() + 3 * opts.timeout)
                continue
            if time.perf_counter() < min(next_hb, next_tx):
                continue
            try:
                if next_tx <= next_hb:
                    if idle.is_set():
                        next_tx = math.inf
                        await st.transaction_event("Ended")
                        ended.tick()
                    else:
                        next_tx += opts.tx_interval
                        await st.transaction_event("Updated")
                else:
                    next_hb += opts.heartbeat_interval
                    await st.heartbeat()
            except CallFailed as exc:
                if exc.kind == "closed" and not resend:
                    return

    def rename(prefix: str) -> None:
        """Keep the latencies so far apart ("<prefix>:<type>"); new ones start afresh."""
        for kind in [k for k in rec.hists if ":" not in k]:
            rec.hists[f"{prefix}:{kind}"] = rec.hists.pop(kind)

    charging = min(opts.fleet_transactions, len(stations))
    bodies = {id(st): n < charging for n, st in enumerate(stations)}
    t0 = time.perf_counter()
    tasks = await _ramp(stations, opts.ramp, lambda st: body(st, bodies[id(st)]))
    await settled.wait(opts)
    setup_s = time.perf_counter() - t0
    rename("ramp")  # from here on, the held fleet's latencies
    _phase(opts, "hold")
    await _sleep_until(time.perf_counter() + opts.duration, stop)
    rss_after = rss_kib(opts.measure_pid) if opts.measure_pid else None
    connected = rec.connected
    storm: dict[str, Any] = {}
    if opts.storm_duration > 0:
        # The storm's latencies and errors apart ("storm:<type>", storm_errors): the held
        # fleet's go on after it.
        held = {k: rec.hists.pop(k) for k in [k for k in rec.hists if ":" not in k]}
        errors_before = collections.Counter(rec.errors)
        reconnects = {st.id: st.reconnects for st in stations}
        storm_start = time.time()
        _phase(opts, "storm")
        await _sleep_until(time.perf_counter() + opts.storm_duration, stop)
        back = [st for st in stations if st.reconnects > reconnects[st.id]]
        storm = {
            "storm_started_at": storm_start,
            "reconnected": len(back),
            # Each station's time back (time.time()), for how the storm went over time.
            "back_at": sorted(round(st.reconnected_at or 0.0, 3) for st in back),
            "offline_at_storm_end": sum(1 for st in stations if not st.online),
            "storm_errors": dict(collections.Counter(rec.errors) - errors_before),
        }
        rename("storm")
        rec.hists.update(held)
        rec.errors.subtract(storm["storm_errors"])
        rec.errors += collections.Counter()  # drops the zero counts
    if opts.idle_duration > 0:
        idle.set()
        with contextlib.suppress(TimeoutError):  # each ends at its next Updated's time
            await asyncio.wait_for(ended.event.wait(), opts.tx_interval + opts.timeout)
        _phase(opts, "idle")
        await _sleep_until(time.perf_counter() + opts.idle_duration, stop)
    _phase(opts, "end")
    await _released(opts, stop)
    stop.set()
    for st in stations:
        if st.wake is not None:
            st.wake.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    figures: dict[str, Any] = {
        "stations": len(stations),
        "booted": booted,
        "in_transaction": in_tx,
        "connected_at_end": connected,
        "setup_s": round(setup_s, 2),
        "held_s": opts.duration,
        "sources": len({st.source for st in stations}),
        **storm,
    }
    if rss_before is not None and rss_after is not None:
        figures["rss_per_connection_kib"] = (
            round((rss_after - rss_before) / connected, 2) if connected else None
        )
    return figures


def _count(rec: Recorder, kind: str) -> int:
    hist = rec.hists.get(kind)
    return hist.get_total_count() if hist is not None else 0


async def _throughput(opts: Options, rec: Recorder, stations: list[Station]) -> dict[str, Any]:
    tx = opts.message == "transaction-event"
    starts = opts.message == "transaction-start"
    ready = 0
    go = asyncio.Event()
    stop = asyncio.Event()
    gate = _gate(opts)
    settled = _Settled(len(stations))

    async def body(st: Station) -> None:
        nonlocal ready
        ok = await _setup(st, gate=gate)
        if ok and tx:
            with contextlib.suppress(CallFailed):
                ok = await st.transaction_event("Started")
        ready += ok
        settled.tick()
        if not ok:
            return
        await go.wait()
        event = "Started" if starts else "Updated" if tx else ""
        while not stop.is_set():
            try:
                if event:
                    await st.transaction_event(event)
                else:
                    await st.heartbeat()
            except CallFailed as exc:
                if exc.kind == "closed":
                    return
        if tx:
            with contextlib.suppress(CallFailed):
                await st.transaction_event("Ended")

    tasks = await _ramp(stations, opts.ramp, body)
    await settled.wait(opts)
    updated = "MeterValues.Updated" if opts.protocol == "ocpp1.6" else "TransactionEvent.Updated"
    started = (
        "StartTransaction.Started" if opts.protocol == "ocpp1.6" else "TransactionEvent.Started"
    )
    kind = updated if tx else started if starts else "Heartbeat"
    before = _count(rec, kind)
    t_start = time.perf_counter()
    go.set()
    await _sleep_until(t_start + opts.duration, stop)
    elapsed = time.perf_counter() - t_start
    done = _count(rec, kind) - before
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "stations": len(stations),
        "ready": ready,
        "message": opts.message,
        "duration_s": round(elapsed, 2),
        "answered": done,
        "msgs_per_s": round(done / elapsed, 1) if elapsed else 0,
    }


_RUNNERS = {
    "connect": _connect,
    "bootstorm": _bootstorm,
    "steady": _steady,
    "throughput": _throughput,
    "fleet": _fleet,
}


async def run(opts: Options) -> dict[str, Any]:
    """Run one scenario and return its result (the JSON the CLI writes)."""
    if opts.scenario not in _RUNNERS:
        raise ValueError(f"unknown scenario {opts.scenario!r}")
    rec = Recorder(tx_log=[] if opts.tx_log else None)
    prefix = opts.prefix or f"BENCH-{uuid.uuid4().hex[:6]}-"
    kind = Station16 if opts.protocol == "ocpp1.6" else Station
    stations = [
        kind(
            f"{prefix}{i:06d}",
            opts.url,
            rec,
            opts.timeout,
            opts.id_token,
            opts.password,
            resend=Resend() if opts.resend else None,
            source=(
                f"127.0.0.{opts.first_source + i // opts.stations_per_source}"
                if opts.stations_per_source
                else ""
            ),
        )
        for i in range(opts.stations)
    ]
    stop_progress = asyncio.Event()
    progress = asyncio.create_task(_progress(rec, stop_progress)) if opts.progress else None
    wall = time.perf_counter()
    try:
        figures = await _RUNNERS[opts.scenario](opts, rec, stations)
    finally:
        await _close_all(stations, opts.timeout)
        stop_progress.set()
        if progress is not None:
            await progress
    rec.flush()
    result: dict[str, Any] = {
        "scenario": opts.scenario,
        "label": opts.label,
        "url": opts.url,
        "options": asdict(opts),
        "wall_s": round(time.perf_counter() - wall, 2),
        "figures": figures,
        **rec.as_dict(),
    }
    if rec.tx_log is not None:
        result["transaction_event_log"] = rec.tx_log
    if opts.scenario == "fleet":  # several generators' latencies are merged (bench.run)
        result["histograms"] = {k: h.encode().decode() for k, h in rec.hists.items()}
        if opts.resend:  # every TransactionEvent as its station saw it, for a reconciliation
            result["ledger"] = [
                {
                    "station": r.station,
                    "tx_id": r.tx_id,
                    "seq_no": r.seq_no,
                    "event_type": r.event_type,
                    "energy_wh": r.energy_wh,
                    "offline": r.offline,
                    "sent": r.sent,
                    "acknowledged": r.acknowledged,
                    "dropped": r.dropped,
                    "outcomes": dict(r.outcomes),
                }
                for st in stations
                for r in st.ledger
            ]
    return result


def write_result(
    result: dict[str, Any], json_path: pathlib.Path, plot: bool = True
) -> pathlib.Path | None:
    """Write the JSON and the PNG beside it (same name, .png); return the PNG's path."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    if not plot:
        return None
    from bench.plot import plot_timeline  # matplotlib takes a second to import: only here

    return plot_timeline(result, json_path.with_suffix(".png"))


def parse_args(argv: Sequence[str] | None = None) -> tuple[Options, pathlib.Path, bool]:
    p = argparse.ArgumentParser(
        prog="python -m bench.loadgen",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--url", required=True, help="e.g. ws://127.0.0.1:3000/ocpp")
    p.add_argument("--scenario", required=True, choices=SCENARIOS)
    p.add_argument("--stations", type=int, default=100)
    p.add_argument("--ramp", type=float, default=500.0, help="connections per second (0: all)")
    p.add_argument(
        "--concurrency", type=int, default=0, help="max stations connecting at once (0: any)"
    )
    p.add_argument("--duration", type=float, default=10.0, help="seconds of measured load")
    p.add_argument("--heartbeat-interval", type=float, default=30.0)
    p.add_argument("--tx-interval", type=float, default=10.0, help="steady: s between Updated")
    p.add_argument(
        "--message",
        choices=["heartbeat", "transaction-event", "transaction-start"],
        default="heartbeat",
        help="throughput: what each station sends in a loop (transaction-start: a Started "
        "opening a new transaction each time, with its idToken and EVSE)",
    )
    p.add_argument(
        "--protocol",
        choices=["ocpp2.0.1", "ocpp1.6"],
        default="ocpp2.0.1",
        help="the stations' OCPP-J subprotocol (1.6: transaction-event means MeterValues)",
    )
    p.add_argument("--timeout", type=float, default=30.0, help="per call and per handshake, s")
    p.add_argument("--measure-pid", type=int, help="report this process's RSS per connection")
    p.add_argument("--id-token", default="BENCH0001")
    p.add_argument("--password", default="", help="HTTP Basic auth password of every station")
    p.add_argument("--prefix", default="", help="station id prefix (default: random)")
    p.add_argument("--label", default="")
    p.add_argument("--json", type=pathlib.Path, help="result file (default bench-<scenario>.json)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument("--no-plot", action="store_true", help="no PNG (bench.run draws its own)")
    p.add_argument(
        "--tx-log", action="store_true", help="list every TransactionEvent outcome in the JSON"
    )
    p.add_argument(
        "--resend",
        action="store_true",
        help="reconnect and re-send unacknowledged TransactionEvents, as real stations do",
    )
    p.add_argument("--fleet-transactions", type=int, default=0, help="fleet: stations charging")
    p.add_argument(
        "--stations-per-source",
        type=int,
        default=0,
        help=f"stations per loopback source address (0: 127.0.0.1 only; at most "
        f"{STATIONS_PER_SOURCE}: beyond half an address's ephemeral ports, binds get slow)",
    )
    p.add_argument("--first-source", type=int, default=2, help="first source: 127.0.0.<this>")
    p.add_argument("--idle-duration", type=float, default=0.0, help="fleet: s of heartbeats only")
    p.add_argument("--phase-files", default="", help="fleet: write <this>.hold, .idle, .end")
    p.add_argument(
        "--release-timeout",
        type=float,
        default=0.0,
        help="fleet: after .end, stay until <phase-files>.release exists, at most this long",
    )
    p.add_argument(
        "--storm-duration", type=float, default=0.0, help="fleet: s after the hold for a crash"
    )
    a = p.parse_args(argv)
    opts = Options(
        url=a.url,
        scenario=a.scenario,
        stations=a.stations,
        ramp=a.ramp,
        concurrency=a.concurrency,
        duration=a.duration,
        heartbeat_interval=a.heartbeat_interval,
        tx_interval=a.tx_interval,
        message=a.message,
        protocol=a.protocol,
        timeout=a.timeout,
        measure_pid=a.measure_pid,
        id_token=a.id_token,
        password=a.password,
        prefix=a.prefix,
        label=a.label,
        progress=not a.quiet,
        tx_log=a.tx_log,
        resend=a.resend,
        fleet_transactions=a.fleet_transactions,
        stations_per_source=a.stations_per_source,
        first_source=a.first_source,
        idle_duration=a.idle_duration,
        phase_files=a.phase_files,
        release_timeout=a.release_timeout,
        storm_duration=a.storm_duration,
    )
    return opts, a.json or pathlib.Path(f"bench-{a.scenario}.json"), not a.no_plot


def tune_gc() -> None:
    """The generator's collector made as rare as the services' (common.gc_tuning.THRESHOLDS).

    A fleet generator holds every one of its stations' connections (about a hundred container
    objects each), and CPython's default young threshold (700) made it traverse them again and
    again: in a reconnect storm of 17,000 stations (an ad-hoc harness of bench.fleet at 34,000
    stations, one gateway of two killed) its generator spent 25.7 s in collections, 31 of them
    full ones of up to 2.9 s, against 7.2 s and 2 full ones with these thresholds; all back
    after 22.6 s then 15.4 s."""
    gc.set_threshold(*gc_tuning.THRESHOLDS)


def main(argv: Sequence[str] | None = None) -> None:
    opts, json_path, plot = parse_args(argv)
    raise_fd_limit()
    tune_gc()
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        result = asyncio.run(run(opts))
    else:
        result = uvloop.run(run(opts))
    png = write_result(result, json_path, plot)
    print(summary_table(result))
    print(f"  result: {json_path}" + (f"  plot: {png}" if png else ""))


if __name__ == "__main__":
    main()
