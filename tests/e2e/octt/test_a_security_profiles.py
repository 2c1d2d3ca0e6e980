"""Part 6, functional block A (Security), CSMS test cases: the Basic auth password (A01), the
station certificate renewed on the CSMS's request (A02) and security profile upgrades (A05).

The station of these scenarios (:class:`SecureStation`) keeps its security as OCPP 2.0.1 Part 2
describes it: its network connection profiles by configurationSlot, their order
(OCPPCommCtrlr.NetworkConfigurationPriority), its Basic auth password and its certificate. It
connects as its first profile says (1: ws + Basic auth, 2: wss + Basic auth, 3: wss + its client
certificate); it answers a new BasicAuthPassword as the scenario configures it (the OCTT's
Accepted or Rejected) and presents a password it took from its next connection on; it accepts a
SetNetworkProfile unless the profile is lower than its own (B09.FR.04); it installs a
certificate chain only when it verifies against the CSMS's CA for the key of its own CSR.

The mesh is a TLS-mode mesh of this module's own (Envoy terminating wss with the CSMS's CA and
asking for client certificates, unsecured stations refused); every connection leaves from its
own loopback address, so refused attempts never lock another out.
"""

from __future__ import annotations

import base64
import dataclasses
import pathlib
import ssl
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from common import pki
from deploy.mesh import Mesh
from tests.e2e.conftest import CPO_NAME, source_address
from tests.e2e.octt.states import booted
from tests.e2e.octt.station import OcttStation, Verdicts
from tests.e2e.station_sim import Station

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]

#: The password the station is installed with (<Configured BasicAuthPassword>).
FIRST_PASSWORD = "octt-installed-password-0"
#: The characters of OCPP's identifierString, of which a passwordString is made (Part 2).
IDENTIFIER_STRING = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789*-_=:+|@.")
#: The configurationSlot the station connects with at first, and the one an upgrade goes to.
SLOT, NEW_SLOT = 1, 2


@pytest.fixture
async def rest(tls_mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    """REST through this mesh's Envoy, with an operator key (the OCTT's manual actions)."""
    key = tls_mesh.create_api_key("operator", "e2e OCTT block A")
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{tls_mesh.settings.envoy_port}",
        headers={"authorization": f"Bearer {key}"},
        timeout=15,
    ) as client:
        yield client


# -- the station -----------------------------------------------------------------------------------


@dataclasses.dataclass
class SecureStation:
    """A station's security as Part 2 has it (see the module docstring)."""

    station_id: str
    mesh: Mesh
    ca: tuple[x509.Certificate, Any]
    workdir: pathlib.Path
    verdicts: Verdicts
    password: str = ""
    # Its ChargingStationCertificate and key (A02), when it has one.
    certificate: tuple[x509.Certificate, Any] | None = None
    # NetworkConnectionProfiles: configurationSlot → securityProfile; the slots in priority order.
    slots: dict[int, int] = dataclasses.field(default_factory=dict)
    priority: list[int] = dataclasses.field(default_factory=lambda: [SLOT])
    # What it answers to a new SecurityCtrlr.BasicAuthPassword (the OCTT's configuration).
    password_answer: str = "Accepted"
    # A password it took (Accepted, RebootRequired): presented from its next connection on.
    next_password: str = ""
    # The key of its last CSR, until the certificate for it is installed.
    csr_key: Any = None
    sim: Station | None = None

    @property
    def profile(self) -> int:
        """The security profile of its first network connection profile."""
        return self.slots[self.priority[0]]

    @property
    def ocpp(self) -> OcttStation:
        """The connected station as the OCTT's reusable states drive it."""
        self.verdicts.stop_unless("any step", "the station is connected", self.sim is not None)
        assert self.sim is not None
        return OcttStation(self.sim, self.verdicts, {"idToken": "OCTT-A", "type": "ISO14443"})

    # -- connecting --------------------------------------------------------------------------------

    async def handshake(
        self,
        profile: int | None = None,
        *,
        password: str | None = None,
        certificate: tuple[x509.Certificate, Any] | None = None,
    ) -> tuple[int, ClientConnection | None]:
        """Open the WebSocket as ``profile`` (default: its own) asks, with its password
        (``password``: another one) or its certificate (``certificate``: another one, presented
        over wss whatever the profile); the HTTP status (101 when upgraded) and the connection."""
        profile = self.profile if profile is None else profile
        password = self.password if password is None else password
        if certificate is None and profile == 3:
            certificate = self.certificate
        headers: dict[str, str] = {}
        if profile in (1, 2):
            token = base64.b64encode(f"{self.station_id}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        tls = None
        if profile == 1 and certificate is None:
            url = f"ws://127.0.0.1:{self.mesh.settings.gateway_port}/ocpp/{self.station_id}"
        else:
            url = f"wss://localhost:{self.mesh.settings.station_tls_port}/ocpp/{self.station_id}"
            tls = self._tls(certificate)
        try:
            ws = await connect(
                url,
                subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                additional_headers=headers,
                ssl=tls,
                proxy=None,
                open_timeout=10,
                local_addr=source_address(),
            )
        except InvalidStatus as exc:
            return exc.response.status_code, None
        return 101, ws

    async def connect(self, step: str, profile: int | None = None) -> bool:
        """Connect (see :meth:`handshake`) and take over the connection; a check of ``step``
        that the CSMS accepts the connection attempt."""
        status, ws = await self.handshake(profile)
        accepted = ws is not None
        if not self.verdicts.expect(
            step, "the CSMS accepts the connection attempt", accepted, status
        ):
            return False
        assert ws is not None
        self.sim = Station(self.station_id, ws)
        self.sim.answer("SetVariables", self._set_variables)
        self.sim.answer("SetNetworkProfile", self._set_network_profile)
        self.sim.answer("CertificateSigned", self._certificate_signed)
        return True

    async def refused(self, step: str, profile: int, *, password: str | None = None) -> None:
        """A check of ``step``: the CSMS does not accept this connection attempt (401)."""
        status, ws = await self.handshake(profile, password=password)
        if ws is not None:
            await ws.close()
        self.verdicts.equal(step, "the CSMS's answer to the connection attempt", status, 401)

    async def disconnect(self) -> None:
        if self.sim is not None:
            self.verdicts.equal("any step", "the CSMS's schema breaches", self.sim.violations, [])
            await self.sim.close()
            self.sim = None

    async def finish(self) -> None:
        """The end of a run: disconnected, every check passed, no schema breach of the CSMS."""
        await self.disconnect()
        self.verdicts.assert_passed()

    async def reboot(self, step: str) -> bool:
        """Close the connection and come back as its configuration now says (the password it
        took, the first network connection profile)."""
        await self.disconnect()
        if self.next_password:
            self.password, self.next_password = self.next_password, ""
        return await self.connect(step)

    def _tls(self, certificate: tuple[x509.Certificate, Any] | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.mesh.settings.tls_dir() / "ca.pem"))
        if certificate is not None:
            name = uuid.uuid4().hex
            (self.workdir / f"{name}.pem").write_text(pki.cert_pem(certificate[0]))
            (self.workdir / f"{name}.key").write_text(pki.key_pem(certificate[1]))
            context.load_cert_chain(self.workdir / f"{name}.pem", self.workdir / f"{name}.key")
        return context

    # -- what it answers ---------------------------------------------------------------------------

    def _set_variables(self, request: JSON) -> JSON:
        results = []
        for data in request["setVariableData"]:
            name = (data["component"]["name"], data["variable"]["name"])
            status = "Accepted"
            if name == ("SecurityCtrlr", "BasicAuthPassword"):
                status = self.password_answer
                if status in ("Accepted", "RebootRequired"):
                    self.next_password = data["attributeValue"]
            elif name == ("OCPPCommCtrlr", "NetworkConfigurationPriority"):
                slots = [int(s) for s in data["attributeValue"].split(",") if s.strip()]
                if slots and all(s in self.slots for s in slots):
                    self.priority = slots
                else:
                    status = "Rejected"
            results.append(
                {
                    "component": data["component"],
                    "variable": data["variable"],
                    "attributeType": data.get("attributeType", "Actual"),
                    "attributeStatus": status,
                }
            )
        return {"setVariableResult": results}

    def _set_network_profile(self, request: JSON) -> JSON:
        profile = request["connectionData"]["securityProfile"]
        if profile < self.profile:
            return {"status": "Rejected"}  # never a downgrade (B09.FR.04)
        self.slots[request["configurationSlot"]] = profile
        return {"status": "Accepted"}

    def _certificate_signed(self, request: JSON) -> JSON:
        try:
            leaf = pki.verify_chain(request["certificateChain"], self.ca[0])
        except pki.PkiError:
            return {"status": "Rejected"}
        mine = self.csr_key is not None and _public(leaf.public_key()) == _public(
            self.csr_key.public_key()
        )
        if not mine or pki.subject_cn(leaf) != self.station_id:
            return {"status": "Rejected"}
        self.certificate, self.csr_key = (leaf, self.csr_key), None
        return {"status": "Accepted"}

    def new_csr(self) -> str:
        """A fresh key and its CSR, CN the station id (A02.FR.02)."""
        self.csr_key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, CPO_NAME),
                x509.NameAttribute(NameOID.COMMON_NAME, self.station_id),
            ]
        )
        csr = x509.CertificateSigningRequestBuilder().subject_name(subject)
        return (
            csr.sign(self.csr_key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
            .decode()
        )


def _public(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@pytest.fixture
async def make_station(
    request: pytest.FixtureRequest,
    tls_mesh: Mesh,
    ca: tuple[x509.Certificate, Any],
    rest: httpx.AsyncClient,
    tmp_path: pathlib.Path,
) -> AsyncIterator[Any]:
    """``await make_station(profile)``: a station registered at ``profile`` (with its password
    for 1 and 2, a certificate from the CSMS's CA for 3), not connected yet."""
    made: list[SecureStation] = []

    async def make(profile: int) -> SecureStation:
        sid = f"OCTT-A-{uuid.uuid4().hex[:10]}"
        body: JSON = {"id": sid, "model": "OCTT-E2E", "securityProfile": profile}
        if profile in (1, 2):
            body["basicAuthPassword"] = FIRST_PASSWORD
        resp = await rest.post("/v1/chargingStations", json=body)
        assert resp.status_code == 200, resp.text
        station = SecureStation(
            sid,
            tls_mesh,
            ca,
            tmp_path,
            Verdicts(request.node.name),
            password=FIRST_PASSWORD if profile in (1, 2) else "",
            certificate=pki.issue_client_cert(*ca, sid, organization=CPO_NAME)
            if profile == 3
            else None,
            slots={SLOT: profile},
        )
        made.append(station)
        return station

    yield make
    for station in made:
        await station.disconnect()


async def _station_resource(rest: httpx.AsyncClient, cs: SecureStation, step: str) -> JSON:
    return await cs.verdicts.rest_get(rest, step, f"/v1/chargingStations/{cs.station_id}")


async def _update_password(rest: httpx.AsyncClient, cs: SecureStation) -> tuple[JSON, str]:
    """Manual action: the operator asks the CSMS to update the password (steps 1-2 happen
    meanwhile); the answer, and the password the station received ("" if none)."""
    resp = await rest.post(f"/v1/chargingStations/{cs.station_id}:updateBasicAuthPassword", json={})
    cs.verdicts.equal(
        "manual action", "updateBasicAuthPassword's HTTP status", resp.status_code, 200
    )
    assert cs.sim is not None
    calls = cs.sim.calls("SetVariables")
    cs.verdicts.stop_unless(
        "step 1", "the CSMS sends a SetVariablesRequest", len(calls) == 1, len(calls)
    )
    [data] = calls[0].payload["setVariableData"] or [{}]
    cs.verdicts.equal(
        "step 1", "variable.name", data.get("variable"), {"name": "BasicAuthPassword"}
    )
    cs.verdicts.equal("step 1", "component.name", data.get("component"), {"name": "SecurityCtrlr"})
    password = str(data.get("attributeValue", ""))
    cs.verdicts.expect(
        "step 1",
        "attributeValue is a passwordString (16 to 40 identifierString characters)",
        16 <= len(password) <= 40 and set(password) <= IDENTIFIER_STRING,
        len(password),
    )
    body = resp.json() if resp.status_code == 200 else {}
    cs.verdicts.expect(
        "manual action", "the operator never sees the password", password not in resp.text, body
    )
    return body, password


# -- A01: the Basic auth password ------------------------------------------------------------------


async def test_tc_a_09_update_password_accepted(make_station: Any, rest: httpx.AsyncClient) -> None:
    """TC_A_09_CSMS Update Charging Station Password for HTTP Basic Authentication - Accepted
    (A01, A01.FR.02, A01.FR.03).

    Prerequisite: the station at security profile 1, connected and booted. Manual action:
    ``:updateBasicAuthPassword``. 1. The CSMS sends a SetVariablesRequest; tool validation:
    variable.name BasicAuthPassword, component.name SecurityCtrlr (and the attributeValue a
    passwordString). 2. The OCTT responds Accepted. 3. The OCTT sends an HTTP upgrade request
    with the new password (Authorization: Basic <id>:<new password>). 4. The CSMS validates it
    and upgrades the connection. 5-8 (Booted): BootNotificationResponse status Accepted.

    Beyond the tool validations: the operator's answer is the station's (Accepted, the password
    changed, never the password), and the old password is refused from now on.
    """
    cs = await make_station(1)
    cs.password_answer = "Accepted"
    await cs.connect("before")
    await booted(cs.ocpp)

    answer, password = await _update_password(rest, cs)
    cs.verdicts.fields("manual action", answer, {"status": "Accepted", "passwordChanged": True})
    cs.verdicts.equal("step 2", "the password the station took", cs.next_password, password)
    if await cs.reboot("steps 3-4 (the new password)"):
        await booted(cs.ocpp)
    await cs.disconnect()
    await cs.refused("after", 1, password=FIRST_PASSWORD)
    await cs.finish()


@pytest.mark.parametrize("answer", ["Rejected", "RebootRequired"])
async def test_tc_a_10_update_password_rejected(
    make_station: Any, rest: httpx.AsyncClient, answer: str
) -> None:
    """TC_A_10_CSMS Update Charging Station Password for HTTP Basic Authentication - Rejected
    (A01, A01.FR.02, A01.FR.04).

    1. The CSMS sends a SetVariablesRequest (BasicAuthPassword, SecurityCtrlr). 2. The OCTT
    responds with a status other than Accepted. 3. The OCTT sends an HTTP upgrade request with
    the old password. 4. The CSMS validates it and upgrades the connection (A01.FR.04: it still
    accepts the station). 5-8 (Booted): BootNotificationResponse status Accepted.

    Rejected: the operator sees the status and no change; the password the station refused
    does not let anyone in. RebootRequired (which TC_A_09 also allows): the old password still
    works (step 3 before the station's reboot); the operator sees the new one pending, and the
    station, once rebooted, gets in with it, after which the old one is refused.
    """
    cs = await make_station(1)
    cs.password_answer = answer
    await cs.connect("before")
    await booted(cs.ocpp)

    body, password = await _update_password(rest, cs)
    pending = answer == "RebootRequired"
    cs.verdicts.fields(
        "manual action",
        body,
        {"status": answer, "passwordChanged": False, "passwordPending": pending},
    )
    await cs.disconnect()
    # Step 3 with the old password: the station has not rebooted (yet).
    if await cs.connect("steps 3-4", 1):
        await booted(cs.ocpp)
        await cs.disconnect()
    if not pending:
        await cs.refused("after", 1, password=password)
    else:
        cs.verdicts.equal("after", "the password the station took", cs.next_password, password)
        if await cs.reboot("after: the rebooted station presents its new password"):
            await booted(cs.ocpp)
            await cs.disconnect()
        await cs.refused("after", 1, password=FIRST_PASSWORD)
    await cs.finish()


# -- A02: the station certificate ------------------------------------------------------------------


async def renew_charging_station_certificate(cs: SecureStation, rest: httpx.AsyncClient) -> None:
    """Reusable State RenewChargingStationCertificate (certificateType ChargingStationCertificate).

    Manual action: request the CSMS to send a TriggerMessageRequest (here REST
    ``:triggerMessage``). 1. The CSMS sends a TriggerMessageRequest; tool validation:
    requestedMessage SignChargingStationCertificate. 2. The OCTT responds Accepted. 3. The OCTT
    sends a SignCertificateRequest (csr, certificateType ChargingStationCertificate). 4. The CSMS
    responds; tool validation: status Accepted. 5. The CSMS sends a CertificateSignedRequest;
    tool validation: certificateType ChargingStationCertificate, the chain a certificate for the
    station's CSR. 6. The OCTT responds Accepted.
    """
    assert cs.sim is not None
    step = "RenewChargingStationCertificate"
    resp = await rest.post(
        f"/v1/chargingStations/{cs.station_id}:triggerMessage",
        json={"requestedMessage": "SignChargingStationCertificate"},
    )
    cs.verdicts.equal(f"{step} manual action", "HTTP status", resp.status_code, 200)
    triggers = cs.sim.calls("TriggerMessage")
    cs.verdicts.stop_unless(
        f"{step} step 1", "the CSMS sends a TriggerMessageRequest", bool(triggers), triggers
    )
    cs.verdicts.equal(
        f"{step} step 1",
        "requestedMessage",
        triggers[-1].payload.get("requestedMessage"),
        "SignChargingStationCertificate",
    )
    answer = await cs.ocpp.send(
        f"{step} step 3",
        "SignCertificate",
        {"csr": cs.new_csr(), "certificateType": "ChargingStationCertificate"},
    )
    cs.verdicts.equal(f"{step} step 4", "status", (answer or {}).get("status"), "Accepted")
    signed = await cs.sim.wait_for("CertificateSigned")
    await cs.sim.wait_answered(signed)
    cs.verdicts.equal(
        f"{step} step 5",
        "certificateType",
        signed.payload.get("certificateType"),
        "ChargingStationCertificate",
    )
    reply = signed.reply or []
    cs.verdicts.equal(
        f"{step} step 6",
        "the OCTT installs the certificate (CertificateSignedResponse status)",
        reply[2].get("status") if len(reply) > 2 else reply,
        "Accepted",
    )


async def test_tc_a_11_update_station_certificate_by_request_of_csms(
    make_station: Any, rest: httpx.AsyncClient
) -> None:
    """TC_A_11_CSMS Update Charging Station Certificate by request of CSMS - Success - Charging
    Station Certificate (A02): 1. Execute Reusable State RenewChargingStationCertificate.

    Prerequisite: the CSMS supports security profile 3; here the station is at profile 3 with
    a certificate of the CSMS's CA. Beyond the reusable state: the station then reconnects with
    its new certificate and is accepted (and booted).
    """
    cs = await make_station(3)
    first = cs.certificate
    await cs.connect("before")
    await booted(cs.ocpp)
    await renew_charging_station_certificate(cs, rest)
    cs.verdicts.expect("after", "the station has a new certificate", cs.certificate is not first)
    if await cs.reboot("after: reconnect with the new certificate"):
        await booted(cs.ocpp)
    await cs.finish()


# -- A05: upgrading the security profile -----------------------------------------------------------


@pytest.mark.parametrize("initial", [1, 2])
async def test_tc_a_19_upgrade_security_profile_accepted(
    make_station: Any, rest: httpx.AsyncClient, initial: int
) -> None:
    """TC_A_19_CSMS Upgrade Charging Station Security Profile - Accepted (A05, A05.FR.04,
    A05.FR.07), from profile 1 to 2 and from 2 to 3.

    Memory state: at profile 2, RenewChargingStationCertificate. Manual action: set a new
    NetworkConnectionProfile one profile higher. 1. The CSMS sends a SetNetworkProfileRequest;
    tool validation: connectionData.securityProfile <configured + 1>, ocppTransport JSON,
    ocppVersion OCPP20 (and messageTimeout, ocppCsmsUrl, ocppInterface). 2. The OCTT responds
    Accepted. Manual action: a NetworkConfigurationPriority with the new slot. 3. The CSMS sends
    a SetVariablesRequest; tool validation: OCPPCommCtrlr.NetworkConfigurationPriority, the
    attributeValue containing the slot of step 1. 4. The OCTT responds Accepted. Manual action:
    reboot. 5. The CSMS sends a ResetRequest. 6. The OCTT responds Accepted. 7. The OCTT
    reconnects with the new profile. 8. The CSMS accepts it. 9. Booted. 10. The OCTT reconnects
    with the old profile. 11. The CSMS does not accept it (A05.FR.07). 12. The OCTT reconnects
    with the new profile. 13. The CSMS accepts it. Post: the OCTT and the CSMS are connected.

    Beyond the tool validations (what the CSMS keeps): the upgrade is pending on the station
    resource until step 8, and between step 2 and the reboot a connection under the old profile
    is still accepted.
    """
    cs = await make_station(initial)
    upgrade = initial + 1
    await cs.connect("before")
    await booted(cs.ocpp)
    if initial == 2:
        await renew_charging_station_certificate(cs, rest)

    url = f"wss://localhost:{cs.mesh.settings.station_tls_port}/ocpp"
    resp = await rest.post(
        f"/v1/chargingStations/{cs.station_id}:setNetworkProfile",
        json={
            "configurationSlot": NEW_SLOT,
            "connectionData": {
                "messageTimeout": 30,
                "ocppCsmsUrl": url,
                "ocppInterface": "Wired0",
                "ocppTransport": "JSON",
                "ocppVersion": "OCPP20",
                "securityProfile": upgrade,
            },
        },
    )
    cs.verdicts.equal("manual action 1", "HTTP status", resp.status_code, 200)
    assert cs.sim is not None
    calls = cs.sim.calls("SetNetworkProfile")
    cs.verdicts.stop_unless("step 1", "the CSMS sends a SetNetworkProfileRequest", bool(calls))
    sent = calls[-1].payload
    cs.verdicts.fields(
        "step 1",
        sent["connectionData"],
        {
            "securityProfile": upgrade,
            "ocppTransport": "JSON",
            "ocppVersion": "OCPP20",
            "messageTimeout": 30,
            "ocppCsmsUrl": url,
            "ocppInterface": "Wired0",
        },
    )
    cs.verdicts.equal("step 2", "the OCTT's answer (REST)", resp.json(), {"status": "Accepted"})
    got = await _station_resource(rest, cs, "after step 2")
    cs.verdicts.fields(
        "after step 2", got, {"securityProfile": initial, "pendingSecurityProfile": upgrade}
    )

    resp = await rest.post(
        f"/v1/chargingStations/{cs.station_id}:setVariables",
        json={
            "setVariableData": [
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "NetworkConfigurationPriority"},
                    "attributeValue": f"{sent['configurationSlot']},{SLOT}",
                }
            ]
        },
    )
    cs.verdicts.equal("manual action 2", "HTTP status", resp.status_code, 200)
    [data] = cs.sim.calls("SetVariables")[-1].payload["setVariableData"]
    cs.verdicts.equal("step 3", "component", data["component"], {"name": "OCPPCommCtrlr"})
    cs.verdicts.equal(
        "step 3", "variable", data["variable"], {"name": "NetworkConfigurationPriority"}
    )
    cs.verdicts.expect(
        "step 3",
        "attributeValue contains the configurationSlot of step 1",
        str(NEW_SLOT) in data["attributeValue"].split(","),
        data["attributeValue"],
    )
    cs.verdicts.equal("step 4", "the station's priority", cs.priority, [NEW_SLOT, SLOT])

    # The connection drops before the reboot: under the old profile the station still gets in.
    await cs.disconnect()
    await cs.connect("between steps 4 and 5: the old profile is still accepted", initial)
    resp = await rest.post(
        f"/v1/chargingStations/{cs.station_id}:reset", json={"type": "Immediate"}
    )
    cs.verdicts.equal("manual action 3", "HTTP status", resp.status_code, 200)
    cs.verdicts.expect("step 5", "the CSMS sends a ResetRequest", bool(cs.sim.calls("Reset")))
    cs.verdicts.equal("step 6", "the OCTT's answer (REST)", resp.json(), {"status": "Accepted"})

    if await cs.reboot(f"steps 7-8 (profile {upgrade})"):
        await booted(cs.ocpp)
    got = await _station_resource(rest, cs, "after step 9")
    cs.verdicts.equal("after step 9", "securityProfile", got.get("securityProfile"), upgrade)
    cs.verdicts.expect(
        "after step 9", "no pendingSecurityProfile", "pendingSecurityProfile" not in got, got
    )
    await cs.disconnect()
    await cs.refused(f"steps 10-11 (profile {initial})", initial)
    await cs.connect(f"steps 12-13 (profile {upgrade})")
    got = await _station_resource(rest, cs, "post scenario")
    cs.verdicts.equal("post scenario", "connected", got.get("connected"), True)
    await cs.finish()


# -- the credential rules these scenarios rely on --------------------------------------------------


@pytest.mark.parametrize("profile", [1, 2])
async def test_another_stations_certificate_is_refused_below_profile_3(
    make_station: Any, ca: tuple[x509.Certificate, Any], profile: int
) -> None:
    """A station of profile 1 or 2 presenting, beside its right password over wss, a client
    certificate of the CSMS's CA issued to another station id is refused (401); with its own
    certificate, or none, it gets in."""
    cs = await make_station(profile)
    other = pki.issue_client_cert(*ca, f"OTHER-{uuid.uuid4().hex[:8]}")
    own = pki.issue_client_cert(*ca, cs.station_id, organization=CPO_NAME)
    for certificate, expected in ((other, 401), (own, 101), (None, 101)):
        status, ws = await cs.handshake(2, certificate=certificate)
        if ws is not None:
            await ws.close()
        assert status == expected, (certificate is other, certificate is own, status)
