"""The official OCPP 2.0.1 and 1.6 JSON schemas as validators: one place for what a payload must be.

The gateway checks every payload a station sends, and every CSMS-initiated request before it
leaves, with these (:mod:`gateway.ocppj` turns a breach into the Part 4 CALLERROR code of the
broken rule); device_svc checks the OCPP request a REST client sends as a command's body with the
same ones, so a body is refused by exactly the rules a station would apply.

:func:`accepts` is the hot path: jsonschema-rs (Rust), compiled on first use of an (action, kind)
and kept for the life of the process, about 0.5 us for a TransactionEvent. It says only yes or
no; a payload it refuses goes to fastjsonschema's :func:`validator`, whose error names the rule.
Both check date-times with fastjsonschema's pattern, so they agree on what is valid. Integers get
OCPP's int32 range (Part 2 "Data types") where the schemas give no bounds.

Every function takes the ``version``: "ocpp2.0.1" (the default, what every caller before 1.6
support means) or "ocpp1.6", whose schemas the ``ocpp`` package ships as ``<Action>.json`` and
``<Action>Response.json``.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Callable
from typing import Any, Final, Literal

import fastjsonschema
import jsonschema_rs
import orjson
from fastjsonschema.draft04 import CodeGeneratorDraft04

__all__ = [
    "ACTIONS",
    "ACTIONS_16",
    "Kind",
    "SchemaViolation",
    "Version",
    "accepts",
    "check",
    "schema",
    "validator",
]

Kind = Literal["Request", "Response"]
Version = Literal["ocpp2.0.1", "ocpp1.6"]

# The ocpp package's 128 official schemas, found without importing ocpp.v201: its
# __init__ pulls in the library's ChargePoint, hence asyncio and jsonschema.
_SCHEMAS = importlib.resources.files("ocpp").joinpath("v201", "schemas")
_SCHEMAS_16 = importlib.resources.files("ocpp").joinpath("v16", "schemas")
_KINDS: Final = ("Request", "Response")

#: The 64 OCPP 2.0.1 actions, i.e. ``ocpp.v201.enums.Action``'s values.
ACTIONS: Final[frozenset[str]] = frozenset(
    entry.name.removesuffix("Request.json")
    for entry in _SCHEMAS.iterdir()
    if entry.name.endswith("Request.json")
)

#: The OCPP 1.6 actions the ``ocpp`` package has schemas for (both directions, the security
#: whitepaper's included): ``ocpp.v16.enums.Action``'s values.
ACTIONS_16: Final[frozenset[str]] = frozenset(
    entry.name.removesuffix(".json")
    for entry in _SCHEMAS_16.iterdir()
    if entry.name.endswith(".json") and not entry.name.endswith("Response.json")
)

# Part 2 "Data types": OCPP integers are 32-bit signed, the schemas do not say so.
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1


class SchemaViolation(ValueError):
    """A payload breaks its schema: ``rule`` is the JSON-schema keyword ("required", "enum",
    ...), ``path`` where ("data" for the payload itself), ``description`` in words."""

    def __init__(self, rule: str, path: str, description: str) -> None:
        super().__init__(description)
        self.rule = rule
        self.path = path
        self.description = description


def schema(action: str, kind: Kind, version: Version = "ocpp2.0.1") -> dict[str, Any]:
    """The schema of ``action`` + ``kind`` with OCPP's int32 bounds; KeyError if there is none."""
    if kind not in _KINDS:
        raise KeyError(f"{action}{kind}")
    if version == "ocpp1.6":
        if action not in ACTIONS_16:
            raise KeyError(f"{action}{kind}")
        path = _SCHEMAS_16.joinpath(f"{action}{'' if kind == 'Request' else kind}.json")
    else:
        if action not in ACTIONS:
            raise KeyError(f"{action}{kind}")
        path = _SCHEMAS.joinpath(f"{action}{kind}.json")
    loaded: dict[str, Any] = orjson.loads(path.read_bytes())
    _bound_integers(loaded)
    return loaded


def check(action: str, kind: Kind, payload: Any, version: Version = "ocpp2.0.1") -> None:
    """Check a payload: KeyError when there is no such schema, SchemaViolation on a breach."""
    if accepts(action, kind, version)(payload):
        return
    try:
        validator(action, kind, version)(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise SchemaViolation(exc.rule or "", exc.name or "", _describe(exc.message)) from None
    # jsonschema-rs said no, fastjsonschema yes: the property test in tests/unit/gateway keeps
    # this from happening; if it does, the payload is refused all the same.
    raise SchemaViolation("", "data", "the payload breaks its schema")


# fastjsonschema's "date-time" (RFC 3339, also +hhmm offsets): jsonschema-rs checks the same.
_DATE_TIME = re.compile(CodeGeneratorDraft04.FORMAT_REGEXS["date-time"])


def _date_time(value: str) -> bool:
    return _DATE_TIME.match(value) is not None


@functools.cache
def accepts(action: str, kind: Kind, version: Version = "ocpp2.0.1") -> Callable[[Any], bool]:
    """Return whether a payload is valid against one schema: jsonschema-rs, compiled on first
    use. It says only yes or no; :func:`validator` says why not.

    Raises KeyError for an action or kind that has no schema in that version.
    """
    compiled = jsonschema_rs.validator_for(
        schema(action, kind, version), validate_formats=True, formats={"date-time": _date_time}
    )
    is_valid: Callable[[Any], bool] = compiled.is_valid
    return is_valid


@functools.cache
def validator(action: str, kind: Kind, version: Version = "ocpp2.0.1") -> Callable[[Any], Any]:
    """Return fastjsonschema's validator of one schema, compiling it on first use: it raises
    the error that names the broken rule.

    Raises KeyError for an action or kind that has no schema in that version.
    """
    # use_default=False: validating must not write the schema's defaults into the
    # station's payload behind the caller's back. Formats stay on: date-times need an
    # offset, which the protobuf Timestamps they become require.
    return fastjsonschema.compile(schema(action, kind, version), use_default=False)


def _describe(message: str) -> str:
    """Turn fastjsonschema's "data.a.b must …" into "a.b must …"."""
    if message.startswith("data."):
        return message[5:]
    if message.startswith("data"):
        return "payload" + message[4:]
    return message


def _bound_integers(node: Any) -> None:
    """Give every integer in a schema OCPP's int32 range unless it has bounds."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            node.setdefault("minimum", _INT32_MIN)
            node.setdefault("maximum", _INT32_MAX)
        for value in node.values():
            _bound_integers(value)
    elif isinstance(node, list):
        for item in node:
            _bound_integers(item)
