"""bench.files end to end at a small size: every transfer streams through the real mesh and
comes back with its SHA-256 matched (a quick run of what make bench measures at 50 MiB)."""

from __future__ import annotations

import asyncio

import pytest

from bench.files import run
from bench.run import own_mesh

pytestmark = pytest.mark.e2e


def test_four_transfers_of_two_mib_each_come_back_whole() -> None:
    with own_mesh("files-test", "", "shared") as mesh:
        results = asyncio.run(run(mesh, 2))
    assert [r["transfer"] for r in results] == [
        "firmware upload (operator)",
        "firmware download (station)",
        "log upload (station, multipart)",
        "log download (operator)",
    ]
    assert all(r["sha256_ok"] for r in results), results
    assert all(set(r["peak_rss_growth_mib"]) == {"device_svc", "envoy"} for r in results)
