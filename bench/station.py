"""One simulated charging station: a WebSocket, raw OCPP-J frames, the calls a station makes.

Frames are built and parsed with orjson by hand (no ``ocpp.ChargePoint``): the generator must
cost far less per message than the CSMS it measures. Every CALL's latency and outcome goes to
the shared :class:`~bench.stats.Recorder`. The CSMS's own CALLs are answered with a minimal
schema-valid CALLRESULT (see :data:`CANNED`) or a ``NotSupported`` CALLERROR.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import itertools
import random
import time
import uuid
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.stats import Recorder

__all__ = ["Station", "CallFailed", "CANNED", "answer_csms_call", "SUBPROTOCOL"]

SUBPROTOCOL = "ocpp2.0.1"
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

    def __init__(
        self,
        station_id: str,
        url: str,
        recorder: Recorder,
        timeout: float,
        id_token: str,
        password: str = "",
    ) -> None:
        self.id = station_id
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

    # -- connection ------------------------------------------------------------------------

    async def connect(self) -> bool:
        """Open the WebSocket; False (and an error counted) when that fails."""
        t0 = time.perf_counter()
        try:
            self.ws = await connect(
                self.url,
                subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                compression=None,
                proxy=None,  # loopback only: never through an environment proxy
                open_timeout=self.timeout,
                ping_interval=None,  # the CSMS pings; answering is automatic
                max_queue=64,
                additional_headers=self.headers,
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
                    await ws.send(answer_csms_call(message), text=True)
        except ConnectionClosed:
            pass
        finally:
            self.rec.connected -= 1
            self.closed.set()
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(CallFailed("closed"))
            self.pending.clear()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await self._reader

    # -- calls -----------------------------------------------------------------------------

    async def call(self, action: str, payload: dict[str, Any], kind: str | None = None) -> Any:
        """Send a CALL and return the CALLRESULT payload; raise :class:`CallFailed` otherwise."""
        kind = kind or action
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

    async def transaction_event(self, event_type: str) -> bool:
        """One TransactionEvent with a fresh (transactionId, seqNo); True when acknowledged.

        ``Started`` opens a new transaction; ``Ended`` closes it. The energy register only grows.
        """
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
        self.rec.tx.sent += 1
        try:
            await self.call("TransactionEvent", payload, kind=f"TransactionEvent.{event_type}")
        except CallFailed as exc:
            outcome = "callerror" if exc.kind.startswith("callerror:") else "no_answer"
            self.rec.tx_outcome(self.id, tx_id, seq_no, outcome)
            return False
        self.rec.tx_outcome(self.id, tx_id, seq_no, "acknowledged")
        return True


def _expire(fut: asyncio.Future[list[Any]]) -> None:
    if not fut.done():
        fut.set_exception(CallFailed("timeout"))
