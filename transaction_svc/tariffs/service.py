"""Block I's use cases: tariffs as a resource, the cost of each transaction as its events come,
and the charge detail record written once when it ends.

**On every TransactionEvent** (:meth:`Tariffs.on_event`, after the event is stored): nothing at
all while no tariff exists (the list of tariffs is cached in the process and replaced when one
changes). Otherwise the transaction gets its tariff at its first event (a snapshot, see
:mod:`.domain`; ``{}`` when none applies, so the choice is made once), the event's chargingState
is kept for charging and idle time, and

- when the transaction has ended: its record is written (insert-only: a re-sent Ended finds it
  and answers the same total) and its total returned, for the TransactionEventResponse's
  ``totalCost`` (I03; OCPP's field "SHALL only be sent when charging has ended");
- while it runs, on an Updated event with meter values, a CostUpdated with the running total goes to
  the station (I02.FR.01) when the tariff asks for it (``costUpdateInterval``: at most one per
  that many seconds of the station's clock), in the background: the station's answer to its
  event never waits for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common import pagination
from common.db import utcnow
from common.errors import AlreadyExists, InvalidArgument, NotFound
from transaction_svc.domain import Event
from transaction_svc.models import Transaction
from transaction_svc.tariffs.domain import Cost, Tariff, cost, phases, pick
from transaction_svc.tariffs.models import ChargeDetailRecordRow, TariffRow, TransactionCostRow
from transaction_svc.tariffs.repository import TariffRepository

__all__ = ["Priced", "Tariffs", "tariff_of_row"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Priced:
    """What pricing an event gives its answer: the final total (ended transactions only) and
    the tariff's messages for the driver (none for an unpriced transaction)."""

    total: Decimal | None = None
    messages: tuple[Mapping[str, Any], ...] = ()


_UNPRICED = Priced()


class Groups(Protocol):
    async def group_of(self, id_token: str) -> str: ...


class CostUpdates(Protocol):
    async def cost_updated(self, station_id: str, transaction_id: str, total: Decimal) -> str: ...


def tariff_of_row(row: TariffRow) -> Tariff:
    return Tariff(
        id=row.id,
        name=row.name,
        currency=row.currency,
        price_per_kwh=Decimal(row.price_per_kwh),
        price_per_hour=Decimal(row.price_per_hour),
        idle_price_per_hour=Decimal(row.idle_price_per_hour),
        idle_grace=datetime.timedelta(seconds=row.idle_grace_seconds),
        session_fee=Decimal(row.session_fee),
        vat_percent=Decimal(row.vat_percent),
        is_default=row.is_default,
        station_ids=tuple(row.station_ids),
        group_id_tokens=tuple(row.group_id_tokens),
        cost_update_interval=row.cost_update_interval,
        personal_messages=tuple(row.personal_messages or ()),
    )


def _values(t: Tariff, created: datetime.datetime, updated: datetime.datetime) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "currency": t.currency,
        "price_per_kwh": str(t.price_per_kwh),
        "price_per_hour": str(t.price_per_hour),
        "idle_price_per_hour": str(t.idle_price_per_hour),
        "idle_grace_seconds": int(t.idle_grace.total_seconds()),
        "session_fee": str(t.session_fee),
        "vat_percent": str(t.vat_percent),
        "is_default": t.is_default,
        "station_ids": list(t.station_ids),
        "group_id_tokens": list(t.group_id_tokens),
        "cost_update_interval": t.cost_update_interval,
        "personal_messages": [dict(m) for m in t.personal_messages],
        "created_at": created,
        "updated_at": updated,
    }


def _energy_wh(tx: Transaction) -> Decimal:
    if tx.energy_first_wh is None or tx.energy_last_wh is None:
        return Decimal(0)
    # The readings are floats of at most a few decimals (Wh): their text is exact enough.
    return max(Decimal(repr(tx.energy_last_wh)) - Decimal(repr(tx.energy_first_wh)), Decimal(0))


def _time(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value)


class Tariffs:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        groups: Groups | None = None,
        cost_updates: CostUpdates | None = None,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.groups = groups
        self.cost_updates = cost_updates
        self.clock = clock
        self._cache: list[Tariff] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def all(self) -> list[Tariff]:
        if self._cache is None:
            async with self.sessions() as session:
                rows = await TariffRepository(session).tariffs()
            self._cache = [tariff_of_row(r) for r in rows]
        return self._cache

    # -- the resource ----------------------------------------------------------------------------

    def _check_default(self, tariff: Tariff, others: list[Tariff]) -> None:
        if tariff.is_default and any(t.is_default and t.id != tariff.id for t in others):
            raise InvalidArgument("isDefault: another tariff is the default already")

    async def create(self, tariff: Tariff) -> TariffRow:
        tariff.check()
        now = self.clock()
        async with self.sessions.begin() as session:
            repo = TariffRepository(session)
            if await repo.tariff(tariff.id) is not None:
                raise AlreadyExists(f"tariff {tariff.id} exists")
            self._check_default(tariff, [tariff_of_row(r) for r in await repo.tariffs()])
            await repo.put_tariff(_values(tariff, now, now))
        self._cache = None
        log.info("tariff %s created", tariff.id)
        return await self.get(tariff.id)

    async def update(self, tariff_id: str, fields: Mapping[str, Any]) -> TariffRow:
        async with self.sessions.begin() as session:
            repo = TariffRepository(session)
            row = await repo.tariff(tariff_id)
            if row is None:
                raise NotFound(f"tariff {tariff_id} not found")
            tariff = dataclasses.replace(tariff_of_row(row), **fields)
            tariff.check()
            self._check_default(tariff, [tariff_of_row(r) for r in await repo.tariffs()])
            await repo.put_tariff(_values(tariff, row.created_at, self.clock()))
        self._cache = None
        return await self.get(tariff_id)

    async def delete(self, tariff_id: str) -> None:
        async with self.sessions.begin() as session:
            repo = TariffRepository(session)
            if await repo.tariff(tariff_id) is None:
                raise NotFound(f"tariff {tariff_id} not found")
            await repo.delete_tariff(tariff_id)
        self._cache = None

    async def get(self, tariff_id: str) -> TariffRow:
        async with self.sessions() as session:
            row = await TariffRepository(session).tariff(tariff_id)
        if row is None:
            raise NotFound(f"tariff {tariff_id} not found")
        return row

    async def list_tariffs(self, page_size: int, page_token: str) -> tuple[list[TariffRow], str]:
        size = min(page_size or 50, 1000)
        after = pagination.decode_token(page_token)[0] if page_token else ""
        async with self.sessions() as session:
            rows = list(await TariffRepository(session).tariffs(after, size + 1))
        more = len(rows) > size
        return rows[:size], pagination.encode_token(rows[size - 1].id) if more else ""

    # -- transactions ----------------------------------------------------------------------------

    async def on_event(
        self, station_id: str, transaction_id: str, event: Event, group: str | None
    ) -> Priced:
        """After ``event`` was stored: the transaction's final total when it has ended (and its
        record written), and its tariff's messages for the driver (see the module's docstring).
        ``group``: the idToken group user_svc answered for the event's idToken, None when it
        carried none."""
        tariffs = await self.all()
        if not tariffs:
            return _UNPRICED
        async with self.sessions.begin() as session:
            repo = TariffRepository(session)
            tx = await repo.transaction(station_id, transaction_id)
            if tx is None:
                return _UNPRICED
            row = await repo.cost_row(station_id, transaction_id)
            if row is None:
                tariff = await self._choose(tariffs, tx, group)
                await repo.new_cost_row(
                    {
                        "station_id": station_id,
                        "transaction_id": transaction_id,
                        "tariff": tariff.as_json() if tariff is not None else {},
                        "states": [],
                        "cost_updated_at": None,
                        "created_at": self.clock(),
                    }
                )
                row = await repo.cost_row(station_id, transaction_id)
                assert row is not None
            if not row.tariff:
                return _UNPRICED
            messages = tuple(row.tariff.get("personalMessages") or ())
            if event.charging_state and event.seq_no not in {s[0] for s in row.states}:
                row.states = [
                    *row.states,
                    [event.seq_no, event.timestamp.isoformat(), event.charging_state],
                ]
            if not tx.active:
                return Priced(await self._record(repo, tx, row), messages)
            if self._cost_update_due(row, event):
                row.cost_updated_at = event.timestamp
                running = self._cost(row, tx, end=event.timestamp)
                self._send_cost_update(station_id, transaction_id, running.total)
        return Priced(None, messages)

    async def _choose(
        self, tariffs: list[Tariff], tx: Transaction, group: str | None
    ) -> Tariff | None:
        if (
            group is None
            and tx.id_token
            and self.groups is not None
            and any(t.group_id_tokens for t in tariffs)
        ):
            group = await self.groups.group_of(tx.id_token)
        return pick(tariffs, tx.station_id, [group] if group else [])

    def _cost(self, row: TransactionCostRow, tx: Transaction, end: datetime.datetime) -> Cost:
        start = tx.started_at or tx.created_at
        states = [(_time(ts), state) for _, ts, state in row.states]
        charging, idle = phases(states, start, end)
        return cost(Tariff.of_json(row.tariff), _energy_wh(tx), charging, idle)

    def _cost_update_due(self, row: TransactionCostRow, event: Event) -> bool:
        interval = row.tariff.get("costUpdateInterval")
        # Updated events only: at Started nothing is spent yet, Ended's answer has the total.
        if (
            interval is None
            or event.event_type != "Updated"
            or not event.meter_values
            or self.cost_updates is None
        ):
            return False
        last = row.cost_updated_at
        return last is None or (event.timestamp - last).total_seconds() >= interval

    def _send_cost_update(self, station_id: str, transaction_id: str, total: Decimal) -> None:
        assert self.cost_updates is not None
        sender = self.cost_updates

        async def send() -> None:
            answer = await sender.cost_updated(station_id, transaction_id, total)
            log.info("CostUpdated %s to %s (%s): %s", total, station_id, transaction_id, answer)

        task = asyncio.create_task(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(
        self, repo: TariffRepository, tx: Transaction, row: TransactionCostRow
    ) -> Decimal:
        existing = await repo.record(tx.station_id, tx.id)
        if existing is not None:
            return Decimal(existing.total)
        first, last = await repo.first_event_times(tx.station_id, tx.id)
        start = tx.started_at or first or tx.created_at
        end = tx.ended_at or last or start
        priced = self._cost(row, tx, end)
        charging, idle = phases([(_time(ts), state) for _, ts, state in row.states], start, end)
        await repo.new_record(
            {
                "station_id": tx.station_id,
                "transaction_id": tx.id,
                "id_token": tx.id_token,
                "evse_id": tx.evse_id,
                "start_time": start,
                "end_time": end,
                "energy_wh": str(_energy_wh(tx)),
                "charging_seconds": int(charging.total_seconds()),
                "idle_seconds": int(idle.total_seconds()),
                "tariff_id": row.tariff["id"],
                "currency": priced.currency,
                "cost": priced.as_json(),
                "total": str(priced.total),
                "created_at": self.clock(),
            }
        )
        log.info("charge detail record of %s: %s %s", tx.id, priced.total, priced.currency)
        return priced.total

    async def records(
        self,
        *,
        station_id: str,
        id_token: str,
        since: datetime.datetime | None,
        until: datetime.datetime | None,
        page_size: int,
        page_token: str,
    ) -> tuple[list[ChargeDetailRecordRow], str]:
        size = min(page_size or 50, 1000)
        after = None
        if page_token:
            created, station, transaction = pagination.decode_token(page_token)
            after = (datetime.datetime.fromisoformat(created), station, transaction)
        async with self.sessions() as session:
            rows = list(
                await TariffRepository(session).records(
                    station_id=station_id,
                    id_token=id_token,
                    since=since,
                    until=until,
                    after=after,
                    limit=size + 1,
                )
            )
        token = ""
        if len(rows) > size:
            last = rows[size - 1]
            token = pagination.encode_token(
                last.created_at.isoformat(), last.station_id, last.transaction_id
            )
        return rows[:size], token
