"""common.fifo_semaphore.FifoSemaphore: asyncio.Semaphore's contract (permits, first come first
served, cancellation) at a cost per call that does not grow with the number of waiters."""

from __future__ import annotations

import asyncio

import pytest

from common.fifo_semaphore import FifoSemaphore


async def test_permits_bound_the_holders() -> None:
    sem = FifoSemaphore(3)
    holding = peak = 0

    async def hold() -> None:
        nonlocal holding, peak
        async with sem:
            holding += 1
            peak = max(peak, holding)
            await asyncio.sleep(0)
            holding -= 1

    await asyncio.gather(*(hold() for _ in range(20)))
    assert peak == 3
    assert not sem.locked()


async def test_waiters_are_served_in_arrival_order() -> None:
    sem = FifoSemaphore(1)
    order: list[int] = []
    await sem.acquire()

    async def take(i: int) -> None:
        async with sem:
            order.append(i)

    tasks = [asyncio.create_task(take(i)) for i in range(10)]
    await asyncio.sleep(0)
    sem.release()
    await asyncio.gather(*tasks)
    assert order == list(range(10))


async def test_a_newcomer_does_not_overtake_a_woken_waiter() -> None:
    """A released permit belongs to the oldest waiter even before it runs."""
    sem = FifoSemaphore(1)
    await sem.acquire()
    order: list[str] = []

    async def take(name: str) -> None:
        async with sem:
            order.append(name)
            await asyncio.sleep(0)

    waiter = asyncio.create_task(take("waiter"))
    await asyncio.sleep(0)
    sem.release()  # handed to the waiter, which has not run yet
    assert sem.locked()
    newcomer = asyncio.create_task(take("newcomer"))
    await asyncio.gather(waiter, newcomer)
    assert order == ["waiter", "newcomer"]


async def test_a_cancelled_waiter_is_skipped() -> None:
    sem = FifoSemaphore(1)
    await sem.acquire()
    got: list[int] = []

    async def take(i: int) -> None:
        async with sem:
            got.append(i)

    first, second = asyncio.create_task(take(1)), asyncio.create_task(take(2))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    sem.release()
    await second
    assert got == [2]
    with pytest.raises(asyncio.CancelledError):
        await first
    assert not sem.locked()


async def test_a_permit_handed_to_a_waiter_cancelled_before_it_ran_goes_on() -> None:
    sem = FifoSemaphore(1)
    await sem.acquire()
    got: list[int] = []

    async def take(i: int) -> None:
        async with sem:
            got.append(i)

    first, second = asyncio.create_task(take(1)), asyncio.create_task(take(2))
    await asyncio.sleep(0)
    sem.release()  # to the first, which is cancelled before it runs
    first.cancel()
    await second
    assert got == [2]
    with pytest.raises(asyncio.CancelledError):
        await first
    assert not sem.locked()


async def test_a_release_takes_its_waiter_off_the_queue_at_once() -> None:
    """What asyncio.Semaphore (3.11) lacks: the waiters it woke stayed queued until they ran,
    and each further release scanned past them (quadratic in a burst of releases)."""
    sem = FifoSemaphore(0)
    tasks = [asyncio.create_task(sem.acquire()) for _ in range(1000)]
    await asyncio.sleep(0)
    for _ in range(500):
        sem.release()
    assert len(sem._waiters) == 500  # the 500 woken ones are gone before they ran
    for _ in range(500):
        sem.release()
    await asyncio.gather(*tasks)
    assert sem.locked()


def test_a_negative_value_is_refused() -> None:
    with pytest.raises(ValueError):
        FifoSemaphore(-1)
