"""device_svc's group-committed writes (ConnectStation, BootNotification, DisconnectStation) on
real SQLite and PostgreSQL: one group, each caller its own outcome, answers only after the
commit, one bad item failing alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from common import db
from common.errors import InvalidArgument, NotFound
from device_svc import repository
from device_svc.credentials import Passwords, Presented, Unauthenticated
from device_svc.models import Station, StationView
from device_svc.service import PENDING, REJECTED, Devices

# Cheap hashes: these tests are about the write path, not Argon2's cost.
_PASSWORDS = Passwords(time_cost=1, memory_cost=8)
_PASSWORD = "a-password-of-16+"


@pytest.fixture
async def engine(migrated_db) -> AsyncIterator[AsyncEngine]:  # type: ignore[no-untyped-def]
    url = await asyncio.to_thread(migrated_db, "device_svc")
    engine = db.create_engine(url)
    yield engine
    await engine.dispose()


def _devices(engine: Any) -> Devices:
    return Devices(
        async_sessionmaker(bind=engine, expire_on_commit=False), 60, passwords=_PASSWORDS
    )


@pytest.fixture
async def devices(engine: AsyncEngine) -> AsyncIterator[Devices]:
    devices = _devices(engine)
    yield devices
    await devices.drain()


async def _row(engine: AsyncEngine, station_id: str) -> Any:
    async with engine.connect() as conn:
        table = Station.__table__
        return (await conn.execute(select(table).where(table.c.id == station_id))).first()


def _count_groups(devices: Devices, name: str) -> list[list[str]]:
    """The station ids of every set-based group ``name`` writes from now on."""
    writes = getattr(devices, name)
    groups: list[list[str]] = []
    apply_many = writes.apply_many

    async def counted(conn: AsyncConnection, items: list[Any]) -> list[Any]:
        groups.append([i[0] if isinstance(i, tuple) else i.station_id for i in items])
        return await apply_many(conn, items)

    writes.apply_many = counted
    return groups


async def test_a_group_of_connects_gives_each_its_own_outcome(
    devices: Devices, engine: AsyncEngine
) -> None:
    """Connects waiting together are written in one group; refusals fail alone, write nothing."""
    await devices.create("KNOWN", {})
    groups = _count_groups(devices, "_connects")
    results = await asyncio.gather(
        devices.connect("NEW", True, "gw:1", allow_unsecured=True),
        devices.connect("KNOWN", False, "gw:1", allow_unsecured=True),
        devices.connect("NOPE", False, "gw:1", allow_unsecured=True),
        devices.connect("bad id!", True, "gw:1", allow_unsecured=True),
        devices.connect("LOCKED", True, "gw:1", allow_unsecured=False),
        return_exceptions=True,
    )
    new, known, nope, bad, locked = results
    assert isinstance(new, StationView) and new.epoch == 1 and new.connected
    assert isinstance(known, StationView) and known.epoch == 1 and known.gateway == "gw:1"
    assert isinstance(nope, NotFound)
    assert isinstance(bad, InvalidArgument)
    assert isinstance(locked, Unauthenticated)
    assert len(groups) == 1 and sorted(groups[0]) == sorted(
        ["NEW", "KNOWN", "NOPE", "bad id!", "LOCKED"]
    )
    stored = await _row(engine, "NEW")
    assert stored.connected and stored.epoch == 1 and stored.registration_status == "Accepted"
    assert stored.security_profile == 0 and stored.created_at is not None
    assert await _row(engine, "NOPE") is None
    assert await _row(engine, "LOCKED") is None


async def test_one_station_twice_in_a_group_gets_two_epochs(
    devices: Devices, engine: AsyncEngine
) -> None:
    """Replace-on-reconnect holds within one group: the later connect wins, as if sequential;
    a disconnect of the older epoch changes nothing."""
    first, second = await asyncio.gather(
        devices.connect("TWICE", True, "gw:1", allow_unsecured=True),
        devices.connect("TWICE", True, "gw:2", allow_unsecured=True),
    )
    assert (first.epoch, second.epoch) == (1, 2)
    stored = await _row(engine, "TWICE")
    assert (stored.epoch, stored.gateway, stored.connected) == (2, "gw:2", True)
    await devices.disconnect("TWICE", 1)
    assert (await _row(engine, "TWICE")).connected
    third = await devices.connect("TWICE", True, "gw:1", allow_unsecured=True)
    assert third.epoch == 3
    await asyncio.gather(devices.disconnect("TWICE", 2), devices.disconnect("TWICE", 3))
    assert not (await _row(engine, "TWICE")).connected


async def test_connect_returns_the_stations_connectors(devices: Devices) -> None:
    """The answer is the whole station, connectors included, as a read would give it."""
    await devices.create("WITH", {})
    when = db.utcnow()
    await devices.status("WITH", 1, 2, "Available", when)
    await devices.status("WITH", 1, 1, "Occupied", when)
    station = await devices.connect("WITH", False, "gw:1", allow_unsecured=True)
    assert [(c.evse_id, c.connector_id, c.status) for c in station.connectors] == [
        (1, 1, "Occupied"),
        (1, 2, "Available"),
    ]
    read = await devices.get("WITH")
    fields = ("evse_id", "connector_id", "status", "status_time")
    assert [[getattr(c, f) for f in fields] for c in station.connectors] == [
        [getattr(c, f) for f in fields] for c in read.connectors
    ]


async def test_nothing_is_answered_before_the_commit(devices: Devices, engine: AsyncEngine) -> None:
    """Every caller of a group returns after that group's commit, never before."""
    seen: list[str] = []
    event.listen(engine.sync_engine, "commit", lambda conn: seen.append("commit"))

    async def connect(station_id: str) -> None:
        await devices.connect(station_id, True, "gw:1", allow_unsecured=True)
        seen.append(station_id)

    await asyncio.gather(*(connect(f"CS{i}") for i in range(5)))
    assert seen[0] == "commit" and sorted(seen[1:]) == [f"CS{i}" for i in range(5)]


async def test_a_failed_commit_connects_nobody(engine: AsyncEngine, commit_fails) -> None:  # type: ignore[no-untyped-def]
    """When the group's commit fails, every connect of it fails and nothing is stored."""
    devices = _devices(commit_fails(engine))
    results = await asyncio.gather(
        devices.connect("A", True, "gw:1", allow_unsecured=True),
        devices.connect("B", True, "gw:1", allow_unsecured=True),
        return_exceptions=True,
    )
    assert [str(r) for r in results] == ["commit failed", "commit failed"]
    assert await _row(engine, "A") is None and await _row(engine, "B") is None


async def test_a_connect_failing_in_the_database_fails_alone(
    devices: Devices, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group's set-based write fails: written one by one, only the bad one fails."""
    real = repository.StationWriter.add

    async def add(self: repository.StationWriter, rows: Any) -> None:
        if any(r["id"] == "BAD" for r in rows):
            raise RuntimeError("disk says no")
        await real(self, rows)

    monkeypatch.setattr(repository.StationWriter, "add", add)
    results = await asyncio.gather(
        *(devices.connect(sid, True, "gw:1", allow_unsecured=True) for sid in ("A", "BAD", "C")),
        return_exceptions=True,
    )
    assert [r.epoch for r in (results[0], results[2])] == [1, 1]  # type: ignore[union-attr]
    assert isinstance(results[1], RuntimeError)
    assert await _row(engine, "BAD") is None
    assert (await _row(engine, "A")).connected and (await _row(engine, "C")).connected


async def test_password_is_verified_outside_the_group(
    devices: Devices, engine: AsyncEngine
) -> None:
    """Profile 1: the right password connects, a wrong one is refused and writes nothing."""
    await devices.create("PW", {"security_profile": 1, "basic_auth_password": _PASSWORD})
    good = Presented(password=_PASSWORD)
    bad = Presented(password="not-the-password-at-all")
    ok, refused = await asyncio.gather(
        devices.connect("PW", False, "gw:1", presented=good),
        devices.connect("PW", False, "gw:1", presented=bad),
        return_exceptions=True,
    )
    assert isinstance(ok, StationView) and ok.epoch == 1
    assert isinstance(refused, Unauthenticated)
    assert (await _row(engine, "PW")).epoch == 1


async def test_a_password_rotated_during_verification_is_verified_again(
    devices: Devices, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write happens only if the stored hash is still the verified one: a password rotated
    in between makes the connect verify against the new hash (and the old password fails)."""
    await devices.create("ROT", {"security_profile": 1, "basic_auth_password": _PASSWORD})
    new_hash = _PASSWORDS.hash("the-new-password-16")
    verified: list[str] = []
    real_verify = _PASSWORDS.verify

    def verify(password_hash: str, password: str) -> bool:
        verified.append(password_hash)
        result = real_verify(password_hash, password)
        if len(verified) == 1:  # the rotation lands while the first verification runs
            asyncio.run_coroutine_threadsafe(
                devices.set_password_hash("ROT", new_hash), loop
            ).result()
        return result

    loop = asyncio.get_running_loop()
    monkeypatch.setattr(devices.passwords, "verify", verify)
    with pytest.raises(Unauthenticated):
        await devices.connect("ROT", False, "gw:1", presented=Presented(password=_PASSWORD))
    assert verified[1] == new_hash
    assert (await _row(engine, "ROT")).epoch == 0


async def test_a_group_of_boots(devices: Devices, engine: AsyncEngine) -> None:
    """Boots waiting together: each answered from its station's policy, unknown ones Rejected;
    what a station reports replaces what is stored unless empty."""
    await devices.create("B1", {"model": "Old", "vendor_name": "Vendor"})
    await devices.create("B2", {"registration_status": PENDING, "accept_after_base_report": True})
    groups = _count_groups(devices, "_boots")
    one, two, unknown = await asyncio.gather(
        devices.boot("B1", "PowerUp", {"model": "New", "vendor_name": "", "serial_number": "S1"}),
        devices.boot("B2", "Watchdog", {}),
        devices.boot("B3", "PowerUp", {"model": "X"}),
    )
    assert len(groups) == 1
    assert (one.status, one.fetch_base_report) == ("Accepted", False)
    assert (two.status, two.fetch_base_report) == (PENDING, True)
    assert unknown.status == REJECTED
    b1 = await _row(engine, "B1")
    assert (b1.model, b1.vendor_name, b1.serial_number) == ("New", "Vendor", "S1")
    assert b1.boot_reason == "PowerUp" and b1.last_boot_at is not None
    assert (await _row(engine, "B2")).boot_reason == "Watchdog"
    assert await _row(engine, "B3") is None


@pytest.mark.parametrize("wanted", [1, 3, 4, 5])
async def test_the_writer_locks_the_stations_asked_for_read_as_sqlalchemy_reads_them(
    devices: Devices, engine: AsyncEngine, wanted: int
) -> None:
    """StationWriter.lock runs straight on the driver (common.prepared; on SQLite the ids padded
    to a power of two with the last one): exactly the stations asked for that exist, each row
    with every column as SQLAlchemy reads it (aware datetimes, bools, NULLs)."""
    for n in range(6):
        await devices.create(f"CS{n}", {})
    await devices.connect("CS1", False, "gw:1", allow_unsecured=True)
    asked = [f"CS{n}" for n in range(wanted)] + ["MISSING"]
    table = Station.__table__
    async with engine.begin() as conn:
        locked = await repository.StationWriter(conn).lock(asked)
        expected = {
            row.id: dict(row._mapping)
            for row in await conn.execute(select(table).where(table.c.id.in_(asked)))
        }
    assert sorted(locked) == [f"CS{n}" for n in range(wanted)]
    assert locked == expected
    assert locked["CS0"]["connected"] is False and locked["CS0"]["last_boot_at"] is None
    if wanted > 1:
        assert locked["CS1"]["connected"] is True
        assert locked["CS1"]["updated_at"].utcoffset() is not None


async def test_the_writer_locks_more_stations_than_a_chunk(
    devices: Devices, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids beyond one statement's chunk are read by the next statement, none lost."""
    chunks = repository._chunks
    monkeypatch.setattr(repository, "_chunks", lambda items: chunks(items, 3))
    for n in range(8):
        await devices.create(f"CS{n}", {})
    async with engine.begin() as conn:
        locked = await repository.StationWriter(conn).lock({f"CS{n}" for n in range(8)})
    assert sorted(locked) == [f"CS{n}" for n in range(8)]
