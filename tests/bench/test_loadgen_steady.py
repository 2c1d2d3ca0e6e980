"""The steady scenario measures the steady fleet only: no station's teardown (Ended, Available)
overlaps another station's last steady calls, against the raw baseline in a real process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bench import loadgen
from bench.station import Station
from deploy.mesh import free_port


@pytest.fixture
def raw_baseline() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.baseline_raw", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "did not start"
                time.sleep(0.1)
        yield f"ws://127.0.0.1:{port}/ocpp"
    finally:
        proc.terminate()
        proc.wait(10)


async def test_teardown_starts_after_every_steady_call_was_answered(
    raw_baseline: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, float, float]] = []  # (kind, sent, answered)
    real_call = Station.call

    async def logged(self: Station, action: str, payload: dict[str, Any], kind: Any = None) -> Any:
        sent = time.perf_counter()
        try:
            return await real_call(self, action, payload, kind)
        finally:
            calls.append((kind or action, sent, time.perf_counter()))

    monkeypatch.setattr(Station, "call", logged)
    opts = loadgen.Options(
        url=raw_baseline,
        scenario="steady",
        stations=30,
        ramp=0,
        duration=1.5,
        tx_interval=0.05,
        heartbeat_interval=0.07,
        timeout=10,
        progress=False,
    )
    result = await loadgen.run(opts)
    assert result["figures"]["in_transaction"] == 30
    steady = [c for c in calls if c[0] in ("TransactionEvent.Updated", "Heartbeat")]
    teardown = [c for c in calls if c[0] == "TransactionEvent.Ended"]
    assert len(steady) > 300 and len(teardown) == 30
    assert max(answered for _, _, answered in steady) <= min(sent for _, sent, _ in teardown)
