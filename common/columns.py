"""Between database columns and protobuf fields, for every servicer: timestamps and OCPP enums,
and the strings a column can hold.

The services keep OCPP enum values in their databases as OCPP spells them ("Accepted"), ""
for unset, and timestamps as aware UTC datetimes; these turn them into protobuf fields and back.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from google.protobuf import timestamp_pb2
from sqlalchemy import FromClause

from common.errors import InvalidArgument
from common.ocpp_json import (
    ConversionError,
    ocpp_enum_value,
    ocpp_enum_values,
    proto_enum_number,
)

__all__ = ["check_strings", "timestamp", "utc_datetime", "enum_column", "enum_number"]

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def timestamp(value: datetime.datetime | None) -> timestamp_pb2.Timestamp | None:
    """A Timestamp field of a datetime column (None stays unset)."""
    if value is None:
        return None
    # What Timestamp.FromDatetime gives (a naive datetime taken as UTC), in a quarter of its
    # time: a station's view has three, a listing one per row and column.
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    since = value - _EPOCH
    return timestamp_pb2.Timestamp(
        seconds=since.days * 86400 + since.seconds, nanos=since.microseconds * 1000
    )


def utc_datetime(ts: timestamp_pb2.Timestamp) -> datetime.datetime:
    """A Timestamp field as an aware UTC datetime, nanoseconds cut to microseconds as
    ``ToDatetime`` does, in a quarter of its time (a TransactionEvent has one per event)."""
    return _EPOCH + datetime.timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1000)


def check_strings(table: FromClause, values: Mapping[str, Any]) -> None:
    """INVALID_ARGUMENT naming the first string of ``values`` (column name → value) that its
    column of ``table`` cannot hold: longer than its length, or with a NUL character. Checked
    here, before the database, so that both backends refuse alike (SQLite stores either;
    PostgreSQL fails on both)."""
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            raise InvalidArgument(f"{name} contains a NUL character (U+0000), which is refused")
        column = table.columns.get(name)
        length = getattr(column.type, "length", None) if column is not None else None
        if length is not None and len(value) > length:
            raise InvalidArgument(f"{name} must be at most {length} characters")


# Each enum's numbers to spellings, by the enum as callers name it (its generated wrapper): one
# dict lookup per value instead of finding the enum's table by its name every time.
_SPELLINGS: dict[Any, Mapping[int, str]] = {}


def enum_column(enum_type: Any, number: int, field: str) -> str:
    """The OCPP spelling of an enum number; "" for UNSPECIFIED, a bad number the caller's fault."""
    if number == 0:
        return ""
    spellings = _SPELLINGS.get(enum_type)
    if spellings is None:
        spellings = _SPELLINGS[enum_type] = ocpp_enum_values(enum_type)
    value = spellings.get(number)
    if value is not None:
        return value
    try:
        return ocpp_enum_value(enum_type, number)
    except ConversionError as exc:
        raise InvalidArgument(f"{field}: {exc.reason}") from None


def enum_number(enum_type: Any, value: str) -> int:
    """The enum number of an OCPP spelling stored in a column; 0 (UNSPECIFIED) for ""."""
    return proto_enum_number(enum_type, value) if value else 0
