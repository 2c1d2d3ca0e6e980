"""Generate ``gen/openapi.json``: the OpenAPI 3.1 document of the REST API, from the protos.

``make proto`` runs it after ``compile.py``, on the descriptor set Envoy's transcoder loads
(``gen/descriptor.pb``, with source info), so the document describes exactly the routes Envoy
serves and is never written by hand:

* paths: every ``google.api.http`` rule (additional bindings included) of every
  ``*RestService`` method; path variables from the template, query parameters the request
  message's fields bound neither by the path nor the body (JSON names), the body the field the
  rule names (``*``: the whole message but the path's fields), and Envoy's own
  ``GET /v1/openapi.json`` (the document itself);
* the JSON of a REST method is that of the typed method of the same name (``common.rest``): the
  body is the typed request's field of the same name, the answer the typed response, both as
  ``common.rest_json`` renders them (JSON names; OCPP enums in OCPP's spelling, our own as
  lowerCamel words; Timestamps RFC 3339, int64 as strings, Struct a free object);
* OCPP messages (the command bodies and answers, and the OCPP values inside our resources) are
  OCPP 2.0.1's own JSON schemas, shipped by the ``ocpp`` package, embedded under
  ``components/schemas/ocpp.<name>`` (each definition once, draft-06 ``definitions`` references
  rewritten), so the document stands alone;
* descriptions are the .proto comments; every operation has an example request (the commands'
  from the OCPP request schema, :mod:`common.ocpp_examples`; the resources' from
  :data:`METHOD_EXAMPLES`).

The output is deterministic (descriptor order, no clock, no randomness).

Usage: python proto/tools/gen_openapi.py [OUTDIR]   (reads OUTDIR/descriptor.pb, writes
OUTDIR/openapi.json; ``make proto`` passes ``gen``)
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import pathlib
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import (
    Descriptor,
    EnumDescriptor,
    FieldDescriptor,
    MethodDescriptor,
    ServiceDescriptor,
)

from common import ocpp_examples
from common.rest_json import enum_words

__all__ = [
    "DOCUMENT_PATH",
    "GenerationError",
    "METHOD_EXAMPLES",
    "OCPP_PREFIX",
    "OPENAPI_PATH",
    "Route",
    "build",
    "load",
    "main",
    "render",
    "routes",
]

ROOT: Final = pathlib.Path(__file__).resolve().parents[2]
OPENAPI_VERSION: Final = "3.1.0"
#: Where Envoy serves the document (deploy/envoy.yaml routes it to the file).
OPENAPI_PATH: Final = "/v1/openapi.json"
#: The file name of the document next to the descriptor set.
DOCUMENT_PATH: Final = "openapi.json"
#: components/schemas names of OCPP's schemas: ocpp.<payload or definition name>.
OCPP_PREFIX: Final = "ocpp."
OCPP_PACKAGE: Final = "csms.ocpp.v201"
REST_SUFFIX: Final = "RestService"
JSON: Final = "application/json"
_STRUCT: Final = "google.protobuf.Struct"
_FIELD_MASK: Final = "google.protobuf.FieldMask"
# The well-known messages whose JSON is a string, hence a query parameter's value.
_STRING_FORMS: Final = frozenset(
    {"google.protobuf.Timestamp", "google.protobuf.Duration", _FIELD_MASK}
)
_COMPONENTS: Final = "#/components/schemas/"
_OCPP_REF: Final = "#/definitions/"
# Keywords of OCPP's draft-06 schemas with no meaning in an OpenAPI 3.1 schema object (the
# schema dialect, the generator's notes, additionalItems without tuple items).
_DROPPED_KEYWORDS: Final = frozenset(
    {"$schema", "$id", "comment", "javaType", "additionalItems", "definitions"}
)
_DOCUMENT_TAG: Final = "OpenAPI"
_VARIABLE: Final = re.compile(r"\{([^}=]+)(?:=[^}]*)?\}")

# -- the examples of the resources ----------------------------------------------------------------

#: The station and the id token every resource example is about.
EXAMPLE_STATION: Final = "CS123"
EXAMPLE_ID_TOKEN: Final = "TAG-001"
EXAMPLE_IMAGE: Final = "0b7f3c1e-5d2a-4f7e-9c1b-2a6d8e4f1a3c"
EXAMPLE_ROLLOUT: Final = "5e2d9a4b-7c1f-4e8a-b3d6-1f9c2e7a4b8d"
#: A path or query parameter's example by the proto name of its field, unless the method's
#: entry in METHOD_EXAMPLES says otherwise. A parameter with none has no example (page tokens:
#: any made-up one would be refused).
PARAMETER_EXAMPLES: Final[Mapping[str, Any]] = {
    "station_id": EXAMPLE_STATION,
    "id_token": EXAMPLE_ID_TOKEN,
    "page_size": 50,
    "component": "EVSE",
    "variable": "AvailabilityState",
    "evse_id": 1,
    "request_id": 1,
}
# The README's quick start, the prototype's station.
_STATION: Final = {
    "id": EXAMPLE_STATION,
    "serialNumber": "5",
    "model": "CS-5500",
    "vendorName": "ChargerMaker Inc.",
    "firmwareVersion": "1.8",
    "modem": {"iccid": "24", "imsi": "24"},
    "location": {"lat": 41.366446, "lng": -38.1854651},
}
#: ``<RestService name>.<method>`` → the example request: ``params`` by field name (path and
#: query), ``body`` the JSON body. The commands' come from their OCPP schema instead.
METHOD_EXAMPLES: Final[Mapping[str, Mapping[str, Any]]] = {
    "DeviceRestService.CreateChargingStation": {"body": _STATION},
    "DeviceRestService.GetChargingStation": {"params": {"id": EXAMPLE_STATION}},
    "DeviceRestService.UpdateChargingStation": {
        "params": {"id": EXAMPLE_STATION, "update_mask": "model,firmwareVersion"},
        "body": {"model": "CS-5600", "firmwareVersion": "1.9"},
    },
    "DeviceRestService.DeleteChargingStation": {"params": {"id": EXAMPLE_STATION}},
    "DeviceRestService.AcceptChargingStation": {"params": {"id": EXAMPLE_STATION}, "body": {}},
    "TransactionRestService.ListTransactions": {
        "params": {"station_id": EXAMPLE_STATION, "state": "active", "page_size": 50}
    },
    "TransactionRestService.GetTransaction": {
        "params": {"id": "TX-0001", "station_id": EXAMPLE_STATION}
    },
    "TransactionRestService.GetCompositeSchedule": {
        "params": {
            "station_id": EXAMPLE_STATION,
            "evse_id": 1,
            "duration": 3600,
            "charging_rate_unit": "A",
        }
    },
    "TransactionRestService.CreateSite": {
        "body": {
            "id": "depot-1",
            "name": "Depot 1",
            "limit": 100,
            "chargingRateUnit": "A",
            "evses": [{"stationId": EXAMPLE_STATION, "evseId": 1}],
        }
    },
    "TransactionRestService.GetSite": {"params": {"id": "depot-1"}},
    "TransactionRestService.UpdateSite": {
        "params": {"id": "depot-1", "update_mask": "limit"},
        "body": {"limit": 80},
    },
    "TransactionRestService.DeleteSite": {"params": {"id": "depot-1"}},
    "DeviceRestService.CreateFirmwareImage": {
        "body": {"name": "CS-5500 firmware", "version": "1.9", "signature": "MEUCIQ..."}
    },
    "DeviceRestService.GetFirmwareImage": {"params": {"id": EXAMPLE_IMAGE}},
    "DeviceRestService.DeleteFirmwareImage": {"params": {"id": EXAMPLE_IMAGE}},
    "DeviceRestService.PublishFirmwareImage": {
        "params": {"image_id": EXAMPLE_IMAGE},
        "body": {"stationId": EXAMPLE_STATION, "retries": 3},
    },
    "DeviceRestService.CreateFirmwareRollout": {
        "body": {
            "imageId": EXAMPLE_IMAGE,
            "stationIds": [EXAMPLE_STATION],
            "waveSize": 50,
            "wavePauseSeconds": 600,
            "maxFailureRatio": 0.1,
        }
    },
    "DeviceRestService.GetFirmwareRollout": {"params": {"id": EXAMPLE_ROLLOUT}},
    "DeviceRestService.CancelFirmwareRollout": {"params": {"id": EXAMPLE_ROLLOUT}, "body": {}},
    "DeviceRestService.RevokeContractCertificate": {
        "params": {"serial_number": "5c1e0a9f3b7d4e21"},
        "body": {},
    },
    "DeviceRestService.RequestLog": {
        "params": {"station_id": EXAMPLE_STATION},
        "body": {"logType": "DiagnosticsLog", "oldestTimestamp": "2026-12-01T00:00:00Z"},
    },
    "DeviceRestService.SetDisplayMessages": {
        "body": {
            "stationIds": [EXAMPLE_STATION],
            "request": {
                "message": {
                    "id": 7,
                    "priority": "NormalCycle",
                    "message": {"format": "UTF8", "content": "Free parking until 18:00"},
                }
            },
        }
    },
    "DeviceRestService.ClearDisplayMessages": {
        "body": {"stationIds": [EXAMPLE_STATION], "request": {"id": 7}}
    },
    "TransactionRestService.CreateTariff": {
        "body": {
            "id": "standard",
            "name": "Standard",
            "currency": "EUR",
            "pricePerKwh": "0.39",
            "idlePricePerHour": "6.00",
            "idleGraceMinutes": 30,
            "sessionFee": "0.50",
            "vatPercent": "19",
            "isDefault": True,
        }
    },
    "TransactionRestService.GetTariff": {"params": {"id": "standard"}},
    "TransactionRestService.UpdateTariff": {
        "params": {"id": "standard", "update_mask": "pricePerKwh"},
        "body": {"pricePerKwh": "0.42"},
    },
    "TransactionRestService.DeleteTariff": {"params": {"id": "standard"}},
    "TransactionRestService.CreateReservation": {
        "body": {
            "stationId": EXAMPLE_STATION,
            "evseId": 1,
            "idToken": {"idToken": EXAMPLE_ID_TOKEN, "type": "ISO14443"},
            # Far ahead: the example must stay a valid request (tests/e2e/test_openapi.py sends
            # it), and one in the past is refused (it was: 2026-12-05T18:00:00Z, at 18:00).
            "expiryDateTime": "2099-12-31T18:00:00Z",
        }
    },
    "TransactionRestService.GetReservation": {"params": {"id": 17}},
    "TransactionRestService.CancelReservation": {"params": {"id": 17}, "body": {}},
    "DeviceRestService.AcknowledgeAlert": {"params": {"id": 42}, "body": {}},
    "UserRestService.CreateIdToken": {
        "body": {"idToken": EXAMPLE_ID_TOKEN, "type": "ISO14443", "status": "Accepted"}
    },
    "UserRestService.UpdateIdToken": {
        "params": {"id": EXAMPLE_ID_TOKEN, "update_mask": "status"},
        "body": {"status": "Blocked"},
    },
    "UserRestService.SyncLocalList": {"body": {"full": True}},
    "UserRestService.CreateApiKey": {"body": {"name": "ci", "role": "reader"}},
    "UserRestService.RevokeApiKey": {"params": {"id": "k3x9q2ab"}, "body": {}},
}


class GenerationError(RuntimeError):
    """The protos do not fit what the document can say; never write a half-right document."""


@dataclass(frozen=True)
class Route:
    """One HTTP rule of a REST method: ``GET /v1/chargingStations/{id}``."""

    verb: str  # lower case: get, post, patch, put, delete (or a custom verb)
    template: str  # the rule's path template, as written
    body: str  # "", "*" or a field name
    method: MethodDescriptor

    @property
    def path(self) -> str:
        """The OpenAPI path: ``{name=pattern}`` variables as ``{name}``."""
        return _VARIABLE.sub(lambda m: "{" + m.group(1) + "}", self.template)

    @property
    def variables(self) -> list[str]:
        return _VARIABLE.findall(self.template)


def _rule_routes(rule: http_pb2.HttpRule, method: MethodDescriptor) -> Iterator[Route]:
    pattern = rule.WhichOneof("pattern")
    if pattern is not None:
        if pattern == "custom":
            yield Route(rule.custom.kind.lower(), rule.custom.path, rule.body, method)
        else:
            yield Route(pattern, getattr(rule, pattern), rule.body, method)
    for extra in rule.additional_bindings:
        yield from _rule_routes(extra, method)


def routes(service: ServiceDescriptor) -> list[Route]:
    """Every HTTP rule of ``service``'s methods, in declaration order."""
    found: list[Route] = []
    for method in service.methods:
        rule = method.GetOptions().Extensions[annotations_pb2.http]
        found.extend(_rule_routes(rule, method))
    return found


# -- the descriptor set and its comments ----------------------------------------------------------


def load(path: pathlib.Path) -> descriptor_pb2.FileDescriptorSet:
    """The descriptor set protoc wrote (``--include_imports --include_source_info``)."""
    return descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())


def _pool(files: descriptor_pb2.FileDescriptorSet) -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return pool


def _comments(files: descriptor_pb2.FileDescriptorSet) -> dict[str, str]:
    """Full name (message, field, enum, service, method) → its comment, on one line."""
    out: dict[str, str] = {}
    for file in files.file:
        texts: dict[tuple[int, ...], str] = {}
        for location in file.source_code_info.location:
            text = " ".join(
                " ".join(part.split())
                for part in (location.leading_comments, location.trailing_comments)
                if part.strip()
            )
            if text:
                texts[tuple(location.path)] = text
        prefix = f"{file.package}." if file.package else ""
        # The source-info paths: FileDescriptorProto's message_type 4, enum_type 5, service 6;
        # a service's method 2.
        _message_comments(file.message_type, (4,), prefix, texts, out)
        for i, enum in enumerate(file.enum_type):
            if (5, i) in texts:
                out[f"{prefix}{enum.name}"] = texts[(5, i)]
        for i, service in enumerate(file.service):
            name = f"{prefix}{service.name}"
            if (6, i) in texts:
                out[name] = texts[(6, i)]
            for j, method in enumerate(service.method):
                if (6, i, 2, j) in texts:
                    out[f"{name}.{method.name}"] = texts[(6, i, 2, j)]
    return out


def _message_comments(
    protos: Sequence[descriptor_pb2.DescriptorProto],
    path: tuple[int, ...],
    scope: str,
    texts: Mapping[tuple[int, ...], str],
    out: dict[str, str],
) -> None:
    """The comments of messages and their fields (DescriptorProto: field 2, nested_type 3)."""
    for i, msg in enumerate(protos):
        where, name = (*path, i), f"{scope}{msg.name}"
        if where in texts:
            out[name] = texts[where]
        for j, fld in enumerate(msg.field):
            if (*where, 2, j) in texts:
                out[f"{name}.{fld.name}"] = texts[(*where, 2, j)]
        _message_comments(msg.nested_type, (*where, 3), f"{name}.", texts, out)


# -- OCPP's schemas as components -----------------------------------------------------------------


def _ocpp_schemas() -> dict[str, dict[str, Any]]:
    """Schema file stem (``ResetRequest``) → the official schema, sorted by name."""
    folder = importlib.resources.files("ocpp").joinpath("v201", "schemas")
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".json"))
    return {
        name.removesuffix(".json"): json.loads(folder.joinpath(name).read_text(encoding="utf-8"))
        for name in names
    }


def _description(text: Any) -> str:
    return " ".join(str(text).split())


def _without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [_without_descriptions(v) for v in node]
    return node


def ocpp_components() -> dict[str, dict[str, Any]]:
    """``ocpp.<name>`` → schema: every payload and every definition (once) of OCPP 2.0.1.

    A definition shared by several schemas keeps the description of the first; where another
    schema describes its own use of it differently, its references carry that description.
    """
    schemas = _ocpp_schemas()
    canonical: dict[str, dict[str, Any]] = {}
    for stem, schema in schemas.items():
        for name, definition in schema.get("definitions", {}).items():
            known = canonical.setdefault(name, definition)
            if _without_descriptions(known) != _without_descriptions(definition):
                raise GenerationError(f"OCPP definition {name} differs in {stem}")
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(canonical):
        out[OCPP_PREFIX + name] = _ocpp_node(canonical[name], {}, canonical)
    for stem, schema in schemas.items():
        node = _ocpp_node(schema, schema.get("definitions", {}), canonical)
        out[OCPP_PREFIX + stem] = {"title": stem, **node}
    return dict(sorted(out.items()))


def _ocpp_node(node: Any, local: Mapping[str, Any], canonical: Mapping[str, Any]) -> Any:
    """A draft-06 node as an OpenAPI 3.1 schema: references to components, notes dropped."""
    if isinstance(node, list):
        return [_ocpp_node(v, local, canonical) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYWORDS:
            continue
        if key == "$ref":
            if not isinstance(value, str) or not value.startswith(_OCPP_REF):
                raise GenerationError(f"unsupported $ref {value!r} in OCPP's schemas")
            name = value.removeprefix(_OCPP_REF)
            out[key] = _COMPONENTS + OCPP_PREFIX + name
            # This schema's own description of the definition: what it means here.
            own = local.get(name, {}).get("description")
            if own and "description" not in node:
                if _description(own) != _description(canonical[name].get("description", "")):
                    out["description"] = _description(own)
        elif key == "description":
            out[key] = _description(value)
        elif key == "properties":
            out[key] = {k: _ocpp_node(v, local, canonical) for k, v in value.items()}
        else:
            out[key] = _ocpp_node(value, local, canonical)
    return out


# -- our messages as components -------------------------------------------------------------------

_INT32 = {"type": "integer", "format": "int32"}
_SCALARS: Final[Mapping[int, Mapping[str, Any]]] = {
    FieldDescriptor.TYPE_INT32: _INT32,
    FieldDescriptor.TYPE_SINT32: _INT32,
    FieldDescriptor.TYPE_SFIXED32: _INT32,
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    # proto3's JSON mapping: 64-bit integers are strings.
    FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}
_WELL_KNOWN: Final[Mapping[str, Mapping[str, Any]]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {
        "type": "string",
        "description": "Seconds with an s suffix, e.g. 1.5s.",
    },
    _FIELD_MASK: {
        "type": "string",
        "description": "Field names (JSON names), comma-separated.",
    },
    _STRUCT: {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Empty": {"type": "object"},
}


class _Components:
    """components/schemas, filled as the paths refer to messages."""

    def __init__(self, comments: Mapping[str, str], ocpp: Mapping[str, Any]) -> None:
        self.comments = comments
        self.ocpp = ocpp
        self.schemas: dict[str, Any] = {}

    def ocpp_name(self, message: Descriptor) -> str:
        """The component of an OCPP message: payload XRequest → ocpp.XRequest, X → ocpp.XType
        (gen_ocpp_proto.py's naming backwards)."""
        for name in (message.name, f"{message.name}Type"):
            if OCPP_PREFIX + name in self.ocpp:
                return OCPP_PREFIX + name
        raise GenerationError(f"{message.full_name} is in no OCPP 2.0.1 schema")

    def message(self, message: Descriptor) -> dict[str, Any]:
        """The schema of a field, body or answer of type ``message``: a reference mostly."""
        known = _WELL_KNOWN.get(message.full_name)
        if known is not None:
            return dict(known)
        if message.file.package == OCPP_PACKAGE:
            return {"$ref": _COMPONENTS + self.ocpp_name(message)}
        name = message.full_name
        if name not in self.schemas:
            self.schemas[name] = {}  # taken: a recursive message refers to itself
            self.schemas[name] = self.object(message)
        return {"$ref": _COMPONENTS + name}

    def object(self, message: Descriptor, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object"}
        if message.full_name in self.comments:
            schema["description"] = self.comments[message.full_name]
        schema["properties"] = {
            fld.json_name: self.field(fld) for fld in message.fields if fld.name not in skip
        }
        return schema

    def field(self, fld: FieldDescriptor) -> dict[str, Any]:
        """A field as common.rest_json renders it, with its comment."""
        if fld.message_type is not None and fld.message_type.GetOptions().map_entry:
            value = self.single(fld.message_type.fields_by_name["value"])
            schema: dict[str, Any] = {"type": "object", "additionalProperties": value}
        elif fld.is_repeated:
            schema = {"type": "array", "items": self.single(fld)}
        else:
            schema = self.single(fld)
        return self.described(schema, self.comments.get(fld.full_name, ""))

    def single(self, fld: FieldDescriptor) -> dict[str, Any]:
        if fld.message_type is not None:
            return self.message(fld.message_type)
        if fld.enum_type is not None:
            return enum_schema(fld.enum_type)
        return dict(_SCALARS[fld.type])

    @staticmethod
    def described(schema: dict[str, Any], comment: str) -> dict[str, Any]:
        if not comment:
            return schema
        out = {**schema, "description": comment}
        if comment.startswith("Output only"):
            out["readOnly"] = True
        elif comment.startswith("Input only"):
            out["writeOnly"] = True
        return out


def enum_schema(enum: EnumDescriptor) -> dict[str, Any]:
    """An enum field as REST spells it: OCPP's words, or our own as lowerCamel words."""
    return {"type": "string", "enum": list(enum_words(enum).values())}


# -- the document ---------------------------------------------------------------------------------

_ERROR: Final = {
    "type": "object",
    "description": (
        "A failed call: google.rpc.Status in JSON, with the HTTP status of its gRPC code "
        "(google/rpc/code.proto: INVALID_ARGUMENT 400, UNAUTHENTICATED 401, PERMISSION_DENIED "
        "403, NOT_FOUND 404, ALREADY_EXISTS 409, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, ...)."
    ),
    "properties": {
        "code": {"type": "integer", "format": "int32", "description": "The gRPC status code."},
        "message": {"type": "string"},
        "details": {
            "type": "array",
            "description": (
                "google.protobuf.Any messages, e.g. a google.rpc.ErrorInfo whose reason is the "
                "OCPP error code of a station's CALLERROR."
            ),
            "items": {
                "type": "object",
                "properties": {"@type": {"type": "string"}},
                "required": ["@type"],
            },
        },
    },
    "required": ["code"],
}
_LOCAL_REPLY: Final = {
    "type": "object",
    "description": "Envoy's own answer: a malformed body, an unknown path or query parameter.",
    "properties": {
        "httpStatus": {"type": "integer", "format": "int32"},
        "message": {"type": "string"},
    },
    "required": ["httpStatus"],
}
# The file transfers (device_svc/files): raw bodies, documented by hand.
_FILE_SERVICE: Final = "csms.device.v1.FileService"
_FILES_TAG: Final = "FileService"
_FILE_EXAMPLES: Final = {
    "token": "q3JxV1m2d0sYb8Lr5Hc9WkPz4Tn7Ge6Ua1Fo0Ji2Mxw",
    "id": EXAMPLE_IMAGE,
}


_ERRORS: Final = {
    "400": (
        "BadRequest",
        "INVALID_ARGUMENT: the request breaks its schema (a command's body its OCPP request "
        "schema: nothing was sent), or Envoy could not read it.",
        True,
    ),
    "401": ("Unauthenticated", "No API key, or one that is unknown or revoked.", False),
    "403": (
        "PermissionDenied",
        "The API key's role may not do this (a reader key reads only), or a station's "
        "CALLERROR SecurityError.",
        False,
    ),
    "404": ("NotFound", "No such resource (or station), or no such path.", True),
    "503": (
        "Unavailable",
        "The station is not connected, or a service (the authorization check) is unavailable.",
        False,
    ),
    "504": ("DeadlineExceeded", "The station did not answer in time.", False),
}
_DESCRIPTION: Final = """\
The management API of the CSMS, served by Envoy (gRPC-JSON transcoder) next to the typed gRPC \
API on the same port. Generated from the protos by `make proto`.

JSON speaks OCPP: field names are lowerCamelCase; OCPP 2.0.1 values are spelled as OCPP spells \
them (`"Accepted"`, `"Energy.Active.Import.Register"`), our own enums as words (`"active"`, \
`"reader"`); numbers and booleans are always printed, 0 and false included, repeated fields \
always (`[]`), empty strings and unset messages omitted; Timestamps are RFC 3339 and 64-bit \
integers strings. On input, enums also take the protobuf identifiers \
(`AUTHORIZATION_STATUS_ACCEPTED`, `STATE_ACTIVE`): deprecated, kept for one release.

A command to a station (`POST /v1/chargingStations/{station_id}:<action>`) takes the OCPP 2.0.1 \
request payload exactly as OCPP's JSON schema writes it and answers the station's response \
payload as the station sent it; both schemas are OCPP's own (components `ocpp.*`).

Every call needs an API key, as `Authorization: Bearer <secret>` or `x-api-key: <secret>`: a \
reader key may GET, an operator key may do everything."""


def _words(name: str) -> str:
    """``CreateChargingStation`` → ``Create charging station``."""
    parts = re.findall(r"[A-Z]+(?=[A-Z][a-z]|$)|[A-Z]?[a-z0-9]+", name)
    return " ".join([parts[0], *(p.lower() if not p.isupper() else p for p in parts[1:])])


def _typed_service(rest: ServiceDescriptor) -> ServiceDescriptor:
    name = rest.name.removesuffix(REST_SUFFIX) + "Service"
    typed = rest.file.services_by_name.get(name)
    if typed is None:
        raise GenerationError(f"{rest.full_name} has no typed service {name} in its file")
    return typed


def rest_services(
    pool: descriptor_pool.DescriptorPool, files: descriptor_pb2.FileDescriptorSet
) -> list[ServiceDescriptor]:
    """Every ``*RestService`` of the descriptor set, in file order."""
    found: list[ServiceDescriptor] = []
    for file in files.file:
        for service in file.service:
            if service.name.endswith(REST_SUFFIX):
                prefix = f"{file.package}." if file.package else ""
                found.append(pool.FindServiceByName(prefix + service.name))
    return found


class _Document:
    def __init__(self, files: descriptor_pb2.FileDescriptorSet) -> None:
        self.pool = _pool(files)
        self.files = files
        self.comments = _comments(files)
        self.ocpp = ocpp_components()
        self.components = _Components(self.comments, self.ocpp)
        self.operation_ids: set[str] = set()

    def build(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        tags: list[dict[str, Any]] = []
        same_paths: dict[str, str] = {}
        for service in rest_services(self.pool, self.files):
            tag = {"name": service.name}
            if service.full_name in self.comments:
                tag["description"] = self.comments[service.full_name]
            tags.append(tag)
            bindings: dict[str, int] = {}
            for route in routes(service):
                index = bindings[route.method.name] = bindings.get(route.method.name, 0) + 1
                # OpenAPI has one path per template whatever its variables are named
                # (/v1/idTokens/{id_token} and /v1/idTokens/{id}): the first names them.
                path = same_paths.setdefault(_VARIABLE.sub("{}", route.template), route.path)
                names = _VARIABLE.findall(path)
                operation = self.operation(service, route, index, names)
                methods = paths.setdefault(path, {})
                if route.verb in methods:
                    raise GenerationError(f"two rules for {route.verb.upper()} {path}")
                methods[route.verb] = operation
        for path, verb, operation in self.file_operations():
            paths.setdefault(path, {})[verb] = operation
        tags.append({"name": _FILES_TAG, "description": self.comments.get(_FILE_SERVICE, "")})
        paths.setdefault(OPENAPI_PATH, {})["get"] = self.openapi_operation()
        tags.append({"name": _DOCUMENT_TAG, "description": "This document, served by Envoy."})
        schemas = {**self.components.schemas, "Error": _ERROR, "LocalReply": _LOCAL_REPLY}
        used = _reachable([paths, schemas], self.ocpp)
        schemas.update((name, self.ocpp[name]) for name in sorted(used))
        return {
            "openapi": OPENAPI_VERSION,
            "info": {
                "title": "CSMS REST API",
                "version": _version("csms"),
                "description": _DESCRIPTION,
                "x-ocpp-schemas": f"OCPP 2.0.1, from ocpp=={_version('ocpp')}",
            },
            "tags": tags,
            "security": [{"bearer": []}, {"apiKey": []}],
            "paths": paths,
            "components": {
                "schemas": schemas,
                "responses": {
                    name: _error_response(text, envoy) for name, text, envoy in _ERRORS.values()
                },
                "securitySchemes": {
                    "bearer": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "An API key: Authorization: Bearer <secret>.",
                    },
                    "apiKey": {
                        "type": "apiKey",
                        "in": "header",
                        "name": "x-api-key",
                        "description": "The same API key in its own header.",
                    },
                },
            },
        }

    def file_operations(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """FileService's routes: raw bodies both ways (google.api.HttpBody chunks), not JSON.
        The /files/ ones are the stations' (their token is the credential: no API key)."""
        service = self.pool.FindServiceByName(_FILE_SERVICE)
        binary: dict[str, Any] = {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
        }
        for route in routes(service):
            method = route.method
            path = route.template
            operation: dict[str, Any] = {
                "tags": [_FILES_TAG],
                "operationId": f"{service.name}_{method.name}"
                + ("2" if route.verb == "put" and route.template.startswith("/files/") else ""),
                "summary": _words(method.name),
                "description": self.comments.get(method.full_name, ""),
                "parameters": [
                    {
                        "name": v,
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer" if v == "request_id" else "string"},
                        "example": _FILE_EXAMPLES.get(v, PARAMETER_EXAMPLES.get(v)),
                    }
                    for v in route.variables
                ],
            }
            if route.template.startswith("/files/"):
                operation["security"] = []
            if route.body:
                content: dict[str, Any] = dict(binary)
                if route.template.startswith("/files/") and route.verb == "post":
                    content["multipart/form-data"] = {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                        }
                    }
                operation["requestBody"] = {"required": True, "content": content}
            ok: dict[str, Any] = (
                {"description": "The file.", "content": binary}
                if method.server_streaming
                else {"description": "OK.", "content": {JSON: {"schema": {"type": "object"}}}}
            )
            operation["responses"] = {
                "200": ok,
                "413": _error_response("The body is larger than the CSMS accepts.", True),
                **{
                    code: {"$ref": f"#/components/responses/{name}"}
                    for code, (name, _, _) in _ERRORS.items()
                },
            }
            yield path, route.verb, operation

    def operation(
        self, service: ServiceDescriptor, route: Route, index: int, names: Sequence[str]
    ) -> dict[str, Any]:
        """The operation of one rule; ``names`` are the path's variables as the document
        names them."""
        method = route.method
        typed = _typed_service(service).methods_by_name.get(method.name)
        if typed is None:
            raise GenerationError(f"{method.full_name} has no typed method of the same name")
        rest_in, typed_in = method.input_type, typed.input_type
        operation_id = f"{service.name}_{method.name}" + (str(index) if index > 1 else "")
        if operation_id in self.operation_ids:
            raise GenerationError(f"operationId {operation_id} twice")
        self.operation_ids.add(operation_id)
        action = _command_action(rest_in, typed_in, route.body)
        examples = METHOD_EXAMPLES.get(f"{service.name}.{method.name}", {})
        params: Mapping[str, Any] = examples.get("params", {})
        operation: dict[str, Any] = {
            "tags": [service.name],
            "operationId": operation_id,
            "summary": _words(method.name),
        }
        description = self.comments.get(method.full_name) or self.comments.get(typed.full_name)
        if action is not None:
            description = _command_description(action)
        if description:
            operation["description"] = description
        parameters = []
        path_fields = set()
        for variable, name in zip(route.variables, names, strict=True):
            fld = rest_in.fields_by_name.get(variable)
            if fld is None:
                raise GenerationError(f"{route.template}: {rest_in.full_name} has no {variable}")
            path_fields.add(variable)
            parameters.append(self.parameter(fld, "path", name, typed_in, params))
        if route.body != "*":
            for fld in rest_in.fields:
                if fld.name not in path_fields and fld.name != route.body:
                    parameters.append(self.parameter(fld, "query", fld.json_name, typed_in, params))
        if parameters:
            operation["parameters"] = parameters
        body = self.request_body(route, rest_in, typed_in, path_fields)
        if body is not None:
            if action is not None:
                example: Any = ocpp_examples.payload_example(action, "Request")
            else:
                example = examples.get("body", {})
            body["content"][JSON]["example"] = example
            if action is not None:
                body["description"] = f"The OCPP 2.0.1 {action}Request payload."
            operation["requestBody"] = body
        ok: dict[str, Any] = {"schema": self.components.message(typed.output_type)}
        if action is not None:
            ok["example"] = ocpp_examples.payload_example(action, "Response")
        answer = "The station's answer." if action is not None else "OK."
        content = {JSON: ok}
        if method.server_streaming:
            # Envoy's transcoder streams it as server-sent events, one message per event.
            answer = "Server-sent events: `data: <JSON>` and a blank line per message."
            content = {"text/event-stream": ok}
        operation["responses"] = {
            "200": {"description": answer, "content": content},
            **{
                code: {"$ref": f"#/components/responses/{name}"}
                for code, (name, _, _) in _ERRORS.items()
            },
            "default": _error_response("Another gRPC status, as its HTTP status.", False),
        }
        return operation

    def parameter(
        self,
        fld: FieldDescriptor,
        where: str,
        name: str,
        typed_in: Descriptor,
        examples: Mapping[str, Any],
    ) -> dict[str, Any]:
        typed = typed_in.fields_by_name.get(fld.name)
        stands_for = (
            typed
            if fld.type == FieldDescriptor.TYPE_STRING
            and typed is not None
            and not typed.is_repeated
            else None
        )
        if fld.message_type is not None and fld.message_type.full_name in _STRING_FORMS:
            schema: dict[str, Any] = dict(_WELL_KNOWN[fld.message_type.full_name])
        elif fld.message_type is not None:
            raise GenerationError(f"{fld.full_name}: a message as a {where} parameter")
        elif stands_for is not None and stands_for.enum_type is not None:
            # A string standing for the typed request's enum (common.rest): its words.
            schema = enum_schema(stands_for.enum_type)
        elif (
            stands_for is not None
            and stands_for.message_type is not None
            and stands_for.message_type.full_name in _STRING_FORMS
        ):
            # A string standing for a Timestamp (Duration, FieldMask): in its JSON form.
            schema = dict(_WELL_KNOWN[stands_for.message_type.full_name])
        else:
            schema = self.components.single(fld)
        if fld.is_repeated:
            schema = {"type": "array", "items": schema}
        parameter: dict[str, Any] = {"name": name, "in": where}
        if where == "path":
            parameter["required"] = True
        comment = (
            self.comments.get(fld.full_name)
            or (self.comments.get(typed.full_name) if typed is not None else None)
            or schema.pop("description", "")
        )
        if comment:
            parameter["description"] = comment
        parameter["schema"] = schema
        example = examples.get(fld.name, PARAMETER_EXAMPLES.get(fld.name))
        if example is None and where == "path":
            example = "example"  # a path needs every variable; METHOD_EXAMPLES should say one
        if example is not None:
            parameter["example"] = example
        return parameter

    def request_body(
        self, route: Route, rest_in: Descriptor, typed_in: Descriptor, path_fields: set[str]
    ) -> dict[str, Any] | None:
        if not route.body:
            return None
        if route.body == "*":
            schema = self.components.object(rest_in, frozenset(path_fields))
            schema.pop("description", None)
            return {"content": {JSON: {"schema": schema}}}
        fld = rest_in.fields_by_name.get(route.body)
        if fld is None:
            raise GenerationError(f"{rest_in.full_name} has no body field {route.body}")
        typed = typed_in.fields_by_name.get(route.body)
        if (
            fld.message_type is not None
            and fld.message_type.full_name == _STRUCT
            and typed is not None
            and typed.message_type is not None
        ):
            # The typed request's field of the same name, in REST JSON (common.rest).
            schema = self.components.message(typed.message_type)
        else:
            schema = self.components.single(fld)
        body: dict[str, Any] = {"required": True, "content": {JSON: {"schema": schema}}}
        comment = self.comments.get(fld.full_name)
        if comment:
            body["description"] = comment
        return body

    @staticmethod
    def openapi_operation() -> dict[str, Any]:
        return {
            "tags": [_DOCUMENT_TAG],
            "operationId": "GetOpenApi",
            "summary": "This document",
            "description": "Served by Envoy itself; a reader key may read it.",
            "responses": {
                "200": {
                    "description": "The OpenAPI document of this API.",
                    "content": {JSON: {"schema": {"type": "object"}}},
                },
                "401": {"$ref": "#/components/responses/Unauthenticated"},
            },
        }


def _command_action(rest_in: Descriptor, typed_in: Descriptor, body: str) -> str | None:
    """The OCPP action of a command (its body is the OCPP request payload), else None."""
    rest_body = rest_in.fields_by_name.get(body)
    typed = typed_in.fields_by_name.get(body)
    if rest_body is None or typed is None or typed.message_type is None:
        return None
    message = typed.message_type
    if message.file.package == OCPP_PACKAGE and message.name.endswith("Request"):
        return str(message.name).removesuffix("Request")
    return None


def _command_description(action: str) -> str:
    return (
        f"Sends the OCPP 2.0.1 {action} request to the station and answers the station's "
        f"{action}Response payload as the station sent it. The body is the {action}Request "
        "payload exactly as OCPP's JSON schema writes it; one that breaks the schema is 400 and "
        "nothing is sent. 503: the station is not connected; 504: it did not answer in time; "
        "the station's CALLERROR: the HTTP status of its OCPP error code, with a "
        "google.rpc.ErrorInfo detail whose reason is that code."
    )


def _error_response(text: str, envoy: bool) -> dict[str, Any]:
    error = {"$ref": _COMPONENTS + "Error"}
    schema = {"anyOf": [error, {"$ref": _COMPONENTS + "LocalReply"}]} if envoy else error
    return {"description": text, "content": {JSON: {"schema": schema}}}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_COMPONENTS):
                yield value.removeprefix(_COMPONENTS)
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _reachable(roots: list[Any], pool: Mapping[str, Any]) -> set[str]:
    """The names of ``pool`` that ``roots`` refer to, directly or through each other."""
    seen: set[str] = set()
    todo = [name for name in _refs(roots) if name in pool]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(ref for ref in _refs(pool[name]) if ref in pool and ref not in seen)
    return seen


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "0"


def build(files: descriptor_pb2.FileDescriptorSet) -> dict[str, Any]:
    """The OpenAPI document of the REST API in ``files`` (a descriptor set with source info)."""
    return _Document(files).build()


def render(document: Mapping[str, Any]) -> str:
    """The document as written to disk: indented JSON, in construction order."""
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    outdir = pathlib.Path(args[0] if args else ROOT / "gen")
    document = build(load(outdir / "descriptor.pb"))
    (outdir / DOCUMENT_PATH).write_text(render(document), encoding="utf-8")


if __name__ == "__main__":
    main()
