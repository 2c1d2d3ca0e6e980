"""The gateway's part of the station message log (gateway/message_log.py): what waits per station,
what is dropped when too much waits, what a batch holds, what is redacted (and what is left
untouched), the flusher's batches and requests, and what it drops and counts."""

from __future__ import annotations

from typing import Any

import grpc
import orjson
import pytest

from common import message_log_codec, metrics
from gateway.message_log import (
    IN,
    MARKERS,
    OUT,
    REDACTED,
    MessageLog,
    MessageLogFlusher,
    encode,
    may_hold_secret,
    redact_frame,
)


def _decoded(body: bytes) -> list[list[Any]]:
    return [list(frame) for frame in message_log_codec.decode(body)]


def _flat(frames: list[tuple[int, str, str]]) -> list[Any]:
    """Frames as the gateway keeps them: [time, direction, text, time, ...]."""
    return [value for frame in frames for value in frame]


def _dropped() -> float:
    return metrics.MESSAGE_LOG_DROPPED._value.get()  # type: ignore[attr-defined,no-any-return]


def test_frames_wait_per_station_in_order_with_their_time_and_direction() -> None:
    log = MessageLog()
    log.record("CS1", IN, '[2,"a","Heartbeat",{}]')
    log.record("CS2", IN, b'[2,"b","Heartbeat",{}]')
    log.record("CS1", OUT, '[3,"a",{"currentTime":"x"}]')
    taken = log.take()
    assert {s: list(zip(f[1::3], f[2::3], strict=True)) for s, f in taken.items()} == {
        "CS1": [(IN, '[2,"a","Heartbeat",{}]'), (OUT, '[3,"a",{"currentTime":"x"}]')],
        "CS2": [(IN, '[2,"b","Heartbeat",{}]')],
    }
    assert taken["CS1"][0] <= taken["CS1"][3]
    assert log.take() == {} and log.count == 0


def test_beyond_the_limit_frames_are_dropped_and_counted() -> None:
    log = MessageLog(limit=2)
    for i in range(5):
        log.record("CS1", IN, f'[2,"{i}","Heartbeat",{{}}]')
    assert log.count == 2 and len(log.waiting["CS1"]) == 2 * 3 and log.dropped == 3
    log.take()
    log.record("CS1", IN, "[]")  # room again once taken
    assert log.count == 1 and log.dropped == 3


def test_a_batch_keeps_the_text_as_it_went_over_the_wire() -> None:
    frames = [
        (1, IN, '[2, "a", "Heartbeat", {}]'),  # spaces and all
        (2, OUT, '[3,"a",{"currentTime":"2026-12-05T10:00:00Z"}]'),
        (3, IN, "not json"),
        (4, IN, '[2,"b","DataTransfer",{"data":"line\\nnext \\" quote"}]'),
        (5, IN, '[2,"c","DataTransfer",{"data":"raw\nnewline, ümlaut, 🔌"}]'),
    ]
    assert _decoded(encode(_flat(frames))) == [
        [at, "in" if d == IN else "out", text] for at, d, text in frames
    ]


def _set_variables(value: str) -> str:
    return orjson.dumps(
        [
            2,
            "m",
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "attributeValue": value,
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
    ).decode()


def test_basic_auth_passwords_are_redacted() -> None:
    text = redact_frame(_set_variables("s3cret-s3cret-s3cret"))
    assert "s3cret" not in text
    values = [d["attributeValue"] for d in orjson.loads(text)[3]["setVariableData"]]
    assert values == [REDACTED, "300"]


def _report(component: str, variable: str, value: str) -> list[Any]:
    """A NotifyReport CALL reporting one variable's Actual value."""
    return [
        2,
        "r",
        "NotifyReport",
        {
            "requestId": 1,
            "generatedAt": "2026-12-05T10:00:00Z",
            "seqNo": 0,
            "reportData": [
                {
                    "component": {"name": component},
                    "variable": {"name": variable},
                    "variableAttribute": [{"type": "Actual", "value": value}],
                }
            ],
        },
    ]


def test_a_reported_basic_auth_password_is_redacted() -> None:
    report = _report("SecurityCtrlr", "BasicAuthPassword", "leaked-password")
    text = redact_frame(orjson.dumps(report).decode())
    assert "leaked-password" not in text
    assert orjson.loads(text)[3]["reportData"][0]["variableAttribute"][0]["value"] == REDACTED


def test_a_1_6_authorization_key_is_redacted() -> None:
    """OCPP 1.6's AuthorizationKey (the security whitepaper's Basic auth password), in a
    ChangeConfiguration the CSMS sends and in a GetConfiguration answer, whatever its case."""
    change = [2, "c", "ChangeConfiguration", {"key": "AuthorizationKey", "value": "s3cret-16"}]
    text = redact_frame(orjson.dumps(change).decode())
    assert "s3cret-16" not in text
    assert orjson.loads(text)[3] == {"key": "AuthorizationKey", "value": REDACTED}
    answer = [
        3,
        "g",
        {
            "configurationKey": [
                {"key": "authorizationkey", "readonly": False, "value": "leaked-16"},
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            ]
        },
    ]
    text = redact_frame(orjson.dumps(answer).decode())
    assert "leaked-16" not in text
    assert [k["value"] for k in orjson.loads(text)[2]["configurationKey"]] == [REDACTED, "300"]
    (frame,) = _decoded(encode([1, OUT, orjson.dumps(change).decode()]))
    assert "s3cret-16" not in frame[2]


def test_apn_passwords_and_private_keys_are_redacted() -> None:
    network = [
        2,
        "n",
        "SetNetworkProfile",
        {"configurationSlot": 1, "connectionData": {"apn": {"apn": "x", "apnPassword": "pw"}}},
    ]
    text = redact_frame(orjson.dumps(network).decode())
    assert orjson.loads(text)[3]["connectionData"]["apn"] == {"apn": "x", "apnPassword": REDACTED}
    key = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----\n"
    data = [2, "d", "DataTransfer", {"vendorId": "v", "data": f"cert and {key}tail"}]
    text = redact_frame(orjson.dumps(data).decode())
    assert "MHcCAQEEIB" not in text
    assert orjson.loads(text)[3]["data"] == f"cert and {REDACTED}\ntail"


@pytest.mark.parametrize(
    "frame, secret",
    [
        # OCPP 2.0.1's component and variable names are case-insensitive (Part 2, ComponentType
        # and VariableType: "Case Insensitive"): a station takes any spelling as its password.
        (
            [
                2,
                "s",
                "SetVariables",
                {
                    "setVariableData": [
                        {
                            "attributeValue": "lower-case-pw-1",
                            "component": {"name": "securityctrlr"},
                            "variable": {"name": "basicauthpassword"},
                        }
                    ]
                },
            ],
            "lower-case-pw-1",
        ),
        (_report("SECURITYCTRLR", "BASICAUTHPASSWORD", "upper-case-pw-2"), "upper-case-pw-2"),
        # OCPP 1.6's keys too, in what the station answers.
        (
            [
                3,
                "g",
                {
                    "configurationKey": [
                        {"key": "authorizationkey", "readonly": False, "value": "k3"}
                    ]
                },
            ],
            "k3",
        ),
        # Not the schema's spelling, but recorded as it went.
        ([2, "n", "SetNetworkProfile", {"apn": {"APNPassword": "apn-pw-4"}}], "apn-pw-4"),
        (
            [2, "d", "DataTransfer", {"data": "-----begin private key-----\nMIIB5\n"}],
            "MIIB5",
        ),
    ],
)
def test_a_secret_is_found_whatever_the_case_of_its_name(frame: Any, secret: str) -> None:
    (decoded,) = _decoded(encode([1, OUT, orjson.dumps(frame).decode()]))
    assert secret not in decoded[2] and REDACTED in decoded[2]


def test_every_marker_has_a_letter_the_shortcut_looks_for() -> None:
    """may_hold_secret settles an ASCII batch without a w or a k as holding none: a marker
    added without one of them would be skipped."""
    for marker in MARKERS[:-1]:
        assert marker == marker.lower() and ("w" in marker or "k" in marker), marker
    assert not may_hold_secret('[2,"a","Heartbeat",{}]' * 100)


def test_a_secret_behind_a_non_ascii_lookalike_is_found() -> None:
    """KELVIN SIGN lowers to "k", as itself or as a JSON escape: a batch that is not ASCII is
    searched in full."""
    frame = [3, "g", {"configurationKey": [{"key": "authorization\u212aey", "value": "kelvin-5"}]}]
    text = orjson.dumps(frame).decode()
    assert "\u212a" in text  # the character itself, not an escape
    (decoded,) = _decoded(encode([1, IN, text]))
    assert "kelvin-5" not in decoded[2]
    (decoded,) = _decoded(encode([1, IN, text.replace("\u212a", "\\u212a")]))
    assert "kelvin-5" not in decoded[2]


def test_escaped_names_do_not_hide_a_secret() -> None:
    escaped = _set_variables("hidden-password").replace(
        "BasicAuthPassword", "BasicAuth\\u0050assword"
    )
    (frame,) = _decoded(encode([1, OUT, escaped]))
    assert "hidden-password" not in frame[2]


def test_a_batch_with_a_secret_redacts_it_and_leaves_the_other_frames_alone() -> None:
    plain = '[2, "h", "Heartbeat", {}]'
    frames = [(1, IN, plain), (2, OUT, _set_variables("pw-pw-pw-pw-pw-pw"))]
    decoded = _decoded(encode(_flat(frames)))
    assert decoded[0] == [1, "in", plain]
    assert "pw-pw-pw" not in decoded[1][2] and REDACTED in decoded[1][2]


def test_what_is_no_json_but_may_hold_a_secret_is_redacted_whole() -> None:
    assert redact_frame('[2,"x","SetVariables",{"BasicAuthPassword": oops') == REDACTED
    assert redact_frame("not json") == "not json"


class _Device:
    def __init__(self, fail: bool = False) -> None:
        self.requests: list[Any] = []
        self.fail = fail

    async def RecordMessages(self, request: Any, **_: Any) -> None:
        if self.fail:
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.UNAVAILABLE,
                grpc.aio.Metadata(),
                grpc.aio.Metadata(),
                "device_svc down",
            )
        self.requests.append(request)


async def test_each_stations_frames_become_batches_in_requests() -> None:
    log = MessageLog()
    for i in range(5):
        log.record("CS1", IN, f'[2,"{i}","Heartbeat",{{}}]')
    log.record("CS2", OUT, '[2,"r","Reset",{"type":"Immediate"}]')
    device = _Device()
    await MessageLogFlusher(log, device, batch_size=2, request_bytes=1).flush()
    batches = [b for r in device.requests for b in r.batches]
    assert [(b.station_id, b.frames) for b in batches] == [
        ("CS1", 2),
        ("CS1", 2),
        ("CS1", 1),
        ("CS2", 1),
    ]
    assert len(device.requests) == 4  # request_bytes=1: one batch a request
    texts = [f[2] for b in batches for f in _decoded(b.body)]
    assert texts[:5] == [f'[2,"{i}","Heartbeat",{{}}]' for i in range(5)]
    first = _decoded(batches[0].body)
    assert batches[0].first_time.ToNanoseconds() == first[0][0]
    assert batches[0].last_time.ToNanoseconds() == first[-1][0]
    assert not log.waiting


async def test_what_device_svc_refuses_is_dropped_and_counted() -> None:
    log = MessageLog()
    for i in range(3):
        log.record("CS1", IN, f'[2,"{i}","Heartbeat",{{}}]')
    before = _dropped()
    await MessageLogFlusher(log, _Device(fail=True)).flush()
    assert _dropped() - before == 3 and not log.waiting


async def test_frames_beyond_the_limit_are_counted_at_the_next_flush() -> None:
    log = MessageLog(limit=1)
    log.record("CS1", IN, "[]")
    log.record("CS1", IN, "[]")
    before = _dropped()
    device = _Device()
    await MessageLogFlusher(log, device).flush()
    assert _dropped() - before == 1 and log.dropped == 0
    assert [b.frames for r in device.requests for b in r.batches] == [1]


@pytest.mark.parametrize("budget", [0.0])
async def test_beyond_its_cpu_budget_a_flush_drops_the_rest(
    budget: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gateway.message_log as module

    monkeypatch.setattr(module, "_SLICE", -1.0)  # every station ends a slice
    log = MessageLog()
    for s in range(3):
        for i in range(4):
            log.record(f"CS{s}", IN, f'[2,"{i}","Heartbeat",{{}}]')
    before = _dropped()
    device = _Device()
    await MessageLogFlusher(log, device, budget=budget).flush()
    sent = [b.station_id for r in device.requests for b in r.batches]
    assert sent == ["CS0"]  # the first station's batch is made; then the budget is spent
    assert _dropped() - before == 8


async def test_what_utf8_cannot_hold_is_kept_as_a_question_mark() -> None:
    log = MessageLog()
    log.record("CS1", IN, "lone \ud800 surrogate")  # no valid UTF-8 (never off the wire)
    log.record("CS1", IN, "[]")
    device = _Device()
    await MessageLogFlusher(log, device).flush()
    (batch,) = [b for r in device.requests for b in r.batches]
    assert [f[2] for f in _decoded(batch.body)] == ["lone ? surrogate", "[]"]


async def test_the_budget_is_checked_between_a_stations_batches_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gateway.message_log as module

    monkeypatch.setattr(module, "_SLICE", -1.0)
    log = MessageLog()
    for i in range(5):
        log.record("CS0", IN, f'[2,"{i}","Heartbeat",{{}}]')
    log.record("CS1", IN, "[]")
    before = _dropped()
    device = _Device()
    await MessageLogFlusher(log, device, batch_size=2, budget=0.0).flush()
    assert [(b.station_id, b.frames) for r in device.requests for b in r.batches] == [("CS0", 2)]
    assert _dropped() - before == 3 + 1
