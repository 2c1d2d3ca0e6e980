"""The gateway's part of the station message log (gateway/message_log.py): what a frame becomes,
what is redacted, what is dropped when too much waits; the flusher's batches."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.message_log import REDACTED, MessageLog, MessageLogFlusher, parse


def test_a_call_a_result_and_an_error() -> None:
    assert parse('[2,"m1","Heartbeat",{}]') == ("call", "m1", "Heartbeat", {})
    assert parse('[3,"m1",{"currentTime":"x"}]') == ("result", "m1", "", {"currentTime": "x"})
    assert parse('[4,"m2","FormationViolation","bad",{}]') == (
        "error",
        "m2",
        "",
        {"code": "FormationViolation", "description": "bad", "details": {}},
    )


@pytest.mark.parametrize("frame", ["not json", "{}", "[9,1]", "[]"])
def test_what_is_no_ocpp_message_is_kept_as_text(frame: str) -> None:
    assert parse(frame) == ("call", "", "", {"unparsed": frame})


def test_secrets_are_redacted() -> None:
    set_vars = [
        2,
        "m",
        "SetVariables",
        {
            "setVariableData": [
                {
                    "attributeValue": "s3cret-s3cret-s3cret",
                    "component": {"name": "SecurityCtrlr"},
                    "variable": {"name": "BasicAuthPassword"},
                },
                {
                    "attributeValue": "300",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                },
            ]
        },
    ]
    _, _, _, payload = parse(orjson.dumps(set_vars).decode())
    values = [d["attributeValue"] for d in payload["setVariableData"]]
    assert values == [REDACTED, "300"]
    network = [
        2,
        "n",
        "SetNetworkProfile",
        {"configurationSlot": 1, "connectionData": {"apn": {"apn": "x", "apnPassword": "pw"}}},
    ]
    _, _, _, payload = parse(orjson.dumps(network).decode())
    assert payload["connectionData"]["apn"] == {"apn": "x", "apnPassword": REDACTED}


def test_beyond_the_limit_frames_are_dropped_and_counted() -> None:
    log = MessageLog(limit=2)
    for i in range(5):
        log.record("CS1", "in", f'[2,"{i}","Heartbeat",{{}}]')
    assert len(log.waiting) == 2 and log.dropped == 3


class _Device:
    def __init__(self) -> None:
        self.batches: list[Any] = []

    async def RecordMessages(self, request: Any, **_: Any) -> None:
        self.batches.append(request)


async def test_a_reply_gets_its_calls_action_in_batches() -> None:
    log = MessageLog()
    log.record("CS1", "in", '[2,"a","BootNotification",{}]')
    log.record("CS1", "out", '[3,"a",{"status":"Accepted"}]')
    log.record("CS1", "out", '[2,"b","Reset",{"type":"Immediate"}]')
    log.record("CS2", "in", b'[3,"b",{}]')  # another station's "b": no action
    log.record("CS1", "in", '[3,"b",{"status":"Accepted"}]')
    device = _Device()
    await MessageLogFlusher(log, device, batch_size=2).flush()
    assert [len(b.messages) for b in device.batches] == [2, 2, 1]
    got = [m for b in device.batches for m in b.messages]
    assert [(m.station_id, m.direction, m.type, m.message_id, m.action) for m in got] == [
        ("CS1", "in", "call", "a", "BootNotification"),
        ("CS1", "out", "result", "a", "BootNotification"),
        ("CS1", "out", "call", "b", "Reset"),
        ("CS2", "in", "result", "b", ""),
        ("CS1", "in", "result", "b", "Reset"),
    ]
    assert orjson.loads(got[1].payload_json) == {"status": "Accepted"}
    assert not log.waiting
