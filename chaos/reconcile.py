"""What the stations saw against what transaction_svc stored.

:func:`reconcile` is pure: it gets the stations' ledgers (one :class:`~bench.station.TxEventRecord`
per TransactionEvent) and the rows read back from the database, and says

- ``sent``: events sent at least once; ``acknowledged``: events that got a CALLRESULT;
- ``stored``: distinct events stored; ``duplicated``: events stored more than once;
- ``lost``: acknowledged events not stored (a CALLRESULT the CSMS did not honour);
- ``mismatched``: stored events that are not what the station sent under that (station,
  transactionId, seqNo) (other type, reading or offline flag), or that no station sent;
- aggregate errors: a transaction row missing, repeated, no station's (for 1.6: a second
  transactionId for a re-sent StartTransaction), or disagreeing with the events stored for it
  (active/ended, Started received, first and last energy reading);
- failures: every send that got no CALLRESULT, by kind. A CALLERROR or a closed connection is
  an honest failure; ``timeout`` (no answer at all) is counted apart.

:func:`read_database` reads the rows with SQLAlchemy straight from transaction_svc's database.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from bench.station import TxEventRecord

__all__ = ["StoredEvent", "StoredTransaction", "Verdict", "reconcile", "read_database"]

Key = tuple[str, str, int]


@dataclasses.dataclass(frozen=True)
class StoredEvent:
    """One row of transaction_events (the columns the comparison needs)."""

    station: str
    tx_id: str
    seq_no: int
    event_type: str
    offline: bool
    energy_wh: float | None  # the Energy.Active.Import.Register reading it carries
    received_order: int  # its position when all rows are ordered by received_at


@dataclasses.dataclass(frozen=True)
class StoredTransaction:
    """One row of transactions (the columns the comparison needs)."""

    station: str
    tx_id: str
    active: bool
    start_event_received: bool
    energy_first_wh: float | None
    energy_last_wh: float | None


@dataclasses.dataclass
class Verdict:
    sent: int = 0
    send_attempts: int = 0
    acknowledged: int = 0
    stored: int = 0
    duplicated: int = 0
    lost: int = 0
    mismatched: int = 0
    stored_unacknowledged: int = 0
    unacknowledged_not_stored: int = 0
    resent: int = 0  # events sent more than once
    dropped: int = 0
    failures: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    stations_with_failures: int = 0
    aggregate_errors: list[str] = dataclasses.field(default_factory=list)
    examples: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing acknowledged lost, nothing doubled, nothing stored wrong."""
        return (
            self.duplicated == 0
            and self.lost == 0
            and self.mismatched == 0
            and not self.aggregate_errors
        )

    def lines(self) -> list[str]:
        """The report; the first five lines are the contract (``sent: N`` ... ``lost: N``)."""
        failures = ", ".join(f"{k}={v}" for k, v in sorted(self.failures.items())) or "none"
        out = [
            f"sent: {self.sent}",
            f"acknowledged: {self.acknowledged}",
            f"stored: {self.stored}",
            f"duplicated: {self.duplicated}",
            f"lost: {self.lost}",
            f"mismatched: {self.mismatched}",
            f"send attempts: {self.send_attempts} (events re-sent: {self.resent})",
            f"stored, never acknowledged: {self.stored_unacknowledged} (fine: the answer was "
            "lost, not the event)",
            f"neither acknowledged nor stored: {self.unacknowledged_not_stored}",
            f"dropped (refused by a CALLERROR other than InternalError): {self.dropped}",
            f"failed sends: {failures}; stations with a failed send: {self.stations_with_failures}",
            f"aggregate errors: {len(self.aggregate_errors)}",
        ]
        out += [f"  {e}" for e in self.aggregate_errors[:10]]
        out += [f"  e.g. {e}" for e in self.examples[:10]]
        return out


def reconcile(
    ledger: Iterable[TxEventRecord],
    events: Sequence[StoredEvent],
    transactions: Sequence[StoredTransaction],
) -> Verdict:
    """Compare the stations' ledgers with the stored rows (see the module docstring)."""
    v = Verdict()
    seen: dict[Key, TxEventRecord] = {}
    failing_stations: set[str] = set()
    ledger_list = list(ledger)
    for r in ledger_list:
        seen[(r.station, r.tx_id, r.seq_no)] = r
        if r.sent:
            v.sent += 1
        v.send_attempts += r.sent
        v.resent += r.sent > 1
        v.acknowledged += r.acknowledged
        v.dropped += r.dropped
        for kind, n in r.outcomes.items():
            if kind != "acknowledged":
                v.failures[kind] += n
                failing_stations.add(r.station)
    v.stations_with_failures = len(failing_stations)

    copies = collections.Counter((e.station, e.tx_id, e.seq_no) for e in events)
    v.stored = len(copies)
    v.duplicated = sum(1 for n in copies.values() if n > 1)
    for key, record in seen.items():
        if record.acknowledged and key not in copies:
            v.lost += 1
            v.examples.append(f"lost: {key} sent {record.sent}x, {dict(record.outcomes)}")
        elif not record.acknowledged and key in copies:
            v.stored_unacknowledged += 1
        elif not record.acknowledged and record.sent:
            v.unacknowledged_not_stored += 1

    by_tx: dict[tuple[str, str], list[StoredEvent]] = collections.defaultdict(list)
    for e in events:
        by_tx[(e.station, e.tx_id)].append(e)
        sent = seen.get((e.station, e.tx_id, e.seq_no))
        if sent is None:
            v.mismatched += 1
            v.examples.append(f"stored but never sent: {(e.station, e.tx_id, e.seq_no)}")
        elif (
            sent.event_type != e.event_type
            or sent.offline != e.offline
            or e.energy_wh is None
            or abs(sent.energy_wh - e.energy_wh) > 0.05
        ):
            v.mismatched += 1
            v.examples.append(
                f"stored differs: {(e.station, e.tx_id, e.seq_no)} sent "
                f"{sent.event_type}/{sent.energy_wh}/offline={sent.offline}, stored "
                f"{e.event_type}/{e.energy_wh}/offline={e.offline}"
            )

    rows = collections.Counter((t.station, t.tx_id) for t in transactions)
    sent_transactions = {(r.station, r.tx_id) for r in ledger_list}
    for tx_key, n in rows.items():
        if n > 1:
            v.aggregate_errors.append(f"{n} rows for transaction {tx_key}")
        if tx_key not in sent_transactions:
            # A transaction no station knows of: for 1.6, a second transactionId given to a
            # re-sent StartTransaction (one the station never learnt).
            v.aggregate_errors.append(f"transaction {tx_key} that no station sent")
    aggregate = {(t.station, t.tx_id): t for t in transactions}
    for tx_key, evs in by_tx.items():
        t = aggregate.get(tx_key)
        if t is None:
            v.aggregate_errors.append(f"events but no transaction row for {tx_key}")
            continue
        types = {e.event_type for e in evs}
        readings = [e.energy_wh for e in evs if e.energy_wh is not None]
        expected: dict[str, Any] = {
            "active": "Ended" not in types,
            "start_event_received": "Started" in types,
            # A station's register only grows: the earliest reading is the least.
            "energy_first_wh": min(readings) if readings else None,
            "energy_last_wh": max(readings) if readings else None,
        }
        for name, want in expected.items():
            got = getattr(t, name)
            if isinstance(want, float) and isinstance(got, float):
                if abs(want - got) <= 0.05:
                    continue
            elif want == got:
                continue
            v.aggregate_errors.append(
                f"transaction {tx_key}: {name} is {got!r}, events say {want!r}"
            )
    return v


def seq_order_violations(events: Sequence[StoredEvent]) -> list[str]:
    """Transactions whose events were not received in seqNo order (or have gaps in seqNo)."""
    by_tx: dict[tuple[str, str], list[StoredEvent]] = collections.defaultdict(list)
    for e in events:
        by_tx[(e.station, e.tx_id)].append(e)
    bad = []
    for key, evs in by_tx.items():
        seqs = [e.seq_no for e in sorted(evs, key=lambda e: e.received_order)]
        if seqs != sorted(seqs):
            bad.append(f"{key}: received as seqNo {seqs[:20]}")
        elif seqs != list(range(seqs[0], seqs[0] + len(seqs))):
            bad.append(f"{key}: seqNo gaps {seqs[:20]}")
    return bad


def _energy(meter_values: Any) -> float | None:
    for mv in meter_values or ():
        for sv in mv.get("sampledValue", ()):
            if sv.get("measurand", "Energy.Active.Import.Register") == (
                "Energy.Active.Import.Register"
            ):
                return float(sv["value"])
    return None


async def read_database(
    database_url: str, station_prefix: str
) -> tuple[list[StoredEvent], list[StoredTransaction]]:
    """The stored events and transactions of the stations whose id starts with the prefix."""
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import create_async_engine

    from transaction_svc.models import Transaction, TransactionEventRow

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            ev = TransactionEventRow.__table__.c
            rows = (
                await conn.execute(
                    select(
                        ev.station_id,
                        ev.transaction_id,
                        ev.seq_no,
                        ev.event_type,
                        ev.offline,
                        ev.meter_values,
                    )
                    .where(ev.station_id.startswith(station_prefix, autoescape=True))
                    # Receive order; seqNo only breaks ties of one clock tick.
                    .order_by(ev.received_at, ev.station_id, ev.transaction_id, ev.seq_no)
                )
            ).all()
            tx = Transaction.__table__.c
            trows = (
                await conn.execute(
                    select(
                        tx.station_id,
                        tx.id,
                        tx.active,
                        tx.start_event_received,
                        tx.energy_first_wh,
                        tx.energy_last_wh,
                    ).where(tx.station_id.startswith(station_prefix, autoescape=True))
                )
            ).all()
    finally:
        await engine.dispose()
    events = [
        StoredEvent(r[0], r[1], r[2], r[3], bool(r[4]), _energy(r[5]), i)
        for i, r in enumerate(rows)
    ]
    transactions = [
        StoredTransaction(r[0], r[1], bool(r[2]), bool(r[3]), r[4], r[5]) for r in trows
    ]
    return events, transactions
