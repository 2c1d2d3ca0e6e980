"""The storage module and the multipart reading of stations' uploads (device_svc/files)."""

from __future__ import annotations

import hashlib
import pathlib

import pytest

from device_svc.files.servicer import _Parts
from device_svc.files.storage import DirectoryStorage, TooLarge


def _multipart(boundary: str, parts: list[tuple[str, str | None, bytes]]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
        )
    return out + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize("piece", [1, 7, 64, 100_000])
def test_the_file_part_is_kept_whatever_the_chunks(piece: int) -> None:
    """A form field first, then the file (as curl -F sends both): the file's bytes only, and
    its name, however the body is cut."""
    content = bytes(range(256)) * 40 + b"\r\n--not-the-boundary\r\n"
    body = _multipart("XyZ", [("note", None, b"hello"), ("file", "dir/diag.log", content)])
    parts = _Parts(b"XyZ")
    got = b""
    for i in range(0, len(body), piece):
        got += b"".join(parts.feed(body[i : i + piece]))
    got += b"".join(parts.finish())
    assert got == content and parts.filename == "diag.log"


def test_without_a_file_name_the_first_part_is_the_file() -> None:
    parts = _Parts(b"b")
    got = b"".join(parts.feed(_multipart("b", [("upload", None, b"log lines")])))
    got += b"".join(parts.finish())
    assert got == b"log lines" and parts.filename == ""


async def test_a_file_appears_whole_or_not_at_all(tmp_path: pathlib.Path) -> None:
    storage = DirectoryStorage(tmp_path)
    writer = storage.writer("logs/CS1/1", max_bytes=10)
    await writer.write(b"12345")
    assert not (tmp_path / "logs/CS1/1").exists()  # a temporary name until committed
    with pytest.raises(TooLarge):
        await writer.write(b"678901")
    await writer.abort()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # noqa: ASYNC240
    writer = storage.writer("logs/CS1/1", max_bytes=10)
    await writer.write(b"12345")
    stored = await writer.commit()
    assert stored.size == 5 and stored.sha256 == hashlib.sha256(b"12345").hexdigest()
    assert b"".join([c async for c in storage.read("logs/CS1/1")]) == b"12345"
    await storage.delete("logs/CS1/1")
    assert not (tmp_path / "logs/CS1/1").exists()


@pytest.mark.parametrize("key", ["../etc/passwd", "logs/../../x", "/abs", "a//b", ""])
def test_a_key_cannot_leave_the_directory(tmp_path: pathlib.Path, key: str) -> None:
    with pytest.raises(ValueError):
        DirectoryStorage(tmp_path).writer(key, 10)
