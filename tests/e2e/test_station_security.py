"""Station security profiles 1-3 end to end: real Envoy terminating TLS (certificates from
common.pki), the gateway's handshake rules, device_svc's decision.

The mesh runs in TLS mode: every station comes through Envoy, plain ws on the stations' port and
wss on the TLS port. Each connection leaves from its own loopback address (127.x.y.z), which Envoy
passes on in x-forwarded-for, so the failure counters of one test never lock out another (tests
that share an address do so on purpose).
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
from websockets.exceptions import InvalidHandshake, InvalidStatus

from common import pki
from deploy.mesh import Mesh
from tests.e2e.conftest import CPO_NAME, basic_auth, source_address

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
async def rest(tls_mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    """A REST client through this mesh's Envoy, with an operator key."""
    key = tls_mesh.create_api_key("operator", "e2e station security")
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{tls_mesh.settings.envoy_port}",
        headers={"authorization": f"Bearer {key}"},
        timeout=10,
    ) as client:
        yield client


async def _station(rest: httpx.AsyncClient, profile: int, password: str = "") -> str:
    sid = f"SEC-{uuid.uuid4().hex[:10]}"
    body: dict[str, object] = {"id": sid, "model": "M1", "securityProfile": profile}
    if password:
        body["basicAuthPassword"] = password
    resp = await rest.post("/v1/chargingStations", json=body)
    assert resp.status_code == 200, resp.text
    assert "basicAuthPassword" not in resp.json()
    return sid


def _client_tls(
    tmp_path: pathlib.Path, ca_pem: pathlib.Path, cert: Any = None, key: Any = None
) -> ssl.SSLContext:
    """Trusts the mesh's CA; presents ``cert`` when given."""
    context = ssl.create_default_context(cafile=str(ca_pem))
    if cert is not None:
        name = uuid.uuid4().hex
        (tmp_path / f"{name}.pem").write_text(pki.cert_pem(cert))
        (tmp_path / f"{name}.key").write_text(pki.key_pem(key))
        context.load_cert_chain(tmp_path / f"{name}.pem", tmp_path / f"{name}.key")
    return context


async def _open(
    mesh: Mesh,
    station_id: str,
    *,
    tls: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
    source: tuple[str, int] | None = None,
) -> ClientConnection:
    if tls is None:
        url = f"ws://127.0.0.1:{mesh.settings.gateway_port}/ocpp/{station_id}"
    else:
        url = f"wss://localhost:{mesh.settings.station_tls_port}/ocpp/{station_id}"
    return await connect(
        url,
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        additional_headers=headers,
        ssl=tls,
        proxy=None,
        open_timeout=10,
        local_addr=source or source_address(),
    )


async def _accepted(mesh: Mesh, station_id: str, **kw: Any) -> None:
    """The station connects and its BootNotification is answered."""
    ws = await _open(mesh, station_id, **kw)
    try:
        boot = {"reason": "PowerUp", "chargingStation": {"model": "M1", "vendorName": "V"}}
        await ws.send(orjson.dumps([2, "1", "BootNotification", boot]).decode())
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply[0] == 3 and reply[2]["status"] == "Accepted", reply
    finally:
        await ws.close()


async def _refused(mesh: Mesh, station_id: str, status: int = 401, **kw: Any) -> InvalidStatus:
    """The handshake is answered ``status``: no WebSocket, so no OCPP frame either."""
    with pytest.raises(InvalidStatus) as err:
        await _open(mesh, station_id, **kw)
    assert err.value.response.status_code == status
    if status == 401:
        assert err.value.response.headers["WWW-Authenticate"] == 'Basic realm="OCPP"'
    return err.value


async def test_profile_1_right_password_is_accepted(
    tls_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    """Profile 1: Basic auth with the station's password over plain ws connects and boots."""
    sid = await _station(rest, 1, PASSWORD)
    got = (await rest.get(f"/v1/chargingStations/{sid}")).json()
    assert got["securityProfile"] == 1 and got["passwordSet"] is True
    assert "basicAuthPassword" not in got
    await _accepted(tls_mesh, sid, headers=basic_auth(sid, PASSWORD))


async def test_profile_1_refuses_missing_wrong_and_foreign_credentials(
    tls_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    """Profile 1: no credentials, a wrong password, another station's password or username: 401."""
    sid = await _station(rest, 1, PASSWORD)
    other = await _station(rest, 1, "another-station-password")
    await _refused(tls_mesh, sid)
    await _refused(tls_mesh, sid, headers=basic_auth(sid, "wrong-password-0123456"))
    await _refused(tls_mesh, sid, headers=basic_auth(sid, "another-station-password"))
    await _refused(tls_mesh, sid, headers=basic_auth(other, "another-station-password"))


async def test_profile_2_needs_tls_and_password(
    tls_mesh: Mesh, rest: httpx.AsyncClient, tmp_path: pathlib.Path
) -> None:
    """Profile 2: wss with the password connects; plain ws or no password is refused."""
    sid = await _station(rest, 2, PASSWORD)
    ca_pem = tls_mesh.settings.tls_dir() / "ca.pem"
    await _accepted(
        tls_mesh, sid, tls=_client_tls(tmp_path, ca_pem), headers=basic_auth(sid, PASSWORD)
    )
    await _refused(tls_mesh, sid, headers=basic_auth(sid, PASSWORD))
    await _refused(tls_mesh, sid, tls=_client_tls(tmp_path, ca_pem))


async def test_profile_2_refuses_a_forged_proxy_header_on_plain_ws(
    tls_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    """A station cannot claim TLS on plain ws: Envoy overwrites x-forwarded-proto."""
    sid = await _station(rest, 2, PASSWORD)
    headers = {**basic_auth(sid, PASSWORD), "X-Forwarded-Proto": "https"}
    await _refused(tls_mesh, sid, headers=headers)


async def test_profile_3_right_client_certificate_is_accepted(
    tls_mesh: Mesh, rest: httpx.AsyncClient, ca: tuple[Any, Any], tmp_path: pathlib.Path
) -> None:
    """Profile 3: a client certificate from the CSMS's CA with CN = station id connects."""
    sid = await _station(rest, 3)
    cert, key = pki.issue_client_cert(*ca, sid, organization=CPO_NAME)
    tls = _client_tls(tmp_path, tls_mesh.settings.tls_dir() / "ca.pem", cert, key)
    await _accepted(tls_mesh, sid, tls=tls)


async def test_profile_3_refuses_no_or_another_stations_certificate(
    tls_mesh: Mesh, rest: httpx.AsyncClient, ca: tuple[Any, Any], tmp_path: pathlib.Path
) -> None:
    """Profile 3: no client certificate, or a valid one of another station: 401."""
    sid = await _station(rest, 3)
    other = await _station(rest, 3)
    ca_pem = tls_mesh.settings.tls_dir() / "ca.pem"
    await _refused(tls_mesh, sid, tls=_client_tls(tmp_path, ca_pem))
    cert, key = pki.issue_client_cert(*ca, other, organization=CPO_NAME)
    await _refused(tls_mesh, sid, tls=_client_tls(tmp_path, ca_pem, cert, key))
    # A forged x-forwarded-client-cert is replaced by what Envoy verified.
    forged = {"X-Forwarded-Client-Cert": f'Subject="CN={sid}"'}
    await _refused(tls_mesh, sid, tls=_client_tls(tmp_path, ca_pem), headers=forged)


def _foreign_and_own_tls(
    mesh: Mesh, ca: tuple[Any, Any], station_id: str, tmp_path: pathlib.Path
) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """TLS contexts presenting a certificate of the mesh's CA naming the station: one of another
    organization, one of the CPO (A00.FR.404)."""
    ca_pem = mesh.settings.tls_dir() / "ca.pem"
    contexts = []
    for organization in ("Another CPO", CPO_NAME):
        cert, key = pki.issue_client_cert(*ca, station_id, organization=organization)
        contexts.append(_client_tls(tmp_path, ca_pem, cert, key))
    return contexts[0], contexts[1]


def _csr(station_id: str, organization: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, station_id),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


async def test_a00_fr_404_a_certificate_must_be_owned_by_the_cpo(
    tls_mesh: Mesh, rest: httpx.AsyncClient, ca: tuple[Any, Any], tmp_path: pathlib.Path
) -> None:
    """A00.FR.404: the CSMS verifies that the O (organizationName) of the station's certificate
    is the CPO's name. A certificate of the CSMS's own CA naming the station but another
    organization is refused (401, like any wrong credential); and the CSMS does not sign a CSR
    of another organization (SignCertificate Rejected, no CertificateSigned), since it would
    refuse that certificate at the next connection."""
    sid = await _station(rest, 3)
    foreign, own = _foreign_and_own_tls(tls_mesh, ca, sid, tmp_path)
    await _refused(tls_mesh, sid, tls=foreign)
    ws = await _open(tls_mesh, sid, tls=own)
    try:
        boot = {"reason": "PowerUp", "chargingStation": {"model": "M1", "vendorName": "V"}}
        await ws.send(orjson.dumps([2, "1", "BootNotification", boot]).decode())
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply[0] == 3 and reply[2]["status"] == "Accepted", reply
        request = {"csr": _csr(sid, "Another CPO"), "certificateType": "ChargingStationCertificate"}
        await ws.send(orjson.dumps([2, "2", "SignCertificate", request]).decode())
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply[:2] == [3, "2"] and reply[2]["status"] == "Rejected", reply
        assert "CPO name" in reply[2]["statusInfo"]["additionalInfo"], reply
        # Nothing follows: no CertificateSigned for a refused CSR.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 2.5)
        request = {"csr": _csr(sid, CPO_NAME), "certificateType": "ChargingStationCertificate"}
        await ws.send(orjson.dumps([2, "3", "SignCertificate", request]).decode())
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply == [3, "3", {"status": "Accepted"}], reply
        signed = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert signed[0] == 2 and signed[2] == "CertificateSigned", signed
        await ws.send(orjson.dumps([3, signed[1], {"status": "Accepted"}]).decode())
    finally:
        await ws.close()


async def test_profile_3_refuses_a_certificate_from_another_ca(
    tls_mesh: Mesh, rest: httpx.AsyncClient, tmp_path: pathlib.Path
) -> None:
    """Profile 3: a certificate with the right CN from another CA fails the TLS handshake."""
    sid = await _station(rest, 3)
    rogue_ca = pki.new_ca("rogue CA")
    cert, key = pki.issue_client_cert(*rogue_ca, sid)
    tls = _client_tls(tmp_path, tls_mesh.settings.tls_dir() / "ca.pem", cert, key)
    with pytest.raises((ssl.SSLError, OSError, EOFError, InvalidHandshake)) as err:
        ws = await _open(tls_mesh, sid, tls=tls)
        # TLS 1.3: the server's verdict on our certificate may arrive after the handshake.
        await asyncio.wait_for(ws.recv(), 10)
    if isinstance(err.value, InvalidStatus):
        assert err.value.response.status_code == 401


async def test_unsecured_station_refused_unless_allowed(
    tls_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    """A station without credentials: refused while unsecured stations are not allowed, then in."""
    sid = await _station(rest, 0)
    await _refused(tls_mesh, sid)
    secured = await _station(rest, 1, PASSWORD)
    gateway = tls_mesh.proc("gateway-1")
    tls_mesh.kill("gateway-1")
    gateway.env["CSMS_GATEWAY_ALLOW_UNSECURED_STATIONS"] = "true"
    try:
        await asyncio.to_thread(tls_mesh.restart, "gateway-1")
        await _accepted(tls_mesh, sid)
        # A station set to a profile never falls back: without its password it stays out.
        await _refused(tls_mesh, secured)
    finally:
        tls_mesh.kill("gateway-1")
        gateway.env["CSMS_GATEWAY_ALLOW_UNSECURED_STATIONS"] = "false"
        await asyncio.to_thread(tls_mesh.restart, "gateway-1")


WRONG = "wrong-password-0123456"


async def test_an_address_that_keeps_failing_on_a_station_is_locked_out(
    tls_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    """More than 5 wrong passwords from one address on one station id: that pair gets 429
    with Retry-After, even with the right password (it cannot be told from the guesser)."""
    sid = await _station(rest, 1, PASSWORD)
    source = source_address()
    for _ in range(6):
        await _refused(tls_mesh, sid, headers=basic_auth(sid, WRONG), source=source)
    locked = await _refused(
        tls_mesh, sid, status=429, headers=basic_auth(sid, PASSWORD), source=source
    )
    assert int(locked.response.headers["Retry-After"]) > 0
    await _refused(tls_mesh, sid, status=429, headers=basic_auth(sid, WRONG), source=source)
    log = (tls_mesh.proc("gateway-1").log or pathlib.Path()).read_text()
    assert "too many failed handshakes" in log and source[0] in log and sid in log


async def test_failing_on_a_station_id_does_not_lock_out_the_real_station(
    tls_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    """Someone failing on a known station id, without or with wrong passwords, from one
    address and then from many (beyond the 20 a minute that make the id hot): the station
    with its password still connects from its own address, while each guessing address is
    refused after its first failure on the hot id."""
    sid = await _station(rest, 1, PASSWORD)
    attacker = source_address()
    for _ in range(4):
        await _refused(tls_mesh, sid, source=attacker)  # no credentials: no guess, no 429
    for _ in range(6):
        await _refused(tls_mesh, sid, headers=basic_auth(sid, WRONG), source=attacker)
    await _refused(tls_mesh, sid, status=429, headers=basic_auth(sid, WRONG), source=attacker)
    await _accepted(tls_mesh, sid, headers=basic_auth(sid, PASSWORD))
    for _ in range(8):
        botnet = source_address()
        for _ in range(3):  # 401, or 429 once the id is hot
            with pytest.raises(InvalidStatus) as err:
                await _open(tls_mesh, sid, headers=basic_auth(sid, WRONG), source=botnet)
            assert err.value.response.status_code in (401, 429)
    await _accepted(tls_mesh, sid, headers=basic_auth(sid, PASSWORD))
    newcomer = source_address()
    await _refused(tls_mesh, sid, headers=basic_auth(sid, WRONG), source=newcomer)
    await _refused(tls_mesh, sid, status=429, headers=basic_auth(sid, WRONG), source=newcomer)
    log = (tls_mesh.proc("gateway-1").log or pathlib.Path()).read_text()
    assert f"failed handshakes for station {sid} in 60 s" in log


async def test_a_failing_station_behind_a_shared_address_does_not_lock_out_its_neighbours(
    tls_mesh: Mesh, rest: httpx.AsyncClient, ca: tuple[Any, Any], tmp_path: pathlib.Path
) -> None:
    """Stations behind one address (a car park's LTE router): one failing again and again,
    and more than 100 failures a minute from there in all, do not keep a neighbour with its
    password or its client certificate out; the failing one is refused (429)."""
    shared = source_address()
    failing = await _station(rest, 1, PASSWORD)
    for _ in range(6):
        await _refused(tls_mesh, failing, headers=basic_auth(failing, WRONG), source=shared)
    await _refused(tls_mesh, failing, status=429, headers=basic_auth(failing, WRONG), source=shared)
    neighbour = await _station(rest, 1, "the-neighbours-password")
    await _accepted(
        tls_mesh,
        neighbour,
        headers=basic_auth(neighbour, "the-neighbours-password"),
        source=shared,
    )
    for n in range(120):  # misconfigured stations without credentials, probes: all count
        await _refused(tls_mesh, f"NOPE-{n}-{uuid.uuid4().hex[:6]}", source=shared)
    log = (tls_mesh.proc("gateway-1").log or pathlib.Path()).read_text()
    assert f"more than 100 failed handshakes from {shared[0]}" in log
    await _accepted(
        tls_mesh,
        neighbour,
        headers=basic_auth(neighbour, "the-neighbours-password"),
        source=shared,
    )
    cert_station = await _station(rest, 3)
    cert, key = pki.issue_client_cert(*ca, cert_station, organization=CPO_NAME)
    ca_pem = tls_mesh.settings.tls_dir() / "ca.pem"
    await _accepted(
        tls_mesh, cert_station, tls=_client_tls(tmp_path, ca_pem, cert, key), source=shared
    )
    # From the hot address, a station id failing once is refused at once after.
    other = await _station(rest, 1, PASSWORD)
    await _refused(tls_mesh, other, headers=basic_auth(other, WRONG), source=shared)
    await _refused(tls_mesh, other, status=429, headers=basic_auth(other, PASSWORD), source=shared)


async def test_an_unknown_station_id_is_answered_like_a_wrong_password(
    tls_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    """Unsecured stations not allowed: an id that does not exist gets the same 401 as a known
    station's wrong password (status, challenge, body), so the answer tells no one which ids
    exist; device_svc verified the password against a dummy hash, so the time does not
    either (measured in the README, not here)."""
    sid = await _station(rest, 1, PASSWORD)
    unknown = f"NOPE-{uuid.uuid4().hex[:10]}"
    known = await _refused(tls_mesh, sid, headers=basic_auth(sid, WRONG))
    nobody = await _refused(tls_mesh, unknown, headers=basic_auth(unknown, WRONG))
    assert nobody.response.body == known.response.body
    assert nobody.response.headers["WWW-Authenticate"] == known.response.headers["WWW-Authenticate"]


async def _straight_to_the_gateway(
    mesh: Mesh, station_id: str, headers: dict[str, str], source: tuple[str, int] | None = None
) -> ClientConnection:
    """Past Envoy: straight at gateway-1's internal WebSocket port (loopback, behind Envoy)."""
    url = f"ws://127.0.0.1:{mesh.gateways[0].ws_port}/ocpp/{station_id}"
    return await connect(
        url,
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        additional_headers=headers,
        proxy=None,
        open_timeout=10,
        local_addr=source or source_address(),
    )


async def _refused_straight(
    mesh: Mesh, station_id: str, headers: dict[str, str], source: tuple[str, int] | None = None
) -> int:
    with pytest.raises(InvalidStatus) as err:
        ws = await _straight_to_the_gateway(mesh, station_id, headers, source)
        await ws.close()
    return err.value.response.status_code


async def test_forged_proxy_headers_straight_at_the_gateway_are_not_believed(
    tls_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    """Envoy's headers count only with Envoy's secret: a client at the gateway's own port
    claims neither a client certificate (profile 3) nor TLS (profile 2), even guessing the
    secret header."""
    assert tls_mesh.gateways[0].ws_host == "127.0.0.1"  # behind a local Envoy: loopback only
    cert_station = await _station(rest, 3)
    basic_station = await _station(rest, 2, PASSWORD)
    forged = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "192.0.2.10",
    }
    for guess in ({}, {"X-CSMS-Proxy-Secret": "guess"}, {"X-CSMS-Proxy-Secret": ""}):
        xfcc = {"X-Forwarded-Client-Cert": f'Hash=h;Subject="CN={cert_station}"'}
        status = await _refused_straight(tls_mesh, cert_station, {**forged, **xfcc, **guess})
        assert status == 401
        headers = {**forged, **basic_auth(basic_station, PASSWORD), **guess}
        assert await _refused_straight(tls_mesh, basic_station, headers) == 401
    log = (tls_mesh.proc("gateway-1").log or pathlib.Path()).read_text()
    assert "without Envoy's proxy secret" in log
    assert tls_mesh.proc("gateway-1").env["CSMS_GATEWAY_PROXY_SECRET"] not in log


async def test_rotating_forwarded_for_straight_at_the_gateway_is_still_locked_out(
    tls_mesh: Mesh,
) -> None:
    """Guessing passwords for one station id from one address, a new x-forwarded-for each
    time: the gateway counts the real peer, so the sixth failure locks it out (429). The id
    does not exist: answered 401 all the same, like a wrong password."""
    source = source_address()
    sid = f"NOPE-{uuid.uuid4().hex[:8]}"
    statuses = []
    for n in range(7):
        headers = {"X-Forwarded-For": f"198.51.100.{n + 1}", **basic_auth(sid, WRONG)}
        statuses.append(await _refused_straight(tls_mesh, sid, headers, source))
    assert statuses == [401] * 6 + [429], statuses


async def test_stations_through_envoy_are_still_believed(
    tls_mesh: Mesh, rest: httpx.AsyncClient, ca: tuple[Any, Any], tmp_path: pathlib.Path
) -> None:
    """Through Envoy, a client's own x-csms-proxy-secret is replaced by Envoy's: a profile-3
    station with its certificate and a profile-2 one over wss still connect."""
    cert_station = await _station(rest, 3)
    cert, key = pki.issue_client_cert(*ca, cert_station, organization=CPO_NAME)
    ca_pem = tls_mesh.settings.tls_dir() / "ca.pem"
    guess = {"X-CSMS-Proxy-Secret": "guess"}
    await _accepted(
        tls_mesh, cert_station, tls=_client_tls(tmp_path, ca_pem, cert, key), headers=guess
    )
    basic_station = await _station(rest, 2, PASSWORD)
    await _accepted(
        tls_mesh,
        basic_station,
        tls=_client_tls(tmp_path, ca_pem),
        headers={**basic_auth(basic_station, PASSWORD), **guess},
    )
