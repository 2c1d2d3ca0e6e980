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
