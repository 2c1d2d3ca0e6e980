"""Transactions as a fold of their events: pure code, no I/O, no protobuf.

Stations send a transaction's events in seqNo order when online, but an offline backlog may
arrive late, interleaved or repeated. Every rule here is therefore order-independent: folding a
set of events in any order gives the same :class:`TransactionState`. Values are OCPP JSON
spellings ("Ended", "Charging", "Energy.Active.Import.Register") as the database keeps them.

Two rules keep one bad reading or one stray event from spoiling a transaction, and they are
decided when an event is folded, against what was folded before (so for them the arrival order
counts; in seqNo order, a station's normal order, they are exact):

* **Plausible readings** (:func:`fold_flagging`). An Energy.Active.Import.Register reading counts
  only if it is dated at most :data:`CLOCK_TOLERANCE` after its receipt ("future") and after the
  transaction's start (the Started event's timestamp) less that tolerance ("beforeStart"), and
  is not lower than a counted reading dated before it nor higher than one dated after it
  ("backwards"), nor further from a counted reading than :data:`MAX_POWER_W` delivers in the
  time between them, that time taken as at least :data:`JUMP_WINDOW` ("jump": a correctly dated
  reading of 99,999,899 Wh a minute after 100 Wh). A reading that fails is kept in its event and
  reported, and left out of the energy, which therefore never goes negative nor jumps. The
  bound is loose on purpose: simulators and test tools (OCTT) compress a session into seconds,
  so within :data:`JUMP_WINDOW` anything a charger could deliver in it counts (333 kWh, more
  than any car battery takes).
* **Nothing after the end**: an event numbered after the transaction's Ended event (the one of
  lowest seqNo) is stored but changes nothing, and its readings are reported ("afterEnd"), as is
  a reading dated after the end (beyond the tolerance).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

__all__ = [
    "CLOCK_TOLERANCE",
    "JUMP_WINDOW",
    "MAX_POWER_W",
    "ENERGY_MEASURAND",
    "STATE_FIELDS",
    "Event",
    "Reading",
    "TransactionState",
    "energy_readings",
    "energy_wh",
    "event_digest",
    "fold",
    "fold_flagging",
    "Implausible",
    "state_values",
    "wants_remote_start",
    "with_remote_start",
]

# OCPP 2.0.1 SampledValueType: a value without measurand is this measurand.
ENERGY_MEASURAND = "Energy.Active.Import.Register"
_UNIT_SCALE = {"Wh": 1.0, "kWh": 1000.0}

#: How far a reading may be dated after its receipt, or before the transaction's start or after
#: its end: stations' clocks drift between two time synchronisations.
CLOCK_TOLERANCE = datetime.timedelta(minutes=15)
#: No charger delivers more (the Megawatt Charging System's 3.75 MW, rounded up).
MAX_POWER_W = 4_000_000.0
#: The shortest time the power between two readings is taken over (see the module docstring).
JUMP_WINDOW = datetime.timedelta(minutes=5)

STARTED, ENDED = "Started", "Ended"
CHARGING, EV_CONNECTED, IDLE = "Charging", "EVConnected", "Idle"
# What an Ended event says when the EV is no longer there: the stoppedReason of a cable pulled
# out (or an EV moved away from an inductive pad), and the triggers of the EV leaving.
_EV_GONE_REASON = "EVDisconnected"
_EV_GONE_TRIGGERS = frozenset({"EVCommunicationLost", "EVDeparted"})


@dataclasses.dataclass(frozen=True, slots=True)
class Reading:
    """One register reading: when, and the register in Wh."""

    at: datetime.datetime
    wh: float


@dataclasses.dataclass(frozen=True, slots=True)
class Implausible:
    """A reading left out of the energy, and why: "future", "beforeStart", "afterEnd",
    "backwards" or "jump" (see the module docstring)."""

    seq_no: int
    at: datetime.datetime
    wh: float
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """What one TransactionEvent says about its transaction; None/"" where it says nothing."""

    seq_no: int
    event_type: str
    timestamp: datetime.datetime
    trigger_reason: str = ""
    offline: bool = False
    # OCPP JSON of the event's meterValue list.
    meter_values: Sequence[Mapping[str, Any]] = ()
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str = ""
    id_token_type: str = ""
    charging_state: str = ""
    stopped_reason: str = ""
    remote_start_id: int | None = None


_EVENT_VALUES = operator.attrgetter(*(f.name for f in dataclasses.fields(Event)))


def event_digest(event: Event) -> str:
    """A hash of all that ``event`` says: a station's retry of an event gives the same one, a
    different event under the same seqNo another (32 hex digits; one pass over the event)."""
    return hashlib.blake2b(repr(_EVENT_VALUES(event)).encode(), digest_size=16).hexdigest()


class TransactionState(NamedTuple):
    """The aggregate; the *_seq fields say which event a value came from, so order cannot matter.

    A named tuple: immutable like a frozen dataclass, and built from a row's values (a group
    commit builds two per event: read, then folded) in a tenth of the time."""

    active: bool = True
    # True once the Started event is folded in; until then started_at is the earliest timestamp.
    start_event_received: bool = False
    started_at: datetime.datetime | None = None
    ended_at: datetime.datetime | None = None
    # From the event of lowest seqNo that carries an evse.
    evse_id: int | None = None
    connector_id: int | None = None
    evse_seq: int | None = None
    # From the event of lowest seqNo that carries an idToken: the one that started it, not a
    # group member's that stopped it.
    id_token: str = ""
    id_token_type: str = ""
    id_token_seq: int | None = None
    # From the event of highest seqNo that carries one, as it stands at the transaction's end
    # once that has come (see fold).
    charging_state: str = ""
    charging_state_seq: int | None = None
    # The Ended event says the EV is gone (stoppedReason EVDisconnected, or triggerReason
    # EVCommunicationLost or EVDeparted).
    ended_ev_gone: bool = False
    stopped_reason: str = ""
    # seqNo of the Ended event (the lowest, if a station sent two): events after it change nothing.
    ended_seq: int | None = None
    # From the event of lowest seqNo that carries one, and that seqNo: the idToken the CSMS sent
    # in this RequestStartTransaction counts as carried by that event (with_remote_start).
    remote_start_id: int | None = None
    remote_start_seq: int | None = None
    # The counted (plausible) register readings of earliest and of latest timestamp.
    energy_first_at: datetime.datetime | None = None
    energy_first_wh: float | None = None
    energy_last_at: datetime.datetime | None = None
    energy_last_wh: float | None = None


#: TransactionState's fields, in their order (the transactions table's columns too).
STATE_FIELDS: tuple[str, ...] = TransactionState._fields
#: A state's (or a row's) values of STATE_FIELDS, as one tuple, read in C.
state_values = operator.attrgetter(*STATE_FIELDS)
_FIELD_INDEX = {name: i for i, name in enumerate(STATE_FIELDS)}


def _replace(state: TransactionState, changes: Mapping[str, Any]) -> TransactionState:
    """``state._replace(**changes)`` for the fold, without its keyword handling."""
    values = list(state)
    for name, value in changes.items():
        values[_FIELD_INDEX[name]] = value
    return TransactionState._make(values)


def _parse_time(value: str) -> datetime.datetime:
    when = datetime.datetime.fromisoformat(value)
    if when.tzinfo is None:  # RFC 3339 always has an offset; be lenient with stations
        when = when.replace(tzinfo=datetime.UTC)
    return when.astimezone(datetime.UTC)


def _wh(sampled: Mapping[str, Any]) -> float:
    unit = sampled.get("unitOfMeasure") or {}
    scale = _UNIT_SCALE.get(unit.get("unit", "Wh"))
    if scale is None:
        raise ValueError(f"unit {unit.get('unit')!r} is not an energy unit")
    return float(sampled["value"]) * scale * 10.0 ** int(unit.get("multiplier", 0))


def energy_readings(meter_values: Iterable[Mapping[str, Any]]) -> list[Reading]:
    """The Energy.Active.Import.Register readings (all phases together) in OCPP meterValue JSON.

    Per-phase values are skipped: the register of the whole meter is the one without ``phase``.
    A value in a unit that is not Wh or kWh, or without a timestamp to order it by, is skipped
    too rather than guessed.
    """
    readings = []
    for meter_value in meter_values:
        if "timestamp" not in meter_value:
            continue
        at = _parse_time(meter_value["timestamp"])
        for sampled in meter_value.get("sampledValue", ()):
            if sampled.get("measurand", ENERGY_MEASURAND) != ENERGY_MEASURAND:
                continue
            if "phase" in sampled:
                continue
            try:
                readings.append(Reading(at, _wh(sampled)))
            except ValueError:
                continue
    return readings


def energy_wh(state: TransactionState) -> float:
    """Energy delivered so far: latest register reading minus earliest, 0 without two."""
    if state.energy_first_wh is None or state.energy_last_wh is None:
        return 0.0
    return state.energy_last_wh - state.energy_first_wh


def fold(
    state: TransactionState, event: Event, received_at: datetime.datetime | None = None
) -> TransactionState:
    """``state`` with ``event`` folded in (see :func:`fold_flagging`)."""
    return fold_flagging(state, event, received_at)[0]


def fold_flagging(
    state: TransactionState, event: Event, received_at: datetime.datetime | None = None
) -> tuple[TransactionState, list[Implausible]]:
    """``state`` with ``event`` folded in, and the event's readings left out as implausible.

    Commutative but for the two rules of the module docstring. ``received_at``: when the event
    arrived (None: readings are not checked against it). The caller folds each event once
    (events are stored idempotently on their seqNo).
    """
    s = state
    if s.ended_seq is not None and event.seq_no > s.ended_seq:
        return state, [
            Implausible(event.seq_no, r.at, r.wh, "afterEnd")
            for r in energy_readings(event.meter_values)
        ]
    changes: dict[str, Any] = {}

    if event.event_type == STARTED:
        changes.update(start_event_received=True, started_at=event.timestamp)
    elif not s.start_event_received and (s.started_at is None or event.timestamp < s.started_at):
        changes["started_at"] = event.timestamp
    if event.event_type == ENDED and (s.ended_seq is None or event.seq_no < s.ended_seq):
        gone = event.stopped_reason == _EV_GONE_REASON or event.trigger_reason in _EV_GONE_TRIGGERS
        changes.update(
            active=False, ended_at=event.timestamp, ended_ev_gone=gone, ended_seq=event.seq_no
        )

    if event.evse_id is not None:
        if s.evse_seq is None or event.seq_no < s.evse_seq:
            # A connectorId missing here but known from a later event of the same EVSE is kept.
            keep = s.connector_id if s.evse_id == event.evse_id else None
            changes.update(
                evse_id=event.evse_id,
                connector_id=event.connector_id if event.connector_id is not None else keep,
                evse_seq=event.seq_no,
            )
        elif s.connector_id is None and s.evse_id == event.evse_id:
            changes["connector_id"] = event.connector_id

    if event.id_token and (s.id_token_seq is None or event.seq_no < s.id_token_seq):
        changes.update(
            id_token=event.id_token, id_token_type=event.id_token_type, id_token_seq=event.seq_no
        )
    if event.charging_state and (
        s.charging_state_seq is None or event.seq_no > s.charging_state_seq
    ):
        changes.update(charging_state=event.charging_state, charging_state_seq=event.seq_no)
    if not changes.get("active", s.active):
        reported = changes.get("charging_state", s.charging_state)
        at_end = _state_at_end(reported, changes.get("ended_ev_gone", s.ended_ev_gone))
        if at_end != reported:
            changes["charging_state"] = at_end
    # Only the Ended event should carry one; if others do, the Ended event's wins.
    if event.stopped_reason and (event.event_type == ENDED or not s.stopped_reason):
        changes["stopped_reason"] = event.stopped_reason
    if event.remote_start_id is not None and (
        s.remote_start_seq is None or event.seq_no < s.remote_start_seq
    ):
        changes.update(remote_start_id=event.remote_start_id, remote_start_seq=event.seq_no)

    flagged: list[Implausible] = []
    readings = energy_readings(event.meter_values)
    if readings:
        start = s.started_at if s.start_event_received else None
        if event.event_type == STARTED:
            start = event.timestamp
        end = changes.get("ended_at", s.ended_at)
        first = (s.energy_first_at, s.energy_first_wh)
        last = (s.energy_last_at, s.energy_last_wh)
        for reading in sorted(readings, key=lambda r: (r.at, r.wh)):
            reason = _implausible(reading, first, last, start, end, received_at)
            if reason:
                flagged.append(Implausible(event.seq_no, reading.at, reading.wh, reason))
                continue
            if first[0] is None or (reading.at, reading.wh) < first:
                first = (reading.at, reading.wh)
            if last[0] is None or (reading.at, reading.wh) > last:
                last = (reading.at, reading.wh)
        if first != (s.energy_first_at, s.energy_first_wh):
            changes.update(energy_first_at=first[0], energy_first_wh=first[1])
        if last != (s.energy_last_at, s.energy_last_wh):
            changes.update(energy_last_at=last[0], energy_last_wh=last[1])

    return (_replace(state, changes) if changes else state), flagged


_Point = tuple[datetime.datetime | None, float | None]


_JUMP_SECONDS = JUMP_WINDOW.total_seconds()


def _implausible(
    reading: Reading,
    first: _Point,
    last: _Point,
    start: datetime.datetime | None,
    end: datetime.datetime | None,
    received_at: datetime.datetime | None,
) -> str:
    """Why ``reading`` cannot count against the counted readings ``first`` and ``last``; ""."""
    at, wh = reading.at, reading.wh
    if received_at is not None and at > received_at + CLOCK_TOLERANCE:
        return "future"
    if start is not None and at < start - CLOCK_TOLERANCE:
        return "beforeStart"
    if end is not None and at > end + CLOCK_TOLERANCE:
        return "afterEnd"
    for point in (first, last):
        other_at, other_wh = point
        if other_at is None or other_wh is None:
            continue
        seconds = (at - other_at).total_seconds()
        if (seconds < 0 and wh > other_wh) or (seconds > 0 and wh < other_wh):
            return "backwards"
        hours = max(abs(seconds), _JUMP_SECONDS) / 3600
        if abs(wh - other_wh) > MAX_POWER_W * hours:
            return "jump"
    return ""


def _state_at_end(reported: str, ev_gone: bool) -> str:
    """The charging state of an ended transaction, from the one last reported.

    A station sends chargingState only when it changed (OCPP 2.0.1: "required when state has
    changed"), so the state at the end is the Ended event's, or else the last one reported before
    it. Two readings of that would contradict the Ended event, and are corrected:

    * Charging: energy flows only within a transaction (and the Ended event may leave the state
      out although it changed). The EV is still plugged in, no energy flowing: EVConnected.
    * anything but Idle when the Ended event says the EV is gone (stoppedReason EVDisconnected,
      the cable pulled out; triggerReason EVCommunicationLost or EVDeparted, as OCPP's own
      cable-disconnect flow sends it): there is no connection between EV and EVSE, Idle.

    Nothing reported and nothing said about the EV stays unknown (""). This depends only on the
    state of highest seqNo and the Ended event, so it holds in every arrival order: an offline
    backlog delivering the Ended event before an earlier Charging event still ends here.
    """
    if ev_gone:
        return IDLE
    return EV_CONNECTED if reported == CHARGING else reported


def wants_remote_start(state: TransactionState) -> bool:
    """Whether the idToken of the RequestStartTransaction with this transaction's remoteStartId
    would be its idToken: no idToken carried by the event with the remoteStartId or before it."""
    return state.remote_start_seq is not None and (
        state.id_token_seq is None or state.id_token_seq > state.remote_start_seq
    )


def with_remote_start(
    state: TransactionState, id_token: str, id_token_type: str
) -> TransactionState:
    """``state`` with the idToken the CSMS sent in the RequestStartTransaction of its
    remoteStartId, as if the event that carried the remoteStartId had carried it too (a station
    that omits it there still started the transaction for it). The idToken of an event before
    that one, or of that event itself, stays; a later event's (a group member's card stopping the
    transaction) gives way. Order-independent with :func:`fold`, whenever the remote start is
    known: before, between or after the events."""
    if not wants_remote_start(state):
        return state
    return _replace(
        state,
        {
            "id_token": id_token,
            "id_token_type": id_token_type,
            "id_token_seq": state.remote_start_seq,
        },
    )
