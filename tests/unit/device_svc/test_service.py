"""Tests for device_svc.service's pure rules: reachability, writable fields, page tokens, and
what a refused connect costs (with fakes)."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

import pytest

from common import pagination
from common.errors import CsmsError, InvalidArgument, NotFound
from device_svc.credentials import Presented, Unauthenticated
from device_svc.models import Station, StationView
from device_svc.service import (
    Devices,
    _Connect,
    _decode_variable_key,
    _new_station_row,
    _upgrade,
    _VerifyFirst,
    _writable,
    is_reachable,
)

NOW = datetime.datetime(2026, 1, 1, 10, 0, tzinfo=datetime.UTC)
LATER = NOW + datetime.timedelta(seconds=1)


@pytest.mark.parametrize(
    ("connected", "lease", "expected"),
    [(True, LATER, True), (True, NOW, False), (True, None, False), (False, LATER, False)],
)
def test_is_reachable(connected: bool, lease: datetime.datetime | None, expected: bool) -> None:
    """Held by a gateway from before gateway leases: reachable while connected and the
    connection's own lease runs past now."""
    station = Station(id="A", connected=connected, lease_expires_at=lease)
    assert is_reachable(station, NOW) is expected


@pytest.mark.parametrize(
    ("connected", "holder", "expected"),
    [(True, LATER, True), (True, NOW, False), (True, None, False), (False, LATER, False)],
)
def test_is_reachable_under_a_gateway_lease(
    connected: bool, holder: datetime.datetime | None, expected: bool
) -> None:
    """Held under a gateway incarnation's lease: reachable while connected and that lease runs
    past now (None: the lease is gone)."""
    station = StationView(
        id="A",
        connected=connected,
        gateway_lease="g1",
        holder_expires_at=holder,
        lease_expires_at=None,
    )
    assert is_reachable(station, NOW) is expected


@pytest.mark.parametrize(
    "fields",
    [{"connected": True}, {"registration_status": "Maybe"}, {"gateway": "x"}],
)
def test_writable_refuses(fields: dict[str, object]) -> None:
    """Output-only fields and unknown registration statuses are INVALID_ARGUMENT."""
    with pytest.raises(InvalidArgument):
        _writable(fields)


def test_variable_page_token_round_trip() -> None:
    """A ListVariables token decodes to its key; a foreign token is INVALID_ARGUMENT."""
    token = pagination.encode_token("C", "", "-1", "2", "V", "i")
    assert _decode_variable_key(token) == ("C", "", -1, 2, "V", "i")
    with pytest.raises(InvalidArgument):
        _decode_variable_key(pagination.encode_token("just-a-station-id"))


def test_new_station_row_has_every_column_with_its_default() -> None:
    """A station registered on first contact: every column, the model's defaults, Accepted."""
    row = _new_station_row("CS1", NOW)
    assert set(row) == {c.key for c in Station.__table__.columns}
    assert (row["id"], row["registration_status"], row["epoch"]) == ("CS1", "Accepted", 0)
    assert (row["security_profile"], row["password_hash"], row["model"]) == (0, None, "")
    assert row["created_at"] == row["updated_at"] == NOW


class _CountingPasswords:
    """Passwords that only count their verifications (real or against the dummy hash)."""

    def __init__(self) -> None:
        self.verified: list[str] = []
        self.dummy = 0

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified.append(password_hash)
        return False

    def verify_dummy(self, password: str) -> bool:
        self.dummy += 1
        return False


class _Decided:
    """The connect group commit, answering every item with ``outcome``."""

    def __init__(self, outcome: object) -> None:
        self.outcome = outcome

    async def submit(self, item: object) -> object:
        return self.outcome


def _devices(outcome: object) -> tuple[Devices, _CountingPasswords]:
    passwords = _CountingPasswords()
    sessions = SimpleNamespace(kw={"bind": None})
    devices = Devices(sessions, 60, passwords=passwords)  # type: ignore[arg-type]
    devices._connects = _Decided(outcome)  # type: ignore[assignment]
    return devices, passwords


@pytest.mark.parametrize(
    ("outcome", "password", "dummy"),
    [
        pytest.param(NotFound("unknown"), "a-guessed-password", 1, id="unknown-with-password"),
        pytest.param(NotFound("unknown"), "", 0, id="unknown-without-password"),
        pytest.param(Unauthenticated("needs TLS"), "a-guessed-password", 1, id="profile-misfit"),
        pytest.param(InvalidArgument("bad id"), "a-guessed-password", 0, id="invalid-id"),
    ],
)
async def test_connect_refusing_a_password_unverified_still_pays_one_verification(
    outcome: CsmsError, password: str, dummy: int
) -> None:
    """An unknown station (or one whose profile the attempt does not fit) presenting a
    password is refused only after one Argon2 verification against the dummy hash, as long as
    a wrong password's, so that the answer's time does not tell which ids exist."""
    devices, passwords = _devices(outcome)
    with pytest.raises(type(outcome)):
        await devices.connect("CS1", False, "gw", presented=Presented(password=password))
    assert passwords.dummy == dummy and passwords.verified == []


async def test_connect_with_a_wrong_password_verifies_it_once_and_no_dummy() -> None:
    """A known station's stored hash is verified, once; the dummy only stands in for it."""
    devices, passwords = _devices(_VerifyFirst("$argon2id$stored"))
    with pytest.raises(Unauthenticated):
        await devices.connect("CS1", False, "gw", presented=Presented(password="wrong-password-0"))
    assert passwords.verified == ["$argon2id$stored"] and passwords.dummy == 0


# -- pending credentials: a new password (A01, RebootRequired), a higher profile (A05) -------------

OLD, NEW = "$argon2id$old", "$argon2id$new"


def _row(**columns: object) -> dict[str, object]:
    row = _new_station_row("CS1", NOW)
    row.update({"security_profile": 1, "password_hash": OLD, **columns})
    return row


def _item(presented: Presented, verified_hash: str | None = None) -> _Connect:
    return _Connect("CS1", False, "gw", LATER, presented, False, verified_hash)


@pytest.mark.parametrize(
    ("row", "item", "changed"),
    [
        pytest.param(_row(), _item(Presented("pw"), OLD), {}, id="nothing-pending"),
        pytest.param(
            _row(pending_password_hash=NEW), _item(Presented("pw"), OLD), {}, id="old-password"
        ),
        pytest.param(
            _row(pending_password_hash=NEW),
            _item(Presented("pw"), NEW),
            {"password_hash": NEW, "pending_password_hash": None},
            id="new-password",
        ),
        pytest.param(
            _row(pending_security_profile=2),
            _item(Presented("pw"), OLD),
            {},
            id="profile-2-pending-plain-ws",
        ),
        pytest.param(
            _row(pending_security_profile=2),
            _item(Presented("pw", True), OLD),
            {"security_profile": 2, "pending_security_profile": None},
            id="profile-2-over-tls",
        ),
        pytest.param(
            _row(security_profile=2, pending_security_profile=3, pending_password_hash=NEW),
            _item(Presented("", True, "CS1")),
            {"security_profile": 3, "pending_security_profile": None},
            id="profile-3-certificate",
        ),
        pytest.param(
            _row(pending_security_profile=2, pending_password_hash=NEW),
            _item(Presented("pw", True), NEW),
            {
                "password_hash": NEW,
                "pending_password_hash": None,
                "security_profile": 2,
                "pending_security_profile": None,
            },
            id="both",
        ),
    ],
)
def test_upgrade_makes_pending_credentials_the_stations(
    row: dict[str, object], item: _Connect, changed: dict[str, object]
) -> None:
    """A let-in connect that came with the pending password or the pending profile's credentials
    makes them the station's (the old ones are refused from then on); otherwise nothing moves."""
    assert _upgrade(item, row) == changed


def test_password_to_verify_takes_either_stored_hash_once_verified() -> None:
    """Verified against the old or the pending hash, the write goes ahead; a hash no longer
    stored (rotated meanwhile) must be verified again."""
    row = _row(pending_password_hash=NEW)
    presented = Presented("pw")
    assert Devices._password_to_verify(_item(presented), row) is True
    assert Devices._password_to_verify(_item(presented, OLD), row) is False
    assert Devices._password_to_verify(_item(presented, NEW), row) is False
    assert Devices._password_to_verify(_item(presented, "$argon2id$gone"), row) is True


class _MatchingPasswords(_CountingPasswords):
    def __init__(self, right: str) -> None:
        super().__init__()
        self.right = right

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified.append(password_hash)
        return password_hash == self.right


class _VerifyThenConnect:
    """The connect group commit: asks for verification first, then connects (recording what
    the item was verified against)."""

    def __init__(self, first: _VerifyFirst) -> None:
        self.first = first
        self.items: list[_Connect] = []

    async def submit(self, item: _Connect) -> object:
        self.items.append(item)
        return self.first if len(self.items) == 1 else StationView(id="CS1")


@pytest.mark.parametrize(
    ("right", "verified"),
    [(OLD, [OLD]), (NEW, [OLD, NEW])],
)
async def test_connect_takes_the_old_or_the_pending_password(
    right: str, verified: list[str]
) -> None:
    """While a new password is pending, a connect with either gets in (the old one verified
    first); the item goes on verified against the hash that matched."""
    passwords = _MatchingPasswords(right)
    devices = Devices(SimpleNamespace(kw={"bind": None}), 60, passwords=passwords)  # type: ignore[arg-type]
    group = devices._connects = _VerifyThenConnect(_VerifyFirst(OLD, NEW))  # type: ignore[assignment]
    await devices.connect("CS1", False, "gw", presented=Presented(password="pw-of-16-chars-0"))
    assert passwords.verified == verified
    assert group.items[-1].verified_hash == right
