"""Transactions and their events on an AsyncSession: the only place transaction_svc writes SQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from transaction_svc.models import Transaction, TransactionEventRow

__all__ = ["TransactionRepository"]

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class TransactionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ensure(self, station_id: str, transaction_id: str) -> None:
        """Create the transaction's row unless it exists; safe when two events race to do it."""
        insert = _INSERTS[self.session.bind.dialect.name]
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

    async def page(
        self, station_id: str, active: bool | None, after: tuple[str, str] | None, limit: int
    ) -> Sequence[Transaction]:
        stmt = select(Transaction)
        if station_id:
            stmt = stmt.where(Transaction.station_id == station_id)
        if active is not None:
            stmt = stmt.where(Transaction.active == active)
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
