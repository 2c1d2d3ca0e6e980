"""The site load manager's decisions: pure code, no I/O, no protobuf.

A **site** is a grid connection shared by the EVSEs of some stations. The load manager gives
each active transaction on the site a limit (sent as a TxProfile) so that the sum of the limits
the stations hold never exceeds the site's limit. This module decides; sending, answers and
timers are the caller's.

**What a limit is.** Limits are in the site's unit: A per phase, or W. They are whole multiples
of :data:`STEP` (0.1), since OCPP 2.0.1's ``ChargingSchedulePeriodType.limit`` takes at most one
decimal; all arithmetic is done in whole steps, so "the sum is at most the site limit" is exact,
not up to rounding.

**allocate** (:func:`allocate`), in three moves:

1. *Admission.* Sessions are ordered by the strategy: ``equalShare`` oldest first (the newest
   waits first); ``priority`` by the group's priority, highest first, then oldest first. Each
   session in turn is admitted if its floor (the site's minimum current, or its own maximum if
   that is lower) still fits in the budget; one that does not fit waits at 0. A later session is
   only admitted past one that did not fit when its floor is smaller (an EV whose maximum is
   under the minimum).
2. *Floors.* Every admitted session gets its floor.
3. *Water-filling.* What is left is spread to the admitted sessions not at their own maximum
   (the smaller of the site's per-EVSE maximum and the EV's, from NotifyEVChargingNeeds): all
   rise to one common level, each capped at its maximum, the last steps going one each to the
   oldest. ``priority`` fills the highest group first, then the next with what is left.

**Guarantees of allocate** (held by the unit tests, the last three as properties):

- the limits sum to at most the budget (site limit − ``reserved`` − the ``fixed`` sessions');
- no session exceeds its maximum, and none is below its floor unless it waits at 0;
- when ``floor × sessions`` fits the budget, nobody waits;
- the budget is used: the limits sum to exactly ``min(budget, Σ maxima of the admitted)`` (in
  whole steps; only the budget and the maxima are rounded down to a step).

**Changing the limits safely** (:func:`plan`). The stations do not change their limits at once.
A plan has at most two steps: first every lowering, then every raise. If the current limits
and the target each sum to at most the site limit, then at any instant during step 1 (some
lowerings applied, others not) the sum is at most the current sum, and during step 2, started
only once *every* lowering was Accepted, it is at most the target's sum. A lowering that was
Rejected or not answered leaves its session at the limit it was last known to hold; the caller
then recomputes with :func:`reallocate` (that session fixed at its known limit) and plans again
instead of sending the raises. For a raise sent and not answered, the caller must count the
higher of the two limits (the station may have applied it).

**The fallback** (:func:`fallback_default`). A new transaction charges at the station's
TxDefaultProfile until the manager gives it a TxProfile, and so does an EVSE whose station the
manager can no longer reach for its next transaction. That default is sized so that all EVSEs of
the site at the default stay under the limit: ``limit / evse_count`` rounded down to a step, and
0 when that is below the minimum (an EV cannot charge under its minimum, IEC 61851-1: it would
take a slot and draw nothing useful; at 0 it waits for the manager's TxProfile instead). The
caller reserves ``default × idle EVSEs`` (``reserved``) so that a transaction starting without
asking cannot push the site over.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "DEFAULT_MIN_A",
    "DEFAULT_MIN_W",
    "EQUAL_SHARE",
    "PRIORITY",
    "STEP",
    "STRATEGIES",
    "Change",
    "Session",
    "SessionKey",
    "Site",
    "allocate",
    "fallback_default",
    "plan",
    "reallocate",
    "total",
]

EQUAL_SHARE = "equalShare"
PRIORITY = "priority"
STRATEGIES = (EQUAL_SHARE, PRIORITY)

STEP = 0.1
"""The resolution of a limit: OCPP 2.0.1 limits carry at most one decimal."""

_PER_STEP = 10  # 1 / STEP, as an int: limits are computed in whole steps.
_EPSILON = 1e-9  # Absorbs float noise when converting to steps (6.0 / 0.1 = 59.999...).

DEFAULT_MIN_A = 6.0
"""The minimum current of IEC 61851-1 (A per phase): an EV draws nothing under it."""

DEFAULT_MIN_W = 6.0 * 230.0 * 3
"""6 A on three phases of 230 V, the default minimum of a site limited in W."""

SessionKey = tuple[str, int, str]
"""(station id, EVSE id, transaction id): what a limit is given to."""


@dataclasses.dataclass(frozen=True)
class Site:
    """A grid connection: its limit, the minimum per charging EV, an optional maximum per EVSE
    and the strategy. ``min_limit`` None is :data:`DEFAULT_MIN_A` or :data:`DEFAULT_MIN_W`."""

    limit: float
    unit: str = "A"
    min_limit: float | None = None
    evse_max: float | None = None
    strategy: str = EQUAL_SHARE

    def __post_init__(self) -> None:
        if self.unit not in ("A", "W"):
            raise ValueError(f"unit must be A or W, not {self.unit!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, not {self.strategy!r}")
        if self.limit < 0:
            raise ValueError("limit must not be negative")
        if self.min_limit is not None and self.min_limit <= 0:
            raise ValueError("min_limit must be positive")
        if self.evse_max is not None and self.evse_max < 0:
            raise ValueError("evse_max must not be negative")

    @property
    def minimum(self) -> float:
        """The minimum per charging EV, in the site's unit."""
        if self.min_limit is not None:
            return self.min_limit
        return DEFAULT_MIN_A if self.unit == "A" else DEFAULT_MIN_W


@dataclasses.dataclass(frozen=True)
class Session:
    """An active transaction on the site. ``ev_max`` is the EV's own maximum (its charging
    needs), ``priority`` its idToken group's (higher is served first; ``priority`` strategy)."""

    station_id: str
    evse_id: int
    transaction_id: str
    started: datetime.datetime
    ev_max: float | None = None
    priority: int = 0

    @property
    def key(self) -> SessionKey:
        """The key of this session's limit in :func:`allocate`'s answer."""
        return (self.station_id, self.evse_id, self.transaction_id)


@dataclasses.dataclass(frozen=True)
class Change:
    """One TxProfile to send: ``key``'s limit from ``before`` (what the station is known to
    hold; 0 if nothing) to ``after``."""

    key: SessionKey
    before: float
    after: float


def _steps_down(value: float) -> int:
    return max(0, math.floor(value * _PER_STEP + _EPSILON))


def _steps_up(value: float) -> int:
    return max(0, math.ceil(value * _PER_STEP - _EPSILON))


def _value(steps: int) -> float:
    return steps / _PER_STEP


def _order(site: Site, sessions: Iterable[Session]) -> list[Session]:
    """The admission order: whom the limit serves first."""

    def oldest_first(s: Session) -> tuple[datetime.datetime, SessionKey]:
        return (s.started, s.key)

    ordered = sorted(sessions, key=oldest_first)
    if site.strategy == PRIORITY:
        ordered.sort(key=lambda s: -s.priority)  # Stable: oldest first within a group.
    return ordered


def _fill(floors: list[int], caps: list[int], budget: int) -> list[int]:
    """Water-filling in whole steps: each gets ``clamp(level, floor, cap)`` for the highest
    level whose sum fits ``budget`` (at least the floors'), then one more step each, in order,
    while the budget lasts."""

    def total(level: int) -> int:
        return sum(min(max(level, f), c) for f, c in zip(floors, caps, strict=True))

    if not caps:
        return []
    low, high = 0, max(caps)
    if total(high) <= budget:
        return list(caps)
    while low < high:  # The highest level with total(level) <= budget.
        middle = (low + high + 1) // 2
        if total(middle) <= budget:
            low = middle
        else:
            high = middle - 1
    level = low
    limits = [min(max(level, f), c) for f, c in zip(floors, caps, strict=True)]
    left = budget - sum(limits)
    for i, (f, c) in enumerate(zip(floors, caps, strict=True)):
        if left <= 0:
            break
        if f <= level < c:  # At the common level and below its cap: takes one more step.
            limits[i] += 1
            left -= 1
    return limits


def allocate(
    site: Site,
    sessions: Iterable[Session],
    *,
    fixed: Mapping[SessionKey, float] | None = None,
    reserved: float = 0.0,
) -> dict[SessionKey, float]:
    """The limit to give each session, summing to at most the site's limit.

    ``fixed`` sessions keep the limit given (a station that did not answer or Rejected), and
    ``reserved`` is capacity held outside the sessions (idle EVSEs at their TxDefaultProfile);
    both come off the budget first. The others share what is left (the module's docstring).
    """
    fixed = dict(fixed or {})
    sessions = list(sessions)
    result: dict[SessionKey, float] = {}
    budget = _steps_down(site.limit) - _steps_up(reserved)
    for session in sessions:
        if session.key in fixed:
            result[session.key] = fixed[session.key]
            budget -= _steps_up(fixed[session.key])
    budget = max(0, budget)
    free = [s for s in _order(site, sessions) if s.key not in fixed]

    minimum = _steps_up(site.minimum)
    caps: dict[SessionKey, int] = {}
    floors: dict[SessionKey, int] = {}
    admitted: list[Session] = []
    used = 0
    for session in free:
        maxima = [m for m in (site.evse_max, session.ev_max) if m is not None]
        cap = _steps_down(min(maxima)) if maxima else budget
        floor = min(minimum, cap) if maxima else minimum  # Only its own maximum lowers it.
        if cap > 0 and used + floor <= budget:
            admitted.append(session)
            caps[session.key], floors[session.key] = cap, floor
            used += floor
        result[session.key] = 0.0

    left = budget - used
    groups: list[list[Session]] = []
    for session in admitted:  # Admission order keeps groups together, highest first.
        if site.strategy == PRIORITY and groups and groups[-1][0].priority == session.priority:
            groups[-1].append(session)
        elif site.strategy == PRIORITY or not groups:
            groups.append([session])
        else:
            groups[-1].append(session)
    for group in groups:
        group_floors = [floors[s.key] for s in group]
        limits = _fill(group_floors, [caps[s.key] for s in group], sum(group_floors) + left)
        left -= sum(limits) - sum(group_floors)
        for session, steps in zip(group, limits, strict=True):
            result[session.key] = _value(steps)
    return result


def reallocate(
    site: Site,
    sessions: Iterable[Session],
    known: Mapping[SessionKey, float],
    stuck: Iterable[SessionKey],
    *,
    reserved: float = 0.0,
) -> dict[SessionKey, float]:
    """:func:`allocate` again with the ``stuck`` sessions (their station Rejected or did not
    answer) fixed at the limit they are ``known`` to hold (0 if none)."""
    return allocate(
        site, sessions, fixed={key: known.get(key, 0.0) for key in stuck}, reserved=reserved
    )


def plan(
    current: Mapping[SessionKey, float], target: Mapping[SessionKey, float]
) -> list[list[Change]]:
    """The changes from ``current`` (the limits the stations are known to hold; a session not in
    it holds 0) to ``target``, in steps: the lowerings, then the raises. Send a step only once
    every change of the previous one was Accepted. Unchanged sessions are left out, and so
    are empty steps; sessions only in ``current`` (ended) need nothing."""
    lowerings: list[Change] = []
    raises: list[Change] = []
    for key in sorted(target):
        before, after = current.get(key, 0.0), target[key]
        if after < before:
            lowerings.append(Change(key, before, after))
        elif after > before:
            raises.append(Change(key, before, after))
    return [step for step in (lowerings, raises) if step]


def fallback_default(site: Site, evse_count: int) -> float:
    """The TxDefaultProfile limit per EVSE: the site stays under its limit with every EVSE at
    it; 0 when below the minimum (the EV waits for its TxProfile rather than charge uselessly)."""
    if evse_count <= 0:
        raise ValueError("evse_count must be positive")
    share = _steps_down(site.limit) // evse_count
    if site.evse_max is not None:
        share = min(share, _steps_down(site.evse_max))
    return _value(share) if share >= _steps_up(site.minimum) else 0.0


def total(limits: Mapping[SessionKey, float] | Sequence[float]) -> float:
    """The sum of limits, computed in whole steps (exact for limits of :data:`STEP`)."""
    values = limits.values() if isinstance(limits, Mapping) else limits
    return _value(sum(_steps_down(v) for v in values))
