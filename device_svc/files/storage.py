"""The one place files stations download (firmware) and upload (logs) are kept.

:class:`DirectoryStorage` (the embedded default: a directory, ``var/files``) writes a file under a
temporary name and renames it into place once whole, so a reader never sees half a file and a
failed upload leaves nothing behind. Content goes in and out in chunks (never whole in memory);
the disk work runs in a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pathlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

__all__ = ["CHUNK", "DirectoryStorage", "Storage", "StoredFile", "TooLarge", "Writer"]

#: Bytes per chunk read back (the gRPC messages of a download).
CHUNK = 256 * 1024

# A key is ours: a few path segments of safe characters, never "..".
_KEY = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+)*$")


class TooLarge(Exception):
    """The content passed the size limit given to the writer."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    key: str
    size: int
    sha256: str


class Writer(Protocol):
    async def write(self, data: bytes) -> None: ...

    async def commit(self) -> StoredFile: ...

    async def abort(self) -> None: ...


class Storage(Protocol):
    def writer(self, key: str, max_bytes: int) -> Writer: ...

    def read(self, key: str) -> AsyncIterator[bytes]: ...

    async def delete(self, key: str) -> None: ...


def _check(key: str) -> str:
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"not a storage key: {key!r}")
    return key


class _FileWriter:
    def __init__(self, path: pathlib.Path, key: str, max_bytes: int) -> None:
        self.path = path
        self.key = key
        self.max_bytes = max_bytes
        self.tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        self.size = 0
        self.digest = hashlib.sha256()
        self._file: BinaryIO | None = None

    def _open(self) -> BinaryIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.tmp, "wb")  # noqa: SIM115 - closed in commit/abort
        return self._file

    async def write(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        if self.size > self.max_bytes:
            raise TooLarge(f"larger than {self.max_bytes} bytes")
        self.digest.update(data)
        f = self._file if self._file is not None else await asyncio.to_thread(self._open)
        await asyncio.to_thread(f.write, data)

    def _finish(self) -> None:
        f = self._file if self._file is not None else self._open()
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(self.tmp, self.path)

    async def commit(self) -> StoredFile:
        await asyncio.to_thread(self._finish)
        return StoredFile(self.key, self.size, self.digest.hexdigest())

    def _discard(self) -> None:
        if self._file is not None:
            self._file.close()
        self.tmp.unlink(missing_ok=True)

    async def abort(self) -> None:
        await asyncio.to_thread(self._discard)


class DirectoryStorage:
    """Files under ``root``, one per key."""

    def __init__(self, root: str | pathlib.Path) -> None:
        self.root = pathlib.Path(root)

    def _path(self, key: str) -> pathlib.Path:
        return self.root / _check(key)

    def writer(self, key: str, max_bytes: int) -> Writer:
        return _FileWriter(self._path(key), key, max_bytes)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        f = await asyncio.to_thread(open, self._path(key), "rb")
        try:
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                yield chunk
        finally:
            f.close()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)
