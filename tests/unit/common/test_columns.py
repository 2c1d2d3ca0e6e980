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


_PLUS_5 = datetime.timezone(datetime.timedelta(hours=5, minutes=30))


@pytest.mark.parametrize(
    "value",
    [
        datetime.datetime(2026, 12, 6, 15, 4, 5, 678_901, tzinfo=datetime.UTC),
        datetime.datetime(2026, 12, 6, 15, 4, 5, 678_901),  # naive: taken as UTC
        datetime.datetime(2026, 12, 6, 1, 0, 0, 1, tzinfo=_PLUS_5),  # the day before in UTC
        datetime.datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=datetime.UTC),
        datetime.datetime(1, 1, 1, tzinfo=datetime.UTC),
        datetime.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=datetime.UTC),
    ],
)
def test_timestamp_is_from_datetimes_own(value: datetime.datetime) -> None:
    """A datetime column's Timestamp is what protobuf's FromDatetime gives."""
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(value)
    assert timestamp(value) == expected
    assert timestamp(None) is None


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
