"""Running a gRPC service: health, the error-mapping and request-id interceptor, graceful stop.

Every service process is ``asyncio.run(serve(...))``: it serves ``grpc.health.v1``, maps
:class:`common.errors.CsmsError` to gRPC statuses in one interceptor, and on SIGTERM/SIGINT
reports NOT_SERVING, lets in-flight RPCs finish (``shutdown_grace``) and only then returns, so
nothing is left half-written. It listens with mutual TLS when internal TLS is configured
(common.grpc_tls).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from google.protobuf.message import Message
from google.rpc import status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from common import db, errors, gc_tuning, grpc_tls, metrics
from common import logging as log_ctx

__all__ = [
    "ErrorInterceptor",
    "Server",
    "answer_each",
    "internal_error",
    "start",
    "serve_until_signal",
    "REQUEST_ID_KEY",
]

log = logging.getLogger(__name__)

REQUEST_ID_KEY = "x-request-id"


def internal_error(request_id: str) -> str:
    """What a caller hears of a failure that is ours: nothing but where to look in the log."""
    return f"internal error (request id {request_id})"


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Sets the request id in the logging context and turns CsmsError into its gRPC status;
    any other exception is INTERNAL with :func:`internal_error`, its details only logged."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.stream_stream is not None:
            return handler
        method = handler_call_details.method
        rid = next(
            (v for k, v in handler_call_details.invocation_metadata or () if k == REQUEST_ID_KEY),
            None,
        )

        async def failed(exc: BaseException, context: grpc.aio.ServicerContext) -> None:
            if isinstance(exc, errors.CsmsError):
                await context.abort(exc.code, str(exc))
            if isinstance(exc, grpc.aio.AbortError) or not isinstance(exc, Exception):
                raise exc  # the servicer's own context.abort() (its status stands), cancellation
            # A bug or a database error: its text names tables, statements, addresses.
            # The caller gets the request id; the log has the rest under that id.
            request_id = log_ctx.request_id.get()
            log.error("%s failed (request id %s)", method, request_id, exc_info=exc)
            await context.abort(grpc.StatusCode.INTERNAL, internal_error(request_id))

        def start() -> None:
            log_ctx.request_id.set(rid or uuid.uuid4().hex[:16])

        if handler.unary_unary is not None:
            inner = handler.unary_unary
            ok = metrics.RPC_DURATION.labels(method, "OK")

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                start()
                began = time.perf_counter()
                try:
                    answer = await db.to_the_end(inner(request, context))
                except BaseException as exc:
                    code = getattr(exc, "code", None)
                    metrics.RPC_DURATION.labels(
                        method, code.name if isinstance(code, grpc.StatusCode) else "ERROR"
                    ).observe(time.perf_counter() - began)
                    await failed(exc, context)
                else:
                    ok.observe(time.perf_counter() - began)
                    return answer

            return grpc.unary_unary_rpc_method_handler(
                unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            inner_su = handler.stream_unary

            async def stream_unary(requests: Any, context: grpc.aio.ServicerContext) -> Any:
                start()
                try:
                    return await inner_su(requests, context)
                except BaseException as exc:
                    await failed(exc, context)

            return grpc.stream_unary_rpc_method_handler(
                stream_unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        inner_us = handler.unary_stream

        async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            start()
            try:
                async for response in inner_us(request, context):
                    yield response
            except BaseException as exc:
                await failed(exc, context)

        return grpc.unary_stream_rpc_method_handler(
            unary_stream,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class Server:
    """A started gRPC server with its health servicer and bound port."""

    def __init__(
        self,
        server: grpc.aio.Server,
        health_servicer: health.aio.HealthServicer,
        port: int,
        service_names: Sequence[str],
    ) -> None:
        self.grpc = server
        self.health = health_servicer
        self.port = port
        self.service_names = service_names

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING, then let in-flight RPCs finish for up to ``grace`` seconds."""
        for name in (*self.service_names, ""):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.grpc.stop(grace)


class _GenericOnly:
    """The server as the generated ``add_*Servicer_to_server`` functions see it: their methods
    are served through the generic handler those functions add as well, never pre-registered.

    grpc.aio keeps a pending request per pre-registered method and, for every call that comes,
    waits on all of them again (``asyncio.wait(..., FIRST_COMPLETED)``): transaction_svc has
    about 70 methods, so each call cost adding and removing 70 callbacks, measured as about a
    fifth of its CPU per TransactionEvent at a fleet's pace. Through the generic handlers a
    call finds its method by name in a dict per service instead."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_registered_method_handlers(self, service_name: str, handlers: Any) -> None:
        del service_name, handlers  # served by the generic handler added beside them

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


async def answer_each(
    request: Any, handle: Callable[[Any], Awaitable[Message]], response_type: type[Any]
) -> Any:
    """The answer of a batch RPC (``<Name>s``: ``items`` of ``call`` + ``request_id``, one
    ``Outcome`` per item; see common.batched_rpc): ``handle``, the unary RPC's own code, runs for
    every item at once, and each outcome is what the unary RPC would have ended in, its
    response or its status (CsmsError as the interceptor maps it; anything else INTERNAL)."""
    outcome_type = response_type.Outcome

    async def one(item: Any) -> Any:
        # A task of its own (gather): the request id is this item's alone.
        log_ctx.request_id.set(item.request_id or uuid.uuid4().hex[:16])
        try:
            return outcome_type(response=await handle(item.call))
        except errors.CsmsError as exc:
            error = status_pb2.Status(code=exc.code.value[0], message=str(exc))
        except Exception:  # one item's bug must not fail the others
            log.exception("an item of a batch failed")
            error = status_pb2.Status(
                code=grpc.StatusCode.INTERNAL.value[0],
                message=internal_error(log_ctx.request_id.get()),
            )
        return outcome_type(error=error)

    return response_type(outcomes=await asyncio.gather(*(one(item) for item in request.items)))


async def start(
    listen: str,
    add_servicers: Callable[[grpc.aio.Server], None],
    service_names: Sequence[str],
    *,
    tls: grpc_tls.TlsChoice = grpc_tls.FROM_ENV,
    options: Sequence[tuple[str, Any]] = (),
) -> Server:
    """Build, bind and start a server; ``listen`` may use port 0 (see ``Server.port``);
    ``options``: channel arguments of this service's own, after the common ones.

    It listens with mutual TLS when the process has internal TLS (``CSMS_INTERNAL_TLS_*``,
    common.grpc_tls) or ``tls`` says so, plaintext otherwise.
    """
    server = grpc.aio.server(
        interceptors=[ErrorInterceptor()],
        options=[
            ("grpc.so_reuseport", 0),
            # gRPC cancels calls beyond 1,000 waiting ones by default: a boot storm or 2,000
            # stations ending their transactions at once must queue instead.
            ("grpc.server.max_pending_requests", 20_000),
            ("grpc.server.max_pending_requests_hard_limit", 40_000),
            *options,
        ],
    )
    generic_only = _GenericOnly(server)
    add_servicers(generic_only)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, generic_only)
    reflection.enable_server_reflection(
        (*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = grpc_tls.add_port(server, listen, tls=tls)
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    await server.start()
    for name in (*service_names, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return Server(server, health_servicer, port, service_names)


async def serve_until_signal(
    name: str,
    server: Server,
    grace: float,
    on_stop: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully and run ``on_stop`` (close the db)."""
    log.info("%s serving gRPC on port %d", name, server.port)
    gc_tuning.settle()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("%s stopping: in-flight RPCs get %.0f s", name, grace)
    await server.stop(grace)
    if on_stop is not None:
        await on_stop()
    log.info("%s stopped", name)
