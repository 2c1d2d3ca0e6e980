"""Transactions, their events and meter values on an AsyncSession (and the group-committed event
writes, the remote starts and the OCPP 1.6J transactionIds on a connection): the only place
transaction_svc writes SQL."""

from __future__ import annotations

import dataclasses
import datetime
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import (
    Row,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    column,
    delete,
    distinct,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from common.db import equal_in_any_case, table_of, utcnow
from common.prepared import Prepared, arrays, padded
from transaction_svc.domain import STATE_FIELDS
from transaction_svc.models import (
    EventConflictRow,
    ImplausibleReadingRow,
    MeterValuesRow,
    Ocpp16RemoteStart,
    Ocpp16TransactionId,
    RemoteStartRow,
    Transaction,
    TransactionEventRow,
)

__all__ = [
    "LOCKED_STATE",
    "Assigned16",
    "EventWriter",
    "MeterValuesRepository",
    "Ocpp16RemoteStarts",
    "Ocpp16TransactionIds",
    "RemoteStarts",
    "TransactionRepository",
]

# The dialect's own INSERT (ON CONFLICT DO NOTHING), by dialect name.
_Insert = Callable[[Table | type[Transaction]], postgresql.Insert | sqlite.Insert]
_INSERTS: dict[str, _Insert] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class TransactionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ensure(self, station_id: str, transaction_id: str) -> None:
        """Create the transaction's row unless it exists; safe when two events race to do it."""
        bind = self.session.bind
        assert bind is not None, "the session is bound to the service's engine or connection"
        insert = _INSERTS[bind.dialect.name]
        await self.session.execute(
            insert(Transaction)
            .values(station_id=station_id, id=transaction_id)
            .on_conflict_do_nothing(index_elements=["station_id", "id"])
        )

    async def get(
        self, station_id: str, transaction_id: str, *, for_update: bool = False
    ) -> Transaction | None:
        stmt = select(Transaction).where(
            Transaction.station_id == station_id, Transaction.id == transaction_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).one_or_none()

    async def find(self, transaction_id: str, station_id: str, limit: int) -> Sequence[Transaction]:
        """Transactions of this id (of any station when ``station_id`` is empty)."""
        stmt = select(Transaction).where(Transaction.id == transaction_id)
        if station_id:
            stmt = stmt.where(Transaction.station_id == station_id)
        return (
            await self.session.scalars(stmt.order_by(Transaction.station_id).limit(limit))
        ).all()

    async def count_charging_stations(self) -> int:
        """Stations with an active transaction whose chargingState is Charging."""
        stmt = select(func.count(distinct(Transaction.station_id))).where(
            Transaction.active.is_(True), Transaction.charging_state == "Charging"
        )
        return int((await self.session.scalar(stmt)) or 0)

    async def page(
        self,
        station_id: str,
        active: bool | None,
        after: tuple[str, str] | None,
        limit: int,
        remote_start_id: int | None = None,
        charging_state: str | None = None,
        id_token: str | None = None,
    ) -> Sequence[Transaction]:
        stmt = select(Transaction)
        if charging_state is not None:
            stmt = stmt.where(Transaction.charging_state == charging_state)
        if id_token is not None:  # in any case: OCPP's idToken is case-insensitive
            stmt = stmt.where(equal_in_any_case(Transaction.id_token, id_token))
        if station_id:
            stmt = stmt.where(Transaction.station_id == station_id)
        if active is not None:
            stmt = stmt.where(Transaction.active == active)
        if remote_start_id is not None:
            stmt = stmt.where(Transaction.remote_start_id == remote_start_id)
        if after is not None:
            stmt = stmt.where(tuple_(Transaction.station_id, Transaction.id) > tuple_(*after))
        stmt = stmt.order_by(Transaction.station_id, Transaction.id).limit(limit)
        return (await self.session.scalars(stmt)).all()

    def add_event(self, event: TransactionEventRow) -> None:
        self.session.add(event)

    async def has_event(self, station_id: str, transaction_id: str, seq_no: int) -> bool:
        return (
            await self.session.get(TransactionEventRow, (station_id, transaction_id, seq_no))
            is not None
        )

    async def events(self, station_id: str, transaction_id: str) -> Sequence[TransactionEventRow]:
        stmt = (
            select(TransactionEventRow)
            .where(
                TransactionEventRow.station_id == station_id,
                TransactionEventRow.transaction_id == transaction_id,
            )
            .order_by(TransactionEventRow.seq_no)
        )
        return (await self.session.scalars(stmt)).all()

    async def conflicts(self, station_id: str, transaction_id: str) -> Sequence[EventConflictRow]:
        stmt = (
            select(EventConflictRow)
            .where(
                EventConflictRow.station_id == station_id,
                EventConflictRow.transaction_id == transaction_id,
            )
            .order_by(EventConflictRow.seq_no, EventConflictRow.received_at)
        )
        return (await self.session.scalars(stmt)).all()

    async def implausible_readings(
        self, station_id: str, transaction_id: str
    ) -> Sequence[ImplausibleReadingRow]:
        stmt = (
            select(ImplausibleReadingRow)
            .where(
                ImplausibleReadingRow.station_id == station_id,
                ImplausibleReadingRow.transaction_id == transaction_id,
            )
            .order_by(ImplausibleReadingRow.seq_no, ImplausibleReadingRow.id)
        )
        return (await self.session.scalars(stmt)).all()


class MeterValuesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: MeterValuesRow) -> None:
        self.session.add(row)

    async def page(
        self,
        station_id: str,
        evse_id: int | None,
        before: tuple[datetime.datetime, int] | None,
        limit: int,
    ) -> Sequence[MeterValuesRow]:
        """A station's rows newest first, those older than ``before`` (received_at, id)."""
        stmt = select(MeterValuesRow).where(MeterValuesRow.station_id == station_id)
        if evse_id is not None:
            stmt = stmt.where(MeterValuesRow.evse_id == evse_id)
        if before is not None:
            # Spelled out rather than as a row-value comparison so that the timestamp is bound
            # through the column's type (UTC, naive on SQLite).
            at, row_id = before
            stmt = stmt.where(
                or_(
                    MeterValuesRow.received_at < at,
                    and_(MeterValuesRow.received_at == at, MeterValuesRow.id < row_id),
                )
            )
        stmt = stmt.order_by(MeterValuesRow.received_at.desc(), MeterValuesRow.id.desc())
        return (await self.session.scalars(stmt.limit(limit))).all()


_TRANSACTIONS = table_of(Transaction)
_EVENTS = table_of(TransactionEventRow)
_T, _E = _TRANSACTIONS.c, _EVENTS.c

# The group write's statements, built once: SQLAlchemy memoizes a statement's cache key on the
# object, so executing the same object skips rebuilding and re-keying it for every group.

# What the group write reads of a transaction: its key and the columns of domain.TransactionState.
_LOCKED = (_T.station_id, _T.id, *(_T[name] for name in STATE_FIELDS))
#: Where a locked row's TransactionState values are (``TransactionState._make(row[LOCKED_STATE])``:
#: one slice in C, where reading 21 attributes by name of a Row costs several times more).
LOCKED_STATE = slice(2, None)
_LOCK_ORDER = (_T.station_id, _T.id)


# PostgreSQL: the keys as two arrays; it searches the primary key for each. The group commit's
# statements on PostgreSQL run as common.prepared.Prepared (no SQLAlchemy execution layer).
_KEYS = arrays(_T.station_id, _T.id)
_LOCK_ROWS_PG = Prepared(
    select(*_LOCKED)
    .where(tuple_(_T.station_id, _T.id).in_(select(_KEYS.c.station_id, _KEYS.c.id)))
    .order_by(*_LOCK_ORDER)
    .with_for_update()
)


@functools.cache
def _update_from_arrays(columns: tuple[str, ...]) -> Prepared:
    """PostgreSQL: the group's transactions updated by one statement, from one array per
    column (an executemany is one UPDATE per row for the server), by the set of columns."""
    rows = arrays(_T.station_id, _T.id, *(_T[name] for name in columns))
    return Prepared(
        update(_TRANSACTIONS)
        .where(_T.station_id == rows.c.station_id, _T.id == rows.c.id)
        .values({name: rows.c[name] for name in columns})
    )


@functools.cache
def _lock_rows_or(size: int) -> Prepared:
    """SQLite: ``size`` keys as ``(station_id = ? AND id = ?) OR ...``, which it answers with one
    primary-key search per key, where it scans the whole table for a row-value IN (a cost that
    grows with every transaction ever stored). Sizes are powers of two (see _lock_params), so a
    few statements are compiled, not one per group size. SQLite has no FOR UPDATE: the group's
    BEGIN IMMEDIATE holds the database's write lock. Run as a common.prepared.Prepared (no
    SQLAlchemy execution layer on the group commit's path)."""
    keys = (
        and_(_T.station_id == bindparam(f"s{i}"), _T.id == bindparam(f"i{i}")) for i in range(size)
    )
    return Prepared(select(*_LOCKED).where(or_(*keys)).order_by(*_LOCK_ORDER))


def _lock_params(keys: Sequence[tuple[str, str]]) -> tuple[Prepared, dict[str, str]]:
    keys = padded(keys)
    params = {}
    for i, (station_id, transaction_id) in enumerate(keys):
        params[f"s{i}"] = station_id
        params[f"i{i}"] = transaction_id
    return _lock_rows_or(len(keys)), params


_CREATE_TRANSACTIONS = {
    name: insert(_TRANSACTIONS).on_conflict_do_nothing(index_elements=["station_id", "id"])
    for name, insert in _INSERTS.items()
}
_EVENT_KEY = ["station_id", "transaction_id", "seq_no"]
# SQLite: the group's events in one INSERT (Prepared.values), as SQLAlchemy's insertmanyvalues
# would make it, without its execution layer.
_ADD_EVENTS_SQLITE = Prepared(
    sqlite.insert(_EVENTS)
    .on_conflict_do_nothing(index_elements=_EVENT_KEY)
    .returning(*(_E[name] for name in _EVENT_KEY))
)


@functools.cache
def _add_events_from_arrays(columns: tuple[str, ...]) -> Prepared:
    """PostgreSQL: the group's events from one array per column (a statement whose text does
    not depend on the group's size: prepared once by the server), by the set of columns. The
    meter values go as JSON texts cast back to JSON: an array of JSON values that are lists
    would be taken for a two-dimensional array."""
    rows = arrays(*(column(c, Text) if c == "meter_values" else _E[c] for c in columns))
    return Prepared(
        postgresql.insert(_EVENTS)
        .from_select(
            columns,
            select(
                *(
                    cast(rows.c[c], _E[c].type) if c == "meter_values" else rows.c[c]
                    for c in columns
                )
            ),
        )
        .on_conflict_do_nothing(index_elements=_EVENT_KEY)
        .returning(*(_E[name] for name in _EVENT_KEY))
    )


_CONFLICTS = table_of(EventConflictRow)
_ADD_CONFLICTS = {
    name: insert(_CONFLICTS)
    .on_conflict_do_nothing(index_elements=["station_id", "transaction_id", "seq_no", "digest"])
    .returning(
        _CONFLICTS.c.station_id,
        _CONFLICTS.c.transaction_id,
        _CONFLICTS.c.seq_no,
        _CONFLICTS.c.digest,
    )
    for name, insert in _INSERTS.items()
}
_IMPLAUSIBLE = table_of(ImplausibleReadingRow)
_UPDATE_BY_KEY = update(_TRANSACTIONS).where(
    _T.station_id == bindparam("key_station_id"), _T.id == bindparam("key_id")
)
_UPDATE_BY_KEY_SQLITE = Prepared(_UPDATE_BY_KEY)


class EventWriter:
    """The TransactionEvent write path in Core statements on one connection (group commits).

    Per event: lock the transaction's row (creating it if needed), insert the event unless its
    seqNo is stored (no error, no extra read), update the row with what the event folded in.
    Per group (the ``*_many`` methods): the same in a few statements for all of its events.
    """

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.insert = _INSERTS[conn.dialect.name]

    async def lock(
        self, station_id: str, transaction_id: str, protocol: str = "ocpp2.0.1"
    ) -> Row[Any]:
        """The transaction's row, FOR UPDATE; created first if it does not exist (race-safe),
        with the ``protocol`` of the station that reported it."""
        stmt = (
            select(_TRANSACTIONS)
            .where(_TRANSACTIONS.c.station_id == station_id, _TRANSACTIONS.c.id == transaction_id)
            .with_for_update()
        )
        row = (await self.conn.execute(stmt)).first()
        if row is None:
            await self.conn.execute(
                self.insert(_TRANSACTIONS)
                .values(station_id=station_id, id=transaction_id, protocol=protocol)
                .on_conflict_do_nothing(index_elements=["station_id", "id"])
            )
            row = (await self.conn.execute(stmt)).first()
            if row is None:  # pragma: no cover - just inserted
                raise RuntimeError(f"transaction {station_id}/{transaction_id} vanished")
        return row

    async def add_event(self, values: Mapping[str, Any]) -> bool:
        """Insert one event row; False when that (station, transaction, seqNo) is stored."""
        result = await self.conn.execute(
            self.insert(_EVENTS)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["station_id", "transaction_id", "seq_no"])
            .returning(_EVENTS.c.seq_no)
        )
        return result.first() is not None

    async def stored_digests(
        self, keys: Sequence[tuple[str, str, int]]
    ) -> dict[tuple[str, str, int], str | None]:
        """The digests of these stored events (few keys: the repeats of a group)."""
        if not keys:
            return {}
        stmt = select(_E.station_id, _E.transaction_id, _E.seq_no, _E.digest).where(
            or_(
                *(
                    and_(_E.station_id == s, _E.transaction_id == t, _E.seq_no == n)
                    for s, t, n in set(keys)
                )
            )
        )
        return {
            (r.station_id, r.transaction_id, r.seq_no): r.digest
            for r in await self.conn.execute(stmt)
        }

    async def add_conflicts_returning(
        self, rows: Sequence[Mapping[str, Any]]
    ) -> set[tuple[str, str, int, str]]:
        """Insert conflicting event rows unless stored; the keys of those it inserted."""
        if not rows:
            return set()
        result = await self.conn.execute(_ADD_CONFLICTS[self.conn.dialect.name], list(rows))
        return {tuple(row) for row in result}

    async def add_implausible(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            await self.conn.execute(_IMPLAUSIBLE.insert(), list(rows))

    async def update(
        self, station_id: str, transaction_id: str, changes: Mapping[str, Any]
    ) -> None:
        await self.conn.execute(
            update(_TRANSACTIONS)
            .where(_TRANSACTIONS.c.station_id == station_id, _TRANSACTIONS.c.id == transaction_id)
            .values(**changes)
        )

    async def lock_many(
        self,
        keys: Sequence[tuple[str, str]],
        protocols: Mapping[tuple[str, str], str] | None = None,
    ) -> dict[tuple[str, str], Sequence[Any]]:
        """The rows of these (station_id, id) transactions, locked FOR UPDATE in key order; the
        missing ones are created first (race-safe, as :meth:`lock`), with their ``protocols``
        (default "ocpp2.0.1")."""
        rows = await self._rows(keys)
        missing = [key for key in keys if key not in rows]
        if missing:
            protocols = protocols or {}
            await self.conn.execute(
                _CREATE_TRANSACTIONS[self.conn.dialect.name],
                [
                    {
                        "station_id": station_id,
                        "id": tx_id,
                        "protocol": protocols.get((station_id, tx_id), "ocpp2.0.1"),
                    }
                    for station_id, tx_id in missing
                ],
            )
            rows.update(await self._rows(missing))
            if len(rows) != len(set(keys)):  # pragma: no cover - just inserted
                raise RuntimeError("transactions vanished while being locked")
        return rows

    async def _rows(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Sequence[Any]]:
        if not keys:
            return {}
        if self.conn.dialect.name == "sqlite":
            stmt, params = _lock_params(keys)
            result = await stmt.rows(self.conn, params)
        else:
            station_ids, ids = zip(*keys, strict=True)
            result = await _LOCK_ROWS_PG.rows(
                self.conn, {"a_station_id": list(station_ids), "a_id": list(ids)}
            )
        return {row[:2]: row for row in result}  # (station_id, id): the first two columns

    async def add_events_returning(
        self, rows: Sequence[Mapping[str, Any]]
    ) -> set[tuple[str, str, int]]:
        """Insert event rows (distinct keys) unless stored; the keys of those it inserted."""
        if not rows:
            return set()
        if self.conn.dialect.name == "sqlite":
            return {tuple(row) for row in await _ADD_EVENTS_SQLITE.values(self.conn, rows)}
        names = tuple(rows[0])
        columns = {f"a_{name}": [row[name] for row in rows] for name in names}
        if "a_meter_values" in columns:
            columns["a_meter_values"] = [
                orjson.dumps(v).decode() for v in columns["a_meter_values"]
            ]
        inserted = await _add_events_from_arrays(names).rows(self.conn, columns)
        return {tuple(row) for row in inserted}

    async def update_many(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Set columns of several transactions; each row holds ``key_station_id`` and
        ``key_id`` and the same column names (one executemany; on PostgreSQL one UPDATE)."""
        if not rows:
            return
        if self.conn.dialect.name != "postgresql":
            await _UPDATE_BY_KEY_SQLITE.many(self.conn, rows)
            return
        names = tuple(name for name in rows[0] if name not in ("key_station_id", "key_id"))
        columns = {
            "a_station_id": [r["key_station_id"] for r in rows],
            "a_id": [r["key_id"] for r in rows],
        }
        for name in names:
            columns[f"a_{name}"] = [r[name] for r in rows]
        await _update_from_arrays(names).rows(self.conn, columns)


_REMOTE_STARTS = table_of(RemoteStartRow)
_R = _REMOTE_STARTS.c


class RemoteStarts:
    """The RequestStartTransactions stations accepted, and the transactions that carry their
    remoteStartId, on one connection (inside the caller's database transaction)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def record(
        self, station_id: str, remote_start_id: int, id_token: str, id_token_type: str
    ) -> None:
        """Store one; a later request with the same id replaces it."""
        values = {
            "station_id": station_id,
            "remote_start_id": remote_start_id,
            "id_token": id_token,
            "id_token_type": id_token_type,
            "recorded_at": utcnow(),
        }
        insert = _INSERTS[self.conn.dialect.name](_REMOTE_STARTS).values(values)
        await self.conn.execute(
            insert.on_conflict_do_update(
                index_elements=["station_id", "remote_start_id"],
                set_={
                    name: insert.excluded[name]
                    for name in ("id_token", "id_token_type", "recorded_at")
                },
            )
        )

    async def find(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], tuple[str, str]]:
        """(idToken, type) of the (station_id, remote_start_id) keys that are stored."""
        if not keys:
            return {}
        # Few keys (a group's transactions waiting for theirs): one primary-key search each.
        stmt = select(_R.station_id, _R.remote_start_id, _R.id_token, _R.id_token_type).where(
            or_(*(and_(_R.station_id == s, _R.remote_start_id == r) for s, r in set(keys)))
        )
        return {
            (row.station_id, row.remote_start_id): (row.id_token, row.id_token_type)
            for row in await self.conn.execute(stmt)
        }

    async def lock_transactions(self, station_id: str, remote_start_id: int) -> Sequence[Row[Any]]:
        """The station's transactions that carry this remoteStartId (as the group write reads
        them), FOR UPDATE in key order."""
        stmt = (
            select(*_LOCKED)
            .where(_T.station_id == station_id, _T.remote_start_id == remote_start_id)
            .order_by(*_LOCK_ORDER)
            .with_for_update()
        )
        return (await self.conn.execute(stmt)).all()


_IDS16 = table_of(Ocpp16TransactionId)
_START_KEY = ("station_id", "connector_id", "id_tag", "timestamp", "meter_start")
_RS16 = table_of(Ocpp16RemoteStart)
# A 1.6 transaction starts when energy may flow (gateway/ocpp16.py), unless told otherwise.
_CHARGING_AT_START = "Charging"


@dataclasses.dataclass(frozen=True, slots=True)
class Assigned16:
    """What the assignment of a 1.6 StartTransaction's id gives."""

    transaction_id: int
    # False: the start had its id already (re-sent).
    assigned: bool
    # The remote start it follows (Ocpp16RemoteStart), None: none.
    remote_start_id: int | None
    # Its chargingState at the start (OCPP value).
    charging_state: str


class Ocpp16TransactionIds:
    """The integer transactionIds of OCPP 1.6J StartTransactions, on one connection (inside the
    caller's database transaction)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def assign(
        self,
        station_id: str,
        connector_id: int,
        id_tag: str,
        timestamp: datetime.datetime,
        meter_start: int,
        charging_state: str | None = None,
    ) -> Assigned16:
        """The id of this start, whether it was assigned now (False: the start had one), the
        remote start it follows and its chargingState at the start (``charging_state``, kept at
        the first assignment; None: Charging).

        Insert-or-fetch on the natural key's unique constraint, never read-then-write: two
        deliveries of the same start racing each other insert once (PostgreSQL: the second
        insert waits for the first's commit, then does nothing; SQLite: BEGIN IMMEDIATE
        serializes them), and the loser's SELECT, a statement after that commit, finds the
        winner's row. The transaction's row is created with it (protocol "ocpp1.6"), so that
        it is listed from the moment its id is given out, and a waiting remote start of the
        station for this idTag and connector is taken (:meth:`_take_remote_start`) in the same
        database transaction: the link is committed with the id, and found again by a re-send.
        """
        key = {
            "station_id": station_id,
            "connector_id": connector_id,
            "id_tag": id_tag,
            "timestamp": timestamp,
            "meter_start": meter_start,
        }
        insert = _INSERTS[self.conn.dialect.name]
        row = (
            await self.conn.execute(
                insert(_IDS16)
                .values(**key, created_at=utcnow(), charging_state=charging_state)
                .on_conflict_do_nothing(index_elements=list(_START_KEY))
                .returning(_IDS16.c.id)
            )
        ).first()
        if row is None:
            found = (
                await self.conn.execute(
                    select(_IDS16.c.id, _IDS16.c.charging_state).where(
                        *(_IDS16.c[name] == key[name] for name in _START_KEY)
                    )
                )
            ).first()
            if found is None:  # pragma: no cover - the conflicting row is committed
                raise RuntimeError(f"the transactionId of {key} vanished")
            linked = await self.conn.scalar(
                select(_RS16.c.remote_start_id)
                .where(_RS16.c.station_id == station_id, _RS16.c.transaction_id == found.id)
                .limit(1)
            )
            return Assigned16(
                int(found.id), False, linked, found.charging_state or _CHARGING_AT_START
            )
        transaction_id = int(row.id)
        await self.conn.execute(
            insert(_TRANSACTIONS)
            .values(station_id=station_id, id=str(transaction_id), protocol="ocpp1.6")
            .on_conflict_do_nothing(index_elements=["station_id", "id"])
        )
        remote_start_id = await self._take_remote_start(
            station_id, connector_id, id_tag, transaction_id
        )
        return Assigned16(
            transaction_id, True, remote_start_id, charging_state or _CHARGING_AT_START
        )

    async def _take_remote_start(
        self, station_id: str, connector_id: int, id_tag: str, transaction_id: int
    ) -> int | None:
        """The newest waiting, unexpired remote start of the station for ``id_tag`` (any case)
        on ``connector_id`` (or on none named), now taken by ``transaction_id``. The UPDATE
        takes it only while it still waits: of two starts racing for one remote start, the
        second (PostgreSQL: re-checked after the first's commit) takes nothing."""
        candidates = (
            select(_RS16.c.remote_start_id)
            .where(
                _RS16.c.station_id == station_id,
                _RS16.c.transaction_id.is_(None),
                equal_in_any_case(_RS16.c.id_tag, id_tag),
                or_(_RS16.c.connector_id.is_(None), _RS16.c.connector_id == connector_id),
                _RS16.c.expires_at > utcnow(),
            )
            .order_by(_RS16.c.created_at.desc(), _RS16.c.remote_start_id.desc())
        )
        for remote_start_id in (await self.conn.scalars(candidates)).all():
            taken = await self.conn.execute(
                update(_RS16)
                .where(
                    _RS16.c.station_id == station_id,
                    _RS16.c.remote_start_id == remote_start_id,
                    _RS16.c.transaction_id.is_(None),
                )
                .values(transaction_id=transaction_id)
            )
            if taken.rowcount == 1:
                return int(remote_start_id)
        return None


class Ocpp16RemoteStarts:
    """The remote starts on their way to 1.6 stations (models.Ocpp16RemoteStart), on one
    connection (inside the caller's database transaction)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def expect(
        self,
        station_id: str,
        remote_start_id: int,
        id_tag: str,
        connector_id: int | None,
        expires_at: datetime.datetime,
    ) -> None:
        """Keep it (waiting), replacing one of the same id; the station's remote starts that
        expired unused go."""
        now = utcnow()
        await self.conn.execute(
            delete(_RS16).where(
                _RS16.c.station_id == station_id,
                _RS16.c.transaction_id.is_(None),
                _RS16.c.expires_at <= now,
            )
        )
        values = {
            "id_tag": id_tag,
            "connector_id": connector_id,
            "expires_at": expires_at,
            "transaction_id": None,
            "created_at": now,
        }
        insert = _INSERTS[self.conn.dialect.name]
        await self.conn.execute(
            insert(_RS16)
            .values(station_id=station_id, remote_start_id=remote_start_id, **values)
            .on_conflict_do_update(index_elements=["station_id", "remote_start_id"], set_=values)
        )

    async def forget(self, station_id: str, remote_start_id: int) -> bool:
        """Drop it if it still waits; whether it did."""
        result = await self.conn.execute(
            delete(_RS16).where(
                _RS16.c.station_id == station_id,
                _RS16.c.remote_start_id == remote_start_id,
                _RS16.c.transaction_id.is_(None),
            )
        )
        return bool(result.rowcount)
