"""``python -m bench.profiled MODULE [ARGS]``: run a mesh process with a profiler armed by signals.

The profiler (of the main thread) is off until SIGUSR1 and writes what it saw to
``$CSMS_PROFILE_OUT`` on SIGUSR2, so that a measurement profiles its own window (:mod:`bench.idle`
``--profile``, :mod:`bench.event_cost` ``--profile``), not the process's start-up or the ramp
before it. ``$CSMS_PROFILE_MODE`` chooses the profiler:

* ``cprofile`` (the default): cProfile of the main thread's CPU time, a ``pstats`` file. Exact
  call counts, but its cost per call inflates small functions several times over (a mesh ran
  at a fifth of its pace under it), so a hot path of many small calls looks slower than it is.
* ``sample``: :class:`StackSampler`, the main thread's Python stack looked at every millisecond
  of the process's CPU time or every tick of the kernel, whichever is longer (SIGPROF): next to
  nothing per call, so shares come out as they are
  at full speed. It writes a text file of inclusive and exclusive shares and, beside it
  (``.folded``), the stacks collapsed one a line (``outer;...;inner count``), which flame graph
  tools (speedscope, flamegraph.pl) read.

Either sees the main thread only: gRPC's and aiosqlite's own threads are not in it (read their
share from the process's CPU beside it, ``bench.event_cost --threads``).
"""

from __future__ import annotations

import collections
import cProfile
import os
import pathlib
import runpy
import signal
import sys
import sysconfig
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["StackSampler", "main"]

# Where a frame's file is shown from: the folder above this package (the repository), the
# installed packages, the standard library; the longest prefix that fits is cut.
_PREFIXES = sorted(
    {
        str(pathlib.Path(__file__).resolve().parents[1]) + os.sep,
        sysconfig.get_paths()["purelib"] + os.sep,
        sysconfig.get_paths()["platlib"] + os.sep,
        sysconfig.get_paths()["stdlib"] + os.sep,
    },
    key=len,
    reverse=True,
)


def _where(path: str) -> str:
    for prefix in _PREFIXES:
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


class StackSampler:
    """A statistical profiler of the main thread's Python stacks.

    SIGPROF comes every ``interval`` seconds of the process's CPU time (``setitimer``'s
    ITIMER_PROF: all its threads together; the kernel checks it at its tick, so no more often
    than that: 250 times a second here), and its handler, which Python runs in the main thread,
    counts the stack the main thread is in. A sample taken while another thread had the
    CPU, or while the main thread waited in C (an event loop's poll), is charged to where the
    main thread stood: the event loop's own line. Read the shares of Python's frames against
    each other; the process's CPU per thread says how much of it is the main thread's.

    Only one sampler per process can run (the signal and the timer are the process's).
    """

    def __init__(self, interval: float = 0.001) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        # Per distinct stack, outermost frame first: (file:function, ...) and the innermost line.
        self.stacks: collections.Counter[tuple[tuple[str, ...], int]] = collections.Counter()
        self._names: dict[Any, str] = {}  # code object -> "file:function"

    def _name(self, frame: FrameType) -> str:
        code = frame.f_code
        name = self._names.get(code)
        if name is None:
            name = self._names[code] = f"{_where(code.co_filename)}:{code.co_name}"
        return name

    def _on_signal(self, _signum: int, frame: FrameType | None) -> None:
        if frame is None:
            return
        line = frame.f_lineno or 0
        names = []
        while frame is not None:
            names.append(self._name(frame))
            frame = frame.f_back
        names.reverse()
        self.stacks[(tuple(names), line)] += 1

    @property
    def samples(self) -> int:
        """The samples taken so far."""
        return sum(self.stacks.values())

    def start(self) -> None:
        signal.signal(signal.SIGPROF, self._on_signal)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_IGN)

    def inclusive(self) -> collections.Counter[str]:
        """Samples per function anywhere on the stack (once per sample, recursion or not)."""
        counts: collections.Counter[str] = collections.Counter()
        for (names, _), n in self.stacks.items():
            for name in set(names):
                counts[name] += n
        return counts

    def exclusive(self) -> collections.Counter[str]:
        """Samples per innermost function and line (``file:function:line``)."""
        counts: collections.Counter[str] = collections.Counter()
        for (names, line), n in self.stacks.items():
            counts[f"{names[-1]}:{line}"] += n
        return counts

    def report(self, top: int = 80) -> str:
        """The ``top`` functions by inclusive share, then the ``top`` lines by exclusive share."""
        samples = self.samples
        total = samples or 1
        lines = [f"samples {samples}"]
        for title, counts in (("inclusive", self.inclusive()), ("exclusive", self.exclusive())):
            lines.append(f"--- {title}")
            lines += [f"{100 * n / total:5.1f}% {name}" for name, n in counts.most_common(top)]
        return "\n".join(lines) + "\n"

    def folded(self) -> str:
        """The stacks collapsed, one a line: ``outer;...;inner count`` (flame graph input)."""
        merged: collections.Counter[str] = collections.Counter()
        for (names, _), n in self.stacks.items():
            merged[";".join(names)] += n
        return "".join(f"{stack} {n}\n" for stack, n in merged.most_common())

    def dump(self, out: str) -> None:
        """:meth:`folded` to ``out`` with ``.folded`` instead of its suffix, then :meth:`report`
        to ``out``: once ``out`` is there, both are whole (see :func:`_whole`)."""
        path = pathlib.Path(out)
        folded, report = self.folded(), self.report()
        _whole(path.with_suffix(".folded"), lambda part: part.write_text(folded))
        _whole(path, lambda part: part.write_text(report))


def _whole(path: pathlib.Path, write: Callable[[pathlib.Path], object]) -> None:
    """``write`` a file beside ``path``, then rename it to ``path``: whoever waits for ``path``
    (a benchmark after its SIGUSR2) never reads it half written."""
    part = path.with_name(path.name + ".part")
    write(part)
    os.replace(part, path)


def main() -> None:
    out = os.environ.get("CSMS_PROFILE_OUT", "profile.prof")
    mode = os.environ.get("CSMS_PROFILE_MODE", "cprofile")
    if mode == "sample":
        sampler = StackSampler()

        def start(*_: Any) -> None:
            sampler.start()

        def stop(*_: Any) -> None:
            sampler.stop()
            sampler.dump(out)

    elif mode == "cprofile":
        # The main thread's CPU time, not the wall clock: time spent waiting (for the database's
        # thread, for the network) is not charged to the function that awaited.
        profile = cProfile.Profile(time.thread_time)

        def start(*_: Any) -> None:
            profile.enable()

        def stop(*_: Any) -> None:
            profile.disable()
            _whole(pathlib.Path(out), lambda part: profile.dump_stats(str(part)))

    else:
        raise SystemExit(f"CSMS_PROFILE_MODE must be cprofile or sample, not {mode!r}")
    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    module, *args = sys.argv[1:]
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
