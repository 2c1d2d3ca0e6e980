"""The benchmark harness end to end, in its quick form: real mesh (SQLite), both baselines.

It checks that the harness measures honestly (numbers where there must be numbers, no errors
at this small load, every TransactionEvent acknowledged, the files written), never how fast
anything is: timings belong in the README, not in a timed test.
"""

from __future__ import annotations

import pathlib
from typing import Any

import orjson
import pytest

from bench import run

pytestmark = pytest.mark.e2e

TARGETS = ("mesh-sqlite", "baseline-ocpp", "baseline-raw")
SCENARIOS = ("connect", "bootstorm", "steady", "throughput-hb", "throughput-tx")
# OCPP 1.6J stations' throughput: against the meshes only (the baselines speak 2.0.1).
SCENARIOS_16 = ("throughput-hb16", "throughput-mv16")


def _scenarios(target: str) -> tuple[str, ...]:
    return SCENARIOS + SCENARIOS_16 if target.startswith("mesh-") else SCENARIOS


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One quick run on SQLite and both baselines; its summary.json."""
    out = tmp_path_factory.mktemp("bench")
    run.run_bench(
        quick=True,
        backends=["sqlite"],
        baselines=["ocpp", "raw"],
        out=out,
        quiet=True,
    )
    summary: dict[str, Any] = orjson.loads((out / "summary.json").read_bytes())
    summary["out"] = out
    return summary


def test_every_target_and_scenario_ran(summary: dict[str, Any]) -> None:
    """No target failed to start and no load generator failed."""
    assert summary["harness_failures"] == []
    assert set(summary["results"]) == set(TARGETS)
    for target in TARGETS:
        assert set(summary["results"][target]) == set(_scenarios(target)), target


def test_every_scenario_produced_numbers(summary: dict[str, Any]) -> None:
    """Each scenario's headline figures are positive for every target."""
    for target in TARGETS:
        r = summary["results"][target]
        assert r["connect"]["figures"]["booted"] == 20
        assert r["connect"]["figures"]["rss_per_connection_kib"] is not None
        assert r["connect"]["latency"]["Heartbeat"]["count"] > 0
        assert r["bootstorm"]["figures"]["all_accepted"] is True
        assert r["bootstorm"]["figures"]["ready_p99_ms"] > 0
        assert r["steady"]["figures"]["in_transaction"] == 20
        assert r["steady"]["figures"]["tx_updated_per_s"] > 0
        assert r["steady"]["latency"]["TransactionEvent.Updated"]["p99_ms"] > 0
        assert r["throughput-hb"]["figures"]["msgs_per_s"] > 0
        assert r["throughput-tx"]["figures"]["msgs_per_s"] > 0
        # The system under test's CPU per answer: it did work for every answer it gave.
        assert r["throughput-hb"]["figures"]["cpu_us_per_answer"] > 0
        assert r["throughput-tx"]["figures"]["cpu_us_per_answer"] > 0
    mesh = summary["results"]["mesh-sqlite"]
    assert mesh["throughput-hb16"]["latency"]["Heartbeat"]["count"] > 0
    assert mesh["throughput-mv16"]["latency"]["MeterValues.Updated"]["count"] > 0
    for sc in SCENARIOS_16:
        assert mesh[sc]["figures"]["msgs_per_s"] > 0, sc


def test_no_errors_at_quick_load(summary: dict[str, Any]) -> None:
    """20 stations cause no CALLERROR, timeout or refused connection anywhere."""
    for target in TARGETS:
        for sc in _scenarios(target):
            assert summary["results"][target][sc]["errors"] == {}, (target, sc)


def test_every_transaction_event_acknowledged(summary: dict[str, Any]) -> None:
    """Acknowledged TransactionEvents equal those sent, with none unanswered or refused."""
    for target in TARGETS:
        for sc in ("steady", "throughput-tx", *(("throughput-mv16",) if "mesh" in target else ())):
            tx = summary["results"][target][sc]["transaction_events"]
            assert tx["sent"] > 0, (target, sc)
            assert tx["acknowledged"] == tx["sent"], (target, sc, tx)
            assert tx["callerror"] == tx["no_answer"] == 0, (target, sc, tx)


def test_files_written(summary: dict[str, Any]) -> None:
    """summary.json/.txt and one JSON and one PNG per target and scenario exist."""
    out: pathlib.Path = summary["out"]
    assert (out / "summary.txt").read_text().count("mesh-sqlite") >= 1
    for target in TARGETS:
        for sc in _scenarios(target):
            result = summary["results"][target][sc]
            assert pathlib.Path(result["json"]).stat().st_size > 0
            png = pathlib.Path(result["png"])
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_and_targets_reported(summary: dict[str, Any]) -> None:
    """The table has a value per target for every throughput row, and each check a verdict."""
    for row in summary["table"]:
        if row["figure"].startswith("throughput: 1.6") and "msg/s" in row["figure"]:
            assert row["mesh-sqlite"], row
        elif row["figure"].startswith("throughput:") and "msg/s" in row["figure"]:
            assert all(row[t] for t in TARGETS), row
    verdicts = {c["verdict"] for c in summary["targets"]}
    # issue 6's five and issue 21's two (TransactionEvents >= 0.75x, boot storm <= 1.3x the raw
    # baseline), the message log's two (on/off Heartbeats and TransactionEvents), the fleet's
    # six and the reconnect storm's three
    assert verdicts <= {"PASS", "MISS"} and len(summary["targets"]) == 5 + 2 + 2 + 6 + 3
    checks = {c["check"] for c in summary["targets"]}
    assert "TxEvent msg/s >= 0.75x baseline-ocpp Heartbeat" in checks
    assert "boot storm time to all Accepted <= 1.3x baseline-raw" in checks


def test_the_message_log_measured_off_and_on(summary: dict[str, Any]) -> None:
    """Each throughput scenario ran on two meshes, the log off (A) and on (B), loaded in turns
    (a window each in the quick form), and the ratios of on to off are reported (whatever they
    are) with the target's verdict."""
    r = summary["message_log"]["mesh-sqlite"]
    # B's log stored batches; A, the log off, none.
    assert r["record_messages_rpcs"]["A"] == 0 and r["record_messages_rpcs"]["B"] > 0
    assert set(r["scenarios"]) == {"throughput-hb", "throughput-tx"}
    for sc, m in r["scenarios"].items():
        for side in ("A", "B"):
            assert [v > 0 for v in m[side]["msgs_per_s"]] == [True], (sc, side)
            assert [v > 0 for v in m[side]["cpu_us_per_answer"]] == [True], (sc, side)
        assert m["ratio_msgs_per_s"] > 0 and len(m["pair_ratios_msgs_per_s"]) == 1
    text = (summary["out"] / "summary.txt").read_text()
    assert "message log on >= 0.9x off" in text
    assert "mesh-sqlite throughput-hb: on/off" in text


def test_the_fleet_ran_and_reports_its_figures(summary: dict[str, Any]) -> None:
    """fleet100k's quick form (2,000 stations, two source addresses): every station in, no
    error, latencies of the held fleet per type, RSS per connection, each process's CPU in the
    hold and idle windows, the database's size, and its targets printed."""
    r = summary["fleet"]["mesh-sqlite"]
    assert "failed" not in r, r
    assert r["stations"] == r["booted"] == r["connected"] == 2_000
    assert r["in_transaction"] == 400 and r["sources"] == 2
    assert r["errors"] == {}
    for kind in ("Heartbeat", "TransactionEvent.Updated", "ramp:BootNotification"):
        assert r["latency"][kind]["count"] > 0, kind
    assert r["latency"]["TransactionEvent.Ended"]["count"] == 400  # ended for the idle window
    assert all(x is not None and x > 0 for x in r["rss_per_connection_kib"])
    for window in ("cpu_cores_hold", "cpu_cores_idle"):
        assert {"gateway-1", "device_svc", "transaction_svc", "user_svc", "envoy"} <= set(r[window])
    assert r["cpu_cores_hold"]["gateway-1"] > 0
    assert r["database_mib"] > 0
    checks = [t["check"] for t in summary["targets"] if t["check"].startswith("fleet of 2,000")]
    assert len(checks) == 6, checks


def test_the_reconnect_storm_loses_and_duplicates_nothing(summary: dict[str, Any]) -> None:
    """The quick fleet's two gateways hold 1,000 stations each; one is killed (SIGKILL) and
    started again: its 1,000 stations come back, and every TransactionEvent acknowledged is
    stored once (make chaos's reconciliation), none lost, none duplicated."""
    storm = summary["fleet"]["mesh-sqlite"]["reconnect"]
    assert storm["killed"] == ["gateway-1"]
    assert storm["reconnected"] >= 1_000 and storm["offline_at_storm_end"] == 0
    assert storm["all_back_s"] is not None and storm["all_back_s"] > 0
    # How the stations came back over time: half of them, 99 of 100, the last.
    assert 0 < storm["half_back_s"] <= storm["p99_back_s"] <= storm["all_back_s"]
    assert storm["sent"] > 0 and storm["acknowledged"] == storm["sent"]
    assert storm["lost"] == 0 and storm["duplicated"] == 0
    assert storm["aggregate_errors"] == [] and storm["examples"] == []
