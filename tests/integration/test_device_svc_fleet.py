"""device_svc's fleet (device_svc/fleet) on real databases: the counts, the states of chosen
stations, and a watch that says what changed, each once."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import create_engine, session_factory
from device_svc.fleet.service import Fleet
from device_svc.models import Connector, GatewayLease, Station
from device_svc.repository import StationRepository

NOW = datetime.datetime(2026, 12, 5, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
async def sessions(migrated_db: Callable[[str], str]) -> AsyncIterator[Any]:
    url = await asyncio.to_thread(migrated_db, "device_svc")
    engine = create_engine(url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def fleet(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Fleet]:
    async with sessions.begin() as session:
        lease = NOW + datetime.timedelta(seconds=30)
        session.add_all(
            [
                Station(id="F1", connected=True, lease_expires_at=lease),
                Station(id="F2", connected=True, lease_expires_at=lease),
                # Connected once, but its gateway's lease ran out: offline.
                Station(id="F3", connected=True, lease_expires_at=NOW),
                Station(id="F4"),
                # Under gateway leases: a live one, one run out (a crashed gateway), one gone.
                GatewayLease(id="g-live", address="gw1:1", expires_at=lease),
                GatewayLease(id="g-dead", address="gw2:1", expires_at=NOW),
                Station(id="F5", connected=True, gateway_lease="g-live"),
                Station(id="F6", connected=True, gateway_lease="g-dead"),
                Station(id="F7", connected=True, gateway_lease="g-forgotten"),
                # Disconnected from a gateway whose lease runs: offline.
                Station(id="F8", connected=False, gateway_lease="g-live"),
                Connector(
                    station_id="F5", evse_id=1, connector_id=1, status="Faulted", status_time=NOW
                ),
                Connector(
                    station_id="F6", evse_id=1, connector_id=1, status="Faulted", status_time=NOW
                ),
                Connector(
                    station_id="F2", evse_id=1, connector_id=1, status="Faulted", status_time=NOW
                ),
                Connector(
                    station_id="F2", evse_id=2, connector_id=1, status="Faulted", status_time=NOW
                ),
                Connector(
                    station_id="F3", evse_id=1, connector_id=1, status="Faulted", status_time=NOW
                ),
                Connector(
                    station_id="F1", evse_id=1, connector_id=1, status="Occupied", status_time=NOW
                ),
            ]
        )

    async def charging() -> int:
        return 1

    yield Fleet(sessions, charging, interval=0.01, clock=lambda: NOW)


async def test_counts(fleet: Fleet) -> None:
    counts = await fleet.summary()
    assert (counts.stations, counts.connected, counts.offline) == (8, 3, 5)
    assert counts.faulted == 2  # F2 once, F5; not F3 nor F6 (offline)
    assert counts.charging == 1


async def test_the_charging_count_is_unknown_when_transaction_svc_fails(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async def down() -> int:
        raise ConnectionError("transaction_svc down")

    counts = await Fleet(sessions, down, clock=lambda: NOW).summary()
    assert counts.charging is None


async def test_states_and_a_watch_that_sends_only_changes(
    fleet: Fleet, sessions: async_sessionmaker[AsyncSession]
) -> None:
    states = await fleet.states(["F1", "F2", "F3", "F5", "F6", "F7", "F8", "nope"])
    assert {i: s.status for i, s in states.items()} == {
        "F1": "occupied",
        "F2": "faulted",
        "F3": "offline",
        "F5": "faulted",
        "F6": "offline",
        "F7": "offline",
        "F8": "offline",
    }
    watch = fleet.watch(["F1", "F4"], keepalive=3600)
    first = await anext(watch)
    assert sorted(s.id for s in first.stations) == ["F1", "F4"]
    async with sessions.begin() as session:
        row = await session.get(Connector, ("F1", 1, 1))
        assert row is not None
        row.status = "Faulted"
    second = await anext(watch)
    assert [(s.id, s.status) for s in second.stations] == [("F1", "faulted")]
    assert second.counts.faulted == 3
    fleet.stop()
    with pytest.raises(StopAsyncIteration):
        await anext(watch)


async def test_the_status_filter_decides_like_the_counts(
    fleet: Fleet, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """ListChargingStations' status filter: connected and offline split the stations as the
    counts do, gateway leases included; faulted is connected with a Faulted connector."""
    async with sessions() as session:
        repo = StationRepository(session)
        pages = {
            status: [s.id for s in await repo.page("", 100, status=status, now=NOW)]
            for status in ("connected", "offline", "faulted")
        }
    assert pages == {
        "connected": ["F1", "F2", "F5"],
        "offline": ["F3", "F4", "F6", "F7", "F8"],
        "faulted": ["F2", "F5"],
    }
