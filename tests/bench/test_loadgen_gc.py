"""The load generator's collector runs as rarely as the services' (see bench.loadgen.tune_gc)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bench import loadgen
from common import gc_tuning


@pytest.fixture
def thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # CPython's default
    yield
    gc.set_threshold(*before)


def test_the_generator_collects_as_rarely_as_the_services(thresholds: None) -> None:
    loadgen.tune_gc()
    assert gc.get_threshold() == gc_tuning.THRESHOLDS
    assert gc.get_threshold()[0] >= 20_000
