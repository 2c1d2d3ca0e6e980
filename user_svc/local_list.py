"""The local authorization list as pure code: entries from id tokens, differences, messages.

A station's local list is a set of OCPP ``AuthorizationData`` entries, kept here in their OCPP
JSON form (``{"idToken": {...}, "idTokenInfo": {...}}``) because that is what is sent and what
is stored as the snapshot of what the station accepted. An entry is identified by its idToken's
value (case-insensitively, as OCPP compares them) and type, so a token whose type changed is one
entry removed and one added.

Nothing here does I/O; :class:`user_svc.service.LocalLists` sends what :func:`plan` decides.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from user_svc.models import IdToken

__all__ = [
    "DIFFERENTIAL",
    "FULL",
    "Entry",
    "Message",
    "apply",
    "changes",
    "entries_of",
    "entry_key",
    "plan",
]

FULL, DIFFERENTIAL = "Full", "Differential"

# An AuthorizationData in OCPP JSON.
Entry = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    """One SendLocalListRequest to send, in order."""

    update_type: str
    version: int
    entries: Sequence[Entry]

    def payload(self) -> dict[str, Any]:
        """The OCPP JSON payload; an empty list is left out (the schema wants minItems 1)."""
        body: dict[str, Any] = {"versionNumber": self.version, "updateType": self.update_type}
        if self.entries:
            body["localAuthorizationList"] = [dict(e) for e in self.entries]
        return body


def _rfc3339(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def entry_key(entry: Entry) -> tuple[str, str]:
    """What identifies an entry in the list: the lower-cased idToken value and its type."""
    token = entry["idToken"]
    return token["idToken"].lower(), token["type"]


def entries_of(tokens: Iterable[IdToken]) -> list[Entry]:
    """The list's entries for these id tokens, in key order.

    OCPP requires a type in every AuthorizationData, and a token stored without one matches any
    type at Authorize; no single entry can say that, so such tokens are left out of the list and
    stations keep asking the CSMS about them (Authorize answers them as before).
    """
    entries: list[Entry] = []
    for token in tokens:
        if not token.type:
            continue
        info: dict[str, Any] = {"status": token.status}
        if token.expiry_date is not None:
            info["cacheExpiryDateTime"] = _rfc3339(token.expiry_date)
        if token.group_id_token:
            # A group is an idToken value of no reader technology: OCPP's type for that is
            # Central (as Authorize answers it).
            info["groupIdToken"] = {"idToken": token.group_id_token, "type": "Central"}
        entries.append(
            {"idToken": {"idToken": token.id_token, "type": token.type}, "idTokenInfo": info}
        )
    return sorted(entries, key=entry_key)


def changes(old: Iterable[Entry], new: Iterable[Entry]) -> list[Entry]:
    """The differential update from ``old`` to ``new``, in key order.

    Added and changed entries come with their idTokenInfo; removed ones without (OCPP: an entry
    without idTokenInfo in a differential update is deleted from the list).
    """
    before = {entry_key(e): e for e in old}
    after = {entry_key(e): e for e in new}
    out: list[Entry] = [e for k, e in after.items() if before.get(k) != e]
    out += [{"idToken": dict(e["idToken"])} for k, e in before.items() if k not in after]
    return sorted(out, key=entry_key)


def apply(entries: Iterable[Entry], update: Message) -> list[Entry]:
    """The list after the station applied ``update`` to ``entries``."""
    current = {} if update.update_type == FULL else {entry_key(e): e for e in entries}
    for entry in update.entries:
        if "idTokenInfo" in entry:
            current[entry_key(entry)] = entry
        else:
            current.pop(entry_key(entry), None)
    return sorted(current.values(), key=entry_key)


def _chunks(entries: Sequence[Entry], size: int) -> list[Sequence[Entry]]:
    return [entries[i : i + size] for i in range(0, len(entries), size)] or [()]


def plan(
    stored: Sequence[Entry] | None,
    wanted: Sequence[Entry],
    version: int,
    full: bool,
    per_message: int,
) -> list[Message]:
    """The SendLocalListRequests that bring a station from ``stored`` to ``wanted``.

    ``stored`` is the snapshot the station has (None to send everything), ``version`` the
    version number the first message carries. Each message holds at most ``per_message``
    entries (the station's LocalAuthListCtrlr.ItemsPerMessage); OCPP has no way to split one
    Full update, so a longer full list goes as a Full update of its first entries followed by
    Differential updates adding the rest, each with the next version number (a differential's
    version must exceed the station's). An empty result means the station is up to date.
    """
    if per_message < 1:
        raise ValueError("per_message must be at least 1")
    if full or stored is None:
        chunks = _chunks(wanted, per_message)
        first = FULL
    else:
        diff = changes(stored, wanted)
        if not diff:
            return []
        chunks = _chunks(diff, per_message)
        first = DIFFERENTIAL
    return [
        Message(first if i == 0 else DIFFERENTIAL, version + i, chunk)
        for i, chunk in enumerate(chunks)
    ]
