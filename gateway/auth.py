"""What a station presents at its WebSocket handshake, and how often it failed: sans I/O.

OCPP 2.0.1 Part 2 security profiles: HTTP Basic auth (profiles 1 and 2; username = station id),
TLS (2 and 3) and a client certificate whose subject CN is the station id (3; for an OCPP 1.6
station also its unique serial number, as the 1.6 security whitepaper has it: device_svc decides,
this module only reads the CN). The gateway never
terminates TLS itself: Envoy does, and tells it through headers it sets on every request
(``x-forwarded-proto``, ``x-forwarded-client-cert``, ``x-forwarded-for``). Those headers are
believed only when the gateway is configured to sit behind Envoy (``trust_proxy_headers``) and
the request proves it came through Envoy: Envoy adds ``x-csms-proxy-secret``, a secret it shares
with the gateways (:func:`from_proxy`). Anyone reaching the gateway's port directly could
otherwise claim any certificate, TLS, or address.

device_svc decides whether the credentials satisfy the station's profile (ConnectStation); this
module only reads them and keeps the failure counters that slow down guessing (:class:`Throttle`:
only the address that keeps failing on one station id is locked out, never a station presenting
valid credentials because others failed on its id or from its address).
"""

from __future__ import annotations

import base64
import binascii
import collections
import dataclasses
import hmac
import ipaddress
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "PROXY_SECRET_HEADER",
    "BadCredentials",
    "Failure",
    "Handshake",
    "Throttle",
    "address_key",
    "client_address",
    "from_proxy",
    "handshake",
    "parse_basic",
    "parse_xfcc_subject",
    "parse_xfcc_subject_cn",
    "subject_cn",
    "subject_o",
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
    # Its subject O (organizationName), for device_svc's check against the CPO name.
    client_certificate_organization: str = ""
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
    return _single_attribute(subject, {"CN", "2.5.4.3"})


def subject_o(subject: str) -> str:
    """The O (organizationName) of an RFC 4514 subject; "" when it has none or several."""
    return _single_attribute(subject, {"O", "2.5.4.10"})


def _single_attribute(subject: str, names: set[str]) -> str:
    values = []
    for rdn in _split_dn(subject):
        name, eq, value = rdn.partition("=")
        if eq and name.strip().upper() in names:
            values.append(_dn_unescape(value.strip()))
    return values[0] if len(values) == 1 else ""


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


def parse_xfcc_subject(value: str) -> str:
    """The subject (RFC 4514) of Envoy's ``x-forwarded-client-cert``
    (``By=...;Hash=...;Subject="..."``).

    The last element is the one the nearest proxy (our Envoy) added; "" when it has no subject.
    """
    if not value.strip():
        return ""
    element = _split_outside_quotes(value, ",")[-1]
    for pair in _split_outside_quotes(element, ";"):
        key, eq, raw = pair.partition("=")
        if eq and key.strip().lower() == "subject":
            return _unquote(raw)
    return ""


def parse_xfcc_subject_cn(value: str) -> str:
    """The subject CN of Envoy's ``x-forwarded-client-cert`` (:func:`parse_xfcc_subject`)."""
    return subject_cn(parse_xfcc_subject(value))


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
    subject = parse_xfcc_subject(xfcc[-1]) if xfcc else ""
    return Handshake(
        password=password,
        secure_transport=len(proto) == 1 and proto[0].strip().lower() == "https",
        client_certificate_cn=subject_cn(subject),
        client_certificate_organization=subject_o(subject) if subject else "",
        address=client_address(peer, header("X-Forwarded-For"), True),
    )


def address_key(address: str) -> str:
    """What failures are counted against for ``address``: an IPv6 address's /64 (one site or
    one customer's line, where a client picks any address it likes), an IPv4 address (an
    IPv4-mapped IPv6 one too) as it is; anything else unchanged."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclasses.dataclass(frozen=True, slots=True)
class Failure:
    """What one refused password changed (:meth:`Throttle.fail`)."""

    # Seconds the (address, station id) pair is locked out from now (0: not locked).
    locked_for: float = 0.0
    # The pair's lockouts in a row, this one included (0: not locked now).
    strikes: int = 0
    # The address, or the station id, has just gone beyond its limit (log it once).
    address_turned_hot: bool = False
    station_turned_hot: bool = False


@dataclasses.dataclass(slots=True)
class _Bucket:
    """A leaky bucket of failures: +1 each, draining at a constant rate (failures forgiven)."""

    level: float = 0.0
    at: float = 0.0

    def level_at(self, now: float, rate: float) -> float:
        return max(0.0, self.level - (now - self.at) * rate)

    def add(self, now: float, rate: float) -> float:
        self.level = self.level_at(now, rate) + 1
        self.at = now
        return self.level


@dataclasses.dataclass(slots=True)
class _Pair:
    """One address's failures on one station id."""

    failures: _Bucket = dataclasses.field(default_factory=_Bucket)
    # Lockouts in a row; forgiven after max_lockout seconds without a failure past the last.
    strikes: int = 0
    until: float = -math.inf


class Throttle:
    """Failed handshakes, counted so that guessing is slow and nobody's valid credentials are
    refused for what others did.

    Three counters, leaky buckets of ``window`` seconds: per (address, station id) pair, per
    address and per station id. A refused password counts against all three
    (:meth:`fail`); any other failure (no credentials, a malformed header, a probe) against
    the address only (:meth:`fail_address`): it guessed nothing.

    Only a pair is ever locked out (:meth:`locked`): beyond ``limit`` failures (a burst of
    ``limit``, then one forgiven every ``window / limit`` seconds), each failure locks it for
    ``lockout`` seconds, twice as long as the one before, at most ``max_lockout``; a failure
    after a lockout locks it again at once, until it stays quiet for ``max_lockout`` seconds
    after one. Failures still under way when the pair is locked lock it again, longer, so
    that concurrent attempts buy no extra guesses. A success forgets the pair.

    The address and station id counters never lock anyone out: many stations share one
    address (behind one NAT), and anyone can fail on a station id it knows. Beyond
    ``address_limit`` or ``station_limit`` failures (the address or the station id is *hot*),
    a pair with either is locked out at its first failure instead of after ``limit``: a
    thousand addresses guessing one station, or one address guessing a thousand, get one
    guess each per lockout, while a station presenting valid credentials from an address
    whose own pair has not failed is always let through to device_svc.

    At most ``max_keys`` pairs, addresses and station ids each are kept (the least recently
    failed are forgotten first), so that a flood of made-up ids or addresses cannot grow the
    gateway's memory without bound. IPv6 addresses are counted per /64 (:func:`address_key`).
    """

    def __init__(
        self,
        limit: int = 5,
        window: float = 60.0,
        lockout: float = 60.0,
        max_lockout: float = 900.0,
        address_limit: int = 100,
        station_limit: int = 20,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self.limit = limit
        self.window = window
        self.lockout = lockout
        self.max_lockout = max(lockout, max_lockout)
        self.address_limit = address_limit
        self.station_limit = station_limit
        self.max_keys = max_keys
        self.clock = clock
        self._pairs: collections.OrderedDict[tuple[str, str], _Pair] = collections.OrderedDict()
        self._addresses: collections.OrderedDict[str, _Bucket] = collections.OrderedDict()
        self._stations: collections.OrderedDict[str, _Bucket] = collections.OrderedDict()

    def locked(self, address: str, station_id: str) -> float:
        """Seconds the (address, station id) pair is still locked out (0: not locked)."""
        if not self._pairs:  # the common case (no failures lately): no address to parse
            return 0.0
        pair = self._pairs.get((address_key(address), station_id))
        if pair is None:
            return 0.0
        return max(0.0, pair.until - self.clock())

    def address_hot(self, address: str) -> bool:
        """Whether the address is beyond ``address_limit`` failures."""
        return self._hot(self._addresses, address_key(address), self.address_limit)

    def station_hot(self, station_id: str) -> bool:
        """Whether the station id is beyond ``station_limit`` failures."""
        return self._hot(self._stations, station_id, self.station_limit)

    def fail(self, address: str, station_id: str) -> Failure:
        """Count a refused password against the pair, the address and the station id."""
        now = self.clock()
        key = address_key(address)
        address_level = self._count(self._addresses, key, self.address_limit, now)
        station_level = self._count(self._stations, station_id, self.station_limit, now)
        hot = address_level > self.address_limit or station_level > self.station_limit
        pair = self._pairs.pop((key, station_id), None) or _Pair()
        if pair.strikes and now >= pair.until + self.max_lockout:
            pair.strikes = 0  # quiet long enough after its last lockout: forgiven
        level = pair.failures.add(now, self.limit / self.window)
        locked_for = 0.0
        if pair.strikes or level > (0 if hot else self.limit):
            pair.strikes += 1
            doubled = self.lockout * 2.0 ** min(pair.strikes - 1, 64)
            locked_for = min(self.max_lockout, doubled)
            pair.until = max(pair.until, now + locked_for)
        self._keep(self._pairs, (key, station_id), pair)
        return Failure(
            locked_for=locked_for,
            strikes=pair.strikes if locked_for else 0,
            address_turned_hot=address_level - 1 <= self.address_limit < address_level,
            station_turned_hot=station_level - 1 <= self.station_limit < station_level,
        )

    def fail_address(self, address: str) -> bool:
        """Count a failure that guessed no password against the address only; True when it
        makes the address hot."""
        level = self._count(self._addresses, address_key(address), self.address_limit, self.clock())
        return level - 1 <= self.address_limit < level

    def succeed(self, address: str, station_id: str) -> None:
        """Valid credentials: the pair's failures and lockouts are forgotten (the address's and
        the station id's stay: they are others' too)."""
        if self._pairs:
            self._pairs.pop((address_key(address), station_id), None)

    def _count(
        self, table: collections.OrderedDict[str, _Bucket], key: str, limit: int, now: float
    ) -> float:
        """One more failure for ``key``; its level now."""
        bucket = table.pop(key, None) or _Bucket()
        level = bucket.add(now, limit / self.window)
        self._keep(table, key, bucket)
        return level

    def _hot(self, table: collections.OrderedDict[str, _Bucket], key: str, limit: int) -> bool:
        bucket = table.get(key)
        return bucket is not None and bucket.level_at(self.clock(), limit / self.window) > limit

    def _keep(self, table: collections.OrderedDict[Any, Any], key: Any, value: Any) -> None:
        table[key] = value
        while len(table) > self.max_keys:
            table.popitem(last=False)

    def __len__(self) -> int:
        return len(self._pairs) + len(self._addresses) + len(self._stations)
