"""Tests for gateway.auth: Basic credentials, Envoy's headers, trust, the failure throttle."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from gateway.auth import (
    BadCredentials,
    Handshake,
    Throttle,
    address_key,
    client_address,
    handshake,
    parse_basic,
    parse_xfcc_subject_cn,
    subject_cn,
    subject_o,
)


def _basic(raw: str) -> str:
    return "Basic " + base64.b64encode(raw.encode()).decode()


@pytest.mark.parametrize(
    ("values", "password"),
    [
        ([], ""),
        ([_basic("CS1:secret-of-sixteen")], "secret-of-sixteen"),
        ([_basic("CS1:with:colons:inside!")], "with:colons:inside!"),
        (["basic " + base64.b64encode(b"CS1:pw").decode()], "pw"),  # the scheme is caseless
        ([_basic("CS1:")], ""),
    ],
)
def test_parse_basic_gives_the_password(values: list[str], password: str) -> None:
    """The password after the first colon; no header at all is no password."""
    assert parse_basic(values, "CS1") == password


@pytest.mark.parametrize(
    "values",
    [
        [_basic("CS2:secret-of-sixteen")],  # another station's username
        [_basic("cs1:secret-of-sixteen")],  # ids are case-sensitive
        [_basic("no colon at all")],
        ["Basic not*base64"],
        ["Basic " + base64.b64encode(b"CS1:\xff\xfe").decode()],  # not UTF-8
        ["Bearer abc"],
        ["Basic"],
        [_basic("CS1:a"), _basic("CS1:b")],
    ],
)
def test_parse_basic_refuses_malformed_or_foreign(values: list[str]) -> None:
    """Malformed headers, other schemes and another station's username are BadCredentials."""
    with pytest.raises(BadCredentials):
        parse_basic(values, "CS1")


@pytest.mark.parametrize(
    ("xfcc", "cn"),
    [
        ('Hash=abc;Subject="CN=CS1,O=CSMS"', "CS1"),
        ('By=spiffe://csms;Hash=abc;Subject="O=CSMS,CN=CS1"', "CS1"),
        ('Subject="CN=CS\\,1,O=CSMS"', "CS,1"),  # an escaped comma belongs to the CN
        ('Subject="CN=A \\"quoted\\" one"', 'A "quoted" one'),
        ('Subject="CN=CS\\2C1"', "CS,1"),  # hex escape
        ('Hash=a;Subject="CN=OLD",Hash=b;Subject="CN=NEW"', "NEW"),  # the nearest proxy's
        ('Subject="CN=A,CN=B"', ""),  # two CNs: ambiguous
        ('Subject="O=CSMS"', ""),
        ("Hash=abc", ""),
        ("", ""),
    ],
)
def test_xfcc_subject_cn(xfcc: str, cn: str) -> None:
    """The subject CN of the last x-forwarded-client-cert element, quotes and escapes undone."""
    assert parse_xfcc_subject_cn(xfcc) == cn


@pytest.mark.parametrize(
    ("subject", "organization"),
    [
        ("CN=CS1,O=Operator", "Operator"),
        ("O=Big\\, Small Ltd,CN=CS1", "Big, Small Ltd"),  # an escaped comma belongs to the O
        ("2.5.4.10=Operator,CN=CS1", "Operator"),
        ("CN=CS1,O=A,O=B", ""),  # two: ambiguous
        ("CN=CS1,OU=Operator", ""),  # an OU is not an O
        ("CN=CS1", ""),
    ],
)
def test_subject_o(subject: str, organization: str) -> None:
    """The O (organizationName) of a subject, for the CPO name check (A00.FR.404)."""
    assert subject_o(subject) == organization


def test_subject_cn_accepts_the_oid_spelling() -> None:
    """2.5.4.3 is CN too."""
    assert subject_cn("2.5.4.3=CS9,O=X") == "CS9"


def test_client_address_from_the_last_forwarded_entry_only_when_trusted() -> None:
    """Trusted: the entry Envoy appended (the last); untrusted: the TCP peer."""
    forwarded = ["6.6.6.6, 10.0.0.7", "192.0.2.1"]
    assert client_address("127.0.0.1", forwarded, trusted=True) == "192.0.2.1"
    assert client_address("127.0.0.1", forwarded, trusted=False) == "127.0.0.1"
    assert client_address("127.0.0.1", [], trusted=True) == "127.0.0.1"


def _headers(**values: list[str]):  # type: ignore[no-untyped-def]
    lower = {k.replace("_", "-").lower(): v for k, v in values.items()}
    return lambda name: lower.get(name.lower(), [])


PROXY_HEADERS = _headers(
    authorization=[_basic("CS1:secret-of-sixteen")],
    x_forwarded_proto=["https"],
    x_forwarded_client_cert=['Hash=h;Subject="CN=CS1,O=CSMS"'],
    x_forwarded_for=["192.0.2.1"],
)


def test_handshake_believes_envoy_when_trusted() -> None:
    """Behind Envoy: TLS, the certificate's CN and the station's address come from headers."""
    assert handshake("CS1", PROXY_HEADERS, "127.0.0.1", trust_proxy_headers=True) == Handshake(
        password="secret-of-sixteen",
        secure_transport=True,
        client_certificate_cn="CS1",
        client_certificate_organization="CSMS",
        address="192.0.2.1",
    )


def test_handshake_ignores_proxy_headers_when_not_trusted() -> None:
    """Stations straight at the gateway: the same headers are ignored, only Basic auth counts."""
    assert handshake("CS1", PROXY_HEADERS, "203.0.113.5", trust_proxy_headers=False) == Handshake(
        password="secret-of-sixteen", address="203.0.113.5"
    )


@pytest.mark.parametrize("proto", [["http"], ["https", "https"], ["HTTPS"]])
def test_handshake_secure_transport_needs_exactly_https(proto: list[str]) -> None:
    """One x-forwarded-proto of https (any case) means TLS; anything else does not."""
    got = handshake("CS1", _headers(x_forwarded_proto=proto), "1.2.3.4", True)
    assert got.secure_transport is (proto == ["HTTPS"])


def test_handshake_refuses_another_stations_username() -> None:
    """The username must be the station id of the URL."""
    with pytest.raises(BadCredentials):
        handshake("CS2", PROXY_HEADERS, "127.0.0.1", True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _throttle(clock: Clock, **kw: Any) -> Throttle:
    options: dict[str, Any] = {
        "limit": 5,
        "window": 60,
        "lockout": 30,
        "max_lockout": 600,
        "address_limit": 100,
        "station_limit": 20,
    }
    return Throttle(**{**options, **kw}, clock=clock)


def test_throttle_locks_out_a_pair_after_more_than_limit_failures() -> None:
    """The 6th refused password of one address on one station id locks that pair for the
    lockout, and nobody else: not the address with another id, not the id from elsewhere."""
    clock = Clock()
    throttle = _throttle(clock)
    assert [throttle.fail("192.0.2.1", "CS1").locked_for for _ in range(5)] == [0] * 5
    assert throttle.locked("192.0.2.1", "CS1") == 0
    failure = throttle.fail("192.0.2.1", "CS1")
    assert (failure.locked_for, failure.strikes) == (30, 1)
    assert throttle.locked("192.0.2.1", "CS1") == 30
    assert throttle.locked("192.0.2.1", "CS2") == 0
    assert throttle.locked("192.0.2.2", "CS1") == 0
    clock.now += 30
    assert throttle.locked("192.0.2.1", "CS1") == 0


def test_throttle_lockouts_double_up_to_the_maximum() -> None:
    """Each failure after a lockout locks the pair again at once, twice as long, at most
    max_lockout: guessing gets exponentially slower."""
    clock = Clock()
    throttle = _throttle(clock)
    for _ in range(6):
        throttle.fail("192.0.2.1", "CS1")
    lockouts = []
    for _ in range(7):
        clock.now += throttle.locked("192.0.2.1", "CS1")
        lockouts.append(throttle.fail("192.0.2.1", "CS1").locked_for)
    assert lockouts == [60, 120, 240, 480, 600, 600, 600]
    assert throttle.locked("192.0.2.1", "CS1") == 600


def test_throttle_failures_while_locked_lock_it_longer() -> None:
    """Attempts that were under way when the pair was locked (concurrent guesses) fail later:
    each extends the lockout, so concurrency buys no extra guesses."""
    clock = Clock()
    throttle = _throttle(clock)
    locked = [throttle.fail("192.0.2.1", "CS1").locked_for for _ in range(9)]
    assert locked == [0, 0, 0, 0, 0, 30, 60, 120, 240]
    assert throttle.locked("192.0.2.1", "CS1") == 240


def test_throttle_forgets_a_pair_that_stays_quiet() -> None:
    """max_lockout seconds without a failure after its lockout: the pair starts afresh."""
    clock = Clock()
    throttle = _throttle(clock)
    for _ in range(6):
        throttle.fail("192.0.2.1", "CS1")
    clock.now += 30 + 600
    assert [throttle.fail("192.0.2.1", "CS1").locked_for for _ in range(6)] == [0] * 5 + [30]


def test_throttle_forgives_one_failure_every_window_over_limit_seconds() -> None:
    """A leaky bucket: failing every 12 s (5 a minute) never locks; every 10 s soon does."""
    clock = Clock()
    throttle = _throttle(clock)
    for _ in range(100):
        assert throttle.fail("192.0.2.1", "CS1").locked_for == 0
        clock.now += 12
    results = []
    for _ in range(40):
        results.append(throttle.fail("192.0.2.2", "CS1").locked_for)
        clock.now += 10
    assert 0 < results.index(30) < 40


def test_throttle_success_forgets_the_pair_but_not_the_others_failures() -> None:
    """Valid credentials clear their own pair; the station id's count is others' too."""
    clock = Clock()
    throttle = _throttle(clock, station_limit=8)
    for _ in range(5):
        throttle.fail("192.0.2.1", "CS1")
    throttle.succeed("192.0.2.1", "CS1")
    assert [throttle.fail("192.0.2.1", "CS1").locked_for for _ in range(3)] == [0] * 3
    assert throttle.fail("192.0.2.9", "CS1").station_turned_hot  # the 9th on CS1


def test_throttle_never_locks_out_an_address_or_a_station_id_alone() -> None:
    """A thousand failures from one address (many ids), and a thousand on one id (many
    addresses): a station with valid credentials is still let through to device_svc, from
    that address with another id and with that id from another address."""
    clock = Clock()
    throttle = _throttle(clock)
    for n in range(1000):
        throttle.fail("192.0.2.1", f"GUESS{n}")
        throttle.fail(f"198.51.100.{n % 250}", "CS1")
        throttle.fail_address("192.0.2.1")
    assert throttle.address_hot("192.0.2.1") and throttle.station_hot("CS1")
    assert throttle.locked("192.0.2.1", "NEIGHBOUR") == 0
    assert throttle.locked("203.0.113.9", "CS1") == 0


def test_throttle_a_hot_address_locks_each_pair_at_its_first_failure() -> None:
    """Beyond address_limit failures, one guess per station id and lockout from there: the
    hot address is reported once; other addresses keep their allowance."""
    clock = Clock()
    throttle = _throttle(clock, address_limit=10)
    turned = [throttle.fail("192.0.2.1", f"GUESS{n}").address_turned_hot for n in range(15)]
    assert turned == [False] * 10 + [True] + [False] * 4
    assert throttle.address_hot("192.0.2.1")
    assert throttle.fail("192.0.2.1", "CS1").locked_for == 30
    assert throttle.fail("192.0.2.2", "CS1").locked_for == 0
    clock.now += 60  # 10 per minute forgiven: cool again
    assert not throttle.address_hot("192.0.2.1")
    assert throttle.fail("192.0.2.1", "CS2").locked_for == 0


def test_throttle_a_hot_station_id_locks_each_new_address_at_its_first_failure() -> None:
    """Beyond station_limit failures on one id (from many addresses: a botnet), each address
    gets one guess per lockout, not limit."""
    clock = Clock()
    throttle = _throttle(clock, station_limit=10)
    turned = [throttle.fail(f"198.51.100.{n}", "CS1").station_turned_hot for n in range(12)]
    assert turned == [False] * 10 + [True, False]
    assert throttle.fail("203.0.113.9", "CS1").locked_for == 30
    assert throttle.fail("203.0.113.9", "CS2").locked_for == 0


def test_throttle_failures_without_a_guess_count_against_the_address_only() -> None:
    """No credentials, a malformed header, a probe: the address, never a pair or a station."""
    clock = Clock()
    throttle = _throttle(clock, address_limit=3)
    assert [throttle.fail_address("192.0.2.1") for _ in range(5)] == [False] * 3 + [True, False]
    assert throttle.address_hot("192.0.2.1")
    assert not throttle.station_hot("CS1") and throttle.locked("192.0.2.1", "CS1") == 0


def test_throttle_memory_is_bounded() -> None:
    """A flood of distinct ids and addresses keeps at most max_keys pairs, addresses and
    station ids each; the most recent lockouts are the ones kept."""
    throttle = Throttle(limit=0, max_keys=100)  # every failure locks its pair at once
    for i in range(10_000):
        throttle.fail(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", f"k{i}")
    assert len(throttle) == 300
    assert throttle.locked("10.0.39.15", "k9999") > 0 and throttle.locked("10.0.0.0", "k0") == 0


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::ffff", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("", ""),
        ("not-an-address", "not-an-address"),
    ],
)
def test_address_key(address: str, key: str) -> None:
    """IPv6 addresses count per /64 (a client picks any address in its own)."""
    assert address_key(address) == key


def test_throttle_rotating_ipv6_addresses_within_a_64_does_not_escape_the_lockout() -> None:
    """A new IPv6 address per guess, all in one /64: the pair is locked all the same."""
    throttle = _throttle(Clock())
    for n in range(6):
        throttle.fail(f"2001:db8::{n + 1:x}", "CS1")
    assert throttle.locked("2001:db8::ffff", "CS1") == 30
    assert throttle.locked("2001:db8:0:1::1", "CS1") == 0
