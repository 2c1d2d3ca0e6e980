"""common.fifo_semaphore.FifoSemaphore: asyncio.Semaphore's contract (permits, first come first
served, cancellation) at a cost per call that does not grow with the number of waiters."""

from __future__ import annotations

import asyncio

import pytest

from common.fifo_semaphore import FifoSemaphore


class Held:
    """A semaphore of one permit, taken: ``take(x)`` waits for it and records ``x`` in
    ``got`` while holding it."""

    def __init__(self) -> None:
        self.sem = FifoSemaphore(1)
        self.got: list[object] = []

    async def take(self, x: object) -> None:
        async with self.sem:
            self.got.append(x)
            await asyncio.sleep(0)


@pytest.fixture
async def held() -> Held:
    h = Held()
    await h.sem.acquire()
    return h


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


async def test_waiters_are_served_in_arrival_order(held: Held) -> None:
    tasks = [asyncio.create_task(held.take(i)) for i in range(10)]
    await asyncio.sleep(0)
    held.sem.release()
    await asyncio.gather(*tasks)
    assert held.got == list(range(10))


async def test_a_newcomer_does_not_overtake_a_woken_waiter(held: Held) -> None:
    """A released permit belongs to the oldest waiter even before it runs."""
    waiter = asyncio.create_task(held.take("waiter"))
    await asyncio.sleep(0)
    held.sem.release()  # handed to the waiter, which has not run yet
    assert held.sem.locked()
    newcomer = asyncio.create_task(held.take("newcomer"))
    await asyncio.gather(waiter, newcomer)
    assert held.got == ["waiter", "newcomer"]


async def test_a_cancelled_waiter_is_skipped(held: Held) -> None:
    first, second = asyncio.create_task(held.take(1)), asyncio.create_task(held.take(2))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    held.sem.release()
    await second
    assert held.got == [2]
    with pytest.raises(asyncio.CancelledError):
        await first
    assert not held.sem.locked()


async def test_a_permit_handed_to_a_waiter_cancelled_before_it_ran_goes_on(held: Held) -> None:
    first, second = asyncio.create_task(held.take(1)), asyncio.create_task(held.take(2))
    await asyncio.sleep(0)
    held.sem.release()  # to the first, which is cancelled before it runs
    first.cancel()
    await second
    assert held.got == [2]
    with pytest.raises(asyncio.CancelledError):
        await first
    assert not held.sem.locked()


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
