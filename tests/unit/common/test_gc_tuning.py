"""common.gc_tuning: start-up state frozen out of every collection, collections made rarer."""

from __future__ import annotations

import json
import subprocess
import sys

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
