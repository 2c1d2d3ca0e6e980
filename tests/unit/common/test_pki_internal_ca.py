"""common.pki.write_internal_ca: the CA and per-process certificates of internal mutual TLS."""

from __future__ import annotations

import ipaddress
import pathlib
import stat

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from common import pki

NAMES = ["device-svc", "gateway-1"]


def _sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)), {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    }


def test_one_certificate_per_process_for_server_and_client(tmp_path: pathlib.Path) -> None:
    """Each process's certificate: from the CA, its own name and the shared names in the SAN,
    serverAuth and clientAuth; keys 0600."""
    paths = pki.write_internal_ca(tmp_path, NAMES, ["localhost"], ["127.0.0.1"])
    ca = pki.load_cert(paths["ca_cert"].read_bytes())
    assert pki.subject_cn(ca) == "CSMS internal CA"
    for name in NAMES:
        cert = pki.load_cert(paths[f"{name}_cert"].read_bytes())
        key = pki.load_key(paths[f"{name}_key"].read_bytes())
        cert.verify_directly_issued_by(ca)
        assert cert.public_key() == key.public_key()
        assert pki.subject_cn(cert) == name
        assert _sans(cert) == ({name, "localhost"}, {"127.0.0.1"})
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
        assert stat.S_IMODE(paths[f"{name}_key"].stat().st_mode) == 0o600
    assert stat.S_IMODE(paths["ca_key"].stat().st_mode) == 0o600


def test_reused_when_fitting_reissued_when_not(tmp_path: pathlib.Path) -> None:
    """A second run keeps every file; a new IP reissues the leaves under the same CA."""
    paths = pki.write_internal_ca(tmp_path, NAMES, ["localhost"], ["127.0.0.1"])
    first = {k: p.read_bytes() for k, p in paths.items()}
    again = pki.write_internal_ca(tmp_path, NAMES, ["localhost"], ["127.0.0.1"])
    assert {k: p.read_bytes() for k, p in again.items()} == first

    pki.write_internal_ca(tmp_path, NAMES, ["localhost"], ["127.0.0.1", "10.0.0.7"])
    assert paths["ca_cert"].read_bytes() == first["ca_cert"]
    for name in NAMES:
        assert paths[f"{name}_cert"].read_bytes() != first[f"{name}_cert"]
        ips = _sans(pki.load_cert(paths[f"{name}_cert"].read_bytes()))[1]
        assert ipaddress.ip_address("10.0.0.7") in {ipaddress.ip_address(i) for i in ips}


def test_a_server_only_certificate_is_reissued_with_client_auth(tmp_path: pathlib.Path) -> None:
    """A leaf without clientAuth (e.g. copied from the stations' TLS mode) does not fit."""
    paths = pki.write_internal_ca(tmp_path, ["envoy"], ["localhost"], ["127.0.0.1"])
    ca = pki.load_cert(paths["ca_cert"].read_bytes()), pki.load_key(paths["ca_key"].read_bytes())
    cert, key = pki.issue_server_cert(*ca, ["envoy", "localhost"], ["127.0.0.1"])
    paths["envoy_cert"].write_text(pki.cert_pem(cert))
    paths["envoy_key"].write_text(pki.key_pem(key))
    pki.write_internal_ca(tmp_path, ["envoy"], ["localhost"], ["127.0.0.1"])
    reissued = pki.load_cert(paths["envoy_cert"].read_bytes())
    eku = reissued.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku


def test_not_the_stations_ca(tmp_path: pathlib.Path) -> None:
    """Side by side in one data dir, the internal CA and the stations' CA are different CAs."""
    stations = pki.write_local_ca(tmp_path / "tls", ["localhost"], ["127.0.0.1"])
    internal = pki.write_internal_ca(tmp_path / "internal-tls", NAMES, [], ["127.0.0.1"])
    assert stations["ca_cert"].read_bytes() != internal["ca_cert"].read_bytes()


def test_a_process_cannot_be_named_ca(tmp_path: pathlib.Path) -> None:
    with pytest.raises(pki.PkiError, match="'ca'"):
        pki.write_internal_ca(tmp_path, ["ca"], [], ["127.0.0.1"])
