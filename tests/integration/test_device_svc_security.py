"""device_svc's OCPP security messages over real gRPC on SQLite and PostgreSQL: security events,
SignCertificate → CertificateSigned, and the certificate operations, with a stand-in gateway (a
real grpc.aio StationControlService defined here, as in test_device_svc_operations.py).
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from common import pki
from common.ocpp_json import REQUEST_TYPES, RESPONSE_TYPES
from csms.device.v1 import device_service_pb2 as pb
from csms.gateway.v1 import station_control_pb2 as gw
from csms.gateway.v1 import station_control_pb2_grpc as gw_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp

Answer = Callable[[Message], Message]


class FakeGateway(gw_grpc.StationControlServiceServicer):
    """Answers each StationCall as a station would: a scripted answer per action, else the empty
    response of the action; records what it received."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.calls: asyncio.Queue[tuple[gw.StationCall, Any]] = asyncio.Queue()

    async def Call(self, request, context):  # type: ignore[no-untyped-def]
        action = request.request.TypeName().rsplit(".", 1)[-1].removesuffix("Request")
        payload = REQUEST_TYPES[action]()
        request.request.Unpack(payload)
        await self.calls.put((request, payload))
        response = self.answers.get(action, lambda _: RESPONSE_TYPES[action]())(payload)
        result = gw.StationCallResult()
        result.response.Pack(response)
        return result

    async def next_call(self, action: str) -> tuple[gw.StationCall, Any]:
        """The next call the gateway received, which must be ``action``."""
        call, payload = await asyncio.wait_for(self.calls.get(), 5)
        assert payload.DESCRIPTOR.name == f"{action}Request"
        return call, payload


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[FakeGateway, str]]:
    """The stand-in gateway and its address."""
    fake = FakeGateway()
    server = grpc.aio.server()
    gw_grpc.add_StationControlServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield fake, f"127.0.0.1:{port}"
    await server.stop(0)


@pytest.fixture
def ca(tmp_path: pathlib.Path) -> tuple[x509.Certificate, pathlib.Path, pathlib.Path]:
    """A CA made for the test: its certificate and the paths of its PEM certificate and key."""
    cert, key = pki.new_ca("Test CSMS CA")
    cert_path, key_path = tmp_path / "ca.pem", tmp_path / "ca.key"
    cert_path.write_text(pki.cert_pem(cert))
    key_path.write_text(pki.key_pem(key))
    return cert, cert_path, key_path


@pytest.fixture
async def device(start_device_svc, ca):  # type: ignore[no-untyped-def]
    """device_svc signing with the test's CA, with a short follow-up delay."""
    _, cert_path, key_path = ca
    return await start_device_svc(
        boot_followup_delay=0.05, ca_cert_path=str(cert_path), ca_key_path=str(key_path)
    )


def _ts(iso: str) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromJsonString(iso)
    return ts


def _csr(common_name: str) -> str:
    """A PEM CSR with a fresh P-256 key, as a station makes it."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Station Maker"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


async def _create(device, station_id: str) -> None:  # type: ignore[no-untyped-def]
    await device.CreateChargingStation(
        pb.CreateChargingStationRequest(charging_station=pb.ChargingStation(id=station_id))
    )


async def _connected(device, station_id: str, gateway: str) -> None:  # type: ignore[no-untyped-def]
    """Register the station and connect it through ``gateway``."""
    await _create(device, station_id)
    await device.ConnectStation(
        pb.ConnectStationRequest(
            station_id=station_id, gateway=gateway, lease_seconds=30, allow_unsecured=True
        )
    )


async def _expect_error(call, code: grpc.StatusCode) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == code, err.value.details()


def _event(station_id: str, type_: str, iso: str, tech_info: str | None = None):  # type: ignore[no-untyped-def]
    request = ocpp.SecurityEventNotificationRequest(type=type_, timestamp=_ts(iso))
    if tech_info is not None:
        request.tech_info = tech_info
    return pb.SecurityEventNotificationCall(station_id=station_id, request=request)


def _sign(station_id: str, csr: str, usage: int | None = None) -> pb.SignCertificateCall:
    request = ocpp.SignCertificateRequest(csr=csr)
    if usage is not None:
        request.certificate_type = usage
    return pb.SignCertificateCall(station_id=station_id, request=request)


# -- security events -----------------------------------------------------------------------------


async def test_security_events_are_stored_and_listed_newest_first(device, caplog) -> None:
    """Events are answered at once, logged at WARNING with the station id, listed newest first
    (station clock) page by page; an exact repeat is stored once; other stations' stay apart."""
    await _create(device, "CS1")
    await _create(device, "CS2")
    caplog.set_level(logging.WARNING, logger="device_svc")
    sent = [
        ("StartupOfTheDevice", "2026-01-01T10:00:00Z", None),
        ("FirmwareUpdated", "2026-01-01T12:00:00Z", "1.8 -> 1.9"),
        ("InvalidCsmsCertificate", "2026-01-01T11:00:00Z", "unknown issuer"),
        ("TamperDetectionActivated", "2026-01-01T12:00:00Z", None),
        ("ResetOrReboot", "2026-01-01T09:00:00.250Z", "power cycle"),
    ]
    for type_, iso, info in sent:
        resp = await device.SecurityEventNotification(_event("CS1", type_, iso, info))
        assert resp == ocpp.SecurityEventNotificationResponse()
    # Resent (e.g. our answer was lost): stored once.
    await device.SecurityEventNotification(_event("CS1", "FirmwareUpdated", *sent[1][1:]))
    await device.SecurityEventNotification(
        _event("CS2", "SettingSystemTime", "2026-02-01T00:00:00Z")
    )
    assert any(
        r.levelno == logging.WARNING
        and "CS1" in r.getMessage()
        and "FirmwareUpdated" in r.getMessage()
        for r in caplog.records
    )

    listed: list[pb.SecurityEvent] = []
    token, pages = "", 0
    while True:
        page = await device.ListSecurityEvents(
            pb.ListSecurityEventsRequest(station_id="CS1", page_size=2, page_token=token)
        )
        listed.extend(page.security_events)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 3
    # Same station time: the later arrival first.
    assert [(e.type, e.timestamp.ToJsonString(), e.tech_info) for e in listed] == [
        ("TamperDetectionActivated", "2026-01-01T12:00:00Z", ""),
        ("FirmwareUpdated", "2026-01-01T12:00:00Z", "1.8 -> 1.9"),
        ("InvalidCsmsCertificate", "2026-01-01T11:00:00Z", "unknown issuer"),
        ("StartupOfTheDevice", "2026-01-01T10:00:00Z", ""),
        ("ResetOrReboot", "2026-01-01T09:00:00.250Z", "power cycle"),
    ]
    assert all(e.HasField("receive_time") and e.receive_time.seconds > 0 for e in listed)
    every = await device.ListSecurityEvents(pb.ListSecurityEventsRequest(station_id="CS1"))
    assert len(every.security_events) == 5 and not every.next_page_token
    other = await device.ListSecurityEvents(pb.ListSecurityEventsRequest(station_id="CS2"))
    assert [e.type for e in other.security_events] == ["SettingSystemTime"]


async def test_security_events_errors(device) -> None:
    """Unknown stations are NOT_FOUND; a foreign page token or a negative page size is
    INVALID_ARGUMENT."""
    await _create(device, "CS1")
    await _expect_error(
        device.SecurityEventNotification(_event("NOPE", "X", "2026-01-01T00:00:00Z")),
        grpc.StatusCode.NOT_FOUND,
    )
    await _expect_error(
        device.ListSecurityEvents(pb.ListSecurityEventsRequest(station_id="NOPE")),
        grpc.StatusCode.NOT_FOUND,
    )
    for bad in ("!!", "bm90IGEgZGF0ZQ", "MjAyNi0wMS0wMVQwMDowMDowMB8x"):  # junk, one part, naive
        await _expect_error(
            device.ListSecurityEvents(
                pb.ListSecurityEventsRequest(station_id="CS1", page_token=bad)
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
    await _expect_error(
        device.ListSecurityEvents(pb.ListSecurityEventsRequest(station_id="CS1", page_size=-1)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )


# -- SignCertificate → CertificateSigned -----------------------------------------------------------


async def test_sign_certificate_accepted_then_certificate_signed(device, gateway, ca) -> None:
    """A CSR for the station itself is Accepted; then the gateway receives CertificateSigned with
    a chain that verifies against the CA, whose leaf CN is the station id."""
    fake, addr = gateway
    ca_cert, _, _ = ca
    await _connected(device, "CS1", addr)
    fake.answers["CertificateSigned"] = lambda _: ocpp.CertificateSignedResponse(
        status=ocpp.CERTIFICATE_SIGNED_STATUS_ACCEPTED
    )
    resp = await device.SignCertificate(
        _sign("CS1", _csr("CS1"), ocpp.CERTIFICATE_SIGNING_USE_CHARGING_STATION_CERTIFICATE)
    )
    assert resp.status == ocpp.GENERIC_STATUS_ACCEPTED and not resp.HasField("status_info")
    call, signed = await fake.next_call("CertificateSigned")
    assert call.station_id == "CS1"
    assert signed.certificate_type == ocpp.CERTIFICATE_SIGNING_USE_CHARGING_STATION_CERTIFICATE
    leaf = pki.verify_chain(signed.certificate_chain, ca_cert)
    assert pki.subject_cn(leaf) == "CS1"
    assert len(x509.load_pem_x509_certificates(signed.certificate_chain.encode())) == 2


async def test_sign_certificate_without_type_and_v2g(device, gateway, ca) -> None:
    """No certificateType is signed as a station certificate and CertificateSigned carries no
    type; a V2GCertificate keeps its own CN (an EVSE id) and its type, and is signed by the
    Plug & Charge test PKI's CPO sub-CA (chain: leaf, sub-CA) under its V2G root, not by the
    CSMS's CA."""
    fake, addr = gateway
    ca_cert, _, _ = ca
    await _connected(device, "CS1", addr)
    resp = await device.SignCertificate(_sign("CS1", _csr("CS1")))
    assert resp.status == ocpp.GENERIC_STATUS_ACCEPTED
    _, signed = await fake.next_call("CertificateSigned")
    assert not signed.HasField("certificate_type")
    assert pki.subject_cn(pki.verify_chain(signed.certificate_chain, ca_cert)) == "CS1"

    resp = await device.SignCertificate(
        _sign("CS1", _csr("DE*ABC*E123"), ocpp.CERTIFICATE_SIGNING_USE_V2G_CERTIFICATE)
    )
    assert resp.status == ocpp.GENERIC_STATUS_ACCEPTED
    _, signed = await fake.next_call("CertificateSigned")
    assert signed.certificate_type == ocpp.CERTIFICATE_SIGNING_USE_V2G_CERTIFICATE
    leaf, sub_ca = x509.load_pem_x509_certificates(signed.certificate_chain.encode())
    leaf.verify_directly_issued_by(sub_ca)
    roots = await device.GetPlugAndChargePki(pb.GetPlugAndChargePkiRequest())
    assert sub_ca == x509.load_pem_x509_certificate(roots.cpo_sub_ca_certificate.encode())
    sub_ca.verify_directly_issued_by(
        x509.load_pem_x509_certificate(roots.v2g_root_certificate.encode())
    )
    assert sub_ca.subject != ca_cert.subject
    assert pki.subject_cn(leaf) == "DE*ABC*E123"


async def test_sign_certificate_rejected_sends_nothing(device, gateway) -> None:
    """A CSR for another station, or no CSR at all, is Rejected with reason InvalidCSR, and no
    CertificateSigned follows."""
    fake, addr = gateway
    await _connected(device, "CS1", addr)
    for csr, usage, why in [
        (_csr("CS2"), ocpp.CERTIFICATE_SIGNING_USE_CHARGING_STATION_CERTIFICATE, "'CS2'"),
        (_csr("CS2"), None, "'CS2'"),
        (
            "-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----\n",
            None,
            "PEM",
        ),
    ]:
        resp = await device.SignCertificate(_sign("CS1", csr, usage))
        assert resp.status == ocpp.GENERIC_STATUS_REJECTED
        assert resp.status_info.reason_code == "InvalidCSR"
        assert why in resp.status_info.additional_info
        assert len(resp.status_info.additional_info) <= 512
    await asyncio.sleep(0.3)
    assert fake.calls.empty()


async def test_local_ca_is_created_at_the_first_signature(
    start_device_svc, gateway, tmp_path
) -> None:
    """Without a configured CA, the local CA appears in local_ca_dir at the first SignCertificate
    (key 0600) and signs the chain."""
    fake, addr = gateway
    directory = tmp_path / "tls"
    device = await start_device_svc(boot_followup_delay=0.05, local_ca_dir=str(directory))
    await _connected(device, "CS1", addr)
    assert not directory.exists()
    resp = await device.SignCertificate(_sign("CS1", _csr("CS1")))
    assert resp.status == ocpp.GENERIC_STATUS_ACCEPTED
    _, signed = await fake.next_call("CertificateSigned")
    ca_cert = pki.load_cert((directory / "ca.pem").read_bytes())
    assert pki.subject_cn(pki.verify_chain(signed.certificate_chain, ca_cert)) == "CS1"
    assert (directory / "ca.key").stat().st_mode & 0o777 == 0o600


# -- certificate operations ----------------------------------------------------------------------


async def test_certificate_operations_are_forwarded(device, gateway) -> None:
    """InstallCertificate, GetInstalledCertificateIds, DeleteCertificate and CertificateSigned
    reach the gateway as sent and return the station's replies."""
    fake, addr = gateway
    await _connected(device, "CS1", addr)
    hash_data = ocpp.CertificateHashData(
        hash_algorithm=ocpp.HASH_ALGORITHM_SHA256,
        issuer_name_hash="aa",
        issuer_key_hash="bb",
        serial_number="01",
    )
    cases: list[tuple[str, Message, Message]] = [
        (
            "InstallCertificate",
            ocpp.InstallCertificateRequest(
                certificate_type=ocpp.INSTALL_CERTIFICATE_USE_CSMS_ROOT_CERTIFICATE,
                certificate="-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n",
            ),
            ocpp.InstallCertificateResponse(
                status=ocpp.INSTALL_CERTIFICATE_STATUS_ACCEPTED,
            ),
        ),
        (
            "GetInstalledCertificateIds",
            ocpp.GetInstalledCertificateIdsRequest(
                certificate_type=[ocpp.GET_CERTIFICATE_ID_USE_CSMS_ROOT_CERTIFICATE]
            ),
            ocpp.GetInstalledCertificateIdsResponse(
                status=ocpp.GET_INSTALLED_CERTIFICATE_STATUS_ACCEPTED,
                certificate_hash_data_chain=[
                    ocpp.CertificateHashDataChain(
                        certificate_type=ocpp.GET_CERTIFICATE_ID_USE_CSMS_ROOT_CERTIFICATE,
                        certificate_hash_data=hash_data,
                    )
                ],
            ),
        ),
        (
            "DeleteCertificate",
            ocpp.DeleteCertificateRequest(certificate_hash_data=hash_data),
            ocpp.DeleteCertificateResponse(
                status=ocpp.DELETE_CERTIFICATE_STATUS_NOT_FOUND,
                status_info=ocpp.StatusInfo(reason_code="NotFound"),
            ),
        ),
        (
            "CertificateSigned",
            ocpp.CertificateSignedRequest(certificate_chain="chain"),
            ocpp.CertificateSignedResponse(status=ocpp.CERTIFICATE_SIGNED_STATUS_REJECTED),
        ),
    ]
    for action, request, reply in cases:
        fake.answers[action] = lambda _, reply=reply: reply
        command = getattr(pb, f"{action}Command")(station_id="CS1", request=request)
        resp = await getattr(device, action)(command, timeout=10)
        assert resp == reply
        call, payload = await fake.next_call(action)
        assert call.station_id == "CS1" and payload == request
    await device.DisconnectStation(pb.DisconnectStationRequest(station_id="CS1", epoch=1))
    await _expect_error(
        device.InstallCertificate(pb.InstallCertificateCommand(station_id="CS1"), timeout=10),
        grpc.StatusCode.UNAVAILABLE,
    )
