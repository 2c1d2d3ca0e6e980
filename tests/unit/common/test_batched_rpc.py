"""common.batched_rpc.BatchedRpc with stand-in RPCs (a unit test of the one module): batches
follow the load, each event keeps its own outcome, failures and deadlines stay per event."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import status_pb2

from common.batched_rpc import BatchedRpc
from common.grpc_server import REQUEST_ID_KEY
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as pb

Outcome = pb.TransactionEventsResponse.Outcome


def event(seq_no: int) -> pb.TransactionEventCall:
    return pb.TransactionEventCall(
        station_id="CS1", request=ocpp.TransactionEventRequest(seq_no=seq_no)
    )


def accepted(seq_no: int) -> ocpp.TransactionEventResponse:
    # total_cost carries the seqNo back, so that each caller can tell its own response.
    return ocpp.TransactionEventResponse(total_cost=float(seq_no))


class Service:
    """TransactionEvents/TransactionEvent stand-ins; ``gate`` holds batch calls back."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.request_ids: list[str] = []
        self.unary: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_with: grpc.StatusCode | None = None
        self.timeouts: list[float | None] = []

    async def batch(self, request: pb.TransactionEventsRequest, timeout=None):  # type: ignore[no-untyped-def]  # noqa: ASYNC109
        self.batches.append([i.call.request.seq_no for i in request.items])
        self.timeouts.append(timeout)
        self.request_ids += [i.request_id for i in request.items]
        await self.gate.wait()
        if self.fail_with is not None:
            raise grpc.aio.AioRpcError(self.fail_with, details="batch failed")
        outcomes = []
        for item in request.items:
            seq_no = item.call.request.seq_no
            if seq_no < 0:
                outcomes.append(
                    Outcome(error=status_pb2.Status(code=3, message=f"seqNo {seq_no} < 0"))
                )
            else:
                outcomes.append(Outcome(response=accepted(seq_no)))
        return pb.TransactionEventsResponse(outcomes=outcomes)

    async def one(self, call: pb.TransactionEventCall, timeout=None, metadata=()):  # type: ignore[no-untyped-def]  # noqa: ASYNC109
        self.unary.append(call.request.seq_no)
        return accepted(call.request.seq_no)


async def send(rpc: BatchedRpc, seq_no: int, timeout: float = 2.0):  # type: ignore[no-untyped-def]  # noqa: ASYNC109
    return await rpc(event(seq_no), timeout=timeout, metadata=((REQUEST_ID_KEY, f"CS1/m{seq_no}"),))


async def one_in_flight(
    seq_no: int = 1,
    timeout: float = 5,  # noqa: ASYNC109 - the event's own deadline
) -> tuple[Service, BatchedRpc, asyncio.Task[ocpp.TransactionEventResponse]]:
    """A BatchedRpc allowing one call in flight, and that call (event ``seq_no``) held there
    by the service's gate: what the next events queue behind."""
    svc = Service()
    svc.gate.clear()
    rpc = BatchedRpc(svc.batch, svc.one, pb.TransactionEventsRequest, max_in_flight=1)
    first = asyncio.create_task(send(rpc, seq_no, timeout=timeout))
    await asyncio.sleep(0.01)
    return svc, rpc, first


async def test_an_event_alone_goes_at_once_alone() -> None:
    svc = Service()
    rpc = BatchedRpc(svc.batch, svc.one, pb.TransactionEventsRequest)
    assert (await send(rpc, 1)).total_cost == 1.0
    assert svc.batches == [[1]] and svc.request_ids == ["CS1/m1"]


async def test_events_queued_behind_calls_in_flight_go_together() -> None:
    svc = Service()
    svc.gate.clear()
    rpc = BatchedRpc(svc.batch, svc.one, pb.TransactionEventsRequest, max_in_flight=1, max_batch=3)
    calls = [asyncio.create_task(send(rpc, n)) for n in range(1, 8)]
    await asyncio.sleep(0.05)
    assert svc.batches == [[1]]  # the others wait for the one call allowed in flight
    svc.gate.set()
    responses = await asyncio.gather(*calls)
    assert [r.total_cost for r in responses] == [float(n) for n in range(1, 8)]
    assert svc.batches == [[1], [2, 3, 4], [5, 6, 7]]  # in order, at most max_batch each


async def test_each_event_keeps_its_own_error() -> None:
    svc, rpc, first = await one_in_flight(0, timeout=2.0)
    calls = [asyncio.create_task(send(rpc, n)) for n in (1, -1, 2)]
    await asyncio.sleep(0.01)
    svc.gate.set()
    await first
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert results[0].total_cost == 1.0 and results[2].total_cost == 2.0
    assert isinstance(results[1], grpc.aio.AioRpcError)
    assert results[1].code() == grpc.StatusCode.INVALID_ARGUMENT
    assert results[1].details() == "seqNo -1 < 0"
    assert svc.batches == [[0], [1, -1, 2]]


async def test_a_failed_batch_call_fails_each_of_its_events() -> None:
    svc = Service()
    svc.fail_with = grpc.StatusCode.UNAVAILABLE
    rpc = BatchedRpc(svc.batch, svc.one, pb.TransactionEventsRequest)
    results = await asyncio.gather(*(send(rpc, n) for n in (1, 2)), return_exceptions=True)
    assert [r.code() for r in results] == [grpc.StatusCode.UNAVAILABLE] * 2  # type: ignore[union-attr]


async def test_without_the_batch_rpc_events_go_one_by_one() -> None:
    """An older transaction_svc (UNIMPLEMENTED): the unary RPC, from then on."""
    svc = Service()
    svc.fail_with = grpc.StatusCode.UNIMPLEMENTED
    rpc = BatchedRpc(svc.batch, svc.one, pb.TransactionEventsRequest)
    assert (await send(rpc, 1)).total_cost == 1.0
    assert (await send(rpc, 2)).total_cost == 2.0
    assert svc.batches == [[1]] and svc.unary == [1, 2]


async def test_an_event_past_its_deadline_while_queued_is_not_sent() -> None:
    svc, rpc, first = await one_in_flight()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await send(rpc, 2, timeout=0.05)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    svc.gate.set()
    await first
    await asyncio.sleep(0.01)
    assert svc.batches == [[1]]


async def test_a_batch_call_gets_the_earliest_deadline_of_its_events() -> None:
    svc, rpc, first = await one_in_flight()
    queued = [asyncio.create_task(send(rpc, 2, timeout=1)), asyncio.create_task(send(rpc, 3, 5))]
    await asyncio.sleep(0.01)
    svc.gate.set()
    await asyncio.gather(first, *queued)
    assert svc.batches == [[1], [2, 3]]
    assert 4.5 < svc.timeouts[0] <= 5 and 0.5 < svc.timeouts[1] <= 1


async def test_an_event_without_a_deadline_waits_for_its_batch() -> None:
    svc = Service()
    rpc = BatchedRpc(svc.batch, svc.one, pb.TransactionEventsRequest)
    assert (await rpc(event(4))).total_cost == 4.0
    assert svc.timeouts == [None]


async def test_a_shorter_deadline_queued_behind_a_longer_one_is_kept() -> None:
    """An event with a short deadline queued after one with a long deadline still fails at its
    own deadline, not at the other's."""
    svc, rpc, first = await one_in_flight()
    long = asyncio.create_task(send(rpc, 2, timeout=5))  # queued: the timer is set for it
    await asyncio.sleep(0.01)
    started = asyncio.get_running_loop().time()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await send(rpc, 3, timeout=0.05)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert asyncio.get_running_loop().time() - started < 1.0
    svc.gate.set()
    await asyncio.gather(first, long)
    assert svc.batches == [[1], [2]]
