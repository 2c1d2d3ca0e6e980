"""Reservations' states and rules: pure code, no I/O.

A reservation is **live** while the station holds it: from its Accepted ReserveNow until it is
cancelled, expires (its expiryDateTime passes, or the station says Expired), is removed by the
station (Removed: e.g. the EVSE faulted) or is used (a TransactionEvent carries its id). One
EVSE has at most one live reservation; a reservation of no EVSE (any EVSE, or a connector
type) counts against none but its own station's other reservations of no EVSE are not limited
(the station answers Occupied when it has no EVSE left).

**Whom it lets charge** (H01: the station holds the EVSE for the reservation's idToken, and for
its groupIdToken's tokens): a TransactionEvent that brings another idToken to a live
reservation's EVSE gets idTokenInfo status ``NotAtThisTime`` (the EVSE is held for someone
else until the reservation ends), whatever user_svc said of the token; the reserving token, or
a token of the reservation's group, is answered as user_svc answers it.
"""

from __future__ import annotations

import dataclasses
import datetime

from common.errors import InvalidArgument

__all__ = [
    "ACCEPTED",
    "CANCELLED",
    "EXPIRED",
    "LIVE",
    "REFUSED_BY_OTHER",
    "USED",
    "Held",
    "check_new",
    "others_token",
]

ACCEPTED = "Accepted"
CANCELLED = "Cancelled"
EXPIRED = "Expired"
REMOVED = "Removed"
USED = "Used"
LIVE = frozenset({ACCEPTED})
# What a TransactionEvent of another driver on a reserved EVSE is answered.
REFUSED_BY_OTHER = "NotAtThisTime"


@dataclasses.dataclass(frozen=True)
class Held:
    """A live reservation, as the rules need it."""

    id: int
    evse_id: int | None
    id_token: str
    group_id_token: str


def check_new(
    expiry: datetime.datetime, now: datetime.datetime, evse_id: int | None, station_id: str
) -> None:
    if not station_id or len(station_id) > 48:
        raise InvalidArgument("stationId must be 1 to 48 characters")
    if expiry <= now:
        raise InvalidArgument("expiryDateTime must be in the future")
    if evse_id is not None and evse_id <= 0:
        raise InvalidArgument("evseId must be more than 0")


def others_token(live: list[Held], evse_id: int | None, id_token: str, group: str) -> Held | None:
    """The live reservation of ``evse_id`` that ``id_token`` (of ``group``) may not use, if
    any. Tokens are compared in any case: OCPP's idToken is case-insensitive (IdTokenType)."""
    id_token, group = id_token.lower(), group.lower()
    for r in live:
        if r.evse_id is None or r.evse_id != evse_id:
            continue
        reserved, reserved_group = r.id_token.lower(), r.group_id_token.lower()
        if id_token == reserved or (reserved_group and group == reserved_group):
            return None
        if reserved_group and id_token == reserved_group:
            return None
        return r
    return None
