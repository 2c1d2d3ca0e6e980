"""The station message log's batch format: what a gateway sends (``StationMessageBatch.body``)
and device_svc stores, one station's frames of one flush; encoded by the gateway
(:mod:`gateway.message_log`), decoded by device_svc when a log is read (``device_svc/message_log``).

Format 2 (the gateways' since 2026-12-05) is built without a Python step per frame, so that a
busy gateway's flush costs little. In order:

* the byte 0x02;
* ``n``, the number of frames: uint32, little-endian;
* their times: ``n`` int64 little-endian, nanoseconds since the epoch (not compressed: their low
  bytes look random, and compressing them cost as much as compressing all the texts);
* zlib of their lengths (``n`` uint32 little-endian, in characters of the text), their
  directions (``n`` bytes, ``i`` from the station or ``o`` to it) and their texts, as they went
  over the wire, one after the other, UTF-8 (what UTF-8 cannot hold, a lone surrogate, becomes
  one ``?``: lengths in characters stay true).

Format 1 (the gateways' before it; rows of revision 0014 hold it): zlib of the JSON array of
``[time ns, "in" | "out", text]``. Its first byte is zlib's header (0x78), never 0x02, so both
are read.
"""

from __future__ import annotations

import sys
import zlib
from array import array
from collections.abc import Sequence
from typing import Final

import orjson

__all__ = ["FORMAT", "IN", "OUT", "decode", "encode"]

#: The first byte of a format 2 body.
FORMAT: Final = b"\x02"
#: The directions as a gateway records them (one character each: joined with no step per frame).
IN: Final = "i"
OUT: Final = "o"
_DIRECTIONS: Final = {ord(IN): "in", ord(OUT): "out"}
_SWAP: Final = sys.byteorder != "little"
# zlib's smallest window for a zlib stream (2**9 bytes).
_MIN_WBITS: Final = 9
# int64 and uint32 columns ("q" is 8 bytes everywhere; "I", unsigned int, 4 on every platform
# CPython runs on that we know of: checked here rather than assumed).
if array("q").itemsize != 8 or array("I").itemsize != 4:
    raise ImportError("the message log's columns need 8-byte 'q' and 4-byte 'I' arrays")


def _little(values: array[int]) -> bytes:
    if _SWAP:
        values.byteswap()
    return values.tobytes()


def encode(times: Sequence[int], directions: Sequence[str], texts: Sequence[str]) -> bytes:
    """A format 2 body of the frames given as three columns of one length (directions as
    :data:`IN` or :data:`OUT`)."""
    joined = "".join(texts).encode("utf-8", "replace")
    raw = b"".join(
        (
            _little(array("I", map(len, texts))),
            "".join(directions).encode("ascii"),
            joined,
        )
    )
    # Level 1, and a small hash table (memLevel 4, not zlib's 8): setting up the default one
    # costs more than compressing a busy station's half second; the output is the same zlib.
    # The window no larger than the batch (zlib's 32 KiB is 128 KiB of state to set up for a
    # few KiB of frames: 50 -> 34 us for a batch of 40 Heartbeats): the same output, and a
    # stream any zlib.decompress reads (its header says the window it needs).
    wbits = min(max((len(raw) - 1).bit_length(), _MIN_WBITS), zlib.MAX_WBITS)
    compressor = zlib.compressobj(1, zlib.DEFLATED, wbits, 4)
    compressed = compressor.compress(raw) + compressor.flush()
    return b"".join(
        (FORMAT, len(texts).to_bytes(4, "little"), _little(array("q", times)), compressed)
    )


def _column(code: str, data: bytes) -> list[int]:
    values = array(code)
    values.frombytes(data)
    if _SWAP:
        values.byteswap()
    return values.tolist()


def decode(body: bytes) -> list[tuple[int, str, str]]:
    """A body's frames, oldest first: (time ns, ``"in"`` or ``"out"``, text). Either format.

    Raises ValueError on a body that is neither.
    """
    try:
        if body[:1] != FORMAT:
            return [(at, d, text) for at, d, text in orjson.loads(zlib.decompress(body))]
        n = int.from_bytes(body[1:5], "little")
        times = _column("q", body[5 : 5 + 8 * n])
        raw = zlib.decompress(body[5 + 8 * n :])
    except zlib.error as exc:
        raise ValueError(f"a message log batch that is no zlib: {exc}") from exc
    lengths = _column("I", raw[: 4 * n])
    directions = raw[4 * n : 5 * n]
    text = raw[5 * n :].decode()
    if len(times) != n or len(lengths) != n or len(directions) != n or sum(lengths) != len(text):
        raise ValueError("a message log batch whose columns do not match")
    frames = []
    start = 0
    for i in range(n):
        end = start + lengths[i]
        frames.append((times[i], _DIRECTIONS.get(directions[i], "in"), text[start:end]))
        start = end
    return frames
