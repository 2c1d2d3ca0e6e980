"""A charging station for end-to-end tests: a real OCPP 2.0.1 client on a real WebSocket.

It answers every CALL of the CSMS with a schema-valid CALLRESULT, or, when a test asks, with a
CALLERROR, after a delay, or not at all; it sends CALLs of its own, one at a time as OCPP-J wants.
Both directions are checked against the official OCPP 2.0.1 JSON schemas bundled with the
``ocpp`` library: what the CSMS sends us (its CALLs, its answers) and what we answer. A breach by
the CSMS is recorded in :attr:`Station.violations` (tests assert it stays empty); one of ours is
a bug of this module and fails loudly.

Why not the ``ocpp`` library's ChargePoint: it awaits each handler inside its receive loop, so a
second CALL of the CSMS arriving before the first was answered would wait unread in the socket
and look well-behaved. Here a reader task never waits for a handler, and every CALL is stamped
when it arrives and when it is answered (:meth:`Station.assert_one_at_a_time`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import decimal
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from jsonschema.exceptions import ValidationError
from ocpp.messages import MessageType, get_validator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

__all__ = ["CallErrorAnswer", "Received", "Station", "now"]

OCPP_VERSION = "2.0.1"

JSON = dict[str, Any]
#: Computes the answer to one CALL from its payload (may be a coroutine function).
Handler = Callable[[JSON], JSON | Awaitable[JSON]]


def now() -> str:
    """The current UTC time in OCPP's RFC 3339 form."""
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


def schema_errors(action: str, kind: str, payload: Any, version: str = OCPP_VERSION) -> str | None:
    """Why ``payload`` breaks the ``<action><kind>`` schema (kind Request/Response) of OCPP
    ``version`` ("2.0.1" or "1.6"), or None."""
    message_type = MessageType.Call if kind == "Request" else MessageType.CallResult
    if version == "1.6":
        # 1.6's charging schedules say multipleOf 0.1: checked on the decimal the JSON text
        # says (as the ``ocpp`` package's own stations do), not on a binary float (16.7 is a
        # multiple of 0.1; 16.7 / 0.1 in floats is not a whole number).
        payload = json.loads(json.dumps(payload), parse_float=decimal.Decimal)
        validator = get_validator(message_type, action, version, parse_float=decimal.Decimal)
    else:
        validator = get_validator(message_type, action, version)
    try:
        validator.validate(payload)
    except ValidationError as exc:
        return f"{action}{kind}: {exc.message} at {list(exc.absolute_path)}"
    return None


class CallErrorAnswer(Exception):
    """The CSMS answered one of our CALLs with a CALLERROR."""

    def __init__(self, code: str, description: str, details: Any) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details


@dataclass
class Received:
    """One CALL the CSMS sent us, stamped with ``time.monotonic()``."""

    message_id: str
    action: str
    payload: JSON
    arrived: float
    # When our answer was on the wire; None while unanswered (or when we stay silent).
    answered: float | None = None
    # The frame we answered with (CALLRESULT or CALLERROR), parsed.
    reply: list[Any] | None = None


@dataclass
class _Behaviour:
    handler: Handler | None = None
    error: tuple[str, str, JSON] | None = None
    silent: bool = False
    delay: float = 0.0
    # Send the answer even when it breaks the response schema (to test the CSMS against it).
    unchecked: bool = False


@dataclass
class Station:
    """One connected station; build it with :meth:`connect` (see the module docstring)."""

    # The OCPP version whose schemas both directions are checked against, and its subprotocol
    # (tests/e2e/station_sim16.py: a 1.6 station).
    ocpp_version: ClassVar[str] = OCPP_VERSION
    subprotocol: ClassVar[str] = "ocpp2.0.1"

    station_id: str
    ws: ClientConnection
    received: list[Received] = field(default_factory=list)
    # Schema breaches of the CSMS: its CALLs, its answers to our CALLs.
    violations: list[str] = field(default_factory=list)
    # The station's own device model: (component, variable, attributeType) → value.
    variables: dict[tuple[str, str, str], str] = field(default_factory=dict)
    local_list_version: int = 0
    local_list: dict[str, JSON] = field(default_factory=dict)
    # The answers to our Heartbeats: (sent, answered) monotonic stamps.
    heartbeats: list[tuple[float, float]] = field(default_factory=list)
    # Every frame the CSMS sent us, parsed, in arrival order; and the action of each of our own
    # CALLs by message id (what a CALLRESULT answers).
    frames: list[list[Any]] = field(default_factory=list)
    sent_actions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._behaviours: dict[str, _Behaviour] = {}
        self._pending: dict[str, asyncio.Future[list[Any]]] = {}
        self._own_call = asyncio.Lock()  # our CALLs: one outstanding at a time
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader = asyncio.create_task(self._read(), name=f"station-{self.station_id}")

    # -- connecting ------------------------------------------------------------------------------

    @classmethod
    async def connect(cls, url: str, station_id: str, *, attempts: int = 1) -> Station:
        """Open ``url`` with :attr:`subprotocol`; retry a refused upgrade ``attempts`` times
        (through Envoy, a gateway that just died answers 503 until it is set aside)."""
        for attempt in range(attempts):
            try:
                ws = await connect(url, subprotocols=[cls.subprotocol], open_timeout=10)  # type: ignore[list-item]
                break
            except (InvalidStatus, OSError):
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.2)
        assert ws.subprotocol == cls.subprotocol
        return cls(station_id, ws)

    async def close(self) -> None:
        """Close the WebSocket and stop every task of this station."""
        with contextlib.suppress(Exception):
            await self.ws.close()
        tasks = [self._reader, *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_closed(self, within: float = 10) -> None:
        """Until the CSMS side closed the connection (or it broke)."""
        await asyncio.wait_for(asyncio.shield(self._reader), within)

    # -- what to answer --------------------------------------------------------------------------

    def answer(self, action: str, answer: JSON | Handler, *, unchecked: bool = False) -> None:
        """Answer ``action`` with this payload, or what this function returns for the request;
        ``unchecked``: send it even if it breaks the schema."""
        handler = answer if callable(answer) else (lambda _req, a=answer: dict(a))
        self._behaviours[action] = _Behaviour(handler=handler, unchecked=unchecked)

    def fail(
        self, action: str, code: str, description: str = "", details: JSON | None = None
    ) -> None:
        """Answer ``action`` with a CALLERROR."""
        self._behaviours[action] = _Behaviour(error=(code, description, details or {}))

    def silence(self, action: str) -> None:
        """Never answer ``action``."""
        self._behaviours[action] = _Behaviour(silent=True)

    def delay(self, action: str, seconds: float) -> None:
        """Answer ``action`` as usual, ``seconds`` after it arrived."""
        behaviour = self._behaviours.setdefault(action, _Behaviour())
        behaviour.delay = seconds

    def reset(self, action: str) -> None:
        """Back to the default answer for ``action``."""
        self._behaviours.pop(action, None)

    # -- what we received ------------------------------------------------------------------------

    def calls(self, action: str | None = None) -> list[Received]:
        """The CALLs received so far, in arrival order (of one action when given)."""
        return [r for r in self.received if action is None or r.action == action]

    async def wait_for(self, action: str, count: int = 1, within: float = 10) -> Received:
        """The ``count``-th CALL of ``action``, once it has arrived."""

        def arrived() -> bool:
            return len(self.calls(action)) >= count

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(arrived), within)
        return self.calls(action)[count - 1]

    async def wait_answered(self, received: Received, within: float = 10) -> None:
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: received.answered is not None), within
            )

    def assert_one_at_a_time(self) -> None:
        """Each CALL of the CSMS arrived only after we had answered the one before it."""
        answered = [r for r in self.received if r.reply is not None]
        for before, after in zip(self.received, self.received[1:], strict=False):
            if before.answered is None:
                continue  # silence: the CSMS gave up on it (its timeout) before going on
            assert after.arrived >= before.answered, (
                f"{after.action} {after.message_id} arrived {before.answered - after.arrived:.3f}"
                f" s before {before.action} {before.message_id} was answered"
            )
        assert answered, "no CALL was answered"

    # -- our own CALLs ---------------------------------------------------------------------------

    async def call(self, action: str, payload: JSON, within: float = 10) -> JSON:
        """Send one CALL and return the CSMS's CALLRESULT payload (CallErrorAnswer for a
        CALLERROR); the CSMS's answer is checked against the response schema."""
        problem = schema_errors(action, "Request", payload, self.ocpp_version)
        assert problem is None, f"the test station would send an invalid CALL: {problem}"
        async with self._own_call:
            message_id = uuid.uuid4().hex
            future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
            self._pending[message_id] = future
            self.sent_actions[message_id] = action
            try:
                await self.ws.send(orjson.dumps([2, message_id, action, payload]).decode())
                reply = await asyncio.wait_for(future, within)
            finally:
                self._pending.pop(message_id, None)
        if reply[0] == 4:
            raise CallErrorAnswer(reply[2], reply[3], reply[4] if len(reply) > 4 else {})
        problem = schema_errors(action, "Response", reply[2], self.ocpp_version)
        if problem is not None:
            self.violations.append(f"the CSMS answered {problem}")
        return reply[2]  # type: ignore[no-any-return]

    async def boot(self, reason: str = "PowerUp") -> JSON:
        return await self.call(
            "BootNotification",
            {"reason": reason, "chargingStation": {"model": "E2E-1", "vendorName": "E2E"}},
        )

    async def heartbeat(self) -> JSON:
        sent = time.monotonic()
        answer = await self.call("Heartbeat", {})
        self.heartbeats.append((sent, time.monotonic()))
        return answer

    def start_heartbeats(self, interval: float) -> None:
        """Send a Heartbeat every ``interval`` seconds until closed."""

        async def beat() -> None:
            while True:
                await self.heartbeat()
                await asyncio.sleep(interval)

        self._spawn(beat())

    # -- the reader ------------------------------------------------------------------------------

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                arrived = time.monotonic()
                message = orjson.loads(frame)
                self.frames.append(message)
                if message[0] == 2:
                    received = Received(message[1], message[2], message[3], arrived)
                    self.received.append(received)
                    await self._notify()
                    self._spawn(self._answer(received))
                elif message[0] in (3, 4):
                    future = self._pending.get(message[1])
                    if future is None or future.done():
                        self.violations.append(f"answer to no outstanding CALL: {message}")
                    else:
                        future.set_result(message)
                else:
                    self.violations.append(f"unexpected frame: {message}")
        except ConnectionClosed:
            pass
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("the CSMS closed the connection"))

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _answer(self, received: Received) -> None:
        problem = schema_errors(received.action, "Request", received.payload, self.ocpp_version)
        if problem is not None:
            self.violations.append(f"the CSMS sent {problem}")
        behaviour = self._behaviours.get(received.action, _Behaviour())
        if behaviour.silent:
            return
        if behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        if behaviour.error is not None:
            code, description, details = behaviour.error
            reply: list[Any] = [4, received.message_id, code, description, details]
        else:
            handler = behaviour.handler or self._default(received.action)
            if handler is None:
                reply = [4, received.message_id, "NotImplemented", received.action, {}]
            else:
                result = handler(received.payload)
                payload = await result if isinstance(result, Awaitable) else result
                problem = schema_errors(received.action, "Response", payload, self.ocpp_version)
                if problem is not None and not behaviour.unchecked:
                    # A bug of the test: say so rather than let the CSMS time out.
                    self.violations.append(f"the test station would answer {problem}")
                    return
                reply = [3, received.message_id, payload]
        await self.ws.send(orjson.dumps(reply).decode())
        received.answered = time.monotonic()
        received.reply = reply
        await self._notify()

    # -- default answers: a well-behaved station -------------------------------------------------

    def _default(self, action: str) -> Handler | None:
        accepted: JSON = {"status": "Accepted"}
        fixed: Mapping[str, JSON] = {
            "Reset": accepted,
            "ChangeAvailability": accepted,
            "UnlockConnector": {"status": "Unlocked"},
            "TriggerMessage": accepted,
            "GetBaseReport": accepted,
            "GetReport": accepted,
            "RequestStartTransaction": accepted,
            "RequestStopTransaction": accepted,
            "ClearCache": accepted,
            "SetNetworkProfile": accepted,
            "CustomerInformation": accepted,
            "CertificateSigned": accepted,
            "InstallCertificate": accepted,
            "DeleteCertificate": accepted,
            "GetInstalledCertificateIds": {"status": "NotFound"},
        }
        if action in fixed:
            return lambda _req, a=fixed[action]: dict(a)
        return {
            "GetVariables": self._get_variables,
            "SetVariables": self._set_variables,
            "SendLocalList": self._send_local_list,
            "GetLocalListVersion": lambda _req: {"versionNumber": self.local_list_version},
            "GetTransactionStatus": self._transaction_status,
            "DataTransfer": self._data_transfer,
        }.get(action)

    def _get_variables(self, request: JSON) -> JSON:
        results = []
        for item in request["getVariableData"]:
            kind = item.get("attributeType", "Actual")
            key = (item["component"]["name"], item["variable"]["name"], kind)
            result: JSON = {
                "component": item["component"],
                "variable": item["variable"],
                "attributeType": kind,
            }
            if key in self.variables:
                result.update(attributeStatus="Accepted", attributeValue=self.variables[key])
            else:
                result["attributeStatus"] = "UnknownVariable"
            results.append(result)
        return {"getVariableResult": results}

    def _set_variables(self, request: JSON) -> JSON:
        results = []
        for item in request["setVariableData"]:
            kind = item.get("attributeType", "Actual")
            key = (item["component"]["name"], item["variable"]["name"], kind)
            self.variables[key] = item["attributeValue"]
            results.append(
                {
                    "component": item["component"],
                    "variable": item["variable"],
                    "attributeType": kind,
                    "attributeStatus": "Accepted",
                }
            )
        return {"setVariableResult": results}

    def _send_local_list(self, request: JSON) -> JSON:
        if request["updateType"] == "Full":
            self.local_list.clear()
        elif request["versionNumber"] <= self.local_list_version:
            return {"status": "VersionMismatch"}
        for entry in request.get("localAuthorizationList", []):
            key = entry["idToken"]["idToken"]
            if "idTokenInfo" in entry:
                self.local_list[key] = entry
            else:
                self.local_list.pop(key, None)
        self.local_list_version = request["versionNumber"]
        return {"status": "Accepted"}

    def _transaction_status(self, request: JSON) -> JSON:
        answer: JSON = {"messagesInQueue": False}
        if "transactionId" in request:
            answer["ongoingIndicator"] = True
        return answer

    def _data_transfer(self, request: JSON) -> JSON:
        answer: JSON = {"status": "Accepted"}
        if "data" in request:
            answer["data"] = request["data"]
        return answer
