"""What a station presents at its WebSocket handshake, and how often it failed: sans I/O.

OCPP 2.0.1 Part 2 security profiles: HTTP Basic auth (profiles 1 and 2; username = station id),
TLS (2 and 3) and a client certificate whose subject CN is the station id (3). The gateway never
terminates TLS itself: Envoy does, and tells it through headers it sets on every request
(``x-forwarded-proto``, ``x-forwarded-client-cert``, ``x-forwarded-for``). Those headers are
believed only when the gateway is configured to sit behind Envoy (``trust_proxy_headers``) and
the request proves it came through Envoy: Envoy adds ``x-csms-proxy-secret``, a secret it shares
with the gateways (:func:`from_proxy`). Anyone reaching the gateway's port directly could
otherwise claim any certificate, TLS, or address.

device_svc decides whether the credentials satisfy the station's profile (ConnectStation); this
module only reads them and keeps the failure counters that slow down guessing.
"""

from __future__ import annotations

import base64
import binascii
import collections
import dataclasses
import hmac
import time
from collections.abc import Callable, Sequence

__all__ = [
    "PROXY_SECRET_HEADER",
    "BadCredentials",
    "Handshake",
    "Throttle",
    "client_address",
    "from_proxy",
    "handshake",
    "parse_basic",
    "parse_xfcc_subject_cn",
    "subject_cn",
]


# Envoy sets it (overwriting any a client sent) to the secret it shares with the gateways.
PROXY_SECRET_HEADER = "X-CSMS-Proxy-Secret"


class BadCredentials(ValueError):
    """The Authorization header is malformed or names another station (HTTP 401)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Handshake:
    """What the station presented, as far as this gateway can believe it."""

    password: str = ""
    secure_transport: bool = False
    client_certificate_cn: str = ""
    # Where the connection comes from (the station, not Envoy, when the proxy is trusted).
    address: str = ""


def parse_basic(values: Sequence[str], station_id: str) -> str:
    """The password of ``Authorization: Basic`` (``values``: every Authorization header).

    "" when there is none. BadCredentials when it is malformed, is another scheme, or its
    username is not ``station_id``.
    """
    if not values:
        return ""
    if len(values) > 1:
        raise BadCredentials("more than one Authorization header")
    scheme, _, token = values[0].strip().partition(" ")
    if scheme.lower() != "basic":
        raise BadCredentials("only HTTP Basic authentication is supported")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise BadCredentials("malformed Basic credentials") from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise BadCredentials("malformed Basic credentials")
    if username != station_id:
        raise BadCredentials("the Basic auth username is not the station id of the URL")
    return password


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, current, quoted, escaped = [], [], False, False
    for c in text:
        if escaped:
            current.append(c)
            escaped = False
        elif c == "\\":
            current.append(c)
            escaped = True
        elif c == '"':
            current.append(c)
            quoted = not quoted
        elif c == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    """An XFCC value: a quoted one loses its quotes and the backslashes escaping its quotes (the
    subject's own RFC 4514 escapes stay, for :func:`subject_cn`)."""
    value = value.strip()
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    return value[1:-1].replace('\\"', '"')


def subject_cn(subject: str) -> str:
    """The CN of an RFC 4514 subject (``CN=CS1,O=CSMS``); "" when it has none or several."""
    cns = []
    for rdn in _split_dn(subject):
        name, eq, value = rdn.partition("=")
        if eq and name.strip().upper() in {"CN", "2.5.4.3"}:
            cns.append(_dn_unescape(value.strip()))
    return cns[0] if len(cns) == 1 else ""


def _split_dn(subject: str) -> list[str]:
    parts, current, escaped = [], [], False
    for c in subject:
        if escaped:
            current.append(c)
            escaped = False
        elif c == "\\":
            current.append(c)
            escaped = True
        elif c in ",+":
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
    parts.append("".join(current))
    return parts


def _dn_unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            pair = value[i + 1 : i + 3]
            if len(pair) == 2 and all(h in "0123456789abcdefABCDEF" for h in pair):
                out.append(chr(int(pair, 16)))
                i += 3
                continue
            out.append(value[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_xfcc_subject_cn(value: str) -> str:
    """The subject CN of Envoy's ``x-forwarded-client-cert`` (``By=...;Hash=...;Subject="..."``).

    The last element is the one the nearest proxy (our Envoy) added; "" when it has no subject.
    """
    if not value.strip():
        return ""
    element = _split_outside_quotes(value, ",")[-1]
    for pair in _split_outside_quotes(element, ";"):
        key, eq, raw = pair.partition("=")
        if eq and key.strip().lower() == "subject":
            return subject_cn(_unquote(raw))
    return ""


def from_proxy(header: Callable[[str], Sequence[str]], secret: bytes) -> bool:
    """Whether the request carries exactly one :data:`PROXY_SECRET_HEADER` equal to ``secret``
    (compared in constant time; an empty ``secret`` proves nothing)."""
    values = header(PROXY_SECRET_HEADER)
    if not secret or len(values) != 1:
        return False
    return hmac.compare_digest(values[0].encode("utf-8", "surrogateescape"), secret)


def client_address(peer: str, forwarded_for: Sequence[str], trusted: bool) -> str:
    """The station's address: the last ``x-forwarded-for`` entry (the one Envoy appended) when
    the proxy is trusted, else the TCP peer."""
    if trusted:
        entries = [e.strip() for v in forwarded_for for e in v.split(",") if e.strip()]
        if entries:
            return entries[-1]
    return peer


def handshake(
    station_id: str,
    header: Callable[[str], Sequence[str]],
    peer: str,
    trust_proxy_headers: bool,
) -> Handshake:
    """Everything a station presented; ``header(name)`` gives every value of a request header.

    BadCredentials for a malformed Authorization header or another station's username.
    """
    password = parse_basic(header("Authorization"), station_id)
    if not trust_proxy_headers:
        return Handshake(password=password, address=peer)
    proto = header("X-Forwarded-Proto")
    xfcc = header("X-Forwarded-Client-Cert")
    return Handshake(
        password=password,
        secure_transport=len(proto) == 1 and proto[0].strip().lower() == "https",
        client_certificate_cn=parse_xfcc_subject_cn(xfcc[-1]) if xfcc else "",
        address=client_address(peer, header("X-Forwarded-For"), True),
    )


class Throttle:
    """Failed handshakes per key (an address, a station id): more than ``limit`` within
    ``window`` seconds locks the key out for ``lockout`` seconds.

    At most ``max_keys`` keys are tracked (the least recently failed are forgotten first), so a
    flood of made-up station ids or addresses cannot grow the gateway's memory without bound.
    """

    def __init__(
        self,
        limit: int = 5,
        window: float = 60.0,
        lockout: float = 60.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.lockout = lockout
        self.max_keys = max_keys
        self.clock = clock
        self._failures: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )
        self._locked: collections.OrderedDict[str, float] = collections.OrderedDict()

    def locked(self, key: str) -> float:
        """Seconds ``key`` is still locked out (0: not locked)."""
        until = self._locked.get(key)
        if until is None:
            return 0.0
        left = until - self.clock()
        if left <= 0:
            del self._locked[key]
            return 0.0
        return left

    def fail(self, key: str) -> bool:
        """Count one failure; True when it locks ``key`` out now."""
        now = self.clock()
        times = self._failures.pop(key, None)
        if times is None:
            times = collections.deque(maxlen=self.limit + 1)
        while times and times[0] <= now - self.window:
            times.popleft()
        times.append(now)
        if len(times) > self.limit:
            self._set_locked(key, now + self.lockout)
            return True
        self._failures[key] = times
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)
        return False

    def succeed(self, key: str) -> None:
        """A success forgets the key's failures."""
        self._failures.pop(key, None)

    def _set_locked(self, key: str, until: float) -> None:
        self._locked.pop(key, None)
        self._locked[key] = until
        while len(self._locked) > self.max_keys:
            self._locked.popitem(last=False)

    def __len__(self) -> int:
        return len(self._failures) + len(self._locked)
