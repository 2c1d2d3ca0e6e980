"""What a load run records: latency per message type, errors by kind, a per-second timeline.

Latencies go into HDR histograms in microseconds (1 µs .. 10 min, 3 significant digits), one
per message type. The timeline keeps, per wall-clock second, how many requests were answered,
how many failed and the p99 of that second, for the plot. Transaction events are counted by
outcome (sent, acknowledged by a CALLRESULT, CALLERROR, no answer): the chaos work compares
these with what the databases hold.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

__all__ = ["Recorder", "TxCounts", "summary_table"]

_MAX_US = 600_000_000


def _hist() -> HdrHistogram:
    return HdrHistogram(1, _MAX_US, 3)


@dataclass
class TxCounts:
    """TransactionEvent outcomes; sent == acknowledged + callerror + no_answer once settled."""

    sent: int = 0
    acknowledged: int = 0
    callerror: int = 0
    no_answer: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "callerror": self.callerror,
            "no_answer": self.no_answer,
        }


@dataclass
class Recorder:
    """Collects every measurement of one run (one event loop, no locking)."""

    hists: dict[str, HdrHistogram] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    tx: TxCounts = field(default_factory=TxCounts)
    started: float = field(default_factory=time.perf_counter)
    sent: int = 0
    answered: int = 0
    connected: int = 0
    # Per-second timeline: [second, answered, errors, p99 ms, connected].
    timeline: list[list[float]] = field(default_factory=list)
    _second: int = 0
    _sec_answered: int = 0
    _sec_errors: int = 0
    _sec_lat: list[int] = field(default_factory=list)
    # Optional log of every TransactionEvent outcome: (station, txId, seqNo, outcome).
    tx_log: list[tuple[str, str, int, str]] | None = None

    def now(self) -> float:
        """Seconds since the recorder was created."""
        return time.perf_counter() - self.started

    def _roll(self, t: float) -> None:
        sec = int(t)
        while sec > self._second:
            lat = sorted(self._sec_lat)
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1000 if lat else 0.0
            self.timeline.append(
                [self._second, self._sec_answered, self._sec_errors, p99, self.connected]
            )
            self._second += 1
            self._sec_answered = self._sec_errors = 0
            self._sec_lat = []

    def latency(self, kind: str, seconds: float) -> None:
        """One answered request of this kind, which took ``seconds``."""
        us = max(1, min(_MAX_US, int(seconds * 1_000_000)))
        hist = self.hists.get(kind)
        if hist is None:
            hist = self.hists[kind] = _hist()
        hist.record_value(us)
        self._roll(self.now())
        self.answered += 1
        self._sec_answered += 1
        self._sec_lat.append(us)

    def observe(self, kind: str, seconds: float) -> None:
        """A duration that is not a request (handshake, time to Accepted): histogram only."""
        us = max(1, min(_MAX_US, int(seconds * 1_000_000)))
        hist = self.hists.get(kind)
        if hist is None:
            hist = self.hists[kind] = _hist()
        hist.record_value(us)

    def error(self, kind: str) -> None:
        """One failure, by kind (``callerror:<Code>``, ``timeout``, ``closed``, ...)."""
        self.errors[kind] += 1
        self._roll(self.now())
        self._sec_errors += 1

    def tx_outcome(self, station: str, tx_id: str, seq_no: int, outcome: str) -> None:
        """Count one TransactionEvent's outcome: acknowledged, callerror or no_answer."""
        setattr(self.tx, outcome, getattr(self.tx, outcome) + 1)
        if self.tx_log is not None:
            self.tx_log.append((station, tx_id, seq_no, outcome))

    def flush(self) -> None:
        """Close the current second of the timeline."""
        self._roll(self.now() + 1)

    def percentiles(self) -> dict[str, dict[str, float]]:
        """Per message type: count, p50/p90/p99/max/mean in milliseconds."""
        out = {}
        for kind, h in sorted(self.hists.items()):
            out[kind] = {
                "count": h.get_total_count(),
                "p50_ms": h.get_value_at_percentile(50) / 1000,
                "p90_ms": h.get_value_at_percentile(90) / 1000,
                "p99_ms": h.get_value_at_percentile(99) / 1000,
                "max_ms": h.get_max_value() / 1000,
                "mean_ms": round(h.get_mean_value() / 1000, 3),
            }
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "answered": self.answered,
            "errors": dict(self.errors),
            "error_total": sum(self.errors.values()),
            "latency": self.percentiles(),
            "transaction_events": self.tx.as_dict(),
            "timeline": {
                "columns": ["second", "answered", "errors", "p99_ms", "connected"],
                "rows": self.timeline,
            },
        }


def summary_table(result: dict[str, Any]) -> str:
    """The human summary of one loadgen result (the dict :func:`bench.loadgen.run` returns)."""
    lines = [f"scenario: {result['scenario']}  url: {result['url']}"]
    for key, value in result["figures"].items():
        if isinstance(value, list) and len(value) > 10:  # per station (a storm's back_at)
            value = f"{len(value):,} values (in the JSON result)"
        lines.append(f"  {key:<32} {value}")
    lines.append(
        f"  {'type':<28} {'count':>8} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'max ms':>9}"
    )
    for kind, p in result["latency"].items():
        lines.append(
            f"  {kind:<28} {p['count']:>8} {p['p50_ms']:>9.2f} {p['p90_ms']:>9.2f} "
            f"{p['p99_ms']:>9.2f} {p['max_ms']:>9.2f}"
        )
    errors = result["errors"] or {"none": 0}
    lines.append("  errors: " + ", ".join(f"{k}={v}" for k, v in sorted(errors.items())))
    tx = result["transaction_events"]
    if tx["sent"]:
        lines.append("  transaction events: " + ", ".join(f"{k}={v}" for k, v in tx.items()))
    return "\n".join(lines)
