"""``python -m bench.gateway_ab``: two gateways of one mesh, A and B, under the same load at the
same moment: each one's CPU per message it received.

A shared machine's speed drifts by ±15% from one run to the next (docs/bench), more than most
changes to the gateway weigh, so an A/B of two runs, one after the other, shows the noise. Here
one mesh has two gateways behind Envoy; :mod:`bench.loadgen`'s closed-loop ``throughput``
scenario (Heartbeats, or TransactionEvents with ``--message transaction-event``) spreads its
stations over both, and over a window each gateway's CPU time (``/proc``, utime + stime) is
divided by the CALLs it received (its own ``csms_ocpp_frames_total``). Both share the mesh's CPU
at the same time, so a drift weighs on both alike. A/A runs (both alike) agreed within 2.5% on
a machine where single runs moved by 15%.

What A and B differ by:

* ``--a-tree DIR`` / ``--b-tree DIR``: the source tree the gateway runs (a ``git worktree`` of
  another commit, with ``gen`` in it or linked), first on its ``PYTHONPATH``, with
  ``PYTHONSAFEPATH=1`` so that the current folder does not come before it (``python -m`` puts
  it first otherwise, and both would run this tree);
* ``--a-env KEY=VALUE`` / ``--b-env KEY=VALUE`` (repeatable): set in that gateway's environment
  over what the launcher sets, e.g. ``--b-env CSMS_GATEWAY_MESSAGE_LOG=true``.

The mesh is pinned to the first CPU and the load generator to the second, as in ``make bench``;
SQLite unless ``--database-url``. Each round is a fresh mesh; the last line gives the rounds'
B/A ratios and their median.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field

from bench.event_cost import gateway_calls, load_mesh_settings, stop_mesh, throughput_load
from bench.idle import cpu_seconds
from bench.run import _cpu_sets, _create_id_token, _pinned
from deploy.mesh import Mesh

__all__ = ["TwoGateways", "env_pairs", "main", "with_tree"]

_SIDES = {"gateway-1": "A", "gateway-2": "B"}


def with_tree(env: dict[str, str], tree: str, own: dict[str, str]) -> None:
    """A process's ``env`` (changed in place) running ``tree`` ("": this one) first on its path,
    with ``own`` set over the launcher's; ``PYTHONSAFEPATH`` whether a tree is given or not, so
    that both sides of an A/B start alike (``python -m`` otherwise puts the current folder first,
    and a process given another tree would run this one)."""
    if tree:
        env["PYTHONPATH"] = f"{tree}:{tree}/gen"
    env["PYTHONSAFEPATH"] = "1"
    env.update(own)


def env_pairs(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"not KEY=VALUE: {pair!r}")
        env[key] = value
    return env


@dataclass
class TwoGateways(Mesh):
    """The launcher, with each gateway's own tree and environment."""

    # Per gateway (its name): its source tree ("": this one) and its own environment.
    sides: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)

    def _proc_env(
        self, prefix: str, values: dict[str, object], identity: str = ""
    ) -> dict[str, str]:
        env = super()._proc_env(prefix, values, identity)
        if identity in self.sides:
            with_tree(env, *self.sides[identity])
        return env


def _round(a: argparse.Namespace) -> dict[str, float]:
    sut_cpus, gen_cpus = _cpu_sets("split")
    data_dir = pathlib.Path(tempfile.mkdtemp(prefix="csms-gateway-ab-"))
    settings = load_mesh_settings(data_dir, a.database_url, -1, gateways=2)
    sides = {
        "gateway-1": (a.a_tree, env_pairs(a.a_env)),
        "gateway-2": (a.b_tree, env_pairs(a.b_env)),
    }
    mesh = TwoGateways(settings, log_dir=data_dir, sides=sides)
    action = "TransactionEvent" if a.message == "transaction-event" else "Heartbeat"
    try:
        with _pinned(sut_cpus):
            mesh.start()
        pids = {p.name: p.popen.pid for p in mesh.procs if p.popen is not None}
        _create_id_token(settings.envoy_port, mesh.create_api_key("operator", "bench"))
        ports = {g: settings.metrics_port(g) for g in _SIDES}
        duration = a.warmup + a.seconds + 3
        json_path = data_dir / "loadgen.json"
        with throughput_load(
            settings.gateway_port, a.stations, duration, a.message, json_path, gen_cpus
        ) as loadgen:
            time.sleep(a.warmup)
            calls0 = {g: gateway_calls(port, action) for g, port in ports.items()}
            cpu0 = {g: cpu_seconds(pids[g]) for g in _SIDES}
            time.sleep(a.seconds)
            calls1 = {g: gateway_calls(port, action) for g, port in ports.items()}
            cpu1 = {g: cpu_seconds(pids[g]) for g in _SIDES}
            loadgen.wait(a.seconds + 120)
    finally:
        stop_mesh(mesh, a.database_url, data_dir)
    figures: dict[str, float] = {}
    for gateway, side in _SIDES.items():
        calls = calls1[gateway] - calls0[gateway]
        figures[f"{side}_calls"] = calls
        figures[f"{side}_us"] = 1e6 * (cpu1[gateway] - cpu0[gateway]) / max(calls, 1)
    figures["B/A"] = figures["B_us"] / figures["A_us"] if figures["A_us"] else 0.0
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.gateway_ab", description=__doc__.split("\n")[0]
    )
    p.add_argument("--a-tree", default="", help="gateway A's source tree (default: this one)")
    p.add_argument("--b-tree", default="", help="gateway B's source tree (default: this one)")
    p.add_argument("--a-env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--b-env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--message", choices=("heartbeat", "transaction-event"), default="heartbeat")
    p.add_argument("--stations", type=int, default=100, help="over both gateways")
    p.add_argument("--seconds", type=float, default=10.0, help="the measured window")
    p.add_argument("--warmup", type=float, default=5.0, help="s from the load's start")
    p.add_argument("--rounds", type=int, default=3, help="fresh meshes, one after the other")
    p.add_argument("--database-url", default="", help="a PostgreSQL server (default: SQLite)")
    a = p.parse_args(argv)
    ratios = []
    for n in range(a.rounds):
        r = _round(a)
        ratios.append(r["B/A"])
        print(
            f"round {n + 1}: A {r['A_calls']:,.0f} calls {r['A_us']:.1f} us, "
            f"B {r['B_calls']:,.0f} calls {r['B_us']:.1f} us: B/A {r['B/A']:.3f}",
            flush=True,
        )
    listed = " ".join(f"{x:.3f}" for x in ratios)
    print(f"B/A (CPU per {a.message}): {listed}; median {statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
