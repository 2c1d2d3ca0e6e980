"""Forwarding the hot calls in batches: the gateway's TransactionEvent through TransactionEvents,
Authorize through Authorizes, BootNotification through BootNotifications, StatusNotification
through StatusNotifications, the handshake's ConnectStation through ConnectStations and the
close's DisconnectStation through DisconnectStations; transaction_svc's Authorize of the idToken
a TransactionEvent carries through Authorizes.

A unary gRPC call costs both processes far more CPU than the few bytes of one TransactionEvent
(a gRPC call's own work in Python is most of what an event costs the gateway and the service).
:class:`BatchedRpc` stands in for the unary stub method, with the same call signature, so that
the callers (the gateway's action → RPC table, :meth:`gateway.server.Gateway._call`) do not
change: at most ``max_in_flight`` batch calls are out at once, and the events that arrive
meanwhile wait and go together in the next one. At low load every event goes at once, alone (no
added delay); under load a batch holds what queued during one round trip, so the batch size
follows the load.

Each event keeps its own outcome: its response, or the status the unary call would have failed
with (raised as :class:`grpc.aio.AioRpcError`, as from the stub). A failed batch call fails each
of its events with that call's status. A batch call's deadline is the earliest of its events', and
an event whose deadline passes while it waits for a batch call fails with DEADLINE_EXCEEDED
without being sent; neither costs a timer per event. Against a service that does not know the
batch RPC yet (UNIMPLEMENTED, during a rolling upgrade), events go one by one through the unary
RPC.

A batch RPC has one shape (the services answer it with common.grpc_server.answer_each): its
request holds ``items``, each the unary ``call`` and its ``request_id``; its response one
``Outcome`` per item, in order, with either ``response`` or ``error`` (a google.rpc.Status).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Sequence

import grpc
from google.protobuf.message import Message

from common.grpc_server import REQUEST_ID_KEY

__all__ = ["BatchedRpc"]

log = logging.getLogger(__name__)

_CODES = {code.value[0]: code for code in grpc.StatusCode}

Unary = Callable[..., Awaitable[Message]]


class _Waiting:
    __slots__ = ("call", "request_id", "future", "deadline")

    def __init__(
        self,
        call: Message,
        request_id: str,
        future: asyncio.Future[Message],
        deadline: float | None,
    ) -> None:
        self.call = call
        self.request_id = request_id
        self.future = future
        self.deadline = deadline  # the event loop's clock; None: no deadline


class BatchedRpc:
    """A unary RPC through its batch RPC (see the module docstring); call it like the stub
    method: ``await rpc(call, timeout=..., metadata=...)``. ``request_type`` is the batch RPC's
    request message."""

    def __init__(
        self,
        batch_rpc: Unary,
        unary_rpc: Unary,
        request_type: type[Message],
        *,
        max_in_flight: int = 1,
        max_batch: int = 256,
    ) -> None:
        if max_in_flight < 1 or max_batch < 1:
            raise ValueError("max_in_flight and max_batch must be at least 1")
        self.request_type = request_type
        self.batch_rpc = batch_rpc
        self.unary_rpc = unary_rpc
        self.max_in_flight = max_in_flight
        self.max_batch = max_batch
        self._queue: collections.deque[_Waiting] = collections.deque()
        self._in_flight = 0
        self._expiry: asyncio.TimerHandle | None = None
        self._unimplemented = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(
        self,
        call: Message,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the stub method's signature
        metadata: Sequence[tuple[str, str]] = (),
    ) -> Message:
        request_id = next((v for k, v in metadata if k == REQUEST_ID_KEY), "")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Message] = loop.create_future()
        deadline = None if timeout is None else loop.time() + timeout
        self._queue.append(_Waiting(call, request_id, future, deadline))
        self._pump()
        expiry = self._expiry
        if deadline is not None and expiry is not None and deadline < expiry.when():
            # Sooner than the queue's timer (a caller with a shorter timeout): set it sooner.
            expiry.cancel()
            self._expiry = loop.call_at(deadline, self._expire)
        return await future

    # Deadlines without a timer per call (an event costs the gateway a few microseconds, a timer
    # as much): a batch call's deadline is the earliest of its events', and one timer for the
    # whole queue fails the events whose deadline passes while they wait for a batch call.

    def _pump(self) -> None:
        now = -1.0
        while self._queue and self._in_flight < self.max_in_flight:
            batch: list[_Waiting] = []
            while self._queue and len(batch) < self.max_batch:
                waiting = self._queue.popleft()
                if waiting.future.done():  # its caller gave up (cancelled: a closed station)
                    continue
                if waiting.deadline is not None:
                    if now < 0:
                        now = asyncio.get_running_loop().time()
                    if waiting.deadline <= now:
                        _deadline_exceeded(waiting)
                        continue
                batch.append(waiting)
            if not batch:
                return
            self._in_flight += 1
            task = asyncio.create_task(self._send(batch), name="batch-call")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._queue and self._expiry is None:
            deadlines = [w.deadline for w in self._queue if w.deadline is not None]
            if deadlines:
                self._expiry = asyncio.get_running_loop().call_at(min(deadlines), self._expire)

    def _expire(self) -> None:
        """The queue's timer: fail the waiting events whose deadline passed, arm the next."""
        self._expiry = None
        now = asyncio.get_running_loop().time()
        kept: collections.deque[_Waiting] = collections.deque()
        for waiting in self._queue:
            if waiting.future.done():
                continue
            if waiting.deadline is not None and waiting.deadline <= now:
                _deadline_exceeded(waiting)
            else:
                kept.append(waiting)
        self._queue = kept
        self._pump()

    async def _send(self, batch: list[_Waiting]) -> None:
        try:
            if self._unimplemented:
                await self._one_by_one(batch)
            else:
                await self._batch(batch)
        except Exception as exc:  # pragma: no cover - a bug here must not leave callers hanging
            log.exception("sending a batch of %d failed", len(batch))
            _fail(batch, exc)
        finally:
            self._in_flight -= 1
            self._pump()

    async def _batch(self, batch: list[_Waiting]) -> None:
        # Each call copied once, into its item in place (an Item built first, then the list of
        # them given to the request, copied every call twice: most of what batching one cost).
        request = self.request_type()
        add = request.items.add
        for w in batch:
            add(call=w.call, request_id=w.request_id)
        try:
            response = await self.batch_rpc(request, timeout=_time_left(batch))
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                log.warning("%s is not served yet: one by one", self.request_type.DESCRIPTOR.name)
                self._unimplemented = True
                await self._one_by_one(batch)
                return
            _fail(batch, exc)
            return
        if len(response.outcomes) != len(batch):
            _fail(
                batch,
                grpc.aio.AioRpcError(
                    grpc.StatusCode.INTERNAL,
                    details=f"{len(response.outcomes)} outcomes for {len(batch)} calls",
                ),
            )
            return
        for waiting, outcome in zip(batch, response.outcomes, strict=True):
            if waiting.future.done():
                continue
            if outcome.HasField("error"):
                code = _CODES.get(outcome.error.code, grpc.StatusCode.UNKNOWN)
                waiting.future.set_exception(
                    grpc.aio.AioRpcError(code, details=outcome.error.message)
                )
            else:
                waiting.future.set_result(outcome.response)

    async def _one_by_one(self, batch: list[_Waiting]) -> None:
        async def one(waiting: _Waiting) -> None:
            try:
                response = await self.unary_rpc(
                    waiting.call,
                    timeout=_time_left([waiting]),
                    metadata=((REQUEST_ID_KEY, waiting.request_id),),
                )
            except grpc.aio.AioRpcError as exc:
                if not waiting.future.done():
                    waiting.future.set_exception(exc)
                return
            if not waiting.future.done():
                waiting.future.set_result(response)

        await asyncio.gather(*(one(w) for w in batch))


def _time_left(batch: list[_Waiting]) -> float | None:
    """The seconds until the earliest deadline of ``batch`` (None: none has one)."""
    deadlines = [w.deadline for w in batch if w.deadline is not None]
    if not deadlines:
        return None
    return max(0.0, min(deadlines) - asyncio.get_running_loop().time())


def _deadline_exceeded(waiting: _Waiting) -> None:
    """Fail one event as the unary call would have past its deadline."""
    if not waiting.future.done():
        waiting.future.set_exception(
            grpc.aio.AioRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, details="Deadline Exceeded")
        )


def _fail(batch: list[_Waiting], exc: BaseException) -> None:
    for waiting in batch:
        if not waiting.future.done():
            waiting.future.set_exception(exc)
