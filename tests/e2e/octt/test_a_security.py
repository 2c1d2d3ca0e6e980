"""Part 6, functional block A (Security), CSMS test cases of the connection itself and of the
station certificate: Basic authentication (TC_A_01 - TC_A_03), TLS with the CSMS's server
certificate (TC_A_04, TC_A_06), TLS with the station's client certificate (TC_A_07, TC_A_08) and
the certificate renewed on the CSMS's request for V2G, combined and rejected certificates
(TC_A_12 - TC_A_14). TC_A_09 - TC_A_11 and TC_A_19 are in test_a_security_profiles.py.

There is no TC_A_05_CSMS: TC_A_05 (an invalid server certificate) tests the station deciding to
hang up, so Part 6 has only TC_A_05_CS.

The mesh is a TLS-mode mesh of this module's own (Envoy terminating wss with the TLS mode's ECDSA
and RSA server certificates of the local CA, ``Mesh.write_tls()``; unsecured stations refused).
The station (:class:`SecurityStation`) connects as its security profile says: profile 1 over ws
with Basic auth, 2 over wss with Basic auth, 3 over wss with its client certificate; it trusts
the local CA as its CSMSRootCertificate and the V2G root of the CSMS's embedded Plug & Charge
test PKI as its V2GRootCertificate (the CSMS signs V2G certificates with that PKI's CPO
sub-CA). Over the connection it is an :class:`~tests.e2e.octt.station.OcttStation` for the
reusable states. Each of its connections leaves from a loopback address of its own, so refused
attempts never lock another test out (the gateway counts failures per address and station id).

Sources of the steps and tool validations: OCPP 2.0.1 Part 6 (FINAL, 2023-06-30) as transcribed
at ocpplab.com (TC_A_01, TC_A_02, TC_A_06, TC_A_08, TC_A_14, TC_A_14_CS for the station's
security event); TC_A_03, TC_A_04, TC_A_07, TC_A_12 and TC_A_13 as quoted by
tzi-app/tzi-OCTT (based on Edition 4).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import pathlib
import random
import secrets
import ssl
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from common import pki
from deploy.mesh import Mesh
from tests.e2e.conftest import CPO_NAME, basic_auth, rest_client, source_address
from tests.e2e.octt.states import booted
from tests.e2e.octt.station import OcttStation, Verdicts, find_dicts
from tests.e2e.station_sim import Station, now

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]

#: <Configured BasicAuthPassword> of the OCTT, the password the CSMS has for the station.
PASSWORD = "octt-configured-password-0"
#: OCPP's identifierString, of which a passwordString is made (Part 2).
IDENTIFIER_STRING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789*-_=:+|@."
#: The endpoint the station dials: the FQDN the server certificate must name (A00.FR.510).
SERVER_NAME = "localhost"
#: A00.FR.318 / A00.FR.421: the TLS 1.2 suites a CSMS SHALL support (OpenSSL's names), with the
#: kind of server key each needs (the CSMS needs an ECDSA and an RSA certificate).
REQUIRED_SUITES: dict[str, type[Any]] = {
    "ECDHE-ECDSA-AES128-GCM-SHA256": ec.EllipticCurvePublicKey,  # TLS_ECDHE_ECDSA_..._128_GCM
    "ECDHE-ECDSA-AES256-GCM-SHA384": ec.EllipticCurvePublicKey,  # TLS_ECDHE_ECDSA_..._256_GCM
    "AES128-GCM-SHA256": rsa.RSAPublicKey,  # TLS_RSA_WITH_AES_128_GCM_SHA256
    "AES256-GCM-SHA384": rsa.RSAPublicKey,  # TLS_RSA_WITH_AES_256_GCM_SHA384
}
#: The OCTT's <Configured Country>, <Configured Organization>, <Configured OrganizationalUnit>.
CSR_COUNTRY, CSR_ORGANIZATION, CSR_UNIT = "NL", CPO_NAME, "Conformance"
#: TriggerMessage's requestedMessage → the certificateType of the SignCertificateRequest that
#: follows (None: omitted, the combined certificate of TC_A_13).
SIGN_TRIGGERS: dict[str, str | None] = {
    "SignChargingStationCertificate": "ChargingStationCertificate",
    "SignV2GCertificate": "V2GCertificate",
    "SignCombinedCertificate": None,
}


@pytest.fixture(scope="module")
def tls_files(tls_mesh: Mesh) -> dict[str, pathlib.Path]:
    """The TLS mode's files (the local CA, Envoy's ECDSA and RSA server certificates): the ones
    the running mesh uses, kept as they are (write_tls reissues nothing that still fits)."""
    return tls_mesh.write_tls()


@pytest.fixture
async def rest(tls_mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    """REST through this mesh's Envoy, with an operator key (the OCTT's manual actions)."""
    async with rest_client(tls_mesh, tls_mesh.create_api_key("operator", "e2e OCTT A")) as client:
        yield client


# -- the station -----------------------------------------------------------------------------------


def _public(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@dataclasses.dataclass
class SecurityStation:
    """A station of one security profile, with its credentials and its certificate store."""

    station_id: str
    profile: int
    mesh: Mesh
    ca: tuple[x509.Certificate, pki.PrivateKey]
    workdir: pathlib.Path
    verdicts: Verdicts
    password: str = ""
    # Its ChargingStationCertificate and key (profile 3), and its V2G certificate when it has one.
    certificate: tuple[x509.Certificate, pki.PrivateKey] | None = None
    v2g_certificate: tuple[x509.Certificate, pki.PrivateKey] | None = None
    # Its V2GRootCertificate (TC_A_12: the CSMS's embedded test PKI's, from REST).
    v2g_root: x509.Certificate | None = None
    # The OCTT's configured answer to a CertificateSigned (TC_A_14: Rejected).
    certificate_answer: str = "Accepted"
    # The key and certificateType of its last CSR.
    csr_key: pki.PrivateKey | None = None
    csr_type: str | None = None
    sim: Station | None = None

    # -- connecting ------------------------------------------------------------------------------

    def tls(
        self,
        certificate: tuple[x509.Certificate, pki.PrivateKey] | None = None,
        *,
        suite: str | None = None,
        version: ssl.TLSVersion | None = None,
    ) -> ssl.SSLContext:
        """A client context trusting the CSMS's CA (its CSMSRootCertificate); presenting
        ``certificate``; offering TLS 1.2 with ``suite`` only, or only TLS ``version``."""
        context = ssl.create_default_context(cadata=pki.cert_pem(self.ca[0]))
        if suite is not None:
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            context.set_ciphers(suite)
            offered = [c["name"] for c in context.get_ciphers() if c["protocol"] != "TLSv1.3"]
            assert offered == [suite], offered  # else this client, not the CSMS, would choose
        if version is not None:
            if version < ssl.TLSVersion.TLSv1_2:
                context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 offers < 1.2 only so
            context.minimum_version = context.maximum_version = version
        if certificate is not None:
            name = uuid.uuid4().hex
            (self.workdir / f"{name}.pem").write_text(pki.cert_pem(certificate[0]))
            (self.workdir / f"{name}.key").write_text(pki.key_pem(certificate[1]))
            context.load_cert_chain(self.workdir / f"{name}.pem", self.workdir / f"{name}.key")
        return context

    def own_tls(self) -> ssl.SSLContext:
        """The context of its own connections: its certificate at profile 3."""
        return self.tls(self.certificate if self.profile == 3 else None)

    async def open(
        self, *, headers: dict[str, str] | None = None, tls: ssl.SSLContext | None = None
    ) -> ClientConnection:
        """The HTTP upgrade request: ws without ``tls``, else wss to the CSMS's FQDN."""
        if tls is None:
            url = f"ws://127.0.0.1:{self.mesh.settings.gateway_port}/ocpp/{self.station_id}"
        else:
            port = self.mesh.settings.station_tls_port
            url = f"wss://{SERVER_NAME}:{port}/ocpp/{self.station_id}"
        return await connect(
            url,
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            additional_headers=headers,
            ssl=tls,
            proxy=None,
            open_timeout=10,
            local_addr=source_address(),
        )

    async def handshake(
        self, *, headers: dict[str, str] | None = None, tls: ssl.SSLContext | None = None
    ) -> tuple[int, ClientConnection | None]:
        """:meth:`open`; the HTTP status (101 when upgraded) and the connection."""
        try:
            ws = await self.open(headers=headers, tls=tls)
        except InvalidStatus as exc:
            return exc.response.status_code, None
        return 101, ws

    def credentials(self) -> tuple[dict[str, str], ssl.SSLContext | None]:
        """The headers and TLS of a connection as its profile says."""
        headers = basic_auth(self.station_id, self.password) if self.profile in (1, 2) else {}
        return headers, (None if self.profile == 1 else self.own_tls())

    async def connect(self, step: str) -> OcttStation | None:
        """Connect as its profile says; see :meth:`adopt`."""
        headers, tls = self.credentials()
        return await self.adopt(step, *await self.handshake(headers=headers, tls=tls))

    async def adopt(
        self, step: str, status: int, ws: ClientConnection | None
    ) -> OcttStation | None:
        """A check of ``step`` that the CSMS upgraded the connection (``status``, ``ws`` of
        :meth:`handshake`); the connected station, for the reusable states."""
        if not self.verdicts.expect(
            step, "the CSMS upgrades the connection to a WebSocket", ws is not None, status
        ):
            return None
        assert ws is not None
        self.verdicts.equal(step, "the WebSocket subprotocol", ws.subprotocol, "ocpp2.0.1")
        self.sim = Station(self.station_id, ws)
        self.sim.answer("CertificateSigned", self._certificate_signed)
        return self.ocpp

    @property
    def ocpp(self) -> OcttStation:
        self.verdicts.stop_unless("any step", "the station is connected", self.sim is not None)
        assert self.sim is not None
        return OcttStation(self.sim, self.verdicts, {"idToken": "OCTT-A", "type": "ISO14443"})

    async def disconnect(self) -> None:
        if self.sim is not None:
            self.verdicts.equal("any step", "the CSMS's schema breaches", self.sim.violations, [])
            await self.sim.close()
            self.sim = None

    async def finish(self) -> None:
        """The end of a run: disconnected, every check passed, no schema breach of the CSMS."""
        await self.disconnect()
        self.verdicts.assert_passed()

    # -- certificates ----------------------------------------------------------------------------

    def new_csr(self, certificate_type: str | None) -> str:
        """A fresh key and its CSR for ``certificateType`` (None: a combined certificate): CN the
        station id (A02.FR.02) for a certificate that serves the connection to the CSMS, the
        SECC's EVSE id for a V2G one; C, O and OU as configured."""
        self.csr_key = ec.generate_private_key(ec.SECP256R1())
        self.csr_type = certificate_type
        cn = f"NL*OCT*E{self.station_id[-6:]}" if certificate_type == "V2GCertificate" else None
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, CSR_COUNTRY),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, CSR_ORGANIZATION),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, CSR_UNIT),
                x509.NameAttribute(NameOID.COMMON_NAME, cn or self.station_id),
            ]
        )
        csr = x509.CertificateSigningRequestBuilder().subject_name(subject)
        signed = csr.sign(self.csr_key, hashes.SHA256())
        return signed.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def verify(self, chain_pem: str) -> tuple[x509.Certificate | None, str]:
        """A CertificateSigned chain as the station checks it before installing it: PEM, leaf
        first, issued by its root, valid now, for the key of its last CSR and, unless a V2G
        certificate, naming the station. The leaf, or None and why not."""
        try:
            certs = x509.load_pem_x509_certificates(chain_pem.encode("ascii"))
            leaf = certs[0]
            if self.csr_type == "V2GCertificate" and self.v2g_root is not None:
                _verify_path(certs, self.v2g_root)
            else:
                leaf.verify_directly_issued_by(self.ca[0])
        except (ValueError, TypeError, InvalidSignature) as exc:
            return None, f"not a chain of its root: {exc!r}"
        at = datetime.datetime.now(datetime.UTC)
        if not leaf.not_valid_before_utc <= at <= leaf.not_valid_after_utc:
            return None, "not valid now"
        if self.csr_key is None or _public(leaf.public_key()) != _public(self.csr_key.public_key()):
            return None, "not for the key of its CSR"
        if self.csr_type != "V2GCertificate" and pki.subject_cn(leaf) != self.station_id:
            return None, f"CN {pki.subject_cn(leaf)!r} is not the station id"
        return leaf, ""

    def _certificate_signed(self, request: JSON) -> JSON:
        leaf, _why = self.verify(request["certificateChain"])
        if leaf is None or self.certificate_answer != "Accepted":
            return {"status": "Rejected"}
        assert self.csr_key is not None
        if self.csr_type == "V2GCertificate":
            self.v2g_certificate = (leaf, self.csr_key)
        else:  # a station certificate, or a combined one: its certificate for the CSMS
            self.certificate = (leaf, self.csr_key)
        return {"status": "Accepted"}


@pytest.fixture
async def make_station(
    request: pytest.FixtureRequest,
    tls_mesh: Mesh,
    ca: tuple[x509.Certificate, pki.PrivateKey],
    rest: httpx.AsyncClient,
    tmp_path: pathlib.Path,
) -> AsyncIterator[Any]:
    """``await make_station(profile)``: a station registered at ``profile`` with its password (1
    and 2) or a certificate of the CSMS's CA (3; ``key`` its type), not connected yet."""
    made: list[SecurityStation] = []

    async def make(profile: int, key: pki.KeyType = "ec-p256") -> SecurityStation:
        sid = f"OCTT-A-{uuid.uuid4().hex[:10]}"
        body: JSON = {"id": sid, "model": "OCTT-E2E", "securityProfile": profile}
        if profile in (1, 2):
            body["basicAuthPassword"] = PASSWORD
        resp = await rest.post("/v1/chargingStations", json=body)
        assert resp.status_code == 200, resp.text
        station = SecurityStation(
            sid,
            profile,
            tls_mesh,
            ca,
            tmp_path,
            Verdicts(request.node.name),
            password=PASSWORD if profile in (1, 2) else "",
            certificate=pki.issue_client_cert(*ca, sid, key=key, organization=CPO_NAME)
            if profile == 3
            else None,
        )
        made.append(station)
        return station

    yield make
    for station in made:
        await station.disconnect()


# -- what a TLS client sees ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TlsSession:
    version: str
    suite: str
    compression: str | None
    server_certificate: x509.Certificate


def _session(tls: ssl.SSLObject) -> TlsSession:
    suite, version, _bits = tls.cipher() or ("", "", 0)
    der = tls.getpeercert(binary_form=True) or b""
    return TlsSession(version, suite, tls.compression(), x509.load_der_x509_certificate(der))


async def tls_handshake(cs: SecurityStation, context: ssl.SSLContext) -> TlsSession:
    """A TLS handshake with the CSMS's wss endpoint, nothing after it (the OCTT's validations
    "before finishing the TLS handshake"); what was negotiated."""
    _reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            "127.0.0.1",
            cs.mesh.settings.station_tls_port,
            ssl=context,
            server_hostname=SERVER_NAME,
            local_addr=source_address(),
        ),
        10,
    )
    try:
        return _session(writer.get_extra_info("ssl_object"))
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


def ws_session(ws: ClientConnection) -> TlsSession:
    tls = ws.transport.get_extra_info("ssl_object")
    assert isinstance(tls, ssl.SSLObject)
    return _session(tls)


def check_tls_version(verdicts: Verdicts, step: str, session: TlsSession) -> None:
    """A00.FR.313/416: TLS 1.2 or above."""
    verdicts.expect(
        step,
        "the CSMS uses TLS version 1.2 or above",
        session.version in ("TLSv1.2", "TLSv1.3"),
        session.version,
    )


def check_key_size(verdicts: Verdicts, step: str, what: str, key: Any) -> None:
    """A00.FR.502/503: RSA (or DSA) keys of at least 2048 bits, elliptic curves of 224."""
    if isinstance(key, rsa.RSAPublicKey):
        verdicts.expect(step, f"{what}: an RSA key of >= 2048 bits", key.key_size >= 2048, key)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        verdicts.expect(
            step, f"{what}: an EC key of >= 224 bits", key.curve.key_size >= 224, key.curve.name
        )
    else:
        verdicts.fail(step, f"{what}: an RSA or EC key", type(key).__name__)


def check_server_certificate(
    verdicts: Verdicts,
    step: str,
    cert: x509.Certificate,
    configured: dict[str, x509.Certificate],
) -> None:
    """The OCTT's validations of the server certificate (A00.FR.502/503, 507, 508, 510)."""
    check_key_size(verdicts, step, "the server certificate", cert.public_key())
    verdicts.equal(step, "the server certificate's X.509 version", cert.version, x509.Version.v3)
    # A00.FR.507: stored (and handed out) as PEM: it is one of the CSMS's PEM files, and what
    # came over the wire (DER, as TLS carries it) is that certificate, PEM-encoded or not.
    pem = ssl.DER_cert_to_PEM_cert(cert.public_bytes(serialization.Encoding.DER))
    verdicts.expect(
        step,
        "the server certificate is the configured one (a PEM file of the CSMS)",
        x509.load_pem_x509_certificate(pem.encode()) in configured.values(),
        cert.subject.rfc4514_string(),
    )
    verdicts.expect(step, "the server certificate includes a serial number", cert.serial_number > 0)
    cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    verdicts.equal(step, "the server certificate's subject CN (the FQDN)", cns, [SERVER_NAME])
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    verdicts.expect(
        step, "the server certificate's SAN names the FQDN", SERVER_NAME in names, names
    )


def check_issued_certificate(
    cs: SecurityStation, step: str, chain: str, *, cn: str | None
) -> x509.Certificate | None:
    """The OCTT's validations of a CertificateSigned chain: PEM X.509 (A00.FR.507), generated
    from the CSR (its key), a key of >= 224 bits, a serial number (A00.FR.508) and, when ``cn``,
    the subject CN (the station's serial number, as Part 2's certificate properties have it)."""
    v = cs.verdicts
    try:
        certs = x509.load_pem_x509_certificates(chain.encode("ascii"))
    except ValueError as exc:
        v.fail(step, "certificateChain is PEM-encoded X.509", str(exc))
        return None
    v.expect(step, "certificateChain is PEM-encoded X.509", bool(certs), chain)
    leaf = certs[0]
    mine = cs.csr_key is not None and _public(leaf.public_key()) == _public(cs.csr_key.public_key())
    v.expect(step, "the (leaf) certificate is generated from the CSR of step 3", mine, leaf)
    check_key_size(v, step, "the signed certificate", leaf.public_key())
    v.expect(step, "the certificate includes a serial number", leaf.serial_number > 0)
    if cs.csr_type == "V2GCertificate" and cs.v2g_root is not None:
        # The OCTT's "signed by the V2G root or sub-CA": leaf, sub-CA, V2G root.
        try:
            _verify_path(certs, cs.v2g_root)
        except (ValueError, TypeError, InvalidSignature) as exc:
            v.fail(step, "the certificate is signed by a V2G sub-CA of the V2G root", repr(exc))
        else:
            v.expect(
                step, "the certificate is signed by a V2G sub-CA of the V2G root", len(certs) > 1
            )
        return leaf
    try:
        leaf.verify_directly_issued_by(cs.ca[0])
    except (ValueError, TypeError) as exc:
        v.fail(step, "the certificate is signed by the CSMS's CA", str(exc))
    else:
        v.expect(step, "the certificate is signed by the CSMS's CA", True)
    if cn is not None:
        got = [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        v.equal(step, "the certificate's subject CN (the station's serial number)", got, [cn])
    return leaf


def _verify_path(certs: list[x509.Certificate], root: x509.Certificate) -> None:
    """Each certificate of a chain (leaf first) signed by the next, the last by ``root``."""
    for cert, issuer in zip(certs, [*certs[1:], root], strict=True):
        cert.verify_directly_issued_by(issuer)


async def renew(cs: SecurityStation, rest: httpx.AsyncClient, requested_message: str) -> Any:
    """Steps 1-6 of a certificate update by request of the CSMS (A02).

    Manual action: request the CSMS to send a TriggerMessageRequest (REST ``:triggerMessage``).
    1. The CSMS sends a TriggerMessageRequest; tool validation: requestedMessage
    ``requested_message``. 2. The OCTT responds Accepted. 3. The OCTT sends a
    SignCertificateRequest (a new CSR; certificateType as the trigger asks). 4. The CSMS responds;
    tool validation: status Accepted. 5. The CSMS sends a CertificateSignedRequest. 6. The OCTT
    responds (as configured). The CertificateSigned call the station received (and answered).
    """
    station = cs.station_id
    resp = await rest.post(
        f"/v1/chargingStations/{station}:triggerMessage",
        json={"requestedMessage": requested_message},
    )
    cs.verdicts.equal("manual action", "the operator's HTTP status", resp.status_code, 200)
    assert cs.sim is not None
    triggers = cs.sim.calls("TriggerMessage")
    cs.verdicts.stop_unless(
        "step 1", "the CSMS sends a TriggerMessageRequest", bool(triggers), resp.text
    )
    cs.verdicts.equal(
        "step 1",
        "requestedMessage",
        triggers[-1].payload.get("requestedMessage"),
        requested_message,
    )
    cs.verdicts.equal("step 2", "the station's answer (REST)", resp.json(), {"status": "Accepted"})

    certificate_type = SIGN_TRIGGERS[requested_message]
    request: JSON = {"csr": cs.new_csr(certificate_type)}
    if certificate_type is not None:
        request["certificateType"] = certificate_type
    answer = await cs.ocpp.send("steps 3-4", "SignCertificate", request)
    cs.verdicts.equal(
        "step 4", "SignCertificateResponse status", (answer or {}).get("status"), "Accepted"
    )
    try:
        signed = await cs.sim.wait_for("CertificateSigned", within=15)
    except TimeoutError:
        signed = None
    cs.verdicts.stop_unless(
        "step 5", "the CSMS sends a CertificateSignedRequest", signed is not None
    )
    assert signed is not None
    await cs.sim.wait_answered(signed)
    return signed


# -- A00: Basic authentication ---------------------------------------------------------------------


@pytest.mark.parametrize("profile", [1, 2])
async def test_tc_a_01_basic_auth_valid(make_station: Any, profile: int) -> None:
    """TC_A_01_CSMS Basic Authentication - Valid username/password combination (A00.FR.204,
    B01.FR.02).

    Configuration: the CSMS has the station's password (<Configured BasicAuthPassword>), at
    security profile 1 (ws) or 2 (wss). 1. The OCTT sends an HTTP upgrade request with
    ``Authorization: Basic base64(<ChargingStationId>:<BasicAuthPassword>)``. 2. The CSMS
    validates it and upgrades the connection. 3-4. BootNotificationRequest; tool validation:
    BootNotificationResponse status Accepted. 5-6. The OCTT notifies the CSMS about the state of
    all connectors (StatusNotification and NotifyEvent, Available), which the CSMS answers.
    """
    cs = await make_station(profile)
    if await cs.connect("steps 1-2"):
        await booted(cs.ocpp)  # steps 3-6
    await cs.finish()


@pytest.mark.parametrize("profile", [1, 2])
async def test_tc_a_02_basic_auth_username_not_station_id(make_station: Any, profile: int) -> None:
    """TC_A_02_CSMS Basic Authentication - Username does not equal ChargingStationId
    (A00.FR.204).

    1. The OCTT sends an HTTP upgrade request with ``Authorization: Basic
    base64(<ChargingStationId>Invalid:<BasicAuthPassword>)`` (the right password). 2. The CSMS
    validates the username/password combination and rejects the upgrade (here: HTTP 401 with
    the Basic challenge, no WebSocket).
    """
    cs = await make_station(profile)
    _, tls = cs.credentials()
    status, ws = await cs.handshake(
        headers=basic_auth(f"{cs.station_id}Invalid", PASSWORD), tls=tls
    )
    if ws is not None:
        await ws.close()
    cs.verdicts.equal("step 2", "the CSMS's answer to the upgrade request", status, 401)
    await cs.finish()


@pytest.mark.parametrize("profile", [1, 2])
async def test_tc_a_03_basic_auth_invalid_password(make_station: Any, profile: int) -> None:
    """TC_A_03_CSMS Basic Authentication - Invalid password (A00.FR.204).

    1. The OCTT sends an HTTP upgrade request without an Authorization header. 2. The CSMS
    rejects the upgrade. 3. The OCTT sends an HTTP upgrade request with ``Authorization: Basic
    base64(<ChargingStationId>:<password>)``, the password a random identifierString of 16 to
    40 characters (not the station's). 4. The CSMS validates it and rejects the upgrade.
    """
    cs = await make_station(profile)
    _, tls = cs.credentials()
    status, ws = await cs.handshake(headers={}, tls=tls)
    cs.verdicts.equal("steps 1-2", "the CSMS's answer to the upgrade request", status, 401)
    wrong = "".join(secrets.choice(IDENTIFIER_STRING) for _ in range(random.randint(16, 40)))
    status, ws2 = await cs.handshake(headers=basic_auth(cs.station_id, wrong), tls=tls)
    cs.verdicts.equal("steps 3-4", "the CSMS's answer to the upgrade request", status, 401)
    for opened in (ws, ws2):
        if opened is not None:
            await opened.close()
    await cs.finish()


# -- A00: TLS, the CSMS's server certificate -------------------------------------------------------


@pytest.mark.parametrize("profile", [2, 3])
async def test_tc_a_04_tls_server_certificate_valid(
    make_station: Any, tls_files: dict[str, pathlib.Path], profile: int
) -> None:
    """TC_A_04_CSMS TLS - server-side certificate - Valid certificate (A00.FR.306, 307, 312,
    318, 321, 502, 503, 507, 508, 510).

    1-4. The OCTT does a TLS handshake (with its client certificate at profile 3); the CSMS
    answers with the <Configured server certificate>. Tool validations before finishing the
    handshake: TLS 1.2 or above; the four suites of A00.FR.318 supported (each offered alone
    over TLS 1.2, with the server certificate of its kind: ECDSA, RSA); the server key RSA >=
    2048 or EC >= 224 bits; the certificate X.509 in PEM, with a serial number, its subject CN
    the FQDN of the server's endpoint (beyond: the SAN names it too, as TLS clients check); no
    TLS compression (A00.FR.321). 5-6. The HTTP upgrade request (Basic auth at profile 2) is
    upgraded. 7-8. BootNotification; tool validation: status Accepted. 9-10. Every connector
    Available (StatusNotification, NotifyEvent), answered.
    """
    cs = await make_station(profile)
    configured = {
        name: pki.load_cert(tls_files[name].read_bytes())
        for name in ("server_cert", "server_rsa_cert")
    }
    for suite, key_kind in REQUIRED_SUITES.items():
        step = f"steps 1-4 ({suite})"
        tls = cs.tls(cs.certificate, suite=suite)
        try:
            session = await tls_handshake(cs, tls)
        except (ssl.SSLError, OSError) as exc:
            cs.verdicts.fail(step, f"the CSMS supports {suite} (TLS 1.2)", repr(exc))
            continue
        cs.verdicts.equal(
            step,
            "the negotiated TLS version and suite",
            (session.version, session.suite),
            ("TLSv1.2", suite),
        )
        cert = session.server_certificate
        cs.verdicts.expect(
            step,
            f"a server certificate of the suite's kind ({key_kind.__name__})",
            isinstance(cert.public_key(), key_kind),
            type(cert.public_key()).__name__,
        )
        check_server_certificate(cs.verdicts, step, cert, configured)
        cs.verdicts.equal(step, "TLS compression (A00.FR.321)", session.compression, None)

    headers, tls = cs.credentials()
    status, ws = await cs.handshake(headers=headers, tls=tls)
    if ws is not None:
        session = ws_session(ws)
        check_tls_version(cs.verdicts, "steps 1-4", session)
        check_server_certificate(cs.verdicts, "steps 1-4", session.server_certificate, configured)
        cs.verdicts.equal("steps 1-4", "TLS compression (A00.FR.321)", session.compression, None)
    if await cs.adopt("steps 5-6", status, ws):
        await booted(cs.ocpp)  # steps 7-10
    await cs.finish()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1(_1)? is deprecated:DeprecationWarning")
@pytest.mark.parametrize("profile", [2, 3])
async def test_tc_a_06_tls_version_too_low(make_station: Any, profile: int) -> None:
    """TC_A_06_CSMS TLS - server-side certificate - TLS version too low (A00.FR.314, 315, 409,
    416, 417, 418).

    1. The OCTT starts a TLS handshake with a version lower than 1.2 (here TLS 1.0, then 1.1).
    2. The CSMS notices it and terminates the connection (Envoy's protocol_version alert). 3-6.
    A handshake with TLS 1.2 or higher completes (the client certificate sent at profile 3).
    7-8. The HTTP upgrade request (Basic auth at profile 2) is upgraded. 9-10. BootNotification;
    tool validation: status Accepted. 11-12. Every connector Available, answered.
    """
    cs = await make_station(profile)
    headers, _ = cs.credentials()
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        step = f"steps 1-2 ({version.name})"
        tls = cs.tls(cs.certificate, version=version)
        try:
            ws = await cs.open(headers=headers, tls=tls)
        except ssl.SSLError as exc:
            cs.verdicts.equal(
                step,
                "the CSMS terminates the handshake (TLS alert)",
                exc.reason,
                "TLSV1_ALERT_PROTOCOL_VERSION",
            )
        except (OSError, EOFError, InvalidStatus) as exc:
            cs.verdicts.fail(step, "the CSMS terminates the handshake (TLS alert)", repr(exc))
        else:
            cs.verdicts.fail(
                step, "the CSMS terminates the handshake", "it upgraded the connection"
            )
            await ws.close()

    status, ws = await cs.handshake(headers=headers, tls=cs.own_tls())
    if ws is not None:
        check_tls_version(cs.verdicts, "steps 3-6", ws_session(ws))
    if await cs.adopt("steps 7-8", status, ws):
        await booted(cs.ocpp)  # steps 9-12
    await cs.finish()


# -- A00: TLS, the station's client certificate ----------------------------------------------------


@pytest.mark.parametrize("key", ["ec-p256", "rsa-2048"])
async def test_tc_a_07_tls_client_certificate_valid(make_station: Any, key: pki.KeyType) -> None:
    """TC_A_07_CSMS TLS - Client-side certificate - valid certificate (A00.FR.409, 410, 415,
    416, 421), with an ECDSA and an RSA station certificate of the CSMS's CA (A00.FR.421's note:
    profile 3 stations of both kinds).

    1-4. The OCTT does a TLS handshake sending its <Configured client certificate>; the CSMS
    finishes it. Tool validations: TLS 1.2 or above; the four suites of A00.FR.421 supported
    (TLS_ECDHE_ECDSA_WITH_AES_128/256_GCM_*, TLS_RSA_WITH_AES_128/256_GCM_*: each offered alone
    over TLS 1.2, the client certificate sent). 5-6. The HTTP upgrade request is upgraded. 7-8.
    BootNotification; tool validation: status Accepted. 9-10. Every connector Available,
    answered.
    """
    cs = await make_station(3, key)
    for suite in REQUIRED_SUITES:
        step = f"steps 1-4 ({suite})"
        try:
            session = await tls_handshake(cs, cs.tls(cs.certificate, suite=suite))
        except (ssl.SSLError, OSError) as exc:
            cs.verdicts.fail(step, f"the CSMS supports {suite} (TLS 1.2)", repr(exc))
            continue
        cs.verdicts.equal(
            step,
            "the negotiated TLS version and suite",
            (session.version, session.suite),
            ("TLSv1.2", suite),
        )

    status, ws = await cs.handshake(tls=cs.own_tls())
    if ws is not None:
        check_tls_version(cs.verdicts, "steps 1-4", ws_session(ws))
    if await cs.adopt("steps 5-6", status, ws):
        await booted(cs.ocpp)  # steps 7-10
    await cs.finish()


async def attempt(cs: SecurityStation, tls: ssl.SSLContext) -> tuple[str, object]:
    """A connection attempt over wss with ``tls``: ("upgraded", 101), ("refused", the HTTP
    status), ("terminated", the error: the TLS handshake failed or the CSMS hung up before
    answering the upgrade request) or ("timeout", ...)."""
    try:
        ws = await cs.open(tls=tls)
    except InvalidStatus as exc:
        return "refused", exc.response.status_code
    except TimeoutError as exc:
        return "timeout", repr(exc)
    except (OSError, EOFError, InvalidHandshake) as exc:  # ssl.SSLError is an OSError
        # TLS 1.3: the CSMS's verdict on our certificate comes after our Finished, so it may
        # surface while the upgrade request waits for its answer.
        return "terminated", repr(exc)
    await ws.close()
    return "upgraded", 101


def _expired_certificate(
    ca: tuple[x509.Certificate, pki.PrivateKey], station_id: str
) -> tuple[x509.Certificate, pki.PrivateKey]:
    """A station certificate of the CSMS's CA that expired yesterday."""
    key = ec.generate_private_key(ec.SECP256R1())
    at = datetime.datetime.now(datetime.UTC)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, CSR_ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, station_id),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(at - datetime.timedelta(days=30))
        .not_valid_after(at - datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca[1], hashes.SHA256())
    )
    return cert, key


@pytest.mark.parametrize("invalid", ["unknown", "expired", "commonName"])
async def test_tc_a_08_tls_client_certificate_invalid(
    make_station: Any, ca: tuple[x509.Certificate, pki.PrivateKey], invalid: str
) -> None:
    """TC_A_08_CSMS TLS - Client-side certificate - Invalid certificate (A00.FR.405, 407, 409,
    410), with each kind of invalid certificate the case names: unknown (another CA), expired,
    and a commonName that is not the station's serial number (a valid certificate of the
    CSMS's CA for another station).

    1-3. The OCTT does a TLS handshake sending the <Configured invalid client certificate>. 4.
    The CSMS deems it invalid and terminates the connection: no WebSocket (an unknown or
    expired certificate fails the TLS handshake itself, A00.FR.407; the CN, which TLS cannot
    judge, is refused at the upgrade, HTTP 401, A00.FR.405). 5-8. A handshake with the
    <Configured client certificate> completes. 9-10. The HTTP upgrade request is upgraded.
    11-12. BootNotification; tool validation: status Accepted. 13-14. Every connector
    Available, answered.
    """
    cs = await make_station(3)
    if invalid == "unknown":
        bad = pki.issue_client_cert(*pki.new_ca("an unknown CA"), cs.station_id)
    elif invalid == "expired":
        bad = _expired_certificate(ca, cs.station_id)
    else:
        bad = pki.issue_client_cert(*ca, f"OTHER-{uuid.uuid4().hex[:8]}")
    outcome, detail = await attempt(cs, cs.tls(bad))
    if invalid == "commonName":  # TLS cannot judge it: the gateway refuses the upgrade
        cs.verdicts.expect(
            "steps 1-4",
            "the CSMS refuses the upgrade (HTTP 401)",
            (outcome, detail) == ("refused", 401),
            (outcome, detail),
        )
    else:
        cs.verdicts.expect(
            "steps 1-4",
            "the CSMS terminates the connection in the TLS handshake",
            outcome == "terminated",
            (outcome, detail),
        )

    if await cs.connect("steps 5-10"):
        await booted(cs.ocpp)  # steps 11-14
    await cs.finish()


# -- A02: the certificate renewed on the CSMS's request --------------------------------------------


async def test_tc_a_12_update_v2g_certificate(make_station: Any, rest: httpx.AsyncClient) -> None:
    """TC_A_12_CSMS Update Charging Station Certificate by request of CSMS - Success - V2G
    Certificate (A02.FR.11, F06.FR.01).

    Prerequisite: the CSMS supports ISO 15118 (it signs V2G CSRs). Manual action: trigger. 1.
    The CSMS sends a TriggerMessageRequest; tool validation: requestedMessage
    SignV2GCertificate (evse omitted: no seccId known). 2. The OCTT responds Accepted. 3. The
    OCTT sends a SignCertificateRequest (csr from the configured C, O, OU; certificateType
    V2GCertificate). 4. Tool validation: SignCertificateResponse status Accepted. 5. The CSMS
    sends a CertificateSignedRequest; tool validations: the certificate generated from the CSR
    of step 3, signed by the V2G root or sub-CA (here the embedded test PKI's CPO sub-CA, the
    chain leaf and sub-CA, verified up to the V2G root the station holds), a key of >= 224
    bits, PEM. 6. The OCTT responds Accepted. Beyond: certificateType V2GCertificate, as asked
    (A02.FR.14, recommended).
    """
    cs = await make_station(3)
    resp = await rest.get("/v1/plugAndCharge/pki")
    assert resp.status_code == 200, resp.text
    cs.v2g_root = x509.load_pem_x509_certificate(resp.json()["v2gRootCertificate"].encode())
    await cs.connect("before")
    await booted(cs.ocpp)
    signed = await renew(cs, rest, "SignV2GCertificate")
    check_issued_certificate(cs, "step 5", signed.payload.get("certificateChain", ""), cn=None)
    cs.verdicts.equal(
        "step 5",
        "certificateType (A02.FR.14)",
        signed.payload.get("certificateType"),
        "V2GCertificate",
    )
    reply = signed.reply or []
    cs.verdicts.equal(
        "step 6",
        "the OCTT installs the certificate (CertificateSignedResponse status)",
        reply[2].get("status") if len(reply) > 2 else reply,
        "Accepted",
    )
    await cs.finish()


async def test_tc_a_13_update_combined_certificate(
    make_station: Any, rest: httpx.AsyncClient
) -> None:
    """TC_A_13_CSMS Update Charging Station Certificate by request of CSMS - Success - Combined
    Certificate (A02.FR.11).

    Prerequisites: the CSMS supports security profile 3 and ISO 15118. Manual action: trigger.
    1. The CSMS sends a TriggerMessageRequest; tool validation: requestedMessage
    SignCombinedCertificate. 2. The OCTT responds Accepted. 3. The OCTT sends a
    SignCertificateRequest with its CSR (no certificateType: one certificate for both
    connections). 4. Tool validation: status Accepted. 5. The CSMS sends a
    CertificateSignedRequest; tool validations: the certificate generated from the CSR, a key
    of >= 224 bits, PEM X.509, a serial number, the subject CN the station's serial number. 6.
    The OCTT responds Accepted. Beyond: the station then connects with the combined
    certificate (it serves the connection to the CSMS) and is accepted and booted.
    """
    cs = await make_station(3)
    first = cs.certificate
    await cs.connect("before")
    await booted(cs.ocpp)
    signed = await renew(cs, rest, "SignCombinedCertificate")
    check_issued_certificate(
        cs, "step 5", signed.payload.get("certificateChain", ""), cn=cs.station_id
    )
    reply = signed.reply or []
    cs.verdicts.equal(
        "step 6",
        "the OCTT installs the certificate (CertificateSignedResponse status)",
        reply[2].get("status") if len(reply) > 2 else reply,
        "Accepted",
    )
    cs.verdicts.expect("after", "the station has a new certificate", cs.certificate is not first)
    await cs.disconnect()
    if await cs.connect("after: reconnect with the combined certificate"):
        await booted(cs.ocpp)
    await cs.finish()


async def test_tc_a_14_update_certificate_invalid(
    make_station: Any, rest: httpx.AsyncClient
) -> None:
    """TC_A_14_CSMS Update Charging Station Certificate by request of CSMS - Invalid
    certificate (A02; no requirement ids).

    Prerequisite: security profile 3. Manual action: trigger. 1. The CSMS sends a
    TriggerMessageRequest; tool validation: requestedMessage SignChargingStationCertificate. 2.
    The OCTT responds Accepted. 3. The OCTT sends a SignCertificateRequest (csr,
    certificateType ChargingStationCertificate). 4. Tool validation: status Accepted. 5. The
    CSMS sends a CertificateSignedRequest. 6. The OCTT responds Rejected. Then, as a station
    does that rejects a certificate (TC_A_14_CS steps 7-8): 7. a SecurityEventNotificationRequest
    type InvalidChargingStationCertificate, 8. which the CSMS answers.

    Beyond (the CSMS handles the rejection): the security event is kept (REST securityEvents),
    the station stays connected (its Heartbeat answered) and, with its old certificate, still
    gets in.
    """
    cs = await make_station(3)
    cs.certificate_answer = "Rejected"
    old = cs.certificate
    await cs.connect("before")
    await booted(cs.ocpp)
    signed = await renew(cs, rest, "SignChargingStationCertificate")
    cs.verdicts.equal(
        "step 5",
        "certificateType (A02.FR.14)",
        signed.payload.get("certificateType"),
        "ChargingStationCertificate",
    )
    reply = signed.reply or []
    cs.verdicts.equal(
        "step 6",
        "the OCTT's CertificateSignedResponse status",
        reply[2].get("status") if len(reply) > 2 else reply,
        "Rejected",
    )
    at = now()
    await cs.ocpp.send(
        "steps 7-8",
        "SecurityEventNotification",
        {"type": "InvalidChargingStationCertificate", "timestamp": at, "techInfo": "TC_A_14"},
    )
    await cs.ocpp.send("after", "Heartbeat", {})
    step = "after: REST securityEvents"
    events = await cs.verdicts.rest_get(
        rest, step, f"/v1/chargingStations/{cs.station_id}/securityEvents"
    )
    cs.verdicts.expect(
        step,
        "the InvalidChargingStationCertificate event is kept",
        bool(find_dicts(events, {"type": "InvalidChargingStationCertificate"})),
        events,
    )
    cs.verdicts.expect("after", "the station kept its old certificate", cs.certificate is old)
    await cs.disconnect()
    if await cs.connect("after: reconnect with the old certificate"):
        await booted(cs.ocpp)
    await cs.finish()
