"""The station message log's storage (device_svc/message_log) on SQLite and PostgreSQL: a
gateway's batches in one statement, pages newest first with their filters (replies linked
across batches), pruning by age and by count of frames; revision 0014 keeping 0013's frames;
and on PostgreSQL a large batch compressed by lz4 (0018)."""

from __future__ import annotations

import asyncio
import datetime
import pathlib
import uuid
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from common import db
from common.db import create_engine, session_factory
from common.errors import InvalidArgument, NotFound
from common.message_log_codec import IN, OUT, encode
from device_svc.message_log.service import Batch, MessageLog
from device_svc.models import Station

T0 = datetime.datetime(2026, 12, 5, 10, 0, tzinfo=datetime.UTC)
NS0 = int(T0.timestamp()) * 1_000_000_000
SECOND = 1_000_000_000


@pytest.fixture
async def sessions(migrated_db: Callable[[str], str]) -> AsyncIterator[Any]:
    url = await asyncio.to_thread(migrated_db, "device_svc")
    engine = create_engine(url)
    factory = session_factory(engine)
    async with factory.begin() as session:
        session.add(Station(id="CS1"))
    yield factory
    await engine.dispose()


def _batch(*frames: tuple[int, str, str]) -> Batch:
    """A batch as the gateway sends it: frames (seconds after T0, direction, text)."""
    raw = [(NS0 + s * SECOND, d, t) for s, d, t in frames]
    return Batch(
        "CS1",
        T0 + datetime.timedelta(seconds=frames[0][0]),
        T0 + datetime.timedelta(seconds=frames[-1][0]),
        len(frames),
        zlib.compress(orjson.dumps(raw), 1),
    )


def _hb(i: int, action: str = "Heartbeat") -> tuple[int, str, str]:
    return i, "in", f'[2,"m{i}","{action}",{{}}]'


async def test_pages_newest_first_with_filters(sessions: Any) -> None:
    log = MessageLog(sessions)
    await log.record(
        [_batch(*(_hb(i, "Heartbeat" if i % 2 else "StatusNotification") for i in range(4)))]
    )
    await log.record(
        [_batch(*(_hb(i, "Heartbeat" if i % 2 else "StatusNotification") for i in range(4, 7)))]
    )
    frames, token = await log.page("CS1", None, "", 3, "")
    assert [f.message_id for f in frames] == ["m6", "m5", "m4"] and token
    frames, token = await log.page("CS1", None, "", 3, token)
    assert [f.message_id for f in frames] == ["m3", "m2", "m1"] and token
    frames, token = await log.page("CS1", None, "", 3, token)
    assert [f.message_id for f in frames] == ["m0"] and not token
    frames, _ = await log.page("CS1", T0 + datetime.timedelta(seconds=4), "Heartbeat", 10, "")
    assert [f.message_id for f in frames] == ["m5"]
    assert frames[0].at == T0 + datetime.timedelta(seconds=5)
    with pytest.raises(NotFound):
        await log.page("NOPE", None, "", 10, "")
    with pytest.raises(InvalidArgument):
        await log.page("CS1", None, "", 10, "bm90LWEtbnVtYmVy")


async def test_a_reply_in_a_later_batch_is_listed_under_its_call(sessions: Any) -> None:
    log = MessageLog(sessions)
    await log.record([_batch((0, "out", '[2,"r1","Reset",{"type":"Immediate"}]'))])
    await log.record([_batch(*(_hb(i) for i in range(1, 30)))])
    await log.record([_batch((30, "in", '[3,"r1",{"status":"Accepted"}]'))])
    frames, _ = await log.page("CS1", None, "Reset", 10, "")
    assert [(f.direction, f.type, f.payload) for f in frames] == [
        ("in", "result", {"status": "Accepted"}),
        ("out", "call", {"type": "Immediate"}),
    ]


async def test_pruned_by_age_then_by_count(sessions: Any) -> None:
    now = [T0 + datetime.timedelta(days=8)]
    log = MessageLog(sessions, keep_days=7, max_frames=4, clock=lambda: now[0])
    await log.record([_batch(_hb(0), _hb(1))])  # 8 days old
    days = 8 * 24 * 3600
    for first in (2, 4, 6):
        await log.record([_batch(_hb(days + first), _hb(days + first + 1))])
    # the two old frames, then the oldest batch beyond 4 frames (2 frames)
    assert await log.prune() == 2 + 2
    frames, _ = await log.page("CS1", None, "", 10, "")
    assert [f.message_id for f in frames] == [f"m{days + i}" for i in (7, 6, 5, 4)]
    assert await log.prune() == 0


def test_revision_0014_keeps_0013s_frames(tmp_path: pathlib.Path) -> None:
    from alembic import command

    from tests.integration.test_migrations_keep_rows import _config

    path = tmp_path / "device.db"
    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(db.ensure_database(url))
    command.upgrade(_config("device_svc", url), "0013")
    engine = sa.create_engine(f"sqlite:///{path}")
    rows = [
        ("call", "a", "SetVariables", '{"setVariableData":[]}', "out"),
        ("result", "a", "SetVariables", '{"setVariableResult":[]}', "in"),
        ("error", "b", "Reset", '{"code":"NotImplemented","description":"","details":{}}', "in"),
        ("call", "", "", '{"unparsed":"not json"}', "in"),
    ]
    with engine.begin() as conn:
        for n, (kind, mid, action, payload, direction) in enumerate(rows):
            conn.execute(
                sa.text(
                    "INSERT INTO station_messages (station_id, at, direction, type, message_id,"
                    " action, payload) VALUES ('CS1', :at, :d, :t, :m, :a, :p)"
                ),
                {
                    "at": (T0 + datetime.timedelta(seconds=n)).isoformat(sep=" "),
                    "d": direction,
                    "t": kind,
                    "m": mid,
                    "a": action,
                    "p": payload,
                },
            )
    command.upgrade(_config("device_svc", url), "head")
    with engine.begin() as conn:
        batches = conn.execute(
            sa.text("SELECT frames, body FROM station_message_batches ORDER BY id")
        ).all()
    engine.dispose()
    assert [n for n, _ in batches] == [1, 1, 1, 1]
    frames = [orjson.loads(zlib.decompress(body))[0] for _, body in batches]
    assert [(f[1], orjson.loads(f[2]) if f[2].startswith("[") else f[2]) for f in frames] == [
        ("out", [2, "a", "SetVariables", {"setVariableData": []}]),
        ("in", [3, "a", {"setVariableResult": []}]),
        ("in", [4, "b", "NotImplemented", "", {}]),
        ("in", "not json"),
    ]
    assert frames[1][0] - frames[0][0] == SECOND


@pytest.mark.postgres
async def test_postgresql_compresses_a_busy_stations_batch_with_lz4(postgres_url: str) -> None:
    """A batch over TOAST's 2 KB (a busy station's half second) is compressed by lz4, not by
    PostgreSQL's default pglz (revision 0018): its times' high bytes compress (the zlib'd texts
    do not), and pglz spent four to five times lz4's CPU for that. Stored and read back whole."""
    url = f"{postgres_url}/csms_test_log_lz4_{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(db.migrate, "device_svc", url)
    engine = create_engine(url)
    try:
        factory = session_factory(engine)
        async with factory.begin() as session:
            session.add(Station(id="CS1"))
        times, directions, texts = [], [], []
        for i in range(400):  # 400 Heartbeats and their answers, about 2.9 ms apart
            at = NS0 + i * 2_857_143 + (i * 7919) % 100_000
            times += [at, at + 400_000]
            directions += [IN, OUT]
            texts += [
                f'[2,"m{i}","Heartbeat",{{}}]',
                f'[3,"m{i}",{{"currentTime":"2026-12-05T10:00:{i % 60:02d}Z"}}]',
            ]
        body = encode(times, directions, texts)
        assert len(body) > 4096  # beyond what a row keeps inline
        await MessageLog(factory).record(
            [Batch("CS1", T0, T0 + datetime.timedelta(seconds=2), 800, body)]
        )
        async with engine.connect() as conn:
            method, stored = (
                await conn.execute(
                    sa.text(
                        "SELECT pg_column_compression(body), pg_column_size(body)"
                        " FROM station_message_batches"
                    )
                )
            ).one()
        assert method == "lz4"
        assert stored < 0.8 * len(body)
        page, _ = await MessageLog(factory).page("CS1", None, "", 1000, "")
        assert len(page) == 800
    finally:
        await engine.dispose()
        await db.drop_database(url)
