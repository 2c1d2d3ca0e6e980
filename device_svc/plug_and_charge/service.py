"""Plug & Charge use cases: Get15118EVCertificate, GetCertificateStatus, the PKI for REST.

The contract certificate provider is pluggable (:class:`Provider`): the embedded test PKI
(:class:`EmbeddedProvider`, the default) or a provider over HTTP (:class:`HttpProvider`, a
Hubject-style API: the EXI request posted as JSON, the EXI response read back).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

from common import pki
from device_svc.certificates import INVALID_CSR, CertificateAuthority, Signer, SignOutcome
from device_svc.plug_and_charge.domain import verify_contract_chain, verify_ocsp_response
from device_svc.plug_and_charge.embedded import EmbeddedPki, emaid_of, exi_response
from device_svc.plug_and_charge.ocsp_client import CertId, OcspClient

__all__ = [
    "EvCertificateAnswer",
    "Provider",
    "EmbeddedProvider",
    "HttpProvider",
    "NoProvider",
    "V2GSigner",
    "PlugAndCharge",
    "CertificateStatusAnswer",
    "ContractCheck",
    "cert_id_of",
    "check_contract",
    "ocsp_url_of",
]

log = logging.getLogger(__name__)

#: Get15118EVCertificateResponse.exiResponse's maxLength.
MAX_EXI_RESPONSE_CHARS = 7500


@dataclasses.dataclass(frozen=True, slots=True)
class EvCertificateAnswer:
    """Get15118EVCertificateResponse: "Accepted" with the exiResponse, or "Failed" and why."""

    status: str
    exi_response: str = ""
    reason: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class CertificateStatusAnswer:
    status: str  # "Accepted" or "Failed"
    ocsp_result: bytes | None = None
    reason: str = ""


class Provider(Protocol):
    async def ev_certificate(
        self, station_id: str, schema_version: str, action: str, exi_request: str
    ) -> EvCertificateAnswer: ...


class EmbeddedProvider:
    """The embedded test PKI as provider (what it does with the EXI: :mod:`.embedded`)."""

    def __init__(self, embedded: EmbeddedPki) -> None:
        self.embedded = embedded

    async def ev_certificate(
        self, station_id: str, schema_version: str, action: str, exi_request: str
    ) -> EvCertificateAnswer:
        try:
            emaid = emaid_of(exi_request)
            contract = await asyncio.to_thread(self.embedded.issue, emaid)
        except pki.PkiError as exc:
            return EvCertificateAnswer("Failed", reason=str(exc))
        log.info(
            "contract certificate %x for %s issued (station %s, %s)",
            contract.cert.serial_number,
            emaid,
            station_id,
            action,
        )
        return EvCertificateAnswer("Accepted", exi_response(contract))


class HttpProvider:
    """A contract certificate provider over HTTP: POST ``url`` with
    ``{"iso15118SchemaVersion", "action", "exiRequest", "stationId"}``, a JSON answer
    ``{"status": "Accepted"|"Failed", "exiResponse": ...}`` (bearer token if configured)."""

    def __init__(self, url: str, token: str, timeout: float) -> None:
        self.url, self.token, self.timeout = url, token, timeout

    async def ev_certificate(
        self, station_id: str, schema_version: str, action: str, exi_request: str
    ) -> EvCertificateAnswer:
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        body = {
            "iso15118SchemaVersion": schema_version,
            "action": action,
            "exiRequest": exi_request,
            "stationId": station_id,
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                answer = await client.post(self.url, json=body, headers=headers)
            doc: Any = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            return EvCertificateAnswer("Failed", reason=f"provider unreachable: {exc}")
        if answer.status_code != 200 or not isinstance(doc, dict):
            return EvCertificateAnswer("Failed", reason=f"provider answered {answer.status_code}")
        exi = doc.get("exiResponse")
        if doc.get("status") != "Accepted" or not isinstance(exi, str):
            return EvCertificateAnswer("Failed", reason=str(doc.get("reason", "provider failed")))
        return EvCertificateAnswer("Accepted", exi)


class V2GSigner(Signer):
    """Signs stations' V2G CSRs with the embedded PKI's CPO sub-CA, recording each certificate
    for its OCSP responder (:meth:`EmbeddedPki.sign_v2g`)."""

    def __init__(self, embedded: EmbeddedPki) -> None:
        super().__init__(self._unused)
        self.embedded = embedded

    @staticmethod
    def _unused() -> CertificateAuthority:
        raise NotImplementedError("V2GSigner signs through the embedded PKI")

    async def sign(
        self, csr_pem: str, station_id: str, usage: pki.CertificateUse, serial_number: str = ""
    ) -> SignOutcome:
        # A V2G (SECC) certificate's CN is an EVSE id: no station serial number to allow.
        try:
            chain = await asyncio.to_thread(self.embedded.sign_v2g, csr_pem, station_id)
        except pki.PkiError as exc:
            return SignOutcome(None, INVALID_CSR, str(exc)[:512])
        return SignOutcome(chain)


class NoProvider:
    """Neither the embedded test PKI nor a provider over HTTP: every request Failed."""

    async def ev_certificate(
        self, station_id: str, schema_version: str, action: str, exi_request: str
    ) -> EvCertificateAnswer:
        return EvCertificateAnswer("Failed", reason="no contract certificate provider configured")


class PlugAndCharge:
    def __init__(
        self,
        provider: Provider,
        ocsp: OcspClient,
        embedded: EmbeddedPki | None,
        extra_roots: Sequence[x509.Certificate] = (),
    ) -> None:
        self.provider = provider
        self.ocsp = ocsp
        self.embedded = embedded
        self.extra_roots = tuple(extra_roots)

    async def roots(self) -> tuple[x509.Certificate, ...]:
        """The V2G and MO roots contracts are checked against: the embedded PKI's, and those
        configured (a real mobility operator's)."""
        if self.embedded is None:
            return self.extra_roots
        test_pki = await asyncio.to_thread(self.embedded.pki)
        return (test_pki.v2g_root.cert, test_pki.mo_root.cert, *self.extra_roots)

    async def check_contract(
        self, certificate_pem: str, hash_data: Sequence[CertId]
    ) -> ContractCheck:
        return await check_contract(self, await self.roots(), certificate_pem, hash_data)

    async def ev_certificate(
        self, station_id: str, schema_version: str, action: str, exi_request: str
    ) -> EvCertificateAnswer:
        answer = await self.provider.ev_certificate(station_id, schema_version, action, exi_request)
        if answer.status == "Accepted" and len(answer.exi_response) > MAX_EXI_RESPONSE_CHARS:
            return EvCertificateAnswer("Failed", reason="exiResponse longer than 7500 characters")
        return answer

    async def certificate_status(self, cert_id: CertId) -> CertificateStatusAnswer:
        result = await self.ocsp.status(cert_id)
        if result.der is None:
            return CertificateStatusAnswer("Failed", reason=result.reason)
        return CertificateStatusAnswer("Accepted", result.der)

    def provider_name(self) -> str:
        if isinstance(self.provider, HttpProvider):
            return self.provider.url
        return "embedded" if isinstance(self.provider, EmbeddedProvider) else ""

    async def revoke(self, serial_hex: str) -> bool:
        try:
            serial = int(serial_hex, 16)
        except ValueError:
            return False
        if self.embedded is None:
            return False
        found = await asyncio.to_thread(self.embedded.revoke, serial_hex)
        if found:
            self.ocsp.forget_serial(serial)
        return found


def cert_id_of(leaf: x509.Certificate, issuer: x509.Certificate, responder_url: str) -> CertId:
    """The OCSP CertID (SHA-256) of ``leaf`` under ``issuer``, as a station computes it."""
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA256()).build()
    return CertId(
        "SHA256",
        request.issuer_name_hash.hex(),
        request.issuer_key_hash.hex(),
        format(leaf.serial_number, "x"),
        responder_url,
    )


def ocsp_url_of(cert: x509.Certificate) -> str:
    """The OCSP responder URL of a certificate's Authority Information Access ("": none)."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return ""
    for description in aia:
        if description.access_method == AuthorityInformationAccessOID.OCSP:
            return str(description.access_location.value)
    return ""


@dataclasses.dataclass(frozen=True, slots=True)
class ContractCheck:
    """AuthorizeCertificateStatusEnum, the eMAID (the leaf's CN) and why when not Accepted."""

    status: str
    emaid: str = ""
    reason: str = ""


_OCSP_STATUS = {"good": "Accepted", "revoked": "CertificateRevoked", "unknown": "CertChainError"}


async def check_contract(
    pnc: PlugAndCharge,
    roots: Sequence[x509.Certificate],
    certificate_pem: str,
    hash_data: Sequence[CertId],
) -> ContractCheck:
    """C07: a contract chain against the trusted roots, then each certificate's OCSP status.

    With the certificate: its chain (leaf first) must lead to one of ``roots``, valid now; then
    the leaf's status is asked of the responder its AIA names. With only the hash data (the
    station validated the chain itself): each CertID's status is asked of its responderURL. A
    revoked one is CertificateRevoked, one its responder does not know CertChainError, one
    whose status nobody could give, or whose answer is not about it, not current or not signed
    by its issuer, NoCertificateAvailable (never Accepted on no believable answer).
    """
    emaid = ""
    # Each CertID to ask about, with its issuer's certificate when the CSMS has it.
    ids: list[tuple[CertId, x509.Certificate | None]] = [(c, None) for c in hash_data]
    if certificate_pem:
        try:
            chain = x509.load_pem_x509_certificates(certificate_pem.encode("ascii"))
        except ValueError as exc:
            return ContractCheck("CertChainError", reason=f"not a PEM chain: {exc}")
        try:
            emaid = pki.subject_cn(chain[0])
        except pki.PkiError as exc:
            return ContractCheck("CertChainError", reason=str(exc))
        status = verify_contract_chain(chain, roots)
        if status != "Accepted":
            return ContractCheck(status, emaid, "the chain does not lead to a trusted root")
        leaf = chain[0]
        issuer = next((c for c in (*chain[1:], *roots) if c.subject == leaf.issuer), None)
        url = ocsp_url_of(leaf)
        if issuer is not None and url:
            ids.insert(0, (cert_id_of(leaf, issuer, url), issuer))
    if not ids:
        return ContractCheck(
            "NoCertificateAvailable", emaid, "no OCSP responder known for the contract"
        )
    for cert_id, known_issuer in ids:
        result = await pnc.ocsp.status(cert_id)
        if result.der is None:
            return ContractCheck("NoCertificateAvailable", emaid, result.reason)
        # The station checks the answers it gets itself; this one decides, so the CSMS does.
        problem = verify_ocsp_response(
            result.der,
            cert_id.hash_algorithm,
            bytes.fromhex(cert_id.issuer_name_hash),
            bytes.fromhex(cert_id.issuer_key_hash),
            int(cert_id.serial_number, 16),
            known_issuer,
        )
        if problem:
            return ContractCheck("NoCertificateAvailable", emaid, problem)
        status = _OCSP_STATUS[result.cert_status]
        if status != "Accepted":
            return ContractCheck(status, emaid, f"OCSP: {result.cert_status}")
    return ContractCheck("Accepted", emaid)
