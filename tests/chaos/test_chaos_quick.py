"""``python -m chaos --quick`` end to end: real meshes (SQLite, then a private PostgreSQL when
one starts here), processes killed under load, the stations' ledgers against the database.

It asserts what the run promises (nothing acknowledged lost, nothing stored twice or wrong, the
offline burst stored in seqNo order) and that the faults really reached the stations, so the
test fails if they were never injected. No timing is asserted.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
from typing import Any

import orjson
import pytest

pytestmark = pytest.mark.e2e

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One quick run as the Makefile starts it; its exit status, output and JSON results."""
    out = tmp_path_factory.mktemp("chaos") / "chaos.json"
    proc = subprocess.run(
        [sys.executable, "-m", "chaos", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    results = orjson.loads(out.read_bytes()) if out.exists() else []
    return {"proc": proc, "results": results}


def _ran(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in run["results"] if not r["skipped"]]


def test_exit_status_and_report_lines(run: dict[str, Any]) -> None:
    """The run exits 0 and prints the five contract lines for every backend that ran."""
    proc = run["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    lines = proc.stdout.splitlines()
    for key in ("sent", "acknowledged", "stored", "duplicated", "lost"):
        assert sum(1 for line in lines if line.startswith(f"{key}: ")) >= len(_ran(run)), key
    assert "duplicated: 0" in lines and "lost: 0" in lines


def test_sqlite_ran_and_postgresql_ran_or_said_why(run: dict[str, Any]) -> None:
    """SQLite always runs; PostgreSQL runs, or the results say why it could not."""
    by = {r["backend"]: r for r in run["results"]}
    assert set(by) == {"sqlite", "postgresql"}
    assert not by["sqlite"]["skipped"]
    assert not by["postgresql"]["skipped"] or "PostgreSQL" in by["postgresql"]["skipped"]


def test_nothing_acknowledged_lost_nothing_duplicated(run: dict[str, Any]) -> None:
    """Every acknowledged event is stored once, as sent; the aggregates agree with the events."""
    for r in _ran(run):
        assert not r["error"], r["error"]
        v = r["verdict"]
        assert v["acknowledged"] > 0, r["backend"]
        assert v["lost"] == 0, (r["backend"], v["examples"])
        assert v["duplicated"] == 0, r["backend"]
        assert v["mismatched"] == 0, (r["backend"], v["examples"])
        assert v["aggregate_errors"] == [], r["backend"]
        assert r["drained"], r["backend"]


def test_1_6_stations_nothing_lost_nothing_duplicated(run: dict[str, Any]) -> None:
    """The OCPP 1.6J stations' StartTransaction, MeterValues and StopTransaction: every
    acknowledged one stored once, as sent, under the id the CSMS assigned; no transaction no
    station knows of (a second id for a re-sent StartTransaction)."""
    for r in _ran(run):
        v = r["verdict16"]
        assert v is not None, r["backend"]
        assert v["acknowledged"] > 0, r["backend"]
        assert v["lost"] == 0, (r["backend"], v["examples"])
        assert v["duplicated"] == 0, r["backend"]
        assert v["mismatched"] == 0, (r["backend"], v["examples"])
        assert v["aggregate_errors"] == [], r["backend"]


def test_faults_happened(run: dict[str, Any]) -> None:
    """Every fault was injected, stations reconnected, and calls failed honestly."""
    for r in _ran(run):
        names = [f["name"] for f in r["faults"]]
        expected = ["transaction_svc", "device_svc", "gateway-1"]
        if r["backend"] == "postgresql":
            expected.append("postgresql")
        assert names == expected, r["backend"]
        assert r["reconnects"] >= 1, r["backend"]
        failures = r["verdict"]["failures"]
        honest = sum(n for k, n in failures.items() if k == "closed" or k.startswith("callerror:"))
        assert honest >= 1, (r["backend"], failures)
        assert r["verdict"]["send_attempts"] > r["verdict"]["sent"], r["backend"]


def test_offline_burst_stored_in_order(run: dict[str, Any]) -> None:
    """200 queued offline events: all acknowledged and stored once, offline, in seqNo order."""
    for r in _ran(run):
        b = r["burst"]
        assert b["queued"] == 200
        assert b["acknowledged"] == b["stored"] == 200, (r["backend"], b)
        assert b["duplicated"] == b["lost"] == b["mismatched"] == 0, (r["backend"], b)
        assert b["order_violations"] == [], (r["backend"], b)
        assert b["stored_not_offline"] == 0, (r["backend"], b)
        assert b["ok"], (r["backend"], b)
