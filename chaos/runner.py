"""One chaos run: per backend a fresh mesh, a steady transaction load, faults one after another,
then the reconciliation and the offline burst.

The load is two fleets: OCPP 2.0.1 stations (TransactionEvents) and OCPP 1.6J stations
(StartTransaction, MeterValues, StopTransaction; bench/station16.py), each reconciled on its
own: 0 lost, 0 duplicated for both, and for 1.6 no transaction no station knows of (a second
transactionId for a re-sent StartTransaction would be one).

Backends: ``sqlite`` (the embedded default) and ``postgresql`` on a private server this run owns
(:mod:`chaos.postgres`), which is also killed and restarted. Faults, in order, each followed by
a pause under load: kill -9 transaction_svc and restart it; kill -9 device_svc and restart it;
kill -9 gateway-1 (its stations reconnect: to the same gateway once restarted, or through Envoy
to the other one with ``gateways=2``) and restart it; kill -9 PostgreSQL (the postmaster and
its backends) and restart it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import pathlib
import shutil
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from chaos.load import Fleet, FleetOptions, offline_burst
from chaos.postgres import PostgresUnavailable, PrivatePostgres
from chaos.reconcile import Verdict, read_database, reconcile, seq_order_violations
from deploy.mesh import Mesh, MeshSettings, on_free_ports

__all__ = ["ChaosOptions", "QUICK", "FULL", "run_chaos", "run_backend"]

ID_TOKEN = "CHAOS0001"


@dataclasses.dataclass(frozen=True)
class ChaosOptions:
    backends: tuple[str, ...] = ("sqlite", "postgresql")
    stations: int = 50
    # OCPP 1.6J stations beside them (bench/station16.py); 0: none.
    stations16: int = 10
    interval: float = 0.5  # seconds between one station's TransactionEvents
    gateways: dict[str, int] = dataclasses.field(
        default_factory=lambda: {"sqlite": 1, "postgresql": 2}
    )
    warmup: float = 5.0  # load before the first fault
    down: float = 2.0  # how long a killed process stays down
    pause: float = 6.0  # load after each restart, before the next fault
    drain: float = 60.0  # bound on delivering the backlog after the load stops
    burst_events: int = 200
    burst_transactions: int = 4
    # quick: a backend that cannot be set up (no private PostgreSQL here) is skipped, not failed.
    optional_backends: tuple[str, ...] = ()


FULL = ChaosOptions()
QUICK = ChaosOptions(
    stations=10,
    stations16=4,
    interval=0.25,
    gateways={"sqlite": 1, "postgresql": 1},
    warmup=1.5,
    down=0.8,
    pause=1.5,
    drain=20.0,
    burst_events=200,
    burst_transactions=4,
    optional_backends=("postgresql",),
)


def _say(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


@dataclasses.dataclass
class Fault:
    name: str
    started_s: float  # since the load started
    down_s: float  # from the kill until the restarted process served again


@dataclasses.dataclass
class BackendResult:
    backend: str
    gateways: int
    stations: int
    booted: int = 0
    faults: list[Fault] = dataclasses.field(default_factory=list)
    verdict: Verdict | None = None
    # The 1.6 fleet's (None without one).
    verdict16: Verdict | None = None
    reconnects: int = 0
    drained: bool = False
    load_s: float = 0.0
    burst: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Re-sends transaction_svc recognised as already stored (its "duplicate event" log lines;
    # None when its log says nothing of the kind): the idempotency the faults exercised.
    duplicates_absorbed: int | None = None
    skipped: str = ""  # why the backend did not run (quick form only)
    error: str = ""  # a harness failure (the mesh did not start, ...)
    log_dir: str = ""

    @property
    def faults_observed(self) -> bool:
        """The faults reached the stations: reconnections, and calls that failed."""
        v = self.verdict
        return bool(v and self.reconnects > 0 and sum(v.failures.values()) > 0)

    @property
    def ok(self) -> bool:
        if self.skipped:
            return True
        return bool(
            not self.error
            and self.verdict is not None
            and self.verdict.ok
            and (self.verdict16 is None or self.verdict16.ok)
            and self.burst.get("ok")
            and self.faults_observed
        )

    def as_dict(self) -> dict[str, Any]:
        v = self.verdict
        return {
            "backend": self.backend,
            "gateways": self.gateways,
            "stations": self.stations,
            "booted": self.booted,
            "faults": [dataclasses.asdict(f) for f in self.faults],
            "reconnects": self.reconnects,
            "duplicates_absorbed": self.duplicates_absorbed,
            "drained": self.drained,
            "load_s": round(self.load_s, 1),
            "faults_observed": self.faults_observed,
            "ok": self.ok,
            "skipped": self.skipped,
            "error": self.error,
            "log_dir": self.log_dir,
            "burst": self.burst,
            "verdict": None
            if v is None
            else {
                **{
                    k: getattr(v, k)
                    for k in (
                        "sent",
                        "send_attempts",
                        "acknowledged",
                        "stored",
                        "duplicated",
                        "lost",
                        "mismatched",
                        "stored_unacknowledged",
                        "unacknowledged_not_stored",
                        "resent",
                        "dropped",
                        "stations_with_failures",
                    )
                },
                "failures": dict(v.failures),
                "aggregate_errors": v.aggregate_errors,
                "examples": v.examples[:20],
            },
            "verdict16": None if self.verdict16 is None else _verdict_dict(self.verdict16),
        }


def _verdict_dict(v: Verdict) -> dict[str, Any]:
    return {
        "sent": v.sent,
        "acknowledged": v.acknowledged,
        "stored": v.stored,
        "duplicated": v.duplicated,
        "lost": v.lost,
        "mismatched": v.mismatched,
        "resent": v.resent,
        "dropped": v.dropped,
        "failures": dict(v.failures),
        "aggregate_errors": v.aggregate_errors,
        "examples": v.examples[:20],
    }


def _create_id_token(envoy_port: int, api_key: str) -> None:
    """The token the stations' Started events carry exists (Accepted, not Unknown)."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{envoy_port}/v1/idTokens",
        data=orjson.dumps({"idToken": ID_TOKEN, "type": "ISO14443"}),
        headers={"content-type": "application/json", "authorization": f"Bearer {api_key}"},
        method="POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    with opener.open(req, timeout=10) as resp:
        resp.read()


def _mesh_settings(
    data_dir: pathlib.Path, pg: PrivatePostgres | None, gateways: int
) -> MeshSettings:
    return on_free_ports(
        data_dir,
        gateways=gateways,
        database_url=pg.url if pg is not None else "",
        database_prefix=f"csms_chaos_{uuid.uuid4().hex[:8]}_",
        # Load stations are not registered one by one: the gateway lets them in.
        auto_register=True,
        allow_unsecured_stations=True,
        log_level="INFO",
    )


async def _drive(
    mesh: Mesh, pg: PrivatePostgres | None, opts: ChaosOptions, result: BackendResult
) -> None:
    s = mesh.settings
    url = f"ws://127.0.0.1:{s.gateway_port}/ocpp"
    prefix = f"CHAOS-{uuid.uuid4().hex[:6]}-"
    fleet = Fleet(
        FleetOptions(url=url, prefix=prefix, stations=opts.stations, interval=opts.interval)
    )
    # A prefix that the 2.0.1 one is not a prefix of: each fleet reads back only its rows.
    prefix16 = f"CHAOS16-{uuid.uuid4().hex[:6]}-"
    fleet16 = (
        Fleet(
            FleetOptions(
                url=url,
                prefix=prefix16,
                stations=opts.stations16,
                interval=opts.interval,
                protocol="ocpp1.6",
            )
        )
        if opts.stations16
        else None
    )
    await fleet.start()
    if fleet16 is not None:
        await fleet16.start()
    result.booted = fleet.booted + (fleet16.booted if fleet16 is not None else 0)
    _say(
        f"  {result.booted}/{opts.stations + opts.stations16} stations booted "
        f"({opts.stations16} of them OCPP 1.6J); load running"
    )
    t0 = time.perf_counter()
    await asyncio.sleep(opts.warmup)

    async def fault(name: str, kill: Callable[[], None], restart: Callable[[], None]) -> None:
        started = time.perf_counter()
        await asyncio.to_thread(kill)
        _say(f"  [{started - t0:6.1f}s] kill -9 {name}  (backlog {fleet.backlog})")
        await asyncio.sleep(opts.down)
        await asyncio.to_thread(restart)
        down = time.perf_counter() - started
        _say(
            f"  [{time.perf_counter() - t0:6.1f}s] {name} restarted, down {down:.1f}s  "
            f"(backlog {fleet.backlog}, reconnects {fleet.reconnects})"
        )
        result.faults.append(Fault(name, round(started - t0, 2), round(down, 2)))
        await asyncio.sleep(opts.pause)

    for name in ("transaction_svc", "device_svc", "gateway-1"):
        await fault(name, functools.partial(mesh.kill, name), functools.partial(mesh.restart, name))
    if pg is not None:
        await fault("postgresql", pg.kill, pg.restart)
    result.load_s = time.perf_counter() - t0
    _say(f"  load stopped; draining backlog of {fleet.backlog} (at most {opts.drain:.0f}s)")
    drained = await asyncio.gather(
        fleet.stop(opts.drain), *([fleet16.stop(opts.drain)] if fleet16 is not None else [])
    )
    result.drained = all(drained)
    result.reconnects = fleet.reconnects + (fleet16.reconnects if fleet16 is not None else 0)
    tx_url = s.service_database_url("transaction")
    events, transactions = await read_database(tx_url, prefix)
    result.verdict = reconcile(fleet.ledger, events, transactions)
    if fleet16 is not None:
        events16, transactions16 = await read_database(tx_url, prefix16)
        result.verdict16 = reconcile(fleet16.ledger, events16, transactions16)
    result.burst = await _burst(url, tx_url, prefix, opts)
    result.duplicates_absorbed = _duplicates_logged(mesh, prefix)


def _duplicates_logged(mesh: Mesh, prefix: str) -> int | None:
    """How many of this run's events transaction_svc logged as duplicates (best effort: a
    log line, not a contract; None when there is no log to read)."""
    try:
        log = mesh.proc("transaction_svc").log
        text = log.read_text(errors="replace") if log is not None else None
    except (KeyError, OSError):
        return None
    if text is None:
        return None
    return sum(
        1 for line in text.splitlines() if "duplicate event" in line and f" {prefix}" in line
    )


async def _burst(url: str, tx_url: str, prefix: str, opts: ChaosOptions) -> dict[str, Any]:
    """The offline backlog: all stored, all acknowledged, received in seqNo order."""
    station = f"{prefix}OFFLINE"
    b = await offline_burst(
        url, station, events=opts.burst_events, transactions=opts.burst_transactions
    )
    events, transactions = await read_database(tx_url, station)
    verdict = reconcile(b.ledger, events, transactions)
    order = seq_order_violations(events)
    not_offline = sum(1 for e in events if not e.offline)
    ok = (
        b.acknowledged == b.queued
        and verdict.stored == b.queued
        and verdict.ok
        and not order
        and not_offline == 0
    )
    _say(
        f"  offline burst: {b.queued} queued, {b.acknowledged} acknowledged, "
        f"{verdict.stored} stored in {b.seconds:.1f}s, order violations {len(order)}"
    )
    return {
        "ok": ok,
        "queued": b.queued,
        "acknowledged": b.acknowledged,
        "stored": verdict.stored,
        "duplicated": verdict.duplicated,
        "lost": verdict.lost,
        "mismatched": verdict.mismatched,
        "transactions": len(b.transactions),
        "order_violations": order[:10],
        "stored_not_offline": not_offline,
        "seconds": round(b.seconds, 2),
        "events_per_s": round(b.queued / b.seconds, 1) if b.seconds else None,
    }


def run_backend(backend: str, opts: ChaosOptions, run_dir: pathlib.Path) -> BackendResult:
    gateways = opts.gateways.get(backend, 1)
    result = BackendResult(backend, gateways, opts.stations)
    log_dir = run_dir / backend
    log_dir.mkdir(parents=True, exist_ok=True)
    result.log_dir = str(log_dir)
    pg: PrivatePostgres | None = None
    mesh: Mesh | None = None
    try:
        if backend == "postgresql":
            try:
                pg = PrivatePostgres()
                pg.start()
            except (PostgresUnavailable, OSError, KeyError) as exc:
                if backend in opts.optional_backends:
                    result.skipped = f"no private PostgreSQL here: {exc}"
                    return result
                raise
        mesh = Mesh(_mesh_settings(log_dir / "data", pg, gateways), log_dir=log_dir)
        mesh.start()
        _create_id_token(mesh.settings.envoy_port, mesh.create_api_key("operator", "chaos"))
        asyncio.run(_drive(mesh, pg, opts, result))
    except Exception as exc:  # reported as a harness failure of this backend, never hidden
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        if mesh is not None:
            mesh.stop()
        if pg is not None:
            pg.stop()
    return result


def render(results: list[BackendResult]) -> str:
    out = []
    for r in results:
        head = f"== {r.backend} ({r.gateways} gateway{'s' if r.gateways > 1 else ''}"
        head += f", {r.stations} stations) =="
        out.append(head)
        if r.skipped:
            out.append(f"skipped: {r.skipped}")
            continue
        if r.error:
            out.append(f"HARNESS FAILURE: {r.error}  (logs: {r.log_dir})")
        for f in r.faults:
            out.append(f"fault: kill -9 {f.name} at {f.started_s:.1f}s, down {f.down_s:.1f}s")
        if r.verdict is not None:
            out += r.verdict.lines()
            if r.duplicates_absorbed is not None:
                out.append(
                    f"re-sends transaction_svc found already stored (its log): "
                    f"{r.duplicates_absorbed}"
                )
            if r.verdict16 is not None:
                out.append("OCPP 1.6J stations (StartTransaction, MeterValues, StopTransaction):")
                out += [f"  {line}" for line in r.verdict16.lines()]
            out.append(
                f"reconnects: {r.reconnects}; backlog drained: {'yes' if r.drained else 'NO'}; "
                f"faults reached the stations: {'yes' if r.faults_observed else 'NO'}"
            )
        if r.burst:
            b = r.burst
            out.append(
                f"offline burst: {b['queued']} events over {b['transactions']} transactions, "
                f"{b['acknowledged']} acknowledged, {b['stored']} stored, duplicated "
                f"{b['duplicated']}, lost {b['lost']}, in seqNo order: "
                f"{'yes' if not b['order_violations'] else 'NO'}, offline flag kept: "
                f"{'yes' if not b['stored_not_offline'] else 'NO'} "
                f"({b['seconds']}s, {b['events_per_s']} events/s)"
            )
        out.append(f"result: {'OK' if r.ok else 'FAILED'}")
    ran = [r for r in results if not r.skipped and r.verdict is not None]
    if len(ran) > 1:
        out.append("== total ==")
        for key in ("sent", "acknowledged", "stored", "duplicated", "lost"):
            out.append(f"{key}: {sum(getattr(r.verdict, key) for r in ran)}")
    return "\n".join(out)


def run_chaos(
    opts: ChaosOptions, json_path: pathlib.Path | None = None, keep: bool = False
) -> tuple[int, list[BackendResult]]:
    """Run every backend; the exit status (0: all OK) and the results."""
    run_dir = pathlib.Path(tempfile.mkdtemp(prefix="csms-chaos-"))
    results = []
    for backend in opts.backends:
        _say(f"chaos: {backend} ...")
        results.append(run_backend(backend, opts, run_dir))
    print(render(results), flush=True)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_bytes(
            orjson.dumps([r.as_dict() for r in results], option=orjson.OPT_INDENT_2)
        )
    ok = all(r.ok for r in results)
    if ok and not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        print(f"logs: {run_dir}", flush=True)
    return (0 if ok else 1), results
