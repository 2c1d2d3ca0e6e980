"""Reservations' use cases (see :mod:`.domain` for the states and rules).

**Create** keeps the reservation first (state ``Sending``, its id assigned by the database),
checked against the live ones of its EVSE, then sends ReserveNow through device_svc and keeps
the station's answer as its state. A station that cannot be reached, or answers with an error,
leaves nothing live (state ``Failed``) and the caller gets the error. **Expiry** is the CSMS's
own too: every ``sweep_every`` seconds the live reservations past their expiryDateTime become
``Expired`` (the station expires them itself too; its ReservationStatusUpdate then finds them
so).

**Events** (TransactionEvent) of a station with no live reservation read nothing: the service
keeps the ids of the stations that have one (read once, forgotten by every write of its own;
transaction_svc is the only writer of its reservations, one process, like the tariffs' cache),
so the Started events of a fleet that reserves little cost no database round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common import pagination
from common.db import equal_in_any_case, utcnow
from common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from common.ocpp_json import to_ocpp
from csms.ocpp.v201 import messages_pb2 as ocpp
from transaction_svc.reservations.domain import (
    CANCELLED,
    EXPIRED,
    LIVE,
    REFUSED_BY_OTHER,
    USED,
    Held,
    check_new,
    others_token,
)
from transaction_svc.reservations.models import ReservationRow

__all__ = ["Reservations"]

log = logging.getLogger(__name__)

SENDING = "Sending"
FAILED = "Failed"


class Commands(Protocol):
    async def reserve_now(
        self, station_id: str, request: ocpp.ReserveNowRequest
    ) -> ocpp.ReserveNowResponse: ...

    async def cancel(
        self, station_id: str, reservation_id: int
    ) -> ocpp.CancelReservationResponse: ...


def _held(row: ReservationRow) -> Held:
    return Held(
        row.id,
        row.evse_id,
        str(row.id_token.get("idToken", "")),
        str((row.group_id_token or {}).get("idToken", "")),
    )


class Reservations:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        commands: Commands | None,
        *,
        sweep_every: float = 5.0,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.commands = commands
        self.sweep_every = sweep_every
        self.clock = clock
        self._sweeper: asyncio.Task[None] | None = None
        # The stations with a reservation Sending or live (None: to be read again), and the
        # count of writes, so that a read overtaken by a write is not kept.
        self._reserved: frozenset[str] | None = None
        self._writes = 0

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="reservation-expiry")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_every)
            try:
                await self.sweep()
            except Exception:
                log.exception("reservation expiry sweep failed; retried")

    async def sweep(self) -> int:
        """Live reservations past their expiry become Expired; how many."""
        now = self.clock()
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(ReservationRow)
                .where(ReservationRow.state.in_(sorted(LIVE)), ReservationRow.expiry <= now)
                .values(state=EXPIRED, updated_at=now)
            )
        expired = int(getattr(result, "rowcount", 0) or 0)
        if expired:
            self._forget()
            log.info("%d reservations expired", expired)
        return expired

    # -- the resource ----------------------------------------------------------------------------

    async def create(self, station_id: str, request: ocpp.ReserveNowRequest) -> ReservationRow:
        """Keep, send ReserveNow, keep the answer (see the module's docstring)."""
        if self.commands is None:
            raise FailedPrecondition("reservations need device_svc: none configured")
        now = self.clock()
        expiry = request.expiry_date_time.ToDatetime(tzinfo=datetime.UTC)
        evse_id = request.evse_id if request.HasField("evse_id") else None
        check_new(expiry, now, evse_id, station_id)
        if not request.id_token.id_token:
            raise InvalidArgument("idToken is required")
        payload = to_ocpp(request)
        self._forget()
        async with self.sessions.begin() as session:
            if evse_id is not None:
                live = await session.scalar(
                    select(ReservationRow.id).where(
                        ReservationRow.station_id == station_id,
                        ReservationRow.evse_id == evse_id,
                        ReservationRow.state.in_([*LIVE, SENDING]),
                        ReservationRow.expiry > now,
                    )
                )
                if live is not None:
                    raise AlreadyExists(
                        f"EVSE {evse_id} of {station_id} is reserved already ({live})"
                    )
            row = ReservationRow(
                station_id=station_id,
                evse_id=evse_id,
                connector_type=str(payload.get("connectorType", "")),
                id_token=dict(payload["idToken"]),
                group_id_token=dict(payload.get("groupIdToken") or {}),
                expiry=expiry,
                state=SENDING,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            reservation_id = row.id
        self._forget()
        sent = ocpp.ReserveNowRequest()
        sent.CopyFrom(request)
        sent.id = reservation_id
        try:
            answer = await self.commands.reserve_now(station_id, sent)
        except Exception:
            await self._set_state(reservation_id, FAILED)
            raise
        state = to_ocpp(answer).get("status", "Rejected")
        await self._set_state(reservation_id, state)
        log.info("reservation %d on %s: %s", reservation_id, station_id, state)
        return await self.get(reservation_id)

    async def _set_state(self, reservation_id: int, state: str, **values: Any) -> None:
        self._forget()
        async with self.sessions.begin() as session:
            await session.execute(
                update(ReservationRow)
                .where(ReservationRow.id == reservation_id)
                .values(state=state, updated_at=self.clock(), **values)
            )
        self._forget()

    def _forget(self) -> None:
        """A write (about to be made, or made): the stations reserved are read again. Called
        before the write (a read running meanwhile is not kept) and after its commit."""
        self._writes += 1
        self._reserved = None

    async def _reserved_stations(self) -> frozenset[str]:
        reserved = self._reserved
        if reserved is None:
            writes = self._writes
            async with self.sessions() as session:
                ids = await session.scalars(
                    select(ReservationRow.station_id)
                    .where(ReservationRow.state.in_(sorted({*LIVE, SENDING})))
                    .distinct()
                )
                reserved = frozenset(ids)
            if writes == self._writes:
                self._reserved = reserved
        return reserved

    async def get(self, reservation_id: int) -> ReservationRow:
        async with self.sessions() as session:
            row = await session.get(ReservationRow, reservation_id)
        if row is None:
            raise NotFound(f"reservation {reservation_id} not found")
        return row

    async def list_reservations(
        self, station_id: str, state: str, id_token: str, page_size: int, page_token: str
    ) -> tuple[list[ReservationRow], str]:
        size = min(page_size or 50, 1000)
        after = int(pagination.decode_token(page_token)[0]) if page_token else 0
        r = ReservationRow
        stmt = select(r).where(r.id > after).order_by(r.id).limit(size + 1)
        if station_id:
            stmt = stmt.where(r.station_id == station_id)
        if state:
            stmt = stmt.where(r.state == state)
        if id_token:  # in any case, as OCPP compares idTokens; before the page is cut
            stmt = stmt.where(equal_in_any_case(r.id_token["idToken"].as_string(), id_token))
        async with self.sessions() as session:
            rows = list((await session.scalars(stmt)).all())
        more = len(rows) > size
        return rows[:size], pagination.encode_token(str(rows[size - 1].id)) if more else ""

    async def cancel(self, reservation_id: int) -> ReservationRow:
        """CancelReservation to the station; Accepted: Cancelled. A reservation that is not
        live is FAILED_PRECONDITION, nothing sent."""
        assert self.commands is not None
        row = await self.get(reservation_id)
        if row.state not in LIVE:
            raise FailedPrecondition(f"reservation {reservation_id} is {row.state}, not live")
        answer = await self.commands.cancel(row.station_id, reservation_id)
        if answer.status == ocpp.CANCEL_RESERVATION_STATUS_ACCEPTED:
            await self._set_state(reservation_id, CANCELLED)
        else:
            log.info("reservation %d: the station Rejected its cancel", reservation_id)
        return await self.get(reservation_id)

    # -- from stations ---------------------------------------------------------------------------

    async def status_update(self, station_id: str, reservation_id: int, status: str) -> None:
        """ReservationStatusUpdate: Expired or Removed, for a reservation of that station."""
        self._forget()
        async with self.sessions.begin() as session:
            row = await session.get(ReservationRow, reservation_id)
            if row is None or row.station_id != station_id:
                log.info("ReservationStatusUpdate for unknown reservation %d", reservation_id)
                return
            if row.state in LIVE or row.state == SENDING:
                row.state = status
                row.updated_at = self.clock()
        self._forget()
        log.info("reservation %d: %s (the station)", reservation_id, status)

    async def on_event(
        self,
        station_id: str,
        transaction_id: str,
        reservation_id: int | None,
        evse_id: int | None,
        id_token: str,
        group: str,
    ) -> str | None:
        """A TransactionEvent: the reservation it names is Used by its transaction; returns
        the idTokenInfo status to answer instead of user_svc's when the event brings another
        driver's token to a reserved EVSE (:mod:`.domain`), else None."""
        if reservation_id is None and (not id_token or evse_id is None):
            return None  # Most events: nothing to look up (no database work on this path).
        if reservation_id is None and station_id not in await self._reserved_stations():
            return None  # No reservation of this station is live: nothing to refuse.
        now = self.clock()
        used = False
        rows: Sequence[ReservationRow] = ()
        async with self.sessions.begin() as session:
            if reservation_id is not None:
                row = await session.get(ReservationRow, reservation_id)
                if row is not None and row.station_id == station_id and row.state in LIVE:
                    self._forget()
                    row.state, row.transaction_id, row.updated_at = USED, transaction_id, now
                    used = True
            if not used and id_token and evse_id is not None:
                rows = (
                    await session.scalars(
                        select(ReservationRow).where(
                            ReservationRow.station_id == station_id,
                            ReservationRow.state.in_(sorted(LIVE)),
                            ReservationRow.expiry > now,
                        )
                    )
                ).all()
        if used:
            self._forget()
            log.info("reservation %d used by %s", reservation_id, transaction_id)
            return None
        if evse_id is None:
            return None
        blocking = others_token([_held(r) for r in rows], evse_id, id_token, group)
        if blocking is None:
            return None
        log.info("EVSE %d is reserved (%d) for another idToken", evse_id, blocking.id)
        return REFUSED_BY_OTHER
