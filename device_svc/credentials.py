"""Station credentials (OCPP 2.0.1 Part 2, security profiles): password hashing and the decision
whether what a station presented at its WebSocket handshake satisfies its security profile.

Pure code except :class:`Passwords`, whose hashing and verifying burn CPU on purpose: callers run
them off the event loop (``asyncio.to_thread``).

Profiles: 0 no credentials (only while the deployment allows unsecured stations), 1 HTTP Basic
auth, 2 TLS + Basic auth, 3 mutual TLS (client certificate CN = station id). A station set to a
profile never falls back to a lower one: what it presented must satisfy exactly its profile. A
password presented is checked whatever the profile: a profile-0 station presenting one it does
not have is refused, like any other wrong password. So is a client certificate: whatever the
profile, one whose CN is not the station id (another station's) is refused, and so is one whose
O is not the configured CPO name (:func:`check_organization`); an OCPP 1.6
station's may name it by its unique serial number instead (:func:`names_by_serial`, the security
whitepaper's rule; the connect replaces such a CN by the station id before :func:`check`).

Upgrades (OCPP use case A05): a station that accepted a SetNetworkProfile of a higher profile
has it pending; it is judged by the pending profile when what it presented satisfies that one
(:func:`effective_profile`), else by its own, so it is never shut out half-way.
"""

from __future__ import annotations

import dataclasses
import functools
import secrets
from collections.abc import Collection
from typing import Final

import grpc
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from common.errors import CsmsError, FailedPrecondition, InvalidArgument
from device_svc.domain import VariableRef

# The subprotocol of the stations whose certificate may name them by serial number.
OCPP16: Final = "ocpp1.6"

__all__ = [
    "BASIC_AUTH_PASSWORD",
    "NEW_PASSWORD_ALPHABET",
    "NEW_PASSWORD_LENGTH",
    "PASSWORD_MAX",
    "PASSWORD_MIN",
    "PROFILES",
    "Passwords",
    "Presented",
    "Unauthenticated",
    "check",
    "check_organization",
    "effective_profile",
    "is_basic_auth_password",
    "names_by_serial",
    "new_password",
    "require_basic_auth",
    "require_password",
    "require_upgrade_password",
    "validate_password",
    "validate_profile",
]

PROFILES = range(4)
# OCPP passwordString: 16 to 40 characters.
PASSWORD_MIN, PASSWORD_MAX = 16, 40
# The device-model variable a station's Basic auth password is rotated through (write-only).
BASIC_AUTH_PASSWORD = ("SecurityCtrlr", "BasicAuthPassword")
_BASIC_AUTH_PASSWORD_LOWER = tuple(name.lower() for name in BASIC_AUTH_PASSWORD)
# The passwords the CSMS makes (UpdateBasicAuthPassword): the longest passwordString, of letters,
# digits and the other characters of OCPP's identifierString (no space, no quote, nothing a
# station's configuration tool or an HTTP header could mangle). 40 of these 71 characters are
# about 246 random bits.
NEW_PASSWORD_LENGTH = PASSWORD_MAX
NEW_PASSWORD_ALPHABET = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" + "*-_=:+|@."
)


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


def new_password() -> str:
    """A fresh random Basic auth password (:data:`NEW_PASSWORD_ALPHABET`, from ``secrets``)."""
    return "".join(secrets.choice(NEW_PASSWORD_ALPHABET) for _ in range(NEW_PASSWORD_LENGTH))


def require_basic_auth(station_id: str, profile: int) -> None:
    """Only stations of profiles 1 and 2 authenticate with a Basic auth password: rotating the
    password of another one would give it a credential it never presents (FAILED_PRECONDITION)."""
    if profile not in (1, 2):
        raise FailedPrecondition(
            f"station {station_id} is at security profile {profile}: only profiles 1 and 2 "
            "authenticate with a Basic auth password"
        )


def require_upgrade_password(profile: int, new_profile: int, password_set: bool) -> None:
    """A station moved up to profile 1 or 2 (SetNetworkProfile) will present a Basic auth
    password: without one stored here the CSMS could never let it in under that profile, so the
    upgrade is refused before it is sent (FAILED_PRECONDITION)."""
    if new_profile > profile and new_profile in (1, 2) and not password_set:
        raise FailedPrecondition(
            f"security profile {new_profile} needs a Basic auth password and the station has "
            "none: set one first (basicAuthPassword), then send the SetNetworkProfile"
        )


def is_basic_auth_password(ref: VariableRef) -> bool:
    """SecurityCtrlr.BasicAuthPassword (any instance, no EVSE): the station's password. In any
    case: OCPP 2.0.1's component and variable names are case-insensitive (Part 2, ComponentType
    and VariableType), and a station takes any spelling of them as its password."""
    return (
        ref.evse_id is None
        and (ref.component.lower(), ref.variable.lower()) == _BASIC_AUTH_PASSWORD_LOWER
    )


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

    def verify_dummy(self, password: str) -> bool:
        """Verify ``password`` against a hash that no password matches (False), at the cost of
        a real verification: for a handshake refused before its password was verified (an
        unknown station, a profile it does not fit), so that it is answered after as long as a
        wrong password and the time does not tell which station ids exist."""
        return self.verify(self._dummy_hash, password)

    @functools.cached_property
    def _dummy_hash(self) -> str:
        # Made with this hasher's parameters (those of new hashes) on first use: most
        # processes never need it, and tests make many of these.
        return self.hash(secrets.token_urlsafe(32))


@dataclasses.dataclass(frozen=True, slots=True)
class Presented:
    """What a station presented at its handshake, as the gateway saw it."""

    password: str = ""
    # Over TLS (wss), as the trusted proxy said.
    secure_transport: bool = False
    # The subject CN of the client certificate the proxy verified against our CA ("" none).
    client_certificate_cn: str = ""
    # That certificate's subject O (organizationName; "" none, or several).
    client_certificate_organization: str = ""


def check_organization(presented: Presented, cpo_name: str) -> None:
    """Unauthenticated when a client certificate was presented whose O is not ``cpo_name`` (the
    CPO's name; "" checks nothing): A00.FR.404, the certificate must be owned by the CPO. Like
    the CN, whatever the station's profile, and without looking at the station at all."""
    if not cpo_name or not presented.client_certificate_cn:
        return
    if presented.client_certificate_organization != cpo_name:
        raise Unauthenticated(
            "the client certificate's O (organizationName) "
            f"{presented.client_certificate_organization!r} is not the CPO name {cpo_name!r}"
        )


def check(
    station_id: str,
    profile: int,
    password_set: bool,
    presented: Presented,
    allow_unsecured: bool,
) -> bool:
    """Everything but the password itself: raises Unauthenticated, or says whether the password
    must still be verified (profiles 1 and 2)."""
    if presented.client_certificate_cn and presented.client_certificate_cn != station_id:
        # Whatever the profile: a certificate of the CSMS's CA names the station it was issued
        # to, so presenting another's is someone else's credential (or a station set up wrong).
        raise Unauthenticated("the client certificate is another station's")
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
        return False
    if not presented.password:
        raise Unauthenticated(f"security profile {profile} requires HTTP Basic auth")
    if not password_set:
        # A station set to profile 1 or 2 before a password was required: no migration can
        # invent its password, so it is refused, saying why, until an operator sets one.
        raise Unauthenticated(
            f"security profile {profile} needs a Basic auth password and station {station_id} "
            "has none: an operator must set its basicAuthPassword"
        )
    return True


def effective_profile(
    station_id: str, profile: int, pending: int | None, password_set: bool, presented: Presented
) -> int:
    """The profile a connection is judged by: the station's ``pending`` one (a higher profile it
    accepted in SetNetworkProfile) when what it presented satisfies that one, else its own.

    A station upgrading keeps being let in under its old profile until it comes with the new
    credentials (it may not have rebooted yet, or may fall back to its old connection profile);
    its first connection under the new profile makes that its profile (OCPP A05.FR.07: from then
    on the CSMS does not accept the lower one). Whether the password is right is not part of
    this decision: it is verified afterwards, whichever profile asks for it.
    """
    if pending is None or pending <= profile:
        return profile
    try:
        check(station_id, pending, password_set, presented, allow_unsecured=False)
    except Unauthenticated:
        return profile
    return pending


def names_by_serial(
    cn: str,
    station_id: str,
    protocol: str,
    serial_number: str,
    holders: Collection[str],
    bound_to: str | None,
) -> bool:
    """Whether a certificate CN ``cn`` that is not ``station_id`` names that station by its
    serial number, as the OCPP 1.6 security whitepaper (edition 3) has it: the Charge Point
    certificate's CN "consists of the unique serial number of the Charge Point" (A00.FR.511), and
    the Central System checks that it "contains the unique Serial Number of the Charge Point"
    (A00.FR.405). So only for a station speaking ``ocpp1.6`` whose recorded serial number (its
    BootNotification's chargePointSerialNumber) is ``cn``.

    A serial number is the station's own word, so the name must also be this station's for
    good: ``bound_to``, the station the name was bound to (models.CertificateName: by the first
    certificate signed for it or the first connection with one), must be this one; a name bound
    to none yet is this station's only while it is unique (``holders``, the ids of the stations
    whose id or recorded serial number is ``cn``, are this station alone), and the caller then
    binds it. Once bound, another station reporting the same serial neither gets the name nor
    takes it away.
    """
    if not cn or cn == station_id or protocol != OCPP16 or serial_number != cn:
        return False
    if bound_to is not None:
        return bound_to == station_id
    return set(holders) == {station_id}
