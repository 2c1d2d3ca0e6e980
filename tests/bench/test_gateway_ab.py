"""bench.gateway_ab's own parts: each gateway gets its own tree and environment (and nothing
else does), and a gateway's received CALLs are read from its metrics as the gateway writes them."""

from __future__ import annotations

import pathlib

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from bench.event_cost import calls_in
from bench.gateway_ab import TwoGateways, env_pairs
from common import metrics
from deploy.mesh import on_free_ports


def test_each_gateway_runs_its_own_tree_and_environment(tmp_path: pathlib.Path) -> None:
    sides = {
        "gateway-1": ("", {}),
        "gateway-2": ("/src/b", {"CSMS_GATEWAY_MESSAGE_LOG": "true", "EXTRA": "1"}),
    }
    mesh = TwoGateways(on_free_ports(tmp_path, gateways=2), log_dir=tmp_path, sides=sides)
    launcher = {"message_log": "false", "port": 1}
    a = mesh._proc_env("GATEWAY", launcher, "gateway-1")
    b = mesh._proc_env("GATEWAY", launcher, "gateway-2")
    device = mesh._proc_env("DEVICE", {"port": 2}, "device_svc")
    assert a["CSMS_GATEWAY_MESSAGE_LOG"] == "false" and "EXTRA" not in a
    assert b["CSMS_GATEWAY_MESSAGE_LOG"] == "true" and b["EXTRA"] == "1"  # over the launcher's
    assert b["PYTHONPATH"] == "/src/b:/src/b/gen"
    assert a.get("PYTHONPATH") != b["PYTHONPATH"]
    # Both gateways alike: the current folder does not come first on their path.
    assert a["PYTHONSAFEPATH"] == b["PYTHONSAFEPATH"] == "1"
    assert "PYTHONSAFEPATH" not in device and "EXTRA" not in device


def test_env_pairs() -> None:
    assert env_pairs(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    for bad in ("A", "=1"):
        with pytest.raises(SystemExit):
            env_pairs([bad])


def test_a_gateways_calls_are_read_from_its_metrics() -> None:
    registry = CollectorRegistry()
    # The gateway's own counter's name, labels and label order (common.metrics.FRAMES).
    frames = Counter(
        "csms_ocpp_frames", "frames", ["direction", "type", "action"], registry=registry
    )
    assert metrics.FRAMES._labelnames == frames._labelnames
    assert calls_in(generate_latest(registry).decode(), "Heartbeat") == 0.0
    frames.labels("in", "call", "Heartbeat").inc(7)
    frames.labels("out", "result", "Heartbeat").inc(5)
    frames.labels("in", "call", "TransactionEvent").inc(3)
    text = generate_latest(registry).decode()
    assert calls_in(text, "Heartbeat") == 7.0
    assert calls_in(text, "TransactionEvent") == 3.0
