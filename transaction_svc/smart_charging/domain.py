"""Block K's values and rules: pure code, no I/O, no protobuf.

Profiles, limits, needs and schedules are OCPP JSON (``ChargingProfileType`` and its kin), as
stations send them and as the database keeps them; enum-like values are OCPP's spellings
("TxProfile", "Absolute", "CSO").

**The rules a profile must satisfy before the CSMS sends it** (:func:`check_profile`), each
refusal naming its rule. Those on the profile alone (:func:`check_shape`) are INVALID_ARGUMENT;
those on what the CSMS knows of the station (:func:`check_against`: its active transactions, the
profiles it holds) are FAILED_PRECONDITION. OCPP 2.0.1 Part 2 numbers them:

- K01.FR.03: a TxProfile carries the transactionId of its transaction;
- K01.FR.05: a profile with the id of one the station holds replaces it (so that one is no
  conflict);
- K01.FR.06: no two profiles of one EVSE with the same purpose and stackLevel valid at the same
  time (validFrom/validTo overlapping from now on);
- K01.FR.09: a TxProfile only for a transaction active on that EVSE;
- K01.FR.16: a TxProfile is set on an EVSE (evseId > 0);
- K01.FR.19: phaseToUse only with numberPhases 1;
- K01.FR.22: the CSMS never sets ChargingStationExternalConstraints (a station's record of an
  external system's limit);
- K01.FR.31 and K01.FR.35: the periods of a schedule start at 0, in ascending startPeriod;
- K01.FR.38: a ChargingStationMaxProfile is not Relative;
- K01.FR.39: one TxProfile per stackLevel and transaction;
- K01.FR.40 and K01.FR.41: Absolute and Recurring schedules have a startSchedule, Relative ones
  none;
- F01.FR.09 and F01.FR.11: the profile of a RequestStartTransaction is a TxProfile without a
  transactionId (its transaction does not exist yet);

and ChargingProfileType's own: a ChargingStationMaxProfile is for evseId 0 (the whole station), a
transactionId only in a TxProfile, a Recurring profile has its recurrencyKind, validFrom before
validTo, chargingRateUnit A or W, limits not negative, numberPhases 1 to 3.

**Reconciling with the station.** A GetChargingProfiles asks the station for the profiles
matching its criteria; the station answers over ReportChargingProfiles, in parts (``tbc``),
each of one EVSE and one source. Each reported profile is stored as the station has it; when the
last part of a report the CSMS asked for arrives, the stored profiles matching the request's
criteria that no part listed (and that were recorded before the request left) are gone from the
station (:func:`stale_after_report`). A NoProfiles answer means none match at all.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from common.errors import FailedPrecondition, InvalidArgument

__all__ = [
    "CSO",
    "EXTERNAL_CONSTRAINTS",
    "KINDS",
    "MAX_PROFILE",
    "PURPOSES",
    "SOURCES",
    "TX_DEFAULT_PROFILE",
    "TX_PROFILE",
    "UNITS",
    "ClearCriteria",
    "ProfileFilter",
    "ReportCriteria",
    "StationState",
    "StoredProfile",
    "TransactionInfo",
    "check_against",
    "check_profile",
    "check_shape",
    "ev_schedule_excess",
    "instant",
    "limit_profiles",
    "needs_status",
    "rate_unit",
    "resolve",
    "stale_after_report",
]

# ChargingProfilePurposeEnumType.
EXTERNAL_CONSTRAINTS = "ChargingStationExternalConstraints"
MAX_PROFILE = "ChargingStationMaxProfile"
TX_DEFAULT_PROFILE = "TxDefaultProfile"
TX_PROFILE = "TxProfile"
PURPOSES = frozenset({EXTERNAL_CONSTRAINTS, MAX_PROFILE, TX_DEFAULT_PROFILE, TX_PROFILE})
# ChargingProfileKindEnumType, RecurrencyKindEnumType, ChargingRateUnitEnumType.
KINDS = frozenset({"Absolute", "Recurring", "Relative"})
RECURRENCY_KINDS = frozenset({"Daily", "Weekly"})
UNITS = frozenset({"A", "W"})
# ChargingLimitSourceEnumType: who installed a profile or reported a limit; CSO is the CSMS.
CSO = "CSO"
SOURCES = frozenset({"EMS", "Other", "SO", CSO})
# At most this many schedules in a profile (ChargingProfileType: maxItems 3).
_MAX_SCHEDULES = 3

_P = "chargingProfile"
_FAR_PAST = datetime.datetime.min.replace(tzinfo=datetime.UTC)
_FAR_FUTURE = datetime.datetime.max.replace(tzinfo=datetime.UTC)


def instant(value: Any) -> datetime.datetime | None:
    """An OCPP date-time (RFC 3339 text) as an aware UTC datetime; None when absent or not
    one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.astimezone(datetime.UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class StoredProfile:
    """A profile a station holds, as the CSMS knows it."""

    evse_id: int
    # ChargingLimitSourceEnumType: CSO for the CSMS's own, else as the station reported.
    source: str
    # OCPP ChargingProfileType JSON.
    profile: Mapping[str, Any]
    # When the CSMS last learnt it.
    updated_at: datetime.datetime
    # A TxProfile sent with RequestStartTransaction: the request's remoteStartId (its
    # transaction is known once the station reports it).
    remote_start_id: int | None = None
    # The GetChargingProfiles report (its requestId) that last listed it; None: none did.
    reported_by: int | None = None

    @property
    def id(self) -> int:
        return int(self.profile["id"])

    @property
    def purpose(self) -> str:
        return str(self.profile.get("chargingProfilePurpose", ""))

    @property
    def stack_level(self) -> int:
        return int(self.profile.get("stackLevel", 0))

    @property
    def transaction_id(self) -> str | None:
        value = self.profile.get("transactionId")
        return str(value) if value is not None else None


@dataclasses.dataclass(frozen=True, slots=True)
class TransactionInfo:
    """What the rules need of one of the station's transactions."""

    id: str
    evse_id: int | None
    active: bool
    started_at: datetime.datetime | None = None
    remote_start_id: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class StationState:
    """What the CSMS knows of a station when it checks a profile for it."""

    # The station's active transactions by transactionId.
    transactions: Mapping[str, TransactionInfo]
    # The profiles it holds (:func:`resolve`d: no TxProfile of an ended transaction).
    profiles: Sequence[StoredProfile]
    now: datetime.datetime


# -- the rules -------------------------------------------------------------------------------


def check_profile(
    evse_id: int, profile: Mapping[str, Any], state: StationState, *, remote_start: bool = False
) -> None:
    """Every rule (see the module docstring): the profile's own, then against the station.

    ``remote_start``: the profile rides in a RequestStartTransaction (F01): its transaction is
    yet to start, so nothing the station holds can conflict with it.
    """
    check_shape(evse_id, profile, remote_start=remote_start)
    if not remote_start:
        check_against(evse_id, profile, state)


def check_shape(evse_id: int, profile: Mapping[str, Any], *, remote_start: bool = False) -> None:
    """The rules on the profile and its EVSE alone: INVALID_ARGUMENT naming the first broken."""
    for name in ("id", "stackLevel"):
        if not _is_int(profile.get(name)):
            raise InvalidArgument(f"{_P}.{name} is required")
    purpose = profile.get("chargingProfilePurpose")
    if purpose not in PURPOSES:
        raise InvalidArgument(f"{_P}.chargingProfilePurpose must be one of {sorted(PURPOSES)}")
    kind = profile.get("chargingProfileKind")
    if kind not in KINDS:
        raise InvalidArgument(f"{_P}.chargingProfileKind must be one of {sorted(KINDS)}")
    schedules = profile.get("chargingSchedule")
    if not isinstance(schedules, list) or not 1 <= len(schedules) <= _MAX_SCHEDULES:
        raise InvalidArgument(f"{_P}.chargingSchedule must hold 1 to {_MAX_SCHEDULES} schedules")
    if evse_id < 0:
        raise InvalidArgument("evseId must not be negative")
    if profile["stackLevel"] < 0:
        raise InvalidArgument(f"{_P}.stackLevel must not be negative")
    _check_purpose(evse_id, profile, purpose, kind, remote_start)
    if kind == "Recurring" and profile.get("recurrencyKind") not in RECURRENCY_KINDS:
        raise InvalidArgument(
            f"{_P}.recurrencyKind (Daily or Weekly) is required for a Recurring profile"
        )
    valid_from, valid_to = _validity(profile)
    if valid_from is not None and valid_to is not None and valid_from >= valid_to:
        raise InvalidArgument(f"{_P}.validFrom must be before validTo")
    for i, schedule in enumerate(schedules):
        _check_schedule(f"{_P}.chargingSchedule[{i}]", schedule, kind)


def _check_purpose(
    evse_id: int, profile: Mapping[str, Any], purpose: str, kind: str, remote_start: bool
) -> None:
    transaction_id = profile.get("transactionId")
    if purpose == EXTERNAL_CONSTRAINTS:
        raise InvalidArgument(
            "K01.FR.22: the CSMS does not set ChargingStationExternalConstraints profiles "
            "(a station's record of a limit an external system set)"
        )
    if remote_start:
        if purpose != TX_PROFILE:
            raise InvalidArgument(
                "F01.FR.09: the chargingProfile of a RequestStartTransaction must be a TxProfile"
            )
        if transaction_id is not None:
            raise InvalidArgument(
                "F01.FR.11: the chargingProfile of a RequestStartTransaction has no "
                "transactionId (its transaction does not exist yet)"
            )
        return
    if purpose == TX_PROFILE:
        if evse_id <= 0:
            raise InvalidArgument("K01.FR.16: a TxProfile is set on an EVSE (evseId > 0)")
        if not isinstance(transaction_id, str) or not transaction_id:
            raise InvalidArgument(
                "K01.FR.03: a TxProfile needs the transactionId of its transaction"
            )
        return
    if transaction_id is not None:
        raise InvalidArgument(f"{_P}.transactionId is only for a TxProfile")
    if purpose == MAX_PROFILE:
        if evse_id != 0:
            raise InvalidArgument(
                "a ChargingStationMaxProfile limits the whole station: evseId must be 0"
            )
        if kind == "Relative":
            raise InvalidArgument("K01.FR.38: a ChargingStationMaxProfile cannot be Relative")


def _check_schedule(where: str, schedule: Any, kind: str) -> None:
    if not isinstance(schedule, Mapping):
        raise InvalidArgument(f"{where} must be an object")
    if not _is_int(schedule.get("id")):
        raise InvalidArgument(f"{where}.id is required")
    has_start = schedule.get("startSchedule") is not None
    if kind in ("Absolute", "Recurring") and not has_start:
        raise InvalidArgument(f"K01.FR.40: {where}.startSchedule is required for an {kind} profile")
    if kind == "Relative" and has_start:
        raise InvalidArgument(f"K01.FR.41: {where}.startSchedule is absent in a Relative profile")
    if has_start and instant(schedule["startSchedule"]) is None:
        raise InvalidArgument(f"{where}.startSchedule is not an RFC 3339 date-time")
    if schedule.get("chargingRateUnit") not in UNITS:
        raise InvalidArgument(f"{where}.chargingRateUnit must be A or W")
    duration = schedule.get("duration")
    if duration is not None and (not _is_int(duration) or duration < 0):
        raise InvalidArgument(f"{where}.duration must not be negative")
    minimum = schedule.get("minChargingRate")
    if minimum is not None and not _non_negative(minimum):
        raise InvalidArgument(f"{where}.minChargingRate must not be negative")
    periods = schedule.get("chargingSchedulePeriod")
    if not isinstance(periods, list) or not periods:
        raise InvalidArgument(f"{where}.chargingSchedulePeriod must hold at least one period")
    previous: int | None = None
    for j, period in enumerate(periods):
        at = f"{where}.chargingSchedulePeriod[{j}]"
        if not isinstance(period, Mapping) or not _is_int(period.get("startPeriod")):
            raise InvalidArgument(f"{at}.startPeriod is required")
        start = period["startPeriod"]
        if previous is None and start != 0:
            raise InvalidArgument(f"K01.FR.31: {at}.startPeriod must be 0 (it is {start})")
        if previous is not None and start <= previous:
            raise InvalidArgument(
                f"K01.FR.35: {at}.startPeriod must be after {previous} (periods in ascending "
                f"startPeriod)"
            )
        previous = start
        if not _non_negative(period.get("limit")):
            raise InvalidArgument(f"{at}.limit must be a number not below 0")
        phases = period.get("numberPhases")
        if phases is not None and (not _is_int(phases) or not 1 <= phases <= 3):
            raise InvalidArgument(f"{at}.numberPhases must be 1, 2 or 3")
        phase = period.get("phaseToUse")
        if phase is not None:
            if not _is_int(phase) or not 1 <= phase <= 3:
                raise InvalidArgument(f"{at}.phaseToUse must be 1, 2 or 3")
            if phases != 1:
                raise InvalidArgument(f"K01.FR.19: {at}.phaseToUse only with numberPhases 1")


def check_against(evse_id: int, profile: Mapping[str, Any], state: StationState) -> None:
    """The rules on what the station holds: FAILED_PRECONDITION naming the first broken. The
    profile passed :func:`check_shape`."""
    purpose = profile["chargingProfilePurpose"]
    profile_id = profile["id"]
    stack_level = profile["stackLevel"]
    transaction_id = profile.get("transactionId")
    if purpose == TX_PROFILE:
        tx = state.transactions.get(str(transaction_id))
        if tx is None or not tx.active:
            raise FailedPrecondition(
                f"K01.FR.09: transaction {transaction_id} is not active on the station: a "
                "TxProfile is only for an ongoing transaction"
            )
        if tx.evse_id is not None and tx.evse_id != evse_id:
            raise FailedPrecondition(
                f"K01.FR.09: transaction {transaction_id} is on EVSE {tx.evse_id}, not on "
                f"EVSE {evse_id}"
            )
    window = _window(profile, state.now)
    for held in state.profiles:
        if held.id == profile_id:
            continue  # K01.FR.05: the new one replaces it
        if held.purpose != purpose or held.stack_level != stack_level:
            continue
        if purpose == TX_PROFILE:
            if held.transaction_id == transaction_id:
                raise FailedPrecondition(
                    f"K01.FR.39: TxProfile {held.id} has stackLevel {stack_level} for "
                    f"transaction {transaction_id} already (clear it, or set the new one "
                    f"with id {held.id} to replace it)"
                )
        elif held.evse_id == evse_id and _overlap(window, _window(held.profile, state.now)):
            raise FailedPrecondition(
                f"K01.FR.06: profile {held.id} is a {purpose} of stackLevel {stack_level} on "
                f"EVSE {evse_id} valid at the same time (clear it, or set the new one with id "
                f"{held.id} to replace it)"
            )


def _validity(
    profile: Mapping[str, Any],
) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    valid_from, valid_to = profile.get("validFrom"), profile.get("validTo")
    start, end = instant(valid_from), instant(valid_to)
    if valid_from is not None and start is None:
        raise InvalidArgument(f"{_P}.validFrom is not an RFC 3339 date-time")
    if valid_to is not None and end is None:
        raise InvalidArgument(f"{_P}.validTo is not an RFC 3339 date-time")
    return start, end


def _window(
    profile: Mapping[str, Any], now: datetime.datetime
) -> tuple[datetime.datetime, datetime.datetime]:
    """When a profile is valid from now on: [max(validFrom, now), validTo), open-ended when
    absent (a profile without validFrom is valid from its receipt)."""
    start = instant(profile.get("validFrom")) or _FAR_PAST
    end = instant(profile.get("validTo")) or _FAR_FUTURE
    return max(start, now), end


def _overlap(
    a: tuple[datetime.datetime, datetime.datetime], b: tuple[datetime.datetime, datetime.datetime]
) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[0] < a[1] and b[0] < b[1]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _non_negative(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


# -- TxProfiles and their transactions ------------------------------------------------------


def resolve(
    stored: Iterable[StoredProfile], transactions: Mapping[str, TransactionInfo]
) -> tuple[list[StoredProfile], list[int]]:
    """The profiles a station holds, and the ids of stored ones it no longer does.

    A TxProfile lives as long as its transaction (the station drops it at the end): one whose
    transaction has ended is stale. A TxProfile sent with RequestStartTransaction names no
    transaction; once the station reports the transaction carrying its remoteStartId, it is that
    transaction's (its transactionId filled in, and its EVSE when the request named none).
    ``transactions``: the station's transactions by transactionId, and those carrying the
    remoteStartIds of such profiles.
    """
    by_remote_start = {
        tx.remote_start_id: tx for tx in transactions.values() if tx.remote_start_id is not None
    }
    kept: list[StoredProfile] = []
    stale: list[int] = []
    for p in stored:
        if p.purpose != TX_PROFILE:
            kept.append(p)
            continue
        tx = None
        if p.transaction_id is not None:
            tx = transactions.get(p.transaction_id)
        elif p.remote_start_id is not None:
            tx = by_remote_start.get(p.remote_start_id)
            if tx is not None:
                p = dataclasses.replace(
                    p,
                    evse_id=p.evse_id or tx.evse_id or 0,
                    profile={**p.profile, "transactionId": tx.id},
                )
        if tx is not None and not tx.active:
            stale.append(p.id)
        else:
            kept.append(p)
    return kept, stale


# -- listing, clearing, reporting -----------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ProfileFilter:
    """ListChargingProfiles' filters; None or "": any."""

    evse_id: int | None = None
    purpose: str = ""
    stack_level: int | None = None
    source: str = ""

    def matches(self, p: StoredProfile) -> bool:
        return (
            (self.evse_id is None or p.evse_id == self.evse_id)
            and (not self.purpose or p.purpose == self.purpose)
            and (self.stack_level is None or p.stack_level == self.stack_level)
            and (not self.source or p.source == self.source)
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ClearCriteria:
    """What a ClearChargingProfile clears (OCPP K10): the profile of that id, else every profile
    matching the criteria given (none given: every profile). Never an external constraint: those
    are not the CSMS's to clear."""

    profile_id: int | None = None
    evse_id: int | None = None
    purpose: str = ""
    stack_level: int | None = None

    @classmethod
    def of(cls, request: Mapping[str, Any]) -> ClearCriteria:
        """From a ClearChargingProfileRequest's JSON."""
        criteria = request.get("chargingProfileCriteria") or {}
        return cls(
            profile_id=request.get("chargingProfileId"),
            evse_id=criteria.get("evseId"),
            purpose=criteria.get("chargingProfilePurpose", ""),
            stack_level=criteria.get("stackLevel"),
        )

    def matches(self, p: StoredProfile) -> bool:
        if p.purpose == EXTERNAL_CONSTRAINTS:
            return False
        if self.profile_id is not None:
            return p.id == self.profile_id
        return ProfileFilter(self.evse_id, self.purpose, self.stack_level).matches(p)


@dataclasses.dataclass(frozen=True, slots=True)
class ReportCriteria:
    """What a GetChargingProfiles asks for (OCPP K09): the profiles of ``evse_id`` (None: every
    EVSE; 0: the station's own) that have one of ``ids``, or, without ids, that match every
    criterion given (purpose, stackLevel, one of the sources)."""

    evse_id: int | None = None
    ids: frozenset[int] = frozenset()
    purpose: str = ""
    stack_level: int | None = None
    sources: frozenset[str] = frozenset()

    @classmethod
    def of(cls, request: Mapping[str, Any]) -> ReportCriteria:
        """From a GetChargingProfilesRequest's JSON."""
        criterion = request.get("chargingProfile") or {}
        return cls(
            evse_id=request.get("evseId"),
            ids=frozenset(criterion.get("chargingProfileId") or ()),
            purpose=criterion.get("chargingProfilePurpose", ""),
            stack_level=criterion.get("stackLevel"),
            sources=frozenset(criterion.get("chargingLimitSource") or ()),
        )

    def matches(self, p: StoredProfile) -> bool:
        if self.evse_id is not None and p.evse_id != self.evse_id:
            return False
        if self.ids:
            return p.id in self.ids
        return (
            (not self.purpose or p.purpose == self.purpose)
            and (self.stack_level is None or p.stack_level == self.stack_level)
            and (not self.sources or p.source in self.sources)
        )


def stale_after_report(
    stored: Iterable[StoredProfile],
    criteria: ReportCriteria,
    request_id: int,
    requested_at: datetime.datetime,
) -> list[int]:
    """The ids of the stored profiles a complete report leaves out: matching the request's
    criteria, listed by none of its parts, and known before the request left (one recorded
    since may be newer than the station's report)."""
    return [
        p.id
        for p in stored
        if criteria.matches(p) and p.reported_by != request_id and p.updated_at < requested_at
    ]


# -- the composite schedule and the EV's needs ----------------------------------------------


def rate_unit(profiles: Iterable[StoredProfile], evse_id: int) -> str:
    """The unit of a composite schedule when the caller names none: W when every schedule of
    the profiles that apply to the EVSE (its own and the station's) is in W, else A."""
    units = {
        s.get("chargingRateUnit")
        for p in profiles
        if p.evse_id in (0, evse_id)
        for s in p.profile.get("chargingSchedule", ())
    }
    return "W" if units == {"W"} else "A"


def needs_status(needs: Mapping[str, Any]) -> tuple[str, str, str]:
    """The answer to a NotifyEVChargingNeeds: (status, reasonCode, additionalInfo).

    Accepted when the EV's AC or DC charging parameters are there: the CSMS can then give the
    EVSE's transaction a TxProfile (K15.FR.03; an operator over REST today). Rejected without
    them (K15.FR.04, K15.FR.06: a request holds one or the other; without them no schedule can
    be planned). Processing is never answered: nothing in the CSMS computes a schedule in the
    background yet.
    """
    if needs.get("acChargingParameters") or needs.get("dcChargingParameters"):
        return "Accepted", "", ""
    return (
        "Rejected",
        "NoChargingParameters",
        "K15.FR.06: chargingNeeds holds neither acChargingParameters nor dcChargingParameters",
    )


def _limit_at(periods: Sequence[Mapping[str, Any]], second: int) -> float | None:
    """The limit of the period running at ``second`` (None: none runs, or it has no limit)."""
    found: float | None = None
    for period in periods:
        if int(period.get("startPeriod", 0)) <= second:
            limit = period.get("limit")
            found = float(limit) if isinstance(limit, int | float) else None
        else:
            break
    return found


def ev_schedule_excess(
    ev_schedule: Mapping[str, Any], csms_periods: Sequence[Mapping[str, Any]], duration: int
) -> tuple[int, float, float] | None:
    """Where an EV's charging schedule (NotifyEVChargingSchedule's, in the unit of the CSMS's
    composite) goes above the CSMS's composite schedule over the first ``duration`` seconds from
    its timeBase: (second, the EV's limit, the CSMS's), or None when it stays within (K15.FR.11/
    .12, K16.FR.06/.07). A stretch the CSMS does not limit allows anything; 0.05 of slack
    absorbs the one-decimal rounding of converted limits."""
    ev_periods = sorted(
        ev_schedule.get("chargingSchedulePeriod") or [], key=lambda p: int(p.get("startPeriod", 0))
    )
    csms = sorted(csms_periods, key=lambda p: int(p.get("startPeriod", 0)))
    ev_duration = ev_schedule.get("duration")
    end = min(duration, int(ev_duration)) if isinstance(ev_duration, int) else duration
    starts = (int(p.get("startPeriod", 0)) for p in [*ev_periods, *csms])
    moments = sorted({second for second in starts if 0 <= second < end})
    for second in moments:
        wanted, allowed = _limit_at(ev_periods, second), _limit_at(csms, second)
        if wanted is not None and allowed is not None and wanted > allowed + 0.05:
            return second, wanted, allowed
    return None


def limit_profiles(
    limits: Iterable[tuple[int, Sequence[Mapping[str, Any]], datetime.datetime]],
) -> list[tuple[int, dict[str, Any]]]:
    """The external limits stations reported (NotifyChargingLimit: per EVSE, 0 for the station,
    its chargingSchedules and when it came) as ChargingStationExternalConstraints profiles for
    the composite schedule: each schedule one profile, in force from its startSchedule or, when
    it has none, from when it was reported (K12: the station applies it on receipt); all of
    stackLevel 0, so that several limit together (the lowest wins)."""
    found: list[tuple[int, dict[str, Any]]] = []
    for evse_id, schedules, reported in limits:
        for schedule in schedules:
            if not schedule.get("chargingSchedulePeriod"):
                continue
            start = schedule.get("startSchedule") or reported.astimezone(
                datetime.UTC
            ).isoformat().replace("+00:00", "Z")
            found.append(
                (
                    evse_id,
                    {
                        "id": 0,
                        "stackLevel": 0,
                        "chargingProfilePurpose": EXTERNAL_CONSTRAINTS,
                        "chargingProfileKind": "Absolute",
                        "chargingSchedule": [{**schedule, "startSchedule": start}],
                    },
                )
            )
    return found
