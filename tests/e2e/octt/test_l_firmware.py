"""Part 6, functional block L (Firmware management), CSMS test cases.

The steps and tool validations are those of the public reimplementation tzi-OCTT
(``2.0.1/L/test_tc_l_NN_csms.py``: TC_L_01 to TC_L_11, TC_L_13, TC_L_17, TC_L_19 to TC_L_24; the
official Part 6 text was not found). "The CSMS sends UpdateFirmwareRequest" is the operator's
rollout of a firmware image the CSMS hosts (``POST /v1/firmwareImages``, its content ``PUT``,
``POST /v1/firmwareRollouts`` of the one station); Publish/UnpublishFirmware are the operator's
commands with the OCPP payload. Beyond the cases, the station does what a real one does with an
accepted update: it downloads the image from the URL it was given (real HTTP through Envoy),
checks the image's SHA-256 against what the operator uploaded and its signature against the
signing certificate, and the verdicts check what the CSMS then shows: the rollout's station
state, the station's status history and, after its FirmwareUpdate boot, its firmware version.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import os
import time
import uuid
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.octt.states import booted, energy_transfer_started, ev_disconnected
from tests.e2e.octt.station import OcttStation
from tests.e2e.station_sim import now

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
NEW_VERSION = "2.0.0-octt"


def _signer() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """The firmware signing key and its certificate (PEM), as a manufacturer holds them."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "OCTT firmware signing")])
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM).decode()


class Image:
    """A firmware image the operator uploads to the CSMS, signed."""

    def __init__(self, size: int = 200_000) -> None:
        self.content = os.urandom(size)
        key, self.certificate = _signer()
        self.signature = base64.b64encode(
            key.sign(self.content, ec.ECDSA(hashes.SHA256()))
        ).decode()
        self.id = ""

    async def upload(self, rest: httpx.AsyncClient) -> None:
        resp = await rest.post(
            "/v1/firmwareImages",
            json={
                "name": "OCTT firmware",
                "version": NEW_VERSION,
                "signature": self.signature,
                "signingCertificate": self.certificate,
            },
        )
        assert resp.status_code == 200, resp.text
        self.id = resp.json()["id"]
        resp = await rest.put(
            f"/v1/firmwareImages/{self.id}/content",
            content=self.content,
            headers={"content-type": "application/octet-stream"},
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["sha256"] == hashlib.sha256(self.content).hexdigest()


class Firmware:
    """The OCTT station's firmware manager: what it received, what it answers, what it
    downloaded."""

    def __init__(self, cs: OcttStation, image: Image) -> None:
        self.cs = cs
        self.image = image
        self.requests: list[JSON] = []
        self.answers: list[str] = ["Accepted"]
        cs.sim.answer("UpdateFirmware", self._answer)

    def _answer(self, request: JSON) -> JSON:
        self.requests.append(request)
        status = self.answers[min(len(self.requests), len(self.answers)) - 1]
        return {"status": status}

    async def update_request(self, step: str, count: int = 1) -> JSON:
        """The ``count``-th UpdateFirmwareRequest (a verdict that it came)."""
        try:
            received = await self.cs.sim.wait_for("UpdateFirmware", count)
        except TimeoutError:
            self.cs.verdicts.expect(step, "the CSMS sends an UpdateFirmwareRequest", False)
            return {}
        self.cs.verdicts.expect(step, "the CSMS sends an UpdateFirmwareRequest", True)
        return dict(received.payload)

    async def download(self, step: str, request: JSON) -> bool:
        """Download from firmware.location, as a station does, and check the image: the bytes
        the operator uploaded, and the signature verifies with the signing certificate."""
        firmware = request.get("firmware", {})
        async with httpx.AsyncClient(timeout=10) as http:
            resp = await http.get(firmware.get("location", "http://invalid./"))
        ok = self.cs.verdicts.expect(
            step, "the firmware downloads from the CSMS's location", resp.status_code == 200
        )
        if not ok:
            return False
        self.cs.verdicts.equal(
            step,
            "the downloaded image's SHA-256",
            hashlib.sha256(resp.content).hexdigest(),
            hashlib.sha256(self.image.content).hexdigest(),
        )
        cert = x509.load_pem_x509_certificate(firmware.get("signingCertificate", "").encode())
        public = cert.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        try:
            public.verify(
                base64.b64decode(firmware.get("signature", "")),
                resp.content,
                ec.ECDSA(hashes.SHA256()),
            )
            verified = True
        except InvalidSignature:
            verified = False
        return self.cs.verdicts.expect(step, "the signature verifies", verified)

    async def report(self, step: str, request_id: int, *statuses: str) -> None:
        for status in statuses:
            await self.cs.send(
                f"{step} {status}",
                "FirmwareStatusNotification",
                {"status": status, "requestId": request_id},
            )

    async def reboot_installed(self, step: str, request_id: int, final: str = "Installed") -> None:
        """InstallRebooting, the boot with the new firmware (BootNotification FirmwareUpdate,
        Accepted), the connectors Available, then ``final``."""
        await self.report(step, request_id, "InstallRebooting")
        answer = await self.cs.send(
            f"{step} BootNotification",
            "BootNotification",
            {
                "reason": "FirmwareUpdate",
                "chargingStation": {
                    "model": self.cs.model,
                    "vendorName": self.cs.vendor_name,
                    "firmwareVersion": NEW_VERSION if final == "Installed" else "1.0",
                },
            },
        )
        self.cs.verdicts.equal(
            f"{step} BootNotificationResponse", "status", (answer or {}).get("status"), "Accepted"
        )
        await self.cs.notify_connector(
            f"{step} StatusNotification", "Available", self.cs.evse_id, self.cs.connector_id
        )
        await self.report(step, request_id, final)


async def rollout(rest: httpx.AsyncClient, cs: OcttStation, image: Image, **extra: Any) -> str:
    """The manual action: the operator rolls the image out to the station."""
    resp = await rest.post(
        "/v1/firmwareRollouts",
        json={"imageId": image.id, "stationIds": [cs.sim.station_id], **extra},
    )
    cs.verdicts.expect(
        "Manual action", "POST /v1/firmwareRollouts answers 200", resp.status_code == 200, resp.text
    )
    return str(resp.json().get("id", "")) if resp.status_code == 200 else ""


async def rollout_station(
    rest: httpx.AsyncClient, cs: OcttStation, rollout_id: str, state: str, rollout_state: str
) -> JSON:
    """What the rollout shows of the station, once it is in ``state`` (within 10 s)."""
    deadline = time.monotonic() + 10
    body: JSON = {}
    while time.monotonic() < deadline:
        resp = await rest.get(f"/v1/firmwareRollouts/{rollout_id}")
        body = resp.json()
        station = (body.get("stations") or [{}])[0]
        if station.get("state") == state and body.get("state") == rollout_state:
            break
        await asyncio.sleep(0.1)
    station = (body.get("stations") or [{}])[0]
    cs.verdicts.equal("REST rollout", "the station's state", station.get("state"), state)
    cs.verdicts.equal("REST rollout", "the rollout's state", body.get("state"), rollout_state)
    return station


async def history(rest: httpx.AsyncClient, cs: OcttStation) -> JSON:
    resp = await rest.get(f"/v1/chargingStations/{cs.sim.station_id}/firmwareStatus")
    cs.verdicts.expect("REST firmwareStatus", "answers 200", resp.status_code == 200, resp.text)
    return dict(resp.json())


def statuses(body: JSON, kind: str = "update") -> list[str]:
    """The statuses reported, oldest first."""
    return [h["status"] for h in reversed(body.get("history", [])) if h.get("kind") == kind]


@pytest.fixture
async def image(rest: httpx.AsyncClient) -> Image:
    img = Image()
    await img.upload(rest)
    return img


async def _update(
    cs: OcttStation, rest: httpx.AsyncClient, image: Image, **extra: Any
) -> tuple[Firmware, str, JSON]:
    """Booted; the operator's rollout; the UpdateFirmwareRequest with L01.FR.11's validation."""
    await booted(cs)
    fw = Firmware(cs, image)
    rollout_id = await rollout(rest, cs, image, **extra)
    request = await fw.update_request("Main step 1")
    firmware = request.get("firmware", {})
    cs.verdicts.expect(
        "Main step 1 tool validation (L01.FR.11)",
        "firmware.signingCertificate and firmware.signature are present",
        bool(firmware.get("signingCertificate")) and bool(firmware.get("signature")),
        request,
    )
    return fw, rollout_id, request


async def test_tc_l_01_installation_successful(
    cs: OcttStation, rest: httpx.AsyncClient, image: Image
) -> None:
    """TC_L_01_CSMS Secure Firmware Update - Installation successful (L01.FR.01, .FR.11,
    .FR.15): Downloading, Downloaded, SignatureVerified, Installing, InstallRebooting, the
    FirmwareUpdate boot Accepted, Installed; the CSMS shows the station installed, its new
    version, and every status."""
    fw, rollout_id, request = await _update(cs, rest, image)
    rid = request.get("requestId", 0)
    await fw.report("Main step 3", rid, "Downloading")
    await fw.download("Main step 3 download", request)
    await fw.report("Main step 3", rid, "Downloaded", "SignatureVerified", "Installing")
    await fw.reboot_installed("Main steps 11-17", rid)
    await rollout_station(rest, cs, rollout_id, "installed", "completed")
    body = await history(rest, cs)
    cs.verdicts.equal(
        "REST firmwareStatus", "firmwareVersion", body.get("firmwareVersion"), NEW_VERSION
    )
    cs.verdicts.equal("REST firmwareStatus", "status", body.get("status"), "Installed")
    cs.verdicts.equal(
        "REST firmwareStatus",
        "history",
        statuses(body),
        [
            "Downloading",
            "Downloaded",
            "SignatureVerified",
            "Installing",
            "InstallRebooting",
            "Installed",
        ],
    )
    cs.assert_passed()


async def test_tc_l_02_install_scheduled(
    cs: OcttStation, rest: httpx.AsyncClient, image: Image
) -> None:
    """TC_L_02_CSMS Secure Firmware Update - InstallScheduled: the CSMS sends installDateTime
    in the future; the station schedules the installation."""
    install = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
    fw, rollout_id, request = await _update(
        cs, rest, image, installTime=install.isoformat().replace("+00:00", "Z")
    )
    sent = request.get("firmware", {}).get("installDateTime", "")
    cs.verdicts.expect(
        "Main step 1 tool validation",
        "firmware.installDateTime is in the future",
        bool(sent)
        and datetime.datetime.fromisoformat(sent.replace("Z", "+00:00"))
        > datetime.datetime.now(datetime.UTC),
        sent,
    )
    rid = request.get("requestId", 0)
    await fw.report("Main step 3", rid, "Downloading")
    await fw.download("Main step 3 download", request)
    await fw.report(
        "Main step 3", rid, "Downloaded", "SignatureVerified", "InstallScheduled", "Installing"
    )
    await fw.reboot_installed("Main steps 13-19", rid)
    await rollout_station(rest, cs, rollout_id, "installed", "completed")
    cs.assert_passed()


async def test_tc_l_03_download_scheduled(
    cs: OcttStation, rest: httpx.AsyncClient, image: Image
) -> None:
    """TC_L_03_CSMS Secure Firmware Update - DownloadScheduled: retrieveDateTime in the future;
    the URL still works when the station downloads later."""
    retrieve = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
    fw, rollout_id, request = await _update(
        cs, rest, image, retrieveTime=retrieve.isoformat().replace("+00:00", "Z")
    )
    sent = request.get("firmware", {}).get("retrieveDateTime", "")
    cs.verdicts.expect(
        "Main step 1 tool validation",
        "firmware.retrieveDateTime is in the future",
        bool(sent)
        and datetime.datetime.fromisoformat(sent.replace("Z", "+00:00"))
        > datetime.datetime.now(datetime.UTC),
        sent,
    )
    rid = request.get("requestId", 0)
    await fw.report("Main step 3", rid, "DownloadScheduled", "Downloading")
    await fw.download("Main step 3 download", request)
    await fw.report("Main step 3", rid, "Downloaded", "SignatureVerified", "Installing")
    await fw.reboot_installed("Main steps 13-19", rid)
    await rollout_station(rest, cs, rollout_id, "installed", "completed")
    cs.assert_passed()


@pytest.mark.parametrize(
    ("case", "answer", "event"),
    [
        ("TC_L_04 RevokedCertificate", "RevokedCertificate", None),
        ("TC_L_05 InvalidCertificate", "InvalidCertificate", "InvalidFirmwareSigningCertificate"),
    ],
)
async def test_tc_l_04_05_certificate_refused(
    cs: OcttStation,
    rest: httpx.AsyncClient,
    image: Image,
    case: str,
    answer: str,
    event: str | None,
) -> None:
    """TC_L_04_CSMS RevokedCertificate, TC_L_05_CSMS InvalidCertificate (L01.FR.01): the
    station refuses the signing certificate (L_05: and reports the security event, which the
    CSMS answers); the rollout shows the station failed with the station's answer."""
    await booted(cs)
    fw = Firmware(cs, image)
    fw.answers = [answer]
    rollout_id = await rollout(rest, cs, image, maxFailureRatio=1)
    await fw.update_request("Main step 1")
    if event:
        await cs.send(
            "Main steps 3-4", "SecurityEventNotification", {"type": event, "timestamp": now()}
        )
    station = await rollout_station(rest, cs, rollout_id, "failed", "completed")
    # Why it failed: the station's answer, or (L_05) the security event, whichever the CSMS
    # learnt first: both name the refused certificate.
    why = station.get("detail", "")
    cs.verdicts.expect(
        "REST rollout",
        "the detail names the answer or the security event",
        answer in why or (event is not None and event in why),
        station,
    )
    cs.assert_passed()


async def test_tc_l_06_invalid_signature(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_L_06_CSMS InvalidSignature: the image's signature does not verify (the operator gave
    another image's); the station reports InvalidSignature and the security event; the rollout
    shows the station failed."""
    img = Image()
    img.signature = Image().signature  # signed by another key: does not verify
    await img.upload(rest)
    fw, rollout_id, request = await _update(cs, rest, img, maxFailureRatio=1)
    rid = request.get("requestId", 0)
    await fw.report("Main step 3", rid, "Downloading")
    firmware = request.get("firmware", {})
    async with httpx.AsyncClient(timeout=10) as http:
        content = (await http.get(firmware.get("location", "http://invalid./"))).content
    cert = x509.load_pem_x509_certificate(firmware.get("signingCertificate", "").encode())
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    with pytest.raises(InvalidSignature):
        public.verify(base64.b64decode(firmware["signature"]), content, ec.ECDSA(hashes.SHA256()))
    await fw.report("Main step 3", rid, "Downloaded", "InvalidSignature")
    await cs.send(
        "Main steps 4-5",
        "SecurityEventNotification",
        {"type": "InvalidFirmwareSignature", "timestamp": now()},
    )
    await rollout_station(rest, cs, rollout_id, "failed", "completed")
    cs.verdicts.equal(
        "REST firmwareStatus", "status", (await history(rest, cs)).get("status"), "InvalidSignature"
    )
    cs.assert_passed()


@pytest.mark.parametrize(
    ("case", "steps"),
    [
        ("TC_L_07 DownloadFailed", ["Downloading", "DownloadFailed"]),
        (
            "TC_L_08 InstallVerificationFailed",
            [
                "Downloading",
                "Downloaded",
                "SignatureVerified",
                "Installing",
                "InstallVerificationFailed",
            ],
        ),
    ],
)
async def test_tc_l_07_08_failures(
    cs: OcttStation, rest: httpx.AsyncClient, image: Image, case: str, steps: list[str]
) -> None:
    """TC_L_07_CSMS DownloadFailed, TC_L_08_CSMS InstallVerificationFailed: the station's
    statuses end in a failure; the CSMS answers each and shows the station failed."""
    fw, rollout_id, request = await _update(cs, rest, image, maxFailureRatio=1)
    await fw.report("Main step 3", request.get("requestId", 0), *steps)
    station = await rollout_station(rest, cs, rollout_id, "failed", "completed")
    cs.verdicts.equal("REST rollout", "firmwareStatus", station.get("firmwareStatus"), steps[-1])
    cs.assert_passed()


async def test_tc_l_09_installation_failed(
    cs: OcttStation, rest: httpx.AsyncClient, image: Image
) -> None:
    """TC_L_09_CSMS InstallationFailed: after the FirmwareUpdate boot (Accepted) the station
    reports InstallationFailed; its firmware version stays the old one."""
    fw, rollout_id, request = await _update(cs, rest, image, maxFailureRatio=1)
    rid = request.get("requestId", 0)
    await fw.report("Main step 3", rid, "Downloading")
    await fw.download("Main step 3 download", request)
    await fw.report("Main step 3", rid, "Downloaded", "SignatureVerified", "Installing")
    await fw.reboot_installed("Main steps 11-17", rid, final="InstallationFailed")
    await rollout_station(rest, cs, rollout_id, "failed", "completed")
    cs.verdicts.equal(
        "REST firmwareStatus",
        "firmwareVersion",
        (await history(rest, cs)).get("firmwareVersion"),
        "1.0",
    )
    cs.assert_passed()


async def test_tc_l_10_accepted_canceled(
    cs: OcttStation, rest: httpx.AsyncClient, image: Image
) -> None:
    """TC_L_10_CSMS AcceptedCanceled (L01.FR.24): a second UpdateFirmware while the first
    downloads; the station cancels the first and takes the second, which installs. The CSMS
    shows the first canceled and the second installed."""
    fw, first_rollout, first = await _update(cs, rest, image, maxFailureRatio=1)
    await fw.report("Main step 2", first.get("requestId", 0), "Downloading")
    fw.answers = ["Accepted", "AcceptedCanceled"]
    second_rollout = await rollout(rest, cs, image)
    second = await fw.update_request("Main step 3", count=2)
    cs.verdicts.expect(
        "Main step 3",
        "the second request has a requestId of its own",
        second.get("requestId") != first.get("requestId"),
        second,
    )
    rid = second.get("requestId", 0)
    await fw.report("Main step 5", rid, "Downloading")
    await fw.download("Main step 5 download", second)
    await fw.report("Main step 5", rid, "Downloaded", "SignatureVerified", "Installing")
    await fw.reboot_installed("Main steps 13-19", rid)
    dropped = await rollout_station(rest, cs, first_rollout, "failed", "completed")
    cs.verdicts.expect(
        "REST rollout", "canceled by the station", "canceled" in dropped.get("detail", ""), dropped
    )
    await rollout_station(rest, cs, second_rollout, "installed", "completed")
    cs.assert_passed()


async def test_tc_l_11_unable_to_cancel(
    cs: OcttStation, rest: httpx.AsyncClient, image: Image
) -> None:
    """TC_L_11_CSMS Unable to cancel (L01.FR.27): the station Rejects the second UpdateFirmware;
    the first goes on to Installed."""
    fw, first_rollout, first = await _update(cs, rest, image, maxFailureRatio=1)
    rid = first.get("requestId", 0)
    await fw.report("Main step 2", rid, "Downloading")
    fw.answers = ["Accepted", "Rejected"]
    second_rollout = await rollout(rest, cs, image, maxFailureRatio=1)
    await fw.update_request("Main step 3", count=2)
    await fw.download("Main step 5 download", first)
    await fw.report("Main step 5", rid, "Downloaded", "SignatureVerified", "Installing")
    await fw.reboot_installed("Main steps 11-16", rid)
    await rollout_station(rest, cs, first_rollout, "installed", "completed")
    refused = await rollout_station(rest, cs, second_rollout, "failed", "completed")
    cs.verdicts.expect(
        "REST rollout",
        "the detail names Rejected",
        "Rejected" in refused.get("detail", ""),
        refused,
    )
    cs.assert_passed()


async def test_tc_l_13_ongoing_transaction(
    cs: OcttStation, rest: httpx.AsyncClient, image: Image
) -> None:
    """TC_L_13_CSMS Ongoing transaction (AllowNewSessionsPendingFirmwareUpdate false): the
    station schedules the download until its transaction ends, its EVSE Unavailable; then
    the update goes through."""
    await booted(cs)
    await energy_transfer_started(cs)
    fw = Firmware(cs, image)
    rollout_id = await rollout(rest, cs, image)
    request = await fw.update_request("Main step 1")
    cs.verdicts.expect(
        "Main step 1 tool validation",
        "firmware.signingCertificate is present",
        bool(request.get("firmware", {}).get("signingCertificate")),
    )
    rid = request.get("requestId", 0)
    await fw.report("Main step 3", rid, "DownloadScheduled")
    await ev_disconnected(cs)
    await cs.notify_connector("Main step 4", "Unavailable", cs.evse_id, cs.connector_id)
    await fw.report("Main step 6", rid, "Downloading")
    await fw.download("Main step 6 download", request)
    await fw.report("Main step 6", rid, "Downloaded", "SignatureVerified", "Installing")
    await fw.reboot_installed("Main steps 15-20", rid)
    await rollout_station(rest, cs, rollout_id, "installed", "completed")
    cs.assert_passed()


async def _command(cs: OcttStation, rest: httpx.AsyncClient, verb: str, body: JSON) -> JSON:
    resp = await rest.post(f"/v1/chargingStations/{cs.sim.station_id}:{verb}", json=body)
    cs.verdicts.expect(
        "Main step 1", f"REST :{verb} answers 200", resp.status_code == 200, resp.text
    )
    return dict(resp.json()) if resp.status_code == 200 else {}


@pytest.mark.parametrize(
    ("case", "steps"),
    [
        ("TC_L_17 Published", ["Downloading", "Downloaded", "ChecksumVerified", "Published"]),
        ("TC_L_19 InvalidChecksum", ["Downloading", "Downloaded", "InvalidChecksum"]),
        (
            "TC_L_20 PublishFailed",
            ["Downloading", "Downloaded", "ChecksumVerified", "PublishFailed"],
        ),
        ("TC_L_24 DownloadFailed", ["Downloading", "DownloadFailed"]),
    ],
)
async def test_tc_l_17_19_20_24_publish_firmware(
    cs: OcttStation, rest: httpx.AsyncClient, case: str, steps: list[str]
) -> None:
    """TC_L_17/19/20/24_CSMS Publish Firmware (L03): the operator's PublishFirmware (location
    and checksum as configured) reaches the local controller; its statuses (Published with the
    locations it serves) are kept."""
    await booted(cs)
    received: list[JSON] = []
    cs.sim.answer("PublishFirmware", lambda r: received.append(r) or {"status": "Accepted"})
    location = f"https://firmware.example/{uuid.uuid4().hex}.bin"
    checksum = hashlib.md5(b"firmware", usedforsecurity=False).hexdigest()
    request_id = 4711
    answer = await _command(
        cs,
        rest,
        "publishFirmware",
        {"location": location, "checksum": checksum, "requestId": request_id},
    )
    cs.verdicts.equal("Main step 2", "the station's answer", answer, {"status": "Accepted"})
    cs.verdicts.equal(
        "Main step 1 tool validation", "location", (received or [{}])[0].get("location"), location
    )
    served = ["http://lc.local/firmware.bin"]
    for status in steps:
        payload: JSON = {"status": status, "requestId": request_id}
        if status == "Published":
            payload["location"] = served
        await cs.send(f"Main step 3 {status}", "PublishFirmwareStatusNotification", payload)
    body = await history(rest, cs)
    cs.verdicts.equal(
        "REST firmwareStatus", "publication statuses", statuses(body, "publish"), steps
    )
    if steps[-1] == "Published":
        last = body.get("history", [{}])[0]
        cs.verdicts.equal(
            "REST firmwareStatus", "the locations served", last.get("locations"), served
        )
    cs.assert_passed()


@pytest.mark.parametrize("status", ["Unpublished", "NoFirmware", "DownloadOngoing"])
async def test_tc_l_21_22_23_unpublish_firmware(
    cs: OcttStation, rest: httpx.AsyncClient, status: str
) -> None:
    """TC_L_21/22/23_CSMS Unpublish Firmware (L04): the local controller's answer reaches the
    operator as it sent it."""
    await booted(cs)
    received: list[JSON] = []
    cs.sim.answer("UnpublishFirmware", lambda r: received.append(r) or {"status": status})
    checksum = hashlib.md5(b"firmware", usedforsecurity=False).hexdigest()
    answer = await _command(cs, rest, "unpublishFirmware", {"checksum": checksum})
    cs.verdicts.equal("Main step 2", "the station's answer", answer, {"status": status})
    cs.verdicts.equal("Main step 1", "checksum", (received or [{}])[0].get("checksum"), checksum)
    cs.assert_passed()


async def test_tc_l_17_published_from_an_image_the_csms_hosts(
    cs: OcttStation, rest: httpx.AsyncClient, image: Image
) -> None:
    """TC_L_17_CSMS Publish Firmware - Published, with the image the CSMS hosts: the operator's
    `POST /v1/firmwareImages/{id}:publish` sends PublishFirmware with a download URL of the
    CSMS's and the image's MD5 as checksum; the local controller downloads it from there,
    checks the MD5, and publishes it."""
    await booted(cs)
    received: list[JSON] = []
    cs.sim.answer("PublishFirmware", lambda r: received.append(r) or {"status": "Accepted"})
    resp = await rest.post(
        f"/v1/firmwareImages/{image.id}:publish",
        json={"stationId": cs.sim.station_id, "retries": 2},
    )
    cs.verdicts.expect(
        "Main step 1", "REST :publish answers 200", resp.status_code == 200, resp.text
    )
    answer = resp.json() if resp.status_code == 200 else {}
    cs.verdicts.equal(
        "Main step 2", "the station's answer", answer.get("response"), {"status": "Accepted"}
    )
    request = received[0] if received else {}
    md5 = hashlib.md5(image.content, usedforsecurity=False).hexdigest()
    cs.verdicts.fields(
        "Main step 1 tool validation",
        request,
        {"checksum": md5, "requestId": answer.get("requestId"), "retries": 2},
    )
    async with httpx.AsyncClient(timeout=10) as http:
        got = await http.get(request.get("location", "http://invalid./"))
    cs.verdicts.equal(
        "Main step 3 download",
        "the MD5 of what the URL serves",
        hashlib.md5(got.content, usedforsecurity=False).hexdigest(),
        md5,
    )
    rid = request.get("requestId", 0)
    for status in ("Downloading", "Downloaded", "ChecksumVerified"):
        await cs.send(
            f"Main step 3 {status}",
            "PublishFirmwareStatusNotification",
            {"status": status, "requestId": rid},
        )
    served = ["http://lc.local/fw.bin"]
    await cs.send(
        "Main step 3 Published",
        "PublishFirmwareStatusNotification",
        {"status": "Published", "requestId": rid, "location": served},
    )
    body = await history(rest, cs)
    cs.verdicts.equal(
        "REST firmwareStatus",
        "publication statuses",
        statuses(body, "publish"),
        ["Downloading", "Downloaded", "ChecksumVerified", "Published"],
    )
    cs.assert_passed()
