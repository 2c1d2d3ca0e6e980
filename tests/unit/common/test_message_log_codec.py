"""The message log's batch format (common/message_log_codec.py): format 2 round trips any text,
format 1 (rows stored before it) is still read, and a body whose columns disagree is refused."""

from __future__ import annotations

import struct
import zlib

import orjson
import pytest

from common.message_log_codec import FORMAT, IN, OUT, decode, encode


def test_frames_come_back_as_they_went() -> None:
    texts = ['[2,"a","Heartbeat",{}]', "", "ümlaut 🔌 \n raw newline", '[3,"a",{}]']
    times = [1, 2**62, 3, 1_764_930_000_123_456_789]
    directions = [IN, OUT, IN, OUT]
    assert decode(encode(times, directions, texts)) == [
        (1, "in", texts[0]),
        (2**62, "out", ""),
        (3, "in", texts[2]),
        (1_764_930_000_123_456_789, "out", texts[3]),
    ]


def test_no_frames() -> None:
    assert decode(encode([], [], [])) == []


def test_a_body_is_format_count_times_then_zlib_of_the_rest() -> None:
    body = encode([7, 8], [IN, OUT], ["x", "yz"])
    assert body[:1] == FORMAT
    assert body[1:21] == struct.pack("<Iqq", 2, 7, 8)
    assert zlib.decompress(body[21:]) == struct.pack("<II", 1, 2) + b"io" + b"xyz"


def test_format_1_bodies_are_still_read() -> None:
    body = zlib.compress(orjson.dumps([[5, "in", "[]"], [6, "out", "[3]"]]), 1)
    assert decode(body) == [(5, "in", "[]"), (6, "out", "[3]")]


def test_a_body_whose_columns_disagree_is_refused() -> None:
    # says 5 characters, holds 1
    with pytest.raises(ValueError):
        decode(FORMAT + struct.pack("<Iq", 1, 7) + zlib.compress(struct.pack("<I", 5) + b"ix"))
    with pytest.raises(ValueError):  # says 2 frames, has the time of 1
        decode(FORMAT + struct.pack("<Iq", 2, 7) + zlib.compress(struct.pack("<I", 1) + b"ix"))
    with pytest.raises(ValueError):
        decode(b"neither format")


def _window(body: bytes) -> int:
    """The window the zlib stream of a format 2 body says it needs (its header's CINFO), bytes."""
    n = int.from_bytes(body[1:5], "little")
    return 1 << ((body[5 + 8 * n] >> 4) + 8)


@pytest.mark.parametrize("size", [5, 511, 512, 513, 4096, 5000, 32_768, 32_769, 200_000])
def test_the_window_holds_the_batch_and_no_more_than_zlibs_largest(size: int) -> None:
    """A batch is compressed with the smallest window that holds all of it (a few KiB of frames
    need not set up 32 KiB's state), never under zlib's 512 bytes nor over its 32 KiB; it reads
    back whatever the size."""
    text = "".join(f'[2,"{i}","Heartbeat",{{}}]' for i in range(size // 20 + 1))[: size - 5]
    body = encode([1], [IN], [text])
    raw = 4 + 1 + len(text.encode())
    assert raw == size
    assert _window(body) == min(max(512, 1 << (size - 1).bit_length()), 32_768)
    assert decode(body) == [(1, "in", text)]
