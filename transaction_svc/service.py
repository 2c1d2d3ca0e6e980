"""transaction_svc use cases: recording TransactionEvents and MeterValues, reading them back.

Recording is committed before it returns: the gateway answers the station only after that, so
nothing acknowledged is lost. TransactionEvents are group-committed
(:class:`common.db.GroupCommit`): the events waiting at that moment are written in one database
transaction, each in its own SAVEPOINT (one bad event cannot spoil the others), with one commit
for all of them, and every caller returns only after that commit. The folding rules live in
:mod:`transaction_svc.domain`.

Remote starts: device_svc records each RequestStartTransaction a station accepted
(:meth:`Transactions.record_remote_start`), and a transaction whose events carry its
remoteStartId without an idToken gets the one the CSMS sent (:func:`domain.with_remote_start`),
whichever comes first. The event's group looks the remote start up; the remote start, once
committed, is given to the transactions that carry its id in a database transaction of its own.
Between the two, a group that made a transaction want a remote start it did not find looks again
once committed: if the remote start's own transaction missed the group's uncommitted
remoteStartId, the group's second look, which starts after that commit, finds the remote start.

OCPP 1.6J transactions (:meth:`Transactions.assign_id16`): a 1.6 station's StartTransaction gets
an integer transactionId from the CSMS. It is assigned and committed before the station is
answered, once per StartTransaction: the request's natural key (station, connectorId, idTag,
timestamp, meterStart) is unique, so the same request re-sent after a lost answer finds its id
(:class:`repository.Ocpp16TransactionIds`). 1.6's RemoteStartTransaction has no remoteStartId:
device_svc keeps the CSMS's here before the request leaves (:meth:`Transactions.
expect_remote_start16`), and the assignment of the StartTransaction of that idTag on that
connector takes it in the same database transaction, so the link survives any restart and a
re-sent start finds it. The chargingState the station reported for the connector before the
start (1.6 says it by StatusNotification, which may come first) is fixed at the assignment too.
Everything else about the transaction is recorded as for 2.0.1, as the TransactionEvents the
gateway translates the 1.6 messages into (gateway/ocpp16.py) under the id's decimal digits, with
``protocol`` "ocpp1.6".
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from common import pagination
from common.db import GroupCommit, utcnow
from common.errors import FailedPrecondition, InvalidArgument, NotFound
from transaction_svc.domain import (
    STATE_FIELDS,
    Event,
    Implausible,
    TransactionState,
    event_digest,
    fold_flagging,
    state_values,
    wants_remote_start,
    with_remote_start,
)
from transaction_svc.models import (
    EventConflictRow,
    ImplausibleReadingRow,
    MeterValuesRow,
    Transaction,
    TransactionEventRow,
)
from transaction_svc.repository import (
    LOCKED_STATE,
    Assigned16,
    EventWriter,
    MeterValuesRepository,
    Ocpp16RemoteStarts,
    Ocpp16TransactionIds,
    RemoteStarts,
    TransactionRepository,
)

__all__ = ["REMOTE_START_WAIT_16", "MeterValues", "Transactions", "state_of"]

#: Seconds a remote start on its way to a 1.6 station waits for its StartTransaction
#: (:meth:`Transactions.expect_remote_start16`).
REMOTE_START_WAIT_16 = 600.0

log = logging.getLogger(__name__)


def state_of(row: Transaction | Row[Any]) -> TransactionState:
    """The domain view of a transaction row (ORM object or Core row: read by column name)."""
    return TransactionState(*state_values(row))


@dataclasses.dataclass(frozen=True, slots=True)
class _Received:
    """One TransactionEvent waiting for its group commit."""

    station_id: str
    transaction_id: str
    event: Event
    # The OCPP-J subprotocol of the station: its transaction's, should the event create it.
    protocol: str = "ocpp2.0.1"


@dataclasses.dataclass(frozen=True, slots=True)
class _Stored:
    """What the group commit did with one event."""

    added: bool  # False: stored before (a repeat, or a conflict)
    # (station_id, remoteStartId): the transaction came to want this remote start's idToken and
    # it was not found; look again once committed (see the module docstring).
    recheck: tuple[str, int] | None = None


# What most events' group commit did (one instance each instead of one per event).
_ADDED = _Stored(True)
_NOT_ADDED = _Stored(False)


def _event_row(item: _Received, digest: str, received: datetime.datetime) -> dict[str, Any]:
    """The event's columns, as the events and the conflicts tables keep them."""
    event = item.event
    return {
        "received_at": received,
        "station_id": item.station_id,
        "transaction_id": item.transaction_id,
        "seq_no": event.seq_no,
        "event_type": event.event_type,
        "trigger_reason": event.trigger_reason,
        "timestamp": event.timestamp,
        "offline": event.offline,
        "meter_values": list(event.meter_values),
        "digest": digest,
    }


def _implausible_rows(
    station_id: str, transaction_id: str, flagged: Sequence[Implausible]
) -> list[dict[str, Any]]:
    return [
        {
            "station_id": station_id,
            "transaction_id": transaction_id,
            "seq_no": f.seq_no,
            "at": f.at,
            "wh": f.wh,
            "reason": f.reason,
        }
        for f in flagged
    ]


def _lock_order(item: _Received) -> tuple[str, str, int]:
    return (item.station_id, item.transaction_id, item.event.seq_no)


_Key = tuple[str, str]  # (station_id, transaction id)
_PROTOCOLS = ("ocpp2.0.1", "ocpp1.6")


async def _with_remote_starts(
    conn: AsyncConnection,
    before: Mapping[_Key, TransactionState],
    after: dict[_Key, TransactionState],
) -> dict[_Key, tuple[str, int]]:
    """Give the transactions in ``after`` that want a remote start's idToken the one stored (in
    place); returns those whose remote start is not stored and that came to want it here."""
    wanting = {
        key: state.remote_start_id
        for key, state in after.items()
        if state.remote_start_id is not None and wants_remote_start(state)
    }
    if not wanting:
        return {}
    found = await RemoteStarts(conn).find([(key[0], rsid) for key, rsid in wanting.items()])
    recheck = {}
    for key, rsid in wanting.items():
        token = found.get((key[0], rsid))
        if token is not None:
            after[key] = with_remote_start(after[key], *token)
        elif not wants_remote_start(before[key]) or before[key].remote_start_id != rsid:
            recheck[key] = (key[0], rsid)
    return recheck


def _log_conflict(key: _Key, seq_no: int, first_time: bool) -> None:
    if first_time:
        log.warning("conflicting event %s/%s #%d: kept as a conflict", *key, seq_no)
    else:
        log.info("conflicting event %s/%s #%d repeated", *key, seq_no)


class Transactions:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        max_batch: int = 256,
        max_wait: float = 0.002,
        linger: float = 0.0,
        remote_start_wait16: float = REMOTE_START_WAIT_16,
    ) -> None:
        self.sessions = sessions
        self.remote_start_wait16 = remote_start_wait16
        engine = self._engine = sessions.kw["bind"]
        self._events: GroupCommit[_Received, _Stored] = GroupCommit(
            engine,
            self._store,
            apply_many=self._store_many,
            order=_lock_order,
            max_batch=max_batch,
            max_wait=max_wait,
            linger=linger,
            name="transaction-events",
        )

    async def record(
        self, station_id: str, transaction_id: str, event: Event, protocol: str = "ocpp2.0.1"
    ) -> bool:
        """Store ``event`` and fold it into its transaction; False if it was already stored.
        ``protocol``: the station's OCPP-J subprotocol, kept on a transaction this event creates.

        Returns once the event is committed (with the others of its group).
        """
        if not station_id or len(station_id) > 48:
            raise InvalidArgument("station_id must be 1 to 48 characters")
        if not transaction_id or len(transaction_id) > 36:
            raise InvalidArgument("transactionInfo.transactionId must be 1 to 36 characters")
        if event.seq_no < 0:
            raise InvalidArgument("seqNo must not be negative")
        if protocol not in _PROTOCOLS:
            raise InvalidArgument(f"protocol must be one of {', '.join(_PROTOCOLS)}")
        stored = await self._events.submit(_Received(station_id, transaction_id, event, protocol))
        if stored.recheck is not None:
            await self._give_remote_start(*stored.recheck)
        return stored.added

    async def assign_id16(
        self,
        station_id: str,
        connector_id: int,
        id_tag: str,
        timestamp: datetime.datetime,
        meter_start: int,
        charging_state: str | None = None,
    ) -> Assigned16:
        """The integer transactionId of an OCPP 1.6J StartTransaction, whether it was assigned
        now (False: this start, re-sent, had it already), the remote start it follows (taken
        now, or the one taken at its first assignment) and its chargingState at the start
        (``charging_state`` at the first assignment, else Charging). Committed on return, with
        the transaction's row (protocol "ocpp1.6")."""
        _validate_station_id(station_id)
        if connector_id < 1:
            raise InvalidArgument("connector_id must be at least 1 (0 is the station itself)")
        if not id_tag or len(id_tag) > 20:
            raise InvalidArgument("id_tag must be 1 to 20 characters")
        async with self._engine.begin() as conn:
            got = await Ocpp16TransactionIds(conn).assign(
                station_id, connector_id, id_tag, timestamp, meter_start, charging_state
            )
        remote = "" if got.remote_start_id is None else f" (remote start {got.remote_start_id})"
        if got.assigned:
            log.info("1.6 transaction %s/%d assigned%s", station_id, got.transaction_id, remote)
        else:
            log.info(
                "1.6 StartTransaction repeated: transaction %s/%d%s",
                station_id,
                got.transaction_id,
                remote,
            )
        return got

    async def expect_remote_start16(
        self, station_id: str, remote_start_id: int, id_tag: str, connector_id: int | None
    ) -> None:
        """Keep a remote start on its way to a 1.6 station for the StartTransaction that follows
        it within :data:`REMOTE_START_WAIT_16` seconds (see :meth:`assign_id16`). Committed on
        return."""
        _validate_station_id(station_id)
        if not id_tag or len(id_tag) > 20:
            raise InvalidArgument("id_tag must be 1 to 20 characters")
        if connector_id is not None and connector_id < 1:
            raise InvalidArgument("connector_id must be at least 1 (0 is the station itself)")
        expires = utcnow() + datetime.timedelta(seconds=self.remote_start_wait16)
        async with self._engine.begin() as conn:
            await Ocpp16RemoteStarts(conn).expect(
                station_id, remote_start_id, id_tag, connector_id, expires
            )
        log.info("1.6 remote start %d expected until %s", remote_start_id, expires.isoformat())

    async def forget_remote_start16(self, station_id: str, remote_start_id: int) -> None:
        """The station did not accept it: no start is to take it (one that did keeps it)."""
        _validate_station_id(station_id)
        async with self._engine.begin() as conn:
            if await Ocpp16RemoteStarts(conn).forget(station_id, remote_start_id):
                log.info("1.6 remote start %d not accepted: forgotten", remote_start_id)

    async def record_remote_start(
        self, station_id: str, remote_start_id: int, id_token: str, id_token_type: str
    ) -> None:
        """Store a RequestStartTransaction the station accepted; the station's transactions that
        carry its remoteStartId without an idToken get this one. Committed on return."""
        _validate_station_id(station_id)
        if len(id_token) > 36:
            raise InvalidArgument("id_token must be at most 36 characters")
        if not id_token_type:
            raise InvalidArgument("id_token.type is required")
        async with self._engine.begin() as conn:
            await RemoteStarts(conn).record(station_id, remote_start_id, id_token, id_token_type)
        # Committed before it is given: see the module docstring.
        await self._give_remote_start(station_id, remote_start_id)

    async def _give_remote_start(self, station_id: str, remote_start_id: int) -> None:
        """In a database transaction of its own: the stored idToken of this remote start to the
        station's transactions carrying its id that want it."""
        async with self._engine.begin() as conn:
            remote_starts = RemoteStarts(conn)
            token = (await remote_starts.find([(station_id, remote_start_id)])).get(
                (station_id, remote_start_id)
            )
            if token is None:
                return
            writer = EventWriter(conn)
            for row in await remote_starts.lock_transactions(station_id, remote_start_id):
                before = state_of(row)
                after = with_remote_start(before, *token)
                if after is before:
                    continue
                changes = {
                    name: getattr(after, name)
                    for name in STATE_FIELDS
                    if getattr(after, name) != getattr(before, name)
                }
                await writer.update(station_id, row.id, {**changes, "updated_at": utcnow()})
                log.info(
                    "transaction %s/%s: idToken of remote start %d",
                    station_id,
                    row.id,
                    remote_start_id,
                )

    async def drain(self) -> None:
        """Wait for the events being written (before the engine is disposed of)."""
        await self._events.drain()

    async def _store(self, conn: AsyncConnection, item: _Received) -> _Stored:
        """One event, inside its SAVEPOINT of the group's transaction."""
        station_id, transaction_id, event = item.station_id, item.transaction_id, item.event
        writer = EventWriter(conn)
        received = utcnow()
        # Locked before the event is inserted: the insert's foreign-key check takes a share lock
        # on this row, and two events each holding one while waiting for FOR UPDATE would
        # deadlock on PostgreSQL. Events are applied in (station, transaction) order, so two
        # replicas' groups lock rows in the same order too.
        row = await writer.lock(station_id, transaction_id, item.protocol)
        digest = event_digest(event)
        # A stored seqNo (a station's retry, maybe racing its first delivery) inserts nothing.
        added = await writer.add_event(_event_row(item, digest, received))
        key = (station_id, transaction_id)
        before = state_of(row)
        after = {key: before}
        fold_it = added
        if not added:
            key3 = (station_id, transaction_id, event.seq_no)
            stored = (await writer.stored_digests([key3])).get(key3)
            if stored is not None and stored != digest:
                conflict = _event_row(item, digest, received)
                fold_it = bool(await writer.add_conflicts_returning([conflict]))
                _log_conflict(key, event.seq_no, fold_it)
            else:
                log.info("duplicate event %s/%s #%d", station_id, transaction_id, event.seq_no)
        if fold_it:
            state, flagged = fold_flagging(before, event, received)
            after[key] = state
            await writer.add_implausible(_implausible_rows(station_id, transaction_id, flagged))
        recheck = await _with_remote_starts(conn, {key: before}, after)
        changes = {
            name: getattr(after[key], name)
            for name in STATE_FIELDS
            if getattr(after[key], name) != getattr(before, name)
        }
        if fold_it or changes:
            # updated_at moves with every stored event, as the ORM's onupdate did.
            await writer.update(station_id, transaction_id, {**changes, "updated_at": utcnow()})
        return _Stored(added, recheck.get(key))

    async def _store_many(self, conn: AsyncConnection, items: list[_Received]) -> list[_Stored]:
        """A group of events in a few statements (``_store``'s rules, set-based): lock the
        transactions, insert the events (a stored seqNo inserts nothing, and the insert returns
        which ones it stored), keep the repeats of different content as conflicts (one more
        read, of the repeats' digests, only when there are repeats), fold the new events and
        conflicts in order and update each transaction once. ``items`` come in lock order."""
        writer = EventWriter(conn)
        received = utcnow()
        keys = sorted({(i.station_id, i.transaction_id) for i in items})
        rows = await writer.lock_many(
            keys, {(i.station_id, i.transaction_id): i.protocol for i in items}
        )
        # The first copy of each event in the group is offered; the insert says which are new.
        digests = [event_digest(item.event) for item in items]
        offered: dict[tuple[str, str, int], dict[str, Any]] = {}
        for item, digest in zip(items, digests, strict=True):
            offered.setdefault(
                (item.station_id, item.transaction_id, item.event.seq_no),
                _event_row(item, digest, received),
            )
        added = await writer.add_events_returning(list(offered.values()))
        # What each repeated seqNo holds: stored before, or the group's own first copy. A stored
        # event without a digest (from before digests were kept) takes every repeat as a retry.
        stored = await writer.stored_digests([k for k in offered if k not in added])
        stored.update((k, offered[k]["digest"]) for k in added)
        conflicts: dict[tuple[str, str, int, str], dict[str, Any]] = {}
        for item, digest in zip(items, digests, strict=True):
            key3 = (item.station_id, item.transaction_id, item.event.seq_no)
            was = stored.get(key3)
            if was is not None and was != digest:
                conflicts.setdefault((*key3, digest), _event_row(item, digest, received))
        new_conflicts = await writer.add_conflicts_returning(list(conflicts.values()))
        before = {key: TransactionState._make(row[LOCKED_STATE]) for key, row in rows.items()}
        states = dict(before)
        new: list[bool] = []
        new_rows: list[dict[str, Any]] = []
        implausible: list[dict[str, Any]] = []
        conflicted: set[_Key] = set()
        for item, digest in zip(items, digests, strict=True):
            key, event = (item.station_id, item.transaction_id), item.event
            key3 = (*key, event.seq_no)
            if key3 in added:  # the first copy
                added.discard(key3)
                new_rows.append(offered[key3])
                new.append(True)
            elif (*key3, digest) in conflicts:
                is_new = (*key3, digest) in new_conflicts
                new_conflicts.discard((*key3, digest))
                conflicts.pop((*key3, digest))
                _log_conflict(key, event.seq_no, is_new)
                new.append(False)
                if not is_new:
                    continue
                conflicted.add(key)
            else:  # stored before, or earlier in this group
                log.info("duplicate event %s/%s #%d", *key, event.seq_no)
                new.append(False)
                continue
            states[key], flagged = fold_flagging(states[key], event, received)
            if flagged:
                implausible += _implausible_rows(*key, flagged)
        await writer.add_implausible(implausible)
        recheck = await _with_remote_starts(conn, before, states)
        # One caller per transaction looks again (the first of its items here).
        results = [
            _Stored(is_new, recheck.pop((item.station_id, item.transaction_id), None))
            if recheck
            else (_ADDED if is_new else _NOT_ADDED)
            for item, is_new in zip(items, new, strict=True)
        ]
        # Every transaction with a new event or conflict, and any a remote start's idToken
        # reached.
        touched = sorted(
            {(r["station_id"], r["transaction_id"]) for r in new_rows}
            | conflicted
            | {key for key, state in states.items() if state != before[key]}
        )
        if touched:
            now = utcnow()
            # The columns any of them changed (one executemany needs the same ones in every
            # row; a value a row did not change is written back as it was): per field, the
            # column of old values against the new one, transposed and compared as tuples in C.
            after = [state_values(states[k]) for k in touched]
            old = [rows[k][LOCKED_STATE] for k in touched]
            columns = zip(zip(*old, strict=True), zip(*after, strict=True), strict=True)
            changed = [i for i, (was, now_is) in enumerate(columns) if was != now_is]
            await writer.update_many(
                [
                    {
                        "key_station_id": station_id,
                        "key_id": tx_id,
                        **{STATE_FIELDS[i]: values[i] for i in changed},
                        "updated_at": now,
                    }
                    for (station_id, tx_id), values in zip(touched, after, strict=True)
                ]
            )
        return results

    async def get(
        self, transaction_id: str, station_id: str = ""
    ) -> tuple[Transaction, Sequence[TransactionEventRow]]:
        """A transaction with its events in seqNo order."""
        async with self.sessions() as session:
            repo = TransactionRepository(session)
            rows = await repo.find(transaction_id, station_id, limit=2)
            if not rows:
                where = f" of station {station_id}" if station_id else ""
                raise NotFound(f"transaction {transaction_id}{where} not found")
            if len(rows) > 1:
                raise FailedPrecondition(
                    f"transaction id {transaction_id} is used by more than one station "
                    "(e.g. " + ", ".join(r.station_id for r in rows) + "): give station_id"
                )
            (row,) = rows
            return row, await repo.events(row.station_id, row.id)

    async def anomalies(
        self, station_id: str, transaction_id: str
    ) -> tuple[Sequence[EventConflictRow], Sequence[ImplausibleReadingRow]]:
        """A transaction's conflicting events and the readings left out of its energy."""
        async with self.sessions() as session:
            repo = TransactionRepository(session)
            return (
                await repo.conflicts(station_id, transaction_id),
                await repo.implausible_readings(station_id, transaction_id),
            )

    async def count_charging_stations(self) -> int:
        async with self.sessions() as session:
            return await TransactionRepository(session).count_charging_stations()

    async def list(
        self,
        station_id: str,
        active: bool | None,
        size: int,
        token: str,
        remote_start_id: int | None = None,
        charging_state: str | None = None,
        id_token: str | None = None,
    ) -> tuple[Sequence[Transaction], str]:
        """A page ordered by (station_id, id); ``active`` None means active and ended;
        ``charging_state`` (an OCPP value) and ``id_token`` narrow it when given.

        ``remote_start_id`` finds the transaction a RequestStartTransaction started (of any
        station unless ``station_id`` is given: stations number their requests independently).
        """
        limit = pagination.page_size(size)
        after: tuple[str, str] | None = None
        if token:
            key = pagination.decode_token(token)
            if len(key) != 2:
                raise InvalidArgument("page_token is not one this service issued")
            after = (key[0], key[1])
        async with self.sessions() as session:
            rows = await TransactionRepository(session).page(
                station_id, active, after, limit + 1, remote_start_id, charging_state, id_token
            )
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, pagination.encode_token(rows[-1].station_id, rows[-1].id) if more else ""


def _validate_station_id(station_id: str) -> None:
    if not station_id or len(station_id) > 48:
        raise InvalidArgument("station_id must be 1 to 48 characters")


class MeterValues:
    """Meter values stations send outside transactions (OCPP MeterValues)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def record(
        self, station_id: str, evse_id: int, meter_values: Sequence[Mapping[str, Any]]
    ) -> MeterValuesRow:
        """Store one MeterValues request (its meterValue list as OCPP JSON); committed on return."""
        _validate_station_id(station_id)
        if evse_id < 0:
            raise InvalidArgument("evseId must not be negative")
        if not meter_values:
            raise InvalidArgument("meterValue must hold at least one meter value")
        row = MeterValuesRow(
            station_id=station_id,
            evse_id=evse_id,
            meter_values=[dict(mv) for mv in meter_values],
        )
        async with self.sessions.begin() as session:
            MeterValuesRepository(session).add(row)
        return row

    async def list(
        self, station_id: str, evse_id: int | None, size: int, token: str
    ) -> tuple[Sequence[MeterValuesRow], str]:
        """A page of a station's meter values, newest first (by the time they arrived)."""
        _validate_station_id(station_id)
        limit = pagination.page_size(size)
        before = pagination.decode_time_key(token) if token else None
        async with self.sessions() as session:
            rows = await MeterValuesRepository(session).page(station_id, evse_id, before, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        if not more:
            return rows, ""
        last = rows[-1]
        return rows, pagination.encode_time_key(last.received_at, last.id)
