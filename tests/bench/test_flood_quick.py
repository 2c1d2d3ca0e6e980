"""bench/flood.py's short form: half-open floods on every public listener, with limits small
enough to engage; no process crashes and the excess is shed.

Whether real stations and REST are still served while a listener is full is measured by
``make flood`` (it prints what the probes got and how many attempts they took), not asserted
here: in 4 s a retrying probe gets in once the flood is over, whatever the mesh does.
"""

from __future__ import annotations

import pathlib

import pytest

from bench.flood import run

pytestmark = pytest.mark.e2e


def test_every_listener_sheds_a_flood_without_crashing(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """600 half-open connections per listener for 4 s against limits of 100-300: the excess is
    turned away (closed by the server) and every process is still up (Envoy used to run out of
    descriptors and segfault, taking the mesh with it)."""
    # The lone gateway's port holds 300 connections (CSMS_GATEWAY_* reaches the gateway).
    monkeypatch.setenv("CSMS_GATEWAY_MAX_CONNECTIONS", "300")
    results = run(tmp_path, connections=600, seconds=4, overrides={"envoy_max_connections": 400})
    assert [r.listener for r in results] == [
        "stations-envoy",
        "stations-tls",
        "api",
        "stations-gateway",
    ]
    for r in results:
        assert not r.crashed, r.line()
        assert r.flood.closed_by_server > 0, r.line()
