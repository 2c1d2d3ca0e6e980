"""deploy/k8s: schema-valid, and every port, env var and probe matches what the processes read."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
from typing import Any

import kubernetes_validate
import pytest
import yaml

from common.settings import DEFAULT_PORTS
from deploy import kustomize, mesh

from .conftest import SETTINGS, env_names

ROOT = pathlib.Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
# The Kubernetes version the manifests are validated against (schemas bundled with the pinned
# kubernetes-validate; nothing is fetched).
KUBERNETES_VERSION = "1.32.0"
VARIANTS = ["base", "overlays/replicated-gateways"]
GRPC_SERVICES = {"device_svc", "transaction_svc", "user_svc"}
# A value for the pod IP where a dependent env var ($(POD_IP)) is expanded.
POD_IP = "10.1.2.3"

Obj = dict[str, Any]


def _render(variant: str) -> dict[tuple[str, str], Obj]:
    return {(o["kind"], o["metadata"]["name"]): o for o in kustomize.build(K8S / variant)}


@pytest.fixture(scope="module", params=VARIANTS)
def objs(request: pytest.FixtureRequest) -> dict[tuple[str, str], Obj]:
    return _render(request.param)


def _workloads(objs: dict[tuple[str, str], Obj]) -> list[Obj]:
    return [o for (kind, _), o in objs.items() if kind == "Deployment"]


def _containers(objs: dict[tuple[str, str], Obj]) -> list[tuple[Obj, Obj]]:
    return [(d, c) for d in _workloads(objs) for c in d["spec"]["template"]["spec"]["containers"]]


def _process(container: Obj) -> str:
    """``python -m X`` → X; Envoy → "envoy"."""
    cmd = container["command"]
    if cmd[:2] == ["python", "-m"]:
        return str(cmd[2])
    assert cmd[0] == "envoy", cmd
    return "envoy"


def _env_values(container: Obj) -> dict[str, str]:
    """The container's literal env, $(VAR) references expanded as the kubelet does."""
    known: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            known[var["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: known.get(m.group(1), m.group(0)), var["value"]
            )
        elif var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "status.podIP":
            known[var["name"]] = POD_IP
    return known


def _settings(container: Obj, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The process's settings object as it would be built in this container."""
    cls = SETTINGS[_process(container)]
    with monkeypatch.context() as m:
        for name, value in _env_values(container).items():
            if name.startswith("CSMS_"):
                m.setenv(name, value)
        return cls()


def _port(addr: str) -> int:
    return int(addr.rsplit(":", 1)[1])


def _envoy_config(objs: dict[tuple[str, str], Obj]) -> Obj:
    return yaml.safe_load(objs["ConfigMap", "envoy-config"]["data"]["envoy.yaml"])


# -- schemas ------------------------------------------------------------------------------------


def test_objects_are_valid_kubernetes(objs: dict[tuple[str, str], Obj]) -> None:
    """Each rendered object against the Kubernetes JSON schema, unknown fields refused."""
    for key, obj in objs.items():
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{key}: {exc.message} at {list(exc.path)}")


def test_one_file_per_process_and_the_objects_expected() -> None:
    """base/: one file per process, each a ServiceAccount, a Deployment and a Service."""
    objs = _render("base")
    procs = ["device-svc", "transaction-svc", "user-svc", "gateway", "envoy"]
    for name in procs:
        kinds = [d["kind"] for d in yaml.safe_load_all((K8S / "base" / f"{name}.yaml").read_text())]
        assert kinds == ["ServiceAccount", "Deployment", "Service"], name
        spec = objs["Deployment", name]["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] == name
    assert {k for k, _ in objs} == {"ServiceAccount", "Deployment", "Service", "ConfigMap"}


def test_the_overlay_replicates_only_the_gateways() -> None:
    """replicated-gateways: 3 gateway pods, a disruption budget; the rest as in base."""
    base, overlay = _render("base"), _render("overlays/replicated-gateways")
    assert overlay["Deployment", "gateway"]["spec"]["replicas"] == 3
    assert (
        overlay["PodDisruptionBudget", "gateway"]["spec"]["selector"]["matchLabels"]
        == (overlay["Deployment", "gateway"]["spec"]["selector"]["matchLabels"])
    )
    for key, obj in base.items():
        if key != ("Deployment", "gateway"):
            assert overlay[key] == obj, key


# -- env vars -----------------------------------------------------------------------------------


def test_every_env_var_is_read_by_its_process(objs: dict[tuple[str, str], Obj]) -> None:
    """CSMS_* names come from the process's settings class; others only feed $(VAR) references."""
    for deployment, container in _containers(objs):
        proc = _process(container)
        names = [v["name"] for v in container.get("env", [])]
        assert len(names) == len(set(names)), names
        read = env_names(proc) if proc in SETTINGS else set()
        referenced = {
            ref
            for v in container.get("env", [])
            for ref in re.findall(r"\$\((\w+)\)", v.get("value", ""))
        }
        for name in names:
            if name.startswith("CSMS_"):
                assert name in read, f"{deployment['metadata']['name']}: {name} unread"
            else:
                assert name in referenced, f"{deployment['metadata']['name']}: {name} unused"


def test_databases_come_from_the_secret_one_key_per_service(
    objs: dict[tuple[str, str], Obj],
) -> None:
    """PostgreSQL is external: each service's URL from Secret csms-database, its own key."""
    keys = {}
    for _, container in _containers(objs):
        proc = _process(container)
        for var in container.get("env", []):
            if var["name"].endswith("_DATABASE_URL"):
                ref = var["valueFrom"]["secretKeyRef"]
                assert ref["name"] == "csms-database"
                keys[proc] = ref["key"]
    assert keys == {"device_svc": "device", "transaction_svc": "transaction", "user_svc": "user"}


def test_peer_addresses_are_services(objs: dict[tuple[str, str], Obj], clean_env) -> None:  # type: ignore[no-untyped-def]
    """Every *_svc_addr names a Service of the mesh on a port that Service has."""
    services = {name: o for (kind, name), o in objs.items() if kind == "Service"}
    seen = 0
    for _, container in _containers(objs):
        if _process(container) == "envoy":
            continue
        settings = _settings(container, clean_env)
        for field in type(settings).model_fields:
            if field.endswith("_svc_addr"):
                host, port = getattr(settings, field).rsplit(":", 1)
                assert host in services, (field, host)
                assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}
                seen += 1
    # The gateway's three, transaction_svc's user_svc, user_svc's device_svc, device_svc's
    # transaction_svc.
    assert seen >= 6


# -- ports and probes ---------------------------------------------------------------------------


def _expected_ports(container: Obj, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Named container ports as the process listens: its settings (env or default)."""
    proc = _process(container)
    if proc == "envoy":
        return {}
    s = _settings(container, monkeypatch)
    assert s.grpc_listen.rsplit(":", 1)[0] == "0.0.0.0", f"{proc}: gRPC only on loopback"
    ports = {"grpc": _port(s.grpc_listen)}
    if proc == "gateway":
        assert s.host == "0.0.0.0"
        ports["ocpp"] = s.port
        assert s.advertise_addr == f"{POD_IP}:{ports['grpc']}", "advertise the pod's gRPC"
        assert ports == {"grpc": DEFAULT_PORTS["gateway_grpc"], "ocpp": DEFAULT_PORTS["gateway"]}
    else:
        assert ports["grpc"] == DEFAULT_PORTS[proc.removesuffix("_svc")]
    return ports


def test_ports_and_grpc_probes_match_the_processes(
    objs: dict[tuple[str, str], Obj],
    clean_env,  # type: ignore[no-untyped-def]
) -> None:
    """containerPorts are where each process listens; its gRPC probes hit its gRPC port."""
    for deployment, container in _containers(objs):
        if _process(container) == "envoy":
            continue
        expected = _expected_ports(container, clean_env)
        declared = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert declared == expected, deployment["metadata"]["name"]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe in container:
                assert container[probe]["grpc"] == {"port": expected["grpc"]}, probe
        assert {"readinessProbe", "livenessProbe"} <= set(container)


def test_envoy_ports_probes_and_config(objs: dict[tuple[str, str], Obj]) -> None:
    """Envoy's containerPorts are its config's listeners and admin; /ready probes the admin."""
    config = _envoy_config(objs)
    listeners = {
        lst["name"]: lst["address"]["socket_address"]
        for lst in config["static_resources"]["listeners"]
    }
    admin = config["admin"]["address"]["socket_address"]
    assert {a["address"] for a in listeners.values()} == {"0.0.0.0"}
    assert admin["address"] == "0.0.0.0"  # the kubelet probes from outside the pod
    deployment = objs["Deployment", "envoy"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    declared = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert declared == {
        "http": listeners["api"]["port_value"],
        "ocpp": listeners["stations"]["port_value"],
        "admin": admin["port_value"],
    }
    assert declared["ocpp"] == DEFAULT_PORTS["gateway"]  # the stations' URL keeps its port
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/ready", "port": "admin"}
    # -c points into the mounted ConfigMap.
    config_path = pathlib.PurePosixPath(container["command"][container["command"].index("-c") + 1])
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    [config_volume] = [n for n, v in volumes.items() if "configMap" in v]
    assert volumes[config_volume]["configMap"]["name"] == "envoy-config"
    assert config_path == pathlib.PurePosixPath(mounts[config_volume]) / "envoy.yaml"


def test_envoy_clusters_reach_services_on_their_ports(objs: dict[tuple[str, str], Obj]) -> None:
    """Each Envoy cluster endpoint is a Service of the mesh and one of its ports."""
    services = {name: o for (kind, name), o in objs.items() if kind == "Service"}
    for cluster in _envoy_config(objs)["static_resources"]["clusters"]:
        assert cluster["type"] == "STRICT_DNS"
        for group in cluster["load_assignment"]["endpoints"]:
            for ep in group["lb_endpoints"]:
                addr = ep["endpoint"]["address"]["socket_address"]
                svc = services[addr["address"]]
                assert addr["port_value"] in {p["port"] for p in svc["spec"]["ports"]}
    # Every gateway pod, not one ClusterIP: the headless Service.
    assert services["gateway"]["spec"]["clusterIP"] == "None"


def test_services_target_named_ports_that_exist(objs: dict[tuple[str, str], Obj]) -> None:
    """Each Service selects one Deployment's pods and targets ports they name (gRPC: `grpc`)."""
    for (kind, name), svc in objs.items():
        if kind != "Service":
            continue
        selector = svc["spec"]["selector"]
        [deployment] = [
            d
            for d in _workloads(objs)
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert deployment["spec"]["selector"]["matchLabels"] == selector
        named = {
            p["name"]: p["containerPort"]
            for c in deployment["spec"]["template"]["spec"]["containers"]
            for p in c["ports"]
        }
        for port in svc["spec"]["ports"]:
            assert isinstance(port["targetPort"], str) and port["targetPort"] in named, (name, port)
            assert port["name"] == port["targetPort"]
            if port.get("appProtocol") == "grpc":
                assert port["name"] == "grpc"


# -- hardening ----------------------------------------------------------------------------------


def test_every_container_is_hardened_and_bounded(objs: dict[tuple[str, str], Obj]) -> None:
    """Non-root, read-only root FS, no privilege escalation, no capabilities, limits, /tmp."""
    images = set()
    for deployment, container in _containers(objs):
        pod = deployment["spec"]["template"]["spec"]
        name = deployment["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True, name
        assert sc["allowPrivilegeEscalation"] is False, name
        assert sc["capabilities"]["drop"] == ["ALL"], name
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
        assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
        tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
        [volume] = [v for v in pod["volumes"] if v["name"] == tmp[0]["name"]]
        assert "emptyDir" in volume, name
        images.add(container["image"])
    assert images == {"csms:latest"}  # one image for every process


# -- the Envoy config in the ConfigMap ------------------------------------------------------------


def test_envoy_config_is_the_rendered_template() -> None:
    """base/envoy/envoy.yaml is deploy/envoy.yaml rendered for Kubernetes (regenerate: see file)."""
    checked_in = (K8S / "base" / "envoy" / "envoy.yaml").read_text()
    assert checked_in == mesh.kubernetes_envoy_config(), (
        "regenerate: python -m deploy.mesh envoy-config --kubernetes"
        " > deploy/k8s/base/envoy/envoy.yaml"
    )


def test_envoy_accepts_the_kubernetes_config(tmp_path: pathlib.Path) -> None:
    """The real Envoy validates it (this checkout's descriptor set and OpenAPI document standing
    in for the image's)."""
    text = (K8S / "base" / "envoy" / "envoy.yaml").read_text()
    assert mesh.K8S_DESCRIPTOR in text and mesh.K8S_OPENAPI in text
    text = text.replace(mesh.K8S_DESCRIPTOR, str(ROOT / "gen" / "descriptor.pb"))
    text = text.replace(mesh.K8S_OPENAPI, str(ROOT / "gen" / mesh.OPENAPI_FILE))
    config = tmp_path / "envoy.yaml"
    config.write_text(text)
    envoy = pathlib.Path(sys.executable).parent / "envoy"
    result = subprocess.run(
        [str(envoy), "--mode", "validate", "-c", str(config)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
