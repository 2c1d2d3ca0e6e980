"""gateway.server against bad input: NUL characters, control characters at the handshake, and
service failures that must not leak internals to the station."""

from __future__ import annotations

import http
import logging
import urllib.parse
from types import SimpleNamespace
from typing import Any

import grpc
import orjson
import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from csms.device.v1 import device_service_pb2 as device_pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.user.v1 import user_service_pb2 as user_pb
from gateway import ocppj
from gateway.routes import Bound
from gateway.server import Gateway
from gateway.settings import Settings

LEAKY = (
    "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:50052: "
    '(sqlalchemy.dbapi.Error) INSERT INTO id_tokens VALUES ($1) Traceback File "x.py"'
)


class RpcError(grpc.aio.AioRpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


class FakeDevice:
    def __init__(self) -> None:
        self.requests: list[Any] = []

    async def ConnectStation(self, request: Any, **options: Any) -> Any:  # noqa: N802
        self.requests.append(request)
        return device_pb.ConnectStationResponse(epoch=1)


class FakeConn:
    remote_address = ("198.51.100.7", 40000)

    def respond(self, status: http.HTTPStatus, text: str) -> Response:
        return Response(status.value, status.phrase, Headers(), text.encode())


def _request(path: str) -> Request:
    return Request(path, Headers({"Sec-WebSocket-Protocol": "ocpp2.0.1"}))


def _handshake_gateway(device: FakeDevice, **settings: Any) -> Gateway:
    router = SimpleNamespace(device=device, connect_station=device.ConnectStation, bound={})
    return Gateway(Settings(**settings), router)  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", ["CS%00X", "CS%0D%0Alevel=ERROR", "CS%1B[31m", "%7F"])
async def test_control_characters_in_the_station_id_are_400(raw: str) -> None:
    """A NUL or any control character in the handshake's station id: 400, device_svc unasked."""
    device = FakeDevice()
    gateway = _handshake_gateway(device)
    response = await gateway.process_request(FakeConn(), _request(f"/ocpp/{raw}"))  # type: ignore[arg-type]
    assert response is not None and response.status_code == 400
    assert b"station id" in response.body
    assert device.requests == []


async def test_bad_station_ids_count_against_the_address_only() -> None:
    """They count against the address (probes: beyond its limit it gets hot), never lock out
    a good handshake from it: other stations share the address."""
    device = FakeDevice()
    gateway = _handshake_gateway(device, auth_failure_limit=2, auth_address_failure_limit=2)
    for _ in range(3):
        response = await gateway.process_request(FakeConn(), _request("/ocpp/CS%00"))  # type: ignore[arg-type]
        assert response is not None and response.status_code == 400
    assert gateway.throttle.address_hot("198.51.100.7")
    assert device.requests == []
    response = await gateway.process_request(FakeConn(), _request("/ocpp/CS1"))  # type: ignore[arg-type]
    assert response is None and len(device.requests) == 1


# -- CALLs ---------------------------------------------------------------------------------------


def _call_gateway(rpc: Any) -> Gateway:
    bound = Bound(ocpp.AuthorizeRequest, "user", user_pb.AuthorizeCall, rpc=rpc)
    router = SimpleNamespace(device=None, bound={"Authorize": bound})
    return Gateway(Settings(), router)  # type: ignore[arg-type]


AUTHORIZE = {"idToken": {"idToken": "TAG-1", "type": "ISO14443"}}


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN]
)
async def test_a_failing_service_is_a_generic_internal_error(
    code: grpc.StatusCode, caplog: pytest.LogCaptureFixture
) -> None:
    """The station hears InternalError with the request id; the details only reach the log."""

    async def fails(request: Any, **options: Any) -> Any:
        raise RpcError(code, LEAKY)

    with caplog.at_level(logging.WARNING, logger="gateway.server"):
        frame = orjson.loads(
            await _call_gateway(fails)._call("CS1", ocppj.Call("m7", "Authorize", AUTHORIZE))
        )
    assert frame[:3] == [4, "m7", "InternalError"]
    description = frame[3]
    for leak in ("ipv4", "127.0.0.1", "INSERT", "sqlalchemy", "Traceback"):
        assert leak not in description and leak not in orjson.dumps(frame[4]).decode()
    assert "CS1/m7" in description  # the request id an operator finds the log line by
    assert LEAKY in caplog.text and "CS1/m7" in caplog.text


async def test_a_refusal_of_ours_keeps_its_message() -> None:
    """What our services say on purpose (INVALID_ARGUMENT, ...) still reaches the station."""

    async def refuses(request: Any, **options: Any) -> Any:
        raise RpcError(
            grpc.StatusCode.INVALID_ARGUMENT, "idToken.idToken must be 1 to 36 characters"
        )

    frame = orjson.loads(
        await _call_gateway(refuses)._call("CS1", ocppj.Call("m", "Authorize", AUTHORIZE))
    )
    assert frame[:4] == [
        4,
        "m",
        "PropertyConstraintViolation",
        "idToken.idToken must be 1 to 36 characters",
    ]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"idToken": {"idToken": "TAG\u00001", "type": "ISO14443"}}, "idToken.idToken"),
        (
            {
                "idToken": {
                    "idToken": "TAG-1",
                    "type": "ISO14443",
                    "additionalInfo": [{"additionalIdToken": "a", "type": "b\u0000"}],
                }
            },
            "idToken.additionalInfo[0].type",
        ),
    ],
)
@pytest.mark.parametrize("as_bytes", [False, True], ids=["text", "binary"])
async def test_nul_in_a_payload_is_a_property_constraint_violation(
    payload: dict[str, Any], field: str, as_bytes: bool
) -> None:
    """A NUL anywhere in a station's payload: PropertyConstraintViolation naming the field,
    answered when the frame is read, so nothing reaches a service (PostgreSQL's text cannot hold
    it; SQLite refuses it alike)."""
    raw = orjson.dumps([2, "m", "Authorize", payload])
    with pytest.raises(ocppj.OcppError) as caught:
        ocppj.parse(raw if as_bytes else raw.decode())
    frame = orjson.loads(caught.value.frame())
    assert frame[:3] == [4, "m", "PropertyConstraintViolation"]
    assert field in frame[3] and "NUL" in frame[3]
    assert caught.value.reply


async def test_nul_in_an_answer_fails_the_call_without_a_reply() -> None:
    """A NUL in a station's CALLRESULT: an error about the answer (not answered, per OCPP-J)."""
    raw = orjson.dumps([3, "m", {"status": "Accepted", "statusInfo": {"reasonCode": "x\u0000"}}])
    with pytest.raises(ocppj.OcppError) as caught:
        ocppj.parse(raw.decode())
    assert caught.value.code == "PropertyConstraintViolation"
    assert "statusInfo.reasonCode" in caught.value.description and not caught.value.reply


def test_a_backslash_before_u0000_is_no_nul() -> None:
    """The escaped backslash followed by "u0000" is text, not a NUL: accepted."""
    raw = orjson.dumps([2, "m", "Authorize", {"idToken": {"idToken": "a\\u0000", "type": "Local"}}])
    assert b"\\\\u0000" in raw
    message = ocppj.parse(raw)
    assert isinstance(message, ocppj.Call)
    assert message.payload["idToken"]["idToken"] == "a\\u0000"


@pytest.mark.parametrize("message_id", ["é-1", "a\nb", "tab\there"])
async def test_any_message_id_makes_a_valid_request_id(message_id: str) -> None:
    """OCPP-J allows any string as message id; the request id sent as gRPC metadata (printable
    ASCII only, or the RPC fails before it is sent) is percent-encoded when it must be."""
    sent: list[Any] = []

    async def rpc(request: Any, **options: Any) -> Any:
        sent.append(options["metadata"])
        return ocpp.AuthorizeResponse(id_token_info=ocpp.IdTokenInfo(status=1))

    frame = orjson.loads(
        await _call_gateway(rpc)._call("CS1", ocppj.Call(message_id, "Authorize", AUTHORIZE))
    )
    assert frame[:2] == [3, message_id]
    [[(key, value)]] = sent
    assert value.isascii() and value.isprintable()
    assert urllib.parse.unquote(value) == f"CS1/{message_id}"


class GoneConn(FakeConn):
    """A connection the client reset before process_request looked at it (as under uvloop)."""

    @property
    def remote_address(self) -> Any:  # type: ignore[override]
        raise AttributeError("'NoneType' object has no attribute 'getpeername'")


async def test_a_connection_reset_during_the_handshake_is_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No exception (websockets would log it as ERROR with a traceback): an INFO line."""
    device = FakeDevice()
    with caplog.at_level(logging.DEBUG, logger="gateway.server"):
        gateway = _handshake_gateway(device)
        response = await gateway.process_request(GoneConn(), _request("/ocpp/CS1"))  # type: ignore[arg-type]
    assert response is not None and device.requests == []
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert "aborted" in caplog.records[0].getMessage()
