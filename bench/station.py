"""One simulated charging station: a WebSocket, raw OCPP-J frames, the calls a station makes.

Frames are built and parsed with orjson by hand (no ``ocpp.ChargePoint``): the generator must
cost far less per message than the CSMS it measures. Every CALL's latency and outcome goes to
the shared :class:`~bench.stats.Recorder`. The CSMS's own CALLs are answered with a minimal
schema-valid CALLRESULT (see :data:`CANNED`) or a ``NotSupported`` CALLERROR.

With a :class:`Resend` policy a station behaves as real ones do under faults (off by default):
its TransactionEvents go through an outbox sent head first, one at a time; a closed connection,
a CALLERROR ``InternalError`` or no answer within the timeout makes it reconnect (after a short,
growing pause) and send the same event again, same transactionId and seqNo, until a CALLRESULT
comes. What happened to each event is kept in :class:`TxEventRecord` (``Station.ledger``).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import datetime
import functools
import itertools
import random
import socket
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from bench.stats import Recorder

__all__ = [
    "Station",
    "CallFailed",
    "Resend",
    "TxEventRecord",
    "CANNED",
    "answer_csms_call",
    "SUBPROTOCOL",
]

SUBPROTOCOL = Subprotocol("ocpp2.0.1")
MEASURAND = "Energy.Active.Import.Register"

# Minimal valid answers to the CSMS-initiated CALLs whose answer needs nothing from the request.
CANNED: dict[str, dict[str, Any]] = {
    "Reset": {"status": "Accepted"},
    "ChangeAvailability": {"status": "Accepted"},
    "RequestStartTransaction": {"status": "Accepted"},
    "RequestStopTransaction": {"status": "Accepted"},
    "TriggerMessage": {"status": "Accepted"},
    "UnlockConnector": {"status": "Unlocked"},
    "ClearCache": {"status": "Accepted"},
    "GetBaseReport": {"status": "Accepted"},
    "DataTransfer": {"status": "UnknownVendorId"},
    "SetChargingProfile": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Unknown"},
    "CancelReservation": {"status": "Rejected"},
    "ReserveNow": {"status": "Rejected"},
    "SendLocalList": {"status": "Accepted"},
    "GetLocalListVersion": {"versionNumber": 0},
    "GetTransactionStatus": {"messagesInQueue": False},
    "UpdateFirmware": {"status": "Rejected"},
    "GetLog": {"status": "Rejected"},
    "SetNetworkProfile": {"status": "Rejected"},
    "CostUpdated": {},
}


def answer_csms_call(message: list[Any]) -> bytes:
    """The frame a station sends back to a CSMS CALL ``[2, id, action, payload]``."""
    message_id, action, payload = message[1], message[2], message[3]
    if action in CANNED:
        return orjson.dumps([3, message_id, CANNED[action]])
    if action == "GetVariables":
        results = [
            {
                "attributeStatus": "UnknownVariable",
                "component": item.get("component", {"name": "?"}),
                "variable": item.get("variable", {"name": "?"}),
            }
            for item in payload.get("getVariableData", [])
        ]
        return orjson.dumps([3, message_id, {"getVariableResult": results}])
    if action == "SetVariables":
        results = [
            {
                "attributeStatus": "Rejected",
                "component": item.get("component", {"name": "?"}),
                "variable": item.get("variable", {"name": "?"}),
            }
            for item in payload.get("setVariableData", [])
        ]
        return orjson.dumps([3, message_id, {"setVariableResult": results}])
    return orjson.dumps([4, message_id, "NotSupported", f"{action} not simulated", {}])


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class CallFailed(Exception):
    """A CALL that got no CALLRESULT; ``kind`` is how it failed (as counted in the recorder)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True)
class Resend:
    """How a station retries its TransactionEvents (OCPP 2.0.1's TransactionMessageAttempts and
    TransactionMessageRetryInterval, shortened to fit a test run)."""

    # Pause after the first failure in a row, doubled after each further one, up to backoff_max.
    backoff: float = 0.2
    backoff_max: float = 2.0
    # Sends of one event before the station gives it up; 0: until the caller's deadline.
    attempts: int = 0


@dataclass
class TxEventRecord:
    """One TransactionEvent as its station saw it, however often it was sent."""

    station: str
    tx_id: str
    seq_no: int
    event_type: str
    # The energy register reading it carries (Wh), to recognise it in the database.
    energy_wh: float
    offline: bool
    payload: dict[str, Any]
    sent: int = 0
    # Got a CALLRESULT at least once.
    acknowledged: bool = False
    # Refused with a CALLERROR other than InternalError, or given up after Resend.attempts.
    dropped: bool = False
    # Outcome of every send: "acknowledged", "callerror:<Code>", "closed" or "timeout".
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)


# Linux (4.2+): bind() leaves the port to connect(), which picks one unique for the connection's
# four-tuple. bind(address, 0) alone picks one free on the address, searching the kernel's bind
# table: in a reconnect storm of 17,000 stations (perf on the generator, cpu-clock) that search
# took about a third of the generator's CPU.
IP_BIND_ADDRESS_NO_PORT: int = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


@functools.lru_cache(maxsize=64)
def _address(origin: str) -> tuple[str, int]:
    """``ws://host:port`` (or wss) → (host, port)."""
    parts = urllib.parse.urlsplit(origin)
    return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "wss" else 80)


async def _connected_from(source: str, url: str) -> socket.socket:
    """A TCP socket from ``source`` connected to the url's host and port, its port picked by
    connect() (IP_BIND_ADDRESS_NO_PORT); closed when that fails."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        origin = "/".join(url.split("/", 3)[:3])  # a station's url without its path: cached
        await asyncio.get_running_loop().sock_connect(sock, _address(origin))
    except BaseException:
        sock.close()
        raise
    return sock


def _connect_error_kind(exc: BaseException) -> str:
    if isinstance(exc, InvalidStatus):
        return f"handshake:{exc.response.status_code}"
    if isinstance(exc, ConnectionRefusedError):
        return "connect:refused"
    if isinstance(exc, TimeoutError):
        return "connect:timeout"
    if isinstance(exc, ConnectionClosed):
        return "connect:closed"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "connect:reset"
    return f"connect:{type(exc).__name__}"


class Station:
    """A station's connection and its state (one transaction at a time)."""

    #: The subprotocol it offers (bench/station16.py's stations offer ocpp1.6).
    subprotocol: Subprotocol = SUBPROTOCOL

    def __init__(
        self,
        station_id: str,
        url: str,
        recorder: Recorder,
        timeout: float,
        id_token: str,
        password: str = "",
        resend: Resend | None = None,
        source: str = "",
    ) -> None:
        self.id = station_id
        # The loopback address its connection comes from ("": the kernel's choice); one
        # address's ephemeral ports (about 28,000) do not suffice for a fleet.
        self.source = source
        self.url = f"{url.rstrip('/')}/{station_id}"
        self.rec = recorder
        self.timeout = timeout
        self.id_token = id_token
        # Security profile 1: HTTP Basic auth, user name = station id.
        self.headers = (
            {
                "Authorization": "Basic "
                + base64.b64encode(f"{station_id}:{password}".encode()).decode()
            }
            if password
            else None
        )
        self.ws: ClientConnection | None = None
        self.pending: dict[str, asyncio.Future[list[Any]]] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self.tx_id: str | None = None
        self.seq_no = 0
        self.energy_wh = 0.0
        # None: the plain load generator (a failed call is counted and not retried).
        self.resend = resend
        self.outbox: collections.deque[TxEventRecord] = collections.deque()
        self.ledger: list[TxEventRecord] = []
        self.reconnects = 0
        # time.time() of the last reconnection (reconnect()), None before any.
        self.reconnected_at: float | None = None
        # Set when the connection closes, if given (a fleet's stations sleep on it).
        self.wake: asyncio.Event | None = None
        # Shared by a generator's stations, if given: held around each connect of reconnect(),
        # so that a storm of them starts no more handshakes than the generator can finish
        # (one that starts thousands at once finishes none within the CSMS's time for them).
        self.connect_gate: contextlib.AbstractAsyncContextManager[Any] | None = None
        self._failures = 0  # failed sends in a row, for the backoff
        # Told of every CSMS CALL ``[2, id, action, payload]`` before it is answered.
        self.on_call: Callable[[list[Any]], None] | None = None

    # -- connection ------------------------------------------------------------------------

    async def connect(self) -> bool:
        """Open the WebSocket; False (and an error counted) when that fails."""
        t0 = time.perf_counter()
        try:
            extra: dict[str, Any] = {}
            if self.source:  # the TCP connection first (see _connected_from)
                async with asyncio.timeout(self.timeout):
                    extra["sock"] = await _connected_from(self.source, self.url)
            self.ws = await connect(
                self.url,
                subprotocols=[self.subprotocol],
                compression=None,
                proxy=None,  # loopback only: never through an environment proxy
                open_timeout=self.timeout,
                ping_interval=None,  # the CSMS pings; answering is automatic
                max_queue=64,
                additional_headers=self.headers,
                **extra,
            )
        except Exception as exc:  # every failed handshake is counted, whatever its kind
            self.rec.error(_connect_error_kind(exc))
            return False
        self.rec.observe("connect", time.perf_counter() - t0)
        self.rec.connected += 1
        self._reader = asyncio.create_task(self._read())
        return True

    async def _read(self) -> None:
        ws = self.ws
        assert ws is not None
        try:
            while True:
                raw = await ws.recv(decode=False)
                try:
                    message = orjson.loads(raw)
                    kind = message[0]
                except (orjson.JSONDecodeError, IndexError, TypeError, KeyError):
                    self.rec.error("bad_frame")
                    continue
                if kind == 3 or kind == 4:
                    fut = self.pending.pop(message[1], None)
                    if fut is not None and not fut.done():
                        fut.set_result(message)
                elif kind == 2:
                    if self.on_call is not None:
                        self.on_call(message)
                    await ws.send(answer_csms_call(message), text=True)
        except ConnectionClosed:
            pass
        finally:
            self.rec.connected -= 1
            self.closed.set()
            if self.wake is not None:
                self.wake.set()
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(CallFailed("closed"))
            self.pending.clear()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await self._reader

    @property
    def online(self) -> bool:
        """A connection is open (as far as this side knows)."""
        return self.ws is not None and not self.closed.is_set()

    async def _drop(self) -> None:
        """Abandon the current connection at once (no closing handshake with a CSMS that may
        not answer); its outstanding calls fail as closed."""
        if self.ws is not None and not self.closed.is_set():
            self.ws.transport.abort()
        if self._reader is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reader), 5)
        self._reader = None
        self.ws = None
        self.closed.clear()

    async def reconnect(self, deadline: float) -> bool:
        """Drop the connection and connect again, pausing (growing) between tries, until
        ``deadline`` (perf_counter); no BootNotification, as after a mere connection loss."""
        assert self.resend is not None, "reconnect is part of the resend behaviour"
        await self._drop()
        tries = 0
        while True:
            async with self.connect_gate or contextlib.nullcontext():
                connected = await self.connect()
            if connected:
                self.reconnects += 1
                self.reconnected_at = time.time()
                return True
            tries += 1
            pause = min(self.resend.backoff * 2 ** (tries - 1), self.resend.backoff_max)
            if time.perf_counter() + pause >= deadline:
                return False
            await asyncio.sleep(pause)

    # -- calls -----------------------------------------------------------------------------

    async def call(self, action: str, payload: dict[str, Any], kind: str | None = None) -> Any:
        """Send a CALL and return the CALLRESULT payload; raise :class:`CallFailed` otherwise."""
        kind = kind or action
        if (
            self.resend is not None
            and not self.online
            and not await self.reconnect(time.perf_counter() + self.timeout)
        ):
            self.rec.error("closed")
            raise CallFailed("closed")
        if self.ws is None or self.closed.is_set():
            self.rec.error("closed")
            raise CallFailed("closed")
        loop = asyncio.get_running_loop()
        message_id = str(next(self._ids))
        fut: asyncio.Future[list[Any]] = loop.create_future()
        self.pending[message_id] = fut
        timer = loop.call_later(self.timeout, _expire, fut)
        t0 = time.perf_counter()
        self.rec.sent += 1
        try:
            await self.ws.send(orjson.dumps([2, message_id, action, payload]), text=True)
            reply = await fut
        except ConnectionClosed:
            self.pending.pop(message_id, None)
            self.rec.error("closed")
            raise CallFailed("closed") from None
        except CallFailed as exc:
            self.pending.pop(message_id, None)
            self.rec.error(exc.kind)
            raise
        finally:
            timer.cancel()
        if reply[0] == 3:
            self.rec.latency(kind, time.perf_counter() - t0)
            return reply[2]
        code = reply[2] if len(reply) > 2 else "?"
        self.rec.error(f"callerror:{code}")
        raise CallFailed(f"callerror:{code}")

    async def boot(self) -> bool:
        """BootNotification; True when Accepted."""
        reply = await self.call(
            "BootNotification",
            {
                "reason": "PowerUp",
                "chargingStation": {"model": "BenchStation", "vendorName": "csms-bench"},
            },
        )
        status = reply.get("status")
        if status != "Accepted":
            self.rec.error(f"boot:{status}")
            return False
        return True

    async def heartbeat(self) -> None:
        await self.call("Heartbeat", {})

    async def status(self, status: str = "Available") -> None:
        await self.call(
            "StatusNotification",
            {"timestamp": _now(), "connectorStatus": status, "evseId": 1, "connectorId": 1},
        )

    async def authorize(self) -> None:
        await self.call("Authorize", {"idToken": {"idToken": self.id_token, "type": "ISO14443"}})

    def _next_event(self, event_type: str) -> tuple[str, int, str, dict[str, Any]]:
        """The next TransactionEvent's (transactionId, seqNo, eventType, payload); ``Started``
        (or any event outside a transaction) opens a new transaction, ``Ended`` closes it. The
        energy register only grows."""
        if event_type == "Started" or self.tx_id is None:
            self.tx_id = uuid.uuid4().hex
            self.seq_no = 0
            event_type = "Started"
        seq_no = self.seq_no
        self.seq_no += 1
        self.energy_wh += random.uniform(10.0, 500.0)
        now = _now()
        info: dict[str, Any] = {"transactionId": self.tx_id}
        payload: dict[str, Any] = {
            "eventType": event_type,
            "timestamp": now,
            "seqNo": seq_no,
            "transactionInfo": info,
            "meterValue": [
                {
                    "timestamp": now,
                    "sampledValue": [{"value": round(self.energy_wh, 1), "measurand": MEASURAND}],
                }
            ],
        }
        if event_type == "Started":
            payload["triggerReason"] = "Authorized"
            payload["idToken"] = {"idToken": self.id_token, "type": "ISO14443"}
            payload["evse"] = {"id": 1, "connectorId": 1}
            info["chargingState"] = "Charging"
        elif event_type == "Updated":
            payload["triggerReason"] = "MeterValuePeriodic"
        else:
            payload["triggerReason"] = "StopAuthorized"
            info["stoppedReason"] = "Local"
            info["chargingState"] = "Idle"
        tx_id = self.tx_id
        if event_type == "Ended":
            self.tx_id = None
        return tx_id, seq_no, event_type, payload

    async def transaction_event(self, event_type: str) -> bool:
        """One TransactionEvent with a fresh (transactionId, seqNo); True when acknowledged.

        ``Started`` opens a new transaction; ``Ended`` closes it. The energy register only grows.
        With a :class:`Resend` policy it goes through the outbox (behind what is queued there)
        and is retried for up to three timeouts.
        """
        if self.resend is not None:
            record = self.enqueue(event_type)
            await self.deliver(time.perf_counter() + 3 * self.timeout)
            return record.acknowledged
        tx_id, seq_no, event_type, payload = self._next_event(event_type)
        self.rec.tx.sent += 1
        try:
            await self.call("TransactionEvent", payload, kind=f"TransactionEvent.{event_type}")
        except CallFailed as exc:
            outcome = "callerror" if exc.kind.startswith("callerror:") else "no_answer"
            self.rec.tx_outcome(self.id, tx_id, seq_no, outcome)
            return False
        self.rec.tx_outcome(self.id, tx_id, seq_no, "acknowledged")
        return True

    # -- the outbox (resend behaviour) -------------------------------------------------------

    def enqueue(self, event_type: str, offline: bool | None = None) -> TxEventRecord:
        """Queue the next TransactionEvent (see :meth:`_next_event`) behind those not yet
        acknowledged. ``offline`` (default: whether the station is disconnected now) becomes
        the event's ``offline`` field: it happened while the station could not report it."""
        tx_id, seq_no, event_type, payload = self._next_event(event_type)
        if offline is None:
            offline = not self.online
        if offline:
            payload["offline"] = True
        record = TxEventRecord(
            self.id, tx_id, seq_no, event_type, round(self.energy_wh, 1), offline, payload
        )
        self.outbox.append(record)
        self.ledger.append(record)
        return record

    async def deliver(self, deadline: float) -> bool:
        """Send the outbox head first, each event until it gets a CALLRESULT, until the outbox
        is empty (True) or ``deadline`` (perf_counter) passes (False).

        A CALLERROR other than InternalError is the CSMS refusing the event: it is dropped, as
        resending it would not change the answer. Counted in ``rec.tx``: every send.
        """
        policy = self.resend
        assert policy is not None, "the outbox is the resend behaviour"
        while self.outbox:
            if time.perf_counter() >= deadline:
                return False
            if not self.online and not await self.reconnect(deadline):
                return False
            record = self.outbox[0]
            prepared = self._prepared(record)
            if prepared is None:  # it cannot be sent any more (its transaction was refused)
                record.dropped = True
                self.outbox.popleft()
                continue
            action, payload = prepared
            record.sent += 1
            self.rec.tx.sent += 1
            try:
                reply = await self.call(action, payload, kind=f"{action}.{record.event_type}")
            except CallFailed as exc:
                record.outcomes[exc.kind] += 1
                callerror = exc.kind.startswith("callerror:")
                self.rec.tx_outcome(
                    self.id, record.tx_id, record.seq_no, "callerror" if callerror else "no_answer"
                )
                if (callerror and exc.kind != "callerror:InternalError") or (
                    policy.attempts and record.sent >= policy.attempts
                ):
                    record.dropped = True
                    self.outbox.popleft()
                    continue
                if exc.kind == "timeout":
                    await self._drop()  # no answer: the connection is suspect
                self._failures += 1
                pause = min(policy.backoff * 2 ** (self._failures - 1), policy.backoff_max)
                await asyncio.sleep(max(0.0, min(pause, deadline - time.perf_counter())))
                continue
            self._failures = 0
            self._acknowledged(record, reply)
            record.acknowledged = True
            record.outcomes["acknowledged"] += 1
            self.rec.tx_outcome(self.id, record.tx_id, record.seq_no, "acknowledged")
            self.outbox.popleft()
        return True

    def _prepared(self, record: TxEventRecord) -> tuple[str, dict[str, Any]] | None:
        """The CALL that sends ``record`` now: (action, payload); None when it cannot be sent."""
        return "TransactionEvent", record.payload

    def _acknowledged(self, record: TxEventRecord, reply: Any) -> None:
        """``record`` got this CALLRESULT payload (before it is marked acknowledged)."""


def _expire(fut: asyncio.Future[list[Any]]) -> None:
    if not fut.done():
        fut.set_exception(CallFailed("timeout"))
