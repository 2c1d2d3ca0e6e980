"""The station-facing WebSocket server: handshake rules, one connection per station, the frame loop.

Per frame: one parse, one schema validation, one conversion to proto, one RPC through the
action → RPC table, and the answer goes back only after the service has stored what the
frame carried. A bad frame is answered with its CALLERROR and the connection stays open.
"""

from __future__ import annotations

import asyncio
import http
import logging
import signal
import urllib.parse
from typing import Any

import grpc
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from common import errors
from common import logging as log_ctx
from common.grpc_server import REQUEST_ID_KEY
from common.ocpp_json import ConversionError, to_ocpp, to_proto
from csms.device.v1 import device_service_pb2 as device_pb
from gateway import ocppj
from gateway.routes import Router
from gateway.settings import Settings

__all__ = ["Gateway", "SUBPROTOCOL"]

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp2.0.1"


def _offered_subprotocols(headers: Headers) -> list[str]:
    return [
        token.strip()
        for value in headers.get_all("Sec-WebSocket-Protocol")
        for token in value.split(",")
    ]


class Gateway:
    """Holds the station connections of this process and forwards their CALLs."""

    def __init__(self, settings: Settings, router: Router) -> None:
        self.settings = settings
        self.router = router
        self.connections: dict[str, ServerConnection] = {}
        self.timeout = settings.rpc_timeout

    # -- handshake ---------------------------------------------------------------------------

    def _reject(self, conn: ServerConnection, status: http.HTTPStatus, why: str) -> Response:
        log.info("handshake refused (%d): %s", status, why)
        return conn.respond(status, why + "\n")

    async def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        """Refuse wrong paths, missing subprotocol and unknown stations before the upgrade."""
        prefix = self.settings.path_prefix
        path = request.path.split("?", 1)[0]
        if not path.startswith(prefix) or "/" in path[len(prefix) :] or len(path) == len(prefix):
            return self._reject(conn, http.HTTPStatus.NOT_FOUND, f"connect to {prefix}<stationId>")
        station_id = urllib.parse.unquote(path[len(prefix) :])
        if SUBPROTOCOL not in _offered_subprotocols(request.headers):
            return self._reject(
                conn,
                http.HTTPStatus.BAD_REQUEST,
                f"offer the {SUBPROTOCOL} subprotocol (Sec-WebSocket-Protocol)",
            )
        log_ctx.station_id.set(station_id)
        try:
            resp = await self.router.device.ConnectStation(
                device_pb.ConnectStationRequest(
                    station_id=station_id, auto_register=self.settings.auto_register
                ),
                timeout=self.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return self._reject(
                    conn, http.HTTPStatus.NOT_FOUND, f"unknown charging station {station_id}"
                )
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                return self._reject(conn, http.HTTPStatus.BAD_REQUEST, exc.details() or "")
            log.warning("device_svc unavailable at handshake: %s", exc.details())
            return self._reject(
                conn, http.HTTPStatus.SERVICE_UNAVAILABLE, "CSMS unavailable, retry later"
            )
        conn.station_id = station_id  # type: ignore[attr-defined]
        conn.epoch = resp.epoch  # type: ignore[attr-defined]
        return None

    # -- connection ----------------------------------------------------------------------------

    async def handler(self, conn: ServerConnection) -> None:
        station_id: str = conn.station_id  # type: ignore[attr-defined]
        log_ctx.station_id.set(station_id)
        old = self.connections.get(station_id)
        self.connections[station_id] = conn
        if old is not None:
            # A station whose link died must be able to come back at once: the new one wins.
            log.info("replacing the previous connection of this station")
            await old.close(code=1000, reason="replaced by a new connection")
        log.info("connected (epoch %d)", conn.epoch)  # type: ignore[attr-defined]
        try:
            async for frame in conn:
                reply = await self.handle_frame(station_id, frame)
                if reply is not None:
                    await conn.send(reply)
        except Exception:  # a crash in one connection must not take others down
            log.exception("connection handler failed")
        finally:
            if self.connections.get(station_id) is conn:
                del self.connections[station_id]
            await self._disconnected(station_id, conn.epoch)  # type: ignore[attr-defined]

    async def _disconnected(self, station_id: str, epoch: int) -> None:
        try:
            await self.router.device.DisconnectStation(
                device_pb.DisconnectStationRequest(station_id=station_id, epoch=epoch),
                timeout=self.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("could not record the disconnect: %s", exc.details())
        log.info("disconnected (epoch %d)", epoch)

    # -- frames --------------------------------------------------------------------------------

    async def handle_frame(self, station_id: str, frame: str | bytes) -> str | None:
        """The answer to one frame (None when a frame needs none)."""
        try:
            message = ocppj.parse(frame)
        except ocppj.OcppError as exc:
            log_ctx.message_id.set(exc.message_id)
            log.info("bad frame: %s", exc)
            return exc.frame() if exc.reply else None
        log_ctx.message_id.set(message.message_id)
        if not isinstance(message, ocppj.Call):
            # No CSMS-initiated CALL is outstanding yet: nothing waits for this answer.
            log.info("unexpected %s ignored", type(message).__name__)
            return None
        return await self._call(station_id, message)

    async def _call(self, station_id: str, call: ocppj.Call) -> str:
        bound = self.router.bound.get(call.action)
        if bound is None:
            return ocppj.call_error(
                call.message_id,
                ocppj.Code.NOT_SUPPORTED,
                f"{call.action} is not supported by this CSMS",
            )
        try:
            ocppj.validate(call.action, "Request", call.payload, call.message_id)
            request = to_proto(bound.request_type, call.payload)
        except ocppj.OcppError as exc:
            log.info("invalid %s: %s", call.action, exc)
            return exc.frame()
        except ConversionError as exc:
            log.info("unconvertible %s: %s", call.action, exc)
            return ocppj.call_error(call.message_id, ocppj.Code.FORMAT_VIOLATION, str(exc))
        try:
            response = await bound.rpc(
                bound.route.call_type(station_id=station_id, request=request),
                timeout=self.timeout,
                metadata=((REQUEST_ID_KEY, f"{station_id}/{call.message_id}"),),
            )
        except grpc.aio.AioRpcError as exc:
            code = errors.ocpp_code(exc.code())
            log.warning("%s failed: %s %s", call.action, exc.code().name, exc.details())
            return ocppj.call_error(call.message_id, code, exc.details() or exc.code().name)
        return ocppj.call_result(call.message_id, to_ocpp(response))

    # -- lifecycle -------------------------------------------------------------------------------

    def serve(self) -> Any:
        """The websockets server (an async context manager)."""
        return serve(
            self.handler,
            self.settings.host,
            self.settings.port,
            process_request=self.process_request,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            compression=None,  # OCPP needs none; it costs ~100 KiB of zlib state per station
            max_size=self.settings.max_frame_size,
            server_header=None,
        )


async def run(settings: Settings) -> None:
    """Serve stations until SIGTERM/SIGINT, then close every connection and the channels."""
    channels = {
        "device": grpc.aio.insecure_channel(settings.device_svc_addr),
        "transaction": grpc.aio.insecure_channel(settings.transaction_svc_addr),
        "user": grpc.aio.insecure_channel(settings.user_svc_addr),
    }
    gateway = Gateway(settings, Router(channels))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    server: Server
    async with gateway.serve() as server:
        port = next(iter(server.sockets)).getsockname()[1]
        log.info(
            "gateway listening on ws://%s:%d%s<stationId>",
            settings.host,
            port,
            settings.path_prefix,
        )
        await stopping.wait()
        log.info("gateway stopping")
        server.close(close_connections=True)
        await asyncio.wait_for(server.wait_closed(), settings.shutdown_grace)
    for channel in channels.values():
        await channel.close()
    log.info("gateway stopped")
