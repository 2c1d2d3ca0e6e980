"""Tests for device_svc.service's pure rules: reachability, writable fields, page tokens."""

from __future__ import annotations

import datetime

import pytest

from common import pagination
from common.errors import InvalidArgument
from device_svc.models import Station
from device_svc.service import _decode_variable_key, _new_station_row, _writable, is_reachable

NOW = datetime.datetime(2026, 1, 1, 10, 0, tzinfo=datetime.UTC)
LATER = NOW + datetime.timedelta(seconds=1)


@pytest.mark.parametrize(
    ("connected", "lease", "expected"),
    [(True, LATER, True), (True, NOW, False), (True, None, False), (False, LATER, False)],
)
def test_is_reachable(connected: bool, lease: datetime.datetime | None, expected: bool) -> None:
    """Reachable: connected and the lease runs past now."""
    station = Station(id="A", connected=connected, lease_expires_at=lease)
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
