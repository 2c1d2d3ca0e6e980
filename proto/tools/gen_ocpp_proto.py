"""Generate ``proto/csms/ocpp/v201/messages.proto`` from the official OCPP 2.0.1 JSON schemas.

The schemas come from the installed ``ocpp`` package, so the proto follows the pinned library
version and is never typed by hand. The output is deterministic: running the script twice gives
the same bytes, and ``--check`` fails when the committed file is stale.

Contracts that ``common.ocpp_json`` and the services rely on:

* ``XxxRequest.json`` / ``XxxResponse.json`` -> message ``XxxRequest`` / ``XxxResponse``.
* definition ``FooType`` -> message ``Foo``; ``FooEnumType`` -> enum ``FooEnum`` whose values are
  ``FOO_UNSPECIFIED = 0`` then ``FOO_<UPPER_SNAKE(value)>`` carrying the OCPP spelling in the
  ``(csms.ocpp.v201.ocpp_value)`` option.
* ``customData`` -> ``google.protobuf.Struct`` (vendors may add arbitrary properties); the one
  property without any type, ``DataTransfer*.data``, -> ``google.protobuf.Value`` (any JSON).
* the suffixes Request/Response belong to payload messages only (checked here).
* fields are the snake_case of the OCPP name, numbered in schema order, with ``json_name`` set
  whenever protobuf's default would not give back the OCPP name.
* every singular scalar or enum field is ``optional`` so 0 / false / "" survive a round trip.

Usage: python proto/tools/gen_ocpp_proto.py [--check]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.resources
import json
import pathlib
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "OUTPUT",
    "GenerationError",
    "build",
    "generate",
    "load_schemas",
    "main",
    "schema_dir",
    "snake",
    "upper_snake",
]

PROTO_ROOT = pathlib.Path(__file__).resolve().parents[1]
OUTPUT = PROTO_ROOT / "csms" / "ocpp" / "v201" / "messages.proto"
PACKAGE = "csms.ocpp.v201"
OPTION = "ocpp_value"
OPTION_NUMBER = 50001
CUSTOM_DATA = "CustomDataType"
# Long schema descriptions (some are paragraphs) are cut so each comment stays on one line.
MAX_COMMENT = 200

# Words the generic splitter would cut in unreadable places (bulk_so_c, IK_EV2, ...).
_WORD_OVERRIDES = ("SoC", "IKEv2", "IPSec", "eMAID")
_WORD = re.compile(
    "|".join(re.escape(w) for w in _WORD_OVERRIDES)
    # An acronym, digits included (V2G, CSMS, ISO15118), ends before a Capitalised word.
    + r"|[A-Z][A-Z0-9]*(?=[A-Z][a-z]|$)"
    # A word, with trailing digits and a unit-like capital tail (Max16A, Type2, Other1).
    + r"|[A-Z]?[a-z]+(?:\d+(?:[A-Z]+(?![a-z]))?)?"
    + r"|[A-Z]+\d*"
    + r"|\d+[A-Z]*(?![a-z])"
    + r"|\d+"
)
_SCALARS = {"string": "string", "integer": "int32", "number": "double", "boolean": "bool"}


class GenerationError(RuntimeError):
    """The schemas do not fit the contracts above; never write a half-right proto."""


@dataclass(frozen=True)
class Field:
    name: str
    number: int
    type: str
    label: str  # "", "optional" or "repeated"
    json_name: str | None
    comments: tuple[str, ...]


@dataclass(frozen=True)
class Message:
    name: str
    comments: tuple[str, ...]
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Enum:
    name: str
    comments: tuple[str, ...]
    values: tuple[tuple[str, str], ...]  # (proto value name, OCPP value)


@dataclass
class _Definitions:
    """Each definition once, with the schema that first declared it (for descriptions)."""

    by_name: dict[str, dict[str, Any]] = field(default_factory=dict)
    origin: dict[str, dict[str, Any]] = field(default_factory=dict)


def schema_dir() -> pathlib.Path:
    """Where the installed ``ocpp`` package keeps its OCPP 2.0.1 schemas."""
    return pathlib.Path(str(importlib.resources.files("ocpp") / "v201" / "schemas"))


def load_schemas(directory: pathlib.Path | None = None) -> dict[str, dict[str, Any]]:
    """Schema file stem -> parsed schema, sorted by name."""
    directory = directory or schema_dir()
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise GenerationError(f"no schemas found in {directory}")
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in paths}


def words(text: str) -> list[str]:
    """Split camelCase, PascalCase, dotted, hyphenated or spaced text into words."""
    out: list[str] = []
    for token in re.split(r"[^A-Za-z0-9]+", text):
        out.extend(_WORD.findall(token))
    if "".join(out) != re.sub(r"[^A-Za-z0-9]", "", text):
        raise GenerationError(f"cannot split {text!r} into words: {out}")
    return out


def snake(text: str) -> str:
    """lower_snake_case field name."""
    return "_".join(words(text)).lower()


def upper_snake(text: str) -> str:
    """UPPER_SNAKE_CASE enum value name."""
    return "_".join(words(text)).upper()


def default_json_name(field_name: str) -> str:
    """protoc's ToJsonName: drop each underscore and upper-case the next character."""
    out: list[str] = []
    upper_next = False
    for char in field_name:
        if char == "_":
            upper_next = True
        else:
            out.append(char.upper() if upper_next else char)
            upper_next = False
    return "".join(out)


def comment(description: str | None) -> tuple[str, ...]:
    """The schema description squeezed onto one comment line."""
    if not description:
        return ()
    text = " ".join(description.split())
    if len(text) > MAX_COMMENT:
        text = text[: MAX_COMMENT - 3].rsplit(" ", 1)[0] + "..."
    return (text,) if text else ()


def _without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [_without_descriptions(v) for v in node]
    return node


def collect_definitions(schemas: dict[str, dict[str, Any]]) -> _Definitions:
    """Merge the per-schema definitions, failing if two schemas disagree on a structure."""
    defs = _Definitions()
    for stem, schema in schemas.items():
        for name, definition in schema.get("definitions", {}).items():
            known = defs.by_name.get(name)
            if known is None:
                defs.by_name[name] = definition
                defs.origin[name] = schema
            elif _without_descriptions(known) != _without_descriptions(definition):
                raise GenerationError(f"definition {name} in {stem} differs from earlier schemas")
    return defs


def is_enum(definition: dict[str, Any]) -> bool:
    return "enum" in definition


def type_name(definition_name: str, definition: dict[str, Any]) -> str:
    """FooType -> Foo, FooEnumType -> FooEnum; the odd name without Type stays as it is."""
    name = definition_name.removesuffix("Type")
    if is_enum(definition) and not name.endswith("Enum"):
        raise GenerationError(f"enum definition {definition_name} is not named *EnumType")
    return name


def enum_prefix(enum_name: str) -> str:
    return upper_snake(enum_name.removesuffix("Enum"))


def build_enum(definition_name: str, defs: _Definitions, schemas: dict[str, Any]) -> Enum:
    definition = defs.by_name[definition_name]
    name = type_name(definition_name, definition)
    prefix = enum_prefix(name)
    values = tuple((f"{prefix}_{upper_snake(v)}", v) for v in definition["enum"])
    # The enum descriptions differ per schema (each describes its use); keep the first one.
    descriptions = (
        s["definitions"][definition_name].get("description")
        for s in schemas.values()
        if definition_name in s.get("definitions", {})
    )
    return Enum(name, comment(next((d for d in descriptions if d), None)), values)


def _ref_name(ref: str) -> str:
    if not ref.startswith("#/definitions/"):
        raise GenerationError(f"unsupported $ref {ref}")
    return ref.removeprefix("#/definitions/")


def field_type(prop: dict[str, Any], defs: _Definitions, where: str) -> str:
    """The protobuf type of a non-array property."""
    if "$ref" in prop:
        target = _ref_name(prop["$ref"])
        if target == CUSTOM_DATA:
            return "google.protobuf.Struct"
        if target not in defs.by_name:
            raise GenerationError(f"{where}: dangling $ref {target}")
        return type_name(target, defs.by_name[target])
    kind = prop.get("type")
    if kind is None and not prop.keys() - {"description"}:
        # DataTransfer.data: "without specified length or format", i.e. any JSON value.
        return "google.protobuf.Value"
    if kind == "string" and prop.get("format") == "date-time":
        return "google.protobuf.Timestamp"
    if kind in _SCALARS and "enum" not in prop:
        return _SCALARS[kind]
    raise GenerationError(f"{where}: unsupported property schema {prop}")


def _constraints(prop: dict[str, Any]) -> str:
    keys = ("maxLength", "minItems", "maxItems", "minimum", "maximum", "default", "format")
    found = [(key, prop.get(key, prop.get("items", {}).get(key))) for key in keys]
    parts = [f"{key} {json.dumps(value)}" for key, value in found if value is not None]
    return f"OCPP: {', '.join(parts)}." if parts else ""


def build_field(
    prop_name: str,
    prop: dict[str, Any],
    number: int,
    required: bool,
    defs: _Definitions,
    origin: dict[str, Any],
    where: str,
) -> Field:
    repeated = prop.get("type") == "array"
    item = prop["items"] if repeated else prop
    proto_type = field_type(item, defs, f"{where}.{prop_name}")
    is_message = proto_type.startswith("google.protobuf.") or (
        "$ref" in item and not is_enum(defs.by_name[_ref_name(item["$ref"])])
    )
    label = "repeated" if repeated else ("" if is_message else "optional")
    name = snake(prop_name)
    json_name = prop_name if default_json_name(name) != prop_name else None
    description = prop.get("description") or item.get("description")
    if not description and "$ref" in item:
        # A $ref property carries no description; the referenced definition in the same schema
        # describes this use of it (enum descriptions in particular differ per schema).
        target = origin.get("definitions", {}).get(_ref_name(item["$ref"]), {})
        description = target.get("description")
    if proto_type == "google.protobuf.Struct":
        description = "Vendor extension (OCPP CustomDataType): vendorId plus any properties."
    notes = ["Required."] if required else []
    constraints = _constraints(prop)
    lines = comment(description) + tuple(notes) + ((constraints,) if constraints else ())
    return Field(name, number, proto_type, label, json_name, lines)


def build_message(
    name: str,
    schema: dict[str, Any],
    defs: _Definitions,
    origin: dict[str, Any],
    comments: tuple[str, ...],
) -> Message:
    if schema.get("type") != "object":
        raise GenerationError(f"{name}: expected an object schema")
    required = set(schema.get("required", ()))
    props = schema.get("properties", {})
    unknown = required - props.keys()
    if unknown:
        raise GenerationError(f"{name}: required properties without schema: {sorted(unknown)}")
    fields = tuple(
        build_field(p, s, i, p in required, defs, origin, name)
        for i, (p, s) in enumerate(props.items(), start=1)
    )
    _check_unique((f.name for f in fields), f"field names of {name}")
    _check_unique((f.json_name or f.name for f in fields), f"JSON names of {name}")
    return Message(name, comments, fields)


def _check_unique(names: Iterable[str], what: str) -> None:
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise GenerationError(f"name collision among {what}: {duplicates}")


def build(schemas: dict[str, dict[str, Any]]) -> tuple[list[Enum], list[Message], list[Message]]:
    """Enums, shared messages and request/response messages, each sorted by name."""
    defs = collect_definitions(schemas)
    enums: list[Enum] = []
    shared: list[Message] = []
    for def_name, definition in defs.by_name.items():
        if def_name == CUSTOM_DATA:
            continue
        if is_enum(definition):
            enums.append(build_enum(def_name, defs, schemas))
        else:
            name = type_name(def_name, definition)
            origin = defs.origin[def_name]
            desc = comment(definition.get("description"))
            shared.append(build_message(name, definition, defs, origin, desc))
    payloads: list[Message] = []
    for stem, schema in schemas.items():
        action, kind = _split_stem(stem)
        call = "CALL" if kind == "Request" else "CALLRESULT"
        desc = (f"Payload of the OCPP 2.0.1 {action} {call}.",)
        payloads.append(build_message(stem, schema, defs, schema, desc))
    for message in shared:
        if message.name.endswith(("Request", "Response")):
            # common.ocpp_json finds the payload messages by these suffixes.
            raise GenerationError(f"shared message {message.name} looks like a payload")
    enums.sort(key=lambda e: e.name)
    shared.sort(key=lambda m: m.name)
    payloads.sort(key=lambda m: m.name)
    _check_package_scope(enums, shared + payloads)
    return enums, shared, payloads


def _split_stem(stem: str) -> tuple[str, str]:
    for kind in ("Request", "Response"):
        if stem.endswith(kind) and len(stem) > len(kind):
            return stem.removesuffix(kind), kind
    raise GenerationError(f"schema {stem} is neither a Request nor a Response")


def _check_package_scope(enums: list[Enum], messages: list[Message]) -> None:
    """Messages, enums, the extension and enum values (C++ scoping rules) share one scope."""
    names = [OPTION]
    names += [m.name for m in messages]
    names += [e.name for e in enums]
    for enum in enums:
        names.append(f"{enum_prefix(enum.name)}_UNSPECIFIED")
        names.extend(value for value, _ in enum.values)
    _check_unique(names, f"package {PACKAGE}")


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _comment_lines(lines: tuple[str, ...], indent: str) -> Iterator[str]:
    for line in lines:
        yield f"{indent}// {line}"


def render_enum(enum: Enum) -> Iterator[str]:
    yield from _comment_lines(enum.comments, "")
    yield f"enum {enum.name} {{"
    yield f"  {enum_prefix(enum.name)}_UNSPECIFIED = 0;"
    for number, (value_name, ocpp) in enumerate(enum.values, start=1):
        yield f"  {value_name} = {number} [({PACKAGE}.{OPTION}) = {_quote(ocpp)}];"
    yield "}"


def render_message(message: Message) -> Iterator[str]:
    yield from _comment_lines(message.comments, "")
    yield f"message {message.name} {{"
    for index, fld in enumerate(message.fields):
        if index and fld.comments:
            yield ""
        yield from _comment_lines(fld.comments, "  ")
        label = f"{fld.label} " if fld.label else ""
        options = f" [json_name = {_quote(fld.json_name)}]" if fld.json_name else ""
        yield f"  {label}{fld.type} {fld.name} = {fld.number}{options};"
    yield "}"


def generate(schemas: dict[str, dict[str, Any]] | None = None, version: str | None = None) -> str:
    """The full text of messages.proto."""
    schemas = schemas if schemas is not None else load_schemas()
    version = version or importlib.metadata.version("ocpp")
    enums, shared, payloads = build(schemas)
    header = [
        f"// Generated by proto/tools/gen_ocpp_proto.py from the OCPP 2.0.1 schemas of"
        f" ocpp=={version}; do not edit.",
        f"// {len(payloads)} payload messages, {len(shared)} shared messages, {len(enums)} enums.",
        "",
        'syntax = "proto3";',
        "",
        f"package {PACKAGE};",
        "",
        'import "google/protobuf/descriptor.proto";',
        'import "google/protobuf/struct.proto";',
        'import "google/protobuf/timestamp.proto";',
        "",
        "extend google.protobuf.EnumValueOptions {",
        '  // The OCPP spelling of an enum value, e.g. "Energy.Active.Import.Register".',
        f"  string {OPTION} = {OPTION_NUMBER};",
        "}",
    ]
    blocks = [render_enum(e) for e in enums] + [render_message(m) for m in shared + payloads]
    lines = list(header)
    for block in blocks:
        lines.append("")
        lines.extend(block)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed file is out of date"
    )
    args = parser.parse_args(argv)
    text = generate()
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else None
    if args.check:
        if current != text:
            print(f"{OUTPUT} is out of date; run proto/tools/gen_ocpp_proto.py", file=sys.stderr)
            return 1
        return 0
    if current != text:
        # Rewriting an unchanged file would bump its mtime and make `make proto` redo work.
        OUTPUT.parent.mkdir(parents=True, exist_ok=True)
        OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
