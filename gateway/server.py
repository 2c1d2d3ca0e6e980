"""The station-facing WebSocket server: handshake rules, one connection per station, leases.

Per station CALL: one parse (in :mod:`gateway.connection`'s reader), one schema validation, one
conversion to proto, one RPC through the action → RPC table, and the answer goes back only
after the service has stored what the frame carried. Heartbeats are the exception the table
spells out: answered here, their last-seen times sent to device_svc in batches
(:mod:`gateway.heartbeats`, flushed every second and once more when the gateway stops). A bad
frame is answered with its CALLERROR and the connection stays open.

The process is also the gRPC server of ``csms.gateway.v1.StationControlService``
(:mod:`gateway.control`) for the stations it holds. device_svc records which gateway address and
incarnation (``lease_id``, new at every start) holds which station under which connection
epoch. Every third of ``lease_seconds`` the gateway renews its one lease (RenewGatewayLease: one
row, whatever the number of stations) and closes the connections device_svc says have moved
elsewhere since; connections a device_svc from before gateway leases holds under leases of their
own are renewed one by one as before (RenewLeases).
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import functools
import http
import logging
import math
import secrets
import signal
import urllib.parse
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
import orjson
from google.protobuf import json_format
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from common import errors, gc_tuning, grpc_server, grpc_tls, metrics, rlimits
from common import logging as log_ctx
from common.fifo_semaphore import FifoSemaphore
from common.grpc_server import REQUEST_ID_KEY
from common.ocpp_json import (
    ConversionError,
    ocpp_enum_value,
    proto_enum_number,
    to_ocpp,
    to_proto,
    to_proto_steps,
)
from common.ocpp_schema import Version
from csms.device.v1 import device_service_pb2 as device_pb
from csms.gateway.v1 import station_control_pb2_grpc as control_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp_pb
from csms.transaction.v1 import transaction_service_pb2 as transaction_pb
from gateway import auth, ocpp16, ocppj
from gateway.admission import Admission
from gateway.connection import LargeFrames, StationConnection
from gateway.control import CONTROL_SERVICE_NAME, StationControl
from gateway.heartbeats import HeartbeatFlusher, LastSeen
from gateway.keepalive import Keepalive
from gateway.message_log import MessageLog, MessageLogFlusher
from gateway.routes import LocalAnswer, Router
from gateway.settings import Settings

__all__ = [
    "Gateway",
    "Running",
    "SUBPROTOCOL",
    "SUBPROTOCOLS",
    "advertised_address",
    "negotiated",
    "run",
    "start",
]

log = logging.getLogger(__name__)
# websockets' own INFO lines ("connection open", "connection closed") repeat ours, which carry
# the station and epoch; at thousands of stations a second they cost CPU, and only say it twice.
_websockets_log = logging.getLogger("websockets.server")
_websockets_log.setLevel(logging.WARNING)

SUBPROTOCOL = Subprotocol("ocpp2.0.1")
# What the gateway speaks, preferred first: a station offering both gets 2.0.1 (websockets picks
# the first of these the client offers, and negotiated() says the same before the upgrade).
SUBPROTOCOLS: tuple[Subprotocol, ...] = (SUBPROTOCOL, Subprotocol(ocpp16.PROTOCOL))
# RFC 7617: what a 401 asks for (OCPP 2.0.1 Part 2: username = station id).
_CHALLENGE = 'Basic realm="OCPP"'
# device_svc's "what was presented does not satisfy the station's security profile".
_REFUSED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


def _peer(conn: ServerConnection) -> str | None:
    """The client's address ("" when unknown), or None when its connection is gone already."""
    try:
        address = conn.remote_address
    except (AttributeError, OSError):  # uvloop: a closed transport has no socket to ask
        return None
    return str(address[0]) if address else ""


def _offered_subprotocols(headers: Headers) -> list[str]:
    return [
        token.strip()
        for value in headers.get_all("Sec-WebSocket-Protocol")
        for token in value.split(",")
    ]


def negotiated(headers: Headers) -> Version | None:
    """The subprotocol a handshake with these headers gets: the first of :data:`SUBPROTOCOLS`
    the client offers, None when it offers none of them."""
    offered = _offered_subprotocols(headers)
    for protocol in SUBPROTOCOLS:
        if protocol in offered:
            return "ocpp1.6" if protocol == ocpp16.PROTOCOL else "ocpp2.0.1"
    return None


class Gateway:
    """Holds the station connections of this process, forwards their CALLs, renews their leases."""

    def __init__(self, settings: Settings, router: Router, address: str = "") -> None:
        self.settings = settings
        self.router = router
        self.connections: dict[str, StationConnection] = {}
        self.timeout = settings.rpc_timeout
        # Per service: bursts (a fleet ending its transactions at once) queue here, not in the
        # service's gRPC server, which cancels what waits there beyond its pending limit. FIFO
        # semaphores whose cost does not grow with the queue (a boot storm queues thousands).
        self.in_flight: collections.defaultdict[str, FifoSemaphore] = collections.defaultdict(
            functools.partial(FifoSemaphore, settings.rpcs_in_flight_per_service)
        )
        # Handshakes under way at device_svc; many at once pause the garbage collector.
        self.burst = gc_tuning.BurstPause()
        # Large frames' CALLs, every station's, take turns (gateway.connection.LargeFrames).
        self.large_frames = LargeFrames()
        # Every frame in and out (gateway.message_log); None when the log is off.
        self.message_log: MessageLog | None = (
            MessageLog(settings.message_log_limit) if settings.message_log else None
        )
        # What device_svc records as this gateway's StationControlService address; see
        # advertised_address() for a gRPC server listening on port 0.
        self.address = address or settings.advertise_addr or settings.grpc_listen
        # This incarnation's lease at device_svc: a restart is a new one, which never holds
        # what its predecessor held.
        self.lease_id = secrets.token_hex(16)
        # Stations (by id) whose connection (of that epoch) device_svc holds under a lease of
        # its own, not under ours: a device_svc from before gateway leases.
        self.own_leases: dict[str, int] = {}
        # Moves acted on (their connections closed), to acknowledge at the next renewal.
        self._acknowledged: list[int] = []
        self._renew_unimplemented_logged = False
        self._gateway_lease_unimplemented_logged = False
        # The x-forwarded-* headers count only on requests carrying Envoy's secret.
        self._proxy_secret = settings.proxy_secret.get_secret_value().encode()
        self._not_from_proxy_logged = False
        if settings.trust_proxy_headers and not self._proxy_secret:
            log.warning(
                "trust_proxy_headers is on but CSMS_GATEWAY_PROXY_SECRET is not set: nothing "
                "proves a request came through Envoy, so x-forwarded-* headers are ignored"
            )
        # Failed handshakes per (address, station id), per address and per station id
        # (guessing passwords); only a pair that keeps failing is locked out.
        self.throttle = auth.Throttle(
            limit=settings.auth_failure_limit,
            window=settings.auth_failure_window,
            lockout=settings.auth_lockout_seconds,
            max_lockout=settings.auth_max_lockout_seconds,
            address_limit=settings.auth_address_failure_limit,
            station_limit=settings.auth_station_failure_limit,
            max_keys=settings.auth_tracked_keys,
        )

    # -- handshake ---------------------------------------------------------------------------

    def _reject(self, conn: ServerConnection, status: http.HTTPStatus, why: str) -> Response:
        log.info("handshake refused (%d): %s", status, why)
        return conn.respond(status, why + "\n")

    def _unauthorized(
        self, conn: ServerConnection, station_id: str, address: str, why: str, guess: bool
    ) -> Response:
        """401 before any OCPP frame. A refused password (``guess``) counts against the
        (address, station id) pair, the address and the station id; any other refusal
        against the address only."""
        log.warning("handshake refused (401) for station %s from %s: %s", station_id, address, why)
        if guess:
            self._count_guess(station_id, address)
        else:
            self._count_failure(address)
        # The reason stays in our log: the station learns only that it is not let in.
        response = conn.respond(http.HTTPStatus.UNAUTHORIZED, "authentication required\n")
        response.headers["WWW-Authenticate"] = _CHALLENGE
        return response

    def _count_guess(self, station_id: str, address: str) -> None:
        failure = self.throttle.fail(address, station_id)
        if failure.locked_for:
            log.warning(
                "too many failed handshakes for station %s from %s: that pair is refused for "
                "%.0f s (lockout %d in a row)",
                station_id,
                address,
                failure.locked_for,
                failure.strikes,
            )
        if failure.station_turned_hot:
            log.warning(
                "more than %d failed handshakes for station %s in %.0f s (the last from %s): "
                "each address failing on it is now refused at its first failure; the station "
                "itself still gets in with valid credentials",
                self.throttle.station_limit,
                station_id,
                self.throttle.window,
                address,
            )
        if failure.address_turned_hot:
            self._log_hot_address(address)

    def _count_failure(self, address: str) -> None:
        """A failed handshake that counts against the address only (a probe, not a guess)."""
        if self.throttle.fail_address(address):
            self._log_hot_address(address)

    def _log_hot_address(self, address: str) -> None:
        log.warning(
            "more than %d failed handshakes from %s in %.0f s: each station id failing from "
            "there is now refused at its first failure; stations with valid credentials "
            "still get in",
            self.throttle.address_limit,
            address,
            self.throttle.window,
        )

    def _locked_out(self, conn: ServerConnection, station_id: str, address: str) -> Response | None:
        """429 while this (address, station id) pair is locked out; device_svc is not asked.
        Never for the address or the station id alone: that would let one party lock out
        others (the stations behind one NAT, the real station of an id someone guesses)."""
        left = self.throttle.locked(address, station_id)
        if not left:
            return None
        log.debug("handshake refused (429) for station %s from %s: locked out", station_id, address)
        response = conn.respond(
            http.HTTPStatus.TOO_MANY_REQUESTS, "too many failed attempts, retry later\n"
        )
        response.headers["Retry-After"] = str(max(1, math.ceil(left)))
        return response

    def _trusted(self, request: Request, peer: str) -> bool:
        """Whether this request's x-forwarded-* headers are Envoy's: behind Envoy, and carrying
        its secret (one constant-time comparison per handshake)."""
        if not self.settings.trust_proxy_headers or not self._proxy_secret:
            return False
        if auth.from_proxy(request.headers.get_all, self._proxy_secret):
            return True
        # Someone at the gateway's own port, past Envoy: treated as a direct connection.
        first, self._not_from_proxy_logged = not self._not_from_proxy_logged, True
        (log.warning if first else log.debug)(
            "handshake from %s without Envoy's proxy secret: its x-forwarded-* headers are "
            "ignored%s",
            peer,
            "; further ones are logged at DEBUG" if first else "",
        )
        return False

    async def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        """Refuse wrong paths, missing subprotocol and unknown stations before the upgrade."""
        peer = _peer(conn)
        if peer is None:
            # The client reset the connection before we looked at it (under uvloop the closed
            # transport has no peer any more): nobody to answer, and nothing wrong with us.
            log.info("handshake aborted: the client closed the connection")
            return conn.respond(http.HTTPStatus.BAD_REQUEST, "connection closed\n")
        prefix = self.settings.path_prefix
        path = request.path.split("?", 1)[0]
        if not path.startswith(prefix) or "/" in path[len(prefix) :] or len(path) == len(prefix):
            return self._reject(conn, http.HTTPStatus.NOT_FOUND, f"connect to {prefix}<stationId>")
        station_id = urllib.parse.unquote(path[len(prefix) :])
        if not station_id.isprintable():
            # A NUL or a control character: no station has one (PostgreSQL cannot even look it
            # up), and it would only forge log lines. Counted like a probe for ids.
            address = auth.client_address(
                peer, request.headers.get_all("X-Forwarded-For"), self._trusted(request, peer)
            )
            self._count_failure(address)
            return self._reject(
                conn, http.HTTPStatus.BAD_REQUEST, "the station id has a control character"
            )
        protocol = negotiated(request.headers)
        if protocol is None:
            return self._reject(
                conn,
                http.HTTPStatus.BAD_REQUEST,
                f"offer the {' or '.join(SUBPROTOCOLS)} subprotocol (Sec-WebSocket-Protocol)",
            )
        log_ctx.station_id.set(station_id)
        trusted = self._trusted(request, peer)
        address = auth.client_address(peer, request.headers.get_all("X-Forwarded-For"), trusted)
        locked = self._locked_out(conn, station_id, address)
        if locked is not None:
            return locked
        try:
            presented = auth.handshake(station_id, request.headers.get_all, peer, trusted)
        except auth.BadCredentials as exc:
            # Malformed, or another station's username: no password of this station guessed.
            return self._unauthorized(conn, station_id, address, str(exc), guess=False)
        # A burst of handshakes (a boot storm) pauses the garbage collector (gc_tuning).
        self.burst.enter()
        try:
            # A boot storm queues here, not in gRPC; apart from the CALLs, so that the stations
            # already in get their BootNotification answered while the others still queue.
            async with self.in_flight["device-handshake"]:
                resp = await self.router.connect_station(
                    device_pb.ConnectStationRequest(
                        station_id=station_id,
                        auto_register=self.settings.auto_register,
                        gateway=self.address,
                        lease_seconds=self.settings.lease_seconds,
                        password=presented.password,
                        secure_transport=presented.secure_transport,
                        client_certificate_cn=presented.client_certificate_cn,
                        client_certificate_organization=presented.client_certificate_organization,
                        allow_unsecured=self.settings.allow_unsecured_stations,
                        protocol=protocol,
                        gateway_lease=self.lease_id,
                    ),
                    timeout=self.timeout,
                )
        except grpc.aio.AioRpcError as exc:
            guess = bool(presented.password)
            if exc.code() in _REFUSED:
                return self._unauthorized(conn, station_id, address, exc.details() or "", guess)
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                if not self.settings.allow_unsecured_stations:
                    # Answered and counted like a wrong password (device_svc verified the
                    # password presented against a dummy hash, so it took as long): neither the
                    # status nor the time tells which station ids exist.
                    return self._unauthorized(
                        conn, station_id, address, "unknown charging station", guess
                    )
                # Unsecured stations allowed: a known profile-0 id gets in without any secret,
                # so hiding ids gains nothing; 404 tells a misconfigured station what is wrong.
                self._count_failure(address)
                return self._reject(
                    conn, http.HTTPStatus.NOT_FOUND, f"unknown charging station {station_id}"
                )
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                return self._reject(conn, http.HTTPStatus.BAD_REQUEST, exc.details() or "")
            log.warning("device_svc unavailable at handshake: %s", exc.details())
            return self._reject(
                conn, http.HTTPStatus.SERVICE_UNAVAILABLE, "CSMS unavailable, retry later"
            )
        finally:
            self.burst.leave()
        self.throttle.succeed(address, station_id)
        station = resp.charging_station
        # One attribute, not four: each one more on websockets' connection object grew its
        # __dict__ (1.5 KiB a connection, measured).
        conn.admitted = _Admitted(  # type: ignore[attr-defined]
            station_id,
            resp.epoch,
            protocol,
            station.registration_status
            if station.HasField("last_boot_at")
            else ocpp_pb.REGISTRATION_STATUS_UNSPECIFIED,
            resp.under_gateway_lease,
        )
        return None

    # -- connection ----------------------------------------------------------------------------

    async def handler(self, conn: ServerConnection) -> None:
        admitted: _Admitted = conn.admitted  # type: ignore[attr-defined]
        station_id, epoch, protocol = admitted.station_id, admitted.epoch, admitted.protocol
        _forget_handshake(conn)
        log_ctx.station_id.set(station_id)
        station = StationConnection(
            conn,
            station_id,
            epoch,
            functools.partial(self._call16 if protocol == "ocpp1.6" else self._call, station_id),
            # 1.6 Heartbeats are translated first (gateway.ocpp16): through the worker.
            answer_now=None if protocol == "ocpp1.6" else self.answer_now,
            send_timeout=self.settings.send_timeout,
            registration=admitted.registration,
            large_frames=self.large_frames,
            message_log=self.message_log,
            protocol=protocol,
        )
        old = self.connections.get(station_id)
        if old is not None and old.epoch > epoch:
            # Two handshakes of the station raced and the newer one got in first: commands go
            # to the newer epoch, so this one would only take the station's frames from it.
            log.info(
                "a newer connection (epoch %d) is held here: closing epoch %d", old.epoch, epoch
            )
            await station.close("replaced by a newer connection")
            await self._disconnected(station_id, epoch)
            return
        self.connections[station_id] = station
        if admitted.under_gateway_lease:
            self.own_leases.pop(station_id, None)
        else:
            self.own_leases[station_id] = epoch
        metrics.CONNECTED.set(len(self.connections))
        if old is not None:
            # A station whose link died must be able to come back at once: the new one wins.
            log.info("replacing the previous connection of this station")
            await old.close("replaced by a new connection")
        log.info("connected (epoch %d, %s)", epoch, protocol)
        try:
            await station.serve()
        except Exception:  # a crash in one connection must not take others down
            log.exception("connection handler failed")
        finally:
            if self.connections.get(station_id) is station:
                del self.connections[station_id]
                if self.own_leases.get(station_id) == epoch:
                    del self.own_leases[station_id]
                metrics.CONNECTED.set(len(self.connections))
            await self._disconnected(station_id, epoch)

    async def _disconnected(self, station_id: str, epoch: int) -> None:
        try:
            async with self.in_flight["device"]:
                await self.router.disconnect_station(
                    device_pb.DisconnectStationRequest(station_id=station_id, epoch=epoch),
                    timeout=self.timeout,
                )
        except grpc.aio.AioRpcError as exc:
            log.warning("could not record the disconnect: %s", exc.details())
        log.info("disconnected (epoch %d)", epoch)

    # -- leases --------------------------------------------------------------------------------

    async def renew_leases_forever(self) -> None:
        """Renew every third of the lease, so two lost renewals in a row still leave time."""
        interval = self.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            await self.renew_leases()

    async def renew_leases(self) -> None:
        """One renewal of this incarnation's lease (and of the connections held under leases of
        their own); closes the connections device_svc says moved away."""
        renewed = await self._renew_gateway_lease()
        if renewed is False or self.own_leases:
            await self._renew_station_leases(everything=renewed is False)

    async def _renew_gateway_lease(self) -> bool | None:
        """RenewGatewayLease until no move waits; False when device_svc does not implement it
        (None when it failed otherwise)."""
        while True:
            acknowledged = list(self._acknowledged)
            try:
                resp = await self.router.device.RenewGatewayLease(
                    device_pb.RenewGatewayLeaseRequest(
                        gateway=self.address,
                        gateway_lease=self.lease_id,
                        ttl_seconds=self.settings.lease_seconds,
                        acknowledged=acknowledged,
                    ),
                    timeout=self.timeout,
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    if not self._gateway_lease_unimplemented_logged:
                        log.info("device_svc has no gateway leases: renewing station by station")
                        self._gateway_lease_unimplemented_logged = True
                    return False
                log.warning(
                    "lease renewal failed (retried next tick): %s %s",
                    exc.code().name,
                    exc.details(),
                )
                return None
            # Forgotten by device_svc: acknowledged once is enough.
            del self._acknowledged[: len(acknowledged)]
            closing = []
            for move in resp.moves:
                station = self.connections.get(move.station_id)
                # Only the connection the move is about: the station may have come back here.
                if station is not None and station.epoch == move.epoch:
                    log.info("%s: %s: closing", move.station_id, move.reason)
                    closing.append(station.close(move.reason[:120]))
            await asyncio.gather(*closing)
            self._acknowledged.extend(move.id for move in resp.moves)
            if not resp.more:
                return True

    async def _renew_station_leases(self, everything: bool) -> None:
        """The per-station renewal (RenewLeases) of the connections device_svc holds under
        leases of their own (``everything`` when it has no gateway leases at all)."""
        held = {
            sid: conn
            for sid, conn in self.connections.items()
            if everything or self.own_leases.get(sid) == conn.epoch
        }
        if not held:
            return
        try:
            resp = await self.router.device.RenewLeases(
                device_pb.RenewLeasesRequest(
                    gateway=self.address,
                    stations=[
                        device_pb.StationLease(station_id=sid, epoch=conn.epoch)
                        for sid, conn in held.items()
                    ],
                    ttl_seconds=self.settings.lease_seconds,
                ),
                timeout=self.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                if not self._renew_unimplemented_logged:
                    log.debug("device_svc does not implement RenewLeases yet")
                    self._renew_unimplemented_logged = True
            else:
                log.warning(
                    "lease renewal failed (retried next tick): %s %s",
                    exc.code().name,
                    exc.details(),
                )
            return
        # Only the connections this renewal was about: a station may have come back here since.
        lost = [
            held[sid] for sid in resp.lost if sid in held and self.connections.get(sid) is held[sid]
        ]
        for station in lost:
            log.info("%s is held by another gateway now: closing", station.station_id)
        await asyncio.gather(*(station.close("connected to another gateway") for station in lost))

    # -- frames --------------------------------------------------------------------------------

    async def _call16(self, station_id: str, call: ocppj.Call, *, large: bool = False) -> str:
        """A 1.6 station's CALL: checked against its 1.6 schema, translated to the 2.0.1 CALL
        that serves it (gateway.ocpp16), answered by :meth:`_call`, the answer translated back.
        A StartTransaction first gets its integer transactionId from transaction_svc
        (AssignTransactionId16: committed, the same for a re-sent request), which its
        translation and its answer carry."""
        if call.action not in ocpp16.TRANSLATIONS:
            self._not_supported(station_id, call.action, "no 1.6 translation")
            return ocppj.call_error(
                call.message_id,
                ocppj.Code.NOT_SUPPORTED,
                f"{call.action} is not supported by this CSMS for OCPP 1.6 stations",
            )
        try:
            ocppj.validate(call.action, "Request", call.payload, call.message_id, "ocpp1.6")
        except ocppj.OcppError as exc:
            log.info("invalid %s: %s", call.action, exc)
            return exc.frame("ocpp1.6")
        transaction_id: int | None = None
        try:
            assignment = ocpp16.assignment(call)
            remote_start_id: int | None = None
            charging_state: str | None = None
            if assignment is not None:  # StartTransaction: the CSMS's transactionId first
                assigned = await self._assign_transaction_id16(station_id, call, assignment)
                if isinstance(assigned, str):  # a CALLERROR
                    return ocpp16.answer(call.action, assigned)
                transaction_id = assigned.transaction_id
                if assigned.HasField("remote_start_id"):
                    remote_start_id = assigned.remote_start_id
                if assigned.charging_state:
                    charging_state = ocpp_enum_value(
                        ocpp_pb.ChargingStateEnum, assigned.charging_state
                    )
            translated, extra = ocpp16.request(
                call, _now(), transaction_id, remote_start_id, charging_state
            )
        except ocppj.OcppError as exc:
            log.info("refused %s: %s", call.action, exc)
            return exc.frame("ocpp1.6")
        answer = await self._call(
            station_id, translated, large=large, protocol="ocpp1.6", extra=extra
        )
        if (
            call.action == "StatusNotification"
            and call.payload["status"] in ocpp16.CHARGING_STATE_16
            and orjson.loads(answer)[0] == ocppj.MessageType.CALL_RESULT
        ):
            await self._charging_state16(station_id, call)
        return ocpp16.answer(call.action, answer, transaction_id)

    async def _charging_state16(self, station_id: str, call: ocppj.Call) -> None:
        """A 1.6 StatusNotification Charging, SuspendedEV or SuspendedEVSE of a connector: the
        chargingState of the 1.6 transaction active on it (1.6 has no chargingState), recorded
        as a TransactionEvent Updated before the station is answered. A failure here is logged:
        the status itself is stored, and the transaction keeps the state it had."""
        connector = call.payload["connectorId"]
        try:
            async with self.in_flight["transaction"]:
                found = await self.router.transaction.ListTransactions(
                    transaction_pb.ListTransactionsRequest(
                        station_id=station_id,
                        state=transaction_pb.ListTransactionsRequest.STATE_ACTIVE,
                        page_size=1000,
                    ),
                    timeout=self.timeout,
                )
        except grpc.aio.AioRpcError as exc:
            log.warning("chargingState of %s not recorded: %s", call.payload, exc.details())
            return
        ids = [
            t.id
            for t in found.transactions
            if t.evse_id == connector and t.protocol == ocpp16.PROTOCOL
        ]
        if not ids:
            log.info("%s status %s: no 1.6 transaction active there", connector, call.payload)
            return
        # The newest, should a stale one (its StopTransaction never came) be there too: 1.6 ids
        # are the CSMS's increasing integers (listed as text: "10" before "9").
        newest = max(ids, key=lambda i: int(i) if i.isdecimal() else -1)
        try:
            event = ocpp16.charging_state_event(call.payload, newest, _now())
        except ocppj.OcppError as exc:
            log.info("chargingState of %s not recorded: %s", call.payload, exc)
            return
        if event is None:
            return
        frame = await self._call(
            station_id,
            ocppj.Call(f"{call.message_id}-state", "TransactionEvent", event),
            protocol="ocpp1.6",
        )
        if orjson.loads(frame)[0] != ocppj.MessageType.CALL_RESULT:
            log.warning("chargingState of transaction %s not recorded: %s", newest, frame)

    async def _assign_transaction_id16(
        self, station_id: str, call: ocppj.Call, assignment: Mapping[str, Any]
    ) -> transaction_pb.AssignTransactionId16Response | str:
        """transaction_svc's assignment for a 1.6 StartTransaction (its integer transactionId,
        committed, the same for a re-sent one; the remote start it follows; its chargingState at
        the start), or the 2.0.1 CALLERROR frame when it cannot be had."""
        request = transaction_pb.AssignTransactionId16Request(station_id=station_id)
        try:
            json_format.ParseDict(assignment, request)
        except json_format.ParseError as exc:  # e.g. a meterStart beyond 32 bits
            raise ocppj.OcppError(
                ocppj.Code.PROPERTY_CONSTRAINT_VIOLATION, str(exc), call.message_id
            ) from None
        station = self.connections.get(station_id)
        if station is not None and station.registration is not None:
            request.registration = station.registration
        state = await self._connector_charging_state16(station_id, request.connector_id)
        if state is not None:
            request.charging_state = proto_enum_number(ocpp_pb.ChargingStateEnum, state)
        request_id = _request_id(station_id, call.message_id)
        try:
            async with self.in_flight["transaction"]:
                return await self.router.transaction.AssignTransactionId16(
                    request, timeout=self.timeout, metadata=((REQUEST_ID_KEY, request_id),)
                )
        except grpc.aio.AioRpcError as exc:
            return self._rpc_failed(station_id, call, request_id, "transaction", exc)

    async def _connector_charging_state16(self, station_id: str, connector: int) -> str | None:
        """The chargingState the 1.6 status device_svc holds for the connector says (a 1.6
        station may report Charging, SuspendedEV or SuspendedEVSE before its StartTransaction:
        :data:`gateway.ocpp16.CHARGING_STATE_16`), None when it says none or cannot be read
        (then the transaction starts Charging, as it did before)."""
        try:
            async with self.in_flight["device"]:
                found = await self.router.device.GetChargingStation(
                    device_pb.GetChargingStationRequest(id=station_id), timeout=self.timeout
                )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "connector %d's status not read (its transaction starts Charging): %s",
                connector,
                exc.details(),
            )
            return None
        for evse in found.evses:
            if evse.id == connector:
                for each in evse.connectors:
                    if each.HasField("ocpp16"):
                        return ocpp16.CHARGING_STATE_16.get(each.ocpp16.status)
        return None

    async def serve_call(self, station_id: str, call: ocppj.Call) -> str:
        """Serve a 2.0.1 CALL as if the station had sent it: what a 1.6 station answered that a
        2.0.1 station reports in a CALL of its own (gateway.control, gateway.ocpp16.COMMANDS)."""
        return await self._call(station_id, call)

    def answer_now(self, station_id: str, call: ocppj.Call) -> str | None:
        """The answer to a 2.0.1 CALL the gateway answers itself (a Local row of the table: a
        Heartbeat), made at once, without waiting for anything; None for every other CALL.
        The connection sends it from its reader when no CALL of the station is being answered
        (gateway.connection), which spares a worker task per Heartbeat; :meth:`_call` answers
        Local rows here too (behind another CALL, or in a large frame)."""
        bound = self.router.bound.get(call.action)
        if bound is None or bound.answer is None:
            return None
        return _answered_locally(station_id, call, bound.request_type, bound.answer)

    async def _call(
        self,
        station_id: str,
        call: ocppj.Call,
        *,
        large: bool = False,
        protocol: Version = "ocpp2.0.1",
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        bound = self.router.bound.get(call.action)
        if bound is None:
            self._not_supported(station_id, call.action, "no route")
            return ocppj.call_error(
                call.message_id,
                ocppj.Code.NOT_SUPPORTED,
                f"{call.action} is not supported by this CSMS",
            )
        if bound.answer is not None:  # a Local row of the table: no RPC, answered at once
            return _answered_locally(station_id, call, bound.request_type, bound.answer)
        try:
            ocppj.validate(call.action, "Request", call.payload, call.message_id)
            if large:  # its turn (gateway.connection.LargeFrames): others are served between steps
                request = await _converted(to_proto_steps(bound.request_type, call.payload))
            else:
                request = to_proto(bound.request_type, call.payload)
        except (ocppj.OcppError, ConversionError) as exc:
            return _refusal(call, exc)
        # Not a Local row: the router bound it to its RPC and <Action>Call wrapper.
        assert bound.rpc is not None and bound.call_type is not None
        request_id = _request_id(station_id, call.message_id)
        wrapper = bound.call_type(station_id=station_id, request=request)
        station = self.connections.get(station_id)
        if bound.tells_registration and station is not None and station.registration is not None:
            wrapper.registration = station.registration
        if bound.tells_protocol and protocol != "ocpp2.0.1":
            wrapper.protocol = protocol
        for field, value in (extra or {}).items():  # a 1.6 CALL's own fields (gateway.ocpp16)
            json_format.ParseDict(value, getattr(wrapper, field))
        try:
            async with self.in_flight[bound.service]:
                response = await bound.rpc(
                    wrapper,
                    timeout=self.timeout,
                    metadata=((REQUEST_ID_KEY, request_id),),
                )
        except grpc.aio.AioRpcError as exc:
            return self._rpc_failed(station_id, call, request_id, bound.service, exc)
        if call.action == "BootNotification" and station is not None:
            station.registration = response.status
        return ocppj.call_result(call.message_id, to_ocpp(response))

    def _rpc_failed(
        self,
        station_id: str,
        call: ocppj.Call,
        request_id: str,
        service: str,
        exc: grpc.aio.AioRpcError,
    ) -> str:
        """The CALLERROR frame answering ``call`` whose RPC failed with ``exc``, logged."""
        code = errors.ocpp_code(exc.code())
        if code == ocppj.Code.NOT_SUPPORTED:
            self._not_supported(station_id, call.action, f"{service}_svc: {exc.details()}")
        else:
            log.warning(
                "%s failed (request %s): %s %s",
                call.action,
                request_id,
                exc.code().name,
                exc.details(),
            )
        if code == errors.OCPP_DEFAULT:
            # Our fault (a failing service, one unreachable): its details name databases,
            # addresses, statements; they stay in the log, the station gets the request id.
            return ocppj.call_error(call.message_id, code, grpc_server.internal_error(request_id))
        return ocppj.call_error(call.message_id, code, exc.details() or exc.code().name)

    def _not_supported(self, station_id: str, action: str, why: str) -> None:
        """Log a CALL refused as NotSupported: at WARNING the first time per connection and
        action, so that an operator learns what the stations send that the CSMS does not handle,
        without a line per frame; at DEBUG afterwards."""
        station = self.connections.get(station_id)
        first = station is None or station.first_refusal(action)
        (log.warning if first else log.debug)(
            "%s refused with NotSupported (%s)%s",
            action,
            why,
            "; further ones from this connection are logged at DEBUG" if first else "",
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def serve(self) -> Any:
        """The websockets server (awaitable, or an async context manager)."""
        self.admission = Admission(
            self.settings.max_connections or rlimits.connection_budget(rlimits.open_files()),
            self.settings.request_timeout,
        )
        log.info("stations' port: at most %d connections", self.admission.max_connections)
        return serve(
            self.handler,
            self.settings.host,
            self.settings.port,
            process_request=self.process_request,
            subprotocols=list(SUBPROTOCOLS),
            compression=None,  # OCPP needs none; it costs ~100 KiB of zlib state per station
            # One sweep pings the silent stations (gateway.keepalive), not a task per station.
            ping_interval=None,
            # A boot storm queues thousands of handshakes behind device_svc: give them time.
            open_timeout=self.settings.handshake_timeout,
            # Slow and half-open handshakes are bounded before that, in count and time.
            create_connection=self.admission.connection_class(),
            backlog=self.settings.listen_backlog,
            max_size=self.settings.max_frame_size,
            server_header=None,
            logger=_websockets_log,
        )


@dataclass(frozen=True, slots=True)
class _Admitted:
    """What the handshake found out about a station, for its connection's handler."""

    station_id: str
    epoch: int
    protocol: Version
    registration: int  # its RegistrationStatus, UNSPECIFIED before its first boot
    # Held under this gateway's lease; False: under a lease of its own (an older device_svc).
    under_gateway_lease: bool = True


def _forget_handshake(conn: ServerConnection) -> None:
    """Let go of the upgrade request's and response's headers (3 KiB a connection, measured),
    which websockets keeps for the connection's life (the request in its parser's frame too,
    out of reach) and nothing here reads after the handshake."""
    if conn.request is not None:
        conn.request.headers.clear()
    conn.response = None


def _now() -> str:
    """The gateway's time as OCPP sends it: UTC, milliseconds."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _request_id(station_id: str, message_id: str) -> str:
    """The x-request-id of a station's CALL: "station/messageId"."""
    request_id = f"{station_id}/{message_id}"
    if not (request_id.isascii() and request_id.isprintable()):
        # gRPC metadata takes printable ASCII only, and a message id may be any string.
        request_id = urllib.parse.quote(request_id, safe="/")
    return request_id


def _answered_locally(
    station_id: str,
    call: ocppj.Call,
    request_type: type[Message],
    answer: LocalAnswer,
) -> str:
    """The answer frame of a Local row's CALL: checked, converted, answered by the gateway."""
    try:
        ocppj.validate(call.action, "Request", call.payload, call.message_id)
        request = to_proto(request_type, call.payload)
    except (ocppj.OcppError, ConversionError) as exc:
        return _refusal(call, exc)
    return ocppj.call_result(call.message_id, to_ocpp(answer(station_id, request)))


def _refusal(call: ocppj.Call, exc: ocppj.OcppError | ConversionError) -> str:
    """The CALLERROR answering a CALL whose payload breaks its schema or cannot be converted."""
    if isinstance(exc, ocppj.OcppError):
        log.info("invalid %s: %s", call.action, exc)
        return exc.frame()
    log.info("unconvertible %s: %s", call.action, exc)
    return ocppj.call_error(call.message_id, ocppj.Code.FORMAT_VIOLATION, str(exc))


async def _converted(steps: Generator[None, None, Message]) -> Message:
    """The message of :func:`common.ocpp_json.to_proto_steps`, letting the event loop run
    whatever is ready (other stations' frames, answers) between two steps."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
        await asyncio.sleep(0)


def advertised_address(settings: Settings, grpc_port: int) -> str:
    """advertise_addr, else grpc_listen with the port the server really bound (port 0)."""
    if settings.advertise_addr:
        return settings.advertise_addr
    host = settings.grpc_listen.rsplit(":", 1)[0]
    return f"{host}:{grpc_port}"


class Running:
    """A started gateway: WebSocket server, StationControlService, lease renewal, channels."""

    def __init__(
        self,
        gateway: Gateway,
        ws: Server,
        grpc_srv: grpc_server.Server,
        channels: Mapping[str, grpc.aio.Channel],
        heartbeats: HeartbeatFlusher,
        messages: MessageLogFlusher | None = None,
    ) -> None:
        self.gateway = gateway
        self.messages = messages
        self._messages = (
            asyncio.create_task(messages.run_forever(), name="message-log-flusher")
            if messages is not None
            else None
        )
        self.ws = ws
        self.grpc = grpc_srv
        self.channels = channels
        self.heartbeats = heartbeats
        self.ws_port: int = next(iter(ws.sockets)).getsockname()[1]
        self.grpc_port = grpc_srv.port
        self._renewal = asyncio.create_task(gateway.renew_leases_forever(), name="lease-renewal")
        self._flusher = asyncio.create_task(heartbeats.run_forever(), name="heartbeat-flusher")
        self.keepalive = Keepalive(
            gateway.connections, gateway.settings.keepalive_idle, gateway.settings.keepalive_timeout
        )
        self._keepalive = asyncio.create_task(self.keepalive.run_forever(), name="keepalive")

    async def stop(self, grace: float) -> None:
        """NOT_SERVING, stop accepting, close the stations, let in-flight RPCs finish, close."""
        for name in (*self.grpc.service_names, ""):
            await self.grpc.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self._renewal.cancel()
        self._keepalive.cancel()
        # Closing a station fails its outstanding CSMS-initiated call with UNAVAILABLE at once;
        # each handler records the disconnect with device_svc before it ends.
        self.ws.close(close_connections=True)
        try:
            await asyncio.wait_for(self.ws.wait_closed(), grace)
        except TimeoutError:
            log.warning("station connections still closing after %.1f s", grace)
        await self.grpc.stop(grace)
        await asyncio.gather(self._renewal, self._keepalive, return_exceptions=True)
        # The stations are gone: what they said since the last tick goes now, once.
        self._flusher.cancel()
        await asyncio.gather(self._flusher, return_exceptions=True)
        await self.heartbeats.flush()
        if self._messages is not None and self.messages is not None:
            self._messages.cancel()
            await asyncio.gather(self._messages, return_exceptions=True)
            await self.messages.flush()
        for channel in self.channels.values():
            await channel.close()


async def start(settings: Settings) -> Running:
    """Start the gRPC server, then the WebSocket server (tests use this with port 0)."""
    channels = {
        "device": grpc_tls.aio_channel(settings.device_svc_addr),
        "transaction": grpc_tls.aio_channel(settings.transaction_svc_addr),
        "user": grpc_tls.aio_channel(settings.user_svc_addr),
    }
    last_seen = LastSeen(settings.heartbeat_pending_limit)
    router = Router(
        channels,
        {"heartbeat": last_seen.answer},
        batch_size=settings.rpc_batch_size,
        batches_in_flight=settings.rpc_batches_in_flight,
    )
    gateway = Gateway(settings, router)
    control = StationControl(gateway.connections, settings.call_timeout, gateway.serve_call)
    try:
        grpc_srv = await grpc_server.start(
            settings.grpc_listen,
            lambda s: control_grpc.add_StationControlServiceServicer_to_server(control, s),
            [CONTROL_SERVICE_NAME],
        )
    except BaseException:
        for channel in channels.values():
            await channel.close()
        raise
    # Stations register this address at handshake, so it must be known before they connect.
    gateway.address = advertised_address(settings, grpc_srv.port)
    try:
        ws = await gateway.serve()
    except BaseException:
        await grpc_srv.stop(0)
        for channel in channels.values():
            await channel.close()
        raise
    flusher = HeartbeatFlusher(
        last_seen,
        router.device,
        settings.heartbeat_flush_interval,
        settings.rpc_timeout,
        settings.heartbeat_batch_size,
    )
    messages = (
        MessageLogFlusher(
            gateway.message_log,
            router.device,
            settings.message_log_interval,
            settings.rpc_timeout,
            settings.message_log_batch_size,
            budget=settings.message_log_budget,
        )
        if gateway.message_log is not None
        else None
    )
    running = Running(gateway, ws, grpc_srv, channels, flusher, messages)
    log.info(
        "gateway listening on ws://%s:%d%s<stationId>, StationControlService on %s (as %s)",
        settings.host,
        running.ws_port,
        settings.path_prefix,
        settings.grpc_listen,
        gateway.address,
    )
    return running


async def run(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT, then stop gracefully (see Running.stop)."""
    # Each station is a descriptor: as many as this process may have (the stations' port is
    # sized from it unless max_connections says otherwise).
    rlimits.raise_open_files(settings.max_connections, "the stations' port")
    running = await start(settings)
    gc_tuning.settle()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("gateway stopping: connections and in-flight RPCs get %.1f s", settings.shutdown_grace)
    await running.stop(settings.shutdown_grace)
    log.info("gateway stopped")
