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


def test_check_strings_refuses_what_a_column_cannot_hold() -> None:
    """Longer than the column, or holding a NUL: INVALID_ARGUMENT naming the field, on every
    backend (SQLite would store either, PostgreSQL fails on both)."""
    import sqlalchemy as sa

    from common.columns import check_strings
    from common.errors import InvalidArgument

    table = sa.Table(
        "t", sa.MetaData(), sa.Column("model", sa.String(20)), sa.Column("note", sa.Text)
    )
    check_strings(table, {"model": "m" * 20, "note": "n" * 100_000, "other": 3, "gone": None})
    with pytest.raises(InvalidArgument, match=r"^model must be at most 20 characters"):
        check_strings(table, {"model": "m" * 1_000_000})
    with pytest.raises(InvalidArgument, match=r"^note contains a NUL character"):
        check_strings(table, {"note": "a\x00b"})
    with pytest.raises(InvalidArgument, match=r"^model contains a NUL character"):
        check_strings(table, {"model": "\x00"})
