"""The local CA, certificate issuing, CSR signing and chain verification of common.pki."""

from __future__ import annotations

import datetime
import ipaddress
import pathlib
import socket
import ssl
import stat
import threading
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common import pki

STATION = "CS-0001"


@pytest.fixture(scope="module")
def ca() -> tuple[x509.Certificate, pki.PrivateKey]:
    return pki.new_ca("Test CA")


def make_csr(
    cn: str, key: pki.PrivateKey | None = None, *, organization: str = "Operator"
) -> tuple[str, pki.PrivateKey]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii"), key


def eku(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


# --- CA --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["ec-p256", "rsa-2048"])
def test_new_ca_is_a_critical_ca_with_ski(key: pki.KeyType) -> None:
    """The CA has critical basicConstraints CA:true, critical keyCertSign+cRLSign and an SKI."""
    cert, _ = pki.new_ca("Root", key=key)
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert bc.critical and bc.value.ca
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert pki.subject_cn(cert) == "Root"
    cert.verify_directly_issued_by(cert)


# --- issuing ---------------------------------------------------------------------------------


def test_server_cert_has_sans_and_server_auth(ca: tuple[x509.Certificate, pki.PrivateKey]) -> None:
    """The server certificate carries the DNS and IP SANs and EKU serverAuth, signed by the CA."""
    cert, _ = pki.issue_server_cert(*ca, ["localhost", "envoy"], ["127.0.0.1", "::1"])
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "envoy"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert eku(cert) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(ca[0])


def test_server_cert_key_usage_fits_key_type(ca: tuple[x509.Certificate, pki.PrivateKey]) -> None:
    """keyEncipherment is set for RSA server keys only; EC keys only sign."""
    ec_cert, _ = pki.issue_server_cert(*ca, ["localhost"], [])
    rsa_cert, _ = pki.issue_server_cert(*ca, ["localhost"], [], key="rsa-2048")
    ec_ku = ec_cert.extensions.get_extension_for_class(x509.KeyUsage).value
    rsa_ku = rsa_cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ec_ku.digital_signature and not ec_ku.key_encipherment
    assert rsa_ku.digital_signature and rsa_ku.key_encipherment


def test_server_cert_refuses_bad_ip(ca: tuple[x509.Certificate, pki.PrivateKey]) -> None:
    """An unparsable IP address is a PkiError."""
    with pytest.raises(pki.PkiError):
        pki.issue_server_cert(*ca, [], ["not-an-ip"])


def test_client_cert_has_station_cn_and_client_auth(
    ca: tuple[x509.Certificate, pki.PrivateKey],
) -> None:
    """A station certificate has CN = station id, O = operator and EKU clientAuth, and verifies."""
    cert, _ = pki.issue_client_cert(*ca, STATION, organization="ACME")
    assert pki.subject_cn(cert) == STATION
    org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [a.value for a in org] == ["ACME"]
    assert eku(cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert pki.verify_chain(pki.cert_pem(cert), ca[0]) == cert


# --- SignCertificate -------------------------------------------------------------------------


def test_csr_for_the_station_is_signed_and_chain_verifies(
    ca: tuple[x509.Certificate, pki.PrivateKey],
) -> None:
    """A station's CSR is signed into a leaf+CA chain that verifies against the CA."""
    csr_pem, key = make_csr(STATION)
    chain = pki.sign_csr(*ca, csr_pem, station_id=STATION)
    assert len(chain) <= pki.MAX_CERTIFICATE_CHAIN_CHARS
    certs = x509.load_pem_x509_certificates(chain.encode())
    assert certs[1] == ca[0]
    leaf = pki.verify_chain(chain, ca[0])
    assert leaf == certs[0]
    assert leaf.public_key() == key.public_key()
    assert pki.subject_cn(leaf) == STATION
    assert eku(leaf) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_csr_with_rsa_2048_key_is_signed(ca: tuple[x509.Certificate, pki.PrivateKey]) -> None:
    """An RSA-2048 CSR is accepted and its leaf may encipher keys."""
    csr_pem, _ = make_csr(STATION, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    leaf = pki.verify_chain(pki.sign_csr(*ca, csr_pem, station_id=STATION), ca[0])
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment


def test_csr_for_another_station_is_refused(ca: tuple[x509.Certificate, pki.PrivateKey]) -> None:
    """A CSR whose CN is another station's id is refused."""
    csr_pem, _ = make_csr("CS-0002")
    with pytest.raises(pki.PkiError, match="not the station id"):
        pki.sign_csr(*ca, csr_pem, station_id=STATION)


@pytest.mark.parametrize(
    ("cn", "serial", "signed"),
    [
        pytest.param(STATION, "SN-0001", True, id="the-id-still"),
        pytest.param("SN-0001", "SN-0001", True, id="the-serial-given"),
        pytest.param("SN-0001", "", False, id="a-serial-not-given"),
        pytest.param("SN-0002", "SN-0001", False, id="another-serial"),
    ],
)
def test_a_csr_may_name_the_serial_number_given(
    ca: tuple[x509.Certificate, pki.PrivateKey], cn: str, serial: str, signed: bool
) -> None:
    """An OCPP 1.6 station's certificate names its serial number (security whitepaper
    A00.FR.511): the CN may be the serial number given besides the station id, nothing else."""
    csr_pem, _ = make_csr(cn)
    if signed:
        leaf = pki.verify_chain(
            pki.sign_csr(*ca, csr_pem, station_id=STATION, serial_number=serial), ca[0]
        )
        assert pki.subject_cn(leaf) == cn
    else:
        with pytest.raises(pki.PkiError, match="not the station id"):
            pki.sign_csr(*ca, csr_pem, station_id=STATION, serial_number=serial)


@pytest.mark.parametrize(
    ("organization", "cpo_name", "signed"),
    [
        pytest.param("Operator", "Operator", True, id="the-cpo"),
        pytest.param("Operator", "", True, id="no-cpo-name-configured"),
        pytest.param("Another CPO", "Operator", False, id="another-organization"),
        pytest.param("operator", "Operator", False, id="case-matters"),
    ],
)
def test_a_station_csr_must_name_the_cpo_as_its_organization(
    ca: tuple[x509.Certificate, pki.PrivateKey], organization: str, cpo_name: str, signed: bool
) -> None:
    """A00.FR.404: the CSMS would refuse a profile-3 certificate whose O is not the CPO's name,
    so it does not sign one (a configured CPO name only)."""
    csr_pem, _ = make_csr(STATION, organization=organization)
    if signed:
        leaf = pki.verify_chain(
            pki.sign_csr(*ca, csr_pem, station_id=STATION, cpo_name=cpo_name), ca[0]
        )
        assert pki.subject_organizations(leaf) == [organization]
    else:
        with pytest.raises(pki.PkiError, match="not the CPO name 'Operator'"):
            pki.sign_csr(*ca, csr_pem, station_id=STATION, cpo_name=cpo_name)


def test_a_station_csr_without_organization_is_refused_when_a_cpo_name_is_set(
    ca: tuple[x509.Certificate, pki.PrivateKey],
) -> None:
    """No O at all is not the CPO's either."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, STATION)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    csr_pem = csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
    with pytest.raises(pki.PkiError, match="O \\(organizationName\\) is none"):
        pki.sign_csr(*ca, csr_pem, station_id=STATION, cpo_name="Operator")
    assert pki.verify_chain(pki.sign_csr(*ca, csr_pem, station_id=STATION), ca[0])


def test_a_v2g_csr_is_not_held_to_the_cpo_name(
    ca: tuple[x509.Certificate, pki.PrivateKey],
) -> None:
    """A00.FR.404 is about the certificate a station connects to the CSMS with."""
    csr_pem, _ = make_csr("DEABCE1234567", organization="EMSP")
    pki.sign_csr(*ca, csr_pem, station_id=STATION, usage="V2GCertificate", cpo_name="Operator")


def test_v2g_csr_skips_the_station_cn_check(ca: tuple[x509.Certificate, pki.PrivateKey]) -> None:
    """A V2G CSR carries an EVSE id as CN and is signed without an EKU restriction."""
    csr_pem, _ = make_csr("DEABCE1234567")
    leaf = pki.verify_chain(
        pki.sign_csr(*ca, csr_pem, station_id=STATION, usage="V2GCertificate"), ca[0]
    )
    assert pki.subject_cn(leaf) == "DEABCE1234567"
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)


def test_tampered_csr_is_refused(ca: tuple[x509.Certificate, pki.PrivateKey]) -> None:
    """A CSR whose subject was altered after signing fails the signature check."""
    csr_pem, _ = make_csr("CS-0009")
    der = x509.load_pem_x509_csr(csr_pem.encode()).public_bytes(serialization.Encoding.DER)
    tampered = x509.load_der_x509_csr(der.replace(b"CS-0009", STATION.encode()))
    tampered_pem = tampered.public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(pki.PkiError, match="signature"):
        pki.sign_csr(*ca, tampered_pem, station_id=STATION)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(lambda: rsa.generate_private_key(65537, 1024), id="rsa-1024"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP256K1()), id="ec-secp256k1"),
    ],
)
def test_weak_key_csr_is_refused(
    ca: tuple[x509.Certificate, pki.PrivateKey], key: Callable[[], pki.PrivateKey]
) -> None:
    """CSRs with RSA below 2048 bits or an EC curve other than P-256/P-384 are refused."""
    csr_pem, _ = make_csr(STATION, key())
    with pytest.raises(pki.PkiError, match="too weak|not allowed"):
        pki.sign_csr(*ca, csr_pem, station_id=STATION)


@pytest.mark.parametrize("text", ["", "garbage", "é", "certificate"])
def test_non_csr_is_refused(ca: tuple[x509.Certificate, pki.PrivateKey], text: str) -> None:
    """Text that is not a PEM CSR (including a PEM certificate) is a PkiError."""
    if text == "certificate":
        text = pki.cert_pem(ca[0])
    with pytest.raises(pki.PkiError, match="not a PEM certificate signing request"):
        pki.sign_csr(*ca, text, station_id=STATION)


# --- verify_chain ----------------------------------------------------------------------------


def test_chain_from_another_ca_fails(ca: tuple[x509.Certificate, pki.PrivateKey]) -> None:
    """A chain signed by another CA does not verify, even when it includes that CA."""
    other = pki.new_ca("Test CA")  # same name, different key
    csr_pem, _ = make_csr(STATION)
    chain = pki.sign_csr(*other, csr_pem, station_id=STATION)
    with pytest.raises(pki.PkiError, match="does not verify"):
        pki.verify_chain(chain, ca[0])


def test_chain_outside_validity_fails(ca: tuple[x509.Certificate, pki.PrivateKey]) -> None:
    """A chain checked after the leaf expired, or before it is valid, does not verify."""
    csr_pem, _ = make_csr(STATION)
    chain = pki.sign_csr(*ca, csr_pem, station_id=STATION, days=1)
    now = datetime.datetime.now(datetime.UTC)
    pki.verify_chain(chain, ca[0], at=now)
    for at in (now + datetime.timedelta(days=2), now - datetime.timedelta(days=1)):
        with pytest.raises(pki.PkiError):
            pki.verify_chain(chain, ca[0], at=at)


def test_server_cert_is_not_a_client_chain(ca: tuple[x509.Certificate, pki.PrivateKey]) -> None:
    """A serverAuth-only certificate is refused as a station client certificate."""
    cert, _ = pki.issue_server_cert(*ca, ["localhost"], [])
    with pytest.raises(pki.PkiError):
        pki.verify_chain(pki.cert_pem(cert), ca[0])


def test_verify_chain_refuses_non_pem(ca: tuple[x509.Certificate, pki.PrivateKey]) -> None:
    """An empty or non-PEM chain is a PkiError."""
    with pytest.raises(pki.PkiError):
        pki.verify_chain("", ca[0])


# --- PEM and files ---------------------------------------------------------------------------


def test_pem_round_trip(ca: tuple[x509.Certificate, pki.PrivateKey]) -> None:
    """cert_pem/load_cert and key_pem/load_key round-trip; keys are unencrypted PKCS#8."""
    cert, key = ca
    assert pki.load_cert(pki.cert_pem(cert)) == cert
    text = pki.key_pem(key)
    assert text.startswith("-----BEGIN PRIVATE KEY-----")
    assert pki.load_key(text).public_key() == key.public_key()


def test_subject_cn_refuses_missing_cn() -> None:
    """A subject without a CN is a PkiError, not an empty string."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Operator")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    with pytest.raises(pki.PkiError, match="exactly one CN"):
        pki.subject_cn(csr)


SERVER_CERTS = ("server", "server_rsa")


def test_write_local_ca_is_idempotent_with_private_keys(tmp_path: pathlib.Path) -> None:
    """A second call reuses every file; keys are 0600; a new hostname reissues only the servers'."""
    paths = pki.write_local_ca(tmp_path / "pki", ["localhost"], ["127.0.0.1"])
    assert {p.name for p in paths.values()} == {
        "ca.pem",
        "ca.key",
        "server.pem",
        "server.key",
        "server-rsa.pem",
        "server-rsa.key",
    }
    for name in ("ca_key", "server_key", "server_rsa_key"):
        assert stat.S_IMODE(paths[name].stat().st_mode) == 0o600
    first = {name: path.read_bytes() for name, path in paths.items()}

    again = pki.write_local_ca(tmp_path / "pki", ["localhost"], ["127.0.0.1"])
    assert {name: path.read_bytes() for name, path in again.items()} == first

    pki.write_local_ca(tmp_path / "pki", ["localhost", "envoy"], ["127.0.0.1"])
    assert paths["ca_cert"].read_bytes() == first["ca_cert"]
    ca_cert = pki.load_cert(paths["ca_cert"].read_bytes())
    for name in SERVER_CERTS:
        assert paths[f"{name}_cert"].read_bytes() != first[f"{name}_cert"]
        assert stat.S_IMODE(paths[f"{name}_key"].stat().st_mode) == 0o600
        pki.load_cert(paths[f"{name}_cert"].read_bytes()).verify_directly_issued_by(ca_cert)


def test_write_local_ca_issues_an_ecdsa_and_an_rsa_server_cert(tmp_path: pathlib.Path) -> None:
    """Envoy gets a P-256 and an RSA-3072 server certificate from one CA, each for its own key
    and the requested names (A00.FR.421's suites need both kinds)."""
    paths = pki.write_local_ca(tmp_path, ["localhost"], ["127.0.0.1"])
    ca_cert = pki.load_cert(paths["ca_cert"].read_bytes())
    ec_cert = pki.load_cert(paths["server_cert"].read_bytes())
    rsa_cert = pki.load_cert(paths["server_rsa_cert"].read_bytes())
    ec_key = ec_cert.public_key()
    rsa_key = rsa_cert.public_key()
    assert isinstance(ec_key, ec.EllipticCurvePublicKey) and ec_key.curve.name == "secp256r1"
    assert isinstance(rsa_key, rsa.RSAPublicKey) and rsa_key.key_size == 3072
    for name, cert in (("server", ec_cert), ("server_rsa", rsa_cert)):
        cert.verify_directly_issued_by(ca_cert)
        key = pki.load_key(paths[f"{name}_key"].read_bytes())
        assert key.public_key() == cert.public_key()
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == ["localhost"]
        assert eku(cert) == [ExtendedKeyUsageOID.SERVER_AUTH]
    # RSA certificates also allow the TLS_RSA_* key exchange, ECDSA ones only sign.
    assert rsa_cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment
    assert not ec_cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment


def test_a_new_local_ca_is_rsa_and_an_existing_one_is_kept(tmp_path: pathlib.Path) -> None:
    """A new stations' CA signs with RSA (stations without elliptic curves can verify it); an
    existing P-256 CA is kept and signs both server certificates."""
    fresh = pki.write_local_ca(tmp_path / "new", ["localhost"], [])
    fresh_key = pki.load_cert(fresh["ca_cert"].read_bytes()).public_key()
    assert isinstance(fresh_key, rsa.RSAPublicKey) and fresh_key.key_size == 3072

    old_cert, old_key = pki.new_ca("An older CA", key="ec-p256")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "ca.pem").write_text(pki.cert_pem(old_cert))
    (tmp_path / "old" / "ca.key").write_text(pki.key_pem(old_key))
    paths = pki.write_local_ca(tmp_path / "old", ["localhost"], [])
    assert pki.load_cert(paths["ca_cert"].read_bytes()) == old_cert
    for name in SERVER_CERTS:
        pki.load_cert(paths[f"{name}_cert"].read_bytes()).verify_directly_issued_by(old_cert)


@pytest.mark.parametrize(
    ("name", "wrong"),
    [("server", "rsa-3072"), ("server_rsa", "ec-p256"), ("server_rsa", "rsa-2048")],
)
def test_a_server_cert_of_the_wrong_key_type_is_reissued(
    tmp_path: pathlib.Path, name: str, wrong: pki.KeyType
) -> None:
    """A server certificate whose key is not its slot's type (e.g. an ECDSA one in the RSA
    files) is replaced by one of the right type, same CA; the other is left alone."""
    paths = pki.write_local_ca(tmp_path, ["localhost"], [])
    ca = pki.load_cert(paths["ca_cert"].read_bytes()), pki.load_key(paths["ca_key"].read_bytes())
    cert, key = pki.issue_server_cert(*ca, ["localhost"], [], key=wrong)
    paths[f"{name}_cert"].write_text(pki.cert_pem(cert))
    paths[f"{name}_key"].write_text(pki.key_pem(key))
    (other,) = set(SERVER_CERTS) - {name}
    untouched = paths[f"{other}_cert"].read_bytes()

    pki.write_local_ca(tmp_path, ["localhost"], [])
    reissued = pki.load_cert(paths[f"{name}_cert"].read_bytes())
    public_key = reissued.public_key()
    if name == "server":
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
    else:
        assert isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 3072
    assert pki.load_key(paths[f"{name}_key"].read_bytes()).public_key() == public_key
    assert paths[f"{other}_cert"].read_bytes() == untouched


def test_a_missing_or_expiring_rsa_server_cert_is_reissued(tmp_path: pathlib.Path) -> None:
    """The RSA server certificate is kept up to date like the ECDSA one: a missing one (a
    directory from before it existed) is issued, one expiring within a week is replaced."""
    paths = pki.write_local_ca(tmp_path, ["localhost"], [])
    paths["server_rsa_cert"].unlink()
    paths["server_rsa_key"].unlink()
    ec_before = paths["server_cert"].read_bytes()
    pki.write_local_ca(tmp_path, ["localhost"], [])
    assert paths["server_rsa_cert"].exists() and paths["server_rsa_key"].exists()
    assert paths["server_cert"].read_bytes() == ec_before

    ca = pki.load_cert(paths["ca_cert"].read_bytes()), pki.load_key(paths["ca_key"].read_bytes())
    cert, key = pki.issue_server_cert(*ca, ["localhost"], [], key="rsa-3072", days=3)
    paths["server_rsa_cert"].write_text(pki.cert_pem(cert))
    paths["server_rsa_key"].write_text(pki.key_pem(key))
    pki.write_local_ca(tmp_path, ["localhost"], [])
    renewed = pki.load_cert(paths["server_rsa_cert"].read_bytes())
    assert renewed.not_valid_after_utc - renewed.not_valid_before_utc > datetime.timedelta(days=8)


def test_write_local_ca_refuses_half_a_ca(tmp_path: pathlib.Path) -> None:
    """A ca.pem without its ca.key is an error rather than a silently replaced CA."""
    paths = pki.write_local_ca(tmp_path, ["localhost"], [])
    paths["ca_key"].unlink()
    with pytest.raises(pki.PkiError, match="only one of"):
        pki.write_local_ca(tmp_path, ["localhost"], [])


# --- a real TLS stack ------------------------------------------------------------------------


def _write_pair(
    directory: pathlib.Path, name: str, cert: x509.Certificate | str, key: pki.PrivateKey
) -> tuple[pathlib.Path, pathlib.Path]:
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_text(cert if isinstance(cert, str) else pki.cert_pem(cert))
    key_path.write_text(pki.key_pem(key))
    return cert_path, key_path


def _mutual_tls_handshake(
    tmp_path: pathlib.Path,
    ca: tuple[x509.Certificate, pki.PrivateKey],
    client_cert: x509.Certificate | str,
    client_key: pki.PrivateKey,
) -> str:
    """Handshake over loopback; return the client CN the server read from the peer certificate."""
    server_cert, server_key = pki.issue_server_cert(*ca, ["localhost"], ["127.0.0.1"])
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    server_ctx.load_cert_chain(*_write_pair(tmp_path, "server", server_cert, server_key))
    server_ctx.verify_mode = ssl.CERT_REQUIRED  # profile 3: no client certificate, no session
    server_ctx.load_verify_locations(cadata=pki.cert_pem(ca[0]))

    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the server and its hostname
    client_ctx.load_verify_locations(cadata=pki.cert_pem(ca[0]))
    client_ctx.load_cert_chain(*_write_pair(tmp_path, "client", client_cert, client_key))

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    seen: dict[str, object] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(5)
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                peer = tls.getpeercert()
                assert peer is not None
                seen["cn"] = dict(rdn[0] for rdn in peer["subject"])["commonName"]
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError) as exc:
            seen["error"] = exc

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                # In TLS 1.3 the server checks the client certificate after the client's
                # handshake returns; reading the reply surfaces a refusal here.
                assert tls.recv(2) == b"ok"
    finally:
        thread.join(5)
        listener.close()
    assert "error" not in seen, seen
    return str(seen["cn"])


def test_mutual_tls_handshake_with_issued_client_cert(
    tmp_path: pathlib.Path, ca: tuple[x509.Certificate, pki.PrivateKey]
) -> None:
    """Python's ssl does mutual TLS with our server and client certs; the server reads the CN."""
    cert, key = pki.issue_client_cert(*ca, STATION)
    assert _mutual_tls_handshake(tmp_path, ca, cert, key) == STATION


@pytest.mark.parametrize(
    "station_key",
    [
        pytest.param(lambda: ec.generate_private_key(ec.SECP256R1()), id="ecdsa-p256"),
        pytest.param(lambda: rsa.generate_private_key(65537, 2048), id="rsa-2048"),
    ],
)
def test_mutual_tls_handshake_with_signed_csr_chain(
    tmp_path: pathlib.Path,
    ca: tuple[x509.Certificate, pki.PrivateKey],
    station_key: Callable[[], pki.PrivateKey],
) -> None:
    """The CertificateSigned chain from sign_csr, for an ECDSA or an RSA CSR, works as a client
    certificate chain in real TLS."""
    csr_pem, key = make_csr(STATION, station_key())
    chain = pki.sign_csr(*ca, csr_pem, station_id=STATION)
    assert _mutual_tls_handshake(tmp_path, ca, chain, key) == STATION


def test_mutual_tls_refuses_client_cert_of_another_ca(
    tmp_path: pathlib.Path, ca: tuple[x509.Certificate, pki.PrivateKey]
) -> None:
    """The server refuses a client certificate that does not chain to its CA."""
    cert, key = pki.issue_client_cert(*pki.new_ca("Other CA"), STATION)
    with pytest.raises(ssl.SSLError, match="(?i)unknown.ca"):
        _mutual_tls_handshake(tmp_path, ca, cert, key)
