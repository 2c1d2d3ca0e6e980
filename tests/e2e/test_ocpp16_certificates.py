"""The OCPP 1.6 security whitepaper's certificate management, CSMS side, end to end on SQLite and
PostgreSQL: REST through Envoy, device_svc's CA, the gateway's translation, a real 1.6 station
(tests/e2e/station_sim16.py).

The Charge Point certificate's CN is the station's serial number (whitepaper edition 3,
A00.FR.511: "a CN (commonName) RDN which consists of the unique serial number of the Charge
Point"; A00.FR.405: the Central System checks the CN "contains the unique Serial Number of the
Charge Point"), its O the CPO name (A02.FR.13: the station puts its CpoName there). So a 1.6
station's SignCertificate is signed when the CSR's CN is its id (as for 2.0.1) or the serial
number it reported (BootNotification's chargePointSerialNumber) while no other station's id or
serial is that; anything else is Rejected and no CertificateSigned follows.

The scenarios reproduce the CSMS side of the OCTT 1.6 security cases as the OCA's "OCPP 1.6
Compliancy Testing Tool Test Case Document" (trial 2025-06 draft, as ocpplab.com reproduces it)
has them: TC_074_CSMS (update Charge Point certificate by request of Central System; its steps 7
and 8, the reconnection with the new certificate, need TLS: test_ocpp16_security.py), TC_075_1 /
TC_075_2_CSMS (install a ManufacturerRootCertificate / CentralSystemRootCertificate; TC_075_2's
text was not found, it follows TC_075_1's steps with the other type), TC_076_CSMS (delete a
specific certificate), TC_077_CSMS (invalid ChargePointCertificate security event) and
TC_078_CSMS (invalid CentralSystemCertificate security event). "Invalid CSR" has no OCTT 1.6 case
of that name that we found: the refusals below are the whitepaper's A02.FR.12 (Rejected when the
Central System cannot process the request).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from common import pki
from tests.e2e.station_sim import now
from tests.e2e.station_sim16 import Station16

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
BOOT = {"chargePointVendor": "E2E", "chargePointModel": "E2E-16"}
HASH = {
    "hashAlgorithm": "SHA256",
    "issuerNameHash": "a" * 64,
    "issuerKeyHash": "b" * 64,
    "serialNumber": "0a1b2c",
}


def csr(cn: str, organization: str = "E2E CPO") -> str:
    """A PEM CSR with subject O ``organization`` (the CpoName), CN ``cn``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    request = x509.CertificateSigningRequestBuilder().subject_name(subject)
    return request.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


async def _registered(rest: httpx.AsyncClient) -> str:
    sid = f"C16-{uuid.uuid4().hex[:10]}"
    resp = await rest.post("/v1/chargingStations", json={"id": sid, "model": "M1"})
    assert resp.status_code == 200, resp.text
    return sid


async def _booted(
    rest: httpx.AsyncClient, ws_url: Callable[[str], str], serial: str | None
) -> Station16:
    """A registered 1.6 station, booted with ``serial`` as its chargePointSerialNumber."""
    sid = await _registered(rest)
    st = await Station16.connect(ws_url(sid), sid)
    boot = dict(BOOT, chargePointSerialNumber=serial) if serial else BOOT
    assert (await st.call("BootNotification", boot))["status"] == "Accepted"
    return st


@pytest.fixture
async def stations(
    rest: httpx.AsyncClient, ws_url: Callable[[str], str]
) -> AsyncIterator[Callable[[str | None], Any]]:
    """``await stations(serial)``: a booted 1.6 station; at the end, each closed and nothing the
    CSMS sent them broke a 1.6 schema."""
    made: list[Station16] = []

    async def make(serial: str | None) -> Station16:
        made.append(await _booted(rest, ws_url, serial))
        return made[-1]

    yield make
    for st in made:
        await st.close()
    for st in made:
        assert st.violations == []


async def _command(rest: httpx.AsyncClient, station_id: str, name: str, body: JSON) -> JSON:
    resp = await rest.post(f"/v1/chargingStations/{station_id}:{name}", json=body)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _serial() -> str:
    return f"SN{uuid.uuid4().hex[:16]}".upper()  # 1.6's CiString25


async def _signed(st: Station16, cn: str) -> x509.Certificate:
    """SignCertificate of a CSR named ``cn`` Accepted; the leaf of the CertificateSigned that
    follows (its chain verified against the CSMS's CA)."""
    before = len(st.calls("CertificateSigned"))
    assert await st.call("SignCertificate", {"csr": csr(cn)}) == {"status": "Accepted"}
    signed = await st.wait_for("CertificateSigned", before + 1)
    assert set(signed.payload) == {"certificateChain"}
    chain = x509.load_pem_x509_certificates(signed.payload["certificateChain"].encode())
    leaf, issuer = chain[0], chain[-1]
    assert pki.verify_chain(signed.payload["certificateChain"], issuer) == leaf
    return leaf


async def test_tc_074_a_1_6_certificate_names_its_serial_number(
    stations: Callable[[str | None], Any], rest: httpx.AsyncClient
) -> None:
    """TC_074_CSMS steps 1-6 (update Charge Point certificate by request of Central System): the
    CSMS's TriggerMessage SignChargingStationCertificate goes as ExtendedTriggerMessage
    SignChargePointCertificate (no connectorId); the station's CSR names its serial number
    (A00.FR.511) and its CpoName as O: Accepted, and the certificate signed for that subject
    follows as CertificateSigned. A CSR naming its id is signed as before."""
    serial = _serial()
    st = await stations(serial)
    body = {"requestedMessage": "SignChargingStationCertificate"}
    assert await _command(rest, st.station_id, "triggerMessage", body) == {"status": "Accepted"}
    assert (await st.wait_for("ExtendedTriggerMessage")).payload == {
        "requestedMessage": "SignChargePointCertificate"
    }
    leaf = await _signed(st, serial)
    assert pki.subject_cn(leaf) == serial
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "E2E CPO"
    leaf = await _signed(st, st.station_id)
    assert pki.subject_cn(leaf) == st.station_id


@pytest.mark.parametrize(
    ("serial", "cn"),
    [
        pytest.param("known", "another", id="cn-neither-id-nor-serial"),
        pytest.param(None, "a-serial", id="serial-unknown-id-only"),
    ],
)
async def test_a_csr_naming_anything_else_is_rejected(
    stations: Callable[[str | None], Any], serial: str | None, cn: str
) -> None:
    """A02.FR.12: a CSR the CSMS cannot process is Rejected (1.6 shape: no statusInfo), and no
    CertificateSigned follows: a CN that is neither the station's id nor its serial number,
    or any CN but its id while its serial number is unknown."""
    st = await stations(_serial() if serial else None)
    assert await st.call("SignCertificate", {"csr": csr(_serial())}) == {"status": "Rejected"}
    assert st.calls("CertificateSigned") == []


async def test_a_serial_number_that_is_not_unique_names_no_one(
    stations: Callable[[str | None], Any],
) -> None:
    """A serial number is the station's own word: one two stations report, or one that is
    another station's id, is no name for a certificate (A00.FR.511 says unique)."""
    shared = _serial()
    first, second = await stations(shared), await stations(shared)
    for st in (first, second):
        assert await st.call("SignCertificate", {"csr": csr(shared)}) == {"status": "Rejected"}
    third = await stations(first.station_id)
    answer = await third.call("SignCertificate", {"csr": csr(first.station_id)})
    assert answer == {"status": "Rejected"}
    for st in (first, second, third):
        assert st.calls("CertificateSigned") == []


async def test_a_serial_number_stays_the_station_s_it_was_signed_for(
    stations: Callable[[str | None], Any],
) -> None:
    """Once a certificate naming a serial number was signed for a station, the name is that
    station's for good: after it reports another serial, a second station reporting the first
    gets no certificate naming it; the first, reporting it again, does."""
    serial = _serial()
    first = await stations(serial)
    await _signed(first, serial)
    boot = dict(BOOT, chargePointSerialNumber=_serial())
    assert (await first.call("BootNotification", boot))["status"] == "Accepted"
    second = await stations(serial)
    assert await second.call("SignCertificate", {"csr": csr(serial)}) == {"status": "Rejected"}
    assert second.calls("CertificateSigned") == []
    boot = dict(BOOT, chargePointSerialNumber=serial)
    assert (await first.call("BootNotification", boot))["status"] == "Accepted"
    await _signed(first, serial)


@pytest.mark.parametrize(
    ("use_201", "use_16"),
    [
        pytest.param("ManufacturerRootCertificate", "ManufacturerRootCertificate", id="tc_075_1"),
        pytest.param("CSMSRootCertificate", "CentralSystemRootCertificate", id="tc_075_2"),
    ],
)
async def test_tc_075_install_a_root_certificate(
    stations: Callable[[str | None], Any], rest: httpx.AsyncClient, use_201: str, use_16: str
) -> None:
    """TC_075_1 / TC_075_2_CSMS: InstallCertificate of the root (1.6's type name), Accepted;
    then GetInstalledCertificateIds of that type shows it."""
    st = await stations(None)
    root, _ = pki.new_ca("E2E root")
    pem = pki.cert_pem(root)
    body = {"certificateType": use_201, "certificate": pem}
    assert await _command(rest, st.station_id, "installCertificate", body) == {"status": "Accepted"}
    assert (await st.wait_for("InstallCertificate")).payload == {
        "certificateType": use_16,
        "certificate": pem,
    }
    st.answer("GetInstalledCertificateIds", {"status": "Accepted", "certificateHashData": [HASH]})
    body = {"certificateType": [use_201]}
    assert await _command(rest, st.station_id, "getInstalledCertificateIds", body) == {
        "status": "Accepted",
        "certificateHashDataChain": [{"certificateType": use_201, "certificateHashData": HASH}],
    }
    assert (await st.wait_for("GetInstalledCertificateIds")).payload == {"certificateType": use_16}


async def test_tc_076_delete_a_specific_certificate(
    stations: Callable[[str | None], Any], rest: httpx.AsyncClient
) -> None:
    """TC_076_CSMS: a CentralSystemRootCertificate installed, its hash asked with
    GetInstalledCertificateIds, DeleteCertificate of that hash Accepted, then
    GetInstalledCertificateIds of the type NotFound (the optional step 7)."""
    st = await stations(None)
    sid = st.station_id
    root, _ = pki.new_ca("E2E root 2")
    body: JSON = {"certificateType": "CSMSRootCertificate", "certificate": pki.cert_pem(root)}
    assert await _command(rest, sid, "installCertificate", body) == {"status": "Accepted"}
    st.answer("GetInstalledCertificateIds", {"status": "Accepted", "certificateHashData": [HASH]})
    body = {"certificateType": ["CSMSRootCertificate"]}
    listed = await _command(rest, sid, "getInstalledCertificateIds", body)
    [chain] = listed["certificateHashDataChain"]
    body = {"certificateHashData": chain["certificateHashData"]}
    assert await _command(rest, sid, "deleteCertificate", body) == {"status": "Accepted"}
    assert (await st.wait_for("DeleteCertificate")).payload == {"certificateHashData": HASH}
    st.answer("GetInstalledCertificateIds", {"status": "NotFound"})
    body = {"certificateType": ["CSMSRootCertificate"]}
    assert await _command(rest, sid, "getInstalledCertificateIds", body) == {"status": "NotFound"}
    assert [r.action for r in st.received] == [
        "InstallCertificate",
        "GetInstalledCertificateIds",
        "DeleteCertificate",
        "GetInstalledCertificateIds",
    ]


async def _security_event(rest: httpx.AsyncClient, st: Station16, kind: str) -> None:
    event = {"type": kind, "timestamp": now(), "techInfo": "e2e"}
    assert await st.call("SecurityEventNotification", event) == {}
    resp = await rest.get(f"/v1/chargingStations/{st.station_id}/securityEvents")
    assert resp.status_code == 200, resp.text
    assert kind in resp.text, resp.text


async def test_tc_077_invalid_charge_point_certificate(
    stations: Callable[[str | None], Any], rest: httpx.AsyncClient
) -> None:
    """TC_077_CSMS: ExtendedTriggerMessage SignChargePointCertificate, SignCertificate Accepted,
    the station rejects the CertificateSigned, then reports InvalidChargePointCertificate: the
    event is answered and stored."""
    serial = _serial()
    st = await stations(serial)
    st.answer("CertificateSigned", {"status": "Rejected"})
    body = {"requestedMessage": "SignChargingStationCertificate"}
    assert await _command(rest, st.station_id, "triggerMessage", body) == {"status": "Accepted"}
    await _signed(st, serial)
    await st.wait_answered(st.calls("CertificateSigned")[0])
    await _security_event(rest, st, "InvalidChargePointCertificate")


async def test_tc_078_invalid_central_system_certificate(
    stations: Callable[[str | None], Any], rest: httpx.AsyncClient
) -> None:
    """TC_078_CSMS: InstallCertificate of a CentralSystemRootCertificate the station rejects
    (REST shows Rejected), then its InvalidCentralSystemCertificate event answered and stored."""
    st = await stations(None)
    st.answer("InstallCertificate", {"status": "Rejected"})
    root, _ = pki.new_ca("E2E rejected root")
    body = {"certificateType": "CSMSRootCertificate", "certificate": pki.cert_pem(root)}
    assert await _command(rest, st.station_id, "installCertificate", body) == {"status": "Rejected"}
    assert (await st.wait_for("InstallCertificate")).payload["certificateType"] == (
        "CentralSystemRootCertificate"
    )
    await _security_event(rest, st, "InvalidCentralSystemCertificate")
