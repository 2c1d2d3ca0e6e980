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
"""

from __future__ import annotations

import gc

__all__ = ["settle", "THRESHOLDS"]

# (young, middle, old): a young collection per 20,000 net allocations instead of 700; the others
# as often, relative to it, as CPython's defaults make them.
THRESHOLDS = (20_000, 10, 10)


def settle() -> None:
    """Freeze what start-up left alive and make collections rarer (call once, after start-up)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
