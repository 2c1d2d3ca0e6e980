"""Typed protobuf messages ⇄ the JSON of the REST API, which speaks OCPP's own words.

Envoy's gRPC-JSON transcoder prints an enum by its protobuf identifier (protobuf has no JSON name
for enum values, protocolbuffers/protobuf#4328), and OCPP values such as
``Energy.Active.Import.Register`` or ``s309-1P-16A`` are no identifiers. So the REST methods
(the ``*RestService`` of each service) take and return ``google.protobuf.Struct``, and this
module converts between that JSON and the typed messages the services work with:

- an OCPP 2.0.1 enum (``csms.ocpp.v201``) is spelled as OCPP spells it (the ``ocpp_value``
  option the generator writes from the schemas: :mod:`common.ocpp_json` holds the tables);
- our own enums read as words: the identifier without its enum's prefix, in lowerCamelCase
  (``API_KEY_ROLE_READER`` → ``"reader"``, ``STATE_ACTIVE`` → ``"active"``);
- an OCPP message inside a resource (a ``MeterValue``, a ``Component``) is rendered as OCPP's
  JSON (:func:`common.ocpp_json.to_ocpp`), its empty fields omitted as OCPP wants;
- 0 and false are data: a number or bool of our own messages is always printed, a field with
  explicit presence (``optional``) whenever it is set; an empty string, an unset message and an
  unspecified enum are omitted; a repeated field is always printed (``[]`` when empty).

On input every enum also takes the protobuf identifier (deprecated, kept for one release so
that no client of the transcoded API breaks) and its number. Nothing here does I/O.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from functools import cache
from typing import Any, Final

from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from common.ocpp_json import integral, ocpp_enum_value, to_ocpp

__all__ = [
    "RestJsonError",
    "check_text",
    "enum_word",
    "enum_words",
    "from_struct",
    "parse",
    "parse_enum",
    "render",
    "to_struct",
]

OCPP_PACKAGE: Final = "csms.ocpp.v201"
_WELL_KNOWN_JSON: Final = frozenset(
    {
        "google.protobuf.Timestamp",
        "google.protobuf.Duration",
        "google.protobuf.FieldMask",
        "google.protobuf.Struct",
        "google.protobuf.Value",
        "google.protobuf.ListValue",
        "google.protobuf.Empty",
    }
)
_INT64_TYPES: Final = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)


class RestJsonError(ValueError):
    """A request body or parameter that does not fit its message; names the JSON path."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


# -- enums ---------------------------------------------------------------------------------------


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).upper()


def _lower_camel(upper_snake: str) -> str:
    first, *rest = upper_snake.lower().split("_")
    return first + "".join(word.capitalize() for word in rest)


def _is_ocpp(enum: EnumDescriptor) -> bool:
    return bool(enum.file.package == OCPP_PACKAGE)


@cache
def enum_words(enum: EnumDescriptor) -> Mapping[int, str]:
    """Number → the REST spelling of each value of ``enum`` but its zero (unspecified)."""
    words: dict[int, str] = {}
    prefix = _upper_snake(enum.name) + "_"
    for value in enum.values:
        if value.number == 0:
            continue
        if _is_ocpp(enum):
            word = ocpp_enum_value(enum, value.number)
        else:
            word = _lower_camel(value.name.removeprefix(prefix))
        words[value.number] = word
    return words


@cache
def _enum_numbers(enum: EnumDescriptor) -> Mapping[str, int]:
    """Every accepted input spelling → number: the REST word, then the protobuf identifier."""
    numbers = {word: number for number, word in enum_words(enum).items()}
    for value in enum.values:
        numbers.setdefault(value.name, value.number)
    return numbers


def enum_word(enum: EnumDescriptor, number: int) -> str:
    """The REST spelling of one value, e.g. (AuthorizationStatusEnum, 1) → "Accepted"."""
    word = enum_words(enum).get(number)
    if word is None:
        raise ValueError(f"{enum.full_name} has no value {number}")
    return word


def parse_enum(enum: EnumDescriptor, value: Any, path: str = "") -> int:
    """The number of an input spelling: the REST word, the protobuf identifier or the number."""
    if isinstance(value, bool):
        pass
    elif isinstance(value, str):
        number = _enum_numbers(enum).get(value)
        if number is not None:
            return number
    elif isinstance(value, int | float) and value == int(value):
        if enum.values_by_number.get(int(value)) is not None:
            return int(value)
    words = ", ".join(f'"{w}"' for w in enum_words(enum).values())
    raise RestJsonError(path, f"{value!r} is not one of {words}")


# -- typed → JSON ----------------------------------------------------------------------------------


def render(message: Message) -> dict[str, Any]:
    """The REST JSON of a typed message (see the module's rules)."""
    data: dict[str, Any] = _render_message(message)
    return data


def to_struct(message: Message) -> struct_pb2.Struct:
    """:func:`render` as the Struct a REST method returns."""
    struct = struct_pb2.Struct()
    struct.update(render(message))
    return struct


def _render_message(message: Message) -> Any:
    descriptor = message.DESCRIPTOR
    if descriptor.full_name in _WELL_KNOWN_JSON:
        return integral(json_format.MessageToDict(message))
    if descriptor.file.package == OCPP_PACKAGE:
        return to_ocpp(message)
    data: dict[str, Any] = {}
    for fld in descriptor.fields:
        value = getattr(message, fld.name)
        if fld.is_repeated:
            if _is_map(fld):
                value_field = fld.message_type.fields_by_name["value"]
                data[fld.json_name] = {
                    str(k): _render_value(value_field, v) for k, v in value.items()
                }
            else:
                data[fld.json_name] = [_render_value(fld, v) for v in value]
            continue
        if fld.has_presence:
            if not message.HasField(fld.name):
                continue
        elif fld.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES) and not value:
            continue
        elif fld.enum_type is not None and value == 0:
            continue
        data[fld.json_name] = _render_value(fld, value)
    return data


def _is_map(fld: FieldDescriptor) -> bool:
    return fld.message_type is not None and fld.message_type.GetOptions().map_entry


def _render_value(fld: FieldDescriptor, value: Any) -> Any:
    if fld.message_type is not None:
        return _render_message(value)
    if fld.enum_type is not None:
        return enum_words(fld.enum_type).get(value, value)
    if fld.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode()
    if fld.type in _INT64_TYPES:
        return str(value)  # proto3's JSON mapping: 64-bit integers are strings
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


# -- JSON → typed ----------------------------------------------------------------------------------


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A request body as plain JSON, whole numbers as ints (Struct holds every number as a
    double)."""
    data: dict[str, Any] = integral(json_format.MessageToDict(struct))
    return data


def parse(message_type: type[Message], data: Any, path: str = "") -> Message:
    """A REST JSON object as a ``message_type`` message; RestJsonError names what is wrong.

    Field names are the JSON (lowerCamelCase) ones or the proto ones, as protobuf's JSON
    parser takes them; enums any spelling :func:`parse_enum` takes.
    """
    if not isinstance(data, dict):
        raise RestJsonError(path, f"expected a JSON object, got {_json_type(data)}")
    rewritten = _enums_to_numbers(message_type.DESCRIPTOR, data, path)
    try:
        return json_format.ParseDict(rewritten, message_type())
    except (json_format.ParseError, ValueError, TypeError) as error:
        raise RestJsonError(path, _parse_reason(error)) from None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )


def _fields_by_json_name(descriptor: Descriptor) -> Mapping[str, FieldDescriptor]:
    fields = {f.json_name: f for f in descriptor.fields}
    fields.update({f.name: f for f in descriptor.fields})
    return fields


def _enums_to_numbers(descriptor: Descriptor, data: dict[str, Any], path: str) -> dict[str, Any]:
    """A copy of ``data`` with every enum spelling replaced by its number, recursively."""
    if descriptor.full_name in _WELL_KNOWN_JSON:
        return data
    fields = _fields_by_json_name(descriptor)
    out = dict(data)
    for key, value in data.items():
        fld = fields.get(key)
        if fld is None or value is None:
            continue  # protobuf's parser reports the unknown field, and takes null as unset
        where = f"{path}.{key}" if path else key
        if fld.is_repeated and not _is_map(fld):
            if isinstance(value, list):
                out[key] = [_one_to_number(fld, v, f"{where}[{i}]") for i, v in enumerate(value)]
        elif not fld.is_repeated:
            out[key] = _one_to_number(fld, value, where)
    return out


def _one_to_number(fld: FieldDescriptor, value: Any, path: str) -> Any:
    if fld.enum_type is not None:
        return parse_enum(fld.enum_type, value, path)
    if fld.message_type is not None and isinstance(value, dict):
        return _enums_to_numbers(fld.message_type, value, path)
    return value


_PARSE_PREFIX = re.compile(r"Failed to parse (\S+) field: ")


def _parse_reason(error: Exception) -> str:
    """json_format's nested "Failed to parse x field: ..." as "x.y: reason"."""
    text = str(error)
    names = _PARSE_PREFIX.findall(text)
    reason = _PARSE_PREFIX.sub("", text).rstrip(".")
    return f"{'.'.join(names)}: {reason}" if names else reason


def check_text(message: Message, path: str = "") -> None:
    """RestJsonError naming the first string of ``message`` (path, query or body alike) that
    holds a NUL character: PostgreSQL's text cannot store one, so the API refuses it on every
    backend, before a service sees it."""
    for fld, value in message.ListFields():
        where = f"{path}.{fld.json_name}" if path else fld.json_name
        if _is_map(fld):
            value_field = fld.message_type.fields_by_name["value"]
            for key, item in value.items():
                if isinstance(key, str) and "\x00" in key:
                    raise RestJsonError(where, _NUL)
                _check_one(value_field, item, f"{where}.{key}")
        elif fld.is_repeated:
            for i, item in enumerate(value):
                _check_one(fld, item, f"{where}[{i}]")
        else:
            _check_one(fld, value, where)


_NUL = "contains a NUL character (U+0000), which this API does not accept"


def _check_one(fld: FieldDescriptor, value: Any, path: str) -> None:
    if fld.message_type is not None:
        check_text(value, path)
    elif isinstance(value, str) and "\x00" in value:
        raise RestJsonError(path, _NUL)
