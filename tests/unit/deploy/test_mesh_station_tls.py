"""deploy/mesh.py and deploy/envoy-stations-tls.yaml in the TLS mode: the stations' wss listener
offers OCPP 2.0.1 A00.FR.421's TLS 1.2 cipher suites with an ECDSA and an RSA certificate."""

from __future__ import annotations

import pathlib
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from common import pki
from deploy.mesh import Mesh, envoy_config

from .conftest import mesh_settings

ROOT = pathlib.Path(__file__).resolve().parents[3]
DESCRIPTOR = ROOT / "gen" / "descriptor.pb"
# BoringSSL's names: A00.FR.421's four (TLS_ECDHE_ECDSA_WITH_AES_128/256_GCM_*,
# TLS_RSA_WITH_AES_128/256_GCM_*) and the ECDHE-RSA ones the listener already had.
SUITES = {
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
}


def _wss_tls_context(tmp_path: pathlib.Path) -> dict[str, Any]:
    settings = mesh_settings(tmp_path, tls=True)
    Mesh(settings).write_tls()
    config = yaml.safe_load(envoy_config(settings, DESCRIPTOR, [13001]))
    (listener,) = (
        lst for lst in config["static_resources"]["listeners"] if lst["name"] == "stations_tls"
    )
    (chain,) = listener["filter_chains"]
    context: dict[str, Any] = chain["transport_socket"]["typed_config"]["common_tls_context"]
    return context


def test_wss_listener_offers_the_a00_fr_421_suites_on_tls_1_2_and_1_3(
    tmp_path: pathlib.Path,
) -> None:
    """TLS 1.2 minimum with exactly A00.FR.421's suites plus ECDHE-RSA; TLS 1.3 allowed."""
    params = _wss_tls_context(tmp_path)["tls_params"]
    assert set(params["cipher_suites"]) == SUITES
    assert len(params["cipher_suites"]) == len(SUITES)
    assert params["tls_minimum_protocol_version"] == "TLSv1_2"
    assert params["tls_maximum_protocol_version"] == "TLSv1_3"


def test_wss_listener_has_an_ecdsa_and_an_rsa_certificate_of_the_local_ca(
    tmp_path: pathlib.Path,
) -> None:
    """Two certificates, one P-256 and one RSA, each with its own key, both from the CA that
    also verifies the stations' client certificates."""
    context = _wss_tls_context(tmp_path)
    ca_cert = pki.load_cert(
        pathlib.Path(context["validation_context"]["trusted_ca"]["filename"]).read_bytes()
    )
    kinds = []
    for entry in context["tls_certificates"]:
        cert = pki.load_cert(pathlib.Path(entry["certificate_chain"]["filename"]).read_bytes())
        key = pki.load_key(pathlib.Path(entry["private_key"]["filename"]).read_bytes())
        assert key.public_key() == cert.public_key()
        cert.verify_directly_issued_by(ca_cert)
        kinds.append(type(cert.public_key()))
    assert len(kinds) == 2
    assert any(issubclass(k, ec.EllipticCurvePublicKey) for k in kinds)
    assert any(issubclass(k, rsa.RSAPublicKey) for k in kinds)
