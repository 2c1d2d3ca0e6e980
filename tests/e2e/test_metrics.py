"""Every process serves Prometheus metrics on a port of its own, and writes JSON log lines when
asked (CSMS_LOG_FORMAT=json): a mesh of its own with both, a real station, real scrapes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from deploy.mesh import Mesh, free_port_range
from tests.e2e.conftest import rest_client, running_mesh
from tests.e2e.station_sim import Station

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with running_mesh(
        tmp_path_factory.mktemp("mesh-metrics"),
        metrics_base_port=free_port_range(16),
        log_format="json",
        heartbeat_interval=42,
    ) as mesh:
        yield mesh


def _value(text: str, metric: str, **labels: str) -> float:
    """The sample ``metric{labels}`` of a scrape (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(metric + "{") and not line.startswith(metric + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _scrape(mesh: Mesh, proc: str) -> str:
    async with httpx.AsyncClient(timeout=5) as http:
        resp = await http.get(f"http://127.0.0.1:{mesh.settings.metrics_port(proc)}/metrics")
    assert resp.status_code == 200
    return resp.text


async def test_frames_rpcs_statements_and_commands_are_counted(observed: Mesh) -> None:
    key = observed.create_api_key("operator", "metrics")
    async with rest_client(observed, key) as rest:
        assert (await rest.post("/v1/chargingStations", json={"id": "MET-1"})).status_code == 200
        station = await Station.connect(
            f"ws://127.0.0.1:{observed.settings.gateway_port}/ocpp/MET-1", "MET-1"
        )
        try:
            await station.boot()
            station.answer("Reset", {"status": "Accepted"})
            resp = await rest.post("/v1/chargingStations/MET-1:reset", json={"type": "Immediate"})
            assert resp.status_code == 200, resp.text
            await station.ws.send('[2,"bad-1","Heartbeat"]')  # not a CALL: FormationViolation
            await station.wait_for("Reset")
            gateway = await _scrape(observed, "gateway-1")
        finally:
            await station.close()
    assert _value(gateway, "csms_connected_stations") == 1
    assert (
        _value(
            gateway,
            "csms_ocpp_frames_total",
            direction="in",
            type="call",
            action="BootNotification",
        )
        == 1
    )
    assert (
        _value(
            gateway,
            "csms_ocpp_frames_total",
            direction="out",
            type="result",
            action="BootNotification",
        )
        == 1
    )
    assert (
        _value(gateway, "csms_ocpp_frames_total", direction="out", type="call", action="Reset") == 1
    )
    assert (
        _value(gateway, "csms_ocpp_frames_total", direction="in", type="result", action="Reset")
        == 1
    )
    assert _value(gateway, "csms_ocpp_callerrors_total", direction="out") >= 1
    device = await _scrape(observed, "device")
    assert _value(device, "csms_commands_total", action="Reset", outcome="answered") == 1
    assert _value(device, "csms_db_statement_duration_seconds_count") > 0
    assert (
        _value(device, "csms_group_commit_size_count", name="boots") >= 1
        or "csms_group_commit_size_count" in device
    )
    rpcs = [
        line for line in device.splitlines() if line.startswith("csms_rpc_duration_seconds_count")
    ]
    assert any(
        "DeviceService/Reset" in line or "DeviceRestService/Reset" in line for line in rpcs
    ), rpcs
    for proc in ("transaction", "user"):
        assert "csms_rpc_duration_seconds" in await _scrape(observed, proc)


def test_every_process_logs_json_lines(observed: Mesh) -> None:
    for proc in observed.procs:
        if proc.name == "envoy" or proc.log is None:
            continue
        lines = [line for line in proc.log.read_text().splitlines() if line.strip()]
        assert lines, proc.name
        for line in lines[:50]:
            record = json.loads(line)
            assert {"time", "level", "proc", "logger", "station", "msg", "req", "message"} <= set(
                record
            ), (proc.name, line)
