"""Tests for transaction_svc.smart_charging.composite: the composite schedule (K08) from stacked
and combined charging profiles, against the rules of OCPP 2.0.1's Smart Charging chapter."""

from __future__ import annotations

import datetime
import json
import pathlib
from typing import Any

import hypothesis
import jsonschema
import ocpp
import pytest
from hypothesis import strategies as st

from transaction_svc.smart_charging.composite import composite_schedule

JSON = dict[str, Any]
UTC = datetime.UTC
T0 = datetime.datetime(2024, 1, 2, 10, 0, tzinfo=UTC)
T0_TEXT = "2024-01-02T10:00:00Z"


def profile(
    periods: list[tuple[int, float]] | list[JSON],
    purpose: str = "TxDefaultProfile",
    *,
    kind: str = "Absolute",
    start: str | None = T0_TEXT,
    stack: int = 0,
    unit: str = "A",
    duration: int | None = None,
    recurrency: str | None = None,
    valid_from: str | None = None,
    valid_to: str | None = None,
) -> JSON:
    """A ChargingProfileType of one schedule: ``periods`` as (startPeriod, limit) or whole."""
    schedule: JSON = {
        "id": 1,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            p if isinstance(p, dict) else {"startPeriod": p[0], "limit": p[1]} for p in periods
        ],
    }
    if kind != "Relative" and start is not None:
        schedule["startSchedule"] = start
    if duration is not None:
        schedule["duration"] = duration
    body: JSON = {
        "id": 1,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [schedule],
    }
    for key, value in [
        ("recurrencyKind", recurrency),
        ("validFrom", valid_from),
        ("validTo", valid_to),
    ]:
        if value is not None:
            body[key] = value
    return body


def compose(
    *profiles: tuple[int, JSON],
    evse: int = 1,
    start: datetime.datetime = T0,
    duration: int = 3600,
    unit: str = "A",
    **options: Any,
) -> JSON:
    """composite_schedule of ``profiles`` with the tests' defaults."""
    return composite_schedule(
        list(profiles), evse_id=evse, start=start, duration=duration, unit=unit, **options
    )


def limits(result: JSON) -> list[tuple[int, float | None]]:
    """The (startPeriod, limit) of a composite's periods; None where it has no limit."""
    return [(p["startPeriod"], p.get("limit")) for p in result["chargingSchedulePeriod"]]


# -- one profile -------------------------------------------------------------------------------


def test_a_single_absolute_profile() -> None:
    """An Absolute profile's periods from its startSchedule, the last one to the end."""
    result = compose((1, profile([(0, 16.0), (600, 8.0)])), duration=1200)
    assert result == {
        "evseId": 1,
        "duration": 1200,
        "scheduleStart": T0_TEXT,
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 16.0},
            {"startPeriod": 600, "limit": 8.0},
        ],
    }


def test_a_window_beginning_in_the_middle_of_a_period() -> None:
    """A window from inside a period starts with that period's limit; later periods move."""
    result = compose(
        (1, profile([(0, 16.0), (600, 8.0)])), start=T0 + datetime.timedelta(seconds=300)
    )
    assert limits(result) == [(0, 16.0), (300, 8.0)]


def test_a_schedule_ends_with_its_duration() -> None:
    """After the schedule's duration the profile limits nothing."""
    result = compose((1, profile([(0, 16.0)], duration=600)), duration=1200)
    assert limits(result) == [(0, 16.0), (600, None)]


def test_an_absolute_schedule_starting_later_limits_nothing_before() -> None:
    """Before its startSchedule an Absolute profile limits nothing."""
    result = compose((1, profile([(0, 16.0)], start="2024-01-02T10:10:00Z")), duration=1200)
    assert limits(result) == [(0, None), (600, 16.0)]


def test_valid_from_and_valid_to_bound_a_profile() -> None:
    """A profile counts from validFrom (inclusive) to validTo (exclusive)."""
    bounded = profile(
        [(0, 16.0)], valid_from="2024-01-02T10:05:00Z", valid_to="2024-01-02T10:10:00Z"
    )
    assert limits(compose((1, bounded), duration=1200)) == [(0, None), (300, 16.0), (600, None)]


def test_no_profile_is_no_limit() -> None:
    """Without a profile one period from 0 says nothing limits; no_limit fills it."""
    assert compose()["chargingSchedulePeriod"] == [{"startPeriod": 0}]
    assert limits(compose(no_limit=32)) == [(0, 32.0)]


def test_no_limit_fills_every_gap() -> None:
    """With no_limit every stretch no profile limits carries that limit, merged with equals."""
    result = compose(
        (1, profile([(0, 16.0), (300, 32.0)], start="2024-01-02T10:05:00Z", duration=900)),
        duration=1800,
        no_limit=32.0,
    )
    assert limits(result) == [(0, 32.0), (300, 16.0), (600, 32.0)]


def test_a_zero_duration_gives_the_limit_in_force() -> None:
    """A composite of 0 seconds still says the limit at its start."""
    result = compose((1, profile([(0, 16.0), (600, 8.0)])), start=T0, duration=0)
    assert result["duration"] == 0 and limits(result) == [(0, 16.0)]


def test_the_schedule_start_is_in_whole_seconds_utc() -> None:
    """scheduleStart is UTC, the start's second (no fraction); a naive start is UTC."""
    cest = datetime.timezone(datetime.timedelta(hours=2))
    start = datetime.datetime(2024, 1, 2, 12, 0, 5, 987_654, tzinfo=cest)
    assert compose(start=start)["scheduleStart"] == "2024-01-02T10:00:05Z"
    naive = datetime.datetime(2024, 1, 2, 10, 0, 5, 500_000)
    assert compose(start=naive)["scheduleStart"] == "2024-01-02T10:00:05Z"


# -- stacking within a purpose -----------------------------------------------------------------


def test_the_higher_stack_level_wins() -> None:
    """Two valid profiles of one purpose: the higher stackLevel's limit, even when higher."""
    low = profile([(0, 6.0)], stack=0)
    high = profile([(0, 10.0)], stack=1)
    assert limits(compose((1, low), (1, high))) == [(0, 10.0)]


def test_a_lower_stack_level_shows_through_where_the_higher_has_no_period() -> None:
    """Before the higher profile's schedule starts and after its duration the lower leads."""
    low = profile([(0, 10.0)], stack=0)
    high = profile([(0, 6.0)], stack=1, start="2024-01-02T10:05:00Z", duration=600)
    assert limits(compose((1, low), (1, high))) == [(0, 10.0), (300, 6.0), (900, 10.0)]


def test_a_lower_stack_level_shows_through_outside_the_higher_validity() -> None:
    """Outside the higher profile's validFrom/validTo the lower one leads."""
    low = profile([(0, 10.0)], stack=0)
    high = profile(
        [(0, 6.0)], stack=1, valid_from="2024-01-02T10:10:00Z", valid_to="2024-01-02T10:20:00Z"
    )
    result = compose((1, low), (1, high), duration=1800)
    assert limits(result) == [(0, 10.0), (600, 6.0), (1200, 10.0)]


def test_a_tie_in_stack_level_takes_the_lower_limit() -> None:
    """Two valid profiles of one purpose and stackLevel (K01.FR.06 forbids it): the lower."""
    assert limits(compose((1, profile([(0, 10.0)])), (1, profile([(0, 8.0)])))) == [(0, 8.0)]


# -- combining purposes ------------------------------------------------------------------------


def test_a_tx_profile_overrules_the_tx_default_profile() -> None:
    """During a transaction its TxProfile replaces the TxDefaultProfile, of any stack level."""
    default = profile([(0, 6.0)], stack=5)
    tx = profile([(0, 20.0)], "TxProfile", stack=0)
    assert limits(compose((1, default), (1, tx), transaction_start=T0)) == [(0, 20.0)]


def test_a_tx_profile_counts_only_during_a_transaction() -> None:
    """Without transaction_start a TxProfile is left out."""
    default = profile([(0, 6.0)])
    tx = profile([(0, 20.0)], "TxProfile")
    assert limits(compose((1, default), (1, tx))) == [(0, 6.0)]


def test_the_tx_default_profile_shows_through_after_the_tx_profile_ends() -> None:
    """Where the TxProfile's schedule has ended the TxDefaultProfile limits again."""
    default = profile([(0, 6.0)])
    tx = profile([(0, 20.0)], "TxProfile", duration=600)
    result = compose((1, default), (1, tx), transaction_start=T0)
    assert limits(result) == [(0, 20.0), (600, 6.0)]


def test_the_charging_station_max_profile_caps_each_evse() -> None:
    """The station's ChargingStationMaxProfile (evseId 0) is a ceiling for every EVSE."""
    max_profile = profile([(0, 10.0)], "ChargingStationMaxProfile", start="2024-01-02T09:00:00Z")
    default = profile([(0, 16.0), (600, 8.0)])
    assert limits(compose((0, max_profile), (1, default), duration=1200)) == [
        (0, 10.0),
        (600, 8.0),
    ]
    assert limits(compose((0, max_profile), (1, default), evse=2)) == [(0, 10.0)]


def test_external_constraints_of_the_station_and_of_the_evse_both_cap() -> None:
    """ChargingStationExternalConstraints on evseId 0 and on the EVSE are limits of their own
    scope, whatever their stack levels."""
    station = profile([(0, 20.0)], "ChargingStationExternalConstraints", stack=1)
    evse = profile([(0, 12.0)], "ChargingStationExternalConstraints", stack=0)
    assert limits(compose((0, station), (1, evse))) == [(0, 12.0)]
    assert limits(compose((0, station), (1, evse), evse=2)) == [(0, 20.0)]


def test_the_grid_connection_is_the_station_wide_limits() -> None:
    """evseId 0: ChargingStationMaxProfile and the station's external constraints; the
    TxDefaultProfiles of the station and its EVSEs, and the EVSEs' constraints, are not its."""
    profiles = [
        (0, profile([(0, 32.0)], "ChargingStationMaxProfile")),
        (
            0,
            profile(
                [(0, 20.0)], "ChargingStationExternalConstraints", start="2024-01-02T10:10:00Z"
            ),
        ),
        (1, profile([(0, 2.0)], "ChargingStationExternalConstraints")),
        (0, profile([(0, 6.0)])),
        (1, profile([(0, 6.0)])),
        (1, profile([(0, 6.0)], "TxProfile")),
    ]
    result = compose(*profiles, evse=0, transaction_start=T0)
    assert result["evseId"] == 0
    assert limits(result) == [(0, 32.0), (600, 20.0)]


def test_a_tx_default_profile_on_evse_0_applies_to_each_evse() -> None:
    """A TxDefaultProfile installed on evseId 0 limits every EVSE."""
    station_default = profile([(0, 10.0)])
    assert limits(compose((0, station_default), evse=1)) == [(0, 10.0)]
    assert limits(compose((0, station_default), evse=2)) == [(0, 10.0)]


def test_tx_default_profiles_of_the_station_and_the_evse_stack_as_one() -> None:
    """The station's and the EVSE's TxDefaultProfiles stack by stackLevel; at the same level
    (which a station refuses, K01.FR.52/53) the EVSE's own wins."""
    station = profile([(0, 10.0)], stack=1)
    own = profile([(0, 16.0)], stack=1)
    assert limits(compose((0, station), (1, own))) == [(0, 16.0)]
    higher = profile([(0, 8.0)], stack=2, duration=600)
    assert limits(compose((0, higher), (1, own))) == [(0, 8.0), (600, 16.0)]


def test_profiles_of_other_evses_are_ignored() -> None:
    """Only the EVSE's own profiles and the station's (evseId 0) count."""
    result = compose((2, profile([(0, 6.0)])), (2, profile([(0, 6.0)], "TxProfile")))
    assert limits(result) == [(0, None)]


# -- recurring and relative --------------------------------------------------------------------


def test_recurring_daily_across_midnight() -> None:
    """A Daily profile restarts every day at its startSchedule's time, across midnight."""
    daily = profile(
        [(0, 32.0), (8 * 3600, 10.0)],  # 22:00-06:00 32 A, then 10 A
        kind="Recurring",
        recurrency="Daily",
        start="2024-01-01T22:00:00Z",
    )
    result = compose(
        (1, daily), start=datetime.datetime(2024, 1, 2, 20, tzinfo=UTC), duration=12 * 3600
    )
    assert limits(result) == [(0, 10.0), (7200, 32.0), (36000, 10.0)]


def test_a_daily_recurrence_with_a_duration_leaves_gaps() -> None:
    """A Daily profile whose duration is shorter than a day limits only that part of each."""
    nightly = profile(
        [(0, 16.0)],
        kind="Recurring",
        recurrency="Daily",
        start="2024-01-01T22:00:00Z",
        duration=8 * 3600,
    )
    start = datetime.datetime(2024, 1, 2, 20, tzinfo=UTC)
    result = compose((1, nightly), start=start, duration=12 * 3600)
    assert limits(result) == [(0, None), (7200, 16.0), (36000, None)]


def test_recurring_weekly() -> None:
    """A Weekly ChargingStationMaxProfile from a Saturday: 0 A over the weekend, then 32 A."""
    weekly = profile(
        [(0, 0.0), (2 * 86400, 32.0)],
        "ChargingStationMaxProfile",
        kind="Recurring",
        recurrency="Weekly",
        start="2024-01-06T00:00:00Z",  # a Saturday
    )
    friday_noon = datetime.datetime(2024, 1, 12, 12, tzinfo=UTC)
    result = compose((0, weekly), evse=0, start=friday_noon, duration=3 * 86400)
    assert limits(result) == [(0, 32.0), (43200, 0.0), (43200 + 2 * 86400, 32.0)]


def test_a_recurring_profile_starts_recurring_at_its_start_schedule() -> None:
    """Before its first startSchedule a Recurring profile limits nothing."""
    daily = profile([(0, 16.0)], kind="Recurring", recurrency="Daily", start="2024-01-03T00:00:00Z")
    start = datetime.datetime(2024, 1, 2, 12, tzinfo=UTC)
    assert limits(compose((1, daily), start=start, duration=86400)) == [(0, None), (43200, 16.0)]


def test_a_relative_profile_starts_with_the_transaction() -> None:
    """A Relative profile's schedule starts at the transaction's start."""
    relative = profile([(0, 32.0), (3600, 6.0)], kind="Relative")
    tx_start = T0 - datetime.timedelta(seconds=1800)
    result = compose((1, relative), transaction_start=tx_start)
    assert limits(result) == [(0, 32.0), (1800, 6.0)]


def test_a_relative_profile_without_a_transaction_starts_with_the_window() -> None:
    """Without a transaction a Relative profile starts at ``start``, as if one began then."""
    relative = profile([(0, 32.0), (3600, 6.0)], kind="Relative")
    assert limits(compose((1, relative), duration=7200)) == [(0, 32.0), (3600, 6.0)]


def test_a_schedule_without_start_schedule_is_relative_to_the_start_of_charging() -> None:
    """startSchedule: "If absent the schedule will be relative to start of charging"."""
    absolute = profile([(0, 32.0), (600, 6.0)], start=None)
    tx_start = T0 - datetime.timedelta(seconds=300)
    assert limits(compose((1, absolute), transaction_start=tx_start)) == [(0, 32.0), (300, 6.0)]


# Worked examples of EVerest libocpp's doc/common/smart_charging_profiles.md ("Profile
# validity"), a station implementation that passes the OCTT; where it says "no charging" (its
# default limit) this module says no limit.


def test_everest_relative_profile_bounded_by_its_validity() -> None:
    """A Relative 32 A-then-6 A profile valid 12:00-20:00: a PEV plugged in at 10:00 gets no
    limit until 12:00, then 6 A; one plugged in at 19:50 gets 32 A for 10 minutes."""
    relative = profile(
        [(0, 32.0), (3600, 6.0)],
        kind="Relative",
        valid_from="2024-01-01T12:00:00Z",
        valid_to="2024-01-01T20:00:00Z",
    )
    ten = datetime.datetime(2024, 1, 1, 10, tzinfo=UTC)
    result = compose((1, relative), start=ten, duration=12 * 3600, transaction_start=ten)
    assert limits(result) == [(0, None), (7200, 6.0), (36000, None)]
    late = datetime.datetime(2024, 1, 1, 19, 50, tzinfo=UTC)
    result = compose((1, relative), start=late, transaction_start=late)
    assert limits(result) == [(0, 32.0), (600, None)]


def test_everest_daily_recurring_from_the_previous_day() -> None:
    """A Daily profile from 2024-01-01T12:00, 32 A for an hour then 6 A: at 2024-01-10T11:50,
    6 A (the previous day's) for 10 minutes, then 32 A from 12:00."""
    daily = profile(
        [(0, 32.0), (3600, 6.0)], kind="Recurring", recurrency="Daily", start="2024-01-01T12:00:00Z"
    )
    start = datetime.datetime(2024, 1, 10, 11, 50, tzinfo=UTC)
    assert limits(compose((1, daily), start=start)) == [(0, 6.0), (600, 32.0)]


# -- units and phases --------------------------------------------------------------------------


def test_watts_asked_in_amperes() -> None:
    """A = W / (230 V × phases), 3 phases unless stated, rounded down to one decimal."""
    watts = profile([(0, 11040.0)], "ChargingStationMaxProfile", unit="W")
    assert limits(compose((0, watts))) == [(0, 16.0)]
    one_phase = profile([{"startPeriod": 0, "limit": 3680.0, "numberPhases": 1}], unit="W")
    assert compose((1, one_phase))["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16.0, "numberPhases": 1}
    ]
    assert limits(compose((1, profile([(0, 10000.0)], unit="W")))) == [(0, 14.4)]  # 14.49


def test_amperes_asked_in_watts() -> None:
    """W = A × voltage × phases."""
    amperes = profile([(0, 16.0)])
    assert limits(compose((1, amperes), unit="W")) == [(0, 11040.0)]
    assert limits(compose((1, amperes), unit="W", voltage=120.0)) == [(0, 5760.0)]
    one_phase = profile([{"startPeriod": 0, "limit": 16.1, "numberPhases": 1}])
    assert limits(compose((1, one_phase), unit="W")) == [(0, 3703.0)]


def test_limits_in_both_units_are_compared_in_the_unit_asked() -> None:
    """A 10 A TxDefaultProfile under a 4600 W maximum (6.6 A on 3 phases): 6.6 A, or 4600 W."""
    max_watts = profile([(0, 4600.0)], "ChargingStationMaxProfile", unit="W")
    amperes = profile([(0, 10.0)])
    assert limits(compose((0, max_watts), (1, amperes))) == [(0, 6.6)]
    assert limits(compose((0, max_watts), (1, amperes), unit="W")) == [(0, 4600.0)]


def test_a_power_limit_shared_by_fewer_phases_allows_more_current() -> None:
    """11040 W on the one phase a TxDefaultProfile allows is 48 A: its 32 A is the limit."""
    max_watts = profile([(0, 11040.0)], "ChargingStationMaxProfile", unit="W")
    one_phase = profile([{"startPeriod": 0, "limit": 32.0, "numberPhases": 1}])
    assert compose((0, max_watts), (1, one_phase))["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 32.0, "numberPhases": 1}
    ]


def test_number_phases_is_the_fewest_stated_and_phase_to_use_follows() -> None:
    """numberPhases: the lowest the applying periods state; phaseToUse with one phase."""
    max_profile = profile(
        [{"startPeriod": 0, "limit": 32.0, "numberPhases": 3}], "ChargingStationMaxProfile"
    )
    default = profile([{"startPeriod": 0, "limit": 16.0, "numberPhases": 1, "phaseToUse": 2}])
    assert compose((0, max_profile), (1, default))["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16.0, "numberPhases": 1, "phaseToUse": 2}
    ]


def test_equal_consecutive_periods_are_merged() -> None:
    """Consecutive periods of the same limit and phases are one."""
    max_profile = profile([(0, 10.0)], "ChargingStationMaxProfile")
    default = profile([(0, 12.0), (600, 16.0), (1200, 8.0)])
    result = compose((0, max_profile), (1, default), duration=1800)
    assert limits(result) == [(0, 10.0), (1200, 8.0)]
    split = [profile([(0, 8.0)], duration=600), profile([(0, 8.0)], start="2024-01-02T10:10:00Z")]
    assert limits(compose(*((1, p) for p in split))) == [(0, 8.0)]


# -- the OCTT's expectation --------------------------------------------------------------------


def test_octt_tc_k_41_cs() -> None:
    """OCTT TC_K_41_CS (K08): a ChargingStationMaxProfile of 10 A, a TxDefaultProfile of 5
    periods over 304 s and a TxProfile of 5 periods over 264 s, all from one startSchedule;
    the composite of 400 s asked 4 s later. The profiles and the expected periods are those of
    EVerest libocpp's tests/lib/ocpp/v2/test_composite_schedule.cpp (OCTT_TC_K_41_CS), whose
    output the OCTT accepts; a station sending 46 A and 136 A as two periods of 10 A fails the
    OCTT ("Length of chargingSchedulePeriod is not as expected", MicroOcpp issue #360)."""
    base = "2024-08-21T12:24:36Z"

    def phases3(pairs: list[tuple[int, float]]) -> list[JSON]:
        return [{"startPeriod": s, "limit": limit, "numberPhases": 3} for s, limit in pairs]

    max_profile = profile(
        phases3([(0, 10.0)]), "ChargingStationMaxProfile", start=base, duration=86404
    )
    default = profile(
        phases3([(0, 6.0), (60, 10.0), (120, 8.0), (180, 15.0), (260, 8.0)]),
        start=base,
        duration=304,
        valid_from=base,
        valid_to="2024-08-21T12:31:25Z",
    )
    tx = profile(
        phases3([(0, 8.0), (50, 11.0), (140, 16.0), (200, 6.0), (240, 12.0)]),
        "TxProfile",
        start=base,
        duration=264,
    )
    start = datetime.datetime(2024, 8, 21, 12, 24, 40, tzinfo=UTC)
    result = compose(
        (0, max_profile), (1, default), (1, tx), start=start, duration=400, transaction_start=start
    )
    assert result["scheduleStart"] == "2024-08-21T12:24:40Z" and result["duration"] == 400
    assert result["chargingSchedulePeriod"] == phases3(
        [(0, 8.0), (46, 10.0), (196, 6.0), (236, 10.0), (260, 8.0), (300, 10.0)]
    )


# -- shape and arguments -----------------------------------------------------------------------

_RESPONSE_SCHEMA = json.loads(
    (
        pathlib.Path(ocpp.__file__).parent
        / "v201"
        / "schemas"
        / "GetCompositeScheduleResponse.json"
    ).read_text(encoding="utf-8")
)


def test_the_result_is_an_ocpp_composite_schedule_with_no_limit() -> None:
    """With no_limit the result is a schema-valid OCPP 2.0.1 CompositeScheduleType."""
    default = profile([{"startPeriod": 0, "limit": 16.0, "numberPhases": 1, "phaseToUse": 1}])
    for result in [
        compose(no_limit=32.0),
        compose((1, default), (0, profile([(0, 8.0)], duration=60)), no_limit=32.0, unit="W"),
    ]:
        jsonschema.validate({"status": "Accepted", "schedule": result}, _RESPONSE_SCHEMA)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"unit": "kW"}, "unit must be A or W"),
        ({"duration": -1}, "duration must not be negative"),
        ({"evse": -1}, "evseId must not be negative"),
        ({"voltage": 0.0}, "voltage must be more than 0"),
    ],
)
def test_bad_arguments_are_refused(arguments: JSON, message: str) -> None:
    """An argument out of range is a ValueError."""
    with pytest.raises(ValueError, match=message):
        compose(**arguments)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"unit": "kW"}, "chargingRateUnit must be A or W"),
        ({"valid_from": "yesterday"}, "validFrom is not a date-time"),
        ({"start": "10 o'clock"}, "startSchedule is not a date-time"),
    ],
)
def test_a_profile_not_of_ocpp_shape_is_refused(fields: JSON, message: str) -> None:
    """A profile whose unit or date-times are not OCPP's is a ValueError."""
    with pytest.raises(ValueError, match=message):
        compose((1, profile([(0, 16.0)], **fields)))


# -- properties --------------------------------------------------------------------------------


@st.composite
def schedules(draw: st.DrawFn, purpose: str) -> JSON:
    """A profile of ``purpose``: Absolute, Recurring Daily or Relative, 1-4 periods."""
    starts = sorted(draw(st.sets(st.integers(1, 7200), max_size=3)))
    periods = [(s, float(draw(st.integers(0, 640))) / 10) for s in [0, *starts]]
    kind = draw(st.sampled_from(["Absolute", "Recurring", "Relative"]))
    offset = draw(st.integers(-7200, 7200))
    start = (T0 + datetime.timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return profile(
        periods,
        purpose,
        kind=kind,
        start=start,
        stack=draw(st.integers(0, 3)),
        duration=draw(st.none() | st.integers(1, 10800)),
        recurrency="Daily" if kind == "Recurring" else None,
    )


def max_limit_at(max_profile: JSON, t: int) -> float | None:
    """The limit of an Absolute ChargingStationMaxProfile starting at T0, ``t`` seconds after
    T0 (an evaluation independent of the module's)."""
    schedule = max_profile["chargingSchedule"][0]
    if t < 0 or ("duration" in schedule and t >= schedule["duration"]):
        return None
    limit: float = [
        p["limit"] for p in schedule["chargingSchedulePeriod"] if p["startPeriod"] <= t
    ][-1]
    return limit


@hypothesis.given(
    max_profile=schedules("ChargingStationMaxProfile").map(
        lambda p: {
            **p,
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [{**p["chargingSchedule"][0], "startSchedule": T0_TEXT}],
        }
    ),
    others=st.lists(
        st.tuples(
            st.sampled_from([0, 1]),
            st.sampled_from(
                ["TxDefaultProfile", "TxProfile", "ChargingStationExternalConstraints"]
            ).flatmap(schedules),
        ),
        max_size=4,
    ),
    duration=st.integers(0, 14400),
    in_transaction=st.booleans(),
)
def test_the_composite_never_exceeds_the_charging_station_max_profile(
    max_profile: JSON, others: list[tuple[int, JSON]], duration: int, in_transaction: bool
) -> None:
    """At every instant where the ChargingStationMaxProfile limits, the composite has a limit
    no higher; the periods start at 0, ascend within the duration and never repeat a limit."""
    tx_start = T0 - datetime.timedelta(seconds=600) if in_transaction else None
    result = compose((0, max_profile), *others, duration=duration, transaction_start=tx_start)
    periods = result["chargingSchedulePeriod"]
    starts = [p["startPeriod"] for p in periods]
    assert starts[0] == 0 and starts == sorted(set(starts))
    assert all(s < duration for s in starts[1:])
    assert all(a != b for a, b in zip(periods, periods[1:], strict=False))
    boundaries = {0, *starts}
    for p in max_profile["chargingSchedule"][0]["chargingSchedulePeriod"]:
        boundaries.add(p["startPeriod"])
    for t in sorted(b for b in boundaries if b < max(duration, 1)):
        cap = max_limit_at(max_profile, t)
        if cap is None:
            continue
        limit = [p.get("limit") for p in periods if p["startPeriod"] <= t][-1]
        assert limit is not None and limit <= cap
