"""Tests for common.columns: timestamps between protobuf and datetime columns."""

from __future__ import annotations

import datetime

import pytest
from google.protobuf import timestamp_pb2

from common.columns import timestamp, utc_datetime


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [
        (0, 0),
        (1_764_844_800, 123_456_789),
        (-1, 500_000_000),
        (-62_135_596_800, 0),  # 0001-01-01T00:00:00Z, Timestamp's first instant
        (253_402_300_799, 999_999_999),  # 9999-12-31T23:59:59.999999999Z, its last
    ],
)
def test_utc_datetime_is_protobufs_own(seconds: int, nanos: int) -> None:
    """The same aware UTC datetime as ToDatetime, nanoseconds cut to microseconds."""
    ts = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    value = utc_datetime(ts)
    assert value == ts.ToDatetime(tzinfo=datetime.UTC)
    assert value.tzinfo is datetime.UTC
    assert timestamp(value) == timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos // 1000 * 1000)
