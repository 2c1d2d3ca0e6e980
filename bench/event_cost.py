"""``python -m bench.event_cost``: CPU per TransactionEvent of each process of a mesh.

Starts a fresh mesh (SQLite, or PostgreSQL with ``--database-url``) pinned to the first CPU,
runs :mod:`bench.loadgen`'s closed-loop ``throughput`` scenario of TransactionEvents (Updated,
with meter values; ``make bench``'s ``throughput-tx``) on the second, and over a window in its
middle reads each process's CPU time (``/proc/<pid>/stat``, utime + stime) and the events
transaction_svc committed (its ``csms_group_commit_size`` metric): microseconds of CPU per event,
per process, and the events per second in the window. ``--profile PROCESS`` profiles that
process's main thread in the window (:mod:`bench.profiled`; ``PROCESS.prof`` in the current
folder; ``--sample``: its stack sampler instead of cProfile, ``PROCESS.samples.txt``).
``--threads PROCESS ...``: those processes' CPU per event by thread too ("main", the event loop;
"python", aiosqlite's; gRPC's own). ``--storm N``: a boot storm of N stations
instead, each process's CPU per station, and how device_svc batched it (stations per connect and
boot group commit, per ConnectStations and BootNotifications call). ``--rounds N``: N fresh
meshes one after the other, each figure per round. ``--heartbeats``: the scenario of Heartbeats
instead (``make bench``'s ``throughput-hb``), counted by the gateway's metrics;
``--message-log``: the station message log on. (For an A/B of the gateway's code or settings,
:mod:`bench.gateway_ab` runs both sides at the same moment.)

A PostgreSQL server's own CPU is not counted (not ours, and not pinned).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from bench.idle import SAMPLE_HELP, _Profiled, cpu_seconds
from bench.run import ID_TOKEN, ROOT, _cpu_sets, _create_id_token, _pinned
from deploy.mesh import Mesh, MeshSettings, free_port_range, on_free_ports

__all__ = [
    "calls_in",
    "gateway_calls",
    "load_mesh_settings",
    "main",
    "rpcs_answered",
    "stop_mesh",
    "throughput_load",
]

_TICKS = os.sysconf("SC_CLK_TCK")

_COMMITTED = re.compile(
    r'^csms_group_commit_size_(sum|count)\{name="transaction-events"\} (\S+)$', re.MULTILINE
)


def _scrape(port: int) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return resp.read().decode()  # type: ignore[no-any-return]


def calls_in(metrics: str, action: str) -> float:
    """CALLs of ``action`` a gateway received, from its metrics' text (0 when none yet)."""
    labels = {"action": action, "direction": "in", "type": "call"}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "csms_ocpp_frames_total" and sample.labels == labels:
                return float(sample.value)
    return 0.0


def rpcs_answered(metrics: str, method_suffix: str) -> float:
    """RPCs a service answered (any code) whose method ends with ``method_suffix``, from its
    metrics' text."""
    total = 0.0
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "csms_rpc_duration_seconds_count" and sample.labels.get(
                "method", ""
            ).endswith(method_suffix):
                total += sample.value
    return total


def gateway_calls(port: int, action: str) -> float:
    """CALLs of ``action`` the gateway whose metrics are on ``port`` received so far."""
    return calls_in(_scrape(port), action)


@contextlib.contextmanager
def throughput_load(
    port: int,
    stations: int,
    seconds: float,
    message: str,
    json_path: pathlib.Path,
    cpus: set[int] | None,
) -> Iterator[subprocess.Popen[bytes]]:
    """:mod:`bench.loadgen`'s closed-loop ``throughput`` scenario of ``message`` ("heartbeat" or
    "transaction-event") against the stations' ``port`` for ``seconds``, on ``cpus``; stopped on
    the way out if it still runs."""
    with _pinned(cpus):
        loadgen = subprocess.Popen(
            [
                sys.executable, "-m", "bench.loadgen",
                "--url", f"ws://127.0.0.1:{port}/ocpp",
                "--scenario", "throughput", "--stations", str(stations),
                "--duration", str(seconds),
                *(("--message", message) if message != "heartbeat" else ()),
                "--id-token", ID_TOKEN,
                "--quiet", "--no-plot", "--json", str(json_path),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        yield loadgen
    finally:
        if loadgen.poll() is None:
            loadgen.terminate()
            loadgen.wait(30)


def _committed(port: int) -> tuple[float, float]:
    """Events transaction_svc group-committed so far, and groups (its metrics)."""
    found = dict(_COMMITTED.findall(_scrape(port)))
    return float(found.get("sum", 0.0)), float(found.get("count", 0.0))


def _heartbeats(port: int) -> tuple[float, float]:
    """Heartbeats the gateway received so far (its metrics), and 1 (no groups)."""
    return gateway_calls(port, "Heartbeat"), 1.0


def _threads(pid: int) -> dict[str, float]:
    """CPU seconds of the process's threads so far, by thread name (the main thread: "main")."""
    spent: dict[str, float] = {}
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            name = "main" if task.name == str(pid) else (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            spent[name] = spent.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / _TICKS
    return spent


def load_mesh_settings(
    data_dir: pathlib.Path, database_url: str, metrics_base_port: int, **more: Any
) -> MeshSettings:
    """A measured mesh's settings: every port free, stations auto-registered and let in without
    credentials (as the load generator's are), metrics on from ``metrics_base_port`` (-1: a free
    range), PostgreSQL databases of a prefix of their own when ``database_url`` is one."""
    return on_free_ports(
        data_dir,
        database_url=database_url,
        database_prefix=f"csms_cost_{uuid.uuid4().hex[:8]}_",
        auto_register=True,
        allow_unsecured_stations=True,
        log_level="INFO",
        metrics_base_port=free_port_range(16) if metrics_base_port < 0 else metrics_base_port,
        **more,
    )


def stop_mesh(mesh: Mesh, database_url: str, data_dir: pathlib.Path) -> None:
    """Stop a measured mesh, drop its PostgreSQL databases if it had some, remove its files."""
    mesh.stop()
    if database_url:
        mesh.drop_databases(ignore_errors=True)
    shutil.rmtree(data_dir, ignore_errors=True)


def _round(a: argparse.Namespace, out: pathlib.Path) -> dict[str, float]:
    sut_cpus, gen_cpus = _cpu_sets("split")
    data_dir = pathlib.Path(tempfile.mkdtemp(prefix="csms-event-cost-"))
    settings = load_mesh_settings(
        data_dir, a.database_url, a.metrics_base_port, message_log=a.message_log
    )
    mesh = (_Profiled(a.profile, a.sample) if a.profile else Mesh)(settings, log_dir=data_dir)
    try:
        with _pinned(sut_cpus):
            mesh.start()
        pids = {p.name: p.popen.pid for p in mesh.procs if p.popen is not None}
        if a.storm:
            return _storm(a, out, settings, pids, gen_cpus)
        _create_id_token(settings.envoy_port, mesh.create_api_key("operator", "bench"))
        message = "heartbeat" if a.heartbeats else "transaction-event"
        duration = a.warmup + a.seconds + 3
        load = throughput_load(
            settings.gateway_port, a.stations, duration, message, out / "loadgen.json", gen_cpus
        )
        if a.heartbeats:
            metrics_port, counted = settings.metrics_port("gateway-1"), _heartbeats
        else:
            metrics_port, counted = settings.metrics_port("transaction"), _committed
        with load as loadgen:
            # The ramp (connections, boots, Started events), then the warm-up.
            deadline = time.monotonic() + 60
            while counted(metrics_port)[0] < 2 * a.stations and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(a.warmup)
            if a.profile:
                os.kill(pids[a.profile], signal.SIGUSR1)
            events0, cpu0 = counted(metrics_port), {n: cpu_seconds(p) for n, p in pids.items()}
            threads0 = {n: _threads(pids[n]) for n in a.threads}
            began = time.monotonic()
            time.sleep(a.seconds)
            events1, cpu1 = counted(metrics_port), {n: cpu_seconds(p) for n, p in pids.items()}
            threads1 = {n: _threads(pids[n]) for n in a.threads}
            elapsed = time.monotonic() - began
            if a.profile:
                os.kill(pids[a.profile], signal.SIGUSR2)
            loadgen.wait(a.seconds + 120)
    finally:
        stop_mesh(mesh, a.database_url, data_dir)
    events = events1[0] - events0[0]
    figures = {"events_per_s": events / elapsed}
    if not a.heartbeats:  # transaction_svc's groups (Heartbeats have none)
        figures["events_per_group"] = events / max(events1[1] - events0[1], 1)
    figures.update(_per_process(cpu0, cpu1, events))
    for proc in a.threads:
        for thread, spent in threads1[proc].items():
            used = spent - threads0[proc].get(thread, 0.0)
            if used > 0:
                figures[f"{proc}:{thread}_us"] = 1e6 * used / max(events, 1)
    return figures


def _storm(
    a: argparse.Namespace, out: pathlib.Path, settings: Any, pids: dict[str, int], cpus: Any
) -> dict[str, float]:
    """A boot storm of ``a.storm`` stations against the started mesh: each process's CPU from
    just before the load generator starts until it has seen them all Accepted, per station."""
    if a.profile:
        os.kill(pids[a.profile], signal.SIGUSR1)
    cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
    with _pinned(cpus):
        subprocess.run(
            [
                sys.executable, "-m", "bench.loadgen",
                "--url", f"ws://127.0.0.1:{settings.gateway_port}/ocpp",
                "--scenario", "bootstorm", "--stations", str(a.storm), "--timeout", "30",
                "--quiet", "--no-plot", "--json", str(out / "loadgen.json"),
            ],
            cwd=ROOT, stdout=subprocess.DEVNULL, timeout=300, check=True,
        )  # fmt: skip
    cpu1 = {n: cpu_seconds(p) for n, p in pids.items()}
    if a.profile:
        os.kill(pids[a.profile], signal.SIGUSR2)
    result = orjson.loads((out / "loadgen.json").read_bytes())
    figures = {
        "accepted": float(result["figures"]["accepted"]),
        "time_to_all_accepted_s": float(result["figures"]["time_to_all_accepted_s"]),
    }
    figures |= _storm_batching(_scrape(settings.metrics_port("device")))
    return figures | _per_process(cpu0, cpu1, a.storm)


def _storm_batching(metrics: str) -> dict[str, float]:
    """How device_svc's handshake and boot work was batched, from its metrics' text: items per
    group commit (``connect-station``, ``boot``) and per batch RPC call (ConnectStations,
    BootNotifications)."""
    groups: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name in ("csms_group_commit_size_sum", "csms_group_commit_size_count"):
                kind = sample.name.removeprefix("csms_group_commit_size_")
                groups.setdefault(sample.labels["name"], {})[kind] = sample.value
    figures = {}
    for name in ("connect-station", "boot"):
        got = groups.get(name, {})
        if got.get("count"):
            figures[f"{name}_per_group"] = got["sum"] / got["count"]
            figures[f"{name}_groups"] = got["count"]
    for rpc, item in (("ConnectStations", "connect-station"), ("BootNotifications", "boot")):
        calls = rpcs_answered(metrics, f"/{rpc}")
        if calls and groups.get(item, {}).get("sum"):
            figures[f"{rpc}_calls"] = calls
            figures[f"{item}_per_{rpc}_call"] = groups[item]["sum"] / calls
    return figures


def _per_process(cpu0: dict[str, float], cpu1: dict[str, float], count: float) -> dict[str, float]:
    """Each process's CPU microseconds per counted thing (``<name>_us``), and the mesh's."""
    figures = {f"{name}_us": 1e6 * (cpu1[name] - cpu0[name]) / max(count, 1) for name in cpu0}
    figures["mesh_us"] = sum(figures.values())
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.event_cost", description=__doc__.split("\n")[0]
    )
    p.add_argument("--database-url", default="", help="a PostgreSQL server (default: SQLite)")
    p.add_argument("--stations", type=int, default=100)
    p.add_argument("--seconds", type=float, default=10.0, help="the measured window")
    p.add_argument("--warmup", type=float, default=3.0, help="s after the ramp, before it")
    p.add_argument("--metrics-base-port", type=int, default=-1, help="default: a free one")
    p.add_argument("--rounds", type=int, default=1, help="fresh meshes, one after the other")
    p.add_argument(
        "--threads", nargs="*", default=[], metavar="PROCESS", help="per thread too (by name)"
    )
    p.add_argument(
        "--storm", type=int, default=0, metavar="N", help="a boot storm of N stations instead"
    )
    p.add_argument("--profile", metavar="PROCESS", default="", help="e.g. transaction_svc")
    p.add_argument("--sample", action="store_true", help=SAMPLE_HELP)
    p.add_argument(
        "--heartbeats", action="store_true", help="Heartbeats instead (counted by the gateway)"
    )
    p.add_argument("--message-log", action="store_true", help="the station message log on")
    a = p.parse_args(argv)
    if a.sample and not a.profile:
        p.error("--sample goes with --profile")
    rounds = []
    with tempfile.TemporaryDirectory(prefix="event-cost-") as tmp:
        for _ in range(a.rounds):
            rounds.append(_round(a, pathlib.Path(tmp)))
            print(orjson.dumps(rounds[-1]).decode(), file=sys.stderr, flush=True)
    backend = "PostgreSQL" if a.database_url else "SQLite"
    if a.storm:
        print(f"Boot storm of {a.storm} stations, {backend}: CPU per station")
    else:
        what = "Heartbeats" if a.heartbeats else "TransactionEvents"
        log = ", message log on" if a.message_log else ""
        print(f"{what}, {a.stations} stations closed loop, {backend}{log}, {a.seconds:.0f} s")
    for key in rounds[0]:
        values = " ".join(f"{r.get(key, 0.0):8.1f}" for r in rounds)
        print(f"  {key:<20} {values}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
