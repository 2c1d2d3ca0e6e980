"""``python -m bench.large_messages``: does one station's huge messages slow the others?

A fresh mesh (SQLite unless ``--database-url``; one gateway listening itself) serves one small
station that sends a StatusNotification every ``--interval`` s, first alone (the baseline, same
run), then while ``--big-stations`` stations send NotifyReports of about ``--kib`` KiB each (a
reportData of thousands of variables, valid per OCPP 2.0.1) back to back, each the next part
(seqNo) of its report. Prints per phase the small station's StatusNotification latency (p50,
p90, p99, max), the NotifyReports' latency and count, every failure (a NotifyReport answered
with a CALLERROR or not at all within ``--timeout``), and the CPU each mesh process spent.

On a machine with two cores or more, the mesh is pinned to the first and this process (the
stations) to the second (``--cpus shared``: nothing pinned), as ``make bench`` does.

    python -m bench.large_messages                    # 4 senders of 930 KiB, 15 s per phase
    python -m bench.large_messages --big-stations 2 --kib 500 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.run import _cpu_seconds, own_mesh
from bench.station import CallFailed, Station
from bench.stats import Recorder

__all__ = ["main", "report_payload", "run_phases"]

#: One reportData entry as a station's full base report has them (two attributes, its
#: characteristics); about 620 bytes of JSON.
_ENTRY_BYTES = 622


def _entry(i: int, seq_no: int) -> dict[str, Any]:
    return {
        "component": {
            "name": f"Component{i // 16:04d}",
            "instance": f"instance{i % 3}",
            "evse": {"id": 1 + i % 4, "connectorId": 1},
        },
        "variable": {"name": f"Variable{i:05d}", "instance": "main"},
        "variableAttribute": [
            {
                "type": "Actual",
                "value": f"{seq_no:08d}-" + "v" * 120,
                "mutability": "ReadWrite",
                "persistent": True,
                "constant": False,
            },
            {"type": "Target", "value": "t" * 80, "mutability": "ReadOnly"},
        ],
        "variableCharacteristics": {
            "dataType": "string",
            "supportsMonitoring": True,
            "unit": "W",
            "maxLimit": 100.0,
        },
    }


def report_payload(kib: float, seq_no: int = 0, request_id: int = 1) -> dict[str, Any]:
    """A NotifyReport request of about ``kib`` KiB of JSON: one part of a report; its values
    change with ``seq_no``, so that every part updates what the previous one stored."""
    entries = max(1, int(kib * 1024 / _ENTRY_BYTES))
    return {
        "requestId": request_id,
        "generatedAt": "2026-01-01T00:00:00Z",
        "seqNo": seq_no,
        "tbc": True,
        "reportData": [_entry(i, seq_no) for i in range(entries)],
    }


async def _big_sender(st: Station, kib: float, stop: asyncio.Event) -> None:
    seq_no = 0
    while not stop.is_set():
        with contextlib.suppress(CallFailed):  # counted by the recorder
            await st.call("NotifyReport", report_payload(kib, seq_no))
        seq_no += 1


async def _small_sender(st: Station, interval: float, seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        with contextlib.suppress(CallFailed):
            await st.status()
        await asyncio.sleep(interval)


async def run_phases(
    url: str,
    procs: Mapping[int, str],
    *,
    big_stations: int,
    kib: float,
    seconds: float,
    interval: float,
    call_timeout: float,
) -> dict[str, Any]:
    """Both phases against the CSMS at ``url`` (``procs``: its processes' names by pid); the
    results, per phase."""
    results: dict[str, Any] = {}
    small_rec = Recorder()
    small = Station("LARGE-SMALL", url, small_rec, call_timeout, "BENCH0001")
    bigs_rec = Recorder()
    bigs = [
        Station(f"LARGE-BIG-{i}", url, bigs_rec, call_timeout, "BENCH0001")
        for i in range(big_stations)
    ]
    for st in (small, *bigs):
        if not await st.connect() or not await st.boot():
            raise RuntimeError(f"{st.id} could not connect and boot")
    await small.status()  # warm: the first call of a kind compiles its validator
    for phase in ("alone", "with big senders"):
        small_rec = small.rec = Recorder()
        bigs_rec = Recorder()
        for st in bigs:
            st.rec = bigs_rec
        stop = asyncio.Event()
        senders = []
        if phase != "alone":
            senders = [asyncio.create_task(_big_sender(st, kib, stop)) for st in bigs]
            await asyncio.sleep(1.0)  # the senders' reports under way
        cpu = {pid: _cpu_seconds([pid]) for pid in procs}
        started = time.perf_counter()
        await _small_sender(small, interval, seconds)
        elapsed = time.perf_counter() - started
        spent = {pid: _cpu_seconds([pid]) - before for pid, before in cpu.items()}
        stop.set()
        await asyncio.gather(*senders)
        results[phase] = {
            "small": small_rec.percentiles().get("StatusNotification", {}),
            "small_errors": dict(small_rec.errors),
            "big": bigs_rec.percentiles().get("NotifyReport", {}),
            "big_errors": dict(bigs_rec.errors),
            # Cores each process kept busy while the small station was measured.
            "cpu": {procs[pid]: round(s / elapsed, 2) for pid, s in spent.items()},
        }
    for st in (small, *bigs):
        await st.close()
    return results


def _ms(p: dict[str, Any], key: str) -> str:
    return f"{p[key]:9.1f}" if key in p else f"{'-':>9}"


def render(results: dict[str, Any]) -> str:
    lines = [
        f"{'phase':<18} {'what':<22} {'count':>6} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} "
        f"{'max ms':>9}  failures"
    ]
    for phase, r in results.items():
        for what, p, errors in (
            ("StatusNotification", r["small"], r["small_errors"]),
            ("NotifyReport", r["big"], r["big_errors"]),
        ):
            if not p and not errors:
                continue
            lines.append(
                f"{phase:<18} {what:<22} {p.get('count', 0):>6} {_ms(p, 'p50_ms')} "
                f"{_ms(p, 'p90_ms')} {_ms(p, 'p99_ms')} {_ms(p, 'max_ms')}  "
                + (", ".join(f"{k}={v}" for k, v in sorted(errors.items())) or "none")
            )
        cpu = ", ".join(f"{name} {cores:.2f}" for name, cores in r["cpu"].items())
        lines.append(f"{phase:<18} CPU (cores): {cpu}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--big-stations", type=int, default=4)
    parser.add_argument("--kib", type=float, default=930.0, help="size of each NotifyReport")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each phase")
    parser.add_argument("--interval", type=float, default=0.05, help="between StatusNotifications")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="a call unanswered after this fails"
    )
    parser.add_argument("--database-url", default="", help="PostgreSQL server URL; empty: SQLite")
    parser.add_argument(
        "--cpus",
        choices=("split", "shared"),
        default="split",
        help="split: the mesh on the first CPU, the stations on the second; shared: not pinned",
    )
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    with own_mesh("large-messages", args.database_url, args.cpus) as mesh:
        settings = mesh.settings
        names = {p.popen.pid: p.name for p in mesh.procs if p.popen is not None}
        results = asyncio.run(
            run_phases(
                f"ws://127.0.0.1:{settings.gateway_port}/ocpp",
                names,
                big_stations=args.big_stations,
                kib=args.kib,
                seconds=args.seconds,
                interval=args.interval,
                call_timeout=args.timeout,
            )
        )
    frame = len(orjson.dumps([2, "1", "NotifyReport", report_payload(args.kib)]))
    print(
        f"{args.big_stations} stations sending NotifyReports of {frame / 1024:.0f} KiB "
        f"({len(report_payload(args.kib)['reportData'])} variables) back to back; "
        f"one StatusNotification every {args.interval * 1000:.0f} ms; {args.seconds:.0f} s a phase"
    )
    print(render(results))
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
