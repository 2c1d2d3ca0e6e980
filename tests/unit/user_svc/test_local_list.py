"""Tests for user_svc.local_list: entries from tokens, differences, applying and planning."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from user_svc.local_list import DIFFERENTIAL, FULL, Message, apply, changes, entries_of, plan
from user_svc.models import IdToken


def _token(id_token: str, type_: str = "ISO14443", **fields: Any) -> IdToken:
    values: dict[str, Any] = {"status": "Accepted", "expiry_date": None, "group_id_token": ""}
    values.update(fields)
    return IdToken(key=id_token.lower(), id_token=id_token, type=type_, **values)


def _entry(id_token: str, status: str = "Accepted", type_: str = "ISO14443") -> dict[str, Any]:
    return {"idToken": {"idToken": id_token, "type": type_}, "idTokenInfo": {"status": status}}


def _removed(id_token: str, type_: str = "ISO14443") -> dict[str, Any]:
    return {"idToken": {"idToken": id_token, "type": type_}}


def test_entries_of_tokens() -> None:
    """Every typed token becomes one AuthorizationData in key order; untyped ones are left out."""
    expiry = datetime.datetime(2030, 1, 1, 12, 30, 15, 250000, tzinfo=datetime.UTC)
    tokens = [
        _token("b2", status="Blocked"),
        _token("A1", expiry_date=expiry, group_id_token="FLEET"),
        _token("any", ""),
    ]
    assert entries_of(tokens) == [
        {
            "idToken": {"idToken": "A1", "type": "ISO14443"},
            "idTokenInfo": {
                "status": "Accepted",
                "cacheExpiryDateTime": "2030-01-01T12:30:15.250000Z",
                "groupIdToken": {"idToken": "FLEET", "type": "Central"},
            },
        },
        _entry("b2", "Blocked"),
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param([], [], [], id="nothing"),
        pytest.param([_entry("a")], [_entry("a")], [], id="unchanged"),
        pytest.param([], [_entry("a")], [_entry("a")], id="added"),
        pytest.param([_entry("a")], [], [_removed("a")], id="removed-without-info"),
        pytest.param(
            [_entry("a")], [_entry("a", "Blocked")], [_entry("a", "Blocked")], id="changed"
        ),
        pytest.param(
            [_entry("a")],
            [_entry("a", type_="eMAID")],
            [_removed("a"), _entry("a", type_="eMAID")],
            id="type-changed-is-remove-and-add",
        ),
        pytest.param(
            [_entry("a"), _entry("c")],
            [_entry("b"), _entry("c")],
            [_removed("a"), _entry("b")],
            id="key-order",
        ),
    ],
)
def test_changes(old: list[Any], new: list[Any], expected: list[Any]) -> None:
    """The differential update holds exactly the added, changed and removed entries."""
    assert changes(old, new) == expected


def test_apply() -> None:
    """A full update replaces the list; a differential one adds, replaces and removes."""
    old = [_entry("a"), _entry("b")]
    assert apply(old, Message(FULL, 2, [_entry("c")])) == [_entry("c")]
    diff = Message(DIFFERENTIAL, 2, [_removed("a"), _entry("b", "Blocked"), _entry("c")])
    assert apply(old, diff) == [_entry("b", "Blocked"), _entry("c")]


def test_plan_full_splits_into_full_then_differentials() -> None:
    """A full list longer than a message goes as Full, then Differentials, versions rising."""
    wanted = [_entry(x) for x in "abcde"]
    messages = plan(None, wanted, 5, False, 2)
    assert [(m.update_type, m.version, len(m.entries)) for m in messages] == [
        (FULL, 5, 2),
        (DIFFERENTIAL, 6, 2),
        (DIFFERENTIAL, 7, 1),
    ]
    current: list[Any] = []
    for message in messages:
        current = apply(current, message)
    assert current == wanted


def test_plan_empty_full_clears_the_list() -> None:
    """A Full update of no entries is one message without localAuthorizationList."""
    (message,) = plan([_entry("a")], [], 3, True, 10)
    assert message.payload() == {"versionNumber": 3, "updateType": FULL}


def test_plan_differential() -> None:
    """Changes go as Differential updates; no changes, no messages."""
    old = [_entry("a"), _entry("b")]
    assert plan(old, old, 3, False, 10) == []
    (message,) = plan(old, [_entry("b"), _entry("c")], 3, False, 10)
    assert message.payload() == {
        "versionNumber": 3,
        "updateType": DIFFERENTIAL,
        "localAuthorizationList": [_removed("a"), _entry("c")],
    }
    with pytest.raises(ValueError):
        plan(old, old, 3, False, 0)
