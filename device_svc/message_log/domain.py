"""The message log's reading, without I/O: a stored batch back into frames, each parsed; replies
linked to their CALL's action; a page chosen newest first with its filters.

A frame's id is its batch row's id times :data:`PER_BATCH` plus its place in the batch: newer
frames have greater ids, and a page token is the id below which the next page starts.
"""

from __future__ import annotations

import collections
import datetime
from dataclasses import dataclass
from typing import Any

import orjson

from common import message_log_codec

__all__ = ["LINK_WINDOW", "PER_BATCH", "Frame", "Page", "decode", "parse"]

# Frames per batch at most (the gateways send at most message_log_batch_size, 1000 by default).
PER_BATCH = 1 << 16
# How long before its reply a CALL is looked for (a station's answer comes within the CSMS's
# call timeout, a minute or so; a CALL older than this leaves its reply's action empty).
LINK_WINDOW = datetime.timedelta(minutes=10)
_TYPES = {2: "call", 3: "result", 4: "error"}
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


@dataclass(slots=True, eq=False)  # frames are compared by identity (a reply in line)
class Frame:
    id: int
    station_id: str
    at: datetime.datetime
    direction: str  # "in" or "out"
    type: str  # "call", "result" or "error"
    message_id: str
    action: str  # a reply's: its CALL's, once linked
    payload: Any


def parse(text: str) -> tuple[str, str, str, Any]:
    """(type, message id, action of a CALL, payload) of a frame's text; a frame that is no
    OCPP-J message is ("call", "", "", {"unparsed": the text}), a CALLERROR's payload
    {"code", "description", "details"}."""
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        return "call", "", "", {"unparsed": text[:10_000]}
    if not isinstance(message, list) or not message or message[0] not in _TYPES:
        return "call", "", "", {"unparsed": text[:10_000]}
    kind = _TYPES[message[0]]
    message_id = str(message[1]) if len(message) > 1 else ""
    if kind == "call":
        action = str(message[2]) if len(message) > 2 else ""
        return kind, message_id, action, message[3] if len(message) > 3 else {}
    if kind == "result":
        return kind, message_id, "", message[2] if len(message) > 2 else {}
    return (
        kind,
        message_id,
        "",
        {
            "code": message[2] if len(message) > 2 else "",
            "description": message[3] if len(message) > 3 else "",
            "details": message[4] if len(message) > 4 else {},
        },
    )


def decode(row_id: int, station_id: str, body: bytes) -> list[Frame]:
    """A stored batch's frames, oldest first, each parsed (a reply's action not yet linked)."""
    frames = []
    for n, (at, direction, text) in enumerate(message_log_codec.decode(body)):
        kind, message_id, action, payload = parse(text)
        frames.append(
            Frame(
                row_id * PER_BATCH + n,
                station_id,
                _EPOCH + datetime.timedelta(microseconds=at // 1000),
                direction,
                kind,
                message_id,
                action,
                payload,
            )
        )
    return frames


class Page:
    """One page of a station's frames, chosen as they are fed newest first (:meth:`add`, only
    as many as needed): those at or after ``since`` and of ``action`` (a reply's action is its
    CALL's), ``size`` of them at most.

    A reply waits in line until its CALL is met (older, later in the feed) or the feed is
    LINK_WINDOW before it: only then is it known whether it passes the filter, and only the
    frames in line before it are taken. At most ``scan`` frames are read for one page (a rare
    action in a long log): the page may then be short, with a token to go on from there, and a
    reply whose CALL lies beyond keeps an empty action.
    """

    def __init__(
        self, since: datetime.datetime | None, action: str, size: int, scan: int = 20_000
    ) -> None:
        self.since = since
        self.action = action
        self.size = size
        self.scan = scan
        self.frames: list[Frame] = []
        self._line: collections.deque[Frame] = collections.deque()
        # (message id, the CALL's direction) → the replies in line waiting for that CALL
        self._waiting: dict[tuple[str, str], list[Frame]] = {}
        self._scanned = 0
        self._last: Frame | None = None

    @staticmethod
    def _call_key(reply: Frame) -> tuple[str, str]:
        return reply.message_id, "out" if reply.direction == "in" else "in"

    def _settle(self, fed_to: datetime.datetime | None) -> bool:
        """Take the settled frames at the head of the line; True once the page is full (one
        frame beyond ``size``: there is a next page)."""
        line = self._line
        while line:
            head = line[0]
            replies = self._waiting.get(self._call_key(head)) if head.type != "call" else None
            if replies and any(r is head for r in replies):
                if fed_to is not None and head.at - fed_to <= LINK_WINDOW:
                    return False  # its CALL may come yet
                replies.remove(head)
            line.popleft()
            if not self.action or head.action == self.action:
                self.frames.append(head)
                if len(self.frames) > self.size:
                    return True
        return False

    def add(self, frame: Frame) -> bool:
        """The next older frame; True once no more is needed (then see :meth:`result`)."""
        self._scanned += 1
        self._last = frame
        if frame.type == "call":
            for reply in self._waiting.pop((frame.message_id, frame.direction), ()):
                if reply.at - frame.at <= LINK_WINDOW:
                    reply.action = frame.action
        since = self.since
        if since is None or frame.at >= since:
            if frame.type != "call" and frame.message_id:
                self._waiting.setdefault(self._call_key(frame), []).append(frame)
            self._line.append(frame)
        return (
            self._settle(frame.at)
            or (since is not None and frame.at < since - LINK_WINDOW)  # nothing older is wanted
            or self._scanned >= self.scan
        )

    def result(self) -> tuple[list[Frame], int | None]:
        """The page, newest first, and the id below which the next one starts (None: no more).
        Call it when :meth:`add` said so or the feed ended."""
        self._settle(None)
        frames = self.frames
        if len(frames) > self.size:
            return frames[: self.size], frames[self.size - 1].id
        last = self._last
        if (
            last is not None
            and self._scanned >= self.scan
            and not (self.since is not None and last.at < self.since - LINK_WINDOW)
        ):
            return frames, last.id
        return frames, None
