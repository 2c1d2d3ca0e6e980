"""The load manager's values and decisions around a site: pure code, no I/O.

:mod:`transaction_svc.smart_charging.allocation` decides the limits from sessions; this module
turns what the database knows of a site (its EVSEs, their active transactions, the limits the
stations hold, what did not answer) into those sessions and back into the profiles to send and
the words that explain each limit.

**Keys.** A limit the load manager gives is keyed ``(station id, EVSE id, transaction id)``; the
EVSE's TxDefaultProfile is keyed with the transaction id ``""``. Both kinds go through
:func:`~transaction_svc.smart_charging.allocation.plan` together, so a lowered default is
Accepted before anything is raised.

**What is counted** (:func:`decide`). An active transaction counts what its station is known to
hold: its last Accepted TxProfile, the higher of two while a raise is unanswered
(:meth:`Held.known`), or its EVSE's TxDefaultProfile until it has a TxProfile. An EVSE without
a transaction counts its TxDefaultProfile, the higher of the old and the new while one changes
(``reserved``). A session the manager cannot change now (its station Rejected, or is not
connected) is fixed at what it is known to hold. Whatever is counted, the new limits are only
sent lowerings first, raises once every lowering was Accepted.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from common.errors import InvalidArgument
from transaction_svc.smart_charging.allocation import (
    EQUAL_SHARE,
    PRIORITY,
    STRATEGIES,
    Change,
    Session,
    SessionKey,
    Site,
    fallback_default,
    plan,
    reallocate,
    total,
)
from transaction_svc.smart_charging.composite import composite_schedule
from transaction_svc.smart_charging.domain import limit_profiles

__all__ = [
    "ACCEPTED",
    "NO_ANSWER",
    "OFFLINE",
    "REJECTED",
    "Decision",
    "Held",
    "SiteSpec",
    "Tx",
    "decide",
    "default_key",
    "ev_max_of",
    "external_caps",
    "profile_for",
    "spec_from",
]

ACCEPTED = "Accepted"
REJECTED = "Rejected"
NO_ANSWER = "NoAnswer"
OFFLINE = "Offline"

EvseKey = tuple[str, int]
_SITE_ID = re.compile(r"[A-Za-z0-9._-]{1,48}")
MAX_EVSES = 5000


def default_key(station_id: str, evse_id: int) -> SessionKey:
    """The key of an EVSE's TxDefaultProfile among the limits."""
    return (station_id, evse_id, "")


@dataclasses.dataclass(frozen=True)
class SiteSpec:
    """A site as the operator defines it (the ``Site`` resource's writable fields)."""

    id: str
    limit: float
    unit: str = "A"
    name: str = ""
    min_limit: float | None = None
    evse_max: float | None = None
    strategy: str = EQUAL_SHARE
    evses: tuple[EvseKey, ...] = ()
    priorities: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def check(self) -> None:
        """InvalidArgument naming the first field that is wrong."""
        if not _SITE_ID.fullmatch(self.id):
            raise InvalidArgument("id must be 1 to 48 of A-Z a-z 0-9 . _ -")
        if len(self.name) > 200:
            raise InvalidArgument("name must be at most 200 characters")
        if not self.limit >= 0:  # Also refuses NaN.
            raise InvalidArgument("limit must be 0 or more")
        if self.unit not in ("A", "W"):
            raise InvalidArgument("chargingRateUnit must be A or W")
        if self.min_limit is not None and not self.min_limit > 0:
            raise InvalidArgument("minLimit must be more than 0")
        if self.evse_max is not None and not self.evse_max >= 0:
            raise InvalidArgument("evseMax must be 0 or more")
        if self.strategy not in STRATEGIES:
            raise InvalidArgument(f"strategy must be one of {', '.join(STRATEGIES)}")
        if not self.evses:
            raise InvalidArgument("evses must name at least one EVSE")
        if len(self.evses) > MAX_EVSES:
            raise InvalidArgument(f"evses: at most {MAX_EVSES}")
        seen: set[EvseKey] = set()
        for station_id, evse_id in self.evses:
            if not station_id or len(station_id) > 48:
                raise InvalidArgument("evses: stationId must be 1 to 48 characters")
            if evse_id <= 0:
                raise InvalidArgument(f"evses: {station_id}'s evseId must be more than 0")
            if (station_id, evse_id) in seen:
                raise InvalidArgument(f"evses: {station_id} EVSE {evse_id} is listed twice")
            seen.add((station_id, evse_id))
        for group in self.priorities:
            if not group or len(group) > 36:
                raise InvalidArgument("groupPriorities: groupIdToken must be 1 to 36 characters")

    @property
    def site(self) -> Site:
        return Site(
            limit=self.limit,
            unit=self.unit,
            min_limit=self.min_limit,
            evse_max=self.evse_max,
            strategy=self.strategy,
        )

    @property
    def stations(self) -> list[str]:
        return sorted({station_id for station_id, _ in self.evses})

    @property
    def fallback(self) -> float:
        return fallback_default(self.site, len(self.evses)) if self.evses else 0.0


@dataclasses.dataclass(frozen=True)
class Tx:
    """An active transaction on one of the site's EVSEs, with what the manager needs of it."""

    station_id: str
    evse_id: int
    transaction_id: str
    started: datetime.datetime
    ev_max: float | None = None
    group: str = ""
    # What lowered ev_max below the EV's own maximum: an external limit, in words.
    capped_by: str = ""

    @property
    def key(self) -> SessionKey:
        return (self.station_id, self.evse_id, self.transaction_id)


@dataclasses.dataclass(frozen=True)
class Held:
    """What the manager knows a station holds under one key: ``held`` its last Accepted limit
    (None: never Accepted), ``pending`` a raise sent and not answered yet, ``answer`` the last
    answer."""

    held: float | None = None
    pending: float | None = None
    answer: str = ""

    def known(self, otherwise: float) -> float:
        """The limit to count: the held one (``otherwise`` if none), the higher of it and a
        pending raise (the station may have applied it)."""
        base = self.held if self.held is not None else otherwise
        return max(base, self.pending) if self.pending is not None else base


@dataclasses.dataclass(frozen=True)
class Decision:
    """The manager's view of a site at one moment."""

    fallback: float
    # What each key is counted at now (sessions and TxDefaultProfiles).
    current: dict[SessionKey, float]
    # What each key should hold.
    target: dict[SessionKey, float]
    reasons: dict[SessionKey, str]
    # The changes, lowerings first (allocation.plan).
    steps: list[list[Change]]
    # What the site's EVSEs may draw now: each EVSE the higher of its transaction's limit and
    # its default (the default applies the moment the transaction ends), an idle one its
    # default.
    allocated: float


def ev_max_of(needs: Mapping[str, Any] | None, unit: str) -> float | None:
    """The EV's own maximum in the site's unit, from its ChargingNeedsType JSON (A: the AC
    maximum current; W: the DC maximum power); None when it did not say."""
    if not needs:
        return None
    if unit == "A":
        value = (needs.get("acChargingParameters") or {}).get("evMaxCurrent")
    else:
        value = (needs.get("dcChargingParameters") or {}).get("evMaxPower")
    return float(value) if isinstance(value, int | float) and value >= 0 else None


def decide(
    spec: SiteSpec,
    txs: Iterable[Tx],
    held: Mapping[SessionKey, Held],
    stuck: Mapping[SessionKey, str] | None = None,
) -> Decision:
    """The limits to give, from the site, its active transactions, what the stations are known
    to hold and the keys that cannot be changed now (``stuck``: key → why)."""
    stuck = stuck or {}
    site = spec.site
    fallback = spec.fallback
    members = set(spec.evses)
    txs = [t for t in txs if (t.station_id, t.evse_id) in members]
    busy = {(t.station_id, t.evse_id): t for t in txs}

    current: dict[SessionKey, float] = {}
    for station_id, evse_id in spec.evses:
        key = default_key(station_id, evse_id)
        row = held.get(key)
        # A default never Accepted is counted at the most it will be: nothing better is known.
        current[key] = row.known(fallback) if row is not None else fallback
    for t in txs:
        row = held.get(t.key)
        evse_default = current[default_key(t.station_id, t.evse_id)]
        current[t.key] = row.known(evse_default) if row is not None else evse_default

    # The sessions first; idle EVSEs whose default cannot be changed keep their room.
    reserved = sum(
        current[default_key(*evse)]
        for evse in spec.evses
        if evse not in busy and default_key(*evse) in stuck
    )
    sessions = [
        Session(
            t.station_id,
            t.evse_id,
            t.transaction_id,
            t.started,
            t.ev_max,
            spec.priorities.get(t.group, 0),
        )
        for t in txs
    ]
    fixed = [t.key for t in txs if t.key in stuck]
    limits = reallocate(site, sessions, current, fixed, reserved=reserved)
    target: dict[SessionKey, float] = dict(limits)

    # Then the defaults: the room left, shared by the idle EVSEs up to the fallback (0 under
    # the minimum); a busy EVSE's default never above its transaction's limit (it applies the
    # moment the transaction ends and another starts).
    idle = [e for e in spec.evses if e not in busy and default_key(*e) not in stuck]
    room = site.limit - total(limits) - reserved
    share = min(fallback, _floor_step(room / len(idle))) if idle else 0.0
    if share < site.minimum:
        share = 0.0
    for evse in spec.evses:
        key = default_key(*evse)
        tx = busy.get(evse)
        if evse not in busy:
            target[key] = share if key not in stuck else current[key]
        else:
            target[key] = min(current[key], limits[tx.key]) if tx is not None else share

    reasons = {t.key: _reason(spec, t, limits[t.key], stuck.get(t.key), len(txs)) for t in txs}
    changes = plan(current, target)
    # A default the station never Accepted is sent even when counted at its target already,
    # with the lowerings, and so is the TxProfile of a transaction on such an EVSE.
    never = {k for k in target if (held.get(k) or Held()).held is None}
    unsent = [
        Change(k, current[k], target[k])
        for k in sorted(target)
        if current[k] == target[k]
        and k in never
        # A default, or a transaction whose EVSE never took a default either: what it draws is
        # not known, so its limit is sent even when counted at it already.
        and (not k[2] or default_key(k[0], k[1]) in never)
    ]
    if unsent:
        if changes and all(c.after < c.before for c in changes[0]):
            changes[0] = changes[0] + unsent
        else:
            changes.insert(0, unsent)
    # A stuck key keeps its limit (a station that cannot be reached, or Rejected it).
    steps = [[c for c in step if c.key not in stuck] for step in changes]
    draw = total(  # In whole steps: exact, not a float sum (100.00000000000001 > 100).
        [
            max(current[default_key(*e)], current[busy[e].key])
            if e in busy
            else current[default_key(*e)]
            for e in spec.evses
        ]
    )
    return Decision(fallback, current, target, reasons, [s for s in steps if s], draw)


def _floor_step(value: float) -> float:
    return max(0.0, math.floor(value * 10 + 1e-9) / 10)


def _reason(spec: SiteSpec, tx: Tx, limit: float, stuck: str | None, count: int) -> str:
    unit = spec.unit
    if stuck is not None:
        return f"kept at what the station holds: {stuck}"
    if limit == 0:
        return (
            f"waiting: the site's {spec.limit:g} {unit} has no room for one more EV at its "
            f"minimum of {spec.site.minimum:g} {unit}"
        )
    if tx.ev_max is not None and limit >= tx.ev_max - 0.05:
        if tx.capped_by:
            return f"{tx.capped_by} ({tx.ev_max:g} {unit})"
        return f"the EV's maximum ({tx.ev_max:g} {unit}, NotifyEVChargingNeeds)"
    if spec.evse_max is not None and limit >= spec.evse_max - 0.05:
        return f"the site's maximum per EVSE ({spec.evse_max:g} {unit})"
    if spec.strategy == PRIORITY:
        group = tx.group or "no group"
        return (
            f"priority share of the site's {spec.limit:g} {unit} "
            f"(group {group}, priority {spec.priorities.get(tx.group, 0)})"
        )
    return f"equal share of the site's {spec.limit:g} {unit} among {count} transactions"


def profile_for(
    key: SessionKey, limit: float, unit: str, *, id_base: int, stack_level: int
) -> dict[str, Any]:
    """The ChargingProfileType JSON that gives ``key`` its limit: a TxProfile of the
    transaction, or the EVSE's TxDefaultProfile (transaction id ``""``); ids are the manager's
    own per EVSE (``id_base + 2 × evseId``, + 1 for the default), so a new one replaces the
    last."""
    _, evse_id, transaction_id = key
    profile: dict[str, Any] = {
        "id": id_base + 2 * evse_id + (0 if transaction_id else 1),
        "stackLevel": stack_level,
        "chargingProfilePurpose": "TxProfile" if transaction_id else "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": round(limit, 1)}],
            }
        ],
    }
    if transaction_id:
        profile["transactionId"] = transaction_id
    return profile


def spec_from(fields: Mapping[str, Any], evses: Sequence[EvseKey]) -> SiteSpec:
    """A SiteSpec from column-like fields (the repository's and the servicer's)."""
    return SiteSpec(
        id=fields["id"],
        name=fields.get("name") or "",
        limit=float(fields["limit"]),
        unit=fields.get("unit") or "A",
        min_limit=fields.get("min_limit"),
        evse_max=fields.get("evse_max"),
        strategy=fields.get("strategy") or EQUAL_SHARE,
        evses=tuple(evses),
        priorities=dict(fields.get("priorities") or {}),
    )


def external_caps(
    spec: SiteSpec,
    txs: Sequence[Tx],
    limits: Iterable[tuple[str, int, list[dict[str, Any]], datetime.datetime]],
    now: datetime.datetime,
) -> list[Tx]:
    """``txs`` with their maximum lowered to the external limits their stations reported in
    force ``now`` (NotifyChargingLimit, as the composite schedule counts them): an EVSE's own,
    and a station-wide one shared by the station's transactions on the site."""
    by_station: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for station_id, evse_id, schedules, reported in limits:
        by_station.setdefault(station_id, []).extend(
            limit_profiles([(evse_id, schedules, reported)])
        )
    count: dict[str, int] = {}
    for t in txs:
        count[t.station_id] = count.get(t.station_id, 0) + 1
    capped: list[Tx] = []
    for t in txs:
        profiles = by_station.get(t.station_id)
        if not profiles:
            capped.append(t)
            continue
        caps: list[tuple[float, str]] = []
        own = _now_limit(profiles, t.evse_id, now, spec.unit)
        if own is not None:
            caps.append((own, "the EVSE's external limit"))
        whole = _now_limit(profiles, 0, now, spec.unit)
        if whole is not None:
            share = _floor_step(whole / count[t.station_id])
            caps.append((share, "the station's external limit, shared by its transactions"))
        if not caps:
            capped.append(t)
            continue
        cap, why = min(caps)
        if t.ev_max is None or cap < t.ev_max:
            capped.append(dataclasses.replace(t, ev_max=cap, capped_by=why))
        else:
            capped.append(t)
    return capped


def _now_limit(
    profiles: list[tuple[int, dict[str, Any]]], evse_id: int, now: datetime.datetime, unit: str
) -> float | None:
    scoped = [(e, p) for e, p in profiles if e == evse_id]
    if not scoped:
        return None
    try:
        found = composite_schedule(scoped, evse_id=evse_id, start=now, duration=1, unit=unit)
    except ValueError:
        return None  # A schedule the composite cannot read limits nothing it can tell.
    periods = found.get("chargingSchedulePeriod") or []
    limit = periods[0].get("limit") if periods else None
    return float(limit) if isinstance(limit, int | float) else None
