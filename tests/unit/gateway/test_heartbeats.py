"""Tests for gateway.heartbeats: local answers, bounded last-seen book, the flusher."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from common.ocpp_json import to_ocpp
from csms.device.v1 import device_service_pb2 as device_pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from gateway.heartbeats import HeartbeatFlusher, LastSeen
from gateway.routes import ROUTES, Local, Router


class RpcError(grpc.aio.AioRpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=code.name)


class FakeDevice:
    """RecordHeartbeats that records what it got, failing while ``down``."""

    def __init__(self) -> None:
        self.got: list[dict[str, int]] = []
        self.down = False

    async def RecordHeartbeats(self, request: Any, **options: Any) -> Any:  # noqa: N802
        if self.down:
            raise RpcError(grpc.StatusCode.UNAVAILABLE)
        self.got.append({b.station_id: b.time.ToNanoseconds() for b in request.heartbeats})


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000_000_000_000

    def __call__(self) -> int:
        self.now += 1_000
        return self.now


async def test_heartbeat_is_a_local_row_of_the_table() -> None:
    """The table says Heartbeat is answered by the gateway, and the Router binds the handler."""
    assert ROUTES["Heartbeat"] == Local("heartbeat")
    seen = LastSeen(10)
    channels = {
        name: grpc.aio.insecure_channel("127.0.0.1:1") for name in ("device", "transaction", "user")
    }
    bound = Router(channels, {"heartbeat": seen.answer}).bound["Heartbeat"]
    assert bound.rpc is None and bound.answer == seen.answer
    with pytest.raises(KeyError):
        Router(channels, {})
    for channel in channels.values():
        await channel.close()


def test_answer_is_now_and_remembered() -> None:
    """currentTime is the clock's now; the station's latest time is what the book holds."""
    clock = Clock()
    seen = LastSeen(10, clock)
    first = seen.answer("CS1", ocpp.HeartbeatRequest())
    clock.now += 5_000_000
    second = seen.answer("CS1", ocpp.HeartbeatRequest())
    assert first.current_time.ToNanoseconds() < second.current_time.ToNanoseconds() <= clock.now
    assert clock.now - second.current_time.ToNanoseconds() < 1_000_000
    assert seen.take() == {"CS1": clock.now} and seen.take() == {}


def test_answer_is_cut_to_the_millisecond() -> None:
    """currentTime holds what OCPP lets the CSMS send (three decimal places), cut, not rounded;
    the book keeps the clock's nanoseconds."""
    seen = LastSeen(10, lambda: 1_800_000_000_999_999_999)
    answer = seen.answer("CS1", ocpp.HeartbeatRequest())
    assert answer.current_time == timestamp_pb2.Timestamp(seconds=1_800_000_000, nanos=999_000_000)
    assert to_ocpp(answer) == {"currentTime": "2027-01-15T08:00:00.999Z"}
    assert seen.take() == {"CS1": 1_800_000_000_999_999_999}


def test_book_is_bounded_and_put_back_keeps_the_newest() -> None:
    """Beyond ``limit`` stations new ones are dropped (counted); put_back never goes backwards."""
    clock = Clock()
    seen = LastSeen(2, clock)
    for sid in ("A", "B", "C"):
        seen.answer(sid, ocpp.HeartbeatRequest())
    assert len(seen) == 2 and seen.dropped == 1
    taken = seen.take()
    seen.answer("A", ocpp.HeartbeatRequest())  # newer than the taken one
    newest_a = clock.now
    seen.put_back(taken)
    assert seen.take() == {"A": newest_a, "B": taken["B"]}


async def test_flush_sends_in_batches_and_keeps_what_failed() -> None:
    """Chunks of batch_size; on failure everything stays for the next tick, then goes."""
    device = FakeDevice()
    seen = LastSeen(100, Clock())
    flusher = HeartbeatFlusher(seen, device, interval=1, timeout=1, batch_size=2)
    for sid in ("A", "B", "C"):
        seen.answer(sid, ocpp.HeartbeatRequest())
    device.down = True
    assert await flusher.flush() is False
    assert len(seen) == 3 and device.got == []
    device.down = False
    assert await flusher.flush() is True
    assert [len(batch) for batch in device.got] == [2, 1] and len(seen) == 0
    assert await flusher.flush() is True and len(device.got) == 2  # nothing new: no call


def test_request_carries_the_times() -> None:
    """What device_svc gets: station ids with the answered times."""
    from gateway.heartbeats import _request

    request = _request({"CS1": 1_800_000_000_123_456_789})
    assert request == device_pb.RecordHeartbeatsRequest(
        heartbeats=[
            device_pb.StationHeartbeat(
                station_id="CS1", time={"seconds": 1_800_000_000, "nanos": 123_456_789}
            )
        ]
    )
