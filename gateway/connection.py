"""One station's OCPP-J session over its WebSocket: both directions, one outstanding CALL each.

OCPP-J (Part 4) lets each side have one CALL outstanding, and the two directions are
independent. So a connection has:

* a reader (:meth:`StationConnection.serve`) that parses every frame once and never waits for a
  service: a station's CALL is handed to a queue, a CALLRESULT or CALLERROR resolves the
  outstanding CSMS-initiated call at once;
* a worker task that answers the station's CALLs in the order they came, one at a time,
  through the ``dispatch`` callable it was given (the gateway's action → RPC table). It exists
  only while CALLs wait: an idle station (most of a fleet, most of the time) holds no task and
  no queue beyond its WebSocket, which is what a gateway's memory per connection is made of;
* :meth:`StationConnection.call`, which sends CSMS-initiated CALLs one at a time behind a lock of
  their own. That lock is never taken for the station's CALLs: sharing one between the two
  directions deadlocks a station that sends a CALL while it owes us an answer, a known bug of
  other CSMSs.

Large frames (a NotifyReport of thousands of variables, up to the 1 MiB frame limit) cost
milliseconds of CPU each to parse, validate and convert, and tens more in the service storing
them. With :class:`LargeFrames` (one per gateway) their CALLs take turns: at most one (``turns``)
is answered at a time, whatever the number of stations sending them, and a station's next large
frame stays unread until its previous large CALL is answered. Small frames never wait for these
turns, so four stations sending 930 KB NotifyReports back to back no longer queue every other
station's StatusNotification behind four reports in each process.

Nothing here knows about gRPC: :mod:`gateway.server` gives the dispatch callable,
:mod:`gateway.control` maps :class:`StationUnavailable` and :class:`TimeoutError` to statuses.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from common import logging as log_ctx
from common import metrics
from common.ocpp_schema import Version
from gateway import ocppj
from gateway.message_log import IN, OUT, MessageLog

__all__ = [
    "LARGE_FRAME",
    "MAX_QUEUED_CALLS",
    "Dispatch",
    "InvalidAnswer",
    "LargeFrames",
    "Reply",
    "StationConnection",
    "StationUnavailable",
]

log = logging.getLogger(__name__)


class Dispatch(Protocol):
    """Answers one CALL of the station: returns the CALLRESULT or CALLERROR frame to send.

    ``large``: the CALL came in a large frame and has its turn (:class:`LargeFrames`); the
    callee may take its time in steps (the gateway converts it so, serving others between).
    Only given when true.
    """

    def __call__(self, call: ocppj.Call, *, large: bool = ...) -> Awaitable[str]: ...


#: What a CSMS-initiated call ends in when the station answered it.
Reply = ocppj.CallResult | ocppj.CallError

# A station may have one CALL outstanding; one that floods us gets CALLERRORs beyond this many
# waiting CALLs instead of growing the queue without bound.
MAX_QUEUED_CALLS: Final = 16
# A frame longer than this (characters of a text frame, bytes of a binary one) is large. A
# Heartbeat, a StatusNotification or a TransactionEvent with its meter values take well under 8
# KiB; 64 KiB is about a NotifyReport of a hundred variables, about 1 ms of the gateway's CPU.
LARGE_FRAME: Final = 64 * 1024


class StationUnavailable(Exception):
    """The station's connection is closed (or closes) before it answered."""


class InvalidAnswer(Exception):
    """The station answered the outstanding call with a frame that breaks OCPP-J."""


def _failed(call: ocppj.Call) -> str:
    """Log the exception a CALL's dispatch raised; the InternalError that answers it."""
    log.exception("%s failed", call.action)
    return ocppj.call_error(call.message_id, ocppj.Code.INTERNAL_ERROR, f"{call.action} failed")


class LargeFrames:
    """The turns large frames take in one gateway (see the module docstring): a CALL in a frame
    longer than ``threshold`` is answered (validated, converted, sent to its service and stored
    there) only in one of ``turns`` shared by every connection, given in the order asked for.

    One turn measured best (``python -m bench.large_messages``: four stations sending 930 KB
    NotifyReports back to back, the mesh on one core): another station's StatusNotification
    took 15-22 ms at the median and 29-38 ms at p90 with one turn (four runs), 45 / 53 ms with
    two and 42 / 70 ms without turns (5-6 ms with no large frames at all).
    """

    __slots__ = ("threshold", "turns")

    def __init__(self, turns: int = 1, threshold: int = LARGE_FRAME) -> None:
        self.threshold = threshold
        self.turns = asyncio.Semaphore(turns)


class _Large:
    """A station's CALL that came in a large frame: it waits for a turn of :class:`LargeFrames`;
    ``answered`` lets the station's reader go on to its next large frame."""

    __slots__ = ("call", "answered")

    def __init__(self, call: ocppj.Call) -> None:
        self.call = call
        self.answered = asyncio.Event()


class _Pending:
    """The one outstanding CSMS-initiated call of a connection."""

    __slots__ = ("message_id", "action", "future")

    def __init__(self, message_id: str, action: str, future: asyncio.Future[Reply]) -> None:
        self.message_id = message_id
        self.action = action
        self.future = future


def _count_reply(direction: str, frame: str, action: str) -> None:
    """Count a CALLRESULT or CALLERROR frame (``[3,...`` / ``[4,"id","Code",...``)."""
    if frame.startswith("[4"):
        metrics.frame(direction, "error", action)
        parts = frame.split('"', 4)
        metrics.CALLERRORS.labels(direction, parts[3] if len(parts) > 3 else "").inc()
    else:
        metrics.frame(direction, "result", action)


class StationConnection:
    """The OCPP-J session of one connected station (see the module docstring)."""

    __slots__ = (
        "ws",
        "_message_log",
        "station_id",
        "epoch",
        "_dispatch",
        "_inbox",
        "_worker",
        "_outbound",
        "_pending",
        "_closed",
        "_send_timeout",
        "_refused",
        "registration",
        "_large_frames",
        "_large",
        "protocol",
        "_actions",
        "last_heard",
        "_answer_now",
    )

    def __init__(
        self,
        ws: Connection,
        station_id: str,
        epoch: int,
        dispatch: Dispatch,
        send_timeout: float = 30.0,
        registration: int | None = None,
        large_frames: LargeFrames | None = None,
        message_log: MessageLog | None = None,
        protocol: Version = "ocpp2.0.1",
        answer_now: Callable[[str, ocppj.Call], str | None] | None = None,
    ) -> None:
        self.ws = ws
        # The answer to a CALL (of this station: its id comes first) the gateway makes at once,
        # without waiting for anything (a Heartbeat's), or None: the reader sends it itself when
        # no CALL of the station is being answered (none can be overtaken then), instead of
        # starting a worker task for it. Shared by every connection (nothing made per station).
        self._answer_now = answer_now
        # When the station's last frame came (time.monotonic()): gateway.keepalive pings only
        # the stations silent for a while.
        self.last_heard = time.monotonic()
        # The negotiated OCPP-J subprotocol: which actions are known, how CALLERRORs are spelled.
        self.protocol: Version = protocol
        self._actions = ocppj.ACTIONS_16 if protocol == "ocpp1.6" else ocppj.ACTIONS
        # Every frame in and out is appended here (gateway.message_log), when there is one.
        self._message_log = message_log
        self.station_id = station_id
        self.epoch = epoch
        self._dispatch = dispatch
        # Items are the station's CALLs, or frames already made (a bad frame's CALLERROR) that
        # must go out in their turn; the worker runs while any wait (see _enqueue).
        # A list, not a deque: it holds one or two at a time (MAX_QUEUED_CALLS at most), and an
        # idle station's empty deque cost 0.7 KiB of its connection's memory.
        self._inbox: list[ocppj.Call | _Large | str] = []
        self._worker: asyncio.Task[None] | None = None
        # CSMS → station only; never taken for station CALLs. Made by the first call().
        self._outbound: asyncio.Lock | None = None
        self._pending: _Pending | None = None
        self._closed = False
        # How long a frame may wait for the station to make room for it (see _send).
        self._send_timeout = send_timeout
        # The actions of this station's CALLs refused as NotSupported (first_refusal); made by
        # the first refusal, at most one entry per OCPP action.
        self._refused: set[str] | None = None
        # The station's registration (RegistrationStatusEnum) as device_svc last told it: at the
        # handshake, then in each BootNotification answer; UNSPECIFIED: never booted. Passed to
        # the services with the CALLs whose rules depend on it (common/registration.py).
        self.registration = registration
        # The gateway's turns for large frames (None: large frames are answered like others),
        # and this station's large CALL waiting for or taking one (None: none).
        self._large_frames = large_frames
        self._large: _Large | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def refused(self) -> frozenset[str]:
        """The actions refused as NotSupported on this connection so far."""
        return frozenset(self._refused or ())

    def first_refusal(self, action: str) -> bool:
        """Remember that a CALL of ``action`` was refused as NotSupported; True the first time
        on this connection (the gateway warns then, once per station and action). Only the 64
        OCPP actions get this far (an unknown one is NotImplemented), so this stays small."""
        refused = self._refused
        if refused is None:
            refused = self._refused = set()
        elif action in refused:
            return False
        refused.add(action)
        return True

    # -- station → CSMS ------------------------------------------------------------------------

    async def serve(self) -> None:
        """Read frames until the connection closes; then fail whatever still waits on it."""
        large_frames = self._large_frames
        try:
            async for frame in self.ws:
                self.last_heard = time.monotonic()
                if large_frames is not None and len(frame) > large_frames.threshold:
                    large = self._large
                    # One large CALL per station at a time: this frame stays unparsed (and the
                    # station's socket fills) until the previous one is answered.
                    if large is not None and not await self._answered(large):
                        break
                    await self._receive(frame, large=True)
                else:
                    await self._receive(frame)
        except ConnectionClosed:
            pass
        finally:
            self._closed = True
            self._fail_pending(StationUnavailable("the station's connection closed"))
            # A station CALL in flight is abandoned: its answer could not be sent any more, and
            # the station repeats what it did not get an answer to.
            self._inbox.clear()
            worker = self._worker
            if worker is not None:
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)

    async def _answered(self, large: _Large) -> bool:
        """Wait until ``large`` is answered: True; or until the connection closes: False."""
        answered = asyncio.ensure_future(large.answered.wait())
        closed = asyncio.ensure_future(self.ws.wait_closed())
        try:
            await asyncio.wait((answered, closed), return_when=asyncio.FIRST_COMPLETED)
        finally:
            answered.cancel()
            closed.cancel()
        return large.answered.is_set()

    def _enqueue(self, item: ocppj.Call | _Large | str) -> None:
        """Queue a CALL (or a ready frame) behind the others; start the worker if none runs."""
        self._inbox.append(item)
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name=f"ocpp-worker-{self.station_id}")

    async def _receive(self, frame: str | bytes, *, large: bool = False) -> None:
        if self._message_log is not None:
            self._message_log.record(self.station_id, IN, frame)
        try:
            message = ocppj.parse(frame, self._actions)
        except ocppj.OcppError as exc:
            log_ctx.message_id.set(exc.message_id)
            if exc.reply:
                log.info("bad frame: %s", exc)
                if len(self._inbox) < MAX_QUEUED_CALLS:
                    # answered in its turn, like a CALL
                    self._enqueue(exc.frame(self.protocol))
                else:  # a flood of them is bounded like one of CALLs
                    await self._send(exc.frame(self.protocol))
            else:
                log.warning("bad answer frame dropped: %s", exc)
                self._fail_answer(exc)
            return
        if isinstance(message, ocppj.Call):
            metrics.frame("in", "call", message.action)
            if len(self._inbox) >= MAX_QUEUED_CALLS:
                log.warning("station has %d CALLs waiting; refusing more", MAX_QUEUED_CALLS)
                await self._send(
                    ocppj.call_error(
                        message.message_id,
                        ocppj.Code.GENERIC_ERROR,
                        "Too many outstanding CALLs: OCPP-J allows one at a time",
                    )
                )
                return
            if large:
                self._large = _Large(message)
                self._enqueue(self._large)
            elif self._worker is None and (reply := self._now(message)) is not None:
                _count_reply("out", reply, message.action)
                await self._send(reply)
            else:
                self._enqueue(message)
        else:
            self._resolve(message)

    def _now(self, call: ocppj.Call) -> str | None:
        """The answer made at once (``answer_now``), or None: the worker answers the CALL."""
        if self._answer_now is None:
            return None
        log_ctx.message_id.set(call.message_id)
        try:
            return self._answer_now(self.station_id, call)
        except Exception:  # a bug must not leave the station waiting for ever
            return _failed(call)

    async def _work(self) -> None:
        """Answer the station's CALLs one at a time, in the order they came; end when none
        waits (the next one starts a new worker)."""
        try:
            while self._inbox:
                if not await self._answer(self._inbox.pop(0)):
                    return
        finally:
            self._worker = None

    async def _answer(self, item: ocppj.Call | _Large | str) -> bool:
        """Answer one; False when the connection closed meanwhile."""
        if isinstance(item, str):
            reply, action = item, ""
        elif isinstance(item, _Large):
            reply, action = await self._answer_large(item), item.call.action
        else:
            log_ctx.message_id.set(item.message_id)
            action = item.action
            try:
                reply = await self._dispatch(item)
            except Exception:  # a bug must not leave the station waiting for ever
                reply = _failed(item)
        _count_reply("out", reply, action)
        try:
            await self._send(reply)
        except ConnectionClosed:
            return False
        return True

    async def _answer_large(self, item: _Large) -> str:
        """The answer to a large frame's CALL, dispatched in a turn of the gateway's; then the
        station's reader may go on to its next large frame."""
        assert self._large_frames is not None  # only made with turns to take
        call = item.call
        log_ctx.message_id.set(call.message_id)
        try:
            async with self._large_frames.turns:
                return await self._dispatch(call, large=True)
        except Exception:  # a bug must not leave the station waiting for ever
            return _failed(call)
        finally:
            item.answered.set()
            if self._large is item:
                self._large = None

    async def _send(self, frame: str) -> None:
        """Send one frame; drop the connection when the station takes nothing for send_timeout.

        websockets' send() puts the frame in the transport's buffer, then waits while that is
        above write_limit. Waiting for room before writing as well means a frame left behind by
        a sender cancelled from outside (a CSMS call's deadline) is not followed by more: the
        buffer holds at most write_limit plus one frame per sender (reader, worker, call()), and
        a station that stops reading holds even that for send_timeout at most.

        Most frames find the buffer empty: when nothing waits for room and the frame cannot
        take the buffer past the mark where send() starts waiting (UTF-8: at most 4 bytes a
        character), send() returns without waiting and needs no timer (a timer per frame costs
        about as much as the rest of sending it).
        """
        if self._message_log is not None:
            self._message_log.record(self.station_id, OUT, frame)
        ws = self.ws
        transport = ws.transport
        if not ws.paused and (
            transport.get_write_buffer_size() + 4 * len(frame)
            <= transport.get_write_buffer_limits()[1]
        ):
            await ws.send(frame)
            return
        try:
            async with asyncio.timeout(self._send_timeout):
                await self.ws.drain()
                await self.ws.send(frame)
        except TimeoutError:
            transport = self.ws.transport
            log.warning(
                "station took no data for %.1f s (%d bytes waiting): closing (1008)",
                self._send_timeout,
                transport.get_write_buffer_size(),
            )
            # No closing handshake can pass the full buffer.
            self.drop(CloseCode.POLICY_VIOLATION, "station not reading")
            await self.ws.wait_closed()
            raise self.ws.protocol.close_exc from None

    # -- CSMS → station ------------------------------------------------------------------------

    async def call(self, action: str, payload: dict[str, Any]) -> Reply:
        """Send one CALL and return the station's answer to it.

        Waits behind earlier CSMS-initiated calls to this station. Bound it with
        ``asyncio.timeout``: cancelling gives the turn to the next call, and an answer arriving
        after that is dropped. Raises StationUnavailable when the connection is or gets closed
        first, InvalidAnswer when the station's answer frame is broken. The payload is sent as
        given: validate it before.
        """
        if self._outbound is None:
            self._outbound = asyncio.Lock()
        async with self._outbound:
            if self._closed:
                raise StationUnavailable("the station's connection is closed")
            message_id = uuid.uuid4().hex  # 32 characters; Part 4 allows 36
            future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
            self._pending = _Pending(message_id, action, future)
            metrics.frame("out", "call", action)
            try:
                try:
                    await self._send(ocppj.call(message_id, action, payload))
                except ConnectionClosed:
                    raise StationUnavailable("the station's connection closed") from None
                return await future
            finally:
                self._pending = None

    def _resolve(self, answer: Reply) -> None:
        pending = self._pending
        action = pending.action if pending is not None else ""
        if isinstance(answer, ocppj.CallError):
            metrics.frame("in", "error", action)
            metrics.CALLERRORS.labels("in", answer.code).inc()
        else:
            metrics.frame("in", "result", action)
        if pending is None or pending.message_id != answer.message_id or pending.future.done():
            # Late (after a timeout) or made up: nothing waits for it.
            log.warning(
                "%s %s matches no outstanding call: dropped",
                type(answer).__name__,
                answer.message_id,
            )
            return
        pending.future.set_result(answer)

    def _fail_answer(self, exc: ocppj.OcppError) -> None:
        """A broken answer to the outstanding call fails it instead of letting it time out."""
        pending = self._pending
        if pending is not None and pending.message_id == exc.message_id:
            if not pending.future.done():
                pending.future.set_exception(InvalidAnswer(exc.description))

    def _fail_pending(self, exc: Exception) -> None:
        pending = self._pending
        if pending is not None and not pending.future.done():
            pending.future.set_exception(exc)

    def drop(self, code: CloseCode, reason: str) -> None:
        """Close at once, without a closing handshake (the link is dead or jammed): record the
        close frame (close_exc and the logs say why), then abort the TCP connection;
        :meth:`serve` then ends and fails what waits."""
        self.ws.protocol.fail(code, reason)
        self.ws.transport.abort()

    async def close(self, reason: str) -> None:
        """Close the WebSocket (code 1000); :meth:`serve` then ends and fails what waits."""
        await self.ws.close(code=1000, reason=reason)
