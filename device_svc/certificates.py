"""The CSMS's certificate authority for SignCertificate, and signing off the event loop.

The CSR checks themselves (signature, key strength, CN = station id for station certificates, or
an OCPP 1.6 station's serial number; only subject and key taken from the CSR) are common.pki's
:func:`~common.pki.sign_csr`; this module decides which CA signs and turns a refusal into OCPP's
Rejected with a reason code.

A configured CA (``ca_cert_path`` / ``ca_key_path``) is read at start, so a wrong path stops the
service at once. Without one, the local CA of ``local_ca_dir`` is read, or created, at the first
SignCertificate: a service no station asks for a certificate never writes keys to disk, and
processes starting side by side (parallel tests, several replicas) never race to create it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import functools
import pathlib
from collections.abc import Callable

from cryptography import x509

from common import pki

__all__ = ["CertificateAuthority", "SignOutcome", "Signer", "open_signer", "INVALID_CSR"]

# OCPP 2.0.1 reason code (Part 2, appendix "Reason codes") of a Rejected SignCertificate.
INVALID_CSR = "InvalidCSR"
# StatusInfo.additionalInfo has maxLength 512.
_MAX_ADDITIONAL_INFO = 512
# write_local_ca also issues Envoy's server certificates (ECDSA and RSA, for `make up`); these
# are their names when device_svc creates the CA. A launcher asking for other names gets them
# reissued, same CA.
_LOCAL_HOSTNAMES, _LOCAL_IPS = ["localhost"], ["127.0.0.1"]


@dataclasses.dataclass(frozen=True, slots=True)
class SignOutcome:
    """A signed chain (leaf first, then the CA) for CertificateSigned, or why the CSR is refused."""

    chain: str | None
    reason_code: str = ""
    additional_info: str = ""

    @property
    def accepted(self) -> bool:
        return self.chain is not None


@dataclasses.dataclass(frozen=True, slots=True)
class CertificateAuthority:
    cert: x509.Certificate
    key: pki.PrivateKey

    @classmethod
    def from_files(cls, cert_path: pathlib.Path, key_path: pathlib.Path) -> CertificateAuthority:
        return cls(pki.load_cert(cert_path.read_bytes()), pki.load_key(key_path.read_bytes()))


def local_ca(directory: pathlib.Path) -> CertificateAuthority:
    """The local CA in ``directory``, created when missing (blocking: run it in a thread)."""
    directory.mkdir(parents=True, exist_ok=True)
    # Another process may be creating it right now: one at a time, the others then read it.
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        paths = pki.write_local_ca(directory, _LOCAL_HOSTNAMES, _LOCAL_IPS)
        return CertificateAuthority.from_files(paths["ca_cert"], paths["ca_key"])


class Signer:
    """Signs stations' CSRs with the CA that ``load`` gives (called once, on first use)."""

    def __init__(
        self,
        load: Callable[[], CertificateAuthority],
        ca: CertificateAuthority | None = None,
        cpo_name: str = "",
    ) -> None:
        self._load = load
        # A station certificate's O must be this (A00.FR.404); "": not checked.
        self.cpo_name = cpo_name
        self._ca = ca
        self._lock = asyncio.Lock()

    async def ca(self) -> CertificateAuthority:
        if self._ca is None:
            async with self._lock:
                if self._ca is None:
                    self._ca = await asyncio.to_thread(self._load)
        return self._ca

    async def sign(
        self, csr_pem: str, station_id: str, usage: pki.CertificateUse, serial_number: str = ""
    ) -> SignOutcome:
        """Sign the station's CSR in a worker thread (public-key signing is CPU work).
        ``serial_number``: a CN the station's certificate may have besides its id (an OCPP 1.6
        station's serial number, :func:`device_svc.credentials.names_by_serial`)."""
        ca = await self.ca()
        try:
            chain = await asyncio.to_thread(
                functools.partial(
                    pki.sign_csr,
                    ca.cert,
                    ca.key,
                    csr_pem,
                    station_id=station_id,
                    usage=usage,
                    serial_number=serial_number,
                    cpo_name=self.cpo_name,
                )
            )
        except pki.PkiError as exc:
            return SignOutcome(None, INVALID_CSR, str(exc)[:_MAX_ADDITIONAL_INFO])
        return SignOutcome(chain)


async def open_signer(cert_path: str, key_path: str, local_dir: str, cpo_name: str = "") -> Signer:
    """The signer of the settings: the configured CA, read now, or the local one, read later."""
    if bool(cert_path) != bool(key_path):
        raise ValueError("give both ca_cert_path and ca_key_path, or neither")
    if not cert_path:
        return Signer(lambda: local_ca(pathlib.Path(local_dir)), cpo_name=cpo_name)

    def configured() -> CertificateAuthority:
        return CertificateAuthority.from_files(pathlib.Path(cert_path), pathlib.Path(key_path))

    return Signer(configured, await asyncio.to_thread(configured), cpo_name)
