"""The composite schedule of an EVSE or of the grid connection, from charging profiles (K08).

Pure code: profiles are OCPP 2.0.1 ``ChargingProfileType`` JSON with the evseId each is installed
on; the result is OCPP ``CompositeScheduleType`` JSON. No I/O, no protobuf.

**The rules**, from OCPP 2.0.1 Part 2, chapter K (Smart Charging): "Stacking charging profiles"
and "Combining charging profile purposes", which carry OCPP 1.6 §3.13.1-3.13.3 over with the
purposes renamed (ChargePointMaxProfile → ChargingStationMaxProfile, connector → EVSE) and
ChargingStationExternalConstraints added; the field descriptions are those of the official
JSON schemas (quoted from the ``ocpp`` package's bundled v201 schemas):

- A profile counts from ``validFrom`` (inclusive; "Point in time at which the profile starts to
  be valid") to ``validTo`` (exclusive; "Point in time at which the profile stops to be valid").
- Its schedule starts at ``startSchedule`` (Absolute), or at the start of the transaction
  (Relative, ChargingProfileKindEnumType: "relative to a situation-specific start point (such
  as the start of a session)"; ``start`` when the EVSE has no transaction, as if one began
  then). A Recurring schedule restarts every day or week
  (``recurrencyKind``) from ``startSchedule``. A schedule without ``startSchedule`` "will be
  relative to start of charging" whatever its kind.
- A period runs from its ``startPeriod`` until the next one's ("The value of StartPeriod also
  defines the stop time of the previous period"); the last until the schedule's ``duration``
  ends, or for ever ("If the duration is left empty, the last period will continue
  indefinitely"). A recurrence cuts the one before it.
- Within one purpose, "at any point in time the prevailing charging profile SHALL be the
  charging profile with the highest stackLevel among the profiles that are valid at that point
  in time": the valid profile of the highest stackLevel *whose schedule has a period at that
  instant* leads, so a lower one shows through where the higher one's schedule has ended or
  not begun ("If you use Stacking without a duration, on the highest stack level, the Charge
  Point will never fall back to a lower stack level profile"). Two that tie (K01.FR.06 forbids
  it) both count, the lower limit winning.
- A TxProfile "SHALL overrule the default charging profile with purpose TxDefaultProfile for the
  duration of the current transaction only": it counts only with ``transaction_start`` (the
  caller passes only the TxProfiles of that transaction), and where it has a period it replaces
  the TxDefaultProfile; where its schedule has ended the TxDefaultProfile shows through again
  (OCTT TC_K_41_CS expects exactly this, see the tests).
- A TxDefaultProfile on evseId 0 "applies the profile to each individual evse"; with one of the
  EVSE's own they stack as one purpose by stackLevel (a station refuses the same stackLevel on
  both, K01.FR.52/53; should both be there, the EVSE's own wins, as 1.6's "the
  TxDefaultProfile SHALL be replaced only for that specific connector").
- The composite is "calculated by taking the minimum value for each time interval" of the
  leading profiles of the purposes: ChargingStationMaxProfile (evseId 0: "an overall limit for
  the whole Charging Station"), ChargingStationExternalConstraints (on evseId 0 and on the
  EVSE, each a limit of its own scope) and TxProfile-else-TxDefaultProfile.
- For evseId 0 (the grid connection) the composite is that of the station-wide limits alone:
  the ChargingStationMaxProfile and the ChargingStationExternalConstraints on evseId 0. (A
  station may report the sum of its EVSEs' composites there, capped by these; the CSMS does
  not guess how the EVSEs share the connection.)
- ``numberPhases`` of a composite period is the lowest stated by the periods that apply then
  (OCPP 2.1 K01.FR.140 says so; 2.0.1 is silent); absent when none states one. ``phaseToUse``
  is passed on when that is 1 and an applying period of one phase names it.

**Units.** A limit in the other unit is converted with the period's phases: W = A × V × phases,
V being ``voltage`` (the phase-to-neutral voltage, 230 V by default) and phases the composite
period's ``numberPhases``, 3 when none is stated ("numberPhases=3 will be assumed unless
another number is given"). A power limit shared by fewer phases allows more current on each.
A converted limit is rounded down to one decimal ("Accepts at most one digit fraction"): never
above what the profile allows.

**Time.** Every instant is taken to the whole second below (``startPeriod`` counts whole
seconds), ``start`` included: ``scheduleStart`` has no fraction. A naive ``datetime`` is UTC.
Consecutive periods of the same limit, phases and phase are one.

**Gaps** (decided here; the spec has no "no limit" value). Where no profile limits the EVSE the
station falls back to its own behaviour, charging as fast as it can (1.6: "revert to default
behavior until validFrom is reached"). OCPP cannot say so: ``limit`` is required and a period
lasts until the next one starts, so a stretch cannot be left out. A station fills it with its
own maximum (EVerest's configurable CompositeScheduleDefaultLimitAmps/Watts). The CSMS does not
know that maximum unless told: with ``no_limit`` (the maximum in ``unit``) a gap is a period of
that limit and the result is a valid OCPP CompositeScheduleType; without it, a gap is a period
with no ``limit`` ("no limit from here"), which the CSMS's own CompositeSchedule message (its
``limit`` is optional) carries as such but OCPP's schema would not accept. No profile at all:
one such period from 0.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
from collections.abc import Iterator, Mapping, Sequence
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Final

__all__ = ["composite_schedule"]

# ChargingProfilePurposeEnumType values this module combines (OCPP 2.1's PriorityCharging and
# LocalGeneration are not 2.0.1's and are left out).
_MAX: Final = "ChargingStationMaxProfile"
_EXTERNAL: Final = "ChargingStationExternalConstraints"
_TX_DEFAULT: Final = "TxDefaultProfile"
_TX: Final = "TxProfile"

_RECURRENCE: Final = {"Daily": 86_400, "Weekly": 7 * 86_400}
_UNITS: Final = ("A", "W")
# "If a number of phases is needed, numberPhases=3 will be assumed unless another number is given."
_DEFAULT_PHASES: Final = 3
_ONE_DECIMAL: Final = Decimal("0.1")
_EPOCH: Final = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_SECOND: Final = datetime.timedelta(seconds=1)


@dataclasses.dataclass(frozen=True, slots=True)
class _Period:
    start: int  # seconds from the start of the schedule
    limit: float
    phases: int | None
    phase_to_use: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class _Profile:
    scope: int  # the evseId it is installed on
    purpose: str
    stack_level: int
    unit: str
    valid_from: int | None  # epoch seconds
    valid_to: int | None
    anchor: int  # epoch second its schedule (first) starts
    recurrence: int | None  # seconds between restarts
    duration: int | None
    periods: tuple[_Period, ...]
    starts: tuple[int, ...]  # the periods' starts, for bisect

    def period_at(self, t: int) -> _Period | None:
        """The period in force at ``t``; None where the profile is not valid or its schedule
        has none."""
        if self.valid_from is not None and t < self.valid_from:
            return None
        if self.valid_to is not None and t >= self.valid_to:
            return None
        offset = t - self.anchor
        if offset < 0:
            return None
        if self.recurrence is not None:
            offset %= self.recurrence
        if self.duration is not None and offset >= self.duration:
            return None
        index = bisect.bisect_right(self.starts, offset) - 1
        return self.periods[index] if index >= 0 else None

    def edges(self, begin: int, end: int) -> Iterator[int]:
        """Instants where :meth:`period_at` may change, covering ``[begin, end)`` (some may lie
        outside it)."""
        if self.valid_from is not None:
            yield self.valid_from
        if self.valid_to is not None:
            yield self.valid_to
        if self.recurrence is None:
            anchors: Iterator[int] = iter((self.anchor,))
        else:
            first = max(0, (begin - self.anchor) // self.recurrence)
            anchors = iter(range(self.anchor + first * self.recurrence, end, self.recurrence))
        for anchor in anchors:
            yield anchor
            for start in self.starts:
                yield anchor + start
            if self.duration is not None:
                yield anchor + self.duration


def composite_schedule(
    profiles: Sequence[tuple[int, Mapping[str, Any]]],
    *,
    evse_id: int,
    start: datetime.datetime,
    duration: int,
    unit: str,
    transaction_start: datetime.datetime | None = None,
    voltage: float = 230.0,
    no_limit: float | None = None,
) -> dict[str, Any]:
    """The composite schedule of ``evse_id`` (0: the grid connection) over ``duration`` seconds
    from ``start``, in ``unit`` (A or W), from ``profiles``: (the evseId each is installed on,
    its ChargingProfileType JSON). Profiles of other EVSEs are ignored; TxProfiles only count
    with ``transaction_start`` (the start of the EVSE's transaction, which also anchors its
    Relative profiles). ``voltage``: W = A × voltage × phases. ``no_limit``: the limit to report
    where no profile limits (see the module's docstring); None leaves such periods without one.

    Raises ValueError for an argument out of range or a profile that is not OCPP's shape.
    """
    if unit not in _UNITS:
        raise ValueError(f"unit must be A or W, not {unit!r}")
    if duration < 0:
        raise ValueError("duration must not be negative")
    if evse_id < 0:
        raise ValueError("evseId must not be negative")
    if not voltage > 0:
        raise ValueError("voltage must be more than 0")
    begin = _seconds(start)
    end = begin + duration
    tx_start = _seconds(transaction_start) if transaction_start is not None else None
    relative_anchor = tx_start if tx_start is not None else begin

    # Each group is one stack: its leading profiles at an instant are those of its highest
    # stackLevel with a period then. Caps (ChargingStationMaxProfile, -ExternalConstraints)
    # stack per scope: the station's and the EVSE's are limits of their own.
    caps: dict[tuple[str, int], list[_Profile]] = {}
    tx: list[_Profile] = []
    tx_default: list[_Profile] = []
    for scope, raw in profiles:
        if scope != evse_id and not (scope == 0 and evse_id > 0):
            continue
        purpose = raw.get("chargingProfilePurpose")
        if purpose in (_MAX, _EXTERNAL):
            group = caps.setdefault((purpose, scope), [])
        elif evse_id == 0:
            continue  # Tx(Default)Profiles limit EVSEs, not the grid connection
        elif purpose == _TX_DEFAULT:
            group = tx_default
        elif purpose == _TX and tx_start is not None and scope == evse_id:
            group = tx
        else:
            continue
        parsed = _profile(scope, purpose, raw, relative_anchor)
        if parsed is not None:
            group.append(parsed)

    every = [p for group in (*caps.values(), tx, tx_default) for p in group]
    instants = sorted({begin, *(t for p in every for t in p.edges(begin, end) if begin < t < end)})

    periods: list[dict[str, Any]] = []
    last: tuple[float | None, int | None, int | None] | None = None
    for t in instants:
        applying = [period for group in caps.values() for period in _leading(group, t)]
        applying += _leading(tx, t) or _leading(tx_default, t, own=evse_id)
        key = _combine(applying, unit, voltage)
        if key[0] is None and no_limit is not None:
            key = (float(no_limit), None, None)
        if key == last:
            continue
        last = key
        limit, phases, phase_to_use = key
        period: dict[str, Any] = {"startPeriod": t - begin}
        if limit is not None:
            period["limit"] = limit
        if phases is not None:
            period["numberPhases"] = phases
        if phase_to_use is not None:
            period["phaseToUse"] = phase_to_use
        periods.append(period)

    return {
        "evseId": evse_id,
        "duration": duration,
        "scheduleStart": (_EPOCH + begin * _SECOND).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": periods,
    }


def _leading(
    group: Sequence[_Profile], t: int, own: int | None = None
) -> list[tuple[str, _Period]]:
    """The periods at ``t`` of the group's profiles of the highest stackLevel that have one
    then, with their units; of those, the ones installed on ``own`` when there are any."""
    found: list[tuple[_Profile, _Period]] = []
    for profile in group:
        period = profile.period_at(t)
        if period is None:
            continue
        if not found or profile.stack_level > found[0][0].stack_level:
            found = [(profile, period)]
        elif profile.stack_level == found[0][0].stack_level:
            found.append((profile, period))
    if own is not None and any(profile.scope == own for profile, _ in found):
        found = [(profile, period) for profile, period in found if profile.scope == own]
    return [(profile.unit, period) for profile, period in found]


def _combine(
    applying: Sequence[tuple[str, _Period]], unit: str, voltage: float
) -> tuple[float | None, int | None, int | None]:
    """(limit in ``unit``, numberPhases, phaseToUse) of the periods that apply at an instant:
    the lowest limit, the fewest phases stated; (None, None, None) when none applies."""
    if not applying:
        return None, None, None
    stated = [period.phases for _, period in applying if period.phases is not None]
    phases = min(stated) if stated else None
    limit = min(
        _convert(period.limit, source, unit, voltage, phases or _DEFAULT_PHASES)
        for source, period in applying
    )
    phase_to_use = None
    if phases == 1:
        phase_to_use = next(
            (
                period.phase_to_use
                for _, period in applying
                if period.phases == 1 and period.phase_to_use is not None
            ),
            None,
        )
    return limit, phases, phase_to_use


def _convert(limit: float, source: str, target: str, voltage: float, phases: int) -> float:
    """``limit`` from ``source`` to ``target`` unit: W = A × voltage × phases, rounded down to
    one decimal."""
    if source == target:
        return limit
    factor = Decimal(repr(float(voltage))) * phases
    value = Decimal(repr(limit))
    converted = value * factor if target == "W" else value / factor
    return float(converted.quantize(_ONE_DECIMAL, rounding=ROUND_FLOOR))


def _profile(
    scope: int, purpose: str, raw: Mapping[str, Any], relative_anchor: int
) -> _Profile | None:
    """``raw`` (ChargingProfileType JSON) for the composite; None when it has no period."""
    schedules = raw.get("chargingSchedule")
    if isinstance(schedules, Mapping):  # one schedule, as OCPP 1.6 has it
        schedules = [schedules]
    if not schedules:
        return None
    # Up to three schedules are for ISO 15118 negotiation; the first is the one in force.
    schedule = schedules[0]
    unit = schedule.get("chargingRateUnit")
    if unit not in _UNITS:
        raise ValueError(f"chargingRateUnit must be A or W, not {unit!r}")
    periods = tuple(
        sorted(
            (
                _Period(
                    start=int(p["startPeriod"]),
                    limit=float(p["limit"]),
                    phases=p.get("numberPhases"),
                    phase_to_use=p.get("phaseToUse"),
                )
                for p in schedule.get("chargingSchedulePeriod", ())
            ),
            key=lambda period: period.start,
        )
    )
    if not periods:
        return None
    kind = raw.get("chargingProfileKind")
    start_schedule = _timestamp(schedule.get("startSchedule"), "startSchedule")
    anchor = relative_anchor if kind == "Relative" or start_schedule is None else start_schedule
    # A Recurring profile without a recurrencyKind has nothing to repeat by: it runs once.
    recurrence = _RECURRENCE.get(raw.get("recurrencyKind", "")) if kind == "Recurring" else None
    duration = schedule.get("duration")
    return _Profile(
        scope=scope,
        purpose=purpose,
        stack_level=int(raw.get("stackLevel", 0)),
        unit=unit,
        valid_from=_timestamp(raw.get("validFrom"), "validFrom"),
        valid_to=_timestamp(raw.get("validTo"), "validTo"),
        anchor=anchor,
        recurrence=recurrence,
        duration=int(duration) if duration is not None else None,
        periods=periods,
        starts=tuple(period.start for period in periods),
    )


def _timestamp(value: Any, field: str) -> int | None:
    """An OCPP date-time (RFC 3339) as epoch seconds, rounded down; None when absent."""
    if value is None:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("z", "Z"))
    except ValueError:
        raise ValueError(f"{field} is not a date-time: {value!r}") from None
    return _seconds(parsed)


def _seconds(moment: datetime.datetime) -> int:
    """``moment`` (naive: UTC) as whole epoch seconds, rounded down."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return (moment - _EPOCH) // _SECOND
