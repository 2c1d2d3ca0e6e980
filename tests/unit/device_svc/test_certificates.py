"""Tests for device_svc.certificates: which CA signs, when it is loaded, how refusals read."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from common import pki
from device_svc.certificates import (
    INVALID_CSR,
    CertificateAuthority,
    Signer,
    local_ca,
    open_signer,
)


def _csr(common_name: str, key: pki.PrivateKey | None = None) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


@pytest.fixture(scope="module")
def authority() -> CertificateAuthority:
    return CertificateAuthority(*pki.new_ca("Unit CA"))


async def test_open_signer_wants_both_paths_or_neither(tmp_path: pathlib.Path) -> None:
    """Half a configuration is an error at start, not at the first CSR."""
    with pytest.raises(ValueError, match="both"):
        await open_signer(str(tmp_path / "ca.pem"), "", str(tmp_path))
    with pytest.raises(ValueError, match="both"):
        await open_signer("", str(tmp_path / "ca.key"), str(tmp_path))


async def test_configured_ca_is_read_at_start(tmp_path: pathlib.Path) -> None:
    """A configured CA that is missing fails open_signer; a present one signs."""
    with pytest.raises(FileNotFoundError):
        await open_signer(str(tmp_path / "ca.pem"), str(tmp_path / "ca.key"), "")
    cert, key = pki.new_ca("Configured CA")
    (tmp_path / "ca.pem").write_text(pki.cert_pem(cert))
    (tmp_path / "ca.key").write_text(pki.key_pem(key))
    signer = await open_signer(str(tmp_path / "ca.pem"), str(tmp_path / "ca.key"), "")
    outcome = await signer.sign(_csr("CS1"), "CS1", "ChargingStationCertificate")
    assert outcome.accepted and outcome.chain is not None
    assert pki.subject_cn(pki.verify_chain(outcome.chain, cert)) == "CS1"


async def test_local_ca_is_created_on_first_use_only(tmp_path: pathlib.Path) -> None:
    """Without paths nothing is written at start; the first signature creates the local CA."""
    directory = tmp_path / "tls"
    signer = await open_signer("", "", str(directory))
    assert not directory.exists()
    outcome = await signer.sign(_csr("CS1"), "CS1", "ChargingStationCertificate")
    assert outcome.chain is not None
    ca_cert = pki.load_cert((directory / "ca.pem").read_bytes())
    pki.verify_chain(outcome.chain, ca_cert)


@pytest.mark.parametrize(
    "station_key",
    [
        pytest.param(lambda: ec.generate_private_key(ec.SECP256R1()), id="ecdsa-p256"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP384R1()), id="ecdsa-p384"),
        pytest.param(lambda: rsa.generate_private_key(65537, 2048), id="rsa-2048"),
    ],
)
async def test_local_ca_signs_ecdsa_and_rsa_csrs(
    tmp_path: pathlib.Path, station_key: Callable[[], pki.PrivateKey]
) -> None:
    """The TLS mode's local CA signs a station's ECDSA or RSA CSR into a chain of its key that
    verifies as a client certificate (profile 3 accepts either kind)."""
    signer = await open_signer("", "", str(tmp_path / "tls"))
    key = station_key()
    outcome = await signer.sign(_csr("CS1", key), "CS1", "ChargingStationCertificate")
    assert outcome.chain is not None, outcome
    ca_cert = pki.load_cert((tmp_path / "tls" / "ca.pem").read_bytes())
    leaf = pki.verify_chain(outcome.chain, ca_cert)
    assert leaf.public_key() == key.public_key()
    assert pki.subject_cn(leaf) == "CS1"


async def test_signer_loads_once(authority: CertificateAuthority) -> None:
    """Concurrent first signatures load the CA once."""
    loads = 0

    def load() -> CertificateAuthority:
        nonlocal loads
        loads += 1
        return authority

    signer = Signer(load)
    outcomes = await asyncio.gather(
        *(signer.sign(_csr(f"CS{i}"), f"CS{i}", "ChargingStationCertificate") for i in range(5))
    )
    assert loads == 1 and all(o.accepted for o in outcomes)


async def test_refusal_is_invalid_csr_with_a_bounded_reason(
    authority: CertificateAuthority,
) -> None:
    """A CSR for another id is refused as InvalidCSR; the reason fits StatusInfo (512)."""
    signer = Signer(lambda: authority, authority)
    outcome = await signer.sign(_csr("CS2"), "CS1", "ChargingStationCertificate")
    assert not outcome.accepted and outcome.chain is None
    assert outcome.reason_code == INVALID_CSR and "'CS2'" in outcome.additional_info
    long_id = "X" * 600
    outcome = await signer.sign(_csr("CS2"), long_id, "ChargingStationCertificate")
    assert outcome.reason_code == INVALID_CSR and len(outcome.additional_info) == 512


def test_local_ca_created_concurrently_is_one_ca(tmp_path: pathlib.Path) -> None:
    """Processes (here threads) creating the local CA side by side all end up with the same one."""
    with ThreadPoolExecutor(4) as pool:
        authorities = list(pool.map(lambda _: local_ca(tmp_path / "tls"), range(8)))
    assert len({a.cert.fingerprint(hashes.SHA256()) for a in authorities}) == 1
    first = authorities[0]
    assert first.key.public_key() == first.cert.public_key()
