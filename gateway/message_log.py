"""The station message log, the gateway's part: every frame in and out, recorded off the hot path.

On a station's path a frame costs one append to its station's list (its time, the direction and
the text as it went over the wire, one after the other in one flat list): nothing is parsed
there. Every ``interval`` seconds the flusher takes what waits and makes of each station's frames
one batch (:func:`encode`, in :mod:`common.message_log_codec`'s format: columns built from
slices of that list, joined and compressed without a Python step per frame), at most
``batch_size`` frames each; device_svc stores a batch as one row and parses, links (a reply
under its CALL's action) and filters only when a station's log is read
(``device_svc/message_log``). Batches go to device_svc in requests of about ``request_bytes``
(``RecordMessages``).

A station is never slowed by its log: when more than ``limit`` frames wait (device_svc slow or
down), new ones are dropped and counted (``csms_message_log_dropped_total``), never waited for;
a request device_svc refuses is dropped too, and counted; a flush yields to the stations every
few milliseconds, and spends at most ``budget`` of the interval's CPU time (the rest of its
frames are dropped, and counted).

Secrets never reach the log. A frame whose text may hold one (:data:`MARKERS`, in any case:
Basic auth passwords, APN passwords, PEM private keys; or JSON ``\\u`` escapes, which could
spell either) is parsed before it leaves (:func:`redact_frame`) and what it holds replaced by
``"***"``: the value of a variable named BasicAuthPassword (SetVariables, GetVariables' results,
NotifyReport), the value of OCPP 1.6's AuthorizationKey (ChangeConfiguration, GetConfiguration's
keys: the security whitepaper's Basic auth password), an ``apnPassword`` (SetNetworkProfile), a
private key's PEM block in any string. Names are compared in any case: OCPP 2.0.1's component
and variable names are case-insensitive (Part 2, VariableType), as 1.6's keys are. The test is
a few substring searches per batch (:func:`may_hold_secret`); only the rare batch that may hold
one is looked at frame by frame.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import grpc
import orjson
from google.protobuf import timestamp_pb2

from common import message_log_codec, metrics
from common.message_log_codec import IN, OUT
from csms.device.v1 import device_service_pb2 as device_pb
from gateway.ocpp16 import SECRET_KEYS_16

__all__ = [
    "IN",
    "MARKERS",
    "OUT",
    "REDACTED",
    "MessageLog",
    "MessageLogFlusher",
    "encode",
    "may_hold_secret",
    "redact",
    "redact_frame",
]

log = logging.getLogger(__name__)

REDACTED = "***"
# Substrings, lower case, of which a batch's text lowered must hold one for any frame of it to
# hold a secret; and a JSON "\u" escape (an escaped name or key could spell any of them).
MARKERS = ("basicauthpassword", "apnpassword", "private key", "authorizationkey", "\\u")
# Every marker but the escape has one of these letters: an ASCII text without any holds none.
_MARKER_LETTERS = "wWkK"
_PEM_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.S | re.I,
)
# Variables whose value is a secret (OCPP 2.0.1 SecurityCtrlr), by name, lower case (2.0.1
# names are case-insensitive).
_SECRET_VARIABLES = frozenset({"basicauthpassword"})
_APN_PASSWORD = "apnpassword"
# Yield to the stations after this much of a flush's work (seconds).
_SLICE = 0.002


def redact(value: Any) -> tuple[Any, bool]:
    """``value`` (a parsed frame or part of one) with its secrets replaced, and whether any was.
    Dicts and lists are changed in place; a string is returned anew."""
    if isinstance(value, str):
        if "private key" in value.lower():
            new = _PEM_KEY.sub(REDACTED, value)
            return new, new != value
        return value, False
    changed = False
    if isinstance(value, list):
        for i, item in enumerate(value):
            value[i], hit = redact(item)
            changed |= hit
    elif isinstance(value, dict):
        variable = value.get("variable")
        name = variable.get("name") if isinstance(variable, dict) else None
        if isinstance(name, str) and name.lower() in _SECRET_VARIABLES:
            if "attributeValue" in value:  # SetVariables' data, GetVariables' results
                value["attributeValue"] = REDACTED
                changed = True
            for attribute in value.get("variableAttribute") or ():  # NotifyReport's
                if isinstance(attribute, dict) and "value" in attribute:
                    attribute["value"] = REDACTED
                    changed = True
        key16 = value.get("key")
        if isinstance(key16, str) and key16.lower() in SECRET_KEYS_16 and "value" in value:
            value["value"] = REDACTED  # ChangeConfiguration, GetConfiguration's configurationKey
            changed = True
        for key, item in value.items():
            if key.lower() == _APN_PASSWORD:
                value[key] = REDACTED
                changed = True
            else:
                value[key], hit = redact(item)
                changed |= hit
    return value, changed


def redact_frame(text: str) -> str:
    """A frame's text with its secrets replaced (the text itself when it has none); a frame that
    has a marker but is no JSON becomes ``"***"`` whole."""
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        lowered = text.lower()
        return REDACTED if any(m in lowered for m in MARKERS[:-1]) else text
    message, changed = redact(message)
    return orjson.dumps(message).decode() if changed else text


def encode(frames: list[Any]) -> bytes:
    """One batch's body (:mod:`common.message_log_codec`) of a flat list of frames, ``[time ns,
    direction, text, time ns, ...]`` (directions :data:`IN` or :data:`OUT`), secrets redacted."""
    texts = frames[2::3]
    if may_hold_secret("".join(texts)):
        texts = [redact_frame(text) for text in texts]
    return message_log_codec.encode(frames[0::3], frames[1::3], texts)


def may_hold_secret(text: str) -> bool:
    """Whether ``text`` (a batch's texts joined) has a marker, in any case: False means none of
    its frames can hold a secret.

    Most batches are settled by memchr alone: "\\u" is searched only where a backslash is (as a
    two-character needle its own search took as long as the long markers' together), and an
    ASCII text (``isascii`` is a flag of the string, not a scan) without a w or a k in either
    case has none of the other markers. Only a text with one is lowered and searched; one that
    is not ASCII is too (a character outside it may lower to one of those letters: KELVIN SIGN
    to "k").
    """
    if "\\" in text and MARKERS[-1] in text:
        return True
    if text.isascii() and not any(letter in text for letter in _MARKER_LETTERS):
        return False
    lowered = text.lower()
    return any(m in lowered for m in MARKERS[:-1])


class MessageLog:
    """The frames waiting to be recorded, per station (the stations' side: :meth:`record`)."""

    __slots__ = ("limit", "waiting", "count", "dropped")

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        # Per station, its frames flat: [time ns, direction, text, time ns, ...].
        self.waiting: dict[str, list[Any]] = {}
        self.count = 0
        self.dropped = 0

    def record(self, station_id: str, direction: str, frame: str | bytes) -> None:
        """``direction``: :data:`IN` (from the station) or :data:`OUT` (to it)."""
        if self.count >= self.limit:
            self.dropped += 1
            return
        if frame.__class__ is bytes:
            frame = frame.decode(errors="replace")
        self.count += 1
        frames = self.waiting.get(station_id)
        if frames is None:
            self.waiting[station_id] = frames = []
        frames += (time.time_ns(), direction, frame)  # flat: see encode

    def take(self) -> dict[str, list[Any]]:
        """Everything waiting, per station; the log starts afresh."""
        taken = self.waiting
        self.waiting = {}
        self.count = 0
        return taken


def _timestamp(ns: int) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(ns)
    return ts


class MessageLogFlusher:
    def __init__(
        self,
        message_log: MessageLog,
        device: Any,  # a DeviceServiceStub (or a fake with RecordMessages)
        interval: float = 0.5,
        timeout: float = 5.0,
        batch_size: int = 1000,
        request_bytes: int = 1 << 20,
        budget: float = 0.1,
    ) -> None:
        self.log = message_log
        self.device = device
        self.interval = interval
        self.timeout = timeout
        self.batch_size = batch_size
        self.request_bytes = request_bytes
        # The share of the interval a flush may spend encoding (CPU time of this thread).
        self.budget = budget
        self._dropped = metrics.MESSAGE_LOG_DROPPED

    def _drop(self, frames: int, why: str) -> None:
        self._dropped.inc(frames)
        log.warning("message log: %d frames dropped (%s)", frames, why)

    async def _batches(self, taken: dict[str, list[Any]]) -> list[device_pb.StationMessageBatch]:
        """Every station's frames as batches, encoded in slices between which the stations are
        served, until the flush's CPU budget is spent: the rest are dropped, and counted."""
        batches: list[device_pb.StationMessageBatch] = []
        budget = self.budget * self.interval
        spent = 0.0
        size = self.batch_size
        stations = list(taken.items())
        slice_start = time.perf_counter()
        cpu_start = time.thread_time()
        for n, (station_id, frames) in enumerate(stations):
            for i in range(0, len(frames), 3 * size):
                part = frames[i : i + 3 * size] if len(frames) > 3 * size else frames
                batches.append(
                    device_pb.StationMessageBatch(
                        station_id=station_id,
                        first_time=_timestamp(part[0]),
                        last_time=_timestamp(part[-3]),
                        frames=len(part) // 3,
                        body=encode(part),
                    )
                )
                if time.perf_counter() - slice_start > _SLICE:
                    spent += time.thread_time() - cpu_start
                    if spent >= budget:
                        rest = (len(frames) - i - len(part)) // 3
                        rest += sum(len(f) // 3 for _, f in stations[n + 1 :])
                        if rest:
                            self._drop(rest, f"over the flush's CPU budget ({spent:.3f} s)")
                        return batches
                    await asyncio.sleep(0)
                    slice_start = time.perf_counter()
                    cpu_start = time.thread_time()
        return batches

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not end the log for good
                log.exception("message log: flush failed")

    async def flush(self) -> None:
        if self.log.dropped:
            self._drop(self.log.dropped, f"more than {self.log.limit} waiting")
            self.log.dropped = 0
        taken = self.log.take()
        if not taken:
            return
        requests: list[list[device_pb.StationMessageBatch]] = [[]]
        size = 0
        for batch in await self._batches(taken):
            if size >= self.request_bytes:
                requests.append([])
                size = 0
            requests[-1].append(batch)
            size += len(batch.body)
        for n, batches in enumerate(requests):
            try:
                await self.device.RecordMessages(
                    device_pb.RecordMessagesRequest(batches=batches), timeout=self.timeout
                )
            except grpc.aio.AioRpcError as exc:
                lost = sum(b.frames for r in requests[n:] for b in r)
                self._drop(lost, f"not recorded: {exc.code().name} {exc.details()}")
                return
