"""``python -m bench.run``: the mesh against the two baselines, every scenario, one table.

Starts, one after the other, a fresh mesh on SQLite, a fresh mesh on PostgreSQL (databases with
a unique prefix, dropped afterwards), ``bench.baseline_ocpp`` and ``bench.baseline_raw``, each on
free loopback ports, and runs every scenario of :mod:`bench.loadgen` against each. The load
generator is its own process. On a machine with 2 or more cores the system under test (all
its processes) is pinned to CPU 0 and the load generator to CPU 1 (``--cpus split``), so both
get one core whatever they are; ``--cpus shared`` pins nothing. The PostgreSQL server is not
ours and is never pinned.

The station message log's cost (``message-log``): the Heartbeat and TransactionEvent closed
loops on two meshes at once, the log off and on, loaded in turns, ``--message-log-pairs`` pairs
of windows (:mod:`bench.interleaved`: a drift of the shared machine's speed weighs on both
sides alike); its target is on/off >= 0.9x (issue 20).

Prints one table (every figure per target, and mesh/baseline-ocpp ratios), checks the issue's
targets (PASS/MISS: a measurement, never a failure), writes ``summary.json``, ``summary.txt`` and
per scenario a JSON and a PNG under ``--out``. Exits non-zero only when the harness itself
failed (a target that could not be started, a load generator that crashed).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bench.fleet import FLEET, RECONNECT, fleet_lines, fleet_targets, run_fleet
from bench.loadgen import raise_fd_limit
from deploy.mesh import Mesh, MeshSettings, free_port, on_free_ports

__all__ = ["main", "run_bench", "Scenario", "plan", "TARGETS"]

ROOT = pathlib.Path(__file__).resolve().parents[1]
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432"
ID_TOKEN = "BENCH0001"
TARGETS = ("mesh-sqlite", "mesh-postgresql", "baseline-ocpp", "baseline-raw")


@dataclass(frozen=True)
class Scenario:
    name: str  # the result's name: connect, bootstorm, steady, throughput-hb, throughput-tx
    args: tuple[str, ...]  # the loadgen arguments
    budget_s: float  # a hard bound on the load generator's run
    # Run against the meshes only (the baselines speak OCPP 2.0.1 only: the 1.6 scenarios).
    meshes_only: bool = False


def plan(quick: bool, scale: float = 1.0) -> list[Scenario]:
    """The scenarios and their sizes: the issue's full sizes (station counts of the first
    three times ``scale``), or, ``quick``, seconds with 20 stations."""
    if quick:
        count, d = "20", "1"
        return [
            Scenario("connect", ("--scenario", "connect", "--stations", count, "--ramp", "200",
                                 "--duration", d, "--heartbeat-interval", "0.5",
                                 "--timeout", "10"), 40),
            Scenario("bootstorm", ("--scenario", "bootstorm", "--stations", count,
                                   "--timeout", "10"), 40),
            Scenario("steady", ("--scenario", "steady", "--stations", count, "--ramp", "200",
                                "--duration", d, "--tx-interval", "0.5",
                                "--heartbeat-interval", "0.5", "--timeout", "10"), 40),
            Scenario("throughput-hb", ("--scenario", "throughput", "--stations", count,
                                       "--duration", d, "--timeout", "10"), 40),
            Scenario("throughput-tx", ("--scenario", "throughput", "--stations", count,
                                       "--duration", d, "--message", "transaction-event",
                                       "--timeout", "10"), 40),
            Scenario("throughput-hb16", ("--scenario", "throughput", "--stations", count,
                                         "--duration", d, "--protocol", "ocpp1.6",
                                         "--timeout", "10"), 40, meshes_only=True),
            Scenario("throughput-mv16", ("--scenario", "throughput", "--stations", count,
                                         "--duration", d, "--message", "transaction-event",
                                         "--protocol", "ocpp1.6", "--timeout", "10"), 40,
                     meshes_only=True),
        ]  # fmt: skip

    def n(full: int) -> str:
        return str(max(1, round(full * scale)))

    return [
        Scenario("connect", ("--scenario", "connect", "--stations", n(10_000), "--ramp", "500",
                             "--concurrency", "200", "--duration", "5",
                             "--heartbeat-interval", "60"), 400),
        Scenario("bootstorm", ("--scenario", "bootstorm", "--stations", n(5_000),
                               "--timeout", "30"), 300),
        Scenario("steady", ("--scenario", "steady", "--stations", n(2_000), "--ramp", "200",
                            "--concurrency", "200", "--duration", "20", "--tx-interval", "10",
                            "--heartbeat-interval", "60"), 400),
        Scenario("throughput-hb", ("--scenario", "throughput", "--stations", "100",
                                   "--duration", "15"), 150),
        Scenario("throughput-tx", ("--scenario", "throughput", "--stations", "100",
                                   "--duration", "15", "--message", "transaction-event"), 150),
        # OCPP 1.6J stations: Heartbeat, and MeterValues of a transaction (a TransactionEvent
        # Updated once translated), beside 2.0.1's.
        Scenario("throughput-hb16", ("--scenario", "throughput", "--stations", "100",
                                     "--duration", "15", "--protocol", "ocpp1.6"), 150,
                 meshes_only=True),
        Scenario("throughput-mv16", ("--scenario", "throughput", "--stations", "100",
                                     "--duration", "15", "--message", "transaction-event",
                                     "--protocol", "ocpp1.6"), 150, meshes_only=True),
    ]  # fmt: skip


# -- CPU split -------------------------------------------------------------------------------------


def _cpu_sets(mode: str) -> tuple[set[int] | None, set[int] | None]:
    """(CPUs of the system under test, CPUs of the load generator); None: not pinned."""
    cpus = sorted(os.sched_getaffinity(0))
    if mode != "split" or len(cpus) < 2:
        return None, None
    return {cpus[0]}, {cpus[1]}


@contextlib.contextmanager
def _pinned(cpus: set[int] | None) -> Iterator[None]:
    """Processes started inside inherit ``cpus`` (the calling thread's mask)."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


# -- systems under test ---------------------------------------------------------------------------


@contextlib.contextmanager
def own_mesh(name: str, database_url: str, cpus_mode: str) -> Iterator[Mesh]:
    """A fresh mesh for one measurement script: free loopback ports, SQLite (or PostgreSQL at
    ``database_url``, its databases dropped afterwards), one gateway listening itself, stations
    registered on first connect; with ``cpus_mode`` "split" the mesh on the first CPU and the
    calling process (the load) on the second."""
    sut_cpus, gen_cpus = _cpu_sets(cpus_mode)
    with tempfile.TemporaryDirectory(prefix=f"csms-{name}-") as tmp:
        settings = on_free_ports(
            pathlib.Path(tmp),
            database_url=database_url,
            database_prefix=f"csms_{name.replace('-', '_')}_{os.getpid()}_",
            auto_register=True,
            allow_unsecured_stations=True,
        )
        mesh = Mesh(settings, log_dir=pathlib.Path(tmp))
        with _pinned(sut_cpus):
            mesh.start()
        try:
            if gen_cpus is not None:
                os.sched_setaffinity(0, gen_cpus)
            yield mesh
        finally:
            mesh.stop()
            if database_url:
                mesh.drop_databases(ignore_errors=True)


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"port {port} did not open")


@dataclass
class Target:
    """A started system under test: where stations connect and which pid holds them."""

    name: str
    url: str
    pid: int
    # Every process of the system under test (the settling between scenarios watches them).
    pids: tuple[int, ...]
    # Their names, in the order of pids (a mesh's: gateway-1, device_svc, ...).
    names: tuple[str, ...] = ()


@contextlib.contextmanager
def _baseline(
    name: str, module: str, cpus: set[int] | None, log_dir: pathlib.Path
) -> Iterator[Target]:
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"{name}.log").open("ab") as log, _pinned(cpus):
        proc = subprocess.Popen(
            [sys.executable, "-m", module, "--port", str(port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_port(port, proc)
        yield Target(name, f"ws://127.0.0.1:{port}/ocpp", proc.pid, (proc.pid,))
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def _mesh(
    backend: str,
    postgres_url: str,
    cpus: set[int] | None,
    log_dir: pathlib.Path,
) -> Iterator[Target]:

    data_dir = pathlib.Path(tempfile.mkdtemp(prefix=f"csms-bench-{backend}-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    # Fields other work may add: free ports for them where the launcher supports it.
    optional: dict[str, Any] = {
        "gateway_grpc_port": 0,
        "gateway_internal_port": 0,
        # Load stations connect without credentials (security profile 0), as auto-registered.
        "allow_unsecured_stations": True,
    }
    # Every port free (deploy.mesh.on_free_ports: the one list of them), so that meshes of
    # several runs at once never meet on one (the OCSP responder's 8088 did).
    settings = on_free_ports(
        data_dir,
        **{k: v for k, v in optional.items() if k in MeshSettings.model_fields},
        database_url=postgres_url if backend == "postgresql" else "",
        database_prefix=f"csms_bench_{uuid.uuid4().hex[:8]}_",
        # Load stations are not registered one by one through REST: the gateway lets them in.
        auto_register=True,
        log_level="INFO",
    )
    mesh = Mesh(settings, log_dir=log_dir)
    try:
        with _pinned(cpus):
            mesh.start()
        # The management API may want a key (when the launcher can make one): an operator's.
        make_key = getattr(mesh, "create_api_key", None)
        key = make_key("operator", "bench") if make_key is not None else None
        _create_id_token(settings.envoy_port, key)
        # One gateway holds every station: its RSS is the one measured.
        gateway = next(p for p in mesh.procs if p.name.startswith("gateway"))
        assert gateway.popen is not None
        yield Target(
            f"mesh-{backend}",
            f"ws://127.0.0.1:{settings.gateway_port}/ocpp",
            gateway.popen.pid,
            tuple(p.popen.pid for p in mesh.procs if p.popen is not None),
            tuple(p.name for p in mesh.procs if p.popen is not None),
        )
    finally:
        mesh.stop()
        mesh.drop_databases(ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)


def _create_id_token(envoy_port: int, api_key: str | None) -> None:
    """The token the stations present (Authorize, TransactionEvent Started) exists."""
    headers = {"content-type": "application/json"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    req = urllib.request.Request(
        f"http://127.0.0.1:{envoy_port}/v1/idTokens",
        data=orjson.dumps({"idToken": ID_TOKEN, "type": "ISO14443"}),
        headers=headers,
        method="POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    with opener.open(req, timeout=10) as resp:
        resp.read()


# -- running --------------------------------------------------------------------------------------


def _cpu_seconds(pids: Sequence[int]) -> float:
    """CPU time (user + system) the processes have used so far; 0 for one that is gone."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15
    return total / os.sysconf("SC_CLK_TCK")


def _settle(
    pids: Sequence[int], at_least_s: float, quiet_share: float = 0.1, limit_s: float = 60.0
) -> float:
    """Wait ``at_least_s``, then until the system under test is quiet (its processes together
    use less than ``quiet_share`` of a core over half a second; at most ``limit_s``), so that a
    scenario does not pay for the last one's tail: the disconnects of 10,000 stations, their
    last writes. The seconds waited."""
    started = time.monotonic()
    time.sleep(at_least_s)
    window = 0.5
    before = _cpu_seconds(pids)
    while time.monotonic() - started < limit_s:
        time.sleep(window)
        now = _cpu_seconds(pids)
        if now - before < quiet_share * window:
            break
        before = now
    return time.monotonic() - started


def _run_scenario(
    target: Target,
    sc: Scenario,
    out: pathlib.Path,
    cpus: set[int] | None,
    quiet: bool,
) -> dict[str, Any]:
    path = out / target.name / f"{sc.name}.json"
    argv = [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--url",
        target.url,
        *sc.args,
        "--id-token",
        ID_TOKEN,
        "--label",
        f"{target.name} {sc.name}",
        "--json",
        str(path),
        "--no-plot",  # drawn here: one matplotlib import per run, not one per scenario
    ]
    if sc.name == "connect":
        argv += ["--measure-pid", str(target.pid)]
    if quiet:
        argv.append("--quiet")
    print(f"== {target.name}: {sc.name}", file=sys.stderr, flush=True)
    before = [_cpu_seconds((pid,)) for pid in target.pids]
    with _pinned(cpus):
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE)
    try:
        stdout, _ = proc.communicate(timeout=sc.budget_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"failed": f"load generator exceeded its {sc.budget_s:.0f} s budget"}
    if proc.returncode != 0:
        return {"failed": f"load generator exited with {proc.returncode}"}
    if not quiet:
        sys.stderr.write(stdout.decode())
    from bench.plot import plot_timeline

    result: dict[str, Any] = orjson.loads(path.read_bytes())
    # CPU the system under test spent per answered message (every process of it, the scenario's
    # ramp and teardown included; not a database server's): steadier from run to run on a shared
    # machine than throughput, which moves with whatever else the machine does.
    answered = result.get("answered") or 0
    if answered:
        spent = [_cpu_seconds((pid,)) - b for pid, b in zip(target.pids, before, strict=True)]
        figures = result.setdefault("figures", {})
        figures["cpu_us_per_answer"] = round(1e6 * sum(spent) / answered, 1)
        if target.names:  # where it went, process by process
            figures["cpu_us_per_answer_by_process"] = {
                name: round(1e6 * s / answered, 1)
                for name, s in zip(target.names, spent, strict=True)
            }
    result["png"] = str(plot_timeline(result, path.with_suffix(".png")))
    result.pop("timeline", None)  # in the per-scenario file; the summary stays small
    result["json"] = str(path)
    return result


def run_bench(
    quick: bool = False,
    backends: Sequence[str] = ("sqlite", "postgresql"),
    baselines: Sequence[str] = ("ocpp", "raw"),
    out: pathlib.Path = ROOT / "bench" / "results",
    postgres_url: str = POSTGRES_URL,
    cpus_mode: str = "split",
    quiet: bool = False,
    settle_s: float | None = None,
    scale: float = 1.0,
    only: Sequence[str] = (),
    message_log_pairs: int = 8,
) -> dict[str, Any]:
    """Run every scenario against every target; the summary (also written to ``out``)."""
    out.mkdir(parents=True, exist_ok=True)
    # The systems under test inherit it: a gateway holding 10,000 stations needs the fds.
    raise_fd_limit()
    sut_cpus, gen_cpus = _cpu_sets(cpus_mode)
    scenarios = [sc for sc in plan(quick, scale) if not only or sc.name in only]
    settle = settle_s if settle_s is not None else (0.2 if quick else 1.0)
    results: dict[str, dict[str, Any]] = {}
    started = time.monotonic()

    def starters() -> Iterator[tuple[str, contextlib.AbstractContextManager[Target]]]:
        for b in backends:
            yield f"mesh-{b}", _mesh(b, postgres_url, sut_cpus, out / "logs" / f"mesh-{b}")
        for b in baselines:
            yield (
                f"baseline-{b}",
                _baseline(f"baseline-{b}", f"bench.baseline_{b}", sut_cpus, out / "logs"),
            )

    for name, starter in starters() if scenarios else ():
        results[name] = {}
        try:
            with starter as target:
                for sc in scenarios:
                    if sc.meshes_only and not name.startswith("mesh-"):
                        continue
                    results[name][sc.name] = _run_scenario(target, sc, out, gen_cpus, quiet)
                    _settle(target.pids, settle)
        except Exception as exc:  # a target that cannot start is reported, the rest still run
            results[name]["_failed"] = f"{type(exc).__name__}: {exc}"
    load_manager: dict[str, Any] = {}
    if not only or LOAD_MANAGER in only:
        for b in backends:
            load_manager[f"mesh-{b}"] = _load_manager(b, postgres_url, quick, cpus_mode, out)
    files: dict[str, Any] = {}
    if not only or FILES in only:
        files = _files(quick, cpus_mode, out)
    message_log: dict[str, Any] = {}
    if not only or MESSAGE_LOG in only:
        for b in backends:
            message_log[f"mesh-{b}"] = _message_log_ab(
                b, postgres_url, quick, message_log_pairs, (sut_cpus, gen_cpus), out
            )
    fleet: dict[str, Any] = {}
    if not only or FLEET in only or RECONNECT in only:
        # One fleet per backend; the reconnect storm, when asked for, runs within it.
        storm = not only or RECONNECT in only
        for b in backends:
            fleet[f"mesh-{b}"] = run_fleet(b, postgres_url, quick, out, quiet, scale, storm)
    summary = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "cpu_split": cpus_mode if sut_cpus else "none"},
        "quick": quick,
        "scale": scale,
        "command": " ".join(["python -m bench.run", *sys.argv[1:]]),
        "wall_s": round(time.monotonic() - started, 1),
        "scenarios": {sc.name: list(sc.args) for sc in scenarios},
        "results": results,
        "load_manager": load_manager,
        "files": files,
        "message_log": message_log,
        "fleet": fleet,
    }
    rows = figures(results)
    summary["table"] = rows
    summary["targets"] = (
        check_targets(rows) + message_log_targets(message_log) + fleet_targets(fleet)
    )
    text = render(summary)
    summary["harness_failures"] = (
        harness_failures(results)
        + [
            f"{mesh} {MESSAGE_LOG}: {r['failed']}"
            for mesh, r in message_log.items()
            if "failed" in r
        ]
        + [f"{mesh} {FLEET}: {r['failed']}" for mesh, r in fleet.items() if "failed" in r]
    )
    (out / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    (out / "summary.txt").write_text(text + "\n")
    print(text, flush=True)
    return summary


def harness_failures(results: dict[str, dict[str, Any]]) -> list[str]:
    """Every target or scenario that produced no numbers, with why."""
    bad = []
    for target, by_sc in results.items():
        for sc, r in by_sc.items():
            if sc == "_failed":
                bad.append(f"{target}: {r}")
            elif "failed" in r:
                bad.append(f"{target} {sc}: {r['failed']}")
    return bad


# -- the table ------------------------------------------------------------------------------------


def _get(r: dict[str, Any] | None, *path: str) -> Any:
    for key in path:
        if not isinstance(r, dict) or key not in r:
            return None
        r = r[key]
    return r


# (row label, scenario, path into its result)
ROWS: list[tuple[str, str, tuple[str, ...]]] = [
    ("connect: stations booted", "connect", ("figures", "booted")),
    ("connect: connect+boot rate /s", "connect", ("figures", "connect_rate_per_s")),
    ("connect: RSS per connection KiB", "connect", ("figures", "rss_per_connection_kib")),
    ("connect: Heartbeat p99 ms", "connect", ("latency", "Heartbeat", "p99_ms")),
    ("connect: errors", "connect", ("error_total",)),
    ("bootstorm: accepted", "bootstorm", ("figures", "accepted")),
    ("bootstorm: time to all Accepted s", "bootstorm", ("figures", "time_to_all_accepted_s")),
    ("bootstorm: connect+boot p99 ms", "bootstorm", ("figures", "ready_p99_ms")),
    ("bootstorm: errors", "bootstorm", ("error_total",)),
    ("steady: in transaction", "steady", ("figures", "in_transaction")),
    ("steady: TxEvent Updated /s", "steady", ("figures", "tx_updated_per_s")),
    ("steady: TxEvent Updated p50 ms", "steady", ("latency", "TransactionEvent.Updated", "p50_ms")),
    ("steady: TxEvent Updated p99 ms", "steady", ("latency", "TransactionEvent.Updated", "p99_ms")),
    ("steady: Heartbeat p50 ms", "steady", ("latency", "Heartbeat", "p50_ms")),
    ("steady: Heartbeat p99 ms", "steady", ("latency", "Heartbeat", "p99_ms")),
    ("steady: p99 ms (max of both)", "steady", ("figures", "steady_p99_ms")),
    ("steady: errors", "steady", ("error_total",)),
    ("throughput: Heartbeat msg/s", "throughput-hb", ("figures", "msgs_per_s")),
    ("throughput: Heartbeat p99 ms", "throughput-hb", ("latency", "Heartbeat", "p99_ms")),
    ("throughput: errors (hb)", "throughput-hb", ("error_total",)),
    ("throughput: CPU us per Heartbeat", "throughput-hb", ("figures", "cpu_us_per_answer")),
    ("throughput: TxEvent msg/s", "throughput-tx", ("figures", "msgs_per_s")),
    (
        "throughput: TxEvent p99 ms",
        "throughput-tx",
        ("latency", "TransactionEvent.Updated", "p99_ms"),
    ),
    ("throughput: errors (tx)", "throughput-tx", ("error_total",)),
    ("throughput: CPU us per TxEvent", "throughput-tx", ("figures", "cpu_us_per_answer")),
    ("throughput: 1.6 Heartbeat msg/s", "throughput-hb16", ("figures", "msgs_per_s")),
    ("throughput: 1.6 Heartbeat p99 ms", "throughput-hb16", ("latency", "Heartbeat", "p99_ms")),
    ("throughput: errors (1.6 hb)", "throughput-hb16", ("error_total",)),
    ("throughput: 1.6 MeterValues msg/s", "throughput-mv16", ("figures", "msgs_per_s")),
    (
        "throughput: 1.6 MeterValues p99 ms",
        "throughput-mv16",
        ("latency", "MeterValues.Updated", "p99_ms"),
    ),
    ("throughput: errors (1.6 mv)", "throughput-mv16", ("error_total",)),
    ("TxEvents sent (all)", "*", ("transaction_events", "sent")),
    ("TxEvents acknowledged (all)", "*", ("transaction_events", "acknowledged")),
]


def figures(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per figure: its value for every target that ran."""
    rows = []
    for label, sc, path in ROWS:
        row: dict[str, Any] = {"figure": label}
        for target, by_sc in results.items():
            if sc == "*":
                values = [_get(r, *path) for r in by_sc.values() if isinstance(r, dict)]
                nums = [v for v in values if isinstance(v, int | float)]
                row[target] = sum(nums) if nums else None
            else:
                row[target] = _get(by_sc.get(sc), *path)
        rows.append(row)
    return rows


def _row(rows: list[dict[str, Any]], label: str) -> dict[str, Any]:
    return next(r for r in rows if r["figure"] == label)


def check_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets for each mesh target: PASS, MISS or n/a (not measured)."""
    base_hb = _row(rows, "throughput: Heartbeat msg/s").get("baseline-ocpp")
    checks = []
    meshes = [t for t in rows[0] if t.startswith("mesh-")]
    for mesh in meshes:
        hb = _row(rows, "throughput: Heartbeat msg/s").get(mesh)
        tx = _row(rows, "throughput: TxEvent msg/s").get(mesh)
        rss = _row(rows, "connect: RSS per connection KiB").get(mesh)
        accepted = _row(rows, "bootstorm: accepted").get(mesh)
        storm_p99 = _row(rows, "bootstorm: connect+boot p99 ms").get(mesh)
        storm_s = _row(rows, "bootstorm: time to all Accepted s").get(mesh)
        all_ok = storm_s is not None
        steady = _row(rows, "steady: p99 ms (max of both)").get(mesh)
        raw_storm_s = _row(rows, "bootstorm: time to all Accepted s").get("baseline-raw")
        storm_ratio = storm_s / raw_storm_s if storm_s is not None and raw_storm_s else None

        def ratio(v: Any) -> float | None:
            return v / base_hb if v is not None and base_hb else None

        for name, measured, ok in [
            ("Heartbeat msg/s >= 1.5x baseline-ocpp", ratio(hb), _ge(ratio(hb), 1.5)),
            ("TxEvent msg/s >= 0.5x baseline-ocpp Heartbeat", ratio(tx), _ge(ratio(tx), 0.5)),
            # Issue 21's, raised from issue 6's: both printed, each with its own verdict.
            ("TxEvent msg/s >= 0.75x baseline-ocpp Heartbeat", ratio(tx), _ge(ratio(tx), 0.75)),
            (
                "boot storm time to all Accepted <= 1.3x baseline-raw",
                storm_ratio,
                _le(storm_ratio, 1.3),
            ),
            ("gateway RSS per idle connection <= 20 KiB", rss, _le(rss, 20)),
            (
                "boot storm all Accepted, p99 < 5 s",
                storm_p99,
                None if accepted is None else (all_ok and _le(storm_p99, 4999.999)),
            ),
            ("steady fleet p99 < 50 ms", steady, _le(steady, 49.999)),
        ]:
            verdict = "n/a" if ok is None else ("PASS" if ok else "MISS")
            checks.append({"target": mesh, "check": name, "measured": measured, "verdict": verdict})
    return checks


def _ge(v: float | None, limit: float) -> bool | None:
    return None if v is None else v >= limit


def _le(v: float | None, limit: float) -> bool | None:
    return None if v is None else v <= limit


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    """The first cell left-aligned, the numbers right-aligned."""
    return "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


LOAD_MANAGER = "load-manager"
FILES = "files"
MESSAGE_LOG = "message-log"


def _files(quick: bool, cpus_mode: str, out: pathlib.Path) -> dict[str, Any]:
    """bench.files on a mesh of its own: 50 MiB (5 quick) each way, the peak RSS growth."""
    path = out / "files.json"
    args = [sys.executable, "-m", "bench.files", "--cpus", cpus_mode, "--json", str(path)]
    args += ["--mib", "5" if quick else "50"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0 or not path.exists():
        return {"failed": (done.stderr or done.stdout).strip()[-2000:]}
    return {"transfers": orjson.loads(path.read_bytes())}


def _files_lines(files: dict[str, Any]) -> list[str]:
    if "failed" in files:
        return [f"  FAILED {FILES}: {files['failed']}"]
    lines = []
    for r in files["transfers"]:
        growth = ", ".join(f"{k} +{v} MiB" for k, v in r["peak_rss_growth_mib"].items())
        lines.append(
            f"  {r['transfer']}: {r['mib']} MiB in {r['seconds']} s ({r['mib_per_s']} MiB/s), "
            f"sha256 {'ok' if r['sha256_ok'] else 'WRONG'}, peak RSS {growth}"
        )
    return lines


# The station message log's cost: on/off throughput of these, target (issue 20).
MESSAGE_LOG_SCENARIOS = {"heartbeat": "throughput-hb", "transaction-event": "throughput-tx"}
MESSAGE_LOG_TARGET = 0.9


def _message_log_ab(
    backend: str,
    postgres_url: str,
    quick: bool,
    pairs: int,
    cpus: tuple[set[int] | None, set[int] | None],
    out: pathlib.Path,
) -> dict[str, Any]:
    """The Heartbeat and TransactionEvent closed loops on two meshes at once, the station
    message log off (A) and on (B), loaded in turns window by window (:mod:`bench.interleaved`:
    a drift of the shared machine's speed weighs on both alike): per scenario each side's
    windows and the on/off ratios."""
    from bench.interleaved import message_log_interleaved  # here: it imports this module

    path = out / f"message-log-{backend}"
    path.mkdir(parents=True, exist_ok=True)
    try:
        measured = message_log_interleaved(
            postgres_url if backend == "postgresql" else "", quick, pairs, cpus, path
        )
    except Exception as exc:
        return {"failed": f"{type(exc).__name__}: {exc}"}
    return {
        "pairs": pairs,
        "scenarios": {MESSAGE_LOG_SCENARIOS[m]: r for m, r in measured["messages"].items()},
        "record_messages_rpcs": measured["record_messages_rpcs"],
    }


def message_log_targets(message_log: dict[str, Any]) -> list[dict[str, Any]]:
    """The message log's target per mesh: throughput with it on >= 0.9x of it off."""
    checks = []
    for mesh, r in message_log.items():
        for sc_name, label in (("throughput-hb", "Heartbeat"), ("throughput-tx", "TxEvent")):
            measured = _get(r, "scenarios", sc_name, "ratio_msgs_per_s")
            ok = _ge(measured, MESSAGE_LOG_TARGET)
            checks.append(
                {
                    "target": mesh,
                    "check": f"{label} msg/s message log on >= {MESSAGE_LOG_TARGET}x off",
                    "measured": measured,
                    "verdict": "n/a" if ok is None else ("PASS" if ok else "MISS"),
                }
            )
    return checks


def _message_log_lines(summary: dict[str, Any]) -> list[str]:
    lines = []
    for mesh, r in summary.get("message_log", {}).items():
        if "failed" in r:
            lines.append(f"  FAILED {mesh} {MESSAGE_LOG}: {r['failed']}")
            continue
        for sc_name, m in r["scenarios"].items():
            pairs = m["pair_ratios_msgs_per_s"]
            lines.append(
                f"  {mesh} {sc_name}: on/off {_fmt(m['ratio_msgs_per_s'])}x msg/s "
                f"(pairs {_fmt(min(pairs))}-{_fmt(max(pairs))}), "
                f"{_fmt(m['ratio_cpu_us_per_answer'])}x CPU per answer"
            )
            for side, mode in (("A", "off"), ("B", "on")):
                rates = " / ".join(_fmt(round(v)) for v in m[side]["msgs_per_s"])
                cpu = " / ".join(_fmt(v) for v in m[side]["cpu_us_per_answer"])
                idle = max(m[side]["idle_cores_while_other_measured"], default=0.0)
                lines.append(
                    f"    {mode:<3} msg/s {rates}; CPU us/answer {cpu}; "
                    f"idle while the other was measured <= {_fmt(idle)} core"
                )
    return lines


def _load_manager(
    backend: str, postgres_url: str, quick: bool, cpus_mode: str, out: pathlib.Path
) -> dict[str, Any]:
    """bench.load_manager on a mesh of its own: the time from a transaction start (and end) to
    every affected station of a 200-EVSE site holding its new limit."""
    path = out / f"load_manager-{backend}.json"
    args = [sys.executable, "-m", "bench.load_manager", "--cpus", cpus_mode, "--json", str(path)]
    if backend == "postgresql":
        args += ["--database-url", postgres_url]
    if quick:
        args += ["--evses", "20", "--charging", "10", "--runs", "2"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0 or not path.exists():
        return {"failed": (done.stderr or done.stdout).strip()[-2000:]}
    result: dict[str, Any] = orjson.loads(path.read_bytes())
    return result


def _load_manager_lines(summary: dict[str, Any]) -> list[str]:
    lines = []
    for target, r in summary.get("load_manager", {}).items():
        if "failed" in r:
            lines.append(f"  FAILED {target} {LOAD_MANAGER}: {r['failed']}")
            continue
        for what in ("start", "end"):
            ms = sorted(v * 1000 for v in r[f"{what}_s"])
            lines.append(
                f"  {target} {LOAD_MANAGER}: a transaction {what}s on a site of {r['evses']} "
                f"EVSEs ({r['charging']} charging): the last station has its new limit after "
                f"{ms[len(ms) // 2]:.0f} ms (median of {len(ms)}; max {ms[-1]:.0f} ms; "
                f"{max(r[f'{what}_profiles'])} TxProfiles)"
            )
    return lines


def render(summary: dict[str, Any]) -> str:
    """The printed table: figures per target, mesh/baseline-ocpp ratios, target verdicts."""
    rows = summary["table"]
    targets = [t for t in TARGETS if t in summary["results"]]
    ratios = [t for t in targets if t.startswith("mesh-") and "baseline-ocpp" in targets]
    size = "quick" if summary["quick"] else f"full sizes x{summary['scale']}"
    head = ["figure", *targets, *(f"{t.removeprefix('mesh-')}/ocpp" for t in ratios)]
    body = []
    for row in rows:
        cells = [row["figure"], *(_fmt(row.get(t)) for t in targets)]
        for t in ratios:
            a, b = row.get(t), row.get("baseline-ocpp")
            ok = isinstance(a, int | float) and isinstance(b, int | float) and b
            cells.append(f"{a / b:.2f}x" if ok and not isinstance(a, bool) else "-")
        body.append(cells)
    widths = [max(len(str(r[i])) for r in [head, *body]) for i in range(len(head))]
    lines = [
        f"bench ({size}) — {summary['when']} — "
        f"{summary['machine']['cpus']} CPUs, split: {summary['machine']['cpu_split']} — "
        f"{summary['wall_s']} s",
    ]
    if targets:  # none when only the scripts of their own ran (--scenarios message-log, ...)
        lines += [_line(head, widths), *(_line(cells, widths) for cells in body)]
    if summary.get("load_manager"):
        lines.append("")
        lines.append("site load manager (bench.load_manager, a mesh of its own per backend):")
        lines.extend(_load_manager_lines(summary))
    if summary.get("files"):
        lines.append("")
        lines.append("big files (bench.files, a mesh of its own, SQLite):")
        lines.extend(_files_lines(summary["files"]))
    if summary.get("message_log"):
        lines.append("")
        lines.append(
            "station message log (bench.interleaved: two meshes, off and on, loaded in turns;"
            " on/off of the windows' means):"
        )
        lines.extend(_message_log_lines(summary))
    if summary.get("fleet"):
        lines.append("")
        lines.append(f"{FLEET} (bench.fleet, a mesh of its own per backend):")
        lines.extend(fleet_lines(summary["fleet"]))
    lines.append("")
    lines.append("targets (a MISS is a measurement, not a failure):")
    for c in summary["targets"]:
        lines.append(f"  {c['verdict']:<4}  {c['target']:<16} {c['check']}: {_fmt(c['measured'])}")
    for target, by_sc in summary["results"].items():
        for sc, r in by_sc.items():
            if sc == "_failed":
                lines.append(f"  FAILED {target}: {r}")
            elif "failed" in r:
                lines.append(f"  FAILED {target} {sc}: {r['failed']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    p.add_argument("--quick", action="store_true", help="seconds per scenario, 20 stations")
    p.add_argument(
        "--scale", type=float, default=1.0, help="full run: station counts x this (e.g. 0.2)"
    )
    p.add_argument("--backends", default="sqlite,postgresql", help="mesh backends, '' for none")
    p.add_argument("--baselines", default="ocpp,raw", help="baselines, '' for none")
    p.add_argument("--out", type=pathlib.Path, default=ROOT / "bench" / "results")
    p.add_argument("--postgres-url", default=os.environ.get("CSMS_TEST_POSTGRES_URL", POSTGRES_URL))
    p.add_argument("--cpus", choices=["split", "shared"], default="split")
    p.add_argument("--quiet", action="store_true", help="no progress lines from the generator")
    p.add_argument(
        "--message-log-pairs",
        type=int,
        default=8,
        help="message-log: pairs of windows (off on, on off, ...) per throughput scenario",
    )
    names = [sc.name for sc in plan(False, 1.0)]
    names += [LOAD_MANAGER, FILES, MESSAGE_LOG, FLEET, RECONNECT]
    p.add_argument(
        "--scenarios",
        default="",
        help=f"only these, comma-separated ({','.join(names)}); default all, in that order",
    )
    a = p.parse_args(argv)
    only = [n for n in a.scenarios.split(",") if n]
    if unknown := set(only) - set(names):
        p.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    summary = run_bench(
        quick=a.quick,
        backends=[b for b in a.backends.split(",") if b],
        baselines=[b for b in a.baselines.split(",") if b],
        out=a.out,
        postgres_url=a.postgres_url,
        cpus_mode=a.cpus,
        quiet=a.quiet,
        scale=a.scale,
        only=only,
        message_log_pairs=a.message_log_pairs,
    )
    return 1 if summary["harness_failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
