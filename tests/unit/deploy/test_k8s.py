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
    """base/: one file per process, each a ServiceAccount, a Deployment, a Service and the
    NetworkPolicy of its pods; device-svc also the volume of its files (firmware, logs)."""
    objs = _render("base")
    procs = ["device-svc", "transaction-svc", "user-svc", "gateway", "envoy"]
    for name in procs:
        kinds = [d["kind"] for d in yaml.safe_load_all((K8S / "base" / f"{name}.yaml").read_text())]
        volume = ["PersistentVolumeClaim"] if name == "device-svc" else []
        expected = ["ServiceAccount", "Deployment", *volume, "Service", "NetworkPolicy"]
        assert kinds == expected, name
        spec = objs["Deployment", name]["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] == name
    assert {k for k, _ in objs} == {
        "ServiceAccount",
        "Deployment",
        "Service",
        "NetworkPolicy",
        "ConfigMap",
        "PersistentVolumeClaim",
    }


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
        if proc in SETTINGS:
            read = env_names(proc)
        else:  # Envoy: the variables its config reads (%ENVIRONMENT(NAME)%)
            text = objs["ConfigMap", "envoy-config"]["data"]["envoy.yaml"]
            read = set(re.findall(r"%ENVIRONMENT\((\w+)\)%", text))
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
    # Prometheus scrapes the pod's address: the metrics listen on it, on their default port.
    assert s.metrics_host == "0.0.0.0", f"{proc}: metrics only on loopback"
    ports["metrics"] = s.metrics_port
    assert s.metrics_port == DEFAULT_PORTS[f"{proc.removesuffix('_svc')}_metrics"]
    if proc == "gateway":
        assert s.host == "0.0.0.0"
        ports["ocpp"] = s.port
        assert s.advertise_addr == f"{POD_IP}:{ports['grpc']}", "advertise the pod's gRPC"
        assert (ports["grpc"], ports["ocpp"]) == (
            DEFAULT_PORTS["gateway_grpc"],
            DEFAULT_PORTS["gateway"],
        )
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
    # Envoy's admin (config dump, /quitquitquit, ...) answers only inside its own pod.
    assert admin["address"] == "127.0.0.1"
    deployment = objs["Deployment", "envoy"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    declared = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert declared == {
        "http": listeners["api"]["port_value"],
        "ocpp": listeners["stations"]["port_value"],
    }
    assert declared["ocpp"] == DEFAULT_PORTS["gateway"]  # the stations' URL keeps its port
    # The probes ask /ready from inside the pod (the kubelet cannot reach loopback).
    for probe in ("readinessProbe", "livenessProbe"):
        command = container[probe]["exec"]["command"]
        assert command[:2] == ["python", "-c"], command
        assert f"http://127.0.0.1:{admin['port_value']}/ready" in command[2]
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
    """The real Envoy validates it (this checkout's descriptor set, OpenAPI document and console
    standing in for the image's)."""
    text = (K8S / "base" / "envoy" / "envoy.yaml").read_text()
    assert mesh.K8S_DESCRIPTOR in text and mesh.K8S_OPENAPI in text
    assert f"{mesh.K8S_CONSOLE}/index.html" in text
    text = text.replace(mesh.K8S_DESCRIPTOR, str(ROOT / "gen" / "descriptor.pb"))
    text = text.replace(mesh.K8S_OPENAPI, str(ROOT / "gen" / mesh.OPENAPI_FILE))
    text = text.replace(mesh.K8S_CONSOLE, str(mesh.CONSOLE_DIR))
    config = tmp_path / "envoy.yaml"
    config.write_text(text)
    envoy = pathlib.Path(sys.executable).parent / "envoy"
    result = subprocess.run(
        [str(envoy), "--mode", "validate", "-c", str(config)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("status", "passes"), [(200, True), (503, False), (None, False)])
def test_envoys_probe_passes_only_on_a_ready_admin(status: int | None, passes: bool) -> None:
    """Envoy's exec probe asks /ready on the pod's loopback: 200 passes; 503 (Envoy not ready
    yet, or draining) and nothing listening fail."""
    import http.server
    import threading

    [container] = _render("base")["Deployment", "envoy"]["spec"]["template"]["spec"]["containers"]
    asked: list[str] = []

    class Admin(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            asked.append(self.path)
            self.send_response(status or 500)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Admin)
    port = server.server_address[1]
    if status is None:
        server.server_close()  # nothing listens there
    else:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for probe in ("readinessProbe", "livenessProbe"):
            command = container[probe]["exec"]["command"]
            program = command[2].replace(
                f"127.0.0.1:{DEFAULT_PORTS['envoy_admin']}", f"127.0.0.1:{port}"
            )
            assert program != command[2]
            done = subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=30)
            assert (done.returncode == 0) is passes, done.stderr
    finally:
        if status is not None:
            server.shutdown()
            server.server_close()
    assert asked == (["/ready", "/ready"] if status else [])


# -- trust between the pods --------------------------------------------------------------------

PROXY_SECRET = {"name": "csms-proxy-secret", "key": "secret"}


def test_envoy_and_the_gateways_share_the_proxy_secret(objs: dict[tuple[str, str], Obj]) -> None:
    """Envoy adds x-csms-proxy-secret from the Secret csms-proxy-secret; the gateways, which
    trust Envoy's headers, check it against the same Secret (never a literal in a manifest)."""
    refs = {}
    for deployment, container in _containers(objs):
        for var in container.get("env", []):
            if var["name"] == "CSMS_GATEWAY_PROXY_SECRET":
                assert "value" not in var
                refs[deployment["metadata"]["name"]] = var["valueFrom"]["secretKeyRef"]
    assert refs == {"gateway": PROXY_SECRET, "envoy": PROXY_SECRET}
    [gateway] = [c for _, c in _containers(objs) if _process(c) == "gateway"]
    assert _env_values(gateway)["CSMS_GATEWAY_TRUST_PROXY_HEADERS"] == "true"
    listeners = _envoy_config(objs)["static_resources"]["listeners"]
    [stations] = [lst for lst in listeners if lst["name"] == "stations"]
    [hcm] = stations["filter_chains"][0]["filters"]
    added = {
        h["header"]["key"]: (h["header"]["value"], h["append_action"])
        for h in hcm["typed_config"]["route_config"]["request_headers_to_add"]
    }
    assert added["x-csms-proxy-secret"] == (
        "%ENVIRONMENT(CSMS_GATEWAY_PROXY_SECRET)%",
        "OVERWRITE_IF_EXISTS_OR_ADD",
    )
    assert not any(kind == "Secret" for kind, _ in objs)  # made by the operator (README)


# The source the NetworkPolicies admit to the metrics ports: Prometheus's pods in the namespace
# named monitoring.
PROMETHEUS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}


def _pods(objs: dict[tuple[str, str], Obj]) -> dict[str, Obj]:
    """app label → its Deployment."""
    return {d["spec"]["template"]["metadata"]["labels"]["app"]: d for d in _workloads(objs)}


def _port_names(deployment: Obj) -> dict[int, str]:
    return {
        p["containerPort"]: p["name"]
        for c in deployment["spec"]["template"]["spec"]["containers"]
        for p in c["ports"]
    }


def _callers_needed(objs: dict[tuple[str, str], Obj], clean_env: pytest.MonkeyPatch) -> set[Any]:
    """(caller app, callee app, callee port name) for every connection the mesh makes: each
    process's *_svc_addr, Envoy's clusters, device_svc to the gateways' StationControlService
    (the pod IP each gateway advertises); ("*", envoy, port) for Envoy's public ports."""
    services = {name: o for (kind, name), o in objs.items() if kind == "Service"}
    pods = _pods(objs)

    def callee(host: str, port: int) -> tuple[str, str]:
        app = services[host]["spec"]["selector"]["app"]
        return app, _port_names(pods[app])[port]

    needed: set[Any] = set()
    for deployment, container in _containers(objs):
        caller = deployment["spec"]["template"]["metadata"]["labels"]["app"]
        if _process(container) == "envoy":
            for cluster in _envoy_config(objs)["static_resources"]["clusters"]:
                for group in cluster["load_assignment"]["endpoints"]:
                    for ep in group["lb_endpoints"]:
                        addr = ep["endpoint"]["address"]["socket_address"]
                        needed.add((caller, *callee(addr["address"], addr["port_value"])))
            needed |= {("*", caller, "ocpp"), ("*", caller, "http")}
            continue
        settings = _settings(container, clean_env)
        for name in type(settings).model_fields:
            if name.endswith("_svc_addr"):
                host, port = getattr(settings, name).rsplit(":", 1)
                needed.add((caller, *callee(host, int(port))))
    needed.add(("device-svc", "gateway", "grpc"))
    # Prometheus scrapes every CSMS process's metrics (not Envoy: its admin stays closed).
    needed |= {("prometheus", app, "metrics") for app in pods if app != "envoy"}
    return needed


def test_network_policies_admit_only_the_callers_each_port_needs(
    objs: dict[tuple[str, str], Obj],
    clean_env,  # type: ignore[no-untyped-def]
) -> None:
    """Every pod is isolated for ingress by its own NetworkPolicy, which admits exactly the
    pods that call each of its ports (and the world only to Envoy's public ports): no one else
    reaches the services' or the gateways' gRPC, the gateways' stations port or Envoy's admin."""
    pods = _pods(objs)
    policies = [o for (kind, _), o in objs.items() if kind == "NetworkPolicy"]
    admitted: set[Any] = set()
    selected = []
    for policy in policies:
        spec = policy["spec"]
        assert spec["policyTypes"] == ["Ingress"], policy["metadata"]["name"]
        assert set(spec["podSelector"]) == {"matchLabels"}
        [(label, app)] = spec["podSelector"]["matchLabels"].items()
        assert label == "app" and app in pods
        selected.append(app)
        named = set(_port_names(pods[app]).values())
        for rule in spec.get("ingress", []):
            assert rule["ports"], "a rule for every port is no rule"
            ports = set()
            for port in rule["ports"]:
                assert port.get("protocol", "TCP") == "TCP" and port["port"] in named
                ports.add(port["port"])
            sources = rule.get("from")
            if sources is None:
                callers = {"*"}
            else:
                callers = set()
                for source in sources:
                    if source == PROMETHEUS:
                        # The one source from another namespace: Prometheus, on the metrics.
                        assert ports == {"metrics"}, rule
                        callers.add("prometheus")
                        continue
                    # Only pods of this namespace by their app label: no namespaceSelector, no
                    # ipBlock (which would admit the whole cluster or the world).
                    assert set(source) == {"podSelector"}, source
                    [(k, v)] = source["podSelector"]["matchLabels"].items()
                    assert k == "app" and v in pods, source
                    callers.add(v)
            admitted |= {(c, app, p) for c in callers for p in ports}
    assert sorted(selected) == sorted(pods)  # one policy per pod, every pod isolated
    assert admitted == _callers_needed(objs, clean_env)
