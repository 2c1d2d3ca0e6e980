"""Between scenarios make bench waits until the system under test is quiet, so that a scenario
does not pay for the last one's tail (a gateway recording 10,000 disconnects)."""

from __future__ import annotations

import subprocess
import sys
import time

from bench import run

BUSY_S = 1.5


def test_waits_while_the_system_under_test_works_then_not_longer() -> None:
    busy = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import time\nend = time.monotonic() + {BUSY_S}\n"
            "while time.monotonic() < end: pass\ntime.sleep(30)",
        ]
    )
    try:
        time.sleep(0.2)  # the interpreter has started and spins
        waited = run._settle((busy.pid,), 0.0, limit_s=10)
        assert BUSY_S - 0.2 <= waited < 5  # the spinning, then one quiet window
        waited = run._settle((busy.pid,), 0.0, limit_s=10)
        assert waited < 1  # quiet already: one window
    finally:
        busy.kill()
        busy.wait()


def test_gives_up_after_the_limit() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        waited = run._settle((busy.pid,), 0.0, limit_s=1.2)
        assert 1.2 <= waited < 2.5
    finally:
        busy.kill()
        busy.wait()
