"""Tests for gateway.auth: Basic credentials, Envoy's headers, trust, the failure throttle."""

from __future__ import annotations

import base64

import pytest

from gateway.auth import (
    BadCredentials,
    Handshake,
    Throttle,
    client_address,
    handshake,
    parse_basic,
    parse_xfcc_subject_cn,
    subject_cn,
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


def test_throttle_locks_out_after_more_than_limit_failures_in_the_window() -> None:
    """The 6th failure within 60 s locks the key for the lockout; then it is free again."""
    clock = Clock()
    throttle = Throttle(limit=5, window=60, lockout=30, clock=clock)
    assert [throttle.fail("a") for _ in range(5)] == [False] * 5
    assert throttle.locked("a") == 0
    assert throttle.fail("a") is True
    assert throttle.locked("a") == 30
    assert throttle.locked("b") == 0
    clock.now += 31
    assert throttle.locked("a") == 0
    assert throttle.fail("a") is False  # counting starts afresh


def test_throttle_forgets_failures_outside_the_window_and_on_success() -> None:
    """Old failures expire; a success clears the key's count."""
    clock = Clock()
    throttle = Throttle(limit=2, window=10, lockout=30, clock=clock)
    throttle.fail("a")
    throttle.fail("a")
    clock.now += 11
    assert throttle.fail("a") is False
    throttle.fail("a")
    throttle.succeed("a")
    assert throttle.fail("a") is False and throttle.fail("a") is False


def test_throttle_memory_is_bounded() -> None:
    """A flood of distinct keys keeps at most max_keys counters, and max_keys lockouts."""
    counting = Throttle(limit=5, max_keys=100)
    locking = Throttle(limit=0, max_keys=100)  # every failure locks its key at once
    for i in range(10_000):
        counting.fail(f"k{i}")
        locking.fail(f"k{i}")
    assert len(counting) == 100 and len(locking) == 100
    assert locking.locked("k9999") > 0 and locking.locked("k0") == 0
