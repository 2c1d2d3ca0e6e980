"""The 1.6 security whitepaper's profiles 1-3 for OCPP 1.6J stations, end to end: the same
per-station settings (``securityProfile``, ``basicAuthPassword``) and the same handshake rules as
for 2.0.1 (:mod:`tests.e2e.test_station_security`), with stations offering ``ocpp1.6``; each
admitted station speaks 1.6 (its BootNotification is answered in 1.6's shape, REST shows
``protocol: "ocpp1.6"``), each refused one gets no WebSocket.

Profile 1: HTTP Basic authentication (username the Charge Point identity, its password) over
plain ws; profile 2: the same over TLS (wss); profile 3: TLS with the station's client
certificate (issued by the CSMS's CA, CN the station's identity, or for a 1.6 station its unique
serial number as the whitepaper has it: A00.FR.405, A00.FR.511), no password.
"""

from __future__ import annotations

import asyncio
import pathlib
import ssl
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from common import pki
from deploy.mesh import Mesh
from tests.e2e.conftest import CPO_NAME, basic_auth, source_address
from tests.e2e.station_sim import schema_errors
from tests.e2e.station_sim16 import Station16
from tests.e2e.test_station_security import _client_tls, _csr, _foreign_and_own_tls

pytestmark = pytest.mark.e2e

PASSWORD = "a-1.6-station-password-0123"
BOOT = {"chargePointVendor": "E2E", "chargePointModel": "E2E-16"}


@pytest.fixture
async def rest(tls_mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    key = tls_mesh.create_api_key("operator", "e2e 1.6 station security")
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{tls_mesh.settings.envoy_port}",
        headers={"authorization": f"Bearer {key}"},
        timeout=10,
    ) as client:
        yield client


async def _station(rest: httpx.AsyncClient, profile: int, password: str = "") -> str:
    sid = f"S16-{uuid.uuid4().hex[:10]}"
    body: dict[str, object] = {"id": sid, "securityProfile": profile}
    if password:
        body["basicAuthPassword"] = password
    resp = await rest.post("/v1/chargingStations", json=body)
    assert resp.status_code == 200, resp.text
    return sid


async def _open(
    mesh: Mesh,
    station_id: str,
    *,
    tls: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
) -> ClientConnection:
    if tls is None:
        url = f"ws://127.0.0.1:{mesh.settings.gateway_port}/ocpp/{station_id}"
    else:
        url = f"wss://localhost:{mesh.settings.station_tls_port}/ocpp/{station_id}"
    return await connect(
        url,
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers=headers,
        ssl=tls,
        proxy=None,
        open_timeout=10,
        local_addr=source_address(),
    )


async def _accepted(mesh: Mesh, rest: httpx.AsyncClient, station_id: str, **kw: Any) -> None:
    """The 1.6 station connects, its 1.6 BootNotification is Accepted in 1.6's shape, and the
    CSMS knows it speaks 1.6."""
    ws = await _open(mesh, station_id, **kw)
    try:
        assert ws.subprotocol == "ocpp1.6"
        await ws.send(orjson.dumps([2, "1", "BootNotification", BOOT]).decode())
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply[0] == 3 and reply[2]["status"] == "Accepted", reply
        assert schema_errors("BootNotification", "Response", reply[2], "1.6") is None
        got = (await rest.get(f"/v1/chargingStations/{station_id}")).json()
        assert got["protocol"] == "ocpp1.6", got
    finally:
        await ws.close()


async def _refused(mesh: Mesh, station_id: str, **kw: Any) -> None:
    """401 with Basic's challenge: no WebSocket, so no OCPP frame either."""
    with pytest.raises(InvalidStatus) as err:
        await _open(mesh, station_id, **kw)
    assert err.value.response.status_code == 401
    assert err.value.response.headers["WWW-Authenticate"] == 'Basic realm="OCPP"'


async def test_profile_1_basic_auth(tls_mesh: Mesh, rest: httpx.AsyncClient) -> None:
    """Profile 1: the right password over ws connects a 1.6 station; none, a wrong one or
    another station's: 401."""
    sid = await _station(rest, 1, PASSWORD)
    other = await _station(rest, 1, "another-1.6-password-0123")
    await _accepted(tls_mesh, rest, sid, headers=basic_auth(sid, PASSWORD))
    await _refused(tls_mesh, sid)
    await _refused(tls_mesh, sid, headers=basic_auth(sid, "wrong-password-0123456"))
    await _refused(tls_mesh, sid, headers=basic_auth(other, "another-1.6-password-0123"))


async def test_profile_2_tls_and_basic_auth(
    tls_mesh: Mesh, rest: httpx.AsyncClient, tmp_path: pathlib.Path
) -> None:
    """Profile 2: wss with the password connects a 1.6 station; the password over plain ws,
    or wss without it, or with a wrong one: 401."""
    sid = await _station(rest, 2, PASSWORD)
    ca_pem = tls_mesh.settings.tls_dir() / "ca.pem"
    tls = _client_tls(tmp_path, ca_pem)
    await _accepted(tls_mesh, rest, sid, tls=tls, headers=basic_auth(sid, PASSWORD))
    await _refused(tls_mesh, sid, headers=basic_auth(sid, PASSWORD))
    await _refused(tls_mesh, sid, tls=_client_tls(tmp_path, ca_pem))
    await _refused(
        tls_mesh, sid, tls=_client_tls(tmp_path, ca_pem), headers=basic_auth(sid, "wrong-0123456")
    )


async def test_profile_3_client_certificate(
    tls_mesh: Mesh, rest: httpx.AsyncClient, ca: tuple[Any, Any], tmp_path: pathlib.Path
) -> None:
    """Profile 3: a client certificate of the CSMS's CA with CN = the station's identity
    connects a 1.6 station; no certificate, or another station's: 401."""
    sid = await _station(rest, 3)
    other = await _station(rest, 3)
    ca_pem = tls_mesh.settings.tls_dir() / "ca.pem"
    cert, key = pki.issue_client_cert(*ca, sid, organization=CPO_NAME)
    await _accepted(tls_mesh, rest, sid, tls=_client_tls(tmp_path, ca_pem, cert, key))
    await _refused(tls_mesh, sid, tls=_client_tls(tmp_path, ca_pem))
    cert, key = pki.issue_client_cert(*ca, other, organization=CPO_NAME)
    await _refused(tls_mesh, sid, tls=_client_tls(tmp_path, ca_pem, cert, key))


async def test_a00_fr_404_a_certificate_must_be_owned_by_the_cpo(
    tls_mesh: Mesh, rest: httpx.AsyncClient, ca: tuple[Any, Any], tmp_path: pathlib.Path
) -> None:
    """Security whitepaper A00.FR.404 for a 1.6 station: a client certificate of another
    organization than the CPO's is refused; a CSR of another organization is Rejected and no
    CertificateSigned follows; the CPO's own is signed."""
    sid = await _station(rest, 3)
    foreign, own = _foreign_and_own_tls(tls_mesh, ca, sid, tmp_path)
    await _refused(tls_mesh, sid, tls=foreign)
    ws = await _open(tls_mesh, sid, tls=own)
    st = Station16(sid, ws)
    try:
        assert (await st.call("BootNotification", BOOT))["status"] == "Accepted"
        refused = await st.call("SignCertificate", {"csr": _csr(sid, "Another CPO")})
        assert refused == {"status": "Rejected"}
        # Nothing follows a refused CSR (a CertificateSigned leaves a second after an accept).
        await asyncio.sleep(2.5)
        assert st.calls("CertificateSigned") == []
        assert await st.call("SignCertificate", {"csr": _csr(sid, CPO_NAME)}) == {
            "status": "Accepted"
        }
        signed = await st.wait_for("CertificateSigned")
        await st.wait_answered(signed)
        assert len(st.calls("CertificateSigned")) == 1
        assert st.violations == []
    finally:
        await st.close()


async def _boot_with_serial(mesh: Mesh, station_id: str, tls: ssl.SSLContext, serial: str) -> None:
    """The 1.6 station connects over TLS with ``tls``'s certificate and boots reporting
    ``serial``: Accepted."""
    ws = await _open(mesh, station_id, tls=tls)
    try:
        assert ws.subprotocol == "ocpp1.6"
        boot = dict(BOOT, chargePointSerialNumber=serial)
        await ws.send(orjson.dumps([2, "1", "BootNotification", boot]).decode())
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply[0] == 3 and reply[2]["status"] == "Accepted", reply
    finally:
        await ws.close()


async def test_tc_074_profile_3_reconnects_with_the_certificate_naming_its_serial(
    tls_mesh: Mesh, rest: httpx.AsyncClient, ca: tuple[Any, Any], tmp_path: pathlib.Path
) -> None:
    """OCTT 1.6 TC_074_CSMS whole (update Charge Point certificate by request of Central System,
    steps 7 and 8 included): a profile 3 station connected with its factory certificate (CN its
    id) reports its serial number at boot; ExtendedTriggerMessage SignChargePointCertificate; its
    CSR names its serial number (whitepaper A00.FR.511) and is signed by the CSMS's CA; it
    reconnects with the new certificate and the Central System accepts it (A00.FR.405: the CN
    contains the station's serial number). That certificate admits no one else: not the same
    station over OCPP 2.0.1 (whose certificates name the station id), not another 1.6 station,
    even one reporting the same serial number (the name is bound to the station it was signed
    for, which it keeps admitting)."""
    sid = await _station(rest, 3)
    other = await _station(rest, 3)
    serial = f"SN{uuid.uuid4().hex[:16]}".upper()
    ca_pem = tls_mesh.settings.tls_dir() / "ca.pem"
    cert, key = pki.issue_client_cert(*ca, sid, organization=CPO_NAME)
    ws = await _open(tls_mesh, sid, tls=_client_tls(tmp_path, ca_pem, cert, key))
    st = Station16(sid, ws)
    try:
        boot = dict(BOOT, chargePointSerialNumber=serial)
        assert (await st.call("BootNotification", boot))["status"] == "Accepted"
        body = {"requestedMessage": "SignChargingStationCertificate"}
        resp = await rest.post(f"/v1/chargingStations/{sid}:triggerMessage", json=body)
        assert resp.status_code == 200 and resp.json() == {"status": "Accepted"}, resp.text
        assert (await st.wait_for("ExtendedTriggerMessage")).payload == {
            "requestedMessage": "SignChargePointCertificate"
        }
        new_key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, CPO_NAME),
                x509.NameAttribute(NameOID.COMMON_NAME, serial),
            ]
        )
        request = x509.CertificateSigningRequestBuilder().subject_name(subject)
        pem = request.sign(new_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        assert await st.call("SignCertificate", {"csr": pem.decode()}) == {"status": "Accepted"}
        signed = await st.wait_for("CertificateSigned")
        await st.wait_answered(signed)
        assert st.violations == []
    finally:
        await st.close()
    leaf = x509.load_pem_x509_certificates(signed.payload["certificateChain"].encode())[0]
    assert pki.subject_cn(leaf) == serial
    renewed = _client_tls(tmp_path, ca_pem, leaf, new_key)
    await _boot_with_serial(tls_mesh, sid, renewed, serial)
    # Another 1.6 station reporting the same serial number takes nothing away: the name was
    # bound to the station it was signed for, and admits it alone.
    cert, key = pki.issue_client_cert(*ca, other, organization=CPO_NAME)
    await _boot_with_serial(tls_mesh, other, _client_tls(tmp_path, ca_pem, cert, key), serial)
    await _boot_with_serial(tls_mesh, sid, _client_tls(tmp_path, ca_pem, leaf, new_key), serial)
    with pytest.raises(InvalidStatus) as err:
        await connect(
            f"wss://localhost:{tls_mesh.settings.station_tls_port}/ocpp/{sid}",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            ssl=_client_tls(tmp_path, ca_pem, leaf, new_key),
            proxy=None,
            open_timeout=10,
            local_addr=source_address(),
        )
    assert err.value.response.status_code == 401
    await _refused(tls_mesh, other, tls=_client_tls(tmp_path, ca_pem, leaf, new_key))
