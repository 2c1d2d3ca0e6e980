"""deploy/mesh.py and deploy/envoy*.yaml: every listener bounds slow and half-open clients in
time and in count, sized from the open-file limit."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from typing import Any

import yaml

from deploy.mesh import ENVOY_FD_RESERVE, Mesh, envoy_config, kubernetes_envoy_config

from .conftest import mesh_settings

ROOT = pathlib.Path(__file__).resolve().parents[3]
DESCRIPTOR = ROOT / "gen" / "descriptor.pb"
ENVOY = pathlib.Path(sys.executable).parent / "envoy"
LIMIT_KEY = "envoy.resource_limits.listener.{}.connection_limit"


def _tls_config(tmp_path: pathlib.Path, open_files: int = 20_000) -> str:
    settings = mesh_settings(tmp_path, tls=True)
    Mesh(settings).write_tls()
    return envoy_config(settings, DESCRIPTOR, [13001, 13002], open_files=open_files)


def _configs(tmp_path: pathlib.Path) -> dict[str, dict[str, Any]]:
    return {
        "one gateway": yaml.safe_load(envoy_config(mesh_settings(tmp_path), DESCRIPTOR)),
        "two gateways": yaml.safe_load(
            envoy_config(mesh_settings(tmp_path), DESCRIPTOR, [13001, 13002])
        ),
        "tls": yaml.safe_load(_tls_config(tmp_path)),
        "kubernetes": yaml.safe_load(kubernetes_envoy_config()),
    }


def _global_limit(config: dict[str, Any]) -> int:
    (monitor,) = config["overload_manager"]["resource_monitors"]
    assert monitor["name"] == "envoy.resource_monitors.global_downstream_max_connections"
    return int(monitor["typed_config"]["max_active_downstream_connections"])


def _listener_limits(config: dict[str, Any]) -> dict[str, int]:
    (layer,) = config["layered_runtime"]["layers"]
    return {
        lst["name"]: int(layer["static_layer"][LIMIT_KEY.format(lst["name"])])
        for lst in config["static_resources"]["listeners"]
    }


def test_every_listener_bounds_slow_and_half_open_clients(tmp_path: pathlib.Path) -> None:
    """Request headers, idle connections and TLS handshakes have timeouts on every listener."""
    for what, config in _configs(tmp_path).items():
        for listener in config["static_resources"]["listeners"]:
            (chain,) = listener["filter_chains"]
            hcm = chain["filters"][0]["typed_config"]
            where = f"{what}: {listener['name']}"
            assert hcm["request_headers_timeout"] not in ("", "0s"), where
            assert hcm["common_http_protocol_options"]["idle_timeout"] not in ("", "0s"), where
            if "transport_socket" in chain:
                assert chain["transport_socket_connect_timeout"] not in ("", "0s"), where


def test_every_listener_has_a_share_of_a_global_connection_limit(
    tmp_path: pathlib.Path,
) -> None:
    """The overload manager caps Envoy's downstream connections; each listener has its share,
    together no more than the cap (a flood on one port leaves the others theirs)."""
    for what, config in _configs(tmp_path).items():
        limits = _listener_limits(config)
        assert set(limits) == {lst["name"] for lst in config["static_resources"]["listeners"]}
        assert all(limit > 0 for limit in limits.values()), what
        assert sum(limits.values()) <= _global_limit(config), what


def test_envoy_is_sized_below_its_open_file_limit(tmp_path: pathlib.Path) -> None:
    """A station through Envoy takes two descriptors (its own, Envoy's to its gateway): the cap
    keeps every connection and a reserve within the open-file limit."""
    two = yaml.safe_load(
        envoy_config(mesh_settings(tmp_path), DESCRIPTOR, [13001, 13002], open_files=20_000)
    )
    assert 2 * _global_limit(two) + ENVOY_FD_RESERVE <= 20_000
    one = yaml.safe_load(envoy_config(mesh_settings(tmp_path), DESCRIPTOR, open_files=20_000))
    assert _global_limit(one) + ENVOY_FD_RESERVE <= 20_000
    assert _global_limit(one) > _global_limit(two)
    fixed = yaml.safe_load(
        envoy_config(mesh_settings(tmp_path, envoy_max_connections=3000), DESCRIPTOR)
    )
    assert _global_limit(fixed) == 3000


def test_envoy_validates_the_tls_config(tmp_path: pathlib.Path) -> None:
    """The real Envoy accepts the TLS mode's config with its limits (``--mode validate``)."""
    config = tmp_path / "envoy.yaml"
    config.write_text(_tls_config(tmp_path))
    result = subprocess.run(
        [str(ENVOY), "--mode", "validate", "-c", str(config)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_kubernetes_config_is_the_rendered_one() -> None:
    """deploy/k8s/base/envoy/envoy.yaml is regenerated (python -m deploy.mesh envoy-config
    --kubernetes), limits included."""
    shipped = (ROOT / "deploy" / "k8s" / "base" / "envoy" / "envoy.yaml").read_text()
    assert yaml.safe_load(shipped) == yaml.safe_load(kubernetes_envoy_config())
