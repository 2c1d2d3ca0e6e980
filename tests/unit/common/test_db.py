"""common.db's UtcDateTime on SQLite: its own processors write SQLAlchemy's DATETIME text."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import DateTime
from sqlalchemy.dialects import postgresql, sqlite

from common.db import UtcDateTime

SQLITE = sqlite.dialect()
UTC = datetime.UTC
# What SQLAlchemy's own SQLite DATETIME writes of a naive datetime (the rows stored before).
_DATETIME_TEXT = DateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
_write = UtcDateTime().bind_processor(SQLITE)
_read = UtcDateTime().result_processor(SQLITE, None)


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.datetimes(
        min_value=datetime.datetime(1, 1, 2),
        max_value=datetime.datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, datetime.timezone(datetime.timedelta(hours=2)), datetime.timezone.min]
        ),
    )
)
def test_sqlite_text_is_sqlalchemys_datetime_text_of_the_utc_time(when: datetime.datetime) -> None:
    """Any aware datetime is written as SQLAlchemy's DATETIME writes its UTC time, and read
    back as that instant, aware in UTC."""
    assert _write is not None and _read is not None and _DATETIME_TEXT is not None
    utc = when.astimezone(UTC)
    text = _write(when)
    assert text == _DATETIME_TEXT(utc.replace(tzinfo=None))
    back = _read(text)
    assert back == when and back.tzinfo is UTC


def test_sqlite_text_of_a_whole_second_keeps_its_microseconds() -> None:
    """Text compares as text in SQLite: a whole second is written with its six zeros too."""
    assert _write is not None
    when = datetime.datetime(2026, 12, 5, 23, 0, tzinfo=UTC)
    assert _write(when) == "2026-12-05 23:00:00.000000"


def test_none_and_naive() -> None:
    """NULL stays NULL; a naive datetime is refused (which zone would it be in?)."""
    assert _write is not None and _read is not None
    assert _write(None) is None and _read(None) is None
    with pytest.raises(ValueError, match="naive"):
        _write(datetime.datetime(2026, 1, 1))


def test_text_without_fraction_or_with_offset_reads_as_utc() -> None:
    """Text another writer left (no fraction; an offset) is still read as the UTC instant."""
    assert _read is not None
    assert _read("2026-12-05 23:00:00") == datetime.datetime(2026, 12, 5, 23, 0, tzinfo=UTC)
    assert _read("2026-12-06 01:00:00+02:00") == datetime.datetime(2026, 12, 5, 23, tzinfo=UTC)


def test_postgresql_keeps_the_type_decorators_processing() -> None:
    """Other dialects get process_bind_param as before: aware UTC datetimes to the driver."""
    pg = postgresql.dialect()
    write = UtcDateTime().bind_processor(pg)
    when = datetime.datetime(2026, 12, 6, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    value = write(when) if write is not None else UtcDateTime().process_bind_param(when, pg)
    assert value == when and value is not None and value.tzinfo is UTC
