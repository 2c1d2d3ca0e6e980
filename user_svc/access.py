"""The management API's access rules as pure code: API key secrets, and who may do what.

Envoy asks user_svc about every REST and gRPC request on its API listener (external
authorization, before the gRPC-JSON transcoder, so the request is seen as the client sent it:
``GET /v1/chargingStations`` or ``POST /csms.device.v1.DeviceService/ListChargingStations``).
:func:`decide` answers from the request's method and path and the key presented:

- no key, a malformed, unknown or revoked one → 401 (UNAUTHENTICATED);
- the station-facing RPCs (what the gateway and the services call each other with) → 403 for
  every key: internal callers reach the services directly, never through Envoy;
- READER may read: REST ``GET``, and the gRPC methods whose REST binding is a GET (the Get*/List*
  reads; the Get* commands to stations such as GetVariables are POST and need OPERATOR), except
  the API keys (their listing names every key and its role: OPERATOR's, like minting them);
- OPERATOR may do everything else;
- the prototype's ``POST /chargingstations/create`` without a key only where the deployment
  allows it (the local quick start of ``make up``).

A secret is ``csms_<id>_<43 url-safe characters>`` (32 random bytes): the id is public (it names
the key in listings and logs), only the SHA-256 of the whole secret is stored. Nothing here does
I/O; :class:`user_svc.service.ApiKeys` finds keys, :mod:`user_svc.servicer` speaks Envoy's API.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

from google.api import annotations_pb2
from google.protobuf.descriptor import FileDescriptor

from common.rest import typed_service_of
from csms.device.v1 import device_service_pb2
from csms.transaction.v1 import transaction_service_pb2
from csms.user.v1 import user_service_pb2

__all__ = [
    "ALLOW",
    "Decision",
    "INTERNAL_METHODS",
    "KEY_METHODS",
    "LEGACY_CREATE_PATH",
    "OPERATOR",
    "READER",
    "READ_METHODS",
    "ROLES",
    "SECRET_PREFIX",
    "decide",
    "hash_secret",
    "key_id_of",
    "new_secret",
    "secret_matches",
]

READER, OPERATOR = "reader", "operator"
ROLES = (READER, OPERATOR)

SECRET_PREFIX = "csms_"
# The id: 8 characters of this alphabet (41 bits), no "_" so the secret splits unambiguously.
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_ID_LENGTH = 8
# 32 random bytes are 43 url-safe base64 characters.
_RANDOM_BYTES = 32

# The prototype's create call, which the local quick start sends without any header.
LEGACY_CREATE_PATH = "/chargingstations/create"

_MANAGED: tuple[FileDescriptor, ...] = (
    device_service_pb2.DESCRIPTOR,
    transaction_service_pb2.DESCRIPTOR,
    user_service_pb2.DESCRIPTOR,
)

# The station-facing RPCs, by name: the gateway calls them for stations' CALLs (and to hold its
# stations), transaction_svc calls Authorize. Whatever the key, not through Envoy.
_STATION_FACING = frozenset(
    {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "Authorize",
        "TransactionEvent",
        "MeterValues",
        "NotifyReport",
        "NotifyCustomerInformation",
        "NotifyEvent",
        "StationDataTransfer",
        "SecurityEventNotification",
        "SignCertificate",
        "Get15118EVCertificate",
        "GetCertificateStatus",
        "CheckContractCertificate",
        "ConnectStation",
        "DisconnectStation",
        "RenewLeases",
        "RenewGatewayLease",
    }
)
# The gateways' own service (CSMS-initiated calls): device_svc's only, never routed by Envoy.
_INTERNAL_SERVICES = frozenset({"csms.gateway.v1.StationControlService"})


def _methods(files: Iterable[FileDescriptor]) -> dict[str, str]:
    """gRPC path → the HTTP verb of its REST binding ("" when it has none).

    REST is bound on the ``*RestService`` methods (common/rest.py); a typed method is read or
    written over REST through its twin of the same name, so it takes the twin's verb.
    """
    verbs: dict[str, str] = {}
    for file in files:
        for service in file.services_by_name.values():
            for method in service.methods:
                rule = method.GetOptions().Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern") or ""
                path = f"/{service.full_name}/{method.name}"
                verbs[path] = verb or verbs.get(path, "")
                if verb and service.name.endswith("RestService"):
                    verbs[f"/{typed_service_of(service).full_name}/{method.name}"] = verb
    return verbs


_VERBS = _methods(_MANAGED)
# The gRPC methods READER may call: those read over REST with a GET.
READ_METHODS = frozenset(path for path, verb in _VERBS.items() if verb == "get")
# Method names refused to every key: the station-facing list, and any RPC with no REST binding
# (the contract gives every management method one; a new station-facing RPC is caught here
# even before it is added to the list above).
INTERNAL_METHODS = _STATION_FACING | frozenset(
    path.rsplit("/", 1)[1] for path, verb in _VERBS.items() if not verb
)


# The API keys' methods (create, list, revoke; typed and REST twins alike): OPERATOR's only.
KEY_METHODS = frozenset(
    path for path in _VERBS if path.startswith("/csms.user.") and "ApiKey" in path.rsplit("/", 1)[1]
)
# The REST collection of the API keys (any path with this segment, whatever the slashes).
_KEYS_SEGMENT = "apikeys"


def _about_keys(plain: str, call: tuple[str, str] | None) -> bool:
    """Whether the request reads or writes API keys (``plain``: the decoded path)."""
    if call is not None:
        return f"/{call[0]}/{call[1]}" in KEY_METHODS
    return any(segment.lower() == _KEYS_SEGMENT for segment in plain.split("/"))


def new_secret() -> tuple[str, str]:
    """A fresh key: its id and its secret (``csms_<id>_<random>``)."""
    key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))
    return key_id, f"{SECRET_PREFIX}{key_id}_{secrets.token_urlsafe(_RANDOM_BYTES)}"


def key_id_of(secret: str) -> str | None:
    """The id a presented secret claims, or None when it is not shaped like one of ours."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    key_id, sep, rest = secret[len(SECRET_PREFIX) :].partition("_")
    if not sep or len(key_id) != _ID_LENGTH or len(rest) < _RANDOM_BYTES:
        return None
    if any(c not in _ID_ALPHABET for c in key_id):
        return None
    return key_id


def hash_secret(secret: str) -> str:
    """What is stored of a secret: its hex SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Whether ``secret`` is the one ``stored_hash`` was made from, in constant time."""
    return hmac.compare_digest(hash_secret(secret).encode(), stored_hash.encode())


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed (``status`` 200), or the HTTP status and message of the refusal."""

    status: int
    message: str = ""

    @property
    def allowed(self) -> bool:
        return self.status == 200


ALLOW = Decision(200)


def _grpc_call(path: str) -> tuple[str, str] | None:
    """(service, method) when ``path`` is a gRPC one (``/pkg.Service/Method``), else None."""
    first, sep, rest = path.lstrip("/").partition("/")
    if not sep or "." not in first:
        return None
    return first, rest.strip("/")


def decide(
    http_method: str,
    path: str,
    role: str | None,
    *,
    key_presented: bool,
    allow_anonymous_legacy_create: bool = False,
) -> Decision:
    """May a request of ``http_method`` on ``path`` (query included) go on?

    ``role`` is the role of the valid key presented, None when there is none valid:
    ``key_presented`` tells a missing key (which the legacy create may do without, where the
    deployment allows it) from a wrong or revoked one (always 401).
    """
    # The path as the services will see it: percent-escapes decoded, no query.
    plain = urllib.parse.unquote(path.partition("?")[0])
    call = _grpc_call(plain)
    if role is None:
        if (
            not key_presented
            and allow_anonymous_legacy_create
            and http_method == "POST"
            and plain == LEGACY_CREATE_PATH
        ):
            return ALLOW
        if key_presented:
            return Decision(401, "the API key is not valid (unknown or revoked)")
        return Decision(401, "an API key is required: send it as 'Authorization: Bearer <secret>'")
    if call is not None and (call[0] in _INTERNAL_SERVICES or call[1] in INTERNAL_METHODS):
        return Decision(403, f"{call[1]} is internal: it is not served through this API")
    if role == OPERATOR:
        return ALLOW
    if role == READER:
        if _about_keys(plain, call):
            return Decision(403, "the API keys are an operator's: a reader key may not list them")
        if (call is not None and plain in READ_METHODS) or (call is None and http_method == "GET"):
            return ALLOW
        return Decision(403, "the API key's role (reader) may only read (GET, Get*/List*)")
    return Decision(403, f"unknown role {role!r}")
