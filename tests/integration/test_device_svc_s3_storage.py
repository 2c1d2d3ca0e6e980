"""device_svc's S3 storage (device_svc/files/storage.py, S3Storage) against a real S3-compatible
server: s3rver (tests/tools/package.json, installed by `make test`), run on a free loopback port
with its own data directory. A file is a multipart upload of several parts, read back in
chunks; an aborted one leaves nothing; a file over the limit is never completed; keys stay
under the prefix. And the whole device_svc on it: an image uploaded through FileService is in the
bucket, not on disk."""

from __future__ import annotations

import asyncio
import hashlib
import os
import pathlib
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from google.api import httpbody_pb2

from csms.device.v1 import device_service_pb2_grpc as pb_grpc
from csms.device.v1 import files_pb2 as files
from csms.device.v1 import files_pb2_grpc as files_grpc
from deploy.mesh import free_port
from device_svc import server as device_server
from device_svc.files.storage import S3Storage, TooLarge
from device_svc.settings import Settings as DeviceSettings

ROOT = pathlib.Path(__file__).resolve().parents[2]
S3RVER = ROOT / "tests" / "tools" / "node_modules" / ".bin" / "s3rver"
BUCKET = "csms-files"


@pytest.fixture(scope="module")
def s3rver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running s3rver with the bucket; its endpoint URL. Missing, the test fails (`make
    test` installs it): CI must not pass without it."""
    assert S3RVER.exists(), f"{S3RVER} is missing: `make test` installs it (npm ci)"
    port = free_port()
    data = tmp_path_factory.mktemp("s3rver")
    proc = subprocess.Popen(
        [
            str(S3RVER),
            "-d",
            str(data),
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
            "-s",
            "--configure-bucket",
            BUCKET,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        import socket
        import time

        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "s3rver did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # s3rver's own (it checks signatures against them).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "S3RVER")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "S3RVER")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def _storage(endpoint: str, prefix: str = "csms") -> S3Storage:
    return S3Storage(BUCKET, prefix=prefix, endpoint_url=endpoint, part_bytes=5 * 1024 * 1024)


def _keys(storage: S3Storage) -> list[str]:
    listed = storage.client.list_objects_v2(Bucket=BUCKET)
    return sorted(o["Key"] for o in listed.get("Contents", []))


async def test_a_file_in_several_parts_comes_back_whole(s3rver: str) -> None:
    storage = _storage(s3rver)
    content = os.urandom(12 * 1024 * 1024 + 123)  # three parts of 5 MiB at most
    writer = storage.writer("firmware/img-1", max_bytes=20 * 1024 * 1024)
    for i in range(0, len(content), 1024 * 1024):
        await writer.write(content[i : i + 1024 * 1024])
    stored = await writer.commit()
    assert (stored.size, stored.sha256) == (len(content), hashlib.sha256(content).hexdigest())
    assert "csms/firmware/img-1" in await asyncio.to_thread(_keys, storage)
    back = b"".join([chunk async for chunk in storage.read("firmware/img-1")])
    assert back == content
    await storage.delete("firmware/img-1")
    assert "csms/firmware/img-1" not in await asyncio.to_thread(_keys, storage)


async def test_a_small_file_is_one_put(s3rver: str) -> None:
    storage = _storage(s3rver, prefix="")
    writer = storage.writer("logs/CS1/1", max_bytes=100)
    await writer.write(b"a log")
    await writer.commit()
    assert b"".join([c async for c in storage.read("logs/CS1/1")]) == b"a log"


async def test_an_aborted_or_too_large_file_leaves_nothing(s3rver: str) -> None:
    storage = _storage(s3rver, prefix="aborted")
    writer = storage.writer("firmware/big", max_bytes=7 * 1024 * 1024)
    with pytest.raises(TooLarge):
        for _ in range(8):
            await writer.write(b"x" * 1024 * 1024)  # a part went up before the limit
    await writer.abort()  # (s3rver refuses AbortMultipartUpload: logged, nothing completed)
    assert [k for k in await asyncio.to_thread(_keys, storage) if k.startswith("aborted/")] == []


def test_a_key_cannot_leave_the_prefix(s3rver: str) -> None:
    with pytest.raises(ValueError):
        _storage(s3rver).object_key("../other")


def _chunks(image_id: str, content: bytes) -> Iterator[Any]:
    for i in range(0, len(content), 65536):
        yield files.UploadFirmwareImageChunk(
            id=image_id, content=httpbody_pb2.HttpBody(data=content[i : i + 65536])
        )


@pytest.fixture
async def device_on_s3(
    s3rver: str, migrated_db: Any, tmp_path: pathlib.Path
) -> AsyncIterator[grpc.aio.Channel]:
    url = await asyncio.to_thread(migrated_db, "device_svc")
    server, engine = await device_server.start(
        DeviceSettings(
            grpc_listen="127.0.0.1:0",
            database_url=url,
            files_dir=str(tmp_path / "files"),
            files_s3_bucket=BUCKET,
            files_s3_prefix="mesh",
            files_s3_endpoint_url=s3rver,
        )
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    yield channel
    await channel.close()
    await server.stop(1)
    await engine.dispose()


async def test_device_svc_keeps_an_uploaded_image_in_the_bucket(
    device_on_s3: grpc.aio.Channel, s3rver: str, tmp_path: pathlib.Path
) -> None:
    device = pb_grpc.DeviceServiceStub(device_on_s3)
    image = await device.CreateFirmwareImage(
        files.CreateFirmwareImageRequest(image=files.FirmwareImage(name="fw", version="1"))
    )
    content = os.urandom(600_000)
    answer = await files_grpc.FileServiceStub(device_on_s3).UploadFirmwareImage(
        _chunks(image.id, content)
    )
    assert answer["sha256"] == hashlib.sha256(content).hexdigest()
    assert f"mesh/firmware/{image.id}" in await asyncio.to_thread(_keys, _storage(s3rver))
    assert not (tmp_path / "files").exists()  # noqa: ASYNC240 - nothing on disk
