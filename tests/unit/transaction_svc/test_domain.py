"""Tests for transaction_svc.domain: energy from meter values and order-independent folding."""

from __future__ import annotations

import datetime
import functools
import itertools
from typing import Any

import pytest

from transaction_svc.domain import (
    Event,
    Reading,
    TransactionState,
    energy_readings,
    energy_wh,
    fold,
)

T0 = datetime.datetime(2026, 1, 1, 10, 0, tzinfo=datetime.UTC)


def at(minutes: int) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


def iso(minutes: int) -> str:
    return at(minutes).isoformat().replace("+00:00", "Z")


def mv(minutes: int, *sampled: dict[str, Any]) -> dict[str, Any]:
    return {"timestamp": iso(minutes), "sampledValue": list(sampled)}


@pytest.mark.parametrize(
    ("sampled", "expected"),
    [
        ({"value": 1000}, 1000.0),
        ({"value": 1000, "measurand": "Energy.Active.Import.Register"}, 1000.0),
        ({"value": 1.5, "unitOfMeasure": {"unit": "kWh"}}, 1500.0),
        ({"value": 25, "unitOfMeasure": {"multiplier": 2}}, 2500.0),
        ({"value": 2, "unitOfMeasure": {"unit": "kWh", "multiplier": 1}}, 20000.0),
        ({"value": 12345, "unitOfMeasure": {"unit": "Wh", "multiplier": -1}}, 1234.5),
    ],
)
def test_energy_reading_units(sampled: dict[str, Any], expected: float) -> None:
    """The register is read in Wh whatever unit (Wh, kWh) and multiplier it comes in."""
    [reading] = energy_readings([mv(0, sampled)])
    assert reading == Reading(at(0), pytest.approx(expected))


@pytest.mark.parametrize(
    "sampled",
    [
        {"value": 1000, "phase": "L1"},
        {"value": 1000, "measurand": "Energy.Active.Export.Register"},
        {"value": 16, "measurand": "Current.Import", "unitOfMeasure": {"unit": "A"}},
        {"value": 1000, "unitOfMeasure": {"unit": "varh"}},
    ],
)
def test_energy_readings_skip_other_values(sampled: dict[str, Any]) -> None:
    """Per-phase values, other measurands and non-energy units are not register readings."""
    assert energy_readings([mv(0, sampled)]) == []


def test_energy_readings_skip_meter_value_without_timestamp() -> None:
    """A meter value without a timestamp cannot be ordered and gives no reading."""
    assert energy_readings([{"sampledValue": [{"value": 1}]}]) == []


def test_energy_readings_of_several_meter_values() -> None:
    """Each meter value's timestamp goes with its sampled values."""
    readings = energy_readings(
        [mv(0, {"value": 1}, {"value": 9, "phase": "L2"}), mv(5, {"value": 2})]
    )
    assert readings == [Reading(at(0), 1.0), Reading(at(5), 2.0)]


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [(None, None, 0.0), (1000.0, None, 0.0), (1000.0, 1500.0, 500.0), (7.0, 7.0, 0.0)],
)
def test_energy_wh(first: float | None, last: float | None, expected: float) -> None:
    """Energy is the latest reading minus the earliest, 0 until there are both."""
    state = TransactionState(energy_first_wh=first, energy_last_wh=last)
    assert energy_wh(state) == expected


STARTED = Event(
    seq_no=0,
    event_type="Started",
    timestamp=at(0),
    trigger_reason="Authorized",
    meter_values=[mv(0, {"value": 1000, "context": "Transaction.Begin"})],
    evse_id=1,
    connector_id=2,
    id_token="CARD-1",
    id_token_type="ISO14443",
    charging_state="EVConnected",
    remote_start_id=7,
)
UPDATED = Event(
    seq_no=1,
    event_type="Updated",
    timestamp=at(10),
    trigger_reason="MeterValuePeriodic",
    meter_values=[mv(10, {"value": 1.2, "unitOfMeasure": {"unit": "kWh"}})],
    charging_state="Charging",
)
UPDATED_2 = Event(
    seq_no=2,
    event_type="Updated",
    timestamp=at(20),
    trigger_reason="ChargingStateChanged",
    evse_id=1,
    charging_state="SuspendedEV",
)
ENDED = Event(
    seq_no=3,
    event_type="Ended",
    timestamp=at(30),
    trigger_reason="StopAuthorized",
    meter_values=[mv(30, {"value": 15, "unitOfMeasure": {"unit": "Wh", "multiplier": 2}})],
    # A group member's card stopped it: the transaction keeps the card that started it.
    id_token="CARD-2",
    id_token_type="ISO14443",
    charging_state="Idle",
    stopped_reason="Local",
)
EVENTS = [STARTED, UPDATED, UPDATED_2, ENDED]


def fold_all(events: Any) -> TransactionState:
    return functools.reduce(fold, events, TransactionState())


def test_fold_full_transaction() -> None:
    """A Started/Updated/Ended transaction folds to what each rule says."""
    state = fold_all(EVENTS)
    assert not state.active
    assert (state.started_at, state.ended_at) == (at(0), at(30))
    assert (state.evse_id, state.connector_id) == (1, 2)
    assert (state.id_token, state.id_token_type) == ("CARD-1", "ISO14443")
    assert state.charging_state == "Idle"
    assert state.stopped_reason == "Local"
    assert state.remote_start_id == 7
    assert energy_wh(state) == pytest.approx(500.0)


def test_fold_is_order_independent() -> None:
    """Every arrival order of the events gives the same state."""
    expected = fold_all(EVENTS)
    for order in itertools.permutations(EVENTS):
        assert fold_all(order) == expected, [e.seq_no for e in order]


@pytest.mark.parametrize(
    ("events", "field", "expected"),
    [
        ([UPDATED], "active", True),
        ([UPDATED, UPDATED_2], "started_at", at(10)),
        ([UPDATED_2, UPDATED], "started_at", at(10)),
        ([UPDATED, STARTED], "started_at", at(0)),
        ([UPDATED], "ended_at", None),
        ([UPDATED, UPDATED_2], "charging_state", "SuspendedEV"),
        ([UPDATED_2, UPDATED], "charging_state", "SuspendedEV"),
        ([UPDATED], "evse_id", None),
        ([UPDATED_2, ENDED], "id_token", "CARD-2"),
        ([ENDED, STARTED], "id_token", "CARD-1"),
        # The evse without connectorId (seq 2) is completed by the one with it (seq 0).
        ([UPDATED_2], "connector_id", None),
        ([UPDATED_2, STARTED], "connector_id", 2),
        ([STARTED, UPDATED_2], "connector_id", 2),
        ([UPDATED], "remote_start_id", None),
    ],
)
def test_fold_rules(events: list[Event], field: str, expected: Any) -> None:
    """Each field follows its rule on partial event sets, in either order."""
    assert getattr(fold_all(events), field) == expected


def test_started_event_wins_over_an_earlier_timestamp() -> None:
    """started_at is the Started event's, even if a clock made another event look earlier."""
    early = Event(seq_no=5, event_type="Updated", timestamp=at(-60))
    assert fold_all([STARTED, early]).started_at == at(0)
    assert fold_all([early, STARTED]).started_at == at(0)


def test_stopped_reason_of_the_ended_event_wins() -> None:
    """A stoppedReason on an Updated event gives way to the Ended event's."""
    odd = Event(seq_no=9, event_type="Updated", timestamp=at(40), stopped_reason="Other")
    assert fold_all([odd, ENDED]).stopped_reason == "Local"
    assert fold_all([ENDED, odd]).stopped_reason == "Local"


def test_energy_tracks_earliest_and_latest_reading() -> None:
    """Energy comes from the earliest and latest readings by timestamp, not by arrival."""
    late = Event(
        seq_no=4, event_type="Updated", timestamp=at(5), meter_values=[mv(5, {"value": 1100})]
    )
    state = fold_all([ENDED, late, UPDATED])
    assert (state.energy_first_at, state.energy_first_wh) == (at(5), 1100.0)
    assert (state.energy_last_at, state.energy_last_wh) == (at(30), 1500.0)
    assert energy_wh(fold_all([ENDED, late, UPDATED, STARTED])) == pytest.approx(500.0)


def test_fold_without_news_returns_same_state() -> None:
    """An event that changes nothing leaves the state object as it was."""
    state = fold_all(EVENTS)
    quiet = Event(seq_no=1, event_type="Updated", timestamp=at(10))
    assert fold(state, quiet) is state
