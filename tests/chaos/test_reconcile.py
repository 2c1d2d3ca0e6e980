"""chaos.reconcile: the stations' ledgers against stored rows, on hand-made tables."""

from __future__ import annotations

import collections

from bench.station import TxEventRecord
from chaos.reconcile import (
    StoredEvent,
    StoredTransaction,
    reconcile,
    seq_order_violations,
)


def _rec(
    seq: int, acked: bool = True, sent: int = 1, kind: str = "", tx: str = "T1"
) -> TxEventRecord:
    event_type = "Started" if seq == 0 else "Updated"
    r = TxEventRecord("S1", tx, seq, event_type, 100.0 + seq, False, {}, sent=sent)
    r.acknowledged = acked
    r.outcomes = collections.Counter({"acknowledged": int(acked)})
    if kind:
        r.outcomes[kind] += sent - int(acked)
    return r


def _ev(
    seq: int, order: int | None = None, tx: str = "T1", energy: float | None = None
) -> StoredEvent:
    event_type = "Started" if seq == 0 else "Updated"
    wh = 100.0 + seq if energy is None else energy
    return StoredEvent("S1", tx, seq, event_type, False, wh, seq if order is None else order)


def _tx(first: float = 100.0, last: float = 102.0, tx: str = "T1") -> StoredTransaction:
    return StoredTransaction("S1", tx, True, True, first, last)


def test_all_acknowledged_and_stored_once() -> None:
    """Three events sent, acknowledged and stored: nothing lost, duplicated or wrong."""
    v = reconcile([_rec(0), _rec(1), _rec(2)], [_ev(0), _ev(1), _ev(2)], [_tx()])
    assert (v.sent, v.acknowledged, v.stored, v.duplicated, v.lost) == (3, 3, 3, 0, 0)
    assert v.ok and v.lines()[:5] == [
        "sent: 3",
        "acknowledged: 3",
        "stored: 3",
        "duplicated: 0",
        "lost: 0",
    ]


def test_acknowledged_not_stored_is_lost() -> None:
    """A CALLRESULT for an event the database does not hold counts as lost and fails."""
    v = reconcile([_rec(0), _rec(1)], [_ev(0)], [_tx(100.0, 100.0)])
    assert v.lost == 1 and not v.ok


def test_stored_twice_is_duplicated() -> None:
    """Two rows for one (station, transactionId, seqNo) count as one duplicated event."""
    v = reconcile([_rec(0)], [_ev(0), _ev(0, order=1)], [_tx(100.0, 100.0)])
    assert v.stored == 1 and v.duplicated == 1 and not v.ok


def test_stored_unacknowledged_is_fine() -> None:
    """An event stored whose answer never came is reported, not failed."""
    v = reconcile(
        [_rec(0), _rec(1, acked=False, sent=2, kind="closed")],
        [_ev(0), _ev(1)],
        [_tx(100.0, 101.0)],
    )
    assert v.stored_unacknowledged == 1 and v.ok
    assert v.failures == {"closed": 2} and v.stations_with_failures == 1 and v.resent == 1


def test_stored_content_differs_is_mismatched() -> None:
    """A stored reading that is not the one sent under that seqNo fails the run."""
    v = reconcile([_rec(0)], [_ev(0, energy=999.0)], [_tx(999.0, 999.0)])
    assert v.mismatched == 1 and not v.ok


def test_aggregate_must_agree_with_its_events() -> None:
    """A transaction row missing, doubled or with a wrong last reading is an aggregate error."""
    assert reconcile([_rec(0)], [_ev(0)], []).aggregate_errors
    assert reconcile([_rec(0)], [_ev(0)], [_tx(100.0, 100.0)] * 2).aggregate_errors
    assert reconcile([_rec(0), _rec(1)], [_ev(0), _ev(1)], [_tx(100.0, 100.0)]).aggregate_errors


def test_a_transaction_no_station_sent_is_an_aggregate_error() -> None:
    """A transaction row that no ledger names (for 1.6: a second transactionId given to a
    re-sent StartTransaction, never learnt by the station) fails the run."""
    v = reconcile([_rec(0)], [_ev(0)], [_tx(100.0, 100.0), _tx(100.0, 100.0, tx="T2")])
    assert not v.ok
    assert v.aggregate_errors == ["transaction ('S1', 'T2') that no station sent"]


def test_seq_order_violations() -> None:
    """Received out of seqNo order, or with a gap, per transaction."""
    assert seq_order_violations([_ev(0), _ev(1), _ev(0, tx="T2"), _ev(1, tx="T2")]) == []
    assert seq_order_violations([_ev(0, order=1), _ev(1, order=0)])
    assert seq_order_violations([_ev(0), _ev(2)])
