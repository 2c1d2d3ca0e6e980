"""The CSMS's own small PKI: a local CA, TLS server and station client certificates, CSR signing.

Used for security profiles 2 and 3 (OCPP 2.0.1 Part 2): Envoy terminates TLS with two server
certificates from this CA, an ECDSA and an RSA one (A00.FR.421's cipher suites need both), and,
for profile 3, requires station client certificates that chain to it; SignCertificate →
CertificateSigned signs a station's CSR with it; ``make up`` in TLS mode and the tests generate
their certificates here.

It also makes the certificates of internal mutual TLS (``CSMS_INTERNAL_TLS``, common.grpc_tls):
a separate CA, never the stations' one, and one certificate per process that serves and dials.

Everything is pure computation on ``cryptography`` objects except :func:`write_local_ca` and
:func:`write_internal_ca`, the explicit file-writing helpers. Every refusal is a
:class:`PkiError`, a ``ValueError`` so callers that map bad input to InvalidArgument /
``Rejected`` need no special case.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pathlib
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

__all__ = [
    "PkiError",
    "PrivateKey",
    "KeyType",
    "CertificateUse",
    "CA_DAYS",
    "LEAF_DAYS",
    "MAX_CERTIFICATE_CHAIN_CHARS",
    "new_ca",
    "issue_server_cert",
    "issue_client_cert",
    "sign_csr",
    "verify_chain",
    "subject_cn",
    "subject_organizations",
    "check_organization",
    "cert_pem",
    "key_pem",
    "load_cert",
    "load_key",
    "write_local_ca",
    "write_internal_ca",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
KeyType = Literal["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"]
# OCPP's CertificateSigningUseEnumType: what a SignCertificate CSR is for.
CertificateUse = Literal["ChargingStationCertificate", "V2GCertificate"]

CA_DAYS = 3650
# The CA/Browser Forum maximum: strict TLS clients refuse longer-lived leaf certificates.
LEAF_DAYS = 397
# CertificateSignedRequest.certificateChain has maxLength 10000 in the OCPP 2.0.1 schema.
MAX_CERTIFICATE_CHAIN_CHARS = 10000
# Part 2's security profiles allow only RSA ≥ 2048 bits and ECDSA on these curves.
_MIN_RSA_BITS = 2048
_ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1)
# Tolerates clocks of stations a little behind ours, which would otherwise reject a fresh cert.
_BACKDATE = datetime.timedelta(minutes=5)


class PkiError(ValueError):
    """A certificate, key or CSR is refused; the message says why."""


# --- keys and PEM -----------------------------------------------------------------------------


def _new_key(key: KeyType) -> PrivateKey:
    if key == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key == "rsa-3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise PkiError(f"unknown key type {key!r}")


def _is_key_type(key: PrivateKey, key_type: KeyType) -> bool:
    """Whether ``key`` is of ``key_type`` (algorithm and size or curve)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key_type == f"rsa-{key.key_size}"
    return key_type == {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}.get(key.curve.name)


def _hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    # Match the hash strength to the signing key, as TLS 1.3's signature schemes pair them.
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def cert_pem(cert: x509.Certificate) -> str:
    """The certificate as PEM text."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def key_pem(key: PrivateKey) -> str:
    """The private key as unencrypted PKCS#8 PEM (Envoy and Python's ``ssl`` read it as is)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def load_cert(pem: str | bytes) -> x509.Certificate:
    """The first certificate of a PEM text."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise PkiError(f"not a PEM certificate: {exc}") from exc


def load_key(pem: str | bytes) -> PrivateKey:
    """An unencrypted RSA or EC private key from PEM."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise PkiError(f"not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PkiError(f"unsupported private key type {type(key).__name__}")
    return key


def subject_cn(cert: x509.Certificate | x509.CertificateSigningRequest) -> str:
    """The single commonName of the subject; a missing or repeated CN is refused as ambiguous."""
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(values) != 1:
        raise PkiError(f"subject must have exactly one CN, has {len(values)}")
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8")


def subject_organizations(cert: x509.Certificate | x509.CertificateSigningRequest) -> list[str]:
    """The subject's organizationName (O) values, in order (usually one)."""
    values = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return [v.value if isinstance(v.value, str) else v.value.decode("utf-8") for v in values]


def check_organization(
    cert: x509.Certificate | x509.CertificateSigningRequest, cpo_name: str
) -> None:
    """PkiError unless the subject's O (organizationName) is ``cpo_name``: OCPP's A00.FR.404 (2.0.1
    Part 2 and the 1.6 security whitepaper), the certificate is owned by the CPO. An empty
    ``cpo_name`` (none configured) accepts any."""
    if not cpo_name:
        return
    organizations = subject_organizations(cert)
    if cpo_name not in organizations:
        found = ", ".join(repr(o) for o in organizations) or "none"
        raise PkiError(f"subject O (organizationName) is {found}, not the CPO name {cpo_name!r}")


# --- issuing ----------------------------------------------------------------------------------


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _leaf_builder(
    ca_cert: x509.Certificate,
    subject: x509.Name,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    days: int,
) -> x509.CertificateBuilder:
    """The parts every leaf shares: random serial, validity, not a CA, AKI/SKI, key usage."""
    now = _now()
    # A leaf outliving its CA would fail verification at the end anyway; say so in the dates.
    not_after = min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc)
    # RSA keys may also encrypt the TLS 1.2 RSA key exchange; EC keys only sign (ECDHE).
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:  # a CA made elsewhere without an SKI
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(
            _check_key_strength(ca_cert.public_key())
        )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=is_rsa,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(aki, critical=False)
    )


def new_ca(
    common_name: str, *, days: int = CA_DAYS, key: KeyType = "ec-p256"
) -> tuple[x509.Certificate, PrivateKey]:
    """A self-signed root CA and its key."""
    ca_key = _new_key(key)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=days))
        # No path length limit: deployments may put an intermediate (sub-CA) under it.
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, _hash_for(ca_key))
    )
    return cert, ca_key


def _parse_ips(ips: list[str]) -> list[x509.GeneralName]:
    try:
        return [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    except ValueError as exc:
        raise PkiError(str(exc)) from exc


def issue_server_cert(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    hostnames: list[str],
    ips: list[str],
    *,
    days: int = LEAF_DAYS,
    key: KeyType = "ec-p256",
    client_auth: bool = False,
) -> tuple[x509.Certificate, PrivateKey]:
    """A TLS server certificate (for Envoy) valid for the given DNS names and IP addresses.

    ``client_auth``: also a client certificate (internal mutual TLS: each process both serves
    gRPC and dials its peers with the same certificate).
    """
    if not hostnames and not ips:
        raise PkiError("a server certificate needs at least one hostname or IP address")
    names: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    names += _parse_ips(ips)
    leaf_key = _new_key(key)
    # Clients check the SAN, never the CN; the CN only makes the certificate readable to humans.
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (hostnames or ips)[0])])
    cert = (
        _leaf_builder(ca_cert, subject, leaf_key.public_key(), days)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH]
                + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [])
            ),
            critical=False,
        )
        .sign(ca_key, _hash_for(ca_key))
    )
    return cert, leaf_key


def _station_subject(station_id: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, station_id),
        ]
    )


def issue_client_cert(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    station_id: str,
    *,
    organization: str = "CSMS",
    days: int = LEAF_DAYS,
    key: KeyType = "ec-p256",
) -> tuple[x509.Certificate, PrivateKey]:
    """A charging station certificate for security profile 3.

    OCPP 2.0.1 Part 2 puts the station's identity in the subject CN and the operator's name in O;
    the CSMS matches the CN against the station id of the WebSocket URL.
    """
    leaf_key = _new_key(key)
    cert = (
        _leaf_builder(
            ca_cert, _station_subject(station_id, organization), leaf_key.public_key(), days
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, _hash_for(ca_key))
    )
    return cert, leaf_key


# --- SignCertificate --------------------------------------------------------------------------


def _load_csr(csr_pem: str) -> x509.CertificateSigningRequest:
    try:
        return x509.load_pem_x509_csr(csr_pem.encode("ascii"))
    except ValueError as exc:  # UnicodeEncodeError is a ValueError too
        raise PkiError(f"not a PEM certificate signing request: {exc}") from exc


def _check_key_strength(
    public_key: object,
) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < _MIN_RSA_BITS:
            raise PkiError(
                f"RSA key of {public_key.key_size} bits is too weak (minimum {_MIN_RSA_BITS})"
            )
        return public_key
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, _ALLOWED_CURVES):
            raise PkiError(f"EC curve {public_key.curve.name} is not allowed (P-256 or P-384)")
        return public_key
    raise PkiError(f"key type {type(public_key).__name__} is not allowed (RSA or EC)")


def sign_csr(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    csr_pem: str,
    *,
    station_id: str,
    days: int = LEAF_DAYS,
    usage: CertificateUse = "ChargingStationCertificate",
    ocsp_url: str = "",
    serial_number: str = "",
    cpo_name: str = "",
) -> str:
    """Sign a station's SignCertificate CSR; return the PEM chain (leaf, CA) for CertificateSigned.

    Only the CSR's subject and public key are used: requested extensions (SANs, CA:true, …) are
    ignored, so a station cannot obtain more than a station certificate. ``ocsp_url``: named in
    the certificate's Authority Information Access as its OCSP responder. A station certificate's
    CN must be ``station_id``, or ``serial_number`` when one is given (an OCPP 1.6 station's: the
    security whitepaper's Charge Point certificate names its serial number, A00.FR.511); its O
    must be ``cpo_name`` when one is given (A00.FR.404: the CSMS would refuse the certificate it
    signed at the station's next profile-3 connection).
    """
    csr = _load_csr(csr_pem)
    # Proves the station holds the private key of the public key it asks us to certify.
    if not csr.is_signature_valid:
        raise PkiError("CSR signature is invalid")
    public_key = _check_key_strength(csr.public_key())
    if usage == "ChargingStationCertificate":
        # The CN is the identity profile 3 authenticates: never certify another station's id.
        cn = subject_cn(csr)
        if cn != station_id and not (serial_number and cn == serial_number):
            also = f" nor its serial number {serial_number!r}" if serial_number else ""
            raise PkiError(f"CSR subject CN {cn!r} is not the station id {station_id!r}{also}")
        try:
            check_organization(csr, cpo_name)
        except PkiError as exc:
            raise PkiError(f"CSR {exc}") from None
        eku: list[x509.ObjectIdentifier] | None = [ExtendedKeyUsageOID.CLIENT_AUTH]
    elif usage == "V2GCertificate":
        # The SECC is the TLS *server* towards the vehicle and its CN is an EVSE id, not the
        # station id; clientAuth alone would make it unusable, and no EKU means any purpose.
        eku = None
    else:
        raise PkiError(f"unknown certificate use {usage!r}")
    builder = _leaf_builder(ca_cert, csr.subject, public_key, days)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if ocsp_url:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        x509.oid.AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(ocsp_url),
                    )
                ]
            ),
            critical=False,
        )
    leaf = builder.sign(ca_key, _hash_for(ca_key))
    chain = cert_pem(leaf) + cert_pem(ca_cert)
    if len(chain) > MAX_CERTIFICATE_CHAIN_CHARS:
        raise PkiError(
            f"certificate chain has {len(chain)} characters, "
            f"CertificateSigned allows {MAX_CERTIFICATE_CHAIN_CHARS}"
        )
    return chain


# --- verification -----------------------------------------------------------------------------


def verify_chain(
    chain_pem: str,
    ca_cert: x509.Certificate,
    *,
    at: datetime.datetime | None = None,
) -> x509.Certificate:
    """Verify a PEM chain (leaf first) as a TLS client certificate issued under ``ca_cert``.

    Returns the leaf. Uses the RFC 5280 / Web PKI path validation of ``cryptography``, checked at
    ``at`` (default: now).
    """
    try:
        certs = x509.load_pem_x509_certificates(chain_pem.encode("ascii"))
    except ValueError as exc:
        raise PkiError(f"not a PEM certificate chain: {exc}") from exc
    leaf, intermediates = certs[0], certs[1:]
    # Station certificates carry their identity in the CN, not a SAN, so the Web PKI's SAN
    # requirement for leaves is relaxed; everything else (EKU clientAuth if present, not a CA,
    # signatures, validity, key sizes) stays the default.
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
    )
    verifier = (
        PolicyBuilder()
        .store(Store([ca_cert]))
        .time(at or _now())
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, intermediates)
    except VerificationError as exc:
        raise PkiError(f"certificate chain does not verify: {exc}") from exc
    return leaf


# --- local CA on disk -------------------------------------------------------------------------


def _write(path: pathlib.Path, text: str, mode: int) -> None:
    # Write beside the target then rename: an interrupted `make up` never leaves half a key,
    # and the key is 0600 from its first byte rather than chmod-ed after the fact.
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # os.open's mode is filtered by the umask and ignored if tmp existed
        os.write(fd, text.encode("ascii"))
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _server_cert_fits(
    cert: x509.Certificate,
    key: PrivateKey,
    ca_cert: x509.Certificate,
    hostnames: list[str],
    ips: list[str],
    client_auth: bool = False,
    key_type: KeyType = "ec-p256",
) -> bool:
    """Whether an existing server certificate is from this CA, for this key of ``key_type``,
    with these SANs (and client authentication if asked), and valid for a while yet."""
    if cert.public_key() != key.public_key() or not _is_key_type(key, key_type):
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    if client_auth and ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        return False
    wanted = {x509.DNSName(h) for h in hostnames} | set(_parse_ips(ips))
    return wanted <= set(san) and cert.not_valid_after_utc > _now() + datetime.timedelta(days=7)


# Envoy's two server certificates in the TLS mode (files, key type). OCPP 2.0.1 A00.FR.421 wants
# TLS 1.2 suites of both kinds: ECDHE-ECDSA ones need an ECDSA certificate, TLS_RSA_* and
# ECDHE-RSA ones an RSA one; Envoy offers each client the one its suites and signature
# algorithms can use. RSA-3072: NIST's strength for use past 2030 (2048 is Part 2's minimum).
_SERVER_CERTS: dict[str, tuple[str, KeyType]] = {
    "server": ("server", "ec-p256"),
    "server_rsa": ("server-rsa", "rsa-3072"),
}
# A new stations' CA signs with RSA: a station whose TLS stack has no elliptic curves (the
# reason TLS_RSA_* suites are required at all) can still verify both server certificates and
# the certificates it gets from SignCertificate. An existing CA of any type is kept.
_LOCAL_CA_KEY: KeyType = "rsa-3072"


def write_local_ca(
    dir: pathlib.Path, hostnames: list[str], ips: list[str]
) -> dict[str, pathlib.Path]:
    """Create, or reuse, a local CA and Envoy's two server certificates in ``dir`` for ``make up``.

    Files: ``ca.pem``, ``ca.key``; ``server.pem``, ``server.key`` (ECDSA P-256) and
    ``server-rsa.pem``, ``server-rsa.key`` (RSA 3072), both signed by that one CA; keys 0600. An
    existing CA is kept, so stations already given certificates keep working; each server
    certificate is reissued only when it is not from that CA, not of its key type, lacks a
    requested name or expires within a week. Returns the paths under the keys ``ca_cert``,
    ``ca_key``, ``server_cert``, ``server_key``, ``server_rsa_cert``, ``server_rsa_key``.
    """
    ca_cert, ca_key = _local_ca(dir, "CSMS local development CA", _LOCAL_CA_KEY)
    paths = {"ca_cert": dir / "ca.pem", "ca_key": dir / "ca.key"}
    for name, (file, key_type) in _SERVER_CERTS.items():
        cert, key = dir / f"{file}.pem", dir / f"{file}.key"
        _ensure_server_cert(cert, key, ca_cert, ca_key, hostnames, ips, False, key_type)
        paths[f"{name}_cert"], paths[f"{name}_key"] = cert, key
    return paths


def write_internal_ca(
    dir: pathlib.Path, names: list[str], hostnames: list[str], ips: list[str]
) -> dict[str, pathlib.Path]:
    """Create, or reuse, the CA of internal mutual TLS and one certificate per process in ``dir``.

    Its own CA (``ca.pem``, ``ca.key``; kept across runs like :func:`write_local_ca`'s), never
    the stations' CA: a station certificate must not open the internal gRPC ports. For each of
    ``names``: ``<name>.pem`` and ``<name>.key``, a certificate for both server and client
    authentication whose DNS names are the name itself and ``hostnames`` and whose IP addresses
    are ``ips`` (reissued when it does not fit, as the server certificate of
    :func:`write_local_ca` is). Returns the paths under ``ca_cert``, ``ca_key``,
    ``<name>_cert`` and ``<name>_key``.
    """
    ca_cert, ca_key = _local_ca(dir, "CSMS internal CA")
    paths = {"ca_cert": dir / "ca.pem", "ca_key": dir / "ca.key"}
    for name in names:
        if name == "ca":
            raise PkiError("a process cannot be called 'ca' (the CA's own files)")
        cert, key = dir / f"{name}.pem", dir / f"{name}.key"
        _ensure_server_cert(cert, key, ca_cert, ca_key, [name, *hostnames], ips, True)
        paths[f"{name}_cert"], paths[f"{name}_key"] = cert, key
    return paths


def _local_ca(
    dir: pathlib.Path, common_name: str, key: KeyType = "ec-p256"
) -> tuple[x509.Certificate, PrivateKey]:
    """The CA of ``dir`` (``ca.pem``, ``ca.key``), made with a ``key`` on first use and kept
    after, whatever its key."""
    cert_path, key_path = dir / "ca.pem", dir / "ca.key"
    dir.mkdir(parents=True, exist_ok=True)
    ca_present = cert_path.exists(), key_path.exists()
    if all(ca_present):
        return load_cert(cert_path.read_bytes()), load_key(key_path.read_bytes())
    if any(ca_present):
        # Regenerating would overwrite the half that exists, perhaps the only copy of a key.
        raise PkiError(f"{dir} has only one of ca.pem / ca.key; remove it or restore the other")
    ca_cert, ca_key = new_ca(common_name, key=key)
    _write(key_path, key_pem(ca_key), 0o600)
    _write(cert_path, cert_pem(ca_cert), 0o644)
    return ca_cert, ca_key


def _ensure_server_cert(
    cert_path: pathlib.Path,
    key_path: pathlib.Path,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    hostnames: list[str],
    ips: list[str],
    client_auth: bool,
    key_type: KeyType = "ec-p256",
) -> None:
    """Keep the certificate at ``cert_path`` if it fits, else issue and write a new one."""
    if cert_path.exists() and key_path.exists():
        existing = load_cert(cert_path.read_bytes())
        existing_key = load_key(key_path.read_bytes())
        if _server_cert_fits(
            existing, existing_key, ca_cert, hostnames, ips, client_auth, key_type
        ):
            return
    cert, key = issue_server_cert(
        ca_cert, ca_key, hostnames, ips, key=key_type, client_auth=client_auth
    )
    _write(key_path, key_pem(key), 0o600)
    _write(cert_path, cert_pem(cert), 0o644)
