"""common.grpc_server's interceptor on a real gRPC server on loopback: what callers hear when a
servicer fails unexpectedly (a generic INTERNAL with the request id, the details in the log)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from common import errors, grpc_server

SECRET = (
    "(sqlalchemy.dbapi.Error) invalid byte sequence for encoding UTF8: 0x00 "
    "[SQL: INSERT INTO stations (id) VALUES ($1)] ipv4:127.0.0.1:50052"
)


async def _boom(request: bytes, context: Any) -> bytes:
    raise RuntimeError(SECRET)


async def _refuse(request: bytes, context: Any) -> bytes:
    raise errors.InvalidArgument("model must be at most 20 characters")


async def _abort(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    raise AssertionError("abort returned")


def _add(server: grpc.aio.Server) -> None:
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "test.Svc",
                {
                    name: grpc.unary_unary_rpc_method_handler(fn)
                    for name, fn in (("Boom", _boom), ("Refuse", _refuse), ("Abort", _abort))
                },
            ),
        )
    )


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    server = await grpc_server.start("127.0.0.1:0", _add, ["test.Svc"], tls=None)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as ch:
            yield ch
    finally:
        await server.stop(0)


async def _call(channel: grpc.aio.Channel, method: str, rid: str = "") -> grpc.aio.AioRpcError:
    metadata = ((grpc_server.REQUEST_ID_KEY, rid),) if rid else None
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel.unary_unary(f"/test.Svc/{method}")(b"", metadata=metadata, timeout=5)
    return caught.value


async def test_unexpected_exception_is_a_generic_internal_error(
    channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    """INTERNAL, "internal error" and the request id; the text and traceback only in the log."""
    with caplog.at_level(logging.ERROR, logger="common.grpc_server"):
        err = await _call(channel, "Boom", rid="req-4242")
    assert err.code() == grpc.StatusCode.INTERNAL
    details = err.details() or ""
    assert details == "internal error (request id req-4242)"
    for leak in ("sqlalchemy", "INSERT", "ipv4", "127.0.0.1", "RuntimeError", "Traceback"):
        assert leak not in details and leak not in str(err.trailing_metadata())
    [record] = [r for r in caplog.records if r.exc_info]
    assert SECRET in caplog.text and "req-4242" in caplog.text


async def test_request_id_is_made_when_none_was_sent(channel: grpc.aio.Channel) -> None:
    """Without an x-request-id the answer still names one, the log line's."""
    err = await _call(channel, "Boom")
    assert err.code() == grpc.StatusCode.INTERNAL
    assert (err.details() or "").startswith("internal error (request id ")
    assert len(err.details() or "") > len("internal error (request id )")


async def test_csms_errors_and_aborts_keep_their_status(channel: grpc.aio.Channel) -> None:
    """What a service says on purpose is unchanged."""
    err = await _call(channel, "Refuse")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == "model must be at most 20 characters"
    err = await _call(channel, "Abort")
    assert err.code() == grpc.StatusCode.NOT_FOUND and err.details() == "no such thing"
