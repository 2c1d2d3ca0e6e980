"""The station message log's storage (device_svc/message_log) on SQLite and PostgreSQL: a batch
in one statement, pages newest first with their filters, pruning by age and by count."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from common.db import create_engine, session_factory
from common.errors import NotFound
from device_svc.message_log.service import Frame, MessageLog
from device_svc.models import Station

T0 = datetime.datetime(2026, 12, 5, 10, 0, tzinfo=datetime.UTC)


@pytest.fixture
async def sessions(migrated_db: Callable[[str], str]) -> AsyncIterator[Any]:
    url = await asyncio.to_thread(migrated_db, "device_svc")
    engine = create_engine(url)
    factory = session_factory(engine)
    async with factory.begin() as session:
        session.add(Station(id="CS1"))
    yield factory
    await engine.dispose()


def _frame(i: int, action: str = "Heartbeat", at: datetime.datetime = T0) -> Frame:
    return Frame("CS1", at + datetime.timedelta(seconds=i), "in", "call", f"m{i}", action, "{}")


async def test_pages_newest_first_with_filters(sessions: Any) -> None:
    log = MessageLog(sessions)
    await log.record([_frame(i, "Heartbeat" if i % 2 else "StatusNotification") for i in range(7)])
    rows, token = await log.page("CS1", None, "", 3, "")
    assert [r.message_id for r in rows] == ["m6", "m5", "m4"] and token
    rows, token = await log.page("CS1", None, "", 3, token)
    assert [r.message_id for r in rows] == ["m3", "m2", "m1"]
    rows, _ = await log.page("CS1", T0 + datetime.timedelta(seconds=4), "Heartbeat", 10, "")
    assert [r.message_id for r in rows] == ["m5"]
    with pytest.raises(NotFound):
        await log.page("NOPE", None, "", 10, "")


async def test_pruned_by_age_then_by_count(sessions: Any) -> None:
    now = [T0 + datetime.timedelta(days=8)]
    log = MessageLog(sessions, keep_days=7, max_rows=3, clock=lambda: now[0])
    await log.record([_frame(i) for i in range(2)])  # 8 days old
    await log.record([_frame(i, at=now[0]) for i in range(2, 7)])
    assert await log.prune() == 2 + 2  # the two old ones, then the oldest beyond 3
    rows, _ = await log.page("CS1", None, "", 10, "")
    assert [r.message_id for r in rows] == ["m6", "m5", "m4"]
