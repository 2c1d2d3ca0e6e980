"""bench.large_messages' NotifyReports: valid OCPP 2.0.1, as large as asked, under the limit."""

from __future__ import annotations

import orjson

from bench.large_messages import render, report_payload
from gateway import ocppj
from gateway.settings import Settings


def test_the_big_senders_reports_are_valid_and_of_their_size() -> None:
    """930 KiB: thousands of variables, schema-valid, under the gateway's frame limit; each
    seqNo carries other values (every part updates what the one before stored)."""
    first, second = report_payload(930, seq_no=0), report_payload(930, seq_no=1)
    ocppj.validate("NotifyReport", "Request", first)
    frame = orjson.dumps([2, "1", "NotifyReport", first])
    assert 900 * 1024 < len(frame) < Settings().max_frame_size
    assert len(first["reportData"]) > 1000
    assert first["reportData"][0] != second["reportData"][0]


def test_the_table_names_both_phases() -> None:
    """One line per phase and message kind, failures spelled out, CPU by process."""
    phase = {
        "small": {"count": 3, "p50_ms": 5.0, "p90_ms": 6.0, "p99_ms": 7.0, "max_ms": 8.0},
        "small_errors": {},
        "big": {},
        "big_errors": {"callerror:InternalError": 1},
        "cpu": {"gateway-1": 0.5},
    }
    text = render({"alone": phase, "with big senders": phase})
    assert text.count("StatusNotification") == 2
    assert "callerror:InternalError=1" in text and "gateway-1 0.50" in text
