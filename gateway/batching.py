"""Forwarding the hot calls in batches: TransactionEvent through TransactionEvents, Authorize
through Authorizes, BootNotification through BootNotifications, StatusNotification through
StatusNotifications, the handshake's ConnectStation through ConnectStations and the close's
DisconnectStation through DisconnectStations.

A unary gRPC call costs both processes far more CPU than the few bytes of one TransactionEvent
(a gRPC call's own work in Python is most of what an event costs the gateway and the service).
:class:`BatchedRpc` stands in for the unary stub method, with the same call signature, so that
the action → RPC table and :meth:`gateway.server.Gateway._call` do not change: at most
``max_in_flight`` batch calls are out at once, and the events that arrive meanwhile wait and go
together in the next one. At low load every event goes at once, alone (no added delay); under
load a batch holds what queued during one round trip, so the batch size follows the load.

Each event keeps its own outcome: its response, or the status the unary call would have failed
with (raised as :class:`grpc.aio.AioRpcError`, as from the stub). A failed batch call fails each
of its events with that call's status. Against a service that does not know the batch RPC yet
(UNIMPLEMENTED, during a rolling upgrade), events go one by one through the unary RPC.

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
    __slots__ = ("call", "request_id", "future")

    def __init__(self, call: Message, request_id: str, future: asyncio.Future[Message]) -> None:
        self.call = call
        self.request_id = request_id
        self.future = future


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
        self.item_type = request_type.Item
        self.batch_rpc = batch_rpc
        self.unary_rpc = unary_rpc
        self.max_in_flight = max_in_flight
        self.max_batch = max_batch
        self._queue: collections.deque[_Waiting] = collections.deque()
        self._in_flight = 0
        self._timeout: float | None = None
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
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(call, request_id, future))
        # The batch's deadline is its callers' (one table, one rpc_timeout).
        self._timeout = timeout
        self._pump()
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.DEADLINE_EXCEEDED, details="Deadline Exceeded"
            ) from None

    def _pump(self) -> None:
        while self._queue and self._in_flight < self.max_in_flight:
            batch: list[_Waiting] = []
            while self._queue and len(batch) < self.max_batch:
                waiting = self._queue.popleft()
                if not waiting.future.done():  # its caller gave up (deadline, closed station)
                    batch.append(waiting)
            if not batch:
                return
            self._in_flight += 1
            task = asyncio.create_task(self._send(batch), name="batch-call")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

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
        request = self.request_type(
            items=[self.item_type(call=w.call, request_id=w.request_id) for w in batch]
        )
        try:
            response = await self.batch_rpc(request, timeout=self._timeout)
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
                    timeout=self._timeout,
                    metadata=((REQUEST_ID_KEY, waiting.request_id),),
                )
            except grpc.aio.AioRpcError as exc:
                if not waiting.future.done():
                    waiting.future.set_exception(exc)
                return
            if not waiting.future.done():
                waiting.future.set_result(response)

        await asyncio.gather(*(one(w) for w in batch))


def _fail(batch: list[_Waiting], exc: BaseException) -> None:
    for waiting in batch:
        if not waiting.future.done():
            waiting.future.set_exception(exc)
