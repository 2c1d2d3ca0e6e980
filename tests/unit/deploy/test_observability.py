"""deploy/observability: the scrape config matches the mesh's metrics ports, and the dashboard
asks only for metrics the processes serve (common/metrics.py) or Envoy's."""

from __future__ import annotations

import json
import pathlib
import re

import yaml

from common import metrics
from deploy.mesh import MeshSettings

ROOT = pathlib.Path(__file__).resolve().parents[3]
OBS = ROOT / "deploy" / "observability"


def test_the_scrape_config_targets_the_mesh_ports() -> None:
    config = yaml.safe_load((OBS / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    s = MeshSettings()
    assert targets["csms-gateway"] == [f"127.0.0.1:{s.metrics_port('gateway-1')}"]
    for svc in ("device", "transaction", "user"):
        assert targets[f"csms-{svc}-svc"] == [f"127.0.0.1:{s.metrics_port(svc)}"]
    assert targets["csms-envoy"] == [f"127.0.0.1:{s.envoy_admin_port}"]


def test_the_dashboard_asks_for_served_metrics() -> None:
    dashboard = json.loads((OBS / "grafana-dashboard.json").read_text())
    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
    ours = set()
    for family in (
        metrics.FRAMES,
        metrics.CALLERRORS,
        metrics.CONNECTED,
        metrics.RPC_DURATION,
        metrics.DB_STATEMENT,
        metrics.GROUP_COMMIT,
        metrics.COMMANDS,
    ):
        for metric in family.collect():
            ours |= {metric.name + suffix for suffix in suffixes[metric.type]}
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"\b((?:csms|envoy)_[a-z_]+)", target["expr"]):
                assert (
                    name.startswith("envoy_")
                    or name in ours
                    or f"{name}" in {f"{n}_bucket" for n in ours} | {f"{n}_total" for n in ours}
                ), (panel["title"], name)
