"""Tests for transaction_svc.domain: energy from meter values and order-independent folding."""

from __future__ import annotations

import datetime
import functools
import itertools
from typing import Any

import pytest

from transaction_svc.domain import (
    Event,
    Implausible,
    Reading,
    TransactionState,
    energy_readings,
    energy_wh,
    fold,
    fold_flagging,
    wants_remote_start,
    with_remote_start,
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
        seq_no=2, event_type="Updated", timestamp=at(5), meter_values=[mv(5, {"value": 1100})]
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


# -- the charging state of an ended transaction ------------------------------------------------


def _event(spec: str) -> Event:
    """``"seq type trigger [chargingState] [stoppedReason]"``, "-" for a field left out."""
    seq, event_type, trigger, *rest = spec.split()
    charging, stopped = (*rest, "-", "-")[:2]
    return Event(
        seq_no=int(seq),
        event_type=event_type,
        timestamp=at(int(seq)),
        trigger_reason=trigger,
        charging_state="" if charging == "-" else charging,
        stopped_reason="" if stopped == "-" else stopped,
    )


START = "0 Started Authorized EVConnected"
CHARGING = "1 Updated ChargingStateChanged Charging"


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # The state the Ended event reports.
        ([START, CHARGING, "3 Ended StopAuthorized EVConnected Local"], "EVConnected"),
        ([START, CHARGING, "3 Ended EVCommunicationLost Idle EVDisconnected"], "Idle"),
        ([START, CHARGING, "3 Ended StopAuthorized SuspendedEVSE"], "SuspendedEVSE"),
        # Else (chargingState is sent only when it changed) the last one reported before it.
        (
            [START, "2 Updated ChargingStateChanged SuspendedEV", "3 Ended RemoteStop"],
            "SuspendedEV",
        ),
        (
            [START, CHARGING, "2 Updated ChargingStateChanged SuspendedEV", "3 Ended Deauthorized"],
            "SuspendedEV",
        ),
        ([START, "3 Ended StopAuthorized - Local"], "EVConnected"),
        # Except Charging: no energy flows once the transaction ended, the EV is still plugged in.
        ([START, CHARGING, "3 Ended StopAuthorized - Local"], "EVConnected"),
        ([START, CHARGING, "3 Ended StopAuthorized"], "EVConnected"),
        ([START, CHARGING, "3 Ended RemoteStop - Remote"], "EVConnected"),
        ([START, CHARGING, "3 Ended EnergyLimitReached - EnergyLimitReached"], "EVConnected"),
        ([START, CHARGING, "3 Ended StopAuthorized Charging Local"], "EVConnected"),
        # Except when the Ended event says the EV is gone: then nothing is connected, Idle.
        ([START, CHARGING, "3 Ended EVCommunicationLost - EVDisconnected"], "Idle"),
        ([START, CHARGING, "3 Ended EVCommunicationLost"], "Idle"),
        ([START, CHARGING, "3 Ended EVDeparted"], "Idle"),
        ([START, CHARGING, "3 Ended AbnormalCondition - EVDisconnected"], "Idle"),
        ([START, CHARGING, "3 Ended EVCommunicationLost Charging EVDisconnected"], "Idle"),
        ([START, "3 Ended EVCommunicationLost - EVDisconnected"], "Idle"),
        ([START, "2 Updated Trigger SuspendedEV", "3 Ended EVDeparted - Local"], "Idle"),
        (["0 Started Authorized", "3 Ended EVDeparted"], "Idle"),
        # An event numbered after the Ended one cannot make it Charging again.
        (
            [START, "3 Ended StopAuthorized EVConnected", "4 Updated Trigger Charging"],
            "EVConnected",
        ),
        # A later state reported before the end, arriving after the Ended event, still counts.
        ([CHARGING, "3 Ended StopAuthorized", "2 Updated Trigger SuspendedEVSE"], "SuspendedEVSE"),
        # Nothing reported and nothing said about the EV: unknown, not made up.
        (["0 Started Authorized", "3 Ended StopAuthorized"], ""),
        # Not ended: Charging is what it is.
        ([START, CHARGING], "Charging"),
    ],
)
def test_charging_state_at_the_end(events: list[str], expected: str) -> None:
    """An ended transaction is never Charging, whatever order the events arrive in (an offline
    backlog may bring the Ended event before earlier ones)."""
    for order in itertools.permutations([_event(e) for e in events]):
        state = fold_all(order)
        assert state.charging_state == expected, [e.seq_no for e in order]


# -- the idToken of a transaction started by RequestStartTransaction ---------------------------

REMOTE = ("APP-7", "Central")  # the idToken the CSMS sent in RequestStartTransaction


def _op_fold(ops: Any) -> TransactionState:
    """Fold events and the remote start in this order as transaction_svc does: once the remote
    start is known, a transaction that wants its idToken gets it after every event."""
    state, known = TransactionState(), False
    for op in ops:
        if op == "remote start":
            known = True
        else:
            state = fold(state, op)
        if known:
            state = with_remote_start(state, *REMOTE)
    return state


def _tx(seq: int, event_type: str, *, token: str = "", remote: int | None = None) -> Event:
    return Event(
        seq_no=seq,
        event_type=event_type,
        timestamp=at(seq),
        id_token=token,
        id_token_type="ISO14443" if token else "",
        remote_start_id=remote,
    )


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # The Started event omits the idToken: the CSMS's, whoever stops the transaction.
        ([_tx(0, "Started", remote=7)], REMOTE),
        ([_tx(0, "Started", remote=7), _tx(1, "Updated"), _tx(2, "Ended")], REMOTE),
        ([_tx(0, "Started", remote=7), _tx(2, "Ended", token="OTHER")], REMOTE),
        # The remoteStartId comes with an Updated event (the cable was plugged in first).
        ([_tx(0, "Started"), _tx(1, "Updated", remote=7), _tx(3, "Ended")], REMOTE),
        ([_tx(0, "Started"), _tx(1, "Updated", remote=7), _tx(3, "Ended", token="X")], REMOTE),
        # The station's own idToken, on that event or before it, is the transaction's.
        ([_tx(0, "Started", token="CARD", remote=7)], ("CARD", "ISO14443")),
        ([_tx(0, "Started", token="CARD"), _tx(1, "Updated", remote=7)], ("CARD", "ISO14443")),
        # A transaction not started remotely never takes one.
        ([_tx(0, "Started"), _tx(1, "Ended")], ("", "")),
        ([_tx(0, "Started"), _tx(1, "Ended", token="X")], ("X", "ISO14443")),
    ],
)
def test_remote_start_id_token(events: list[Event], expected: tuple[str, str]) -> None:
    """The idToken of a remotely started transaction, in any order of events and remote start."""
    for order in itertools.permutations([*events, "remote start"]):
        state = _op_fold(order)
        assert (state.id_token, state.id_token_type) == expected, order


def test_remote_start_id_token_is_ranked_by_the_event_that_carried_the_id() -> None:
    """remoteStartId from the event of lowest seqNo carrying one; the remote start's idToken
    counts as carried by it."""
    state = fold_all([_tx(3, "Updated", remote=8), _tx(1, "Updated", remote=7)])
    assert (state.remote_start_id, state.remote_start_seq) == (7, 1)
    assert wants_remote_start(state)
    filled = with_remote_start(state, *REMOTE)
    assert (filled.id_token, filled.id_token_type, filled.id_token_seq) == (*REMOTE, 1)
    assert not wants_remote_start(filled)
    assert with_remote_start(filled, "LATER", "Central") is filled
    assert not wants_remote_start(TransactionState())


def _reading_event(seq: int, minutes: int, wh: float, kind: str = "Updated") -> Event:
    return Event(
        seq_no=seq,
        event_type=kind,
        timestamp=at(minutes),
        trigger_reason="MeterValuePeriodic",
        meter_values=[mv(minutes, {"value": wh})],
    )


def test_meter_going_backwards_is_left_out_and_flagged() -> None:
    """A register lower than an earlier one (a meter swapped or reset) never makes the energy
    negative: it is reported as implausible and the energy counts the others."""
    state, flagged = TransactionState(), []
    for event in [
        _reading_event(0, 0, 5000, "Started"),
        _reading_event(1, 10, 10),
        _reading_event(2, 20, 5400),
    ]:
        state, out = fold_flagging(state, event, received_at=at(30))
        flagged += out
    assert energy_wh(state) == pytest.approx(400.0)
    assert flagged == [Implausible(1, at(10), 10.0, "backwards")]


def test_reading_dated_far_in_the_future_is_left_out() -> None:
    """A reading dated 2099 (a station's clock gone wrong) does not make the energy jump."""
    far = Event(
        seq_no=1,
        event_type="Updated",
        timestamp=at(10),
        meter_values=[
            {"timestamp": "2099-01-01T00:00:00Z", "sampledValue": [{"value": 99_999_999}]}
        ],
    )
    state = fold(TransactionState(), _reading_event(0, 0, 100, "Started"), at(0))
    state, flagged = fold_flagging(state, far, received_at=at(10))
    assert energy_wh(state) == 0.0
    assert [f.reason for f in flagged] == ["future"]
    # Within the tolerance a station's clock may run ahead.
    ahead = _reading_event(2, 10 + 14, 200)
    assert energy_wh(fold(state, ahead, received_at=at(10))) == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (_reading_event(1, -60, 50), "beforeStart"),
        # Higher than a reading dated after it.
        (_reading_event(1, -10, 150), "backwards"),
    ],
)
def test_implausible_readings(event: Event, reason: str) -> None:
    """Before the start (beyond the tolerance) or contradicting a counted reading: left out."""
    state = fold(TransactionState(), _reading_event(0, 0, 100, "Started"), at(0))
    after, flagged = fold_flagging(state, event, received_at=at(20))
    assert [f.reason for f in flagged] == [reason]
    assert (after.energy_first_wh, after.energy_last_wh) == (100.0, 100.0)


def test_a_correctly_dated_jump_is_left_out_and_flagged() -> None:
    """One reading 99,999,899 Wh above the last, dated a minute later (more power than any
    charger delivers), used to become the energy; it is reported instead, and the readings
    after it count."""
    state, flagged = TransactionState(), []
    for event in [
        _reading_event(0, 0, 100, "Started"),
        _reading_event(1, 1, 99_999_999),
        _reading_event(2, 2, 300),
        _reading_event(3, 3, 400, "Ended"),
    ]:
        state, out = fold_flagging(state, event, received_at=at(5))
        flagged += out
    assert flagged == [Implausible(1, at(1), 99_999_999.0, "jump")]
    assert energy_wh(state) == pytest.approx(300.0)


@pytest.mark.parametrize(
    ("seconds", "wh"),
    [
        # A megawatt charger's hour, and a simulator's session compressed into one second.
        (3600, 1_000_000 + 100),
        (1, 50_000 + 100),
    ],
)
def test_fast_but_possible_readings_count(seconds: int, wh: float) -> None:
    """The bound is a power no charger reaches (4 MW, MCS's 3.75 MW rounded up, over at least
    5 minutes), so fast chargers and compressed test sessions (OCTT, simulators) count."""
    state = fold(TransactionState(), _reading_event(0, 0, 100, "Started"), at(0))
    when = T0 + datetime.timedelta(seconds=seconds)
    event = Event(
        seq_no=1,
        event_type="Updated",
        timestamp=when,
        meter_values=[{"timestamp": when.isoformat(), "sampledValue": [{"value": wh}]}],
    )
    after, flagged = fold_flagging(state, event, received_at=when)
    assert flagged == []
    assert energy_wh(after) == pytest.approx(wh - 100)


def test_plausible_readings_in_any_order_count() -> None:
    """Consistent readings all count, whatever order their events arrive in."""
    events = [
        _reading_event(0, 0, 1000, "Started"),
        _reading_event(1, 10, 1200),
        _reading_event(2, 20, 1300),
        _reading_event(3, 30, 1500, "Ended"),
    ]
    for order in itertools.permutations(events):
        state, flagged = TransactionState(), []
        for event in order:
            state, out = fold_flagging(state, event, received_at=at(40))
            flagged += out
        assert flagged == []
        assert energy_wh(state) == pytest.approx(500.0)


def test_events_after_ended_change_nothing() -> None:
    """An event numbered after the Ended event changes neither the energy nor the end, and its
    readings are reported."""
    ended = fold_all([STARTED, UPDATED, ENDED])
    stray = Event(
        seq_no=4,
        event_type="Updated",
        timestamp=at(40),
        trigger_reason="MeterValuePeriodic",
        meter_values=[mv(40, {"value": 9000})],
        charging_state="Charging",
    )
    again = Event(
        seq_no=5, event_type="Ended", timestamp=at(50), stopped_reason="Other", trigger_reason="X"
    )
    state, flagged = fold_flagging(ended, stray, at(40))
    assert state is ended
    assert flagged == [Implausible(4, at(40), 9000.0, "afterEnd")]
    assert fold(ended, again) is ended
    assert energy_wh(ended) == pytest.approx(500.0)


def test_the_first_ended_event_ends() -> None:
    """Of two Ended events, the one of lowest seqNo ends the transaction, in either order."""
    later = Event(seq_no=7, event_type="Ended", timestamp=at(70), stopped_reason="Other")
    for order in ([STARTED, ENDED, later], [STARTED, later, ENDED]):
        state = fold_all(order)
        assert (state.ended_at, state.stopped_reason, state.ended_seq) == (at(30), "Local", 3)
