"""OCPP-J, the RPC framework of OCPP 2.0.1 Part 4, as a protocol core without I/O.

The WebSocket gateway hands every frame a station sends to :func:`parse`, then the
payload to :func:`validate`, and writes whatever :func:`call`, :func:`call_result` or
:func:`call_error` return. Everything that can go wrong with a frame is raised as
:class:`OcppError`, which already carries the CALLERROR code, description and message
id to answer with; nothing here knows about sockets, tasks or asyncio.

The codes follow OCPP 2.0.1 Part 4, not OCPP 1.6 and not the ``ocpp`` library's
server (which swaps NotImplemented/NotSupported and still says 1.6's
"FormationViolation"):

* unreadable frames (not JSON, not a non-empty array, message type id not an integer,
  message id missing, not a string or longer than 36 characters, a CALL, CALLRESULT or
  CALLERROR of the wrong length, an action or error code that is not a string)
  → RpcFrameworkError: "Content of the call is not a valid RPC Request". ProtocolError
  ("Payload for Action is not conform the PDU structure") is about a payload measured
  against its action's PDU, which a frame of the wrong shape never gets as far as;
* a message type id other than 2, 3 or 4 → MessageTypeNotSupported;
* an action that is not one of OCPP 2.0.1's → NotImplemented ("not known by
  receiver"); a known action the gateway does not route is its NotSupported to say;
* a payload that is not a JSON object → FormatViolation ("syntactically incorrect");
* a payload that breaks its JSON schema → the code :data:`RULE_CODES` gives the rule.

OCPP-J 1.6 (a station that negotiated ``ocpp1.6``) has the same frames and a smaller table of
codes, some spelled differently; the checks above are the same and :data:`CODES_16` says how
each is spelled to a 1.6 station (the spec is the judge, :func:`spelled` the one place):

* FormatViolation → FormationViolation, OccurrenceConstraintViolation →
  OccurenceConstraintViolation (sic, 1.6's spelling);
* RpcFrameworkError (1.6 has none) → FormationViolation: a frame that is not a valid RPC is
  "syntactically incorrect", which is what 1.6's FormationViolation says;
* MessageTypeNotSupported (1.6 has none) → ProtocolError: the frame breaks OCPP-J itself;
* the others (NotImplemented, NotSupported, PropertyConstraintViolation,
  TypeConstraintViolation, ProtocolError, SecurityError, InternalError, GenericError) are
  spelled alike. A 1.6 action is known when the ``ocpp`` package has its 1.6 schema
  (:data:`common.ocpp_schema.ACTIONS_16`), and its payload is checked against that schema.

A CALLERROR answers a CALL only: OCPP 2.0.1 has no way to report a broken CALLRESULT
or CALLERROR (2.1's CALLRESULTERROR does not exist yet), so errors about those carry
``reply=False`` and the gateway logs and drops them.

The hot path per frame is one ``orjson.loads``, a few type checks and one call of a
jsonschema-rs validator (Rust; the schemas and their validators live in :mod:`common.ocpp_schema`,
shared with device_svc's REST commands), compiled on the first frame of that (action, kind) and
kept for the life of the process: about 0.5 us for a TransactionEvent, where fastjsonschema's
compiled Python takes 8 us (17 us of the gateway's CPU per event under load, measured). A payload
it refuses goes to fastjsonschema's validator (:func:`validator`), whose error names the broken
rule, hence the CALLERROR code. Both check date-times with fastjsonschema's own pattern, so they
agree on what is valid; a property test holds that over valid and mutated payloads of every
schema, so the fast path accepts nothing that the rules above would answer with a CALLERROR.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from enum import IntEnum, StrEnum
from typing import Any, Final, NamedTuple

import orjson

from common import ocpp_schema
from common.ocpp_schema import ACTIONS, ACTIONS_16, Kind, Version, accepts, validator

__all__ = [
    "ACTIONS",
    "ACTIONS_16",
    "CODES_16",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_MESSAGE_ID_LENGTH",
    "RULE_CODES",
    "UNKNOWN_MESSAGE_ID",
    "Call",
    "CallError",
    "CallResult",
    "Code",
    "Kind",
    "Message",
    "MessageType",
    "OcppError",
    "accepts",
    "call",
    "call_error",
    "call_result",
    "nul_path",
    "parse",
    "spelled",
    "truncate",
    "validate",
    "validator",
]


class Code(StrEnum):
    """The CALLERROR error codes, exactly the table of OCPP 2.0.1 Part 4."""

    FORMAT_VIOLATION = "FormatViolation"
    GENERIC_ERROR = "GenericError"
    INTERNAL_ERROR = "InternalError"
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"
    NOT_IMPLEMENTED = "NotImplemented"
    # Decided by the gateway, not here: a known action that it does not route.
    NOT_SUPPORTED = "NotSupported"
    OCCURRENCE_CONSTRAINT_VIOLATION = "OccurrenceConstraintViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    PROTOCOL_ERROR = "ProtocolError"
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"
    SECURITY_ERROR = "SecurityError"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"


#: How each code is spelled to an OCPP 1.6 station (OCPP-J 1.6, section 4.2.3's table); a code
#: not listed is spelled as in 2.0.1.
CODES_16: Final[Mapping[str, str]] = {
    Code.FORMAT_VIOLATION: "FormationViolation",
    Code.OCCURRENCE_CONSTRAINT_VIOLATION: "OccurenceConstraintViolation",
    Code.RPC_FRAMEWORK_ERROR: "FormationViolation",
    Code.MESSAGE_TYPE_NOT_SUPPORTED: "ProtocolError",
}


def spelled(code: str, protocol: Version = "ocpp2.0.1") -> str:
    """The error code as a station speaking ``protocol`` expects it (a StrEnum key is found
    by its text)."""
    return CODES_16.get(code, code) if protocol == "ocpp1.6" else code


class MessageType(IntEnum):
    """The message type ids of OCPP-J frames (Part 4)."""

    CALL = 2
    CALL_RESULT = 3
    CALL_ERROR = 4


# Part 4: the message id is a string of at most 36 characters (room for a UUID).
MAX_MESSAGE_ID_LENGTH: Final = 36
# Part 4: ErrorDescription is string[0..255].
MAX_DESCRIPTION_LENGTH: Final = 255
# What a CALLERROR carries as message id when the frame's could not be read.
UNKNOWN_MESSAGE_ID: Final = "-1"

# One place for the JSON-schema rule → CALLERROR code mapping; rules not listed here
# (and a root that is not an object, see _schema_error) are FormatViolations.
RULE_CODES: Final[Mapping[str, Code]] = {
    "type": Code.TYPE_CONSTRAINT_VIOLATION,
    "required": Code.OCCURRENCE_CONSTRAINT_VIOLATION,
    "minItems": Code.OCCURRENCE_CONSTRAINT_VIOLATION,
    "maxItems": Code.OCCURRENCE_CONSTRAINT_VIOLATION,
    "enum": Code.PROPERTY_CONSTRAINT_VIOLATION,
    "maxLength": Code.PROPERTY_CONSTRAINT_VIOLATION,
    "minLength": Code.PROPERTY_CONSTRAINT_VIOLATION,
    "minimum": Code.PROPERTY_CONSTRAINT_VIOLATION,
    "maximum": Code.PROPERTY_CONSTRAINT_VIOLATION,
    "format": Code.PROPERTY_CONSTRAINT_VIOLATION,
    "pattern": Code.PROPERTY_CONSTRAINT_VIOLATION,
    "const": Code.PROPERTY_CONSTRAINT_VIOLATION,
    "additionalProperties": Code.FORMAT_VIOLATION,
}


class Call(NamedTuple):
    """A CALL frame: ``[2, message_id, action, payload]``."""

    message_id: str
    action: str
    payload: dict[str, Any]


class CallResult(NamedTuple):
    """A CALLRESULT frame: ``[3, message_id, payload]``."""

    message_id: str
    payload: dict[str, Any]


class CallError(NamedTuple):
    """A CALLERROR frame: ``[4, message_id, code, description, details]``."""

    message_id: str
    code: str
    description: str
    details: dict[str, Any]


Message = Call | CallResult | CallError


class OcppError(Exception):
    """A frame or payload that is answered with a CALLERROR.

    ``message_id`` is :data:`UNKNOWN_MESSAGE_ID` when the frame's could not be read.
    ``reply`` is false when the broken frame was a CALLRESULT or CALLERROR, which
    OCPP 2.0.1 does not allow to answer: the gateway should log it, not send it.
    """

    def __init__(
        self,
        code: Code,
        description: str,
        message_id: str = UNKNOWN_MESSAGE_ID,
        details: dict[str, Any] | None = None,
        *,
        reply: bool = True,
    ) -> None:
        self.code = code
        self.description = truncate(description)
        self.message_id = message_id
        self.details = {} if details is None else details
        self.reply = reply
        super().__init__(f"{code}: {self.description}")

    def frame(self, protocol: Version = "ocpp2.0.1") -> str:
        """Return the CALLERROR frame that answers this error, in ``protocol``'s spelling."""
        return call_error(
            self.message_id, spelled(self.code, protocol), self.description, self.details
        )


def parse(frame: str | bytes, known_actions: Container[str] = ACTIONS) -> Message:
    """Decode one OCPP-J frame into a Call, CallResult or CallError.

    Checks the framing and, for a CALL, that the action is known and the payload an
    object; the payload itself is :func:`validate`'s business. Raises OcppError.
    """
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError:
        raise OcppError(Code.RPC_FRAMEWORK_ERROR, "Frame is not valid JSON") from None
    if type(message) is not list or not message:
        raise OcppError(Code.RPC_FRAMEWORK_ERROR, "Frame is not a non-empty JSON array")
    message_type = _message_type(message)
    message_id = _message_id(message, reply=message_type is MessageType.CALL)
    if message_type is MessageType.CALL:
        call = _call(message, message_id, known_actions)
        if _may_hold_nul(frame):
            _refuse_nul(call.payload, message_id, reply=True)
        return call
    if message_type is MessageType.CALL_RESULT:
        result = _call_result(message, message_id)
        if _may_hold_nul(frame):
            _refuse_nul(result.payload, message_id, reply=False)
        return result
    return _call_error(message, message_id)


def _may_hold_nul(frame: str | bytes) -> bool:
    """JSON can carry U+0000 only as the escape ``\\u0000``: one C-level substring search of
    the frame (no walk of the payload) clears all but the frames that hold it, or a backslash
    followed by "u0000"."""
    if isinstance(frame, str):
        return "\\u0000" in frame
    return b"\\u0000" in frame


def _refuse_nul(payload: dict[str, Any], message_id: str, *, reply: bool) -> None:
    """PropertyConstraintViolation naming the first string of ``payload`` that holds a NUL:
    PostgreSQL's text cannot store it, and the CSMS refuses it the same on every backend."""
    path = nul_path(payload)
    if path is not None:
        raise OcppError(
            Code.PROPERTY_CONSTRAINT_VIOLATION,
            f"{path} contains a NUL character (U+0000), which this CSMS does not accept",
            message_id,
            reply=reply,
        )


def nul_path(value: Any, path: str = "") -> str | None:
    """The JSON path (``a.b[0].c``) of the first string or property name in ``value`` that
    holds a NUL character, or None."""
    if isinstance(value, str):
        return (path or "(value)") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if "\x00" in key:
                return where.replace("\x00", "\\u0000")
            found = nul_path(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = nul_path(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def validate(
    action: str,
    kind: Kind,
    payload: Any,
    message_id: str = UNKNOWN_MESSAGE_ID,
    version: Version = "ocpp2.0.1",
) -> None:
    """Check a payload against the official schema of ``action`` + ``kind`` in ``version``
    (:mod:`common.ocpp_schema`).

    Raises OcppError with the Part 4 code for the broken rule and ``message_id``
    (:meth:`OcppError.frame` spells it for a 1.6 station).
    """
    try:
        ocpp_schema.check(action, kind, payload, version)
    except KeyError:
        name = "OCPP 1.6" if version == "ocpp1.6" else "OCPP 2.0.1"
        raise OcppError(
            Code.NOT_IMPLEMENTED, f"No {name} schema for {action}{kind}", message_id
        ) from None
    except ocpp_schema.SchemaViolation as exc:
        raise _schema_error(exc, message_id, reply=kind == "Request") from None


def call(message_id: str, action: str, payload: dict[str, Any]) -> str:
    """Serialize a CALL frame."""
    return orjson.dumps([MessageType.CALL, message_id, action, payload]).decode()


def call_result(message_id: str, payload: dict[str, Any]) -> str:
    """Serialize a CALLRESULT frame."""
    return orjson.dumps([MessageType.CALL_RESULT, message_id, payload]).decode()


def call_error(
    message_id: str, code: str, description: str, details: dict[str, Any] | None = None
) -> str:
    """Serialize a CALLERROR frame; the description is cut to Part 4's 255 characters."""
    frame = [MessageType.CALL_ERROR, message_id, code, truncate(description), details or {}]
    return orjson.dumps(frame).decode()


def _message_type(message: list[Any]) -> MessageType:
    """Return the frame's message type, or raise the Part 4 error for it."""
    type_id = message[0]
    if type(type_id) is not int:  # not isinstance: JSON true is no message type
        raise OcppError(
            Code.RPC_FRAMEWORK_ERROR,
            "Message type id is not an integer",
            _readable_id(message),
        )
    try:
        return MessageType(type_id)
    except ValueError:
        raise OcppError(
            Code.MESSAGE_TYPE_NOT_SUPPORTED,
            f"Message type id {type_id} is not supported",
            _readable_id(message),
        ) from None


def _message_id(message: list[Any], *, reply: bool) -> str:
    """Return the frame's message id, or raise RpcFrameworkError."""
    if len(message) < 2 or type(message[1]) is not str:
        raise OcppError(
            Code.RPC_FRAMEWORK_ERROR, "Message id is missing or not a string", reply=reply
        )
    message_id: str = message[1]
    if len(message_id) > MAX_MESSAGE_ID_LENGTH:
        raise OcppError(
            Code.RPC_FRAMEWORK_ERROR,
            f"Message id is longer than {MAX_MESSAGE_ID_LENGTH} characters",
            reply=reply,
        )
    return message_id


def _readable_id(message: list[Any]) -> str:
    """Return the frame's message id if it is a valid one, else "-1"."""
    # An over-long id is not echoed: it would make our own CALLERROR break Part 4.
    if len(message) > 1 and type(message[1]) is str and len(message[1]) <= MAX_MESSAGE_ID_LENGTH:
        return message[1]
    return UNKNOWN_MESSAGE_ID


def _call(message: list[Any], message_id: str, known_actions: Container[str]) -> Call:
    """Check the rest of a CALL frame."""
    if len(message) != 4:
        raise OcppError(
            Code.RPC_FRAMEWORK_ERROR,
            f"CALL has {len(message)} elements instead of 4",
            message_id,
        )
    _, _, action, payload = message
    if type(action) is not str:
        raise OcppError(Code.RPC_FRAMEWORK_ERROR, "CALL action is not a string", message_id)
    if action not in known_actions:
        raise OcppError(Code.NOT_IMPLEMENTED, f"Unknown action {action!r}", message_id)
    if type(payload) is not dict:
        raise OcppError(Code.FORMAT_VIOLATION, "Payload is not a JSON object", message_id)
    return Call(message_id, action, payload)


def _call_result(message: list[Any], message_id: str) -> CallResult:
    """Check the rest of a CALLRESULT frame."""
    if len(message) != 3:
        raise OcppError(
            Code.RPC_FRAMEWORK_ERROR,
            f"CALLRESULT has {len(message)} elements instead of 3",
            message_id,
            reply=False,
        )
    payload = message[2]
    if type(payload) is not dict:
        raise OcppError(
            Code.FORMAT_VIOLATION, "Payload is not a JSON object", message_id, reply=False
        )
    return CallResult(message_id, payload)


def _call_error(message: list[Any], message_id: str) -> CallError:
    """Check the rest of a CALLERROR frame."""
    if len(message) != 5:
        raise OcppError(
            Code.RPC_FRAMEWORK_ERROR,
            f"CALLERROR has {len(message)} elements instead of 5",
            message_id,
            reply=False,
        )
    _, _, code, description, details = message
    if type(code) is not str or type(description) is not str or type(details) is not dict:
        raise OcppError(
            Code.RPC_FRAMEWORK_ERROR,
            "CALLERROR needs a string code, a string description and an object of details",
            message_id,
            reply=False,
        )
    return CallError(message_id, code, description, details)


def _schema_error(exc: ocpp_schema.SchemaViolation, message_id: str, *, reply: bool) -> OcppError:
    """Map a schema violation to the Part 4 error that reports it."""
    if exc.rule == "type" and exc.path == "data":
        # A payload that is not even an object is malformed, not mistyped.
        code = Code.FORMAT_VIOLATION
    else:
        code = RULE_CODES.get(exc.rule, Code.FORMAT_VIOLATION)
    return OcppError(code, exc.description, message_id, reply=reply)


def truncate(description: str) -> str:
    """Cut a description to Part 4's 255 characters."""
    if len(description) <= MAX_DESCRIPTION_LENGTH:
        return description
    return description[: MAX_DESCRIPTION_LENGTH - 1] + "…"
