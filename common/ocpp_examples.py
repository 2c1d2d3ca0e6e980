"""One valid, deterministic example of an OCPP 2.0.1 payload, built from its JSON schema.

The OpenAPI document shows one per command (``proto/tools/gen_openapi.py``), and tests use the
same examples as the requests a REST client sends and as the replies a station gives. The rules
make every example valid against its schema and as telling as one example can be:

- every property is filled, optional ones included (``customData`` too, unless asked not to);
- an enum takes its first value with a dot or a dash where it has one (the spellings protobuf
  identifiers cannot carry, e.g. ``Energy.Active.Import.Register``), else its first value;
- a date-time is :data:`DATE_TIME` (three fractional digits, UTC: what OCPP allows);
- a string is its property's name, cut to ``maxLength``; an integer 1 and a number 1.5, moved
  into ``minimum``/``maximum``; a boolean true; an array has ``minItems`` items (at least one);
- a property without any type (``DataTransfer``'s ``data``) is a string.

Pure: :func:`example` works on a schema given as data; :func:`payload_example` reads the
schema the ``ocpp`` package ships.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from collections.abc import Mapping
from typing import Any, Final, Literal

__all__ = [
    "DATE_TIME",
    "CUSTOM_DATA",
    "Kind",
    "example",
    "payload_example",
    "schema",
]

Kind = Literal["Request", "Response"]

#: Every date-time of an example: at most three fractional digits, in UTC with "Z".
DATE_TIME: Final = "2026-12-04T10:00:00.123Z"
#: The ``customData`` property every OCPP object may carry (vendor extensions).
CUSTOM_DATA: Final = "customData"
# A property schema without any keyword but its description stands for any JSON value.
_ANY_KEYS: Final = frozenset({"description"})
_REF_PREFIX: Final = "#/definitions/"


@functools.cache
def _schema_text(action: str, kind: Kind) -> str:
    files = importlib.resources.files("ocpp").joinpath("v201", "schemas")
    return files.joinpath(f"{action}{kind}.json").read_text(encoding="utf-8")


def schema(action: str, kind: Kind) -> dict[str, Any]:
    """The official JSON schema of ``<action><kind>`` (a fresh copy); KeyError if none."""
    try:
        loaded: dict[str, Any] = json.loads(_schema_text(action, kind))
    except FileNotFoundError:
        raise KeyError(f"{action}{kind}") from None
    return loaded


def payload_example(action: str, kind: Kind, *, custom_data: bool = True) -> dict[str, Any]:
    """The example of the ``<action><kind>`` payload (see the module's rules)."""
    built: dict[str, Any] = example(schema(action, kind), custom_data=custom_data)
    return built


def example(root: Mapping[str, Any], *, custom_data: bool = True) -> Any:
    """The example of a draft-06 schema whose ``$ref`` point into its own ``definitions``."""
    return _Builder(root.get("definitions", {}), custom_data).value(root, "value")


class _Builder:
    def __init__(self, definitions: Mapping[str, Any], custom_data: bool) -> None:
        self.definitions = definitions
        self.custom_data = custom_data

    def resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith(_REF_PREFIX):
                raise ValueError(f"unsupported $ref {ref!r}")
            node = self.definitions[ref.removeprefix(_REF_PREFIX)]
        return node

    def value(self, node: Mapping[str, Any], name: str) -> Any:
        node = self.resolve(node)
        if "enum" in node:
            return _preferred(node["enum"])
        kind = node.get("type")
        if kind is None and not node.keys() - _ANY_KEYS:
            return name
        if kind == "object":
            return self.object(node)
        if kind == "array":
            return self.array(node, name)
        if kind == "string":
            return _string(node, name)
        if kind == "integer":
            return _clamped(node, 1)
        if kind == "number":
            return _clamped(node, 1.5)
        if kind == "boolean":
            return True
        raise ValueError(f"{name}: unsupported schema {dict(node)}")

    def object(self, node: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for prop, sub in node.get("properties", {}).items():
            if prop == CUSTOM_DATA and not self.custom_data:
                continue
            out[prop] = self.value(sub, prop)
        return out

    def array(self, node: Mapping[str, Any], name: str) -> list[Any]:
        count = max(1, int(node.get("minItems", 1)))
        if "maxItems" in node:
            count = min(count, int(node["maxItems"]))
        return [self.value(node.get("items", {}), name) for _ in range(count)]


def _preferred(values: list[Any]) -> Any:
    """The first value with a dot or a dash, else the first."""
    for value in values:
        if isinstance(value, str) and ("." in value or "-" in value):
            return value
    return values[0]


def _string(node: Mapping[str, Any], name: str) -> str:
    if node.get("format") == "date-time":
        return DATE_TIME
    text = name
    if "minLength" in node:
        text = text.ljust(int(node["minLength"]), "x")
    if "maxLength" in node:
        text = text[: int(node["maxLength"])]
    return text


def _clamped(node: Mapping[str, Any], preferred: int | float) -> int | float:
    value = preferred
    if "minimum" in node and value < node["minimum"]:
        value = node["minimum"]
    if "maximum" in node and value > node["maximum"]:
        value = node["maximum"]
    return value
