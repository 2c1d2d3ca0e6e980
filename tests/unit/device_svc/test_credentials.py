"""Tests for device_svc.credentials: what a station presented against its security profile."""

from __future__ import annotations

import string

import argon2
import pytest

from common.errors import FailedPrecondition
from device_svc import credentials
from device_svc.credentials import Presented, Unauthenticated

PASSWORD = "correct-horse-battery"


@pytest.mark.parametrize(
    ("profile", "password_set", "presented", "allow", "verify"),
    [
        pytest.param(0, False, Presented(), True, False, id="0-nothing"),
        pytest.param(0, False, Presented(secure_transport=True), True, False, id="0-over-tls"),
        pytest.param(0, True, Presented(password=PASSWORD), True, True, id="0-own-password"),
        pytest.param(1, True, Presented(password=PASSWORD), False, True, id="1-password"),
        pytest.param(
            3, False, Presented("", True, "S"), False, False, id="3-certificate-no-password"
        ),
    ],
)
def test_check_lets_in(
    profile: int, password_set: bool, presented: Presented, allow: bool, verify: bool
) -> None:
    """What fits the profile passes; True when the password is still to be verified."""
    assert credentials.check("S", profile, password_set, presented, allow) is verify


@pytest.mark.parametrize(
    ("profile", "password_set", "presented", "allow"),
    [
        pytest.param(0, False, Presented(), False, id="0-unsecured-off"),
        # A station presenting credentials must present the right ones: a password the station
        # does not have is wrong, whatever its profile asks for (OCPP 2.0.1 Part 2).
        pytest.param(0, False, Presented(password=PASSWORD), True, id="0-password-it-has-not"),
        pytest.param(
            0, False, Presented(password=PASSWORD, secure_transport=True), True, id="0-tls-pw"
        ),
        pytest.param(0, True, Presented(password=PASSWORD), False, id="0-unsecured-off-pw"),
        pytest.param(1, False, Presented(password=PASSWORD), True, id="1-no-password-set"),
        pytest.param(1, True, Presented(), True, id="1-nothing"),
        pytest.param(2, True, Presented(password=PASSWORD), True, id="2-plain-ws"),
        pytest.param(3, False, Presented("", True, "OTHER"), True, id="3-other-certificate"),
    ],
)
def test_check_refuses(profile: int, password_set: bool, presented: Presented, allow: bool) -> None:
    """What does not fit the profile is Unauthenticated."""
    with pytest.raises(Unauthenticated):
        credentials.check("S", profile, password_set, presented, allow)


def test_verify_dummy_matches_nothing_at_a_real_verifications_cost() -> None:
    """The dummy hash has the hasher's own parameters (so its verification costs what a
    stored hash's does), is made once, and no password matches it."""
    passwords = credentials.Passwords(time_cost=1, memory_cost=8)
    assert passwords.verify_dummy(PASSWORD) is False
    assert passwords.verify_dummy("") is False
    dummy = passwords._dummy_hash
    assert passwords._dummy_hash is dummy
    assert argon2.extract_parameters(dummy) == argon2.extract_parameters(passwords.hash(PASSWORD))


@pytest.mark.parametrize(
    ("profile", "password_set", "presented"),
    [
        pytest.param(0, False, Presented("", True, "OTHER"), id="0"),
        pytest.param(0, True, Presented(PASSWORD, True, "OTHER"), id="0-with-password"),
        pytest.param(1, True, Presented(PASSWORD, False, "OTHER"), id="1"),
        pytest.param(2, True, Presented(PASSWORD, True, "OTHER"), id="2"),
    ],
)
def test_check_refuses_another_stations_certificate_at_any_profile(
    profile: int, password_set: bool, presented: Presented
) -> None:
    """A client certificate whose CN is another station's id is refused at profiles 0 to 2 too,
    even with the right password and unsecured stations allowed."""
    with pytest.raises(Unauthenticated, match="another station's"):
        credentials.check("S", profile, password_set, presented, True)


def test_check_takes_the_stations_own_certificate_beside_its_password() -> None:
    """Profile 2 with the station's own certificate and its password: the password decides."""
    assert credentials.check("S", 2, True, Presented(PASSWORD, True, "S"), False) is True


@pytest.mark.parametrize("profile", [1, 2])
def test_check_says_why_a_station_without_password_is_refused(profile: int) -> None:
    """A profile 1/2 station left without a password (set before one was required) is refused
    with a reason naming the station and what the operator must do."""
    presented = Presented(PASSWORD, profile == 2)
    with pytest.raises(Unauthenticated, match="station S has none: an operator must set"):
        credentials.check("S", profile, False, presented, True)


TLS_PASSWORD = Presented(PASSWORD, True)
CERTIFICATE = Presented("", True, "S")


@pytest.mark.parametrize(
    ("profile", "pending", "presented", "expected"),
    [
        pytest.param(1, None, TLS_PASSWORD, 1, id="no-pending"),
        pytest.param(1, 2, Presented(PASSWORD), 1, id="1-to-2-still-plain-ws"),
        pytest.param(1, 2, TLS_PASSWORD, 2, id="1-to-2-over-tls"),
        pytest.param(2, 3, TLS_PASSWORD, 2, id="2-to-3-still-password"),
        pytest.param(2, 3, CERTIFICATE, 3, id="2-to-3-with-certificate"),
        pytest.param(1, 3, Presented(PASSWORD), 1, id="1-to-3-still-password"),
        pytest.param(0, 1, Presented(PASSWORD), 1, id="0-to-1-with-password"),
        pytest.param(0, 1, Presented(), 0, id="0-to-1-still-nothing"),
        pytest.param(2, 2, TLS_PASSWORD, 2, id="pending-not-higher"),
        pytest.param(2, 3, Presented("", True, "OTHER"), 2, id="another-certificate"),
    ],
)
def test_effective_profile(
    profile: int, pending: int | None, presented: Presented, expected: int
) -> None:
    """A connection is judged by the pending profile when it brings that one's credentials,
    else by the station's own (OCPP A05: never shut out half-way)."""
    assert credentials.effective_profile("S", profile, pending, True, presented) == expected


def test_effective_profile_needs_a_stored_password_for_basic_auth() -> None:
    """Without a stored password, Basic auth cannot satisfy a pending profile 1."""
    assert credentials.effective_profile("S", 0, 1, False, Presented(PASSWORD)) == 0


def test_new_password_is_a_long_random_password_string() -> None:
    """40 characters of letters, digits and identifierString's specials, valid as a password;
    two are never the same."""
    password = credentials.new_password()
    assert len(password) == credentials.PASSWORD_MAX == 40
    assert set(password) <= set(credentials.NEW_PASSWORD_ALPHABET)
    assert set(credentials.NEW_PASSWORD_ALPHABET) - set(
        string.ascii_letters + string.digits
    ) == set("*-_=:+|@.")
    credentials.validate_password(password)
    assert credentials.new_password() != password


@pytest.mark.parametrize(("profile", "allowed"), [(0, False), (1, True), (2, True), (3, False)])
def test_require_basic_auth(profile: int, allowed: bool) -> None:
    """Only profiles 1 and 2 have a Basic auth password to rotate (else FAILED_PRECONDITION)."""
    if allowed:
        credentials.require_basic_auth("S", profile)
    else:
        with pytest.raises(FailedPrecondition, match="profile"):
            credentials.require_basic_auth("S", profile)


@pytest.mark.parametrize(
    ("profile", "new_profile", "password_set", "allowed"),
    [
        (0, 1, False, False),
        (0, 2, False, False),
        (1, 2, False, False),
        (0, 1, True, True),
        (1, 2, True, True),
        (0, 3, False, True),
        (2, 3, True, True),
        (2, 1, False, True),  # no upgrade: the station itself must reject it (B09.FR.04)
    ],
)
def test_require_upgrade_password(
    profile: int, new_profile: int, password_set: bool, allowed: bool
) -> None:
    """An upgrade to profile 1 or 2 needs a stored password, else it is refused before sending."""
    if allowed:
        credentials.require_upgrade_password(profile, new_profile, password_set)
    else:
        with pytest.raises(FailedPrecondition, match="needs a Basic auth password"):
            credentials.require_upgrade_password(profile, new_profile, password_set)


@pytest.mark.parametrize(
    ("cn", "protocol", "serial", "holders", "bound_to", "named"),
    [
        pytest.param("SN1", "ocpp1.6", "SN1", {"CS1"}, None, True, id="1.6-unique-unbound"),
        pytest.param("SN1", "ocpp1.6", "SN1", {"CS1"}, "CS1", True, id="1.6-bound-to-it"),
        pytest.param(
            "SN1", "ocpp1.6", "SN1", {"CS1", "CS2"}, "CS1", True, id="bound-others-report-it-too"
        ),
        pytest.param("SN1", "ocpp1.6", "SN1", {"CS1"}, "CS2", False, id="bound-to-another"),
        pytest.param("SN1", "ocpp2.0.1", "SN1", {"CS1"}, None, False, id="2.0.1-names-its-id"),
        pytest.param("SN1", "ocpp1.6", "", set(), None, False, id="serial-unknown"),
        pytest.param("SN2", "ocpp1.6", "SN1", set(), None, False, id="another-serial"),
        pytest.param("SN2", "ocpp1.6", "SN1", set(), "CS1", False, id="bound-but-not-its-serial"),
        pytest.param(
            "SN1", "ocpp1.6", "SN1", {"CS1", "CS2"}, None, False, id="unbound-reported-twice"
        ),
        pytest.param(
            "CS2", "ocpp1.6", "CS2", {"CS1", "CS2"}, None, False, id="serial-another-s-id"
        ),
        pytest.param("CS1", "ocpp1.6", "CS1", {"CS1"}, None, False, id="the-id-is-not-by-serial"),
        pytest.param("", "ocpp1.6", "", {"CS1"}, None, False, id="no-cn"),
    ],
)
def test_a_1_6_certificate_names_its_station_by_its_own_serial(
    cn: str, protocol: str, serial: str, holders: set[str], bound_to: str | None, named: bool
) -> None:
    """The 1.6 security whitepaper's Charge Point certificate has the station's unique serial
    number as CN (A00.FR.405, A00.FR.511): for a 1.6 station whose recorded serial it is, the
    name bound to it, or unbound and no other station's id or serial."""
    assert credentials.names_by_serial(cn, "CS1", protocol, serial, holders, bound_to) is named


@pytest.mark.parametrize(
    ("presented", "cpo_name", "refused"),
    [
        (
            Presented(client_certificate_cn="CS1", client_certificate_organization="CPO"),
            "CPO",
            False,
        ),
        (
            Presented(client_certificate_cn="CS1", client_certificate_organization="Other"),
            "CPO",
            True,
        ),
        (Presented(client_certificate_cn="CS1"), "CPO", True),  # no O (or several)
        (
            Presented(client_certificate_cn="CS1", client_certificate_organization="Other"),
            "",
            False,
        ),
        (Presented(password="secret-of-sixteen"), "CPO", False),  # no certificate: nothing to check
    ],
)
def test_check_organization(presented: Presented, cpo_name: str, refused: bool) -> None:
    """A00.FR.404: a client certificate's O must be the CPO's name, once one is configured."""
    if refused:
        with pytest.raises(Unauthenticated, match="not the CPO name 'CPO'"):
            credentials.check_organization(presented, cpo_name)
    else:
        credentials.check_organization(presented, cpo_name)
