"""``python -m bench.profiled MODULE [ARGS]``: run a mesh process with cProfile armed by signals.

The profiler (of the main thread's CPU time) is off until SIGUSR1 and writes its statistics to
``$CSMS_PROFILE_OUT`` on SIGUSR2, so that a measurement profiles its own window (:mod:`bench.idle`
``--profile``), not the process's start-up or the ramp before it. cProfile sees the main thread
only: gRPC's and aiosqlite's own threads are not in it (read their share from the process's CPU
beside it).
"""

from __future__ import annotations

import cProfile
import os
import runpy
import signal
import sys
import time
from typing import Any

__all__ = ["main"]


def main() -> None:
    # The main thread's CPU time, not the wall clock: time spent waiting (for the database's
    # thread, for the network) is not charged to the function that awaited.
    profile = cProfile.Profile(time.thread_time)
    out = os.environ.get("CSMS_PROFILE_OUT", "profile.prof")

    def start(*_: Any) -> None:
        profile.enable()

    def stop(*_: Any) -> None:
        profile.disable()
        profile.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    module, *args = sys.argv[1:]
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
