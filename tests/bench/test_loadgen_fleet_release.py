"""A fleet generator's stations stay connected after its idle phase until whoever measures the
phases releases it: at 100,000 stations the generators reach their idle phase tens of seconds
apart, and one that left as soon as its own idle time was over disconnected its stations inside
the others' idle window, which then measured its gateway's 16,667 disconnections as idle cost.
Against the raw baseline in a real process."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Iterator

import pytest

from bench import loadgen, run


@pytest.fixture
def raw_baseline(tmp_path: pathlib.Path) -> Iterator[str]:
    with run._baseline("baseline-raw", "bench.baseline_raw", None, tmp_path) as target:
        yield target.url


def _opts(url: str, prefix: pathlib.Path, release_timeout: float) -> loadgen.Options:
    return loadgen.Options(
        url=url,
        scenario="fleet",
        stations=10,
        fleet_transactions=2,
        ramp=0,
        duration=0.3,
        heartbeat_interval=0.2,
        tx_interval=0.2,
        idle_duration=0.3,
        timeout=10,
        progress=False,
        phase_files=str(prefix),
        release_timeout=release_timeout,
    )


async def _until(path: pathlib.Path, limit: float) -> None:
    async with asyncio.timeout(limit):
        while not path.exists():  # noqa: ASYNC110, ASYNC240 - another process's file, polled
            await asyncio.sleep(0.05)


async def test_the_stations_stay_until_released(raw_baseline: str, tmp_path: pathlib.Path) -> None:
    prefix = tmp_path / "gen0"
    run_ = asyncio.create_task(loadgen.run(_opts(raw_baseline, prefix, release_timeout=60)))
    await _until(pathlib.Path(f"{prefix}.end"), 30)
    await asyncio.sleep(1.0)
    assert not run_.done(), "the generator left before it was released"
    pathlib.Path(f"{prefix}.release").write_text("")  # noqa: ASYNC240 - an empty file
    async with asyncio.timeout(20):
        result = await run_
    assert result["figures"]["booted"] == 10


async def test_without_a_release_it_leaves_after_the_timeout(
    raw_baseline: str, tmp_path: pathlib.Path
) -> None:
    prefix = tmp_path / "gen0"
    run_ = asyncio.create_task(loadgen.run(_opts(raw_baseline, prefix, release_timeout=1.0)))
    await _until(pathlib.Path(f"{prefix}.end"), 30)
    async with asyncio.timeout(20):
        await run_
