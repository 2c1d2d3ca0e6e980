"""The baselines listen with the gateway's backlog, so that a boot storm measures their handlers
and not the kernel's dropped SYNs (asyncio's default is 100)."""

from __future__ import annotations

import pathlib
import subprocess
import urllib.parse

import pytest

from bench import run
from gateway.settings import Settings


@pytest.mark.parametrize("name", ["raw", "ocpp"])
def test_baseline_listens_with_the_gateways_backlog(name: str, tmp_path: pathlib.Path) -> None:
    expected = Settings.model_fields["listen_backlog"].default
    assert expected > 100
    with run._baseline(f"baseline-{name}", f"bench.baseline_{name}", None, tmp_path) as target:
        port = urllib.parse.urlsplit(target.url).port
        listening = subprocess.run(
            ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
        ).stdout.split()
    # ss -l: Recv-Q is the queue now, Send-Q the backlog the socket listens with.
    assert int(listening[2]) == expected, listening
