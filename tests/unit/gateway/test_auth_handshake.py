"""Tests for gateway.server's handshake: credentials to ConnectStation, 401, 429, trust."""

from __future__ import annotations

import asyncio
import base64
import http
import logging
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from csms.device.v1 import device_service_pb2 as device_pb
from gateway import server as gateway_server
from gateway.server import Gateway
from gateway.settings import Settings

XFCC = 'Hash=h;Subject="CN=CS1,O=CSMS"'
# Envoy's shared secret (the launcher generates one per run; a Secret on Kubernetes).
PROXY_SECRET = "envoy-to-gateway-0123456789abcdef"
BEHIND_ENVOY: dict[str, Any] = {"trust_proxy_headers": True, "proxy_secret": PROXY_SECRET}


class RpcError(grpc.aio.AioRpcError):
    def __init__(self, code: grpc.StatusCode, details: str = "") -> None:
        super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


class FakeDevice:
    """ConnectStation that records its requests and answers ``answer``."""

    def __init__(self) -> None:
        self.requests: list[device_pb.ConnectStationRequest] = []
        self.answer: grpc.StatusCode | None = None

    async def ConnectStation(self, request: Any, **options: Any) -> Any:  # noqa: N802
        self.requests.append(request)
        if self.answer is not None:
            raise RpcError(self.answer, "wrong password")
        return device_pb.ConnectStationResponse(epoch=1)


class FakeConn:
    def __init__(self, address: str = "198.51.100.7") -> None:
        self.remote_address = (address, 40000)

    def respond(self, status: http.HTTPStatus, text: str) -> Response:
        return Response(status.value, status.phrase, Headers(), text.encode())


def _gateway(device: FakeDevice, **settings: Any) -> Gateway:
    return Gateway(
        Settings(**settings),
        SimpleNamespace(device=device, connect_station=device.ConnectStation, bound={}),
    )  # type: ignore[arg-type]


def _request(station_id: str = "CS1", password: str | None = None, **extra: str) -> Request:
    headers = Headers({"Sec-WebSocket-Protocol": "ocpp2.0.1"})
    if password is not None:
        token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    for name, value in extra.items():
        headers[name.replace("_", "-")] = value
    return Request(f"/ocpp/{station_id}", headers)


async def test_credentials_and_settings_reach_connect_station() -> None:
    """Password, TLS and certificate CN (trusted proxy) and allow_unsecured are passed on."""
    device = FakeDevice()
    gateway = _gateway(device, **BEHIND_ENVOY, allow_unsecured_stations=True)
    request = _request(
        password="secret-of-sixteen",
        X_Forwarded_Proto="https",
        X_Forwarded_Client_Cert=XFCC,
        X_CSMS_Proxy_Secret=PROXY_SECRET,
    )
    assert await gateway.process_request(FakeConn(), request) is None  # type: ignore[arg-type]
    [sent] = device.requests
    assert sent.password == "secret-of-sixteen"
    assert sent.secure_transport and sent.client_certificate_cn == "CS1"
    assert sent.allow_unsecured


async def test_proxy_headers_are_ignored_unless_trusted() -> None:
    """Straight at the gateway: a station cannot claim TLS or a certificate by header."""
    device = FakeDevice()
    gateway = _gateway(device)
    request = _request(X_Forwarded_Proto="https", X_Forwarded_Client_Cert=XFCC)
    await gateway.process_request(FakeConn(), request)  # type: ignore[arg-type]
    [sent] = device.requests
    assert not sent.secure_transport and sent.client_certificate_cn == ""
    assert not sent.allow_unsecured  # the default: unsecured stations are not allowed


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED]
)
async def test_refused_credentials_are_401_with_a_challenge(code: grpc.StatusCode) -> None:
    """device_svc's refusal is HTTP 401 asking for Basic auth; the reason is not disclosed."""
    device = FakeDevice()
    device.answer = code
    response = await _gateway(device).process_request(FakeConn(), _request(password="x" * 16))  # type: ignore[arg-type]
    assert response is not None and response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="OCPP"'
    assert b"wrong password" not in response.body


async def test_another_stations_username_is_401_without_asking_device_svc() -> None:
    """The Basic username must be the URL's station id."""
    device = FakeDevice()
    request = _request()
    request.headers["Authorization"] = "Basic " + base64.b64encode(b"CS2:secret").decode()
    response = await _gateway(device).process_request(FakeConn(), request)  # type: ignore[arg-type]
    assert response is not None and response.status_code == 401
    assert device.requests == []


async def test_too_many_failures_lock_out_the_pair_only_and_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After auth_failure_limit refused passwords of one address on one station id: that pair
    gets 429 with Retry-After (device_svc not asked, WARNING), even with the right password;
    a neighbour behind the same address and the station from elsewhere still get in."""
    device = FakeDevice()
    device.answer = grpc.StatusCode.UNAUTHENTICATED
    gateway = _gateway(device, auth_failure_limit=2, auth_lockout_seconds=30)
    with caplog.at_level(logging.WARNING, logger="gateway.server"):
        for _ in range(3):
            response = await gateway.process_request(FakeConn(), _request(password="x" * 16))  # type: ignore[arg-type]
            assert response is not None and response.status_code == 401
    assert "too many failed handshakes" in caplog.text
    assert "198.51.100.7" in caplog.text and "CS1" in caplog.text
    asked = len(device.requests)
    device.answer = None
    response = await gateway.process_request(FakeConn(), _request(password="right" * 4))  # type: ignore[arg-type]
    assert response is not None and response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 30
    assert len(device.requests) == asked
    neighbour = _request("CS9", password="y" * 16)
    assert await gateway.process_request(FakeConn(), neighbour) is None  # type: ignore[arg-type]
    elsewhere = _request(password="right" * 4)
    assert await gateway.process_request(FakeConn("203.0.113.5"), elsewhere) is None  # type: ignore[arg-type]


async def test_guessing_one_station_from_many_addresses_does_not_lock_it_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Beyond auth_station_failure_limit on one id (a botnet): each further address is refused
    after its first failure, and the station with its password still gets in from its own."""
    device = FakeDevice()
    device.answer = grpc.StatusCode.UNAUTHENTICATED
    gateway = _gateway(device, auth_station_failure_limit=3, auth_lockout_seconds=30)
    with caplog.at_level(logging.WARNING, logger="gateway.server"):
        for n in range(5):
            conn = FakeConn(f"192.0.2.{n}")
            response = await gateway.process_request(conn, _request(password="x" * 16))  # type: ignore[arg-type]
            assert response is not None and response.status_code == 401
    assert "more than 3 failed handshakes for station CS1" in caplog.text
    locked = await gateway.process_request(FakeConn("192.0.2.4"), _request(password="x" * 16))  # type: ignore[arg-type]
    assert locked is not None and locked.status_code == 429
    device.answer = None
    station = _request(password="right" * 4)
    assert await gateway.process_request(FakeConn("203.0.113.5"), station) is None  # type: ignore[arg-type]


async def test_failures_without_a_password_never_lock_out_a_pair() -> None:
    """No credentials, or a malformed Authorization header, guess no password: they count
    against the address only (which gets hot), never 429."""
    device = FakeDevice()
    device.answer = grpc.StatusCode.UNAUTHENTICATED
    gateway = _gateway(device, auth_failure_limit=1, auth_address_failure_limit=3)
    malformed = _request()
    malformed.headers["Authorization"] = "Basic !!!"
    for request in [_request()] * 5 + [malformed] * 5:
        response = await gateway.process_request(FakeConn(), request)  # type: ignore[arg-type]
        assert response is not None and response.status_code == 401
    assert gateway.throttle.address_hot("198.51.100.7")
    assert not gateway.throttle.station_hot("CS1")


async def test_an_unknown_station_is_answered_like_a_wrong_password() -> None:
    """Unsecured stations not allowed: NOT_FOUND is the same 401 (status, challenge, body) as
    a wrong password, and counts the same, so that no answer tells which ids exist."""
    answers = []
    for code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAUTHENTICATED):
        device = FakeDevice()
        device.answer = code
        gateway = _gateway(device, auth_failure_limit=1)
        statuses = []
        for _ in range(3):
            response = await gateway.process_request(FakeConn(), _request(password="x" * 16))  # type: ignore[arg-type]
            assert response is not None
            statuses.append(response.status_code)
            if response.status_code == 401:
                answers.append((dict(response.headers.raw_items()), response.body))
        assert statuses == [401, 401, 429]
    assert all(answer == answers[0] for answer in answers)


async def test_an_unknown_station_is_404_while_unsecured_stations_are_allowed() -> None:
    """With unsecured stations allowed any profile-0 id gets in without a secret: hiding ids
    gains nothing, and 404 tells a misconfigured station what is wrong."""
    device = FakeDevice()
    device.answer = grpc.StatusCode.NOT_FOUND
    gateway = _gateway(device, allow_unsecured_stations=True)
    response = await gateway.process_request(FakeConn(), _request(password="x" * 16))  # type: ignore[arg-type]
    assert response is not None and response.status_code == 404


async def test_forwarded_address_counts_only_when_trusted() -> None:
    """Behind Envoy each station's own address is counted, not Envoy's."""
    device = FakeDevice()
    device.answer = grpc.StatusCode.UNAUTHENTICATED
    gateway = _gateway(device, **BEHIND_ENVOY, auth_failure_limit=1)
    for n in range(3):
        request = _request(
            f"CS{n}",
            password="x" * 16,
            X_Forwarded_For=f"192.0.2.{n}",
            X_CSMS_Proxy_Secret=PROXY_SECRET,
        )
        response = await gateway.process_request(FakeConn(), request)  # type: ignore[arg-type]
        assert response is not None and response.status_code == 401


@pytest.mark.parametrize(
    "presented",
    [
        pytest.param({}, id="no-secret"),
        pytest.param({"X_CSMS_Proxy_Secret": "not-" + PROXY_SECRET}, id="wrong-secret"),
        pytest.param({"X_CSMS_Proxy_Secret": PROXY_SECRET[:-1]}, id="prefix-of-secret"),
        pytest.param({"X_CSMS_Proxy_Secret": ""}, id="empty-secret"),
    ],
)
async def test_proxy_headers_without_envoys_secret_are_ignored(presented: dict[str, str]) -> None:
    """Straight at a gateway behind Envoy (its internal port): forged x-forwarded-* headers
    claim neither TLS, nor a certificate, nor another address."""
    device = FakeDevice()
    gateway = _gateway(device, **BEHIND_ENVOY)
    request = _request(
        X_Forwarded_Proto="https",
        X_Forwarded_Client_Cert=XFCC,
        X_Forwarded_For="192.0.2.1",
        **presented,
    )
    await gateway.process_request(FakeConn(), request)  # type: ignore[arg-type]
    [sent] = device.requests
    assert not sent.secure_transport and sent.client_certificate_cn == ""


async def test_two_secret_headers_are_not_envoys() -> None:
    """Envoy overwrites the header: a request with two of them did not come from it alone."""
    device = FakeDevice()
    request = _request(X_Forwarded_Proto="https", X_Forwarded_Client_Cert=XFCC)
    request.headers["X-CSMS-Proxy-Secret"] = PROXY_SECRET
    request.headers["X-CSMS-Proxy-Secret"] = "forged"
    await _gateway(device, **BEHIND_ENVOY).process_request(FakeConn(), request)  # type: ignore[arg-type]
    [sent] = device.requests
    assert not sent.secure_transport and sent.client_certificate_cn == ""


async def test_rotating_forwarded_for_without_the_secret_does_not_escape_the_lockout() -> None:
    """Failures are counted against the TCP peer when the request is not Envoy's."""
    device = FakeDevice()
    gateway = _gateway(device, **BEHIND_ENVOY, auth_failure_limit=2)
    device.answer = grpc.StatusCode.NOT_FOUND  # guessing a made-up station id's password
    statuses = []
    for n in range(4):
        request = _request("NOPE", password="x" * 16, X_Forwarded_For=f"192.0.2.{n}")
        response = await gateway.process_request(FakeConn(), request)  # type: ignore[arg-type]
        assert response is not None
        statuses.append(response.status_code)
    assert statuses == [401, 401, 401, 429]


async def test_trust_without_a_secret_ignores_the_headers_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """trust_proxy_headers alone (no proxy_secret): nothing proves a request is Envoy's, so the
    headers are ignored, and a WARNING says so once."""
    device = FakeDevice()
    with caplog.at_level(logging.WARNING, logger="gateway.server"):
        gateway = _gateway(device, trust_proxy_headers=True)
        for _ in range(3):
            request = _request(
                X_Forwarded_Proto="https",
                X_Forwarded_Client_Cert=XFCC,
                X_CSMS_Proxy_Secret="",
            )
            await gateway.process_request(FakeConn(), request)  # type: ignore[arg-type]
    assert all(not r.secure_transport and not r.client_certificate_cn for r in device.requests)
    warnings = [r for r in caplog.records if "PROXY_SECRET" in r.getMessage()]
    assert len(warnings) == 1, caplog.text


async def test_requests_without_the_secret_are_warned_about_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handshake that is not Envoy's on a gateway behind Envoy: one WARNING (with the peer),
    not one per attempt; the secret itself never appears in the log."""
    device = FakeDevice()
    gateway = _gateway(device, **BEHIND_ENVOY)
    with caplog.at_level(logging.DEBUG, logger="gateway.server"):
        for _ in range(3):
            request = _request(X_Forwarded_Proto="https", X_CSMS_Proxy_Secret="guess")
            await gateway.process_request(FakeConn(), request)  # type: ignore[arg-type]
        request = _request(X_CSMS_Proxy_Secret=PROXY_SECRET)
        await gateway.process_request(FakeConn(), request)  # type: ignore[arg-type]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "198.51.100.7" in warnings[0].getMessage()
    assert PROXY_SECRET not in caplog.text
    assert PROXY_SECRET not in repr(gateway.settings)


async def test_handshakes_do_not_queue_behind_station_calls() -> None:
    """ConnectStation has its own in-flight bound: a handshake goes through while the station
    CALLs to device_svc use up theirs (a boot storm: the BootNotifications of the stations
    already in must not wait for every handshake, nor the other way round)."""
    device = FakeDevice()
    gateway = _gateway(device, allow_unsecured_stations=True, rpcs_in_flight_per_service=1)
    async with gateway.in_flight["device"]:  # every CALL permit taken
        response = await asyncio.wait_for(
            gateway.process_request(FakeConn(), _request()),  # type: ignore[arg-type]
            1.0,
        )
    assert response is None and len(device.requests) == 1


def test_listen_backlog_is_sized_for_a_boot_storm(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel's accept queue holds thousands of simultaneous connects, not asyncio's 100."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(gateway_server, "serve", lambda *args, **kwargs: seen.update(kwargs))
    _gateway(FakeDevice(), listen_backlog=5000).serve()
    assert seen["backlog"] == 5000
    assert Settings().listen_backlog >= 4096
