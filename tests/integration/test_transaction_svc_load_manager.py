"""transaction_svc.load_manager on a real database, with stations simulated in the test.

The simulated stations apply what they Accept at the moment they answer, and a checker adds up
what every EVSE of the site may draw after each change (its transaction's TxProfile once it
holds one, else its TxDefaultProfile): the sum must never pass the site's limit.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from common.db import create_engine, session_factory
from common.errors import AlreadyExists, InvalidArgument
from transaction_svc.load_manager.domain import SiteSpec
from transaction_svc.load_manager.service import LoadManager
from transaction_svc.models import Transaction
from transaction_svc.smart_charging.models import ChargingLimitRow

BASE = 1_900_000_000
T0 = datetime.datetime(2026, 12, 5, 8, 0, tzinfo=datetime.UTC)


class Stations:
    """Stations that keep profiles by id and answer as told."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.defaults: dict[tuple[str, int], float] = {}
        self.tx: dict[tuple[str, int], tuple[str, float]] = {}
        self.active: dict[tuple[str, int], str] = {}
        self.answer: Callable[[str, int, dict[str, Any]], str] = lambda s, e, p: "Accepted"
        self.sent: list[tuple[str, int, str, float]] = []
        self.peak = 0.0
        self.delay = 0.0

    def draw(self) -> float:
        total = 0.0
        for key, default in self.defaults.items():
            tx = self.active.get(key)
            held = self.tx.get(key)
            total += held[1] if tx is not None and held is not None and held[0] == tx else default
        return total

    async def set(self, station_id: str, evse_id: int, profile: dict[str, Any]) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        limit = profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]
        purpose = profile["chargingProfilePurpose"]
        self.sent.append((station_id, evse_id, purpose, limit))
        answer = self.answer(station_id, evse_id, profile)
        if answer in ("Accepted", "NoAnswer"):  # Unanswered: the station applied it anyway.
            if purpose == "TxDefaultProfile":
                assert profile["id"] == BASE + 2 * evse_id + 1
                self.defaults[(station_id, evse_id)] = limit
            else:
                assert profile["id"] == BASE + 2 * evse_id
                self.tx[(station_id, evse_id)] = (profile["transactionId"], limit)
            self.peak = max(self.peak, self.draw())
            assert self.draw() <= self.limit + 1e-9, (self.defaults, self.tx, self.active)
        return answer

    async def clear(self, station_id: str, profile_id: int) -> str:
        self.defaults.pop((station_id, (profile_id - BASE - 1) // 2), None)
        return "Accepted"


@pytest.fixture
async def sessions(migrated_db) -> AsyncIterator[async_sessionmaker[AsyncSession]]:  # type: ignore[no-untyped-def]
    url = await asyncio.to_thread(migrated_db, "transaction_svc")
    engine: AsyncEngine = create_engine(url)
    yield session_factory(engine)
    await engine.dispose()


async def start_tx(
    sessions: async_sessionmaker[AsyncSession],
    stations: Stations,
    station_id: str,
    evse_id: int,
    tx_id: str,
    minute: int,
) -> None:
    async with sessions.begin() as session:
        session.add(
            Transaction(
                station_id=station_id,
                id=tx_id,
                evse_id=evse_id,
                active=True,
                started_at=T0 + datetime.timedelta(minutes=minute),
            )
        )
    stations.active[(station_id, evse_id)] = tx_id


async def end_tx(
    sessions: async_sessionmaker[AsyncSession], stations: Stations, station_id: str, tx_id: str
) -> None:
    async with sessions.begin() as session:
        tx = await session.get(Transaction, (station_id, tx_id))
        assert tx is not None
        tx.active = False
        stations.active.pop((station_id, tx.evse_id or 0), None)


def site(limit: float, n: int, **fields: Any) -> SiteSpec:
    return SiteSpec(id="depot", limit=limit, evses=tuple((f"CS{i}", 1) for i in range(n)), **fields)


async def manager(
    sessions: async_sessionmaker[AsyncSession], stations: Stations, **kw: Any
) -> LoadManager:
    lm = LoadManager(sessions, stations, id_base=BASE, retry_after=kw.pop("retry_after", 60), **kw)
    await lm.start()
    return lm


async def test_defaults_then_equal_shares_lowering_before_raising(sessions) -> None:  # type: ignore[no-untyped-def]
    """Four EVSEs on 48 A: 12 A defaults; a lone EV gets the whole site (the idle EVSEs' defaults
    lowered to 0 first); each new transaction takes its share, the others lowered first; the
    site's draw never passes 48 A (the checker); the resource says why."""
    stations = Stations(48)
    lm = await manager(sessions, stations)
    await lm.create(site(48, 4))
    await lm.settled()
    assert stations.defaults == {(f"CS{i}", 1): 12.0 for i in range(4)}

    def limits() -> dict[str, float]:
        return {k[0]: v[1] for k, v in stations.tx.items() if stations.active.get(k) == v[0]}

    await start_tx(sessions, stations, "CS0", 1, "T0", 0)
    lm.touched("CS0")
    await lm.settled()
    assert limits() == {"CS0": 48.0}
    assert stations.defaults == {("CS0", 1): 12.0, ("CS1", 1): 0, ("CS2", 1): 0, ("CS3", 1): 0}
    assert stations.sent[-1] == ("CS0", 1, "TxProfile", 48.0)  # The raise came last.

    await start_tx(sessions, stations, "CS1", 1, "T1", 1)
    lm.touched("CS1")
    await lm.settled()
    assert limits() == {"CS0": 24.0, "CS1": 24.0}
    for i in (2, 3):
        await start_tx(sessions, stations, f"CS{i}", 1, f"T{i}", i)
    lm.touched("CS3")
    await lm.settled()
    assert limits() == {"CS0": 12.0, "CS1": 12.0, "CS2": 12.0, "CS3": 12.0}

    await end_tx(sessions, stations, "CS3", "T3")
    lm.touched("CS3")
    await lm.settled()
    assert limits() == {"CS0": 16.0, "CS1": 16.0, "CS2": 16.0}
    assert stations.defaults[("CS3", 1)] == 0.0  # No room left for an idle EVSE.
    assert stations.peak <= 48.0

    view = await lm.get("depot")
    assert view.decision.fallback == 12.0
    assert view.decision.allocated == 48.0
    reasons = set(view.decision.reasons.values())
    assert reasons == {"equal share of the site's 48 A among 3 transactions"}
    await lm.close()


async def test_limit_change_lowers_first_and_uses_the_room(sessions) -> None:  # type: ignore[no-untyped-def]
    """Two EVSEs, both charging; the limit goes 40 → 20 → 64 A (with a 32 A EVSE maximum):
    every lowering is Accepted before any raise is sent, the draw stays under the limit of the
    moment, and the limit is used."""
    stations = Stations(40)
    lm = await manager(sessions, stations)
    await lm.create(site(40, 2))
    await lm.settled()  # The defaults first.
    await start_tx(sessions, stations, "CS0", 1, "A", 0)
    await start_tx(sessions, stations, "CS1", 1, "B", 1)
    lm.touched("CS0")
    await lm.settled()
    assert stations.draw() == 40.0

    stations.limit = 40  # While lowering, the old limit holds; then the new one.
    stations.sent.clear()
    await lm.update("depot", {"limit": 20.0})
    await lm.settled()
    stations.limit = 20
    assert stations.draw() == 20.0
    assert {k: v[1] for k, v in stations.tx.items()} == {("CS0", 1): 10.0, ("CS1", 1): 10.0}
    assert stations.defaults == {("CS0", 1): 10.0, ("CS1", 1): 10.0}

    stations.sent.clear()
    await lm.update("depot", {"limit": 64.0, "evse_max": 32.0})
    await lm.settled()
    assert {k: v[1] for k, v in stations.tx.items()} == {("CS0", 1): 32.0, ("CS1", 1): 32.0}
    assert all(limit >= 10.0 for *_, limit in stations.sent)  # Raises only.
    view = await lm.get("depot")
    assert set(view.decision.reasons.values()) == {"the site's maximum per EVSE (32 A)"}
    await lm.close()


async def test_a_rejected_lowering_blocks_the_raise_it_would_fund(sessions) -> None:  # type: ignore[no-untyped-def]
    """Three EVSEs on 36 A, two charging at 18 A; the limit drops and one station refuses to be
    lowered: no raise that needs its room goes out, the other EV waits at 0; the site stays
    under the new limit."""
    stations = Stations(36)
    lm = await manager(sessions, stations)
    await lm.create(site(36, 3, evse_max=24.0))
    await lm.settled()
    await start_tx(sessions, stations, "CS0", 1, "A", 0)
    await start_tx(sessions, stations, "CS1", 1, "B", 1)
    await lm.update("depot", {"min_limit": 6.0})
    await lm.settled()
    # CS2 idle: A and B share 36 A; CS2's default has no room left.
    assert {k: v[1] for k, v in stations.tx.items()} == {("CS0", 1): 18.0, ("CS1", 1): 18.0}
    assert stations.defaults[("CS2", 1)] == 0.0

    # The limit drops to 18 A: both must go down to 9 A; CS1 refuses. Its 18 A are kept and
    # counted: A (older, but nothing is left) waits at 0 rather than the site going over.
    stations.answer = lambda s, e, p: "Rejected" if s == "CS1" else "Accepted"
    await lm.update("depot", {"limit": 18.0})
    await lm.settled()
    stations.limit = 18
    assert stations.tx == {("CS0", 1): ("A", 0.0), ("CS1", 1): ("B", 18.0)}
    assert stations.draw() <= 18.0
    view = await lm.get("depot")
    why = {k[0]: r for k, r in view.decision.reasons.items()}
    assert why["CS1"].startswith("kept at what the station holds: Rejected")
    assert why["CS0"].startswith("waiting:")
    assert view.decision.allocated == 18.0
    assert view.held[("CS1", 1, "B")].answer == "Rejected"
    await lm.close()


async def test_waiting_at_zero_when_the_minimum_does_not_fit(sessions) -> None:  # type: ignore[no-untyped-def]
    """16 A for three EVSEs: defaults 0 (5.3 A is under the 6 A minimum); the first two EVs get
    8 A each, the third waits at 0."""
    stations = Stations(16)
    lm = await manager(sessions, stations)
    await lm.create(site(16, 3))
    await lm.settled()
    assert set(stations.defaults.values()) == {0.0}
    for i in range(3):
        await start_tx(sessions, stations, f"CS{i}", 1, f"T{i}", i)
    lm.touched("CS0")
    await lm.settled()
    limits = {k[0]: v[1] for k, v in stations.tx.items()}
    assert limits == {"CS0": 8.0, "CS1": 8.0}
    assert stations.defaults[("CS2", 1)] == 0.0  # It charges at its default of 0: nothing sent.
    view = await lm.get("depot")
    assert view.decision.reasons[("CS2", 1, "T2")].startswith("waiting:")
    await lm.close()


async def test_an_unanswered_raise_is_counted_across_a_restart(sessions) -> None:  # type: ignore[no-untyped-def]
    """A raise that gets no answer may have been applied (here it was): it is counted as held,
    also by a new process on the same database, which lowers it before a new EV gets room."""
    stations = Stations(40)
    lm = await manager(sessions, stations)
    await lm.create(site(40, 2))
    # The site's first run (its defaults) ends before the transactions begin: running after the
    # first one only, it would raise CS0 to 40 A and lower it again (seen on a busy machine).
    await lm.settled()
    await start_tx(sessions, stations, "CS0", 1, "A", 0)
    await start_tx(sessions, stations, "CS1", 1, "B", 1)
    lm.touched("CS0")
    await lm.settled()
    assert stations.tx == {}  # Both charge at their 20 A defaults.

    stations.answer = lambda s, e, p: "NoAnswer" if s == "CS0" else "Accepted"
    await end_tx(sessions, stations, "CS1", "B")
    lm.touched("CS1")
    await lm.settled()
    assert stations.tx[("CS0", 1)] == ("A", 40.0)  # Applied, never answered.
    await lm.close()

    stations.answer = lambda s, e, p: "Accepted"
    await start_tx(sessions, stations, "CS1", 1, "C", 2)
    # A new process reads back what the last one left, before its first recompute (start()
    # kicks one at once: looking after it would race with it).
    lm = LoadManager(sessions, stations, id_base=BASE, retry_after=60)
    view = await lm.get("depot")
    assert view.held[("CS0", 1, "A")].answer == "NoAnswer"
    assert view.decision.current[("CS0", 1, "A")] == 40.0
    await lm.start()
    await lm.settled()
    assert stations.tx == {("CS0", 1): ("A", 20.0), ("CS1", 1): ("C", 20.0)}
    assert stations.peak <= 40.0
    await lm.close()


async def test_site_checks(sessions) -> None:  # type: ignore[no-untyped-def]
    stations = Stations(100)
    lm = await manager(sessions, stations)
    await lm.create(site(40, 2))
    with pytest.raises(AlreadyExists):
        await lm.create(site(40, 2))
    with pytest.raises(InvalidArgument, match="CS0 EVSE 1 is on site depot already"):
        await lm.create(SiteSpec(id="other", limit=10, evses=(("CS0", 1),)))
    with pytest.raises(InvalidArgument, match="limit must be 0 or more"):
        await lm.create(SiteSpec(id="x", limit=-1, evses=(("X", 1),)))
    with pytest.raises(InvalidArgument, match="evses must name at least one EVSE"):
        await lm.create(SiteSpec(id="x", limit=1))
    await lm.delete("depot")
    assert stations.defaults == {}
    await lm.close()


async def test_a_renegotiation_sends_the_tx_profile_again(sessions) -> None:  # type: ignore[no-untyped-def]
    """K15.FR.13: after an EV schedule above its limit, the EVSE's TxProfile goes out again,
    unchanged; an EVSE on no site is left alone."""
    stations = Stations(40)
    lm = await manager(sessions, stations)
    await lm.create(site(40, 2))
    await start_tx(sessions, stations, "CS0", 1, "A", 0)
    lm.touched("CS0")
    await lm.settled()
    assert stations.tx == {("CS0", 1): ("A", 40.0)}
    sent = len(stations.sent)
    lm.renegotiate("CS0", 1)
    lm.renegotiate("ELSEWHERE", 1)
    await lm.settled()
    assert stations.sent[sent:] == [("CS0", 1, "TxProfile", 40.0)]
    await lm.close()


async def test_external_limits_cap_their_transactions(sessions) -> None:  # type: ignore[no-untyped-def]
    """An EMS's 10 A on CS0's EVSE caps its transaction, the others share the rest; cleared,
    the shares are equal again."""
    stations = Stations(60)
    lm = await manager(sessions, stations)
    await lm.create(site(60, 4))  # 15 A defaults; the idle fourth keeps none once they charge.
    for i in range(3):
        await start_tx(sessions, stations, f"CS{i}", 1, f"T{i}", i)
    lm.touched("CS0")
    await lm.settled()
    assert {k[0]: v[1] for k, v in stations.tx.items()} == {"CS0": 20.0, "CS1": 20.0, "CS2": 20.0}

    schedule = {
        "id": 1,
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
    }
    async with sessions.begin() as session:
        session.add(
            ChargingLimitRow(
                station_id="CS0",
                source="EMS",
                evse_id=1,
                charging_limit={"chargingLimitSource": "EMS"},
                schedules=[schedule],
                updated_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5),
            )
        )
    lm.touched("CS0")
    await lm.settled()
    assert {k[0]: v[1] for k, v in stations.tx.items()} == {"CS0": 10.0, "CS1": 25.0, "CS2": 25.0}
    view = await lm.get("depot")
    assert view.decision.reasons[("CS0", 1, "T0")] == "the EVSE's external limit (10 A)"

    async with sessions.begin() as session:
        row = await session.get(ChargingLimitRow, ("CS0", "EMS", 1))
        await session.delete(row)
    lm.touched("CS0")
    await lm.settled()
    assert {k[0]: v[1] for k, v in stations.tx.items()} == {"CS0": 20.0, "CS1": 20.0, "CS2": 20.0}
    assert stations.peak <= 60.0
    await lm.close()


async def test_a_transaction_on_an_evse_that_never_took_a_default_gets_its_profile(
    sessions,
) -> None:  # type: ignore[no-untyped-def]
    """The station refused the default (or was not there): what its transaction draws is not
    known, so its TxProfile is sent even when the limit it is counted at is its target."""
    stations = Stations(32)
    stations.answer = lambda s, e, p: (
        "Rejected" if p["chargingProfilePurpose"] == "TxDefaultProfile" else "Accepted"
    )
    lm = await manager(sessions, stations)
    await lm.create(site(32, 1))
    await lm.settled()
    assert stations.defaults == {}
    await start_tx(sessions, stations, "CS0", 1, "A", 0)
    lm.touched("CS0")
    await lm.settled()
    assert stations.tx == {("CS0", 1): ("A", 32.0)}
    await lm.close()
