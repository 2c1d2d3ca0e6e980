"""The V2G / mobility-operator test PKI, contract certificates and OCSP: pure computation.

ISO 15118-2 contract certificates are ECDSA secp256r1 with SHA-256, their subject CN the eMAID;
they chain to a mobility operator (MO) root through an MO sub-CA. The embedded test PKI has a V2G
root (which also signs the MO root, as in ISO 15118-2's single-root setup, so a station holding
only the V2G root can still verify a contract), the MO root and sub-CA below it, and a CPO
sub-CA under the V2G root that signs stations' V2G (SECC) certificates (SignCertificate, OCTT
TC_A_12). Every CA is its own OCSP responder (RFC 6960 "CA-designated": the issuer signs the
answers for its own certificates), so no delegated OCSP signing certificate is needed.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Mapping, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from common import pki

__all__ = [
    "Authority",
    "TestPki",
    "Contract",
    "EMAID_PATTERN",
    "new_test_pki",
    "issue_contract",
    "ocsp_request",
    "ocsp_answer",
    "verify_contract_chain",
    "verify_ocsp_response",
    "HASH_ALGORITHMS",
]

#: ISO 15118-2 / DIN SPEC 91286 eMAID: country, provider, instance, optional check digit.
EMAID_PATTERN = re.compile(r"^[A-Za-z]{2}-?[A-Za-z0-9]{3}-?[A-Za-z0-9]{9}-?[A-Za-z0-9]?$")
#: OCPP's HashAlgorithmEnum → the hash of an OCSP CertID.
HASH_ALGORITHMS: Mapping[str, hashes.HashAlgorithm] = {
    "SHA256": hashes.SHA256(),
    "SHA384": hashes.SHA384(),
    "SHA512": hashes.SHA512(),
}
_ROOT_DAYS = 3650
_SUB_CA_DAYS = 1825
_CONTRACT_DAYS = 730
_BACKDATE = datetime.timedelta(minutes=5)


@dataclasses.dataclass(frozen=True, slots=True)
class Authority:
    """A CA of the test PKI: its certificate and key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


@dataclasses.dataclass(frozen=True, slots=True)
class TestPki:
    """The embedded provider's PKI: V2G root → MO root → MO sub-CA → contract certificates."""

    v2g_root: Authority
    mo_root: Authority
    mo_sub_ca: Authority
    cpo_sub_ca: Authority

    def authorities(self) -> tuple[Authority, ...]:
        return (self.mo_sub_ca, self.mo_root, self.cpo_sub_ca, self.v2g_root)


@dataclasses.dataclass(frozen=True, slots=True)
class Contract:
    """A contract certificate issued to an EV, with its private key (the EV's, in a real PKI)."""

    emaid: str
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]  # the sub-CA and root above it, nearest first

    def chain_pem(self) -> str:
        return "".join(pki.cert_pem(c) for c in (self.cert, *self.chain))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _ca(
    cn: str,
    org: str,
    days: int,
    path_length: int,
    issuer: Authority | None,
    ocsp_url: str,
) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, org))
        .issuer_name(issuer.cert.subject if issuer else _name(cn, org))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), False
        )
        builder = _with_ocsp(builder, ocsp_url)
    signer = issuer.key if issuer else key
    return Authority(builder.sign(signer, hashes.SHA256()), key)


def _with_ocsp(builder: x509.CertificateBuilder, ocsp_url: str) -> x509.CertificateBuilder:
    if not ocsp_url:
        return builder
    return builder.add_extension(
        x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
                )
            ]
        ),
        critical=False,
    )


def new_test_pki(ocsp_url: str) -> TestPki:
    """A fresh test PKI whose certificates name ``ocsp_url`` as their OCSP responder."""
    v2g = _ca("CSMS test V2G Root CA", "CSMS test V2G PKI", _ROOT_DAYS, 2, None, "")
    mo_root = _ca("CSMS test MO Root CA", "CSMS test MO", _ROOT_DAYS, 1, v2g, ocsp_url)
    mo_sub = _ca("CSMS test MO Sub-CA", "CSMS test MO", _SUB_CA_DAYS, 0, mo_root, ocsp_url)
    cpo_sub = _ca("CSMS test CPO Sub-CA", "CSMS test CPO", _SUB_CA_DAYS, 0, v2g, ocsp_url)
    return TestPki(v2g, mo_root, mo_sub, cpo_sub)


def issue_contract(test_pki: TestPki, emaid: str, ocsp_url: str) -> Contract:
    """A contract certificate for ``emaid`` (a new secp256r1 key), under the MO sub-CA."""
    if not EMAID_PATTERN.match(emaid):
        raise pki.PkiError(f"{emaid!r} is not an eMAID (e.g. NL-TST-C12345678-9)")
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = test_pki.mo_sub_ca
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(emaid, "CSMS test MO"))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=_CONTRACT_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, True, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), False
        )
    )
    cert = _with_ocsp(builder, ocsp_url).sign(issuer.key, hashes.SHA256())
    return Contract(emaid, cert, key, (issuer.cert, test_pki.mo_root.cert))


def ocsp_request(
    hash_algorithm: str, issuer_name_hash: str, issuer_key_hash: str, serial_number: str
) -> bytes:
    """The DER OCSP request of OCPP's OCSPRequestData (hex hashes, hex serial)."""
    try:
        algorithm = HASH_ALGORITHMS[hash_algorithm]
        builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
            bytes.fromhex(issuer_name_hash),
            bytes.fromhex(issuer_key_hash),
            int(serial_number, 16),
            algorithm,
        )
    except (KeyError, ValueError) as exc:
        raise pki.PkiError(f"not an OCSP request: {exc}") from exc
    return builder.build().public_bytes(serialization.Encoding.DER)


def _key_hash(cert: x509.Certificate, algorithm: hashes.HashAlgorithm) -> bytes:
    # RFC 6960: the hash of the issuer's public key BIT STRING value (without tag and length),
    # which for an EC key is the uncompressed point.
    public = cert.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        raw = public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    elif isinstance(public, rsa.RSAPublicKey):
        # The BIT STRING of an RSA key holds its PKCS#1 RSAPublicKey.
        raw = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    else:
        return b""
    digest = hashes.Hash(algorithm)
    digest.update(raw)
    return digest.finalize()


def _name_hash(cert: x509.Certificate, algorithm: hashes.HashAlgorithm) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(cert.subject.public_bytes())
    return digest.finalize()


def ocsp_answer(
    authorities: Sequence[Authority],
    request_der: bytes,
    issued: Mapping[int, datetime.datetime | None],
    *,
    validity: datetime.timedelta,
    now: datetime.datetime | None = None,
) -> bytes:
    """The DER OCSP response to ``request_der``, signed by the certificate's issuer.

    ``issued``: serial → revocation time (None: not revoked) of every certificate the PKI made;
    a serial it never made is "unknown", a request about another CA's certificates is refused
    (unauthorized), a malformed one too (malformedRequest).
    """
    try:
        request = ocsp.load_der_ocsp_request(request_der)
    except ValueError:
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    algorithm = request.hash_algorithm
    issuer = next(
        (
            a
            for a in authorities
            if _name_hash(a.cert, algorithm) == request.issuer_name_hash
            and _key_hash(a.cert, algorithm) == request.issuer_key_hash
        ),
        None,
    )
    if issuer is None:
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    this_update = (now or _now()).replace(microsecond=0)
    serial = request.serial_number
    revoked_at = issued.get(serial)
    if serial not in issued:
        status = ocsp.OCSPCertStatus.UNKNOWN
    elif revoked_at is not None:
        status = ocsp.OCSPCertStatus.REVOKED
    else:
        status = ocsp.OCSPCertStatus.GOOD
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=serial,
            algorithm=algorithm,
            cert_status=status,
            this_update=this_update,
            next_update=this_update + validity,
            revocation_time=revoked_at if status is ocsp.OCSPCertStatus.REVOKED else None,
            revocation_reason=(
                x509.ReasonFlags.cessation_of_operation
                if status is ocsp.OCSPCertStatus.REVOKED
                else None
            ),
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.cert)
        .certificates([issuer.cert])
    )
    response = builder.sign(issuer.key, hashes.SHA256())
    return response.public_bytes(serialization.Encoding.DER)


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    response = ocsp.OCSPResponseBuilder.build_unsuccessful(status)
    return response.public_bytes(serialization.Encoding.DER)


def verify_contract_chain(
    chain: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    *,
    at: datetime.datetime | None = None,
) -> str:
    """OCPP's AuthorizeCertificateStatusEnum for a contract chain (leaf first) and the roots:
    "Accepted", "CertificateExpired" or "CertChainError" (revocation is OCSP's, not this)."""
    when = at or _now()
    if not chain:
        return "CertChainError"
    leaf = chain[0]
    if not leaf.not_valid_before_utc <= when <= leaf.not_valid_after_utc:
        return "CertificateExpired"
    by_subject = {c.subject.public_bytes(): c for c in (*chain[1:], *roots)}
    root_keys = {r.fingerprint(hashes.SHA256()) for r in roots}
    current = leaf
    for _ in range(6):
        if current.fingerprint(hashes.SHA256()) in root_keys:
            return "Accepted"
        issuer = by_subject.get(current.issuer.public_bytes())
        if issuer is None or issuer is current:
            return "CertChainError"
        try:
            current.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            return "CertChainError"
        if not issuer.not_valid_before_utc <= when <= issuer.not_valid_after_utc:
            return "CertificateExpired"
        current = issuer
    return "CertChainError"


def verify_ocsp_response(
    der: bytes,
    hash_algorithm: str,
    issuer_name_hash: bytes,
    issuer_key_hash: bytes,
    serial_number: int,
    issuer: x509.Certificate | None = None,
    *,
    at: datetime.datetime | None = None,
) -> str:
    """Why an OCSP response cannot be believed about that CertID ("" when it can).

    It must be successful, about exactly that CertID (no replay of another certificate's good
    answer), current (thisUpdate not in the future, nextUpdate not past) and signed by the
    issuer itself: by ``issuer`` when known, else by a certificate it carries whose key hashes
    to the CertID's issuer key hash (RFC 6960's CA-designated responder); a delegated responder
    (a certificate of the issuer with the OCSPSigning usage) is believed only when ``issuer``
    is known, to check that it issued it.
    """
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError:
        return "not an OCSP response"
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return f"OCSP response {response.response_status.name}"
    algorithm = HASH_ALGORITHMS.get(hash_algorithm)
    if (
        algorithm is None
        or response.hash_algorithm.name != algorithm.name
        or response.issuer_name_hash != issuer_name_hash
        or response.issuer_key_hash != issuer_key_hash
        or response.serial_number != serial_number
    ):
        return "the OCSP response is about another certificate"
    now = at or _now()
    skew = datetime.timedelta(minutes=5)
    if response.this_update_utc > now + skew or (
        response.next_update_utc is not None and response.next_update_utc < now - skew
    ):
        return "the OCSP response is not current"
    signers: list[x509.Certificate] = []
    if issuer is not None:
        signers.append(issuer)
        for cert in response.certificates:
            try:
                cert.verify_directly_issued_by(issuer)
                eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
                continue
            if x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING in eku:
                signers.append(cert)
    else:
        signers += [
            c
            for c in response.certificates
            if isinstance(c.public_key(), ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
            and _key_hash(c, algorithm) == issuer_key_hash
        ]
    for signer in signers:
        if _signed_by(response, signer):
            return ""
    return "the OCSP response is not signed by the certificate's issuer"


def _signed_by(response: ocsp.OCSPResponse, signer: x509.Certificate) -> bool:
    key = signer.public_key()
    digest = response.signature_hash_algorithm
    if digest is None:
        return False
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(digest))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(response.signature, response.tbs_response_bytes, padding.PKCS1v15(), digest)
        else:
            return False
    except InvalidSignature:
        return False
    return True
