"""The station message log, the gateway's part: every frame in and out, recorded off the hot path.

On a station's path a frame costs one append to a bounded deque (its time, the station, the
direction and the text as it went over the wire). Every ``interval`` seconds the flusher takes
what waits, parses it (type, message id, action: a reply gets its CALL's, remembered per station
and message id), redacts secrets, and sends device_svc batches of ``batch_size``
(``RecordMessages``). When more than ``limit`` frames wait (device_svc slow or down), new ones
are dropped and counted (``csms_message_log_dropped_total``), never waited for: a station is
never slowed by its log. A batch device_svc refuses is dropped too, and counted.

Redacted (``"***"``): the Basic auth password of a SetVariables (SecurityCtrlr
BasicAuthPassword) and the APN password of a SetNetworkProfile. OCPP 2.0.1 frames carry no
private key.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Iterator
from typing import Any

import grpc
import orjson
from google.protobuf import timestamp_pb2

from common import metrics
from csms.device.v1 import device_service_pb2 as device_pb

__all__ = ["REDACTED", "MessageLog", "MessageLogFlusher", "parse", "redact"]

log = logging.getLogger(__name__)

REDACTED = "***"
_TYPES = {2: "call", 3: "result", 4: "error"}
# How many (station, message id) → action a flusher remembers for the replies to come.
_ACTIONS_KEPT = 100_000


def redact(action: str, payload: Any) -> Any:
    """``payload`` (a CALL's, of ``action``) with its secrets replaced, in place."""
    if not isinstance(payload, dict):
        return payload
    if action == "SetVariables":
        for data in payload.get("setVariableData") or ():
            if (
                isinstance(data, dict)
                and isinstance(data.get("variable"), dict)
                and data["variable"].get("name") == "BasicAuthPassword"
            ):
                data["attributeValue"] = REDACTED
    elif action == "SetNetworkProfile":
        apn = (payload.get("connectionData") or {}).get("apn")
        if isinstance(apn, dict) and "apnPassword" in apn:
            apn["apnPassword"] = REDACTED
    return payload


def parse(frame: str) -> tuple[str, str, str, Any]:
    """(type, message id, action of a CALL, payload) of a frame's text; a frame that is no
    OCPP-J message is ("error" when it looks like one, "call" otherwise, "", "", {"unparsed"})."""
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return "call", "", "", {"unparsed": frame[:10_000]}
    if not isinstance(message, list) or not message or message[0] not in _TYPES:
        return "call", "", "", {"unparsed": frame[:10_000]}
    kind = _TYPES[message[0]]
    message_id = str(message[1]) if len(message) > 1 else ""
    if kind == "call":
        action = str(message[2]) if len(message) > 2 else ""
        payload = message[3] if len(message) > 3 else {}
        return kind, message_id, action, redact(action, payload)
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


class MessageLog:
    """The frames waiting to be recorded (the stations' side: :meth:`record` only)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self.waiting: collections.deque[tuple[int, str, str, str]] = collections.deque()
        self.dropped = 0

    def record(self, station_id: str, direction: str, frame: str | bytes) -> None:
        if len(self.waiting) >= self.limit:
            self.dropped += 1
            return
        if isinstance(frame, bytes):
            frame = frame.decode(errors="replace")
        self.waiting.append((time.time_ns(), station_id, direction, frame))

    def take(self, most: int) -> list[tuple[int, str, str, str]]:
        taken: list[tuple[int, str, str, str]] = []
        waiting = self.waiting
        while waiting and len(taken) < most:
            taken.append(waiting.popleft())
        return taken


class MessageLogFlusher:
    def __init__(
        self,
        message_log: MessageLog,
        device: Any,  # a DeviceServiceStub (or a fake with RecordMessages)
        interval: float = 0.5,
        timeout: float = 5.0,
        batch_size: int = 1000,
    ) -> None:
        self.log = message_log
        self.device = device
        self.interval = interval
        self.timeout = timeout
        self.batch_size = batch_size
        self._actions: collections.OrderedDict[tuple[str, str], str] = collections.OrderedDict()
        self._dropped = metrics.MESSAGE_LOG_DROPPED

    def _messages(self, taken: list[tuple[int, str, str, str]]) -> Iterator[Any]:
        actions = self._actions
        for at, station_id, direction, frame in taken:
            kind, message_id, action, payload = parse(frame)
            key = (station_id, message_id)
            if kind == "call":
                actions[key] = action
                if len(actions) > _ACTIONS_KEPT:
                    actions.popitem(last=False)
            else:
                action = actions.pop(key, "")
            ts = timestamp_pb2.Timestamp()
            ts.FromNanoseconds(at)
            yield device_pb.StationMessage(
                station_id=station_id,
                time=ts,
                direction=direction,
                type=kind,
                message_id=message_id,
                action=action,
                payload_json=orjson.dumps(payload).decode(),
            )

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    async def flush(self) -> None:
        if self.log.dropped:
            self._dropped.inc(self.log.dropped)
            log.warning(
                "message log: %d frames dropped (%d waiting)", self.log.dropped, self.log.limit
            )
            self.log.dropped = 0
        while self.log.waiting:
            taken = self.log.take(self.batch_size)
            request = device_pb.RecordMessagesRequest(messages=list(self._messages(taken)))
            try:
                await self.device.RecordMessages(request, timeout=self.timeout)
            except grpc.aio.AioRpcError as exc:
                self._dropped.inc(len(taken))
                log.warning(
                    "message log: %d frames not recorded (%s %s)",
                    len(taken),
                    exc.code().name,
                    exc.details(),
                )
                return
