"""``python -m bench.idle``: what N connected, idle stations cost each process of a mesh.

Starts a fresh mesh on SQLite (auto-registering, one gateway), connects ``--stations`` stations
with :mod:`bench.loadgen`'s ``connect`` scenario (its own process) with a heartbeat interval
longer than the run, so that they send nothing once booted; waits until device_svc counts them
all connected; then reads each process's CPU time (utime + stime, ``/proc/<pid>/stat``) at the
start and end of ``--seconds``, and prints it per process, in CPU seconds and percent of one
core. What the stations' own heartbeats cost is left out on purpose: what remains is what the
CSMS spends on idle stations by itself (issue 21: leases).

The machine's other load shows in the figures: compare runs made in the same conditions, and the
load generator's own CPU (it does nothing either) says how quiet the machine was.

``--database-url postgresql+asyncpg://postgres@127.0.0.1:5432``: the mesh on PostgreSQL
(databases of a unique prefix, dropped afterwards), and also the rows device_svc's tables took
in the window (``pg_stat_user_tables``: inserted, updated, deleted): a count, not a time, that
the machine's load does not blur.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable

import grpc
import sqlalchemy

from bench.loadgen import raise_fd_limit
from common import db
from csms.device.v1 import fleet_pb2 as fleet_pb
from csms.device.v1 import fleet_pb2_grpc as fleet_grpc
from deploy.mesh import Mesh, Proc, on_free_ports

__all__ = ["cpu_seconds", "main"]

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process, in seconds (Linux)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


async def _connected(port: int) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        summary = await fleet_grpc.FleetServiceStub(channel).GetFleetSummary(
            fleet_pb.GetFleetSummaryRequest(), timeout=10
        )
    return int(summary.connected)


async def _rows_written(url: str) -> dict[str, int]:
    """Rows inserted + updated + deleted so far, per table of the database at ``url``."""
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(
                sqlalchemy.text(
                    "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables"
                )
            )
            return {str(name): int(rows) for name, rows in result}
    finally:
        await engine.dispose()


def _wait_connected(port: int, stations: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    connected = 0
    while time.monotonic() < deadline:
        connected = asyncio.run(_connected(port))
        if connected >= stations:
            return connected
        time.sleep(2)
    return connected


SAMPLE_HELP = (
    "with --profile: sample the process's Python stacks every millisecond of its CPU (or the "
    "kernel's tick) instead of cProfile, which inflates small functions "
    "(bench.profiled.StackSampler): PROCESS.samples.txt, inclusive and exclusive shares, and "
    "PROCESS.samples.folded for flame graph tools"
)


def _Profiled(name: str, sample: bool = False) -> Callable[..., Mesh]:
    """A Mesh whose process ``name`` runs under :mod:`bench.profiled`: cProfile to
    ``name.prof``, or with ``sample`` its stack sampler to ``name.samples.txt`` (and
    ``name.samples.folded``)."""

    class Profiled(Mesh):
        def plan(self) -> list[Proc]:
            procs = super().plan()
            for proc in procs:
                if proc.name == name:
                    python, _, module, *rest = proc.argv  # [python, "-m", module, ...]
                    proc.argv = [python, "-m", "bench.profiled", module, *rest]
                    out = pathlib.Path(f"{name}.samples.txt" if sample else f"{name}.prof")
                    proc.env = {
                        **proc.env,
                        "CSMS_PROFILE_OUT": str(out.resolve()),
                        "CSMS_PROFILE_MODE": "sample" if sample else "cprofile",
                    }
                    return procs
            raise SystemExit(f"no process {name!r} in the mesh: {[p.name for p in procs]}")

    return Profiled


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.idle", description=__doc__.split("\n")[0])
    p.add_argument("--stations", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=60.0, help="the measured window")
    p.add_argument("--ramp", type=int, default=500, help="connections per second")
    p.add_argument("--lease-seconds", type=int, default=30, help="the gateway's LEASE_SECONDS")
    p.add_argument("--database-url", default="", help="a PostgreSQL server (default: SQLite)")
    p.add_argument(
        "--settle", type=float, default=5.0, help="s between all connected and the window (boots)"
    )
    p.add_argument(
        "--heartbeat-interval",
        type=float,
        default=86400,
        help="the stations' (and the CSMS's) heartbeat interval; the default sends none in the "
        "window (issue 21's idle fleet: 300)",
    )
    p.add_argument(
        "--profile",
        metavar="PROCESS",
        default="",
        help="profile that process (e.g. gateway-1, device_svc) in the measured window "
        "(cProfile, bench.profiled); its statistics go to PROCESS.prof in the current folder",
    )
    p.add_argument("--sample", action="store_true", help=SAMPLE_HELP)
    a = p.parse_args(argv)
    if a.sample and not a.profile:
        p.error("--sample goes with --profile")
    limit = raise_fd_limit()
    if limit < a.stations + 1024:
        print(f"open-file limit {limit}: too low for {a.stations} stations", file=sys.stderr)
        return 2
    os.environ["CSMS_GATEWAY_LEASE_SECONDS"] = str(a.lease_seconds)
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        settings = on_free_ports(
            pathlib.Path(tmp),
            auto_register=True,
            heartbeat_interval=round(a.heartbeat_interval),
            database_url=a.database_url,
            database_prefix=f"csms_idle_{uuid.uuid4().hex[:8]}_",
        )
        mesh = (_Profiled(a.profile, a.sample) if a.profile else Mesh)(
            settings, log_dir=pathlib.Path(tmp)
        )
        device_url = settings.service_database_url("device") if a.database_url else ""
        mesh.start()
        try:
            hold = a.stations / a.ramp + 120 + a.seconds
            loadgen = subprocess.Popen(
                [
                    sys.executable, "-m", "bench.loadgen",
                    "--url", f"ws://127.0.0.1:{mesh.settings.gateway_port}/ocpp",
                    "--scenario", "connect", "--stations", str(a.stations),
                    "--ramp", str(a.ramp), "--duration", str(hold),
                    "--heartbeat-interval", str(a.heartbeat_interval), "--timeout", "60",
                    "--quiet", "--no-plot",
                ],
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                connected = _wait_connected(
                    mesh.settings.device_port, a.stations, a.stations / a.ramp + 110
                )
                if connected < a.stations:
                    print(f"only {connected} of {a.stations} connected", file=sys.stderr)
                    return 1
                time.sleep(a.settle)  # the boots' last writes
                pids = {proc.name: proc.popen.pid for proc in mesh.procs if proc.popen is not None}
                pids["loadgen"] = loadgen.pid
                rows_before = asyncio.run(_rows_written(device_url)) if device_url else {}
                if a.profile:
                    os.kill(pids[a.profile], signal.SIGUSR1)
                before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                time.sleep(a.seconds)
                after = {name: cpu_seconds(pid) for name, pid in pids.items()}
                if a.profile:
                    os.kill(pids[a.profile], signal.SIGUSR2)
                time.sleep(1)  # PostgreSQL publishes its statistics within a second
                rows_after = asyncio.run(_rows_written(device_url)) if device_url else {}
                still = asyncio.run(_connected(mesh.settings.device_port))
            finally:
                loadgen.terminate()
                loadgen.wait(30)
        finally:
            mesh.stop()
            if a.database_url:
                mesh.drop_databases(ignore_errors=True)
    print(
        f"{a.stations} idle stations (connected at the end: {still}), "
        f"LEASE_SECONDS {a.lease_seconds}, {a.seconds:.0f} s measured, "
        f"{'PostgreSQL' if a.database_url else 'SQLite'}"
    )
    for name in pids:
        used = after[name] - before[name]
        print(f"  {name:<14} {used:7.2f} CPU s  {100 * used / a.seconds:6.2f} % of a core")
    for table in sorted(rows_after):
        written = rows_after[table] - rows_before.get(table, 0)
        if written:
            print(f"  device_svc rows written in {table}: {written} ({written / a.seconds:.1f}/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
