"""OCPP 2.0.1 A00.FR.421 end to end (OCTT TC_A_07): the stations' wss listener, a real Envoy with
the TLS mode's certificates, completes TLS 1.2 with each required cipher suite and carries an
OCPP session over it; weaker suites and TLS 1.1 are refused.

Each TLS 1.2 client offers exactly one suite (Python's ``ssl``, OpenSSL names); the server
certificate Envoy picks must be of the suite's kind (ECDSA for ECDHE-ECDSA, RSA otherwise).
Station certificates for profile 3 are ECDSA or RSA, signed as SignCertificate signs them.
"""

from __future__ import annotations

import asyncio
import base64
import pathlib
import socket
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import ClientConnection, connect

from common import pki
from deploy.mesh import Mesh

from .conftest import CPO_NAME, rest_client

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery-staple"
# A00.FR.421's four (TLS_ECDHE_ECDSA_WITH_AES_128/256_GCM_*, TLS_RSA_WITH_AES_128/256_GCM_*) and
# the ECDHE-RSA ones, each with the kind of server certificate it needs.
SUITES: dict[str, type[Any]] = {
    "ECDHE-ECDSA-AES128-GCM-SHA256": ec.EllipticCurvePublicKey,
    "ECDHE-ECDSA-AES256-GCM-SHA384": ec.EllipticCurvePublicKey,
    "AES128-GCM-SHA256": rsa.RSAPublicKey,
    "AES256-GCM-SHA384": rsa.RSAPublicKey,
    "ECDHE-RSA-AES128-GCM-SHA256": rsa.RSAPublicKey,
    "ECDHE-RSA-AES256-GCM-SHA384": rsa.RSAPublicKey,
}
# CBC with SHA-1 or SHA-256 MACs: outside the OCPP list, so never negotiated.
WEAK_SUITES = ["ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "AES128-SHA", "AES128-SHA256"]
STATION_KEYS: dict[str, Callable[[], pki.PrivateKey]] = {
    "ecdsa": lambda: ec.generate_private_key(ec.SECP256R1()),
    "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
}


@pytest.fixture
async def rest(tls_mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    """A REST client through this mesh's Envoy, with an operator key."""
    async with rest_client(tls_mesh, tls_mesh.create_api_key("operator", "e2e suites")) as client:
        yield client


async def _station(rest: httpx.AsyncClient, profile: int, password: str = "") -> str:
    sid = f"TLS-{uuid.uuid4().hex[:10]}"
    body: dict[str, object] = {"id": sid, "model": "M1", "securityProfile": profile}
    if password:
        body["basicAuthPassword"] = password
    resp = await rest.post("/v1/chargingStations", json=body)
    assert resp.status_code == 200, resp.text
    return sid


def _csr(station_id: str, key: pki.PrivateKey) -> str:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, CPO_NAME),
            x509.NameAttribute(NameOID.COMMON_NAME, station_id),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _client_context(
    mesh: Mesh,
    tmp_path: pathlib.Path,
    suite: str | None = None,
    chain: str | None = None,
    key: pki.PrivateKey | None = None,
) -> ssl.SSLContext:
    """Trusts the mesh's CA; with ``suite``, TLS 1.2 offering that suite only; with ``chain``,
    presents it (leaf first) and ``key``."""
    context = ssl.create_default_context(cafile=str(mesh.settings.tls_dir() / "ca.pem"))
    if suite is not None:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(suite)
        offered = [c["name"] for c in context.get_ciphers() if c["protocol"] != "TLSv1.3"]
        assert offered == [suite], offered  # else this client, not the server, decides
    if chain is not None and key is not None:
        name = uuid.uuid4().hex
        (tmp_path / f"{name}.pem").write_text(chain)
        (tmp_path / f"{name}.key").write_text(pki.key_pem(key))
        context.load_cert_chain(tmp_path / f"{name}.pem", tmp_path / f"{name}.key")
    return context


async def _open(
    mesh: Mesh, station_id: str, context: ssl.SSLContext, headers: dict[str, str] | None = None
) -> ClientConnection:
    return await connect(
        f"wss://localhost:{mesh.settings.station_tls_port}/ocpp/{station_id}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        additional_headers=headers,
        ssl=context,
        proxy=None,
        open_timeout=10,
    )


async def _boot(ws: ClientConnection) -> None:
    """A BootNotification, answered Accepted."""
    boot = {"reason": "PowerUp", "chargingStation": {"model": "M1", "vendorName": "V"}}
    await ws.send(orjson.dumps([2, uuid.uuid4().hex, "BootNotification", boot]).decode())
    reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
    assert reply[0] == 3 and reply[2]["status"] == "Accepted", reply


def _negotiated(ws: ClientConnection) -> tuple[str, str, type[Any]]:
    """The TLS version, the cipher suite and the kind of key of the server's certificate."""
    tls = ws.transport.get_extra_info("ssl_object")
    assert isinstance(tls, ssl.SSLObject)
    name, version, _ = tls.cipher() or ("", "", 0)
    server_cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True) or b"")
    return version, name, type(server_cert.public_key())


def _basic(station_id: str) -> dict[str, str]:
    return {
        "Authorization": "Basic " + base64.b64encode(f"{station_id}:{PASSWORD}".encode()).decode()
    }


@pytest.mark.parametrize("credential", ["profile-2-password", "profile-3-ecdsa", "profile-3-rsa"])
@pytest.mark.parametrize("suite", list(SUITES))
async def test_each_required_tls_1_2_suite_carries_an_ocpp_session(
    tls_mesh: Mesh,
    rest: httpx.AsyncClient,
    ca: tuple[x509.Certificate, pki.PrivateKey],
    tmp_path: pathlib.Path,
    suite: str,
    credential: str,
) -> None:
    """TLS 1.2 with only ``suite`` offered: negotiated with a server certificate of its kind,
    then a WebSocket where a BootNotification is answered (Basic auth or either kind of client
    certificate)."""
    if credential == "profile-2-password":
        sid = await _station(rest, 2, PASSWORD)
        context, headers = _client_context(tls_mesh, tmp_path, suite), _basic(sid)
    else:
        sid = await _station(rest, 3)
        key = STATION_KEYS[credential.removeprefix("profile-3-")]()
        chain = pki.sign_csr(*ca, _csr(sid, key), station_id=sid)
        context, headers = _client_context(tls_mesh, tmp_path, suite, chain, key), {}
    ws = await _open(tls_mesh, sid, context, headers)
    try:
        version, negotiated, server_key = _negotiated(ws)
        assert (version, negotiated) == ("TLSv1.2", suite)
        assert issubclass(server_key, SUITES[suite]), server_key
        await _boot(ws)
    finally:
        await ws.close()


async def test_tls_1_3_stays_allowed(
    tls_mesh: Mesh, rest: httpx.AsyncClient, tmp_path: pathlib.Path
) -> None:
    """A client that prefers TLS 1.3 gets it and boots (profile 2)."""
    sid = await _station(rest, 2, PASSWORD)
    ws = await _open(tls_mesh, sid, _client_context(tls_mesh, tmp_path), _basic(sid))
    try:
        assert _negotiated(ws)[0] == "TLSv1.3"
        await _boot(ws)
    finally:
        await ws.close()


def _handshake(mesh: Mesh, context: ssl.SSLContext) -> None:
    """A bare TLS handshake with the wss listener (no WebSocket, no station)."""
    with socket.create_connection(("127.0.0.1", mesh.settings.station_tls_port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost"):
            pass


@pytest.mark.parametrize("suite", WEAK_SUITES)
def test_a_suite_outside_the_list_is_refused(
    tls_mesh: Mesh, tmp_path: pathlib.Path, suite: str
) -> None:
    """A TLS 1.2 client offering only a CBC suite gets a handshake_failure alert from Envoy."""
    context = _client_context(tls_mesh, tmp_path, suite)
    with pytest.raises(ssl.SSLError) as err:
        _handshake(tls_mesh, context)
    assert err.value.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE", err.value


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_1_1_is_refused(tls_mesh: Mesh, tmp_path: pathlib.Path) -> None:
    """A TLS 1.1 client (which this client's OpenSSL is told to allow) gets a protocol_version
    alert from Envoy."""
    context = _client_context(tls_mesh, tmp_path)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 offers TLS 1.1 at level 0 only
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError) as err:
        _handshake(tls_mesh, context)
    assert err.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", err.value


@pytest.mark.parametrize("kind", list(STATION_KEYS))
async def test_sign_certificate_gives_a_working_profile_3_certificate(
    tls_mesh: Mesh,
    rest: httpx.AsyncClient,
    ca: tuple[x509.Certificate, pki.PrivateKey],
    tmp_path: pathlib.Path,
    kind: str,
) -> None:
    """A profile-3 station renews its certificate through SignCertificate → CertificateSigned
    with an ECDSA or RSA key, then reconnects with the new chain over TLS 1.2 and boots."""
    sid = await _station(rest, 3)
    first_key = STATION_KEYS["ecdsa"]()
    first = pki.sign_csr(*ca, _csr(sid, first_key), station_id=sid)
    new_key = STATION_KEYS[kind]()
    ws = await _open(tls_mesh, sid, _client_context(tls_mesh, tmp_path, None, first, first_key))
    try:
        await _boot(ws)
        request = {"csr": _csr(sid, new_key), "certificateType": "ChargingStationCertificate"}
        await ws.send(orjson.dumps([2, "sign-1", "SignCertificate", request]).decode())
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply == [3, "sign-1", {"status": "Accepted"}], reply
        call = orjson.loads(await asyncio.wait_for(ws.recv(), 15))
        assert call[0] == 2 and call[2] == "CertificateSigned", call
        await ws.send(orjson.dumps([3, call[1], {"status": "Accepted"}]).decode())
        chain = call[3]["certificateChain"]
    finally:
        await ws.close()
    assert pki.verify_chain(chain, ca[0]).public_key() == new_key.public_key()

    suite = "ECDHE-RSA-AES256-GCM-SHA384" if kind == "rsa" else "ECDHE-ECDSA-AES128-GCM-SHA256"
    context = _client_context(tls_mesh, tmp_path, suite, chain, new_key)
    ws = await _open(tls_mesh, sid, context)
    try:
        assert _negotiated(ws)[:2] == ("TLSv1.2", suite)
        await _boot(ws)
    finally:
        await ws.close()
