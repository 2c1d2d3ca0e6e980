"""deploy/mesh.py: the Envoy config it renders, the processes it plans, kill and restart."""

from __future__ import annotations

import asyncio
import pathlib
import socket
import subprocess
import sys
from typing import Any

import pytest
import yaml

import deploy.mesh
from deploy.mesh import SERVICES, Mesh, Proc, envoy_config, free_port, free_port_range

from .conftest import env_names, mesh_settings

ROOT = pathlib.Path(__file__).resolve().parents[3]
DESCRIPTOR = ROOT / "gen" / "descriptor.pb"
ENVOY = pathlib.Path(sys.executable).parent / "envoy"


def _clusters(config: dict[str, Any]) -> dict[str, list[int]]:
    return {
        c["name"]: [
            ep["endpoint"]["address"]["socket_address"]["port_value"]
            for group in c["load_assignment"]["endpoints"]
            for ep in group["lb_endpoints"]
        ]
        for c in config["static_resources"]["clusters"]
    }


def _listeners(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {lst["name"]: lst for lst in config["static_resources"]["listeners"]}


def test_one_gateway_envoy_fronts_the_services_only(tmp_path: pathlib.Path) -> None:
    """gateways=1: one cluster per service, the API listener only (the gateway has port 3000)."""
    config = yaml.safe_load(envoy_config(mesh_settings(tmp_path), DESCRIPTOR))
    assert _clusters(config) == {
        "device_svc": [15051],
        "transaction_svc": [15052],
        "user_svc": [15053],
    }
    assert set(_listeners(config)) == {"api"}
    assert config["admin"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 19901,
    }


def test_several_gateways_envoy_takes_the_stations_port(tmp_path: pathlib.Path) -> None:
    """gateways=3: a WebSocket listener on the stations' port, balancing over the gateways."""
    config = yaml.safe_load(
        envoy_config(mesh_settings(tmp_path), DESCRIPTOR, [13001, 13002, 13003])
    )
    assert _clusters(config)["gateway"] == [13001, 13002, 13003]
    gateway = next(c for c in config["static_resources"]["clusters"] if c["name"] == "gateway")
    # A new station goes to the gateway holding the fewest (all compared, not two at random).
    [policy] = gateway["load_balancing_policy"]["policies"]
    least = policy["typed_extension_config"]
    assert least["name"] == "envoy.load_balancing_policies.least_request"
    assert least["typed_config"]["selection_method"] == "FULL_SCAN"
    assert "lb_policy" not in gateway
    assert "typed_extension_protocol_options" not in gateway  # HTTP/1.1: WebSocket upgrades
    stations = _listeners(config)["stations"]
    assert stations["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 13000}
    [hcm] = stations["filter_chains"][0]["filters"]
    hcm = hcm["typed_config"]
    assert hcm["upgrade_configs"] == [{"upgrade_type": "websocket"}]
    assert hcm["stream_idle_timeout"] == "0s"
    # Closes connections without a request only (half-open ones), never an upgraded WebSocket.
    assert hcm["common_http_protocol_options"] == {"idle_timeout": "2s"}
    assert hcm["request_headers_timeout"] == "2s"
    [route] = hcm["route_config"]["virtual_hosts"][0]["routes"]
    assert route["match"] == {"prefix": "/"}
    assert route["route"]["cluster"] == "gateway"
    assert route["route"]["timeout"] == "0s" and route["route"]["idle_timeout"] == "0s"
    # /ocpp/{id} and the subprotocol reach the gateway as the station sent them.
    assert not {"prefix_rewrite", "regex_rewrite"} & set(route["route"])
    assert "request_headers_to_remove" not in hcm["route_config"]


@pytest.mark.parametrize("gateways", [1, 3])
def test_envoy_validates_the_rendered_config(tmp_path: pathlib.Path, gateways: int) -> None:
    """The real Envoy accepts the config (``--mode validate``)."""
    ports = [13001 + i for i in range(gateways)] if gateways > 1 else []
    config = tmp_path / "envoy.yaml"
    config.write_text(envoy_config(mesh_settings(tmp_path), DESCRIPTOR, ports))
    result = subprocess.run(
        [str(ENVOY), "--mode", "validate", "-c", str(config)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _gateway_env(proc: Proc) -> dict[str, str]:
    return {k: v for k, v in proc.env.items() if k.startswith("CSMS_GATEWAY_")}


def test_plan_one_gateway_listens_on_the_stations_port(tmp_path: pathlib.Path) -> None:
    """The fast path: gateway-1 on host:gateway_port itself, its gRPC on the base port."""
    mesh = Mesh(mesh_settings(tmp_path, host="0.0.0.0"), log_dir=tmp_path)
    procs = {p.name: p for p in mesh.plan()}
    assert list(procs) == ["user_svc", "device_svc", "transaction_svc", "gateway-1", "envoy"]
    env = _gateway_env(procs["gateway-1"])
    assert env["CSMS_GATEWAY_HOST"] == "0.0.0.0" and env["CSMS_GATEWAY_PORT"] == "13000"
    assert env["CSMS_GATEWAY_GRPC_LISTEN"] == "127.0.0.1:15060"
    assert "stations" not in _listeners(yaml.safe_load((tmp_path / "envoy.yaml").read_text()))


def test_plan_several_gateways_behind_envoy(tmp_path: pathlib.Path) -> None:
    """gateways=3: each on loopback, its own internal and gRPC port; Envoy on the stations' port."""
    mesh = Mesh(mesh_settings(tmp_path, host="0.0.0.0", gateways=3), log_dir=tmp_path)
    procs = {p.name: p for p in mesh.plan()}
    for i in range(3):
        env = _gateway_env(procs[f"gateway-{i + 1}"])
        assert env["CSMS_GATEWAY_HOST"] == "127.0.0.1"
        assert env["CSMS_GATEWAY_PORT"] == str(13001 + i)
        assert env["CSMS_GATEWAY_GRPC_LISTEN"] == f"127.0.0.1:{15060 + i}"
    config = yaml.safe_load((tmp_path / "envoy.yaml").read_text())
    assert _clusters(config)["gateway"] == [13001, 13002, 13003]
    assert _listeners(config)["stations"]["address"]["socket_address"]["address"] == "0.0.0.0"
    shown = mesh.endpoints()
    assert all(f"gateway-{i}:" in shown for i in (1, 2, 3)) and ":13000/ocpp/" in shown


def test_plan_gives_envoy_and_the_gateways_one_proxy_secret_per_run(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Behind Envoy, each gateway and Envoy share a secret made for this run: Envoy's config
    names only the variable, no file or log line holds the secret, another run has another."""
    secrets = []
    for _ in range(2):
        with caplog.at_level("DEBUG"):
            mesh = Mesh(mesh_settings(tmp_path, gateways=2), log_dir=tmp_path)
            procs = {p.name: p for p in mesh.plan()}
        secret = procs["envoy"].env["CSMS_GATEWAY_PROXY_SECRET"]
        assert len(secret) >= 43  # 256 random bits
        for name in ("gateway-1", "gateway-2"):
            env = _gateway_env(procs[name])
            assert env["CSMS_GATEWAY_PROXY_SECRET"] == secret
            assert env["CSMS_GATEWAY_TRUST_PROXY_HEADERS"] == "true"
        config = (tmp_path / "envoy.yaml").read_text()
        assert secret not in config and "%ENVIRONMENT(CSMS_GATEWAY_PROXY_SECRET)%" in config
        assert secret not in caplog.text and secret not in repr(mesh)
        secrets.append(secret)
    assert secrets[0] != secrets[1]


def test_a_lone_gateway_gets_no_proxy_secret(tmp_path: pathlib.Path) -> None:
    """One gateway on the stations' port trusts no proxy headers, so it has no secret."""
    procs = {p.name: p for p in Mesh(mesh_settings(tmp_path), log_dir=tmp_path).plan()}
    assert "CSMS_GATEWAY_PROXY_SECRET" not in _gateway_env(procs["gateway-1"])
    assert _gateway_env(procs["gateway-1"])["CSMS_GATEWAY_TRUST_PROXY_HEADERS"] == "false"


def test_plan_port_zero_picks_distinct_free_ports(tmp_path: pathlib.Path) -> None:
    """0 for the gateways' base ports: free ones, all different (tests)."""
    s = mesh_settings(tmp_path, gateways=2).model_copy(
        update={"gateway_grpc_port": 0, "gateway_internal_port": 0}
    )
    mesh = Mesh(s, log_dir=tmp_path)
    mesh.plan()
    ports = [p for gw in mesh.gateways for p in (gw.ws_port, gw.grpc_port)]
    assert len(set(ports)) == 4 and 0 not in ports


@pytest.fixture
def own_handed_out(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """The tests below draw thousands of ports: on a set of their own, so that they do not use up
    the pool of the worker's later tests (CI: free_port_range found no 16 ports after them)."""
    handed_out: set[int] = set()
    monkeypatch.setattr(deploy.mesh, "_handed_out", handed_out)
    return handed_out


def test_free_port_never_hands_out_the_same_port_twice(own_handed_out: set[int]) -> None:
    """A mesh picks a dozen ports before any process binds one: each pick must differ from every
    earlier one, or two processes race for one port (CI: transaction_svc and gateway-2 were both
    given 22443). 3,000 draws from 12,768 ports would repeat one almost surely by chance."""
    ports = [free_port() for _ in range(3000)]
    assert len(set(ports)) == len(ports)


def test_free_port_range_is_free_and_never_handed_out_again(own_handed_out: set[int]) -> None:
    """A metrics range: every port of it binds, free_port hands none of them out afterwards,
    and two ranges do not overlap (two meshes' metrics)."""
    first, second = free_port_range(16), free_port_range(16)
    ranges = [range(first, first + 16), range(second, second + 16)]
    assert not set(ranges[0]) & set(ranges[1])
    for port in (*ranges[0], *ranges[1]):
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
    drawn = {free_port() for _ in range(3000)}
    assert not drawn & (set(ranges[0]) | set(ranges[1]))


def _binds(base: int, span: int) -> bool:
    try:
        for port in range(base, base + span):
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


def test_free_port_range_finds_the_last_free_windows(own_handed_out: set[int]) -> None:
    """Most of the pool handed out already (a worker after thousands of draws): a range is still
    found while any window of free ports is left, not given up after some random tries (CI:
    "no 16 consecutive free ports" with half the pool handed out), and none is found once no
    window is left."""
    free = deploy.mesh._FREE_PORTS
    windows = [base for base in range(free.start + 3000, free.stop, 1000) if _binds(base, 16)][:3]
    left = {port for base in windows for port in range(base, base + 16)}
    own_handed_out.update(set(free) - left)
    found = {free_port_range(16) for _ in windows}
    assert found == set(windows)
    with pytest.raises(OSError, match="no 16 consecutive free ports"):
        free_port_range(16)
    own_handed_out.difference_update(range(windows[0], windows[0] + 8))
    with pytest.raises(OSError, match="no 16 consecutive free ports"):
        free_port_range(16)
    assert free_port_range(8) == windows[0]


def test_plan_replaces_a_taken_gateway_port(tmp_path: pathlib.Path) -> None:
    """Another mesh on the gateways' gRPC port: this one's gateway takes a free port instead."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        mesh = Mesh(mesh_settings(tmp_path).model_copy(update={"gateway_grpc_port": port}))
        [gw] = mesh.plan_gateways()
    assert gw.grpc_port not in (port, 0)


def test_plan_passes_only_what_the_processes_read(tmp_path: pathlib.Path) -> None:
    """Every CSMS_* variable the launcher sets is a setting of the process it starts."""
    mesh = Mesh(mesh_settings(tmp_path, gateways=2), log_dir=tmp_path)
    for proc in mesh.plan():
        if proc.name == "envoy":
            continue
        module = proc.argv[2]
        csms = {k for k in proc.env if k.startswith("CSMS_")}
        assert csms <= env_names(module), (proc.name, csms - env_names(module))
    user = next(p for p in mesh.plan() if p.name == "user_svc")
    assert user.env["CSMS_USER_DEVICE_SVC_ADDR"] == "127.0.0.1:15051"
    device = next(p for p in mesh.plan() if p.name == "device_svc")
    assert device.env["CSMS_DEVICE_TRANSACTION_SVC_ADDR"] == "127.0.0.1:15052"
    assert {f"{s}_svc" for s in SERVICES} <= {p.name for p in mesh.plan()}


def test_kill_and_restart_one_process(tmp_path: pathlib.Path) -> None:
    """kill() SIGKILLs one process without failing the mesh; restart() runs it again alike."""
    mesh = Mesh(mesh_settings(tmp_path), log_dir=tmp_path)
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    mesh.procs = [Proc("a", sleeper, {}), Proc("b", sleeper, {})]
    for proc in mesh.procs:
        mesh._spawn(proc)
    try:
        first = mesh.proc("a").popen
        mesh.kill("a")
        assert first is not None and first.returncode == -9
        mesh._check_alive()  # a killed process is no failure
        mesh.restart("a")
        again = mesh.proc("a").popen
        assert again is not None and again is not first and again.poll() is None
        with pytest.raises(RuntimeError):
            mesh.restart("b")  # still running
        with pytest.raises(KeyError):
            mesh.kill("nope")
        mesh.proc("b").popen.kill()  # type: ignore[union-attr]
        mesh.proc("b").popen.wait()  # type: ignore[union-attr]
        with pytest.raises(RuntimeError, match="b exited"):
            mesh._check_alive()  # an unplanned death is
    finally:
        mesh.stop()


def test_restarting_several_starts_them_all_before_waiting_for_any(tmp_path: pathlib.Path) -> None:
    """restart(a, b) spawns both, then waits for both to serve: a reconnect storm's killed
    gateways took about 4 s each to start, one after the other, and the last one's stations met
    refused connections for 8 s more than they had to."""
    mesh = Mesh(mesh_settings(tmp_path), log_dir=tmp_path)
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    alive_when_ready: list[list[bool]] = []

    async def ready(deadline: float) -> None:
        await asyncio.sleep(0.05)
        alive_when_ready.append(
            [p.popen is not None and p.popen.poll() is None for p in mesh.procs]
        )

    mesh.procs = [Proc("a", sleeper, {}, ready=ready), Proc("b", sleeper, {}, ready=ready)]
    for proc in mesh.procs:
        mesh._spawn(proc)
    try:
        mesh.kill("a")
        mesh.kill("b")
        mesh.restart("a", "b")
        # each readiness check found both running: neither waited for the other's start
        assert alive_when_ready == [[True, True], [True, True]]
    finally:
        mesh.stop()


def test_an_operators_tuning_reaches_its_process_only(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CSMS_GATEWAY_* set by the operator reaches the gateways (not the services); what the
    launcher sets itself wins over the environment."""
    monkeypatch.setenv("CSMS_GATEWAY_RPC_BATCH_SIZE", "16")
    monkeypatch.setenv("CSMS_GATEWAY_PORT", "1")  # the launcher's own choice wins
    monkeypatch.setenv("CSMS_DEVICE_GROUP_COMMIT_MAX_WAIT", "0")
    procs = {p.name: p for p in Mesh(mesh_settings(tmp_path), log_dir=tmp_path).plan()}
    gateway = procs["gateway-1"].env
    assert (
        gateway["CSMS_GATEWAY_RPC_BATCH_SIZE"] == "16" and gateway["CSMS_GATEWAY_PORT"] == "13000"
    )
    assert "CSMS_DEVICE_GROUP_COMMIT_MAX_WAIT" not in gateway
    assert "CSMS_GATEWAY_RPC_BATCH_SIZE" not in procs["device_svc"].env
