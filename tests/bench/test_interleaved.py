"""bench.interleaved's turns: one side loaded at a time, in the order A B, B A, ..., each window's
figures charged to the side that was loaded (its count and CPU), the other side's CPU reported
as what bled into it. Real processes stand in for the load generators (their SIGSTOP/SIGCONT
state read from /proc)."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from bench.event_cost import rpcs_answered
from bench.interleaved import (
    Side,
    _OwnMesh,
    _setting,
    _summary,
    alternate,
    pair_order,
)
from common import metrics
from deploy.mesh import on_free_ports


def _state(pid: int) -> str:
    return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.fixture
def loads() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in "ab"]
    try:
        yield procs
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_pair_order_alternates_which_side_goes_first() -> None:
    assert pair_order(3) == [0, 1, 1, 0, 0, 1]
    assert pair_order(0) == []


def test_one_side_loaded_at_a_time_and_charged_its_own_window(
    loads: list[subprocess.Popen[bytes]],
) -> None:
    seen: list[tuple[str, str, str]] = []  # (side counted, A's load state, B's load state)
    counts = {"A": 0.0, "B": 0.0}

    def counter(name: str) -> float:
        seen.append((name, _state(loads[0].pid), _state(loads[1].pid)))
        counts[name] += 100.0 if name == "A" else 90.0  # answers since the last read
        return counts[name]

    sides = [
        Side("A", {}, lambda: counter("A"), load=loads[0]),
        Side("B", {}, lambda: counter("B"), load=loads[1]),
    ]
    windows: list[float] = []

    def sleep(seconds: float) -> None:
        windows.append(seconds)

    def clock() -> float:
        return sum(windows)

    alternate(sides, 2, settle=0.5, window=2.0, sleep=sleep, clock=clock)
    # Each window: the settle, then the counted part; four windows (two pairs).
    assert windows == [0.5, 2.0] * 4
    # Counted twice a window (start and end), always with the counted side's load running (S,
    # sleeping, or R) and the other's stopped (T).
    assert [s[0] for s in seen] == ["A", "A", "B", "B", "B", "B", "A", "A"]
    for name, a_state, b_state in seen:
        loaded, stopped = (a_state, b_state) if name == "A" else (b_state, a_state)
        assert loaded in "SR" and stopped == "T", seen
    assert _state(loads[0].pid) == _state(loads[1].pid) == "T"  # both left stopped
    assert len(sides[0].rates) == len(sides[1].rates) == 2
    assert len(sides[0].idle_other_cores) == len(sides[1].idle_other_cores) == 2
    # 100 answers a window of 2 s for A, 90 for B: B/A 0.9.
    assert sides[0].rates == [50.0, 50.0] and sides[1].rates == [45.0, 45.0]
    result = _summary(sides)
    assert result["ratio_msgs_per_s"] == pytest.approx(0.9, rel=0.01)
    assert result["pair_ratios_msgs_per_s"] == [pytest.approx(0.9, rel=0.01)] * 2


def test_settings_from_the_command_line() -> None:
    assert _setting("message_log=true") == ("message_log", True)
    assert _setting("gateways=2") == ("gateways", 2)
    assert _setting("linger=0.5") == ("linger", 0.5)
    assert _setting("name=x=y") == ("name", "x=y")
    with pytest.raises(SystemExit):
        _setting("message_log")


def test_rpcs_answered_read_from_a_services_metrics() -> None:
    """The count comes from csms_rpc_duration_seconds as common.metrics lays it out (method,
    code), every code counted, other methods not."""
    registry = CollectorRegistry()
    rpc = Histogram("csms_rpc_duration_seconds", "", ["method", "code"], registry=registry)
    assert rpc._labelnames == metrics.RPC_DURATION._labelnames
    name = "/csms.device.v1.DeviceService/RecordMessages"
    for _ in range(3):
        rpc.labels(name, "OK").observe(0.001)
    rpc.labels(name, "UNAVAILABLE").observe(0.001)
    rpc.labels("/csms.device.v1.DeviceService/Heartbeats", "OK").observe(0.001)
    text = generate_latest(registry).decode()
    assert rpcs_answered(text, "/RecordMessages") == 4
    assert rpcs_answered("", "/RecordMessages") == 0


def test_each_mesh_runs_its_own_tree_and_environment(tmp_path: pathlib.Path) -> None:
    """Every process of a side's mesh gets its tree first on the path (PYTHONSAFEPATH on both
    sides) and its environment over the launcher's; the other side's mesh none of it."""
    settings = on_free_ports(tmp_path)
    b = _OwnMesh(settings, log_dir=tmp_path, tree="/src/b", env={"EXTRA": "1"})
    a = _OwnMesh(settings, log_dir=tmp_path)
    for prefix, identity in (("GATEWAY", "gateway-1"), ("TRANSACTION", "transaction_svc")):
        env_b = b._proc_env(prefix, {"port": 1}, identity)
        env_a = a._proc_env(prefix, {"port": 1}, identity)
        assert env_b["PYTHONPATH"] == "/src/b:/src/b/gen" and env_b["EXTRA"] == "1"
        assert env_a.get("PYTHONPATH") != env_b["PYTHONPATH"] and "EXTRA" not in env_a
        assert env_a["PYTHONSAFEPATH"] == env_b["PYTHONSAFEPATH"] == "1"
        assert env_b[f"CSMS_{prefix}_PORT"] == "1"  # the launcher's own still set
