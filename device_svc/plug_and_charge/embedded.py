"""The embedded contract certificate provider: the test PKI on disk and what it issued.

FOR TESTING ONLY. It makes Plug & Charge work end to end on ``make up`` without a mobility
operator, a contract certificate pool or an ISO 15118 EXI codec: the CSMS cannot decode EXI, so
this provider does not read the EV's CertificateInstallationReq / CertificateUpdateReq at all.
What it does with a Get15118EVCertificate's ``exiRequest`` (see README, Plug & Charge):

- the base64 ``exiRequest`` is decoded; if it is a JSON object with an ``"eMAID"`` (the test
  encoding of this provider, not EXI), the contract is for that eMAID;
- otherwise the bytes are opaque and the eMAID is derived from them: ``NL-TST-C`` and the first
  8 hex digits of their SHA-256, upper case (the same request always gets the same eMAID);
- it issues a contract certificate (secp256r1, CN = eMAID) under its MO sub-CA and answers with
  ``exiResponse`` = base64 of a JSON object (again not EXI): ``eMAID``, ``contractCertificateChain``
  (PEM: contract, MO sub-CA, MO root) and ``contractPrivateKey`` (PEM, unencrypted: a real
  provider encrypts it for the EV, which this one cannot do without the EV's EXI).

Files in its directory (created on first use, kept after; keys 0600): ``v2g-root``,
``mo-root``, ``mo-sub-ca``, ``cpo-sub-ca`` (``.pem`` and ``.key``) and ``contracts.json``
(serial → eMAID and revocation time). Blocking I/O: call it in a thread.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import fcntl
import hashlib
import json
import pathlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from common import pki
from device_svc.plug_and_charge.domain import (
    Authority,
    Contract,
    TestPki,
    issue_contract,
    new_test_pki,
)

__all__ = ["EmbeddedPki", "emaid_of"]

_FILES = {
    "v2g_root": "v2g-root",
    "mo_root": "mo-root",
    "mo_sub_ca": "mo-sub-ca",
    "cpo_sub_ca": "cpo-sub-ca",
}
_CONTRACTS = "contracts.json"


def emaid_of(exi_request: str) -> str:
    """The eMAID the embedded provider issues a contract for, from the base64 exiRequest."""
    try:
        raw = base64.b64decode(exi_request, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise pki.PkiError(f"exiRequest is not base64: {exc}") from exc
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("eMAID"), str):
        return str(doc["eMAID"])
    return "NL-TST-C" + hashlib.sha256(raw).hexdigest()[:8].upper()


class EmbeddedPki:
    """The test PKI of one directory (shared by processes through a file lock)."""

    def __init__(self, directory: pathlib.Path, ocsp_url: str) -> None:
        self.directory = directory
        self.ocsp_url = ocsp_url
        self._pki: TestPki | None = None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def pki(self) -> TestPki:
        """The PKI, read or created (once per process)."""
        if self._pki is None:
            with self._locked():
                self._pki = self._load_or_create()
        return self._pki

    def _load_or_create(self) -> TestPki:
        paths = {n: self.directory / f"{f}.pem" for n, f in _FILES.items()}
        present = [p.exists() for p in paths.values()]
        if any(present) and not all(present):
            # Regenerating would overwrite what exists, perhaps the only copy of a root's key.
            raise pki.PkiError(
                f"{self.directory} has only part of the test PKI: restore or remove it"
            )
        if all(present):
            loaded: dict[str, Authority] = {}
            for name, file in _FILES.items():
                key = pki.load_key((self.directory / f"{file}.key").read_bytes())
                assert isinstance(key, ec.EllipticCurvePrivateKey)
                loaded[name] = Authority(pki.load_cert(paths[name].read_bytes()), key)
            return TestPki(**loaded)
        made = new_test_pki(self.ocsp_url)
        for name, file in _FILES.items():
            authority: Authority = getattr(made, name)
            _write(self.directory / f"{file}.key", pki.key_pem(authority.key), 0o600)
            _write(self.directory / f"{file}.pem", pki.cert_pem(authority.cert), 0o644)
        return made

    def _contracts(self) -> dict[str, Any]:
        path = self.directory / _CONTRACTS
        if not path.exists():
            return {}
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def issue(self, emaid: str) -> Contract:
        """A new contract certificate for ``emaid``, recorded (OCSP answers good for it)."""
        test_pki = self.pki()
        contract = issue_contract(test_pki, emaid, self.ocsp_url)
        with self._locked():
            contracts = self._contracts()
            contracts[format(contract.cert.serial_number, "x")] = {
                "eMAID": emaid,
                "revokedAt": None,
            }
            _write(self.directory / _CONTRACTS, json.dumps(contracts, indent=1), 0o644)
        return contract

    def sign_v2g(self, csr_pem: str, station_id: str) -> str:
        """A station's V2G (SECC) certificate from its CSR, under the CPO sub-CA, naming the
        OCSP responder, recorded so the responder answers good for it (TC_M_24). The chain
        for CertificateSigned: leaf, CPO sub-CA."""
        sub_ca = self.pki().cpo_sub_ca
        chain = pki.sign_csr(
            sub_ca.cert,
            sub_ca.key,
            csr_pem,
            station_id=station_id,
            usage="V2GCertificate",
            ocsp_url=self.ocsp_url,
        )
        leaf = x509.load_pem_x509_certificates(chain.encode("ascii"))[0]
        with self._locked():
            contracts = self._contracts()
            contracts[format(leaf.serial_number, "x")] = {
                "eMAID": "",
                "v2gCertificate": station_id,
                "revokedAt": None,
            }
            _write(self.directory / _CONTRACTS, json.dumps(contracts, indent=1), 0o644)
        return chain

    def revoke(self, serial_hex: str) -> bool:
        """Revoke the contract of that serial (hex); False when this PKI never issued it."""
        serial = format(int(serial_hex, 16), "x")
        with self._locked():
            contracts = self._contracts()
            if serial not in contracts:
                return False
            if contracts[serial]["revokedAt"] is None:
                contracts[serial]["revokedAt"] = (
                    datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
                )
                _write(self.directory / _CONTRACTS, json.dumps(contracts, indent=1), 0o644)
        return True

    def issued(self) -> Mapping[int, datetime.datetime | None]:
        """Serial → revocation time (None: good) of every contract issued, for the responder."""
        test_pki = self.pki()
        with self._locked():
            contracts = self._contracts()
        # Its own sub-CA and MO root are good too: a station checking the whole contract chain
        # asks about them (never revoked here: the test PKI is replaced, not revoked).
        issued: dict[int, datetime.datetime | None] = {
            test_pki.mo_sub_ca.cert.serial_number: None,
            test_pki.mo_root.cert.serial_number: None,
            test_pki.cpo_sub_ca.cert.serial_number: None,
        }
        for serial, c in contracts.items():
            revoked = c["revokedAt"]
            issued[int(serial, 16)] = datetime.datetime.fromisoformat(revoked) if revoked else None
        return issued

    def contracts(self) -> dict[str, Any]:
        """serial (hex) → {eMAID, revokedAt} of the contracts (not the V2G certificates it
        signed for stations): what REST shows."""
        with self._locked():
            return {s: c for s, c in self._contracts().items() if c.get("eMAID")}


def exi_response(contract: Contract) -> str:
    """The embedded provider's exiResponse (base64 JSON, not EXI; see the module's docstring)."""
    doc = {
        "eMAID": contract.emaid,
        "contractCertificateChain": contract.chain_pem(),
        "contractPrivateKey": pki.key_pem(contract.key),
    }
    return base64.b64encode(json.dumps(doc).encode()).decode("ascii")


def _write(path: pathlib.Path, text: str, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)
