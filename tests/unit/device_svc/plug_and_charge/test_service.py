"""device_svc.plug_and_charge: the embedded provider's EXI handling, OCSP forwarding with its
cache (against the embedded responder, a real HTTP server on loopback), contract checks, and the
HTTP provider's contract against a local fake provider."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cryptography import x509

from common import pki
from device_svc.plug_and_charge import embedded, service
from device_svc.plug_and_charge.ocsp_client import OcspClient
from device_svc.plug_and_charge.responder import OcspResponder


@pytest.fixture
async def pnc(tmp_path: pathlib.Path) -> AsyncIterator[tuple[service.PlugAndCharge, list[bytes]]]:
    """Plug & Charge on the embedded PKI, its responder on a loopback port; the requests the
    responder saw."""
    pki_ = embedded.EmbeddedPki(tmp_path / "pnc", "")
    responder = OcspResponder(pki_, datetime.timedelta(hours=1))
    seen: list[bytes] = []
    answer = responder._answer

    def counting(request: bytes) -> bytes:
        seen.append(request)
        return answer(request)

    responder._answer = counting  # type: ignore[method-assign]
    port = await responder.start("127.0.0.1", 0)
    pki_.ocsp_url = f"http://127.0.0.1:{port}/ocsp"
    plug = service.PlugAndCharge(service.EmbeddedProvider(pki_), OcspClient(5.0), pki_)
    try:
        yield plug, seen
    finally:
        await responder.stop()


def _exi(doc: Any) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


def _chain(answer: service.EvCertificateAnswer) -> list[x509.Certificate]:
    doc = json.loads(base64.b64decode(answer.exi_response))
    return x509.load_pem_x509_certificates(doc["contractCertificateChain"].encode())


def test_the_emaid_comes_from_the_test_encoding_or_from_the_opaque_bytes() -> None:
    assert embedded.emaid_of(_exi({"eMAID": "NL-ABC-C12345678"})) == "NL-ABC-C12345678"
    opaque = base64.b64encode(b"\x80\x98\x02\x10 not json").decode()
    derived = embedded.emaid_of(opaque)
    assert derived.startswith("NL-TST-C") and derived == embedded.emaid_of(opaque)
    with pytest.raises(pki.PkiError):
        embedded.emaid_of("not base64!")


async def test_install_answers_a_contract_and_a_bad_emaid_fails(
    pnc: tuple[service.PlugAndCharge, list[bytes]],
) -> None:
    plug, _ = pnc
    ok = await plug.ev_certificate(
        "CS1", "urn:iso:15118:2:2013:MsgDef", "Install", _exi({"eMAID": "NL-TST-C12345678"})
    )
    assert ok.status == "Accepted" and len(ok.exi_response) <= service.MAX_EXI_RESPONSE_CHARS
    assert pki.subject_cn(_chain(ok)[0]) == "NL-TST-C12345678"
    bad = await plug.ev_certificate("CS1", "x", "Install", _exi({"eMAID": "nope"}))
    assert (bad.status, bad.exi_response) == ("Failed", "")
    assert "eMAID" in bad.reason


async def test_ocsp_is_forwarded_cached_until_next_update_and_forgotten_on_revocation(
    pnc: tuple[service.PlugAndCharge, list[bytes]],
) -> None:
    plug, seen = pnc
    chain = _chain(
        await plug.ev_certificate("CS1", "x", "Install", _exi({"eMAID": "NL-TST-C12345678"}))
    )
    url = plug.embedded.ocsp_url
    cert_id = service.cert_id_of(chain[0], chain[1], url)
    first = await plug.certificate_status(cert_id)
    second = await plug.certificate_status(cert_id)
    assert first.status == second.status == "Accepted"
    assert first.ocsp_result == second.ocsp_result and len(seen) == 1  # the cache answered
    assert (await plug.check_contract("", [cert_id])).status == "Accepted"
    assert await plug.revoke(cert_id.serial_number)
    assert (await plug.check_contract("", [cert_id])).status == "CertificateRevoked"
    assert len(seen) == 2
    assert not await plug.revoke("abcdef")  # never issued


async def test_a_responder_url_is_read_in_any_case(
    pnc: tuple[service.PlugAndCharge, list[bytes]],
) -> None:
    """responderURL is case-insensitive (OCPP 2.0.1 OCSPRequestDataType), as a URL's scheme and
    host are (RFC 3986): HTTP://127.0.0.1 is asked like http://127.0.0.1."""
    plug, seen = pnc
    chain = _chain(
        await plug.ev_certificate("CS1", "x", "Install", _exi({"eMAID": "NL-TST-C12345678"}))
    )
    url = plug.embedded.ocsp_url.replace("http://", "HTTP://")
    assert (await plug.certificate_status(service.cert_id_of(chain[0], chain[1], url))).status == (
        "Accepted"
    )
    assert len(seen) == 1


async def test_central_validation_of_a_pem_chain(
    pnc: tuple[service.PlugAndCharge, list[bytes]],
) -> None:
    plug, _ = pnc
    chain = _chain(
        await plug.ev_certificate("CS1", "x", "Install", _exi({"eMAID": "NL-TST-C12345678"}))
    )
    pem = "".join(pki.cert_pem(c) for c in chain[:2])
    check = await plug.check_contract(pem, [])
    assert (check.status, check.emaid) == ("Accepted", "NL-TST-C12345678")
    assert (await plug.check_contract("garbage", [])).status == "CertChainError"
    assert (await plug.check_contract(pki.cert_pem(chain[0]), [])).status == "CertChainError"


async def test_no_responder_is_failed_never_accepted(
    pnc: tuple[service.PlugAndCharge, list[bytes]],
) -> None:
    plug, _ = pnc
    chain = _chain(
        await plug.ev_certificate("CS1", "x", "Install", _exi({"eMAID": "NL-TST-C12345678"}))
    )
    gone = service.cert_id_of(chain[0], chain[1], "http://127.0.0.1:9/ocsp")
    assert (await plug.certificate_status(gone)).status == "Failed"
    assert (await plug.check_contract("", [gone])).status == "NoCertificateAvailable"
    not_http = service.cert_id_of(chain[0], chain[1], "ftp://example/ocsp")
    assert (await plug.certificate_status(not_http)).status == "Failed"


async def _fake_provider(
    status: int, body: Any, seen: list[dict[str, Any]]
) -> tuple[asyncio.Server, str]:
    """A contract certificate provider over HTTP on loopback: records each request, answers
    ``status`` with ``body``."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        pairs = [line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line]
        headers = {key.lower(): value for key, value in pairs}
        payload = json.loads(await reader.readexactly(int(headers["content-length"])))
        seen.append({"authorization": headers.get("authorization"), **payload})
        data = json.dumps(body).encode()
        writer.write(
            f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\nconnection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/certificates"


async def test_http_provider_contract() -> None:
    seen: list[dict[str, Any]] = []
    server, url = await _fake_provider(200, {"status": "Accepted", "exiResponse": "AAEC"}, seen)
    async with server:
        answer = await service.HttpProvider(url, "tok", 5).ev_certificate(
            "CS1", "urn:iso:15118:2:2013:MsgDef", "Update", "gICA"
        )
    assert answer == service.EvCertificateAnswer("Accepted", "AAEC")
    assert seen == [
        {
            "authorization": "Bearer tok",
            "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
            "action": "Update",
            "exiRequest": "gICA",
            "stationId": "CS1",
        }
    ]


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, {"status": "Failed", "reason": "no contract"}), (503, {}), (200, ["x"])],
)
async def test_http_provider_failures_are_failed(status: int, body: Any) -> None:
    server, url = await _fake_provider(status, body, [])
    async with server:
        answer = await service.HttpProvider(url, "", 5).ev_certificate(
            "CS1", "x", "Install", "gICA"
        )
    assert answer.status == "Failed" and answer.exi_response == ""


async def test_http_provider_unreachable_is_failed() -> None:
    answer = await service.HttpProvider("http://127.0.0.1:9/x", "", 1).ev_certificate(
        "CS1", "x", "Install", "gICA"
    )
    assert answer.status == "Failed"


async def test_without_the_embedded_pki_nothing_is_made_up(tmp_path: pathlib.Path) -> None:
    """pnc_embedded_pki=false (production): no provider means Failed, only the configured
    roots are trusted, no revocation, no V2G signer of its own, nothing written."""
    from device_svc.server import _v2g_signer, open_plug_and_charge
    from device_svc.settings import Settings

    settings = Settings(pnc_embedded_pki=False, pnc_dir=str(tmp_path / "pnc"))
    plug, responder = open_plug_and_charge(settings)
    assert responder is None and _v2g_signer(plug) is None
    answer = await plug.ev_certificate("CS1", "x", "Install", _exi({"eMAID": "NL-TST-C12345678"}))
    assert answer.status == "Failed"
    assert await plug.roots() == ()
    assert not await plug.revoke("01")
    assert (await plug.check_contract("garbage", [])).status == "CertChainError"
    assert not (tmp_path / "pnc").exists()
