"""common.gc_tuning: start-up state frozen out of every collection, collections made rarer,
paused during a burst of handshakes."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from common import gc_tuning

_PROBE = """
import gc, json
from common import gc_tuning
before = gc.get_freeze_count()
gc_tuning.settle()
print(json.dumps([before, gc.get_freeze_count(), list(gc.get_threshold()), len(gc.get_objects())]))
"""


def test_settle_freezes_what_start_up_left_and_raises_the_thresholds() -> None:
    # In a process of its own: freezing the test runner's objects would outlive the test.
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    before, frozen, threshold, tracked = json.loads(out)
    assert before == 0
    assert frozen > 1000  # the imported modules' objects at least
    assert tracked < frozen  # what collections still traverse is the small rest
    assert tuple(threshold) == gc_tuning.THRESHOLDS
    assert gc_tuning.THRESHOLDS[0] > 700  # rarer than CPython's default young collections


@pytest.fixture
def collector() -> Iterator[None]:
    """The test runner's collector enabled before and after (a pause left over would leak)."""
    assert gc.isenabled()
    try:
        yield
    finally:
        gc.enable()


def test_a_burst_pauses_collections_until_it_ends(collector: None) -> None:
    burst = gc_tuning.BurstPause(start=3, stop=1)
    burst.enter()
    burst.enter()
    assert gc.isenabled()
    burst.enter()  # the third at once: a burst
    assert not gc.isenabled() and burst.paused
    burst.leave()
    assert not gc.isenabled()  # two under way: still above stop
    burst.leave()
    assert gc.isenabled() and not burst.paused
    assert burst.pauses == 1


def test_a_pause_lasts_limit_seconds_at_most_and_once_per_burst(collector: None) -> None:
    now = [0.0]
    burst = gc_tuning.BurstPause(start=2, stop=0, limit=10.0, clock=lambda: now[0])
    for _ in range(3):
        burst.enter()
    assert not gc.isenabled()
    now[0] = 11.0
    burst.enter()  # the burst goes on past the limit: the collector is back
    assert gc.isenabled()
    burst.leave()
    burst.enter()
    assert gc.isenabled()  # not paused again within the same burst
    for _ in range(4):
        burst.leave()
    assert burst.active == 0
    burst.enter()
    burst.enter()  # a new burst
    assert not gc.isenabled()
    assert burst.pauses == 2


def test_a_collector_disabled_by_someone_else_is_left_alone(collector: None) -> None:
    gc.disable()
    burst = gc_tuning.BurstPause(start=1, stop=0)
    burst.enter()
    burst.leave()
    assert not gc.isenabled() and burst.pauses == 0


def test_stop_must_be_below_start() -> None:
    with pytest.raises(ValueError):
        gc_tuning.BurstPause(start=5, stop=5)
