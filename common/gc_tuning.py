"""The garbage collector of a long-running process: what it traverses and how often.

CPython's default collector runs a young collection every 700 net allocations and, now and then,
a full one that traverses every tracked object. A service process holds hundreds of thousands of
objects that live as long as it does (modules, protobuf descriptors, compiled schemas, SQLAlchemy's
caches) and the gateway adds every station's connection: measured under the steady fleet (2,000
stations), full collections paused the gateway for 200-480 ms and the services for 50-300 ms,
collecting nothing, and young ones took 10-30 ms: each such pause is a latency spike for every
message in flight, and it was what set the fleet's p99.

:func:`settle` runs once a process has started: one full collection, then ``gc.freeze()`` moves
everything alive into the permanent generation that collections skip (start-up state is never
garbage), and a higher young-generation threshold makes collections rarer. Cyclic garbage is still
collected; objects made after start-up (connections, requests) are collected as before.

:class:`BurstPause` pauses automatic collections while a burst of handshakes is under way (the
gateway's boot storm): each accepted connection leaves about 65 container objects (websockets'
connection, protocol, reader and parser, asyncio tasks, futures and timers) that live as long as
it does, and young collections traversed every one of them twice during the storm, garbage or
not. Measured on a storm of 5,000 stations (``python -m bench.run --scenarios bootstorm``):
17 young and 1-2 middle collections, 0.2-0.45 s of the gateway's ~2.2 s of CPU, and ~0.4 s
less CPU with the collector off. During the pause nothing is collected (reference counting
still frees what is not in a cycle); once the burst ends (or after ``limit`` seconds, whichever
first) the collector runs again and its next young collection sees only what is still alive.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

__all__ = ["settle", "THRESHOLDS", "BurstPause"]

# (young, middle, old): a young collection per 20,000 net allocations instead of 700; the others
# as often, relative to it, as CPython's defaults make them.
THRESHOLDS = (20_000, 10, 10)


def settle() -> None:
    """Freeze what start-up left alive and make collections rarer (call once, after start-up)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


class BurstPause:
    """Automatic collections paused while at least ``start`` units of work (handshakes) are
    under way at once, until at most ``stop`` are, for ``limit`` seconds at most: a burst
    longer than that gets the collector back and no second pause until it ends. Call
    :meth:`enter` when a unit starts and :meth:`leave` when it ends; the process's collector
    must be enabled otherwise (nothing else here disables it)."""

    __slots__ = ("start", "stop", "limit", "clock", "active", "pauses", "_paused_at", "_spent")

    def __init__(
        self,
        start: int = 512,
        stop: int = 64,
        limit: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= stop < start:
            raise ValueError("stop must be below start")
        self.start, self.stop, self.limit, self.clock = start, stop, limit, clock
        self.active = 0
        self.pauses = 0  # how many pauses began (for tests and curiosity)
        self._paused_at: float | None = None
        self._spent = False  # this burst's pause ran out: none again until the burst ends

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def enter(self) -> None:
        self.active += 1
        if self._paused_at is None:
            if self.active >= self.start and not self._spent and gc.isenabled():
                gc.disable()
                self._paused_at = self.clock()
                self.pauses += 1
        elif self.clock() - self._paused_at > self.limit:
            self._resume(spent=True)

    def leave(self) -> None:
        self.active -= 1
        if self.active <= self.stop:
            self._spent = False
            if self._paused_at is not None:
                self._resume(spent=False)
        elif self._paused_at is not None and self.clock() - self._paused_at > self.limit:
            self._resume(spent=True)

    def _resume(self, *, spent: bool) -> None:
        gc.enable()
        self._paused_at = None
        self._spent = spent
