"""device_svc's certificate names on SQLite and PostgreSQL: the serial number an OCPP 1.6
station's certificate names it by is bound to that station for good (migration 0017,
models.CertificateName), so that it never names a station that reports the same serial later."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from common import db
from device_svc.credentials import Presented
from device_svc.models import Base, CertificateName
from device_svc.repository import StationWriter
from device_svc.service import Devices


def _ours(diff: list[Any]) -> Iterator[Any]:
    return (d for d in diff if CertificateName.__tablename__ in repr(d))


async def test_the_migration_makes_the_model(migrated_db) -> None:  # type: ignore[no-untyped-def]
    """The table migration 0017 makes is the one the model describes."""
    url = await asyncio.to_thread(migrated_db, "device_svc")
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    assert list(_ours(diff)) == []


async def test_a_serial_number_names_the_first_station_it_was_signed_for(migrated_db) -> None:  # type: ignore[no-untyped-def]
    """serial_identity binds a 1.6 station's unique serial number to it; after that station
    reports another serial and a second one reports the first, the name stays the first's: the
    second gets none, and the binding never moves. A binding goes with its station."""
    url = await asyncio.to_thread(migrated_db, "device_svc")
    engine = db.create_engine(url)
    try:
        devices = Devices(db.session_factory(engine), heartbeat_interval=60)
        for sid in ("A16", "B16", "C20"):
            await devices.create(sid, {})
        for sid, protocol in (("A16", "ocpp1.6"), ("B16", "ocpp1.6"), ("C20", "ocpp2.0.1")):
            await devices.connect(
                sid, False, "gw:1", 60, Presented(), allow_unsecured=True, protocol=protocol
            )
        async with engine.begin() as conn:
            writer = StationWriter(conn)
            await conn.execute(
                Base.metadata.tables["charging_stations"]
                .update()
                .where(Base.metadata.tables["charging_stations"].c.id.in_(["A16", "C20"]))
                .values(serial_number="SN-X")
            )
        # Two stations report SN-X: unbound, it names no one.
        assert await devices.serial_identity("A16") == ""
        assert await devices.serial_identity("C20") == ""  # and never a 2.0.1 station
        async with engine.begin() as conn:
            table = Base.metadata.tables["charging_stations"]
            await conn.execute(table.update().where(table.c.id == "C20").values(serial_number=""))
        assert await devices.serial_identity("A16") == "SN-X"
        async with engine.begin() as conn:
            writer = StationWriter(conn)
            assert await writer.certificate_names(["SN-X"]) == {"SN-X": "A16"}
            table = Base.metadata.tables["charging_stations"]
            await conn.execute(
                table.update().where(table.c.id == "A16").values(serial_number="SN-Y")
            )
            await conn.execute(
                table.update().where(table.c.id == "B16").values(serial_number="SN-X")
            )
        assert await devices.serial_identity("B16") == ""
        async with engine.begin() as conn:
            writer = StationWriter(conn)
            assert await writer.bind_certificate_names({"SN-X": "B16"}) == {"SN-X": "A16"}
        await devices.delete("A16")
        async with engine.begin() as conn:
            assert await StationWriter(conn).certificate_names(["SN-X"]) == {}
    finally:
        await engine.dispose()
