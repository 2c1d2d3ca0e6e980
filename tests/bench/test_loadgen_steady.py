"""The steady scenario measures the steady fleet only: no station's teardown (Ended, Available)
overlaps another station's last steady calls, against the raw baseline in a real process."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bench import loadgen, run
from bench.station import Station


@pytest.fixture
def raw_baseline(tmp_path: pathlib.Path) -> Iterator[str]:
    """The raw baseline in a process of its own, started as make bench starts it."""
    with run._baseline("baseline-raw", "bench.baseline_raw", None, tmp_path) as target:
        yield target.url


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
