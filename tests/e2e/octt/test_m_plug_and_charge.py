"""Part 6, ISO 15118 Plug & Charge, CSMS test cases of blocks M (certificate management) and C
(authorization with contract certificates), on the CSMS's embedded test PKI.

The mesh is the session's (tests/e2e/conftest.py): device_svc's embedded V2G / MO test PKI in
its data directory and its OCSP responder a real HTTP server on a loopback port of its own. The
station is an :class:`~tests.e2e.octt.station.OcttStation` over a real WebSocket; it plays the
EV's part too: the contract certificate it authorizes with is the one the CSMS provided through
Get15118EVCertificate (TC_M_26), and it computes the OCSP CertIDs of that chain itself, as a
station validating locally does (TC_C_50, TC_C_51). The EXI payloads are the embedded
provider's documented test encoding (base64 JSON, not EXI: see README, Plug & Charge).

Sources of the steps and tool validations: the test case descriptions (TC_C_50 to TC_C_52, with
C07.FR.04, C07.FR.05 and C07.FR.16) as transcribed by the public reimplementation tzi-OCTT, and
the case names of TC_M_03, TC_M_04, TC_M_14 to TC_M_16, TC_M_24, TC_M_26 and TC_M_28 (install
CA certificate V2GRoot / MORoot, retrieve certificates of a 15118 type, get certificate status,
certificate installation and update EV); the official Part 6 text was not found.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from device_svc.plug_and_charge.domain import issue_contract, new_test_pki
from tests.e2e.octt.states import booted, energy_transfer_started, ev_connected_pre_session
from tests.e2e.octt.station import OcttStation

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
SCHEMA_VERSION = "urn:iso:15118:2:2013:MsgDef"


@pytest.fixture
async def pnc(rest: httpx.AsyncClient) -> JSON:
    """The embedded PKI as REST shows it (its roots, OCSP responder and contracts)."""
    resp = await rest.get("/v1/plugAndCharge/pki")
    assert resp.status_code == 200, resp.text
    pki: JSON = resp.json()
    return pki


@pytest.fixture
async def emaid(rest: httpx.AsyncClient) -> str:
    """A fresh eMAID the CSMS knows as an Accepted id token of type eMAID."""
    value = f"NL-TST-C{uuid.uuid4().hex[:8].upper()}"
    resp = await rest.post(
        "/v1/idTokens", json={"idToken": value, "type": "eMAID", "status": "Accepted"}
    )
    assert resp.status_code == 200, resp.text
    return value


def _exi_request(emaid: str) -> str:
    return base64.b64encode(json.dumps({"eMAID": emaid}).encode()).decode()


def _root(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


async def ev_certificate(
    cs: OcttStation, step: str, action: str, emaid: str, v2g_root: x509.Certificate
) -> list[x509.Certificate]:
    """Get15118EVCertificate; checks that the CSMS answers Accepted with a contract chain for
    the eMAID that leads to the station's V2G root. Returns the chain (leaf first)."""
    answer = await cs.send(
        step,
        "Get15118EVCertificate",
        {
            "iso15118SchemaVersion": SCHEMA_VERSION,
            "action": action,
            "exiRequest": _exi_request(emaid),
        },
    )
    answer = answer or {}
    cs.verdicts.equal(
        step, "Get15118EVCertificateResponse status", answer.get("status"), "Accepted"
    )
    try:
        doc = json.loads(base64.b64decode(answer.get("exiResponse", "")))
        chain = x509.load_pem_x509_certificates(doc["contractCertificateChain"].encode())
    except (ValueError, KeyError, TypeError) as exc:
        cs.verdicts.fail(step, "exiResponse carries a contract certificate chain", str(exc))
        return []
    cn = chain[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    cs.verdicts.equal(step, "the contract certificate's CN", cn, emaid)
    # The EV's validation: each certificate signed by the next, the last by the V2G root.
    try:
        for cert, issuer in zip(chain, [*chain[1:], v2g_root], strict=True):
            cert.verify_directly_issued_by(issuer)
        cs.verdicts.expect(step, "the contract chain leads to the V2G root", True)
    except Exception as exc:  # InvalidSignature, ValueError, TypeError
        cs.verdicts.fail(step, "the contract chain leads to the V2G root", repr(exc))
    return chain


def hash_data(chain: list[x509.Certificate]) -> list[JSON]:
    """iso15118CertificateHashData of a contract chain (leaf and sub-CAs), as a station that
    validated the chain locally computes it, each with the responder URL of its certificate."""
    entries = []
    for cert, issuer in zip(chain, chain[1:], strict=False):
        request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256()).build()
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        url = next(
            str(d.access_location.value)
            for d in aia
            if d.access_method == AuthorityInformationAccessOID.OCSP
        )
        entries.append(
            {
                "hashAlgorithm": "SHA256",
                "issuerNameHash": request.issuer_name_hash.hex(),
                "issuerKeyHash": request.issuer_key_hash.hex(),
                "serialNumber": format(cert.serial_number, "x"),
                "responderURL": url,
            }
        )
    return entries


async def revoke(rest: httpx.AsyncClient, cert: x509.Certificate) -> None:
    """The operator (the mobility operator, here) revokes the contract in the embedded PKI."""
    serial = format(cert.serial_number, "x")
    resp = await rest.post(f"/v1/plugAndCharge/contracts/{serial}:revoke", json={})
    assert resp.status_code == 200, resp.text
    assert resp.json()["revoked"] is True


# -- M: certificates of the EV ------------------------------------------------------------------


async def test_tc_m_26_csms(cs: OcttStation, pnc: JSON, emaid: str) -> None:
    """TC_M_26_CSMS Certificate Installation EV - Success. Before Booted; 1. the station sends
    Get15118EVCertificateRequest action Install with the EV's exiRequest; 2. the CSMS responds
    Accepted with the provider's exiResponse (here: a contract for the eMAID under the V2G root).
    """
    await booted(cs)
    chain = await ev_certificate(cs, "step 1-2", "Install", emaid, _root(pnc["v2gRootCertificate"]))
    assert len(chain) == 3  # contract, MO sub-CA, MO root
    cs.assert_passed()


async def test_tc_m_28_csms(
    cs: OcttStation, rest: httpx.AsyncClient, pnc: JSON, emaid: str
) -> None:
    """TC_M_28_CSMS Certificate Update EV - Success: as TC_M_26 with action Update; the EV gets
    a new contract certificate (another serial, same eMAID), which REST lists."""
    await booted(cs)
    root = _root(pnc["v2gRootCertificate"])
    first = await ev_certificate(cs, "before", "Install", emaid, root)
    updated = await ev_certificate(cs, "step 1-2", "Update", emaid, root)
    cs.verdicts.expect(
        "step 2",
        "the updated contract is a new certificate",
        updated[0].serial_number != first[0].serial_number,
    )
    listed = (await rest.get("/v1/plugAndCharge/pki")).json()["contracts"]
    serial = format(updated[0].serial_number, "x")
    cs.verdicts.expect(
        "after",
        "REST lists the new contract",
        any(c["serialNumber"] == serial and c["emaid"] == emaid for c in listed),
        listed[-3:],
    )
    cs.assert_passed()


async def test_tc_m_24_csms(cs: OcttStation, pnc: JSON) -> None:
    """TC_M_24_CSMS Get Charging Station Certificate status - Success: the station asks the CSMS
    for the status of its V2G certificate. Before: Booted, and the station's V2G certificate
    from the CSMS (SignCertificate V2GCertificate, CertificateSigned: signed by the test PKI's
    CPO sub-CA, naming its OCSP responder). 1. The station sends GetCertificateStatusRequest
    with that certificate's OCSPRequestData; 2. the CSMS asks the responder and responds
    Accepted with its ocspResult (DER, base64): a signed OCSP response saying "good", with a
    nextUpdate. Then an unreachable responderURL is answered Failed, never Accepted."""
    await booted(cs)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "NL*OCT*E000001")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    answer = await cs.send(
        "before",
        "SignCertificate",
        {"csr": csr.public_bytes(Encoding.PEM).decode(), "certificateType": "V2GCertificate"},
    )
    cs.verdicts.equal(
        "before", "SignCertificateResponse status", (answer or {}).get("status"), "Accepted"
    )
    signed = await cs.sim.wait_for("CertificateSigned", within=15)
    chain = x509.load_pem_x509_certificates(signed.payload["certificateChain"].encode())
    chain[1].verify_directly_issued_by(_root(pnc["v2gRootCertificate"]))
    data = hash_data(chain)[0]
    answer = await cs.send("step 1", "GetCertificateStatus", {"ocspRequestData": data}) or {}
    cs.verdicts.equal(
        "step 2", "GetCertificateStatusResponse status", answer.get("status"), "Accepted"
    )
    response = ocsp.load_der_ocsp_response(base64.b64decode(answer.get("ocspResult", "")))
    cs.verdicts.equal(
        "step 2", "the OCSP response status", response.response_status.name, "SUCCESSFUL"
    )
    cs.verdicts.equal(
        "step 2", "the certificate's status", response.certificate_status.name, "GOOD"
    )
    cs.verdicts.equal(
        "step 2",
        "the response is about that serial",
        response.serial_number,
        chain[0].serial_number,
    )
    public_key = chain[1].public_key()
    try:
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        public_key.verify(
            response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256())
        )
        cs.verdicts.expect("step 2", "the OCSP response is signed by the issuer", True)
    except Exception as exc:
        cs.verdicts.fail("step 2", "the OCSP response is signed by the issuer", repr(exc))
    cs.verdicts.expect(
        "step 2", "the response has a nextUpdate", response.next_update_utc is not None
    )

    gone = dict(data, responderURL="http://127.0.0.1:9/ocsp")  # discard port: nobody answers
    answer = await cs.send("after", "GetCertificateStatus", {"ocspRequestData": gone}) or {}
    cs.verdicts.equal("after", "status with no responder", answer.get("status"), "Failed")
    cs.assert_passed()


# -- M: the 15118 roots on the station -------------------------------------------------------------


async def _install(
    cs: OcttStation, rest: httpx.AsyncClient, certificate_type: str, pem: str
) -> None:
    resp = await rest.post(
        f"/v1/chargingStations/{cs.sim.station_id}:installCertificate",
        json={"certificateType": certificate_type, "certificate": pem},
    )
    cs.verdicts.equal("step 1", "REST status", resp.status_code, 200)
    request = cs.sim.calls("InstallCertificate")[-1].payload
    cs.verdicts.fields("step 1", request, {"certificateType": certificate_type, "certificate": pem})
    cs.verdicts.equal(
        "step 2", "the station's answer, as REST returns it", resp.json(), {"status": "Accepted"}
    )


async def test_tc_m_03_csms(cs: OcttStation, rest: httpx.AsyncClient, pnc: JSON) -> None:
    """TC_M_03_CSMS Install CA certificate - V2GRootCertificate: the operator installs the
    embedded PKI's V2G root; 1. the CSMS sends InstallCertificateRequest certificateType
    V2GRootCertificate with that PEM; 2. the station answers Accepted."""
    await booted(cs)
    await _install(cs, rest, "V2GRootCertificate", pnc["v2gRootCertificate"])
    cs.assert_passed()


async def test_tc_m_04_csms(cs: OcttStation, rest: httpx.AsyncClient, pnc: JSON) -> None:
    """TC_M_04_CSMS Install CA certificate - MORootCertificate: as TC_M_03 with the MO root."""
    await booted(cs)
    await _install(cs, rest, "MORootCertificate", pnc["moRootCertificate"])
    cs.assert_passed()


def _hash_entry(cert: x509.Certificate, issuer: x509.Certificate | None = None) -> JSON:
    """CertificateHashDataType of ``cert`` under ``issuer`` (itself for a self-signed root)."""
    request = (
        ocsp.OCSPRequestBuilder().add_certificate(cert, issuer or cert, hashes.SHA256()).build()
    )
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": request.issuer_name_hash.hex(),
        "issuerKeyHash": request.issuer_key_hash.hex(),
        "serialNumber": format(cert.serial_number, "x"),
    }


@pytest.mark.parametrize(
    ("case", "certificate_type"),
    [
        ("TC_M_14", "V2GRootCertificate"),
        ("TC_M_15", "V2GCertificateChain"),
        ("TC_M_16", "MORootCertificate"),
    ],
)
async def test_tc_m_14_to_16_csms(
    cs: OcttStation, rest: httpx.AsyncClient, pnc: JSON, case: str, certificate_type: str
) -> None:
    """TC_M_14/15/16_CSMS Retrieve certificates - V2GRootCertificate / V2GCertificateChain /
    MORootCertificate: 1. the CSMS sends GetInstalledCertificateIdsRequest with that
    certificateType; 2. the station answers Accepted with its certificateHashDataChain, which
    the operator gets as the station sent it."""
    await booted(cs)
    entry = {
        "certificateType": certificate_type,
        "certificateHashData": _hash_entry(_root(pnc["v2gRootCertificate"])),
    }
    cs.sim.answer(
        "GetInstalledCertificateIds", {"status": "Accepted", "certificateHashDataChain": [entry]}
    )
    resp = await rest.post(
        f"/v1/chargingStations/{cs.sim.station_id}:getInstalledCertificateIds",
        json={"certificateType": [certificate_type]},
    )
    cs.verdicts.equal("step 1", "REST status", resp.status_code, 200)
    request = cs.sim.calls("GetInstalledCertificateIds")[-1].payload
    cs.verdicts.equal(
        "step 1", "certificateType", request.get("certificateType"), [certificate_type]
    )
    cs.verdicts.equal(
        "step 2",
        "the chain as REST returns it",
        resp.json().get("certificateHashDataChain"),
        [entry],
    )
    cs.assert_passed()


# -- C: authorization with a contract certificate --------------------------------------------------


async def _authorize(cs: OcttStation, step: str, emaid: str, **contract: Any) -> JSON:
    answer = await cs.send(
        step, "Authorize", {"idToken": {"idToken": emaid, "type": "eMAID"}, **contract}
    )
    return answer or {}


async def _contract_accepted(cs: OcttStation, answer: JSON, emaid: str) -> None:
    """Steps 2-7 of the Accepted cases: both statuses Accepted, then the transaction."""
    cs.verdicts.equal(
        "step 2", "idTokenInfo.status", answer.get("idTokenInfo", {}).get("status"), "Accepted"
    )
    cs.verdicts.equal("step 2", "certificateStatus", answer.get("certificateStatus"), "Accepted")
    cs.id_token = {"idToken": emaid, "type": "eMAID"}
    event = await cs.transaction_event("step 3", "Updated", "Authorized", id_token=True)
    cs.expect_accepted("step 4", "TransactionEventResponse", event)
    cs.authorized = True
    await energy_transfer_started(cs)


async def test_tc_c_50_csms(cs: OcttStation, pnc: JSON, emaid: str) -> None:
    """TC_C_50_CSMS Authorization using Contract Certificates 15118 - Online - Local contract
    certificate validation - Accepted. Before EVConnectedPreSession; 1. AuthorizeRequest with
    the eMAID and iso15118CertificateHashData (the station validated the chain itself); the
    CSMS asks the OCSP responder; 2. idTokenInfo.status Accepted, certificateStatus Accepted;
    3-4. TransactionEvent Authorized accepted; then EnergyTransferStarted."""
    await booted(cs)
    chain = await ev_certificate(cs, "before", "Install", emaid, _root(pnc["v2gRootCertificate"]))
    await ev_connected_pre_session(cs)
    answer = await _authorize(cs, "step 1", emaid, iso15118CertificateHashData=hash_data(chain))
    await _contract_accepted(cs, answer, emaid)
    cs.assert_passed()


async def test_tc_c_51_csms(
    cs: OcttStation, rest: httpx.AsyncClient, pnc: JSON, emaid: str
) -> None:
    """TC_C_51_CSMS ... Local contract certificate validation - Rejected (C07.FR.16): the
    contract is revoked; 1. AuthorizeRequest with its iso15118CertificateHashData; the OCSP
    responder says revoked; 2. certificateStatus CertificateRevoked, idTokenInfo.status
    Invalid (the eMAID itself is Accepted at the CSMS)."""
    await booted(cs)
    chain = await ev_certificate(cs, "before", "Install", emaid, _root(pnc["v2gRootCertificate"]))
    await revoke(rest, chain[0])
    await ev_connected_pre_session(cs)
    answer = await _authorize(cs, "step 1", emaid, iso15118CertificateHashData=hash_data(chain))
    cs.verdicts.equal(
        "step 2", "idTokenInfo.status", answer.get("idTokenInfo", {}).get("status"), "Invalid"
    )
    cs.verdicts.equal(
        "step 2", "certificateStatus", answer.get("certificateStatus"), "CertificateRevoked"
    )
    cs.assert_passed()


async def test_tc_c_52_csms(cs: OcttStation, pnc: JSON, emaid: str) -> None:
    """TC_C_52_CSMS ... Central contract certificate validation - Accepted (C07.FR.04,
    C07.FR.05): 1. AuthorizeRequest with the eMAID and the contract chain (PEM), no hash data:
    the CSMS validates the chain against its V2G / MO roots and computes the CertID for the OCSP
    request to the certificate's responder itself; 2. both Accepted; 3-4. TransactionEvent
    Authorized accepted; then EnergyTransferStarted."""
    await booted(cs)
    chain = await ev_certificate(cs, "before", "Install", emaid, _root(pnc["v2gRootCertificate"]))
    await ev_connected_pre_session(cs)
    pem = "".join(c.public_bytes(Encoding.PEM).decode() for c in chain[:2])  # contract and sub-CA
    answer = await _authorize(cs, "step 1", emaid, certificate=pem)
    await _contract_accepted(cs, answer, emaid)
    cs.assert_passed()


async def test_central_validation_refuses_revoked_and_foreign_contracts(
    cs: OcttStation, rest: httpx.AsyncClient, pnc: JSON, emaid: str
) -> None:
    """Beyond TC_C_52: the same central validation of a contract revoked through REST is
    CertificateRevoked / Invalid (learned from the OCSP responder, not from a cache of the
    good answer), a good contract of another eMAID than the one presented is Invalid, and a
    chain of a PKI the CSMS does not trust is CertChainError / Invalid."""
    await booted(cs)
    root = _root(pnc["v2gRootCertificate"])
    chain = await ev_certificate(cs, "before", "Install", emaid, root)
    pem = "".join(c.public_bytes(Encoding.PEM).decode() for c in chain[:2])
    good = await _authorize(cs, "good", emaid, certificate=pem)
    cs.verdicts.equal("good", "certificateStatus", good.get("certificateStatus"), "Accepted")
    await revoke(rest, chain[0])
    revoked = await _authorize(cs, "revoked", emaid, certificate=pem)
    cs.verdicts.equal(
        "revoked", "certificateStatus", revoked.get("certificateStatus"), "CertificateRevoked"
    )
    cs.verdicts.equal(
        "revoked", "idTokenInfo.status", revoked.get("idTokenInfo", {}).get("status"), "Invalid"
    )

    # A good contract of another eMAID does not prove the one presented.
    other = await ev_certificate(cs, "other", "Install", "NL-TST-C0THER0001", root)
    pem = "".join(c.public_bytes(Encoding.PEM).decode() for c in other[:2])
    answer = await _authorize(cs, "other", emaid, certificate=pem)
    cs.verdicts.equal("other", "certificateStatus", answer.get("certificateStatus"), "Accepted")
    cs.verdicts.equal(
        "other", "idTokenInfo.status", answer.get("idTokenInfo", {}).get("status"), "Invalid"
    )

    foreign = issue_contract(new_test_pki(""), emaid, "")
    answer = await _authorize(cs, "foreign", emaid, certificate=foreign.chain_pem())
    cs.verdicts.equal(
        "foreign", "certificateStatus", answer.get("certificateStatus"), "CertChainError"
    )
    cs.verdicts.equal(
        "foreign", "idTokenInfo.status", answer.get("idTokenInfo", {}).get("status"), "Invalid"
    )
    cs.assert_passed()


async def test_delete_a_15118_root(cs: OcttStation, rest: httpx.AsyncClient, pnc: JSON) -> None:
    """DeleteCertificate of a 15118 root (M04; like TC_M_20 for a V2GRootCertificate): the
    operator gives the certificateHashData the station reported; the CSMS sends it as given and
    returns the station's answer."""
    await booted(cs)
    # The MO root of the test PKI is issued by its V2G root.
    hash_data = _hash_entry(_root(pnc["moRootCertificate"]), _root(pnc["v2gRootCertificate"]))
    resp = await rest.post(
        f"/v1/chargingStations/{cs.sim.station_id}:deleteCertificate",
        json={"certificateHashData": hash_data},
    )
    cs.verdicts.equal("step 1", "REST status", resp.status_code, 200)
    request = cs.sim.calls("DeleteCertificate")[-1].payload
    cs.verdicts.equal(
        "step 1", "certificateHashData", request.get("certificateHashData"), hash_data
    )
    cs.verdicts.equal("step 2", "the station's answer", resp.json(), {"status": "Accepted"})
    cs.assert_passed()
