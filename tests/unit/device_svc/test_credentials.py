"""Tests for device_svc.credentials: what a station presented against its security profile."""

from __future__ import annotations

import pytest

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
