"""Station credentials (OCPP 2.0.1 Part 2, security profiles): password hashing and the decision
whether what a station presented at its WebSocket handshake satisfies its security profile.

Pure code except :class:`Passwords`, whose hashing and verifying burn CPU on purpose: callers run
them off the event loop (``asyncio.to_thread``).

Profiles: 0 no credentials (only while the deployment allows unsecured stations), 1 HTTP Basic
auth, 2 TLS + Basic auth, 3 mutual TLS (client certificate CN = station id). A station set to a
profile never falls back to a lower one: what it presented must satisfy exactly its profile. A
password presented is checked whatever the profile: a profile-0 station presenting one it does
not have is refused, like any other wrong password.
"""

from __future__ import annotations

import dataclasses

import grpc
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from common.errors import CsmsError, InvalidArgument
from device_svc.domain import VariableRef

__all__ = [
    "BASIC_AUTH_PASSWORD",
    "PASSWORD_MAX",
    "PASSWORD_MIN",
    "PROFILES",
    "Passwords",
    "Presented",
    "Unauthenticated",
    "check",
    "is_basic_auth_password",
    "require_password",
    "validate_password",
    "validate_profile",
]

PROFILES = range(4)
# OCPP passwordString: 16 to 40 characters.
PASSWORD_MIN, PASSWORD_MAX = 16, 40
# The device-model variable a station's Basic auth password is rotated through (write-only).
BASIC_AUTH_PASSWORD = ("SecurityCtrlr", "BasicAuthPassword")


class Unauthenticated(CsmsError):
    """What the station presented does not satisfy its security profile."""

    code = grpc.StatusCode.UNAUTHENTICATED


def validate_profile(profile: int) -> None:
    if profile not in PROFILES:
        raise InvalidArgument("security_profile must be 0, 1, 2 or 3")


def require_password(profile: int, password_set: bool) -> None:
    """Profiles 1 and 2 authenticate with HTTP Basic auth: a station set to one of them without a
    password could never connect (INVALID_ARGUMENT)."""
    if profile in (1, 2) and not password_set:
        raise InvalidArgument(
            f"security_profile {profile} needs a basic_auth_password (HTTP Basic auth)"
        )


def validate_password(password: str) -> None:
    """16 to 40 printable ASCII characters.

    ASCII because HTTP Basic credentials are bytes whose charset the station and we would have
    to agree on; printable because a station types it into a header.
    """
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidArgument(
            f"basic_auth_password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters"
        )
    if not all(" " < c <= "~" for c in password):
        raise InvalidArgument("basic_auth_password must be printable ASCII without spaces")


def is_basic_auth_password(ref: VariableRef) -> bool:
    """SecurityCtrlr.BasicAuthPassword (any instance, no EVSE): the station's password."""
    return (ref.component, ref.variable) == BASIC_AUTH_PASSWORD and ref.evse_id is None


class Passwords:
    """Argon2id hashes of station passwords.

    Stations reconnect often and a boot storm after a power cut verifies thousands of passwords
    at once, so the parameters are moderate: 12 MiB and 2 passes (one lane) verify in about
    10-15 ms on one core of a small machine, yet cost an attacker with a stolen hash 12 MiB per
    guess. Hashes keep their parameters, so changing these later still verifies old ones.
    """

    def __init__(self, time_cost: int = 2, memory_cost: int = 12 * 1024, parallelism: int = 1):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


@dataclasses.dataclass(frozen=True, slots=True)
class Presented:
    """What a station presented at its handshake, as the gateway saw it."""

    password: str = ""
    # Over TLS (wss), as the trusted proxy said.
    secure_transport: bool = False
    # The subject CN of the client certificate the proxy verified against our CA ("" none).
    client_certificate_cn: str = ""


def check(
    station_id: str,
    profile: int,
    password_set: bool,
    presented: Presented,
    allow_unsecured: bool,
) -> bool:
    """Everything but the password itself: raises Unauthenticated, or says whether the password
    must still be verified (profiles 1 and 2)."""
    if profile == 0:
        if not allow_unsecured:
            raise Unauthenticated(
                "station has no credentials and unsecured stations are not allowed"
            )
        # Credentials presented are checked, never ignored: a password the station does not
        # have is a wrong one (someone else's station, or a misconfiguration to surface).
        if presented.password and not password_set:
            raise Unauthenticated("a password was presented and the station has none")
        return bool(presented.password)
    if profile in (2, 3) and not presented.secure_transport:
        raise Unauthenticated(f"security profile {profile} requires TLS (wss)")
    if profile == 3:
        if not presented.client_certificate_cn:
            raise Unauthenticated("security profile 3 requires a client certificate")
        if presented.client_certificate_cn != station_id:
            raise Unauthenticated("the client certificate is not this station's")
        return False
    if not presented.password:
        raise Unauthenticated(f"security profile {profile} requires HTTP Basic auth")
    if not password_set:
        raise Unauthenticated("station has no password set")
    return True
