"""OCPP 2.0.1 JSON payloads ⇄ the generated protobuf messages, as pure code.

The gateway calls this on every OCPP frame, so everything descriptor-derived is computed once at
import: the action → message tables, the OCPP-spelling ⇄ enum-number tables (read from the
``(csms.ocpp.v201.ocpp_value)`` options that ``proto/tools/gen_ocpp_proto.py`` writes), and a
"plan" per message listing only the JSON paths that need more than ``json_format``. Messages with
no enum, date-time or Struct anywhere below them go straight to ``json_format``.

``json_format`` does the rest: field names through ``json_name``, RFC 3339 ⇄ ``Timestamp``, and
``customData`` ⇄ ``Struct``. Presence follows the proto: every singular scalar is ``optional``, so
0, false and "" survive; unset fields, including empty repeated ones, are omitted on output; an
explicitly set empty sub-message (OCPP ``{}``) comes back as ``{}``.

A date-time that leaves is what OCPP 2.0.1 Part 2 allows: UTC with ``Z``, at most three decimal
places. A Timestamp holds nanoseconds, so both paths write it cut (never rounded: never later
than it is) to the millisecond, without a fraction when that is zero, as protobuf itself writes
a whole second: ``2026-01-01T00:00:00Z``, ``2026-01-01T00:00:00.120Z`` (:func:`_millis`).

``json_format`` is pure Python and walks descriptors on every call (~350 µs for a TransactionEvent
here), so both directions first try a direct path (:func:`_fast_in`, :func:`_fast_out`) built
from the descriptors once: JSON names to field names, enum spellings to numbers, RFC 3339 to
Timestamp, with the nested dicts handed to the generated (upb, C) constructor in one go. It takes
only what it is sure of (exact JSON types, known keys, a date-time in protobuf's own form);
anything else (a wrong type, an unknown key, null, an out-of-range number or instant) goes the
``json_format`` way below, which gives the same message, or the error with its path. A test
holds the two paths equal on generated payloads of every schema.

Its Timestamp parser refuses some date-times the OCPP schemas accept (lower-case ``t``/``z``, a leap
second, more than nine fraction digits, a ``+hhmm`` offset). A payload it refuses therefore has its
date-times rewritten (:func:`_date_time`) and is parsed once more; only that failure path pays for
the extra walk, every other frame is parsed once, as before.

:func:`to_proto_steps` is :func:`to_proto` in steps, for a caller on an event loop: a NotifyReport
of 1,500 variables (930 KB) takes 10 ms of CPU to convert, during which nothing else runs; in
steps of :data:`STEP_ITEMS` entries of its long lists, each about 1.5 ms, with the caller free to
let others run between two.
"""

from __future__ import annotations

import datetime
import functools
import math
import re
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from csms.ocpp.v201 import messages_pb2

__all__ = [
    "ConversionError",
    "REQUEST_TYPES",
    "integral",
    "RESPONSE_TYPES",
    "STEP_ITEMS",
    "to_proto",
    "to_proto_steps",
    "to_ocpp",
    "ocpp_enum_value",
    "ocpp_enum_values",
    "proto_enum_number",
]

# Struct/Value hold JSON numbers as doubles; integral ones within this bound go back out as ints
# so a vendor's {"count": 3} is not echoed as {"count": 3.0}.
_MAX_EXACT_INT: Final = 2**53
_VALUE_TYPES: Final = frozenset({"google.protobuf.Struct", "google.protobuf.Value"})
_TIMESTAMP_TYPE: Final = "google.protobuf.Timestamp"


class ConversionError(ValueError):
    """A payload cannot be converted; the message starts with the JSON path that failed."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _EnumTable:
    """One generated enum: OCPP spelling ⇄ number, without the UNSPECIFIED zero."""

    name: str
    numbers: Mapping[str, int]
    values: Mapping[int, str]


def _enum_table(enum: EnumDescriptor) -> _EnumTable:
    numbers: dict[str, int] = {}
    for value in enum.values:
        if value.number == 0:
            continue
        ocpp = value.GetOptions().Extensions[messages_pb2.ocpp_value]
        if not ocpp:
            raise RuntimeError(f"{enum.full_name}.{value.name} has no ocpp_value option")
        numbers[ocpp] = value.number
    return _EnumTable(enum.name, numbers, {n: v for v, n in numbers.items()})


_ENUMS: Final[Mapping[str, _EnumTable]] = MappingProxyType(
    {
        enum.full_name: _enum_table(enum)
        for enum in messages_pb2.DESCRIPTOR.enum_types_by_name.values()
    }
)


# A plan maps a JSON name to a step: (kind, repeated, argument), where kind is one of:
_ENUM: Final = 0  # argument: _EnumTable
_MESSAGE: Final = 1  # argument: the sub-message's plan
_VALUE: Final = 2  # Struct/Value: integral doubles back to ints (outbound only)
# Timestamp: rewritten for protobuf's parser (to_proto's retry), cut to milliseconds (to_ocpp)
_DATE_TIME: Final = 3
_Plan = dict[str, tuple[int, bool, Any]]

# What a set of plans is for; each has its own.
_IN: Final = 0  # to_proto: enum strings to numbers
_OUT: Final = 1  # to_ocpp: enum numbers to strings, Struct/Value numbers to ints, date-times cut
_REPAIR: Final = 2  # to_proto after protobuf refused the payload: date-times rewritten


def _build_plan(message: Descriptor, mode: int, cache: dict[str, _Plan]) -> _Plan:
    """The JSON keys under which something beyond json_format must happen; empty if none."""
    if message.full_name in cache:
        return cache[message.full_name]
    plan: _Plan = {}
    cache[message.full_name] = plan  # filled in place, which also ends any recursion
    for fld in message.fields:
        step = _step(fld, mode, cache)
        if step is not None:
            plan[fld.json_name] = step
    return plan


def _step(fld: FieldDescriptor, mode: int, cache: dict[str, _Plan]) -> Any:
    if fld.enum_type is not None:
        if mode == _REPAIR:
            return None
        return (_ENUM, fld.is_repeated, _ENUMS[fld.enum_type.full_name])
    if fld.message_type is None:
        return None
    if fld.message_type.full_name in _VALUE_TYPES:
        return (_VALUE, fld.is_repeated, None) if mode == _OUT else None
    if fld.message_type.full_name == _TIMESTAMP_TYPE:
        return (_DATE_TIME, fld.is_repeated, None) if mode != _IN else None
    sub = _build_plan(fld.message_type, mode, cache)
    return (_MESSAGE, fld.is_repeated, sub) if sub else None


def _build_plans(mode: int) -> Mapping[str, _Plan]:
    cache: dict[str, _Plan] = {}
    for message in messages_pb2.DESCRIPTOR.message_types_by_name.values():
        _build_plan(message, mode, cache)
    return MappingProxyType(cache)


_PLANS: Final = tuple(_build_plans(mode) for mode in (_IN, _OUT, _REPAIR))


def _plan(descriptor: Descriptor, mode: int) -> _Plan:
    """The plan of a message in one mode; built on the spot for a message not in messages_pb2."""
    plan = _PLANS[mode].get(descriptor.full_name)
    return _build_plan(descriptor, mode, {}) if plan is None else plan


def _payload_types(suffix: str) -> Mapping[str, type[Message]]:
    return MappingProxyType(
        {
            name.removesuffix(suffix): getattr(messages_pb2, name)
            for name in sorted(messages_pb2.DESCRIPTOR.message_types_by_name)
            if name.endswith(suffix)
        }
    )


# The generator guarantees only payload messages end in Request/Response.
REQUEST_TYPES: Final[Mapping[str, type[Message]]] = _payload_types("Request")
RESPONSE_TYPES: Final[Mapping[str, type[Message]]] = _payload_types("Response")


def _enum_in(table: _EnumTable, value: Any, path: str) -> int:
    number = table.numbers.get(value) if isinstance(value, str) else None
    if number is None:
        raise ConversionError(path, f"{value!r} is not a {table.name} value")
    return number


def _enum_out(table: _EnumTable, number: int, path: str) -> str:
    value = table.values.get(number)
    if value is None:
        raise ConversionError(path, f"{table.name} number {number} has no OCPP value")
    return value


def _inbound(plan: _Plan, data: dict[str, Any], path: str) -> dict[str, Any]:
    """A copy of ``data`` with enum strings replaced by numbers; the caller's dict is untouched."""
    out = data
    for key, (kind, repeated, arg) in plan.items():
        value = data.get(key)
        if value is None:
            continue
        where = f"{path}.{key}" if path else key
        if repeated:
            if not isinstance(value, list):
                continue  # json_format reports the wrong shape with its path
            new: Any = [_inbound_one(kind, arg, v, f"{where}[{i}]") for i, v in enumerate(value)]
        else:
            new = _inbound_one(kind, arg, value, where)
        if new is not value:
            if out is data:
                out = dict(data)
            out[key] = new
    return out


def _inbound_one(kind: int, arg: Any, value: Any, path: str) -> Any:
    if kind == _ENUM:
        return _enum_in(arg, value, path)
    if kind == _DATE_TIME:
        return _date_time(value)
    return _inbound(arg, value, path) if isinstance(value, dict) else value


# A date-time as the schemas' "date-time" format takes it: RFC 3339, plus the "+hhmm" offset the
# validator (fastjsonschema) also lets through. Whether the date exists is protobuf's business.
_RFC3339 = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:[Zz]|([+-][0-9]{2}):?([0-9]{2}))"
)
_LEAP_SECOND: Final = ("59", "999999999")


def _date_time(value: Any) -> Any:
    """``value`` in the form protobuf's Timestamp parser takes, or as it is if it is no date-time.

    Upper-case ``T`` and ``Z``; the fraction cut (not rounded) to nanoseconds, all a Timestamp
    holds; a ``+hhmm`` offset written ``+hh:mm``. A leap second (``:60``, Timestamp has none)
    becomes the last nanosecond of the second before it, ``:59.999999999``: the instant keeps
    its date and minute and still sorts after the rest of ``:59``, whereas rolling over to the
    next second would collide with that second's own events (and could change the date).
    """
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return value
    date, minute, second, fraction, offset_hours, offset_minutes = match.groups()
    if second == "60":
        second, fraction = _LEAP_SECOND
    zone = "Z" if offset_hours is None else f"{offset_hours}:{offset_minutes}"
    text = f"{date}T{minute}:{second}{'.' + fraction[:9] if fraction else ''}{zone}"
    return value if text == value else text


def _outbound(plan: _Plan, data: dict[str, Any], path: str) -> None:
    """Rewrite MessageToDict's output in place: enum numbers to OCPP strings, and so on."""
    for key, (kind, repeated, arg) in plan.items():
        value = data.get(key)
        if value is None:
            continue
        where = f"{path}.{key}" if path else key
        if kind == _ENUM:
            if repeated:
                data[key] = [_enum_out(arg, n, f"{where}[{i}]") for i, n in enumerate(value)]
            else:
                data[key] = _enum_out(arg, value, where)
        elif kind == _MESSAGE:
            for i, item in enumerate(value) if repeated else ((None, value),):
                _outbound(arg, item, where if i is None else f"{where}[{i}]")
        elif kind == _DATE_TIME:
            data[key] = [_millis(v) for v in value] if repeated else _millis(value)
        else:
            data[key] = integral(value)


def integral(value: Any) -> Any:
    """JSON from a Struct/Value with whole doubles turned back into ints."""
    if isinstance(value, float):
        if value.is_integer() and -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT:
            return int(value)
        return value
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value


# -- the direct path -------------------------------------------------------------------------------


class _Slow(Exception):
    """The direct path does not take this payload: json_format decides."""


_SLOW: Final = _Slow()
_INT32: Final = range(-(2**31), 2**31)
_NAIVE_EPOCH: Final = datetime.datetime(1970, 1, 1)
# A date-time as protobuf's own parser takes it (the others go the json_format way).
_PROTO_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-5][0-9])(?:\.([0-9]{1,9}))?"
    r"(?:Z|([+-])([0-9]{2}):([0-9]{2}))"
)
_MIN_SECONDS: Final = -62135596800  # 0001-01-01T00:00:00Z, Timestamp's range
_MAX_SECONDS: Final = 253402300799  # 9999-12-31T23:59:59Z

# Per message: JSON name -> (field name, repeated, convert one value).
_InSpec = dict[str, tuple[str, bool, Callable[[Any], Any]]]
# Per message: field number -> (JSON name, repeated, convert one value).
_OutSpec = dict[int, tuple[str, bool, Callable[[Any], Any]]]


def _double_in(value: Any) -> Any:
    if type(value) is float or type(value) is int:
        return value
    raise _SLOW


def _int32_in(value: Any) -> Any:
    if type(value) is int and value in _INT32:
        return value
    raise _SLOW


def _bool_in(value: Any) -> Any:
    if type(value) is bool:
        return value
    raise _SLOW


def _string_in(value: Any) -> Any:
    if type(value) is str:
        return value
    raise _SLOW


def _timestamp_in(value: Any) -> Any:
    if type(value) is not str:
        raise _SLOW
    return _timestamp_text_in(value)


@functools.lru_cache(maxsize=1024)
def _timestamp_text_in(value: str) -> dict[str, int]:
    """The Timestamp constructor's arguments of a date-time text, kept for the next message
    with the same text (an event's own timestamp and its meter values', the same moment at
    many stations). The dict is shared: it is only read, by the constructor."""
    match = _PROTO_DATE_TIME.fullmatch(value)
    if match is None:
        raise _SLOW
    fraction, sign, off_h, off_m = match.group(7, 8, 9, 10)
    try:
        # The match's first 19 characters are "YYYY-MM-DDTHH:MM:SS": read in C, range-checked.
        since = datetime.datetime.fromisoformat(value[:19]) - _NAIVE_EPOCH
    except ValueError:
        raise _SLOW from None
    seconds = since.days * 86400 + since.seconds
    if sign is not None:
        offset = int(off_h) * 3600 + int(off_m) * 60
        seconds += -offset if sign == "+" else offset
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        raise _SLOW
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    return {"seconds": seconds, "nanos": nanos} if nanos else {"seconds": seconds}


def _struct_in(value: Any) -> Any:
    if type(value) is not dict:
        raise _SLOW
    return json_format.ParseDict(value, struct_pb2.Struct())


def _value_in(value: Any) -> Any:
    return json_format.ParseDict(value, struct_pb2.Value())


_SCALARS_IN: Final = {
    FieldDescriptor.TYPE_DOUBLE: _double_in,
    FieldDescriptor.TYPE_INT32: _int32_in,
    FieldDescriptor.TYPE_BOOL: _bool_in,
    FieldDescriptor.TYPE_STRING: _string_in,
}


def _enum_in_fast(table: _EnumTable) -> Callable[[Any], Any]:
    numbers = table.numbers

    def convert(value: Any) -> Any:
        number = numbers.get(value) if type(value) is str else None
        if number is None:
            raise _SLOW
        return number

    return convert


def _message_in(spec: _InSpec) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if type(value) is not dict:
            raise _SLOW
        return _fast_in(spec, value)

    return convert


def _in_spec(message: Descriptor, cache: dict[str, _InSpec]) -> _InSpec:
    if message.full_name in cache:
        return cache[message.full_name]
    spec: _InSpec = {}
    cache[message.full_name] = spec  # filled in place, which also ends any recursion
    for fld in message.fields:
        convert: Callable[[Any], Any] | None
        if fld.enum_type is not None:
            convert = _enum_in_fast(_ENUMS[fld.enum_type.full_name])
        elif fld.message_type is not None:
            name = fld.message_type.full_name
            if name == _TIMESTAMP_TYPE:
                convert = _timestamp_in
            elif name == "google.protobuf.Struct":
                convert = _struct_in
            elif name == "google.protobuf.Value":
                convert = _value_in
            else:
                convert = _message_in(_in_spec(fld.message_type, cache))
        else:
            convert = _SCALARS_IN.get(fld.type)
        if convert is not None:  # a field of another type is left to json_format
            spec[fld.json_name] = (fld.name, fld.is_repeated, convert)
    return spec


def _fast_in(spec: _InSpec, data: dict[str, Any]) -> dict[str, Any]:
    """The constructor's keyword arguments for ``data``; _Slow if the direct path cannot."""
    kwargs = {}
    for key, value in data.items():
        entry = spec.get(key)
        if entry is None:
            raise _SLOW
        name, repeated, convert = entry
        if repeated:
            if type(value) is not list:
                raise _SLOW
            kwargs[name] = [convert(v) for v in value]
        else:
            kwargs[name] = convert(value)
    return kwargs


def _identity(value: Any) -> Any:
    return value


def _double_out(value: float) -> Any:
    if math.isfinite(value):
        return value
    raise _SLOW  # json_format spells them "NaN", "Infinity"


@functools.lru_cache(maxsize=1024)
def _second_text(seconds: int) -> str:
    """The text of a second since the epoch, ``YYYY-MM-DDTHH:MM:SS`` (the timestamps of a
    moment's messages share a few seconds: the cache answers most)."""
    return (_NAIVE_EPOCH + datetime.timedelta(seconds=seconds)).isoformat()


def _timestamp_out(value: Any) -> Any:
    """protobuf's JSON of a Timestamp (``ToJsonString``) cut to milliseconds (:func:`_millis`),
    made directly: a fifth of the time (one per meter value and per event)."""
    seconds, nanos = value.seconds, value.nanos
    if not (_MIN_SECONDS <= seconds <= _MAX_SECONDS and 0 <= nanos < 1_000_000_000):
        raise _SLOW  # outside Timestamp's range: json_format's path reports it
    text = _second_text(seconds)
    millis = nanos // 1_000_000
    return f"{text}.{millis:03d}Z" if millis else text + "Z"


# protobuf writes a Timestamp "YYYY-MM-DDTHH:MM:SS[.fff[fff[fff]]]Z" (always four year digits).
_MILLIS_LENGTH: Final = len("2026-01-01T00:00:00.000Z")
_SECOND_LENGTH: Final = len("2026-01-01T00:00:00")


def _millis(text: str) -> str:
    """protobuf's JSON of a Timestamp cut to milliseconds: no fraction when that is zero."""
    if len(text) <= _MILLIS_LENGTH:  # 0 or 3 digits already
        return text
    millis = text[_SECOND_LENGTH + 1 : _SECOND_LENGTH + 4]
    if millis == "000":
        return text[:_SECOND_LENGTH] + "Z"
    return text[: _SECOND_LENGTH + 4] + "Z"


def _json_out(value: Any) -> Any:
    return integral(json_format.MessageToDict(value))


def _enum_out_fast(table: _EnumTable) -> Callable[[Any], Any]:
    values = table.values

    def convert(number: Any) -> Any:
        value = values.get(number)
        if value is None:
            raise _SLOW
        return value

    return convert


def _message_out(spec: _OutSpec) -> Callable[[Any], Any]:
    return lambda value: _fast_out(spec, value)


def _out_spec(message: Descriptor, cache: dict[str, _OutSpec]) -> _OutSpec:
    if message.full_name in cache:
        return cache[message.full_name]
    spec: _OutSpec = {}
    cache[message.full_name] = spec
    for fld in message.fields:
        convert: Callable[[Any], Any] | None
        if fld.enum_type is not None:
            convert = _enum_out_fast(_ENUMS[fld.enum_type.full_name])
        elif fld.message_type is not None:
            name = fld.message_type.full_name
            if name == _TIMESTAMP_TYPE:
                convert = _timestamp_out
            elif name in _VALUE_TYPES:
                convert = _json_out
            else:
                convert = _message_out(_out_spec(fld.message_type, cache))
        elif fld.type == FieldDescriptor.TYPE_DOUBLE:
            convert = _double_out
        elif fld.type in _SCALARS_IN:
            convert = _identity
        else:
            convert = None
        if convert is not None:
            spec[fld.number] = (fld.json_name, fld.is_repeated, convert)
    return spec


def _fast_out(spec: _OutSpec, message: Message) -> dict[str, Any]:
    data = {}
    for fld, value in message.ListFields():
        entry = spec.get(fld.number)
        if entry is None:
            raise _SLOW
        name, repeated, convert = entry
        data[name] = [convert(v) for v in value] if repeated else convert(value)
    return data


def _specs(build: Callable[[Descriptor, dict[str, Any]], Any]) -> dict[str, Any]:
    cache: dict[str, Any] = {}
    for message in messages_pb2.DESCRIPTOR.message_types_by_name.values():
        build(message, cache)
    return cache


_IN_SPECS: Final[Mapping[str, _InSpec]] = MappingProxyType(_specs(_in_spec))
_OUT_SPECS: Final[Mapping[str, _OutSpec]] = MappingProxyType(_specs(_out_spec))


_PARSE_PREFIX = re.compile(r"Failed to parse (\S+) field: ")
_PARSE_AT = re.compile(r' at "?([\w.\[\]]+?)"?\.*$')


def _parse_error(message_name: str, error: Exception) -> ConversionError:
    """Turn json_format's nested 'Failed to parse x field: ...' text into 'path: reason'."""
    text = str(error)
    names = _PARSE_PREFIX.findall(text)
    reason = _PARSE_PREFIX.sub("", text).rstrip(".")
    path = ".".join(names)
    at = _PARSE_AT.search(reason)
    if at and at.group(1).startswith(message_name + "."):
        path = at.group(1).removeprefix(message_name + ".")
        reason = reason[: at.start()]
    return ConversionError(path or message_name, reason)


def to_proto(message_type: type[Message], payload: dict[str, Any]) -> Message:
    """An OCPP JSON payload (already schema-valid) as a ``message_type`` message."""
    spec = _IN_SPECS.get(message_type.DESCRIPTOR.full_name)
    if spec is not None and type(payload) is dict:
        try:
            return message_type(**_fast_in(spec, payload))
        except (_Slow, json_format.ParseError, ValueError, TypeError):
            pass  # json_format decides, with its error and path if it is one
    return _to_proto_slow(message_type, payload)


# Entries of a long repeated field converted per step of to_proto_steps (a NotifyReport's 256
# reportData entries: about 1.5 ms).
STEP_ITEMS: Final = 256


def to_proto_steps(
    message_type: type[Message], payload: dict[str, Any], step: int = STEP_ITEMS
) -> Generator[None, None, Message]:
    """:func:`to_proto` as a generator that yields after every ``step`` entries of the payload's
    lists longer than ``step`` (at its top level) and returns the same message. A payload
    without such a list is converted at once, without a yield; one the direct path does not
    take goes the json_format way, in one piece (an error's path is found there)."""
    spec = _IN_SPECS.get(message_type.DESCRIPTOR.full_name)
    long = (
        [
            key
            for key, value in payload.items()
            if type(value) is list and len(value) > step and key in spec and spec[key][1]
        ]
        if spec is not None and type(payload) is dict
        else None
    )
    if not long:
        return to_proto(message_type, payload)
    assert spec is not None
    try:
        message = message_type(
            **_fast_in(spec, {k: v for k, v in payload.items() if k not in long})
        )
        for key in long:
            name, _, convert = spec[key]
            field = getattr(message, name)
            # Sub-messages are added from their constructor's arguments, scalars as they are.
            add = field.add if message_type.DESCRIPTOR.fields_by_name[name].message_type else None
            items = payload[key]
            for start in range(0, len(items), step):
                if add is not None:
                    for item in items[start : start + step]:
                        add(**convert(item))
                else:
                    field.extend([convert(item) for item in items[start : start + step]])
                yield
        return message
    except (_Slow, json_format.ParseError, ValueError, TypeError):
        pass  # json_format decides, with its error and path if it is one
    return _to_proto_slow(message_type, payload)


def _to_proto_slow(message_type: type[Message], payload: dict[str, Any]) -> Message:
    """to_proto through json_format (and the date-time repair): every payload, every error."""
    descriptor = message_type.DESCRIPTOR
    if not isinstance(payload, dict):
        raise ConversionError(descriptor.name, f"expected a JSON object, got {type(payload)}")
    plan = _plan(descriptor, _IN)
    data = _inbound(plan, payload, "") if plan else payload
    try:
        return json_format.ParseDict(data, message_type())
    except (json_format.ParseError, ValueError, TypeError) as error:
        # Only now look for date-times protobuf may have refused: the hot path stays one parse.
        repair = _plan(descriptor, _REPAIR)
        repaired = _inbound(repair, data, "") if repair else data
        if repaired is data:
            raise _parse_error(descriptor.name, error) from error
    try:
        return json_format.ParseDict(repaired, message_type())
    except (json_format.ParseError, ValueError, TypeError) as error:
        raise _parse_error(descriptor.name, error) from error


def to_ocpp(message: Message) -> dict[str, Any]:
    """The OCPP JSON payload of ``message``; unset fields are omitted, never null, {} or []."""
    spec = _OUT_SPECS.get(message.DESCRIPTOR.full_name)
    if spec is not None:
        try:
            return _fast_out(spec, message)
        except _Slow:
            pass
    return _to_ocpp_slow(message)


def _to_ocpp_slow(message: Message) -> dict[str, Any]:
    """to_ocpp through json_format."""
    try:
        data: dict[str, Any] = json_format.MessageToDict(
            message, preserving_proto_field_name=False, use_integers_for_enums=True
        )
    except json_format.SerializeToJsonError as error:  # a Timestamp outside its range
        raise ConversionError(message.DESCRIPTOR.name, str(error).rstrip(".")) from error
    plan = _plan(message.DESCRIPTOR, _OUT)
    if plan:
        _outbound(plan, data, "")
    return data


def _table(enum_type: Any) -> _EnumTable:
    """The table of an enum given as descriptor, generated wrapper or (full) name."""
    name: object
    if isinstance(enum_type, str):
        name = enum_type if "." in enum_type else f"{messages_pb2.DESCRIPTOR.package}.{enum_type}"
    else:
        name = getattr(getattr(enum_type, "DESCRIPTOR", enum_type), "full_name", None)
    table = _ENUMS.get(name) if isinstance(name, str) else None
    if table is None:
        raise TypeError(f"{enum_type!r} is not an OCPP 2.0.1 enum of {messages_pb2.__name__}")
    return table


def ocpp_enum_value(enum_type: EnumDescriptor | Any, number: int) -> str:
    """The OCPP spelling of an enum number, e.g. (ChargingStateEnum, 3) -> "SuspendedEV"."""
    table = _table(enum_type)
    return _enum_out(table, number, table.name)


def ocpp_enum_values(enum_type: EnumDescriptor | Any) -> Mapping[int, str]:
    """Every enum number of the enum (but UNSPECIFIED's 0) to its OCPP spelling."""
    return _table(enum_type).values


def proto_enum_number(enum_type: EnumDescriptor | Any, ocpp_value: str) -> int:
    """The enum number of an OCPP spelling, e.g. (MeasurandEnum, "Power.Factor") -> 17."""
    table = _table(enum_type)
    return _enum_in(table, ocpp_value, table.name)
