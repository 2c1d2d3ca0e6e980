"""The one place files stations download (firmware) and upload (logs) are kept.

:class:`DirectoryStorage` (the embedded default: a directory, ``var/files``) writes a file under a
temporary name and renames it into place once whole, so a reader never sees half a file and a
failed upload leaves nothing behind. :class:`S3Storage` keeps them in a bucket of an
S3-compatible object store (boto3): a file goes up as a multipart upload of ``part_bytes`` parts,
completed once whole and aborted otherwise, so there too a key holds a whole file or nothing.
Content goes in and out in chunks (never whole in memory); the disk and network work runs in a
thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import pathlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

__all__ = [
    "CHUNK",
    "DirectoryStorage",
    "S3Storage",
    "Storage",
    "StoredFile",
    "TooLarge",
    "Writer",
]

#: Bytes per chunk read back (the gRPC messages of a download).
CHUNK = 256 * 1024

log = logging.getLogger(__name__)

# A key is ours: a few path segments of safe characters, never "..".
_KEY = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+)*$")


class TooLarge(Exception):
    """The content passed the size limit given to the writer."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    key: str
    size: int
    sha256: str
    # OCPP's PublishFirmware wants the MD5 checksum of the file.
    md5: str = ""


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


class _Counted:
    """What every writer keeps of what it was given: the size (against the limit), the hash."""

    def __init__(self, key: str, max_bytes: int) -> None:
        self.key = key
        self.max_bytes = max_bytes
        self.size = 0
        self.digest = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)

    def _count(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise TooLarge(f"larger than {self.max_bytes} bytes")
        self.digest.update(data)
        self.md5.update(data)

    def _stored(self) -> StoredFile:
        return StoredFile(self.key, self.size, self.digest.hexdigest(), self.md5.hexdigest())


class _FileWriter(_Counted):
    def __init__(self, path: pathlib.Path, key: str, max_bytes: int) -> None:
        super().__init__(key, max_bytes)
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        self._file: BinaryIO | None = None

    def _open(self) -> BinaryIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.tmp, "wb")  # noqa: SIM115 - closed in commit/abort
        return self._file

    async def write(self, data: bytes) -> None:
        if not data:
            return
        self._count(data)
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
        return self._stored()

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


class _S3Writer(_Counted):
    """A multipart upload: parts of ``part_bytes`` (S3's minimum is 5 MiB but for the last)."""

    def __init__(self, storage: S3Storage, key: str, max_bytes: int) -> None:
        super().__init__(key, max_bytes)
        self.storage = storage
        self.object_key = storage.object_key(key)
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def _client(self) -> Any:
        return self.storage.client

    def _put_part(self, data: bytes) -> None:
        client = self._client()
        if self.upload_id is None:
            started = client.create_multipart_upload(
                Bucket=self.storage.bucket, Key=self.object_key
            )
            self.upload_id = started["UploadId"]
        number = len(self.parts) + 1
        answer = client.upload_part(
            Bucket=self.storage.bucket,
            Key=self.object_key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
        )
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    async def write(self, data: bytes) -> None:
        if not data:
            return
        self._count(data)
        self.buffer += data
        if len(self.buffer) >= self.storage.part_bytes:
            part, self.buffer = bytes(self.buffer), bytearray()
            await asyncio.to_thread(self._put_part, part)

    def _finish(self) -> None:
        client = self._client()
        if self.upload_id is None:
            # Smaller than one part: one PUT.
            client.put_object(
                Bucket=self.storage.bucket, Key=self.object_key, Body=bytes(self.buffer)
            )
            return
        if self.buffer:
            self._put_part(bytes(self.buffer))
        client.complete_multipart_upload(
            Bucket=self.storage.bucket,
            Key=self.object_key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )

    async def commit(self) -> StoredFile:
        await asyncio.to_thread(self._finish)
        return self._stored()

    def _discard(self) -> None:
        if self.upload_id is None:
            return
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client().abort_multipart_upload(
                Bucket=self.storage.bucket, Key=self.object_key, UploadId=self.upload_id
            )
        except (BotoCoreError, ClientError) as exc:
            # Nothing is at the key either way (an upload never completed is no object); its
            # parts stay until the bucket's lifecycle rule for incomplete uploads removes them.
            log.warning("could not abort the upload of %s: %s", self.object_key, exc)

    async def abort(self) -> None:
        self.buffer = bytearray()
        await asyncio.to_thread(self._discard)


class S3Storage:
    """Files in ``bucket`` of an S3-compatible store, under ``prefix``. Credentials and region
    come the way boto3 finds them (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ~/.aws, an
    instance role); ``endpoint_url`` points at a store other than AWS (MinIO, Ceph, ...)."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str = "",
        region: str = "",
        part_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        import boto3  # here: only deployments that keep files in S3 load it
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_bytes = max(part_bytes, 5 * 1024 * 1024)
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )

    def object_key(self, key: str) -> str:
        key = _check(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def writer(self, key: str, max_bytes: int) -> Writer:
        return _S3Writer(self, key, max_bytes)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        answer = await asyncio.to_thread(
            self.client.get_object, Bucket=self.bucket, Key=self.object_key(key)
        )
        body = answer["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(
            self.client.delete_object, Bucket=self.bucket, Key=self.object_key(key)
        )
