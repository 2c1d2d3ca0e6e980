"""common.db.GroupCommit on real SQLite and PostgreSQL: batches, SAVEPOINTs, commit-then-answer."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from common import db


@pytest.fixture
async def engine(migrated_db):  # type: ignore[no-untyped-def]
    url = await asyncio.to_thread(migrated_db, "transaction_svc")
    engine = db.create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE gc_items (k INTEGER PRIMARY KEY)"))
    yield engine
    await engine.dispose()


async def _insert(conn: AsyncConnection, k: int) -> int:
    await conn.execute(text("INSERT INTO gc_items (k) VALUES (:k)"), {"k": k})
    return k


async def _stored(engine) -> list[int]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return list((await conn.scalars(text("SELECT k FROM gc_items ORDER BY k"))).all())


async def test_one_bad_item_does_not_spoil_its_batch(engine) -> None:  # type: ignore[no-untyped-def]
    """Items submitted together share a commit; the one that fails alone is rolled back."""
    writer = db.GroupCommit(engine, _insert, max_wait=0)
    results = await asyncio.gather(
        *(writer.submit(k) for k in (1, 2, 2, 3)), return_exceptions=True
    )
    assert results[:2] == [1, 2] and results[3] == 3
    assert isinstance(results[2], IntegrityError)
    assert await _stored(engine) == [1, 2, 3]


async def test_recover_turns_an_error_into_a_result(engine) -> None:  # type: ignore[no-untyped-def]
    """recover() runs after the SAVEPOINT rolled back, in the same transaction."""

    async def recover(conn: AsyncConnection, k: int, exc: Exception) -> int:
        assert isinstance(exc, IntegrityError)
        return -k

    writer = db.GroupCommit(engine, _insert, recover=recover, max_wait=0)
    assert await asyncio.gather(*(writer.submit(k) for k in (5, 5))) == [5, -5]
    assert await _stored(engine) == [5]


async def test_a_failed_commit_answers_nobody(engine, commit_fails) -> None:  # type: ignore[no-untyped-def]
    """When the batch's commit fails, every item of it fails: none is acknowledged."""
    writer = db.GroupCommit(commit_fails(engine), _insert, max_wait=0)  # type: ignore[arg-type]
    results = await asyncio.gather(*(writer.submit(k) for k in (7, 8)), return_exceptions=True)
    assert [str(r) for r in results] == ["commit failed", "commit failed"]
    assert await _stored(engine) == []


async def _insert_many(conn: AsyncConnection, ks: list[int]) -> list[int]:
    await conn.execute(text("INSERT INTO gc_items (k) VALUES (:k)"), [{"k": k} for k in ks])
    return ks


async def test_apply_many_writes_a_batch_in_one_call(engine) -> None:  # type: ignore[no-untyped-def]
    """With apply_many the waiting items go to it together; each caller gets its own result."""
    calls: list[list[int]] = []

    async def apply_many(conn: AsyncConnection, ks: list[int]) -> list[int]:
        calls.append(list(ks))
        return [k * 10 for k in await _insert_many(conn, ks)]

    writer = db.GroupCommit(engine, _insert, apply_many=apply_many, order=lambda k: k, max_wait=0)
    assert await asyncio.gather(*(writer.submit(k) for k in (3, 1, 2))) == [30, 10, 20]
    assert calls == [[1, 2, 3]]  # one batch, in order
    assert await _stored(engine) == [1, 2, 3]


async def test_a_failing_apply_many_falls_back_to_one_by_one(engine) -> None:  # type: ignore[no-untyped-def]
    """apply_many's writes are rolled back when it raises; then one bad item fails alone."""
    writer = db.GroupCommit(engine, _insert, apply_many=_insert_many, max_wait=0)
    results = await asyncio.gather(
        *(writer.submit(k) for k in (1, 2, 2, 3)), return_exceptions=True
    )
    assert results[:2] == [1, 2] and results[3] == 3
    assert isinstance(results[2], IntegrityError)
    assert await _stored(engine) == [1, 2, 3]


async def test_apply_many_with_too_few_results_is_rolled_back(engine) -> None:  # type: ignore[no-untyped-def]
    """A result list that does not match the batch is not trusted: its writes are undone and
    the items are written one by one (stored once, each caller answered)."""

    async def short(conn: AsyncConnection, ks: list[int]) -> list[int]:
        return (await _insert_many(conn, ks))[:-1]

    writer = db.GroupCommit(engine, _insert, apply_many=short, max_wait=0)
    assert await asyncio.gather(*(writer.submit(k) for k in (4, 5))) == [4, 5]
    assert await _stored(engine) == [4, 5]


async def test_a_failed_commit_after_apply_many_answers_nobody(engine, commit_fails) -> None:  # type: ignore[no-untyped-def]
    """The set-based write's commit failing is not a reason to write item by item: every
    item of the batch fails, nothing is stored."""
    writer = db.GroupCommit(commit_fails(engine), _insert, apply_many=_insert_many, max_wait=0)
    results = await asyncio.gather(*(writer.submit(k) for k in (7, 8)), return_exceptions=True)
    assert [str(r) for r in results] == ["commit failed", "commit failed"]
    assert await _stored(engine) == []


async def test_items_that_found_no_write_running_go_at_once(engine) -> None:  # type: ignore[no-untyped-def]
    """A lump that arrives while nothing is being written (a batch RPC's items: its caller sends
    no more before it is answered) is written at once, not after waiting for as many as the
    last group had."""
    writer = db.GroupCommit(engine, _insert, max_wait=2.0)
    assert await asyncio.gather(*(writer.submit(k) for k in range(10))) == list(range(10))
    started = asyncio.get_running_loop().time()
    assert await asyncio.gather(*(writer.submit(k) for k in range(10, 15))) == list(range(10, 15))
    assert asyncio.get_running_loop().time() - started < 1.0


async def test_after_a_write_the_writer_waits_for_the_callers_it_answered(engine) -> None:  # type: ignore[no-untyped-def]
    """Items queued behind a write are taken after waiting (up to max_wait) for as many as the
    last group: those callers were just answered and are likely to send more."""
    groups: list[int] = []

    async def insert_many(conn: AsyncConnection, items: list[int]) -> list[int]:
        groups.append(len(items))
        for k in items:
            await _insert(conn, k)
        return items

    writer = db.GroupCommit(engine, _insert, apply_many=insert_many, max_wait=0.5)
    first = [asyncio.create_task(writer.submit(k)) for k in range(4)]
    await asyncio.sleep(0)  # the writer takes these four; the next ones queue behind its write
    behind = [asyncio.create_task(writer.submit(k)) for k in range(4, 6)]
    await asyncio.gather(*first)
    later = [asyncio.create_task(writer.submit(k)) for k in range(6, 8)]
    await asyncio.gather(*behind, *later)
    assert groups == [4, 4]


async def test_a_lingering_writer_gathers_items_that_come_apart(engine) -> None:  # type: ignore[no-untyped-def]
    """With ``linger``, a writer that finds one item waits that long for more (a fleet's events
    from many gateways, each alone): items that come meanwhile share its commit."""
    groups: list[int] = []

    async def insert_many(conn: AsyncConnection, items: list[int]) -> list[int]:
        groups.append(len(items))
        for k in items:
            await _insert(conn, k)
        return items

    writer = db.GroupCommit(engine, _insert, apply_many=insert_many, max_wait=0, linger=0.3)

    async def later(k: int, after: float) -> int:
        await asyncio.sleep(after)
        return await writer.submit(k)

    assert await asyncio.gather(later(1, 0), later(2, 0.05), later(3, 0.1)) == [1, 2, 3]
    assert groups == [3]
    assert await _stored(engine) == [1, 2, 3]


async def test_a_linger_that_gains_nothing_is_not_repeated(engine) -> None:  # type: ignore[no-untyped-def]
    """A linger during which nothing came (one caller, who sends no more before it is answered)
    is not repeated for the next ``probe_every`` groups: they go at once."""
    writer = db.GroupCommit(engine, _insert, max_wait=0, linger=0.5, probe_every=3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await writer.submit(1) == 1
    assert loop.time() - started >= 0.5  # the linger, in vain
    for k in (2, 3, 4):
        started = loop.time()
        assert await writer.submit(k) == k
        assert loop.time() - started < 0.25
    started = loop.time()
    assert await writer.submit(5) == 5
    assert loop.time() - started >= 0.5  # tried again after probe_every groups


async def test_a_writer_that_finds_few_after_a_write_lingers_too(engine) -> None:  # type: ignore[no-untyped-def]
    """Items that come one by one while each write lasts as long as the gap between them (a
    fleet's events, a commit's fixed cost): after a write the writer finds one waiting. Taking it
    at once made every later group one item, each paying the whole fixed cost; lingering then
    too (fewer than ``linger_below`` waiting) lets the next ones share it."""
    groups: list[int] = []

    async def slow_many(conn: AsyncConnection, items: list[int]) -> list[int]:
        groups.append(len(items))
        for k in items:
            await _insert(conn, k)
        await asyncio.sleep(0.05)  # the commit's fixed cost
        return items

    writer = db.GroupCommit(engine, _insert, apply_many=slow_many, max_wait=0, linger=0.1)

    async def later(k: int, after: float) -> int:
        await asyncio.sleep(after)
        return await writer.submit(k)

    keys = list(range(1, 13))
    assert await asyncio.gather(*(later(k, 0.05 * (k - 1)) for k in keys)) == keys
    assert await _stored(engine) == keys
    # About three a group (a linger of 0.1 s and a write of 0.05 s for items 0.05 s apart);
    # taking what waits right after each write made it ten groups, nine of one item.
    assert sum(groups) == 12 and len(groups) <= 7, groups
