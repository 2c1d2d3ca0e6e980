"""``python -m bench.interleaved``: two whole meshes, A and B, loaded in turns, window by window:
each one's throughput and CPU per answer measured through the same minutes.

Runs of a mesh one after the other move by ±15% on a shared machine (docs/bench), as much as a
setting that costs 5-10% weighs, so an A/B of separate runs says more about the machine's drift
than about the setting. Here both meshes run at once, pinned to the same CPU (the load
generators to the other, as in ``make bench``), and each has its own :mod:`bench.loadgen`
closed-loop ``throughput`` load (Heartbeats or TransactionEvents, 100 stations) that is
stopped (SIGSTOP) while the other mesh is measured: in every window one mesh alone is loaded,
and the windows go A B, B A, A B, ... so that a drift of the machine's speed weighs on both
alike. A window's first ``--settle`` seconds are not counted (the mesh reaches its steady
state: the other mesh's last work done, its own periodic work, a message log's flush for
instance, under way); over the rest, the answers the loaded mesh counted (the gateway's
Heartbeats, transaction_svc's committed TransactionEvents, from their metrics) and its
processes' CPU (``/proc``). The idle mesh's CPU in the same windows is reported too: what
bleeds from one side into the other's windows.

What A and B differ by: launcher settings (``--a`` / ``--b KEY=VALUE``, MeshSettings' fields),
the source tree every process of the mesh runs (``--a-tree`` / ``--b-tree``: a ``git worktree``
of another commit with ``gen`` in it or linked; ``PYTHONSAFEPATH=1`` on both sides so that the
current folder does not come first), an environment set in every process of it (``--a-env`` /
``--b-env KEY=VALUE``; the launcher passes no other ``CSMS_`` variable than a process's own).
``make bench``'s ``message-log`` scenario is this with the station message log off (A) and on
(B) (:func:`message_log_interleaved`); ``--b message_log=true`` here. B/A of the windows' mean
throughput is the figure, and each pair's B/A gives its spread. Both sides' databases grow
through the run alike (transaction_svc's CPU per event grew by a third over two minutes of
TransactionEvents on SQLite, on both sides), so compare the sides window by window, not a
window with another of a later minute.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.event_cost import (
    _committed,
    _scrape,
    gateway_calls,
    load_mesh_settings,
    rpcs_answered,
    stop_mesh,
    throughput_load,
)
from bench.gateway_ab import env_pairs, with_tree
from bench.idle import cpu_seconds
from bench.run import _cpu_sets, _create_id_token, _pinned
from deploy.mesh import Mesh

__all__ = [
    "Own",
    "Side",
    "alternate",
    "interleaved",
    "main",
    "message_log_interleaved",
    "pair_order",
]

# What each message's count is read from: the gateway's CALLs (Heartbeats, answered by it) or
# transaction_svc's committed events (durable TransactionEvents).
MESSAGES = ("heartbeat", "transaction-event")


@dataclass(frozen=True)
class Own:
    """What a side's mesh has of its own: launcher settings (MeshSettings' fields), a source
    tree for every process ("": this one; a ``git worktree`` with ``gen`` in it or linked), an
    environment set over the launcher's in every process."""

    settings: dict[str, Any] = field(default_factory=dict)
    tree: str = ""
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Side:
    """One mesh of the two: its name, its processes (name -> pid) and how to count answers."""

    name: str
    pids: dict[str, int]
    count: Callable[[], float]
    # Per window: answers per second, and the other (idle) mesh's CPU in the same window, in
    # cores; per process, per window: CPU microseconds per answer.
    rates: list[float] = field(default_factory=list)
    idle_other_cores: list[float] = field(default_factory=list)
    by_process: dict[str, list[float]] = field(default_factory=dict)
    load: subprocess.Popen[bytes] | None = None

    @property
    def cpu_us(self) -> list[float]:
        """Per window: CPU microseconds per answer, all its processes together."""
        return [sum(window) for window in zip(*self.by_process.values(), strict=True)]


def pair_order(pairs: int) -> list[int]:
    """The sides' turns, 0 for A and 1 for B: A B, B A, A B, ... (``pairs`` pairs)."""
    return [side for n in range(pairs) for side in ((0, 1) if n % 2 == 0 else (1, 0))]


def _each(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def _cpu(pids: dict[str, int]) -> float:
    return sum(_each(pids).values())


def _stopped(pid: int) -> bool:
    return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def _signal(pid: int, sig: signal.Signals) -> None:
    """SIGSTOP or SIGCONT ``pid``, and wait (at most 5 s) until it took effect."""
    os.kill(pid, sig)
    deadline = time.monotonic() + 5
    while _stopped(pid) != (sig == signal.SIGSTOP) and time.monotonic() < deadline:
        time.sleep(0.001)


def alternate(
    sides: Sequence[Side],
    pairs: int,
    settle: float,
    window: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Load one side at a time (its load generator continued, the other's stopped) for
    ``pairs`` pairs of windows in :func:`pair_order`; each window's figures appended to its
    side. The load generators are left stopped."""
    for turn in pair_order(pairs):
        side, other = sides[turn], sides[1 - turn]
        assert side.load is not None and other.load is not None
        _signal(other.load.pid, signal.SIGSTOP)
        _signal(side.load.pid, signal.SIGCONT)
        sleep(settle)
        count0, each0, idle0 = side.count(), _each(side.pids), _cpu(other.pids)
        began = clock()
        sleep(window)
        count1, each1, idle1 = side.count(), _each(side.pids), _cpu(other.pids)
        elapsed = clock() - began
        _signal(side.load.pid, signal.SIGSTOP)
        answers = max(count1 - count0, 1)
        side.rates.append((count1 - count0) / elapsed)
        for name in each1:
            used = 1e6 * (each1[name] - each0[name]) / answers
            side.by_process.setdefault(name, []).append(used)
        other.idle_other_cores.append((idle1 - idle0) / elapsed)


@dataclass
class _OwnMesh(Mesh):
    """The launcher, every process of it with its own source tree ("": this one) and its own
    environment over the launcher's."""

    tree: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def _proc_env(
        self, prefix: str, values: dict[str, object], identity: str = ""
    ) -> dict[str, str]:
        env = super()._proc_env(prefix, values, identity)
        with_tree(env, self.tree, self.env)
        return env


@contextlib.contextmanager
def _mesh(
    database_url: str, cpus: set[int] | None, side: Own
) -> Iterator[tuple[Mesh, dict[str, int]]]:
    data_dir = pathlib.Path(tempfile.mkdtemp(prefix="csms-interleaved-"))
    mesh_settings = load_mesh_settings(data_dir, database_url, -1, **side.settings)
    mesh = _OwnMesh(mesh_settings, log_dir=data_dir, tree=side.tree, env=side.env)
    try:
        with _pinned(cpus):
            mesh.start()
        _create_id_token(mesh_settings.envoy_port, mesh.create_api_key("operator", "bench"))
        yield mesh, {p.name: p.popen.pid for p in mesh.procs if p.popen is not None}
    finally:
        stop_mesh(mesh, database_url, data_dir)


def _counter(mesh: Mesh, message: str) -> Callable[[], float]:
    if message == "heartbeat":
        port = mesh.settings.metrics_port("gateway-1")
        return lambda: gateway_calls(port, "Heartbeat")
    port = mesh.settings.metrics_port("transaction")
    return lambda: _committed(port)[0]


def _summary(sides: Sequence[Side]) -> dict[str, Any]:
    a, b = sides
    pairs = [rb / ra for ra, rb in zip(a.rates, b.rates, strict=True) if ra]

    def ratio(b_values: list[float], a_values: list[float]) -> float | None:
        mean_a = statistics.fmean(a_values) if a_values else 0.0
        return round(statistics.fmean(b_values) / mean_a, 3) if mean_a else None

    return {
        side.name: {
            "msgs_per_s": [round(r, 1) for r in side.rates],
            "cpu_us_per_answer": [round(c, 1) for c in side.cpu_us],
            "idle_cores_while_other_measured": [round(c, 4) for c in side.idle_other_cores],
            "cpu_us_per_answer_by_process": {
                name: [round(c, 1) for c in used] for name, used in side.by_process.items()
            },
        }
        for side in sides
    } | {
        "ratio_msgs_per_s": ratio(b.rates, a.rates),
        "ratio_cpu_us_per_answer": ratio(b.cpu_us, a.cpu_us),
        "pair_ratios_msgs_per_s": [round(r, 3) for r in pairs],
    }


def interleaved(
    database_url: str,
    a_own: Own,
    b_own: Own,
    messages: Sequence[str] = MESSAGES,
    stations: int = 100,
    pairs: int = 6,
    settle: float = 1.0,
    window: float = 3.0,
    out: pathlib.Path | None = None,
    cpus: tuple[set[int] | None, set[int] | None] | None = None,
) -> dict[str, Any]:
    """Meshes A and B (each with what it has of its own: :class:`Own`), started once and both
    measured for each of ``messages`` (the closed loop's message) in alternating windows: under
    "messages", per message, each side's windows and B/A (:func:`_summary`); under
    "record_messages_rpcs", each side's device_svc's RecordMessages calls answered (the station
    message log's batches stored). ``cpus``: (the meshes', the load
    generators'); by default the first CPU and the second."""
    sut_cpus, gen_cpus = cpus or _cpu_sets("split")
    results: dict[str, Any] = {"messages": {}}
    with contextlib.ExitStack() as stack:
        tmp = out or pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory()))
        meshes = [stack.enter_context(_mesh(database_url, sut_cpus, own)) for own in (a_own, b_own)]
        for message in messages:
            sides = [
                Side(name, pids, _counter(mesh, message))
                for name, (mesh, pids) in zip(("A", "B"), meshes, strict=True)
            ]
            # Long enough for the ramp and every window; stopped on the way out.
            duration = 60 + 2 * (pairs + 1) * (settle + window) * 2
            with contextlib.ExitStack() as loads:
                for side, (mesh, _) in zip(sides, meshes, strict=True):
                    side.load = loads.enter_context(
                        throughput_load(
                            mesh.settings.gateway_port,
                            stations,
                            duration,
                            message,
                            tmp / f"loadgen-{side.name}-{message}.json",
                            gen_cpus,
                        )
                    )
                # Both ramp at once (connections, boots, Started events), then take turns.
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and min(s.count() for s in sides) < 2 * stations:
                    time.sleep(0.2)
                try:
                    # A pair of windows not counted (the first after the ramp ran cold): on
                    # sides of their own, whose figures are dropped.
                    warm_up = [Side(s.name, s.pids, s.count, load=s.load) for s in sides]
                    alternate(warm_up, 1, settle, window)
                    alternate(sides, pairs, settle, window)
                finally:
                    for side in sides:  # continued, so that a SIGTERM reaches them
                        assert side.load is not None
                        os.kill(side.load.pid, signal.SIGCONT)
            results["messages"][message] = _summary(sides)
        # What each mesh's station message log stored, if it has one: RecordMessages calls.
        results["record_messages_rpcs"] = {
            name: rpcs_answered(_scrape(mesh.settings.metrics_port("device")), "/RecordMessages")
            for name, (mesh, _) in zip(("A", "B"), meshes, strict=True)
        }
    return results


def message_log_interleaved(
    database_url: str,
    quick: bool = False,
    pairs: int = 8,
    cpus: tuple[set[int] | None, set[int] | None] | None = None,
    out: pathlib.Path | None = None,
) -> dict[str, Any]:
    """``make bench``'s measurement of the station message log's cost: A with it off, B on;
    ``quick``: 20 stations, one pair of short windows."""
    return interleaved(
        database_url,
        Own({"message_log": False}),
        Own({"message_log": True}),
        stations=20 if quick else 100,
        pairs=1 if quick else pairs,
        settle=0.6 if quick else 1.0,
        window=0.6 if quick else 4.0,
        out=out,
        cpus=cpus,
    )


def _setting(pair: str) -> tuple[str, Any]:
    key, sep, value = pair.partition("=")
    if not sep or not key:
        raise SystemExit(f"not KEY=VALUE: {pair!r}")
    lowered = value.lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    with contextlib.suppress(ValueError):
        return key, int(value)
    with contextlib.suppress(ValueError):
        return key, float(value)
    return key, value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.interleaved", description=__doc__.split("\n")[0]
    )
    p.add_argument("--database-url", default="", help="a PostgreSQL server (default: SQLite)")
    p.add_argument("--a", action="append", default=[], metavar="KEY=VALUE", help="A's setting")
    p.add_argument("--b", action="append", default=[], metavar="KEY=VALUE", help="B's setting")
    p.add_argument("--a-tree", default="", help="A's source tree (default: this one)")
    p.add_argument("--b-tree", default="", help="B's source tree (default: this one)")
    p.add_argument(
        "--a-env", action="append", default=[], metavar="KEY=VALUE", help="in A's processes"
    )
    p.add_argument(
        "--b-env", action="append", default=[], metavar="KEY=VALUE", help="in B's processes"
    )
    p.add_argument("--message", choices=MESSAGES, action="append", help="default: both")
    p.add_argument("--stations", type=int, default=100)
    p.add_argument("--pairs", type=int, default=6, help="pairs of windows (A B, B A, ...)")
    p.add_argument("--settle", type=float, default=1.0, help="s of a window not counted")
    p.add_argument("--window", type=float, default=3.0, help="s of a window counted")
    a = p.parse_args(argv)
    results = interleaved(
        a.database_url,
        Own(dict(map(_setting, a.a)), a.a_tree, env_pairs(a.a_env)),
        Own(dict(map(_setting, a.b)), a.b_tree, env_pairs(a.b_env)),
        messages=a.message or MESSAGES,
        stations=a.stations,
        pairs=a.pairs,
        settle=a.settle,
        window=a.window,
    )
    print(f"RecordMessages calls answered: {results['record_messages_rpcs']}")
    for message, r in results["messages"].items():
        print(f"{message}: B/A {r['ratio_msgs_per_s']} msg/s, {r['ratio_cpu_us_per_answer']} CPU")
        print(f"  pairs' B/A msg/s: {r['pair_ratios_msgs_per_s']}")
        for name in ("A", "B"):
            s = r[name]
            print(f"  {name} msg/s {s['msgs_per_s']}")
            print(f"  {name} CPU us/answer {s['cpu_us_per_answer']}")
            idle = s["idle_cores_while_other_measured"]
            print(f"  {name} idle while the other was measured (cores) {idle}")
            for proc, used in s["cpu_us_per_answer_by_process"].items():
                print(f"    {name} {proc} CPU us/answer {used}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
