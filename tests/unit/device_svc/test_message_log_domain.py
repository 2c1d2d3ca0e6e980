"""The message log's reading (device_svc/message_log/domain.py): a batch back into frames, what a
frame's text becomes, replies linked to their CALL across batches, a page's choice newest first
with its filters, its token, and its bounds."""

from __future__ import annotations

import datetime
import zlib
from typing import Any

import orjson
import pytest

from device_svc.message_log.domain import LINK_WINDOW, PER_BATCH, Frame, Page, decode, parse

T0 = datetime.datetime(2026, 12, 5, 10, 0, tzinfo=datetime.UTC)
NS0 = int(T0.timestamp()) * 1_000_000_000


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


def _body(*frames: tuple[int, str, str]) -> bytes:
    return zlib.compress(orjson.dumps(frames), 1)


def test_a_batch_decodes_to_its_frames_with_ids_in_order() -> None:
    body = _body(
        (NS0 + 1_500_000, "in", '[2,"a","Heartbeat",{}]'),
        (NS0 + 2_000_000, "out", '[3,"a",{"currentTime":"x"}]'),
    )
    frames = decode(7, "CS1", body)
    assert [(f.id, f.station_id, f.at, f.direction, f.type, f.message_id) for f in frames] == [
        (7 * PER_BATCH, "CS1", T0 + datetime.timedelta(microseconds=1500), "in", "call", "a"),
        (
            7 * PER_BATCH + 1,
            "CS1",
            T0 + datetime.timedelta(microseconds=2000),
            "out",
            "result",
            "a",
        ),
    ]
    assert frames[0].action == "Heartbeat" and frames[1].payload == {"currentTime": "x"}


def _frames(*texts: tuple[str, str], start: int = 100) -> list[Frame]:
    """Frames in the order they went, one second apart; ids from ``start``."""
    out = []
    for n, (direction, text) in enumerate(texts):
        kind, message_id, action, payload = parse(text)
        at = T0 + datetime.timedelta(seconds=n)
        out.append(Frame(start + n, "CS1", at, direction, kind, message_id, action, payload))
    return out


def _page(frames: list[Frame], **kw: Any) -> tuple[list[Frame], int | None]:
    page = Page(kw.pop("since", None), kw.pop("action", ""), kw.pop("size", 50), **kw)
    for frame in reversed(frames):
        if page.add(frame):
            break
    return page.result()


CONVERSATION = [
    ("in", '[2,"b1","BootNotification",{}]'),
    ("out", '[3,"b1",{"status":"Accepted"}]'),
    ("out", '[2,"s1","SetVariables",{}]'),
    ("in", '[2,"h1","Heartbeat",{}]'),  # the station's own call while ours waits
    ("out", '[3,"h1",{"currentTime":"x"}]'),
    ("in", '[3,"s1",{"setVariableResult":[]}]'),
    ("in", '[4,"z9","NotImplemented","",{}]'),  # a reply to no CALL seen
]


def test_replies_are_listed_under_their_calls_action_newest_first() -> None:
    frames, token = _page(_frames(*CONVERSATION))
    assert [(f.direction, f.type, f.action) for f in frames] == [
        ("in", "error", ""),
        ("in", "result", "SetVariables"),
        ("out", "result", "Heartbeat"),
        ("in", "call", "Heartbeat"),
        ("out", "call", "SetVariables"),
        ("out", "result", "BootNotification"),
        ("in", "call", "BootNotification"),
    ]
    assert token is None


def test_a_reply_is_linked_only_to_a_call_the_other_way() -> None:
    frames, _ = _page(
        _frames(("out", '[2,"x","Reset",{}]'), ("out", '[3,"x",{}]'), ("in", '[3,"x",{}]'))
    )
    assert [(f.direction, f.action) for f in frames] == [
        ("in", "Reset"),
        ("out", ""),
        ("out", "Reset"),
    ]


def test_filtered_by_action_replies_included() -> None:
    frames, _ = _page(_frames(*CONVERSATION), action="SetVariables")
    assert [(f.direction, f.type) for f in frames] == [("in", "result"), ("out", "call")]
    frames, _ = _page(_frames(*CONVERSATION), action="Heartbeat")
    assert [f.type for f in frames] == ["result", "call"]


def test_since_keeps_later_frames_but_links_them_to_earlier_calls() -> None:
    since = T0 + datetime.timedelta(seconds=4)
    frames, token = _page(_frames(*CONVERSATION), since=since)
    assert [(f.type, f.action) for f in frames] == [
        ("error", ""),
        ("result", "SetVariables"),  # its CALL went at 2 s, before since
        ("result", "Heartbeat"),
    ]
    assert token is None


def test_pages_follow_each_other_without_gaps_or_repeats() -> None:
    every = _frames(*CONVERSATION)
    seen: list[int] = []
    before: int | None = None
    while True:
        rest = [f for f in _frames(*CONVERSATION) if before is None or f.id < before]
        frames, before = _page(rest, size=2)
        assert len(frames) <= 2
        seen += [f.id for f in frames]
        if before is None:
            break
    assert seen == [f.id for f in reversed(every)]


def test_a_page_waits_for_a_replys_call_before_it_is_full() -> None:
    frames = _frames(*CONVERSATION[:-1])
    page = Page(None, "", 2)
    fed = 0
    for frame in reversed(frames):
        fed += 1
        if page.add(frame):
            break
    # s1's result settles only once its CALL (3 frames older) is met, and the frames after it
    # in line with it; the page needs one frame beyond its size to know there is more.
    assert fed == 4
    got, token = page.result()
    assert [f.action for f in got] == ["SetVariables", "Heartbeat"] and token == got[-1].id


def test_a_reply_to_no_call_seen_holds_the_page_until_the_window_or_the_end() -> None:
    frames = _frames(*CONVERSATION)
    got, token = _page(frames, size=1)
    assert [(f.type, f.action) for f in got] == [("error", "")] and token == got[0].id


def test_a_reply_whose_call_is_out_of_the_window_keeps_no_action() -> None:
    call, reply = _frames(("out", '[2,"s","Reset",{}]'), ("in", '[3,"s",{}]'))
    call.at = reply.at - LINK_WINDOW - datetime.timedelta(seconds=1)
    page = Page(None, "", 1)
    assert not page.add(reply)
    page.add(call)
    got, _ = page.result()
    assert [(f.type, f.action) for f in got] == [("result", "")]


def test_a_long_scan_for_a_rare_action_stops_with_a_token() -> None:
    frames = _frames(*[("in", f'[2,"h{i}","Heartbeat",{{}}]') for i in range(30)])
    got, token = _page(frames, action="Reset", scan=10)
    assert got == [] and token == frames[-10].id
    got, token = _page([f for f in frames if f.id < token], action="Reset", scan=100)
    assert got == [] and token is None
