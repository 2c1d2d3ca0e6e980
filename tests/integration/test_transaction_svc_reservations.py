"""transaction_svc.reservations on a real database: the events of stations without a live
reservation skip the database, and a reservation made (or ended) meanwhile is seen at once."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from common.db import create_engine, session_factory
from csms.ocpp.v201 import messages_pb2 as ocpp
from transaction_svc.reservations.domain import REFUSED_BY_OTHER
from transaction_svc.reservations.service import Reservations

NOW = datetime.datetime(2026, 12, 5, 12, 0, tzinfo=datetime.UTC)


class Commands:
    """A station that Accepts every ReserveNow and CancelReservation."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    async def reserve_now(
        self, station_id: str, request: ocpp.ReserveNowRequest
    ) -> ocpp.ReserveNowResponse:
        self.sent.append(request.id)
        return ocpp.ReserveNowResponse(status=ocpp.RESERVE_NOW_STATUS_ACCEPTED)

    async def cancel(self, station_id: str, reservation_id: int) -> ocpp.CancelReservationResponse:
        return ocpp.CancelReservationResponse(status=ocpp.CANCEL_RESERVATION_STATUS_ACCEPTED)


@pytest.fixture
async def sessions(migrated_db) -> AsyncIterator[async_sessionmaker[AsyncSession]]:  # type: ignore[no-untyped-def]
    url = await asyncio.to_thread(migrated_db, "transaction_svc")
    engine: AsyncEngine = create_engine(url)
    yield session_factory(engine)
    await engine.dispose()


def reserve(evse_id: int, token: str) -> ocpp.ReserveNowRequest:
    request = ocpp.ReserveNowRequest(evse_id=evse_id)
    request.expiry_date_time.FromDatetime(NOW + datetime.timedelta(hours=1))
    request.id_token.id_token = token
    request.id_token.type = ocpp.ID_TOKEN_ISO14443
    return request


async def test_a_reservation_made_after_events_is_seen_at_once(sessions) -> None:  # type: ignore[no-untyped-def]
    reservations = Reservations(sessions, Commands(), clock=lambda: NOW)
    assert await reservations.on_event("CS1", "T0", None, 1, "OTHER", "") is None
    row = await reservations.create("CS1", reserve(1, "MINE"))
    assert row.state == "Accepted"
    assert await reservations.on_event("CS1", "T1", None, 1, "OTHER", "") == REFUSED_BY_OTHER
    assert await reservations.on_event("CS2", "T2", None, 1, "OTHER", "") is None
    await reservations.cancel(row.id)
    assert await reservations.on_event("CS1", "T3", None, 1, "OTHER", "") is None


async def test_a_reservation_the_station_removed_blocks_no_one(sessions) -> None:  # type: ignore[no-untyped-def]
    reservations = Reservations(sessions, Commands(), clock=lambda: NOW)
    row = await reservations.create("CS1", reserve(1, "MINE"))
    assert await reservations.on_event("CS1", "T1", None, 1, "OTHER", "") == REFUSED_BY_OTHER
    await reservations.status_update("CS1", row.id, "Removed")
    assert await reservations.on_event("CS1", "T2", None, 1, "OTHER", "") is None


async def test_a_used_or_expired_reservation_blocks_no_one(sessions) -> None:  # type: ignore[no-untyped-def]
    clock = [NOW]
    reservations = Reservations(sessions, Commands(), clock=lambda: clock[0])
    used = await reservations.create("CS1", reserve(1, "MINE"))
    assert await reservations.on_event("CS1", "T1", used.id, 1, "MINE", "") is None
    assert (await reservations.get(used.id)).state == "Used"
    assert await reservations.on_event("CS1", "T2", None, 1, "OTHER", "") is None
    await reservations.create("CS1", reserve(2, "MINE"))
    assert await reservations.on_event("CS1", "T3", None, 2, "OTHER", "") == REFUSED_BY_OTHER
    clock[0] = NOW + datetime.timedelta(hours=2)
    assert await reservations.sweep() == 1
    assert await reservations.on_event("CS1", "T4", None, 2, "OTHER", "") is None


async def test_a_new_process_reads_the_live_reservations_back(sessions) -> None:  # type: ignore[no-untyped-def]
    await Reservations(sessions, Commands(), clock=lambda: NOW).create("CS1", reserve(1, "MINE"))
    again = Reservations(sessions, Commands(), clock=lambda: NOW)
    assert await again.on_event("CS1", "T1", None, 1, "OTHER", "") == REFUSED_BY_OTHER


async def test_events_of_unreserved_stations_read_nothing(sessions) -> None:  # type: ignore[no-untyped-def]
    """The Started path of a fleet without reservations: no session per event."""
    opened = 0

    def counting() -> AsyncSession:
        nonlocal opened
        opened += 1
        return sessions()

    counting.begin = lambda: (counting(), sessions.begin())[1]  # type: ignore[attr-defined]
    reservations = Reservations(counting, Commands(), clock=lambda: NOW)  # type: ignore[arg-type]
    await reservations.create("CS1", reserve(1, "MINE"))
    assert await reservations.on_event("CS0", "T0", None, 1, "X", "") is None  # reads them once
    before = opened
    for i in range(100):
        assert await reservations.on_event(f"CS{i + 2}", f"T{i}", None, 1, "X", "") is None
    assert opened == before
    assert await reservations.on_event("CS1", "T", None, 1, "X", "") == REFUSED_BY_OTHER


async def test_the_reserved_driver_is_known_whatever_the_case_of_the_token(sessions) -> None:  # type: ignore[no-untyped-def]
    """OCPP 2.0.1's idToken is case-insensitive (IdTokenType): a reader that reports the token
    the reservation names in another case is its driver, not another one; so is a member of
    the group named in another case."""
    reservations = Reservations(sessions, Commands(), clock=lambda: NOW)
    await reservations.create("CS1", reserve(1, "04A2B3C4D5"))
    assert await reservations.on_event("CS1", "T1", None, 1, "04a2b3c4d5", "") is None
    grouped = reserve(2, "CARD-1")
    grouped.group_id_token.id_token = "Fleet-A"
    grouped.group_id_token.type = ocpp.ID_TOKEN_CENTRAL
    await reservations.create("CS1", grouped)
    assert await reservations.on_event("CS1", "T2", None, 2, "CARD-2", "FLEET-a") is None
    assert await reservations.on_event("CS1", "T3", None, 2, "fleet-a", "") is None
    assert await reservations.on_event("CS1", "T4", None, 2, "CARD-3", "") == REFUSED_BY_OTHER
    listed, _ = await reservations.list_reservations("", "", "04a2b3c4d5", 50, "")
    assert [r.id_token["idToken"] for r in listed] == ["04A2B3C4D5"]


async def test_listing_by_token_filters_before_the_page_is_cut(sessions) -> None:  # type: ignore[no-untyped-def]
    """?idToken= finds the token's reservations wherever they are, not only among the first
    page of all reservations; its pages follow on."""
    reservations = Reservations(sessions, Commands(), clock=lambda: NOW)
    for evse in range(1, 6):
        await reservations.create("CS1", reserve(evse, f"OTHER-{evse}"))
    for evse in range(6, 9):
        await reservations.create("CS1", reserve(evse, "MINE"))
    first, token = await reservations.list_reservations("", "", "mine", 2, "")
    assert [r.evse_id for r in first] == [6, 7] and token
    rest, token = await reservations.list_reservations("", "", "mine", 2, token)
    assert [r.evse_id for r in rest] == [8] and token == ""
