"""deploy/mesh.py with internal TLS: the certificates, the processes' env, Envoy's clusters."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from typing import Any

import pytest
import yaml
from cryptography import x509

from common import grpc_tls, pki
from deploy.mesh import (
    CONSOLE_DIR,
    K8S_CONSOLE,
    K8S_INTERNAL_TLS_DIR,
    SERVICE_HOSTNAMES,
    Mesh,
    MeshSettings,
    envoy_config,
    kubernetes_envoy_config,
)

from .conftest import env_names, mesh_settings

ROOT = pathlib.Path(__file__).resolve().parents[3]
DESCRIPTOR = ROOT / "gen" / "descriptor.pb"
ENVOY = pathlib.Path(sys.executable).parent / "envoy"
TLS_SOCKET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"


def _clusters(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in config["static_resources"]["clusters"]}


def _validate(config: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "envoy-validate.yaml"
    path.write_text(config)
    result = subprocess.run(
        [str(ENVOY), "--mode", "validate", "-c", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_internal_tls_is_off_by_default(tmp_path: pathlib.Path, clean_env) -> None:  # type: ignore[no-untyped-def]
    """No setting: no certificates, no CSMS_INTERNAL_TLS_* for anyone, plaintext clusters."""
    settings = MeshSettings(data_dir=tmp_path)
    assert settings.internal_tls is False
    mesh = Mesh(mesh_settings(tmp_path), log_dir=tmp_path)
    for proc in mesh.plan():
        assert not any(k.startswith("CSMS_INTERNAL_TLS") for k in proc.env), proc.name
    assert not (tmp_path / "internal-tls").exists()
    assert mesh.client_tls() is None
    config = yaml.safe_load((tmp_path / "envoy.yaml").read_text())
    assert all("transport_socket" not in c for c in _clusters(config).values())


def test_make_up_reads_csms_internal_tls(clean_env) -> None:  # type: ignore[no-untyped-def]
    clean_env.setenv("CSMS_INTERNAL_TLS", "true")
    assert MeshSettings().internal_tls is True


@pytest.mark.parametrize("gateways", [1, 2])
def test_every_process_gets_its_own_certificate(tmp_path: pathlib.Path, gateways: int) -> None:
    """Each Python process: CSMS_INTERNAL_TLS_* (a setting it reads) naming files that load,
    a certificate for its own name, localhost and 127.0.0.1 from the mesh's internal CA."""
    mesh = Mesh(mesh_settings(tmp_path, internal_tls=True, gateways=gateways), log_dir=tmp_path)
    procs = [p for p in mesh.plan() if p.name != "envoy"]
    identities = {
        "user_svc": SERVICE_HOSTNAMES["user"],
        "device_svc": SERVICE_HOSTNAMES["device"],
        "transaction_svc": SERVICE_HOSTNAMES["transaction"],
        **{gw.name: gw.name for gw in mesh.gateways},
    }
    assert sorted(p.name for p in procs) == sorted(identities)
    ca = (tmp_path / "internal-tls" / "ca.pem").read_bytes()
    certs = set()
    for proc in procs:
        tls_env = {k: v for k, v in proc.env.items() if k.startswith("CSMS_INTERNAL_TLS_")}
        assert set(tls_env) <= env_names(proc.argv[2])
        assert set(tls_env) == {f"CSMS_INTERNAL_TLS_{n}" for n in ("CERT", "KEY", "CA")}
        material = grpc_tls.InternalTls.from_files(
            tls_env["CSMS_INTERNAL_TLS_CERT"],
            tls_env["CSMS_INTERNAL_TLS_KEY"],
            tls_env["CSMS_INTERNAL_TLS_CA"],
        )
        assert material.root_ca == ca
        cert = pki.load_cert(material.cert_chain)
        assert pki.subject_cn(cert) == identities[proc.name]
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert {identities[proc.name], "localhost"} <= set(san.get_values_for_type(x509.DNSName))
        assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
        certs.add(material.cert_chain)
    assert len(certs) == len(procs)  # one each, none shared
    launcher = mesh.client_tls()
    assert launcher is not None and launcher.root_ca == ca
    assert launcher.cert_chain not in certs
    assert "internal gRPC:          mutual TLS" in mesh.endpoints()


def test_envoy_reaches_the_services_over_mutual_tls(tmp_path: pathlib.Path) -> None:
    """Each service's cluster (ext_authz uses user_svc's): TLS with Envoy's certificate, the
    internal CA, SNI and SAN check on the service's name, h2; the gateways' stays WebSocket."""
    settings = mesh_settings(tmp_path, internal_tls=True)
    Mesh(settings, log_dir=tmp_path).write_internal_tls()
    text = envoy_config(settings, DESCRIPTOR, [13001, 13002])
    clusters = _clusters(yaml.safe_load(text))
    d = tmp_path / "internal-tls"
    for svc, hostname in SERVICE_HOSTNAMES.items():
        socket = clusters[f"{svc}_svc"]["transport_socket"]["typed_config"]
        assert socket["@type"] == TLS_SOCKET
        assert socket["sni"] == hostname
        common = socket["common_tls_context"]
        assert common["alpn_protocols"] == ["h2"]
        assert common["tls_certificates"] == [
            {
                "certificate_chain": {"filename": str(d / "envoy.pem")},
                "private_key": {"filename": str(d / "envoy.key")},
            }
        ]
        validation = common["validation_context"]
        assert validation["trusted_ca"] == {"filename": str(d / "ca.pem")}
        assert validation["match_typed_subject_alt_names"] == [
            {"san_type": "DNS", "matcher": {"exact": hostname}}
        ]
    assert "transport_socket" not in clusters["gateway"]
    _validate(text, tmp_path)  # the real Envoy loads the certificates too


def test_kubernetes_envoy_config_with_internal_tls(tmp_path: pathlib.Path) -> None:
    """``envoy-config --kubernetes --internal-tls``: the base's config plus TLS on the services'
    clusters, from the Secret mounted at K8S_INTERNAL_TLS_DIR; Envoy accepts it."""
    plain = yaml.safe_load(kubernetes_envoy_config())
    text = kubernetes_envoy_config(internal_tls=True)
    config = yaml.safe_load(text)
    for name, cluster in _clusters(config).items():
        rest = {k: v for k, v in cluster.items() if k != "transport_socket"}
        assert rest == _clusters(plain)[name]
        if name == "gateway":
            assert "transport_socket" not in cluster
            continue
        host = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        host = host["address"]["socket_address"]["address"]
        common = cluster["transport_socket"]["typed_config"]["common_tls_context"]
        assert cluster["transport_socket"]["typed_config"]["sni"] == host
        assert common["validation_context"]["trusted_ca"]["filename"] == (
            f"{K8S_INTERNAL_TLS_DIR}/ca.crt"
        )
    # Validate with this checkout's gen/ and real files standing in for the Secret.
    files = pki.write_internal_ca(tmp_path / "secret", ["envoy"], [], ["127.0.0.1"])
    text = text.replace(f"{K8S_INTERNAL_TLS_DIR}/tls.crt", str(files["envoy_cert"]))
    text = text.replace(f"{K8S_INTERNAL_TLS_DIR}/tls.key", str(files["envoy_key"]))
    text = text.replace(f"{K8S_INTERNAL_TLS_DIR}/ca.crt", str(files["ca_cert"]))
    text = text.replace("/app/gen/descriptor.pb", str(DESCRIPTOR))
    text = text.replace("/app/gen/openapi.json", str(DESCRIPTOR.with_name("openapi.json")))
    text = text.replace(K8S_CONSOLE, str(CONSOLE_DIR))
    _validate(text, tmp_path)
