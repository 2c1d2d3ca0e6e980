"""Tests for transaction_svc.smart_charging.domain: the K01 rules as a table (one row per rule),
TxProfiles and their transactions, clearing, reconciling a report, the EV's needs."""

from __future__ import annotations

import copy
import dataclasses
import datetime
from collections.abc import Callable
from typing import Any

import pytest

from common.errors import CsmsError, FailedPrecondition, InvalidArgument
from transaction_svc.smart_charging.domain import (
    ClearCriteria,
    ProfileFilter,
    ReportCriteria,
    StationState,
    StoredProfile,
    TransactionInfo,
    check_profile,
    ev_schedule_excess,
    instant,
    needs_status,
    rate_unit,
    resolve,
    stale_after_report,
)

NOW = datetime.datetime(2026, 12, 4, 10, 0, tzinfo=datetime.UTC)
JSON = dict[str, Any]


def profile(**fields: Any) -> JSON:
    """A valid TxDefaultProfile (Absolute, one schedule of two periods), with ``fields``."""
    base: JSON = {
        "id": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "startSchedule": "2026-12-04T09:00:00Z",
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0},
                    {"startPeriod": 600, "limit": 8.0, "numberPhases": 3},
                ],
            }
        ],
    }
    base.update(fields)
    return base


def tx_profile(**fields: Any) -> JSON:
    return profile(**{"chargingProfilePurpose": "TxProfile", "transactionId": "TX-1", **fields})


def period(**fields: Any) -> Callable[[JSON], None]:
    """Edit the first schedule's second period."""

    def edit(p: JSON) -> None:
        p["chargingSchedule"][0]["chargingSchedulePeriod"][1].update(fields)

    return edit


def first_period(**fields: Any) -> Callable[[JSON], None]:
    def edit(p: JSON) -> None:
        p["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(fields)

    return edit


def schedule(**fields: Any) -> Callable[[JSON], None]:
    def edit(p: JSON) -> None:
        p["chargingSchedule"][0].update(fields)
        for name, value in fields.items():
            if value is None:
                del p["chargingSchedule"][0][name]

    return edit


def held(evse_id: int, p: JSON, source: str = "CSO", **fields: Any) -> StoredProfile:
    return StoredProfile(evse_id, source, p, fields.pop("updated_at", NOW), **fields)


TX1 = TransactionInfo("TX-1", 1, True, NOW)
STATE = StationState({"TX-1": TX1}, [], NOW)


def with_profiles(*profiles: StoredProfile) -> StationState:
    return StationState({"TX-1": TX1}, list(profiles), NOW)


@dataclasses.dataclass(frozen=True)
class Rule:
    """A profile that breaks one rule, and the words its refusal must hold."""

    name: str
    profile: JSON
    words: str
    error: type[CsmsError] = InvalidArgument
    evse_id: int = 1
    state: StationState = STATE
    remote_start: bool = False
    # An edit of the profile beyond its fields.
    edit: Callable[[JSON], None] = lambda p: None


RULES = [
    Rule("id-required", profile(id=None), "id is required"),
    Rule("purpose-known", profile(chargingProfilePurpose="X"), "chargingProfilePurpose"),
    Rule("kind-known", profile(chargingProfileKind="Sometimes"), "chargingProfileKind"),
    Rule("one-to-three-schedules", profile(chargingSchedule=[]), "1 to 3"),
    Rule("evse-not-negative", profile(), "evseId", evse_id=-1),
    Rule("stack-level-not-negative", profile(stackLevel=-1), "stackLevel"),
    Rule(
        "external-constraints-never-set",
        profile(chargingProfilePurpose="ChargingStationExternalConstraints"),
        "K01.FR.22",
        evse_id=0,
    ),
    Rule(
        "max-profile-on-evse-0",
        profile(chargingProfilePurpose="ChargingStationMaxProfile"),
        "evseId must be 0",
    ),
    Rule(
        "max-profile-not-relative",
        profile(chargingProfilePurpose="ChargingStationMaxProfile", chargingProfileKind="Relative"),
        "K01.FR.38",
        evse_id=0,
    ),
    Rule("tx-profile-on-an-evse", tx_profile(), "K01.FR.16", evse_id=0),
    Rule(
        "tx-profile-needs-transaction-id", profile(chargingProfilePurpose="TxProfile"), "K01.FR.03"
    ),
    Rule(
        "transaction-id-only-in-tx-profile", profile(transactionId="TX-1"), "only for a TxProfile"
    ),
    Rule("remote-start-profile-is-tx-profile", profile(), "F01.FR.09", remote_start=True),
    Rule("remote-start-without-transaction-id", tx_profile(), "F01.FR.11", remote_start=True),
    Rule(
        "absolute-needs-start-schedule", profile(), "K01.FR.40", edit=schedule(startSchedule=None)
    ),
    Rule("relative-without-start-schedule", profile(chargingProfileKind="Relative"), "K01.FR.41"),
    Rule(
        "recurring-needs-recurrency-kind",
        profile(chargingProfileKind="Recurring"),
        "recurrencyKind",
    ),
    Rule(
        "valid-from-before-valid-to",
        profile(validFrom="2026-12-05T00:00:00Z", validTo="2026-12-04T00:00:00Z"),
        "validFrom must be before validTo",
    ),
    Rule("rate-unit-a-or-w", profile(), "A or W", edit=schedule(chargingRateUnit="kW")),
    Rule("periods-start-at-0", profile(), "K01.FR.31", edit=first_period(startPeriod=60)),
    Rule("periods-ascending", profile(), "K01.FR.35", edit=period(startPeriod=0)),
    Rule("limit-not-negative", profile(), "limit", edit=period(limit=-1)),
    Rule("number-phases-1-to-3", profile(), "numberPhases", edit=period(numberPhases=4)),
    Rule(
        "phase-to-use-with-one-phase",
        profile(),
        "K01.FR.19",
        edit=period(phaseToUse=2, numberPhases=3),
    ),
    Rule(
        "tx-profile-for-an-active-transaction",
        tx_profile(transactionId="TX-9"),
        "K01.FR.09",
        FailedPrecondition,
    ),
    Rule(
        "tx-profile-on-its-transaction-s-evse",
        tx_profile(),
        "on EVSE 1, not on EVSE 2",
        FailedPrecondition,
        evse_id=2,
    ),
    Rule(
        "one-tx-profile-per-stack-level-and-transaction",
        tx_profile(id=2),
        "K01.FR.39",
        FailedPrecondition,
        state=with_profiles(held(1, tx_profile(id=7))),
    ),
    Rule(
        "one-profile-per-evse-purpose-stack-level",
        profile(id=2),
        "K01.FR.06",
        FailedPrecondition,
        state=with_profiles(held(1, profile(id=7))),
    ),
]


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_each_rule_refuses_what_breaks_it(rule: Rule) -> None:
    """One row per rule: the profile breaks that rule only, and the refusal names it."""
    p = copy.deepcopy({k: v for k, v in rule.profile.items() if v is not None})
    rule.edit(p)
    with pytest.raises(rule.error) as refused:
        check_profile(rule.evse_id, p, rule.state, remote_start=rule.remote_start)
    assert type(refused.value) is rule.error
    assert rule.words in str(refused.value)


@pytest.mark.parametrize(
    ("evse_id", "p", "state", "remote_start"),
    [
        (1, profile(), STATE, False),
        (0, profile(), STATE, False),  # a TxDefaultProfile for every EVSE
        (0, profile(chargingProfilePurpose="ChargingStationMaxProfile"), STATE, False),
        (1, tx_profile(), STATE, False),
        (
            1,
            profile(
                chargingProfileKind="Relative",
                chargingSchedule=[
                    {
                        "id": 1,
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}],
                    }
                ],
            ),
            STATE,
            False,
        ),
        (1, profile(chargingProfileKind="Recurring", recurrencyKind="Daily"), STATE, False),
        (1, {**tx_profile(), "transactionId": None}, STATE, True),
        (0, {**tx_profile(), "transactionId": None}, STATE, True),  # the station picks the EVSE
        # Replacing by id (K01.FR.05) is no conflict; another EVSE, purpose or stack level isn't
        # either, nor a profile valid at another time.
        (1, profile(), with_profiles(held(1, profile())), False),
        (1, profile(id=2), with_profiles(held(2, profile(id=7))), False),
        (1, profile(id=2), with_profiles(held(1, profile(id=7, stackLevel=1))), False),
        (1, profile(id=2), with_profiles(held(1, tx_profile(id=7))), False),
        (
            1,
            profile(id=2, validFrom="2026-12-05T00:00:00Z"),
            with_profiles(held(1, profile(id=7, validTo="2026-12-05T00:00:00Z"))),
            False,
        ),
        (
            1,
            profile(id=2),
            with_profiles(held(1, profile(id=7, validTo="2026-12-04T09:00:00Z"))),
            False,
        ),
        (1, tx_profile(id=2, stackLevel=1), with_profiles(held(1, tx_profile(id=7))), False),
        (
            1,
            profile(
                chargingSchedule=[
                    {
                        **profile()["chargingSchedule"][0],
                        "chargingSchedulePeriod": [
                            {"startPeriod": 0, "limit": 0, "numberPhases": 1, "phaseToUse": 2}
                        ],
                    }
                ]
            ),
            STATE,
            False,
        ),
    ],
    ids=[
        "tx-default-on-an-evse",
        "tx-default-on-every-evse",
        "max-profile",
        "tx-profile",
        "relative",
        "recurring",
        "remote-start",
        "remote-start-any-evse",
        "replace-by-id",
        "other-evse",
        "other-stack-level",
        "other-purpose",
        "valid-one-after-the-other",
        "the-other-expired",
        "tx-other-stack-level",
        "phase-to-use",
    ],
)
def test_valid_profiles_pass(
    evse_id: int, p: JSON, state: StationState, remote_start: bool
) -> None:
    check_profile(
        evse_id, {k: v for k, v in p.items() if v is not None}, state, remote_start=remote_start
    )


def test_instant_reads_ocpp_date_times() -> None:
    assert instant("2026-12-04T10:00:00Z") == NOW
    assert instant("2026-12-04T11:00:00+01:00") == NOW
    assert instant("2026-12-04T10:00:00") == NOW
    assert instant("yesterday") is None and instant(None) is None


# -- TxProfiles and their transactions -------------------------------------------------------


def test_resolve_drops_the_tx_profiles_of_ended_transactions() -> None:
    """A TxProfile lives as long as its transaction; others live on."""
    ended = TransactionInfo("TX-2", 1, False, NOW)
    stored = [
        held(1, tx_profile(id=1)),
        held(1, tx_profile(id=2, transactionId="TX-2")),
        held(0, profile(id=3)),
        held(1, tx_profile(id=4, transactionId="TX-UNKNOWN")),  # reported before its events
    ]
    kept, stale = resolve(stored, {"TX-1": TX1, "TX-2": ended})
    assert [p.id for p in kept] == [1, 3, 4]
    assert stale == [2]


def test_resolve_gives_a_remote_start_profile_its_transaction() -> None:
    """A RequestStartTransaction's TxProfile names no transaction: the one carrying its
    remoteStartId is its own (its id, its EVSE when the request named none), until it ends."""
    pending = held(0, {**tx_profile(id=5), "transactionId": None}, remote_start_id=42)
    pending = StoredProfile(0, "CSO", {k: v for k, v in pending.profile.items() if v}, NOW, 42)
    kept, stale = resolve([pending], {})
    assert kept == [pending] and stale == []
    started = TransactionInfo("TX-7", 2, True, NOW, remote_start_id=42)
    [p], stale = resolve([pending], {"TX-7": started})
    assert (p.evse_id, p.transaction_id, stale) == (2, "TX-7", [])
    ended = TransactionInfo("TX-7", 2, False, NOW, remote_start_id=42)
    assert resolve([pending], {"TX-7": ended}) == ([], [5])


# -- filters, clearing, reports ------------------------------------------------------------


STORED = [
    held(0, profile(id=1, chargingProfilePurpose="ChargingStationMaxProfile")),
    held(0, profile(id=2)),
    held(1, profile(id=3, stackLevel=1)),
    held(1, tx_profile(id=4)),
    held(2, profile(id=5), source="EMS"),
    held(0, profile(id=6, chargingProfilePurpose="ChargingStationExternalConstraints"), "SO"),
]


@pytest.mark.parametrize(
    ("where", "ids"),
    [
        (ProfileFilter(), [1, 2, 3, 4, 5, 6]),
        (ProfileFilter(evse_id=0), [1, 2, 6]),
        (ProfileFilter(evse_id=1), [3, 4]),
        (ProfileFilter(purpose="TxDefaultProfile"), [2, 3, 5]),
        (ProfileFilter(stack_level=1), [3]),
        (ProfileFilter(source="EMS"), [5]),
        (ProfileFilter(evse_id=1, purpose="TxProfile", stack_level=0, source="CSO"), [4]),
    ],
)
def test_profile_filter(where: ProfileFilter, ids: list[int]) -> None:
    assert [p.id for p in STORED if where.matches(p)] == ids


@pytest.mark.parametrize(
    ("request_", "ids"),
    [
        ({"chargingProfileId": 3}, [3]),
        ({"chargingProfileId": 3, "chargingProfileCriteria": {"evseId": 0}}, [3]),  # id first
        ({"chargingProfileCriteria": {"evseId": 0}}, [1, 2]),
        ({"chargingProfileCriteria": {"chargingProfilePurpose": "TxDefaultProfile"}}, [2, 3, 5]),
        ({"chargingProfileCriteria": {"stackLevel": 1}}, [3]),
        ({"chargingProfileCriteria": {"evseId": 1, "stackLevel": 0}}, [4]),
        ({}, [1, 2, 3, 4, 5]),  # everything but the external constraint
        ({"chargingProfileId": 6}, []),
    ],
)
def test_clear_criteria(request_: JSON, ids: list[int]) -> None:
    """K10: by id, else every criterion given; never an external constraint."""
    criteria = ClearCriteria.of(request_)
    assert [p.id for p in STORED if criteria.matches(p)] == ids


@pytest.mark.parametrize(
    ("request_", "ids"),
    [
        ({"requestId": 1, "chargingProfile": {}}, [1, 2, 3, 4, 5, 6]),
        ({"requestId": 1, "evseId": 0, "chargingProfile": {}}, [1, 2, 6]),
        ({"requestId": 1, "chargingProfile": {"chargingProfileId": [2, 5]}}, [2, 5]),
        ({"requestId": 1, "evseId": 1, "chargingProfile": {"chargingProfileId": [2, 3]}}, [3]),
        ({"requestId": 1, "chargingProfile": {"chargingProfilePurpose": "TxProfile"}}, [4]),
        ({"requestId": 1, "chargingProfile": {"stackLevel": 1}}, [3]),
        ({"requestId": 1, "chargingProfile": {"chargingLimitSource": ["EMS", "SO"]}}, [5, 6]),
    ],
)
def test_report_criteria(request_: JSON, ids: list[int]) -> None:
    """K09: the EVSE (absent: all; 0: the station's own), then the ids, else every criterion."""
    criteria = ReportCriteria.of(request_)
    assert [p.id for p in STORED if criteria.matches(p)] == ids


def test_a_complete_report_leaves_out_what_the_station_no_longer_holds() -> None:
    """Reconciling: what matches the request, no part listed and was known before the request
    left is gone; what a part listed (reported_by), what does not match, and what was recorded
    after the request left (newer than the station's report) stay."""
    asked = NOW - datetime.timedelta(minutes=1)
    before = asked - datetime.timedelta(minutes=5)
    stored = [
        held(1, profile(id=1), updated_at=before),  # not reported: gone
        held(1, profile(id=2), updated_at=NOW, reported_by=9),  # reported by this request
        held(1, profile(id=3), updated_at=before, reported_by=8),  # an older report's: gone
        held(2, profile(id=4), updated_at=before),  # another EVSE: not asked for
        held(1, profile(id=5), updated_at=NOW),  # set after the request left
    ]
    criteria = ReportCriteria.of({"requestId": 9, "evseId": 1, "chargingProfile": {}})
    assert stale_after_report(stored, criteria, 9, asked) == [1, 3]


# -- the composite's unit, the EV's needs ------------------------------------------------


def test_rate_unit_is_w_only_when_every_applicable_schedule_is() -> None:
    in_w = profile(chargingSchedule=[{**profile()["chargingSchedule"][0], "chargingRateUnit": "W"}])
    assert rate_unit([held(1, in_w), held(0, in_w)], 1) == "W"
    assert rate_unit([held(1, in_w), held(0, profile())], 1) == "A"
    assert rate_unit([held(1, in_w), held(2, profile())], 1) == "W"  # EVSE 2's does not apply
    assert rate_unit([], 1) == "A"


@pytest.mark.parametrize(
    ("needs", "status"),
    [
        (
            {
                "requestedEnergyTransfer": "AC_three_phase",
                "acChargingParameters": {
                    "energyAmount": 30000,
                    "evMinCurrent": 6,
                    "evMaxCurrent": 32,
                    "evMaxVoltage": 400,
                },
            },
            "Accepted",
        ),
        (
            {
                "requestedEnergyTransfer": "DC",
                "dcChargingParameters": {"evMaxCurrent": 200, "evMaxVoltage": 800},
            },
            "Accepted",
        ),
        ({"requestedEnergyTransfer": "DC"}, "Rejected"),
    ],
)
def test_needs_status(needs: JSON, status: str) -> None:
    """K15.FR.03/04/06: Accepted with the EV's AC or DC parameters, Rejected without."""
    answer, reason, info = needs_status(needs)
    assert answer == status
    assert (reason == "") == (status == "Accepted")
    assert len(reason) <= 20 and ("K15.FR.06" in info) == (status == "Rejected")


def _periods(*limits: tuple[int, float | None]) -> list[dict[str, Any]]:
    return [{"startPeriod": s, **({} if v is None else {"limit": v})} for s, v in limits]


@pytest.mark.parametrize(
    ("ev", "csms", "duration", "excess"),
    [
        (_periods((0, 16)), _periods((0, 16)), 3600, None),  # Equal is within.
        (_periods((0, 16.05)), _periods((0, 16)), 3600, None),  # Rounding slack.
        (_periods((0, 17)), _periods((0, 16)), 3600, (0, 17.0, 16.0)),
        (_periods((0, 10), (600, 20)), _periods((0, 16)), 3600, (600, 20.0, 16.0)),
        # The CSMS's limit drops while the EV keeps its rate.
        (_periods((0, 10)), _periods((0, 16), (900, 8)), 3600, (900, 10.0, 8.0)),
        # After the compared span: not compared.
        (_periods((0, 10)), _periods((0, 16), (900, 8)), 900, None),
        # A stretch the CSMS does not limit allows anything.
        (_periods((0, 100)), _periods((0, None), (600, 8)), 600, None),
    ],
)
def test_ev_schedule_excess(
    ev: list[dict[str, Any]],
    csms: list[dict[str, Any]],
    duration: int,
    excess: tuple[int, float, float] | None,
) -> None:
    schedule = {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": ev}
    assert ev_schedule_excess(schedule, csms, duration) == excess


def test_ev_schedule_excess_stops_at_the_ev_schedule_s_own_duration() -> None:
    schedule = {
        "id": 1,
        "chargingRateUnit": "A",
        "duration": 600,
        "chargingSchedulePeriod": _periods((0, 10)),
    }
    assert ev_schedule_excess(schedule, _periods((0, 16), (600, 8)), 3600) is None
