"""GetCertificateStatus: the station's OCSP request forwarded to its responder, cached.

OCPP 2.0.1 M06: the station gives the certificate's CertID parts (hash algorithm, issuer name and
key hashes, serial) and the responder URL from the certificate; the CSMS asks the responder
(RFC 6960 over HTTP POST) and returns the DER response base64-encoded. A good answer is cached
until its nextUpdate (the responder's own promise of freshness), so stations asking every few
minutes cost the responder one request per nextUpdate interval.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging

import httpx
from cryptography.x509 import ocsp

from common import pki
from device_svc.plug_and_charge.domain import ocsp_request

__all__ = ["OcspClient", "OcspResult", "CertId"]

log = logging.getLogger(__name__)

#: GetCertificateStatusResponse.ocspResult's maxLength.
MAX_OCSP_RESULT_CHARS = 5500


@dataclasses.dataclass(frozen=True, slots=True)
class CertId:
    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str
    responder_url: str

    def key(self) -> tuple[str, str, str, int, str]:
        return (
            self.hash_algorithm,
            self.issuer_name_hash.lower(),
            self.issuer_key_hash.lower(),
            int(self.serial_number, 16),
            self.responder_url,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class OcspResult:
    """The DER response (None: none obtained) and why not."""

    der: bytes | None
    reason: str = ""
    cert_status: str = ""  # "good", "revoked", "unknown" (of a successful response)


class OcspClient:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._cache: dict[tuple[str, str, str, int, str], tuple[bytes, datetime.datetime, str]] = {}

    def forget_serial(self, serial: int) -> None:
        """Drop cached answers about ``serial`` (the embedded PKI just revoked it)."""
        for key in [k for k in self._cache if k[3] == serial]:
            del self._cache[key]

    async def status(self, cert_id: CertId) -> OcspResult:
        try:
            key = cert_id.key()
            request = ocsp_request(
                cert_id.hash_algorithm,
                cert_id.issuer_name_hash,
                cert_id.issuer_key_hash,
                cert_id.serial_number,
            )
        except (pki.PkiError, ValueError) as exc:
            return OcspResult(None, f"invalid OCSPRequestData: {exc}")
        now = datetime.datetime.now(datetime.UTC)
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            return OcspResult(cached[0], cert_status=cached[2])
        # In any case: responderURL is case-insensitive (OCPP), as a URL's scheme is.
        if not cert_id.responder_url.lower().startswith(("http://", "https://")):
            return OcspResult(None, f"responderURL {cert_id.responder_url!r} is not http(s)")
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                answer = await client.post(
                    cert_id.responder_url,
                    content=request,
                    headers={"content-type": "application/ocsp-request"},
                )
        except httpx.HTTPError as exc:
            log.warning("OCSP responder %s unreachable: %s", cert_id.responder_url, exc)
            return OcspResult(None, f"OCSP responder unreachable: {type(exc).__name__}")
        if answer.status_code != 200:
            return OcspResult(None, f"OCSP responder answered HTTP {answer.status_code}")
        der = answer.content
        try:
            parsed = ocsp.load_der_ocsp_response(der)
        except ValueError:
            return OcspResult(None, "OCSP responder answered something else than OCSP")
        if parsed.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            return OcspResult(None, f"OCSP responder said {parsed.response_status.name}")
        if len(der) * 4 / 3 > MAX_OCSP_RESULT_CHARS:
            return OcspResult(None, "OCSP response too long for ocspResult (5500 characters)")
        cert_status = parsed.certificate_status.name.lower()
        next_update = parsed.next_update_utc
        if next_update is not None and next_update > now:
            self._cache[key] = (der, next_update, cert_status)
        return OcspResult(der, cert_status=cert_status)
