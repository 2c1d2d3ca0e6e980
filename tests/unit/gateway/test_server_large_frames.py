"""Tests for gateway.server's CALL path with large frames: converted in steps, others between."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

from google.protobuf.message import Message

from common.ocpp_json import STEP_ITEMS, to_proto
from csms.device.v1 import device_service_pb2 as device_pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from gateway import ocppj
from gateway.routes import Bound
from gateway.server import Gateway
from gateway.settings import Settings

# Three steps' worth of reportData entries.
ENTRIES = 2 * STEP_ITEMS + 1


def _report() -> dict[str, Any]:
    return {
        "requestId": 1,
        "generatedAt": "2026-01-01T00:00:00Z",
        "seqNo": 0,
        "reportData": [
            {
                "component": {"name": "Ctrlr"},
                "variable": {"name": f"V{i}"},
                "variableAttribute": [{"value": str(i)}],
            }
            for i in range(ENTRIES)
        ],
    }


def _gateway(sent: list[Message]) -> Gateway:
    async def rpc(request: Message, **options: Any) -> Message:
        sent.append(request)  # answers at once: only the conversion can let others run
        return ocpp.NotifyReportResponse()

    bound = Bound(ocpp.NotifyReportRequest, "device", device_pb.NotifyReportCall, rpc=rpc)
    return Gateway(Settings(), SimpleNamespace(bound={"NotifyReport": bound}))  # type: ignore[arg-type]


async def _others_ran(gateway: Gateway, large: bool) -> int:
    """How many turns another task got while one NotifyReport CALL was answered."""
    turns = 0
    done = False

    async def other() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    runner = asyncio.create_task(other())
    await asyncio.sleep(0)  # the other task is under way
    turns = 0
    frame = await gateway._call("CS1", ocppj.Call("m1", "NotifyReport", _report()), large=large)
    done = True
    await runner
    assert json.loads(frame) == [3, "m1", {}]
    return turns


async def test_a_large_call_is_converted_in_steps_with_others_between() -> None:
    """A large frame's CALL lets other tasks run between its conversion's steps, and sends its
    service the message a small one would; a small frame's is converted in one piece."""
    sent: list[Message] = []
    gateway = _gateway(sent)
    assert await _others_ran(gateway, large=True) >= 2
    assert await _others_ran(gateway, large=False) == 0
    expected = device_pb.NotifyReportCall(
        station_id="CS1", request=to_proto(ocpp.NotifyReportRequest, _report())
    )
    assert sent == [expected, expected]
