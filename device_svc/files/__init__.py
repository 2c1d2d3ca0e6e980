"""Files stations download (firmware) and upload (logs): the one storage module
(:mod:`.storage`), the tokens of the URLs given to stations (:mod:`.tokens`, table
``file_tokens``, device_svc's revision 0010), and FileService, the transfers over HTTP through
Envoy (:mod:`.servicer`). :func:`build` puts blocks L and N's file-backed parts together."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.settings import DEFAULT_MAX_FIRMWARE_BYTES, DEFAULT_MAX_LOG_BYTES
from device_svc.files.storage import DirectoryStorage, S3Storage, Storage
from device_svc.files.tokens import FileTokens

if TYPE_CHECKING:
    from device_svc.firmware.rollouts import Rollouts
    from device_svc.firmware.service import Firmware
    from device_svc.logs.service import Logs
    from device_svc.operations import Operations

__all__ = ["FileBlocks", "FileSettings", "build"]


@dataclass(frozen=True, slots=True)
class FileSettings:
    directory: str = "var/files"
    # What stations are given: <base_url>/files/<token> (the API port, through Envoy).
    base_url: str = "http://127.0.0.1:5000"
    max_firmware_bytes: int = DEFAULT_MAX_FIRMWARE_BYTES
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES
    # How long a URL given to a station works.
    token_seconds: int = 24 * 3600
    rollout_tick: float = 1.0
    # An S3-compatible bucket instead of the directory (empty: the directory).
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""


@dataclass(frozen=True, slots=True)
class FileBlocks:
    storage: Storage
    tokens: FileTokens
    firmware: Firmware
    logs: Logs
    rollouts: Rollouts


def build(
    sessions: async_sessionmaker[AsyncSession],
    settings: FileSettings,
    operations: Operations,
    clock: Callable[[], datetime.datetime],
) -> FileBlocks:
    # Here, not above: those modules import this package's own (tokens, storage).
    from device_svc.firmware.rollouts import Rollouts
    from device_svc.firmware.service import Firmware
    from device_svc.logs.service import Logs

    storage: Storage = (
        S3Storage(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
        if settings.s3_bucket
        else DirectoryStorage(settings.directory)
    )
    tokens = FileTokens(sessions, settings.base_url, clock)
    firmware = Firmware(sessions, storage, settings.max_firmware_bytes, clock)
    logs = Logs(sessions, storage, tokens, settings.max_log_bytes, settings.token_seconds, clock)
    rollouts = Rollouts(
        sessions, firmware, tokens, operations, settings.token_seconds, settings.rollout_tick, clock
    )
    return FileBlocks(storage, tokens, firmware, logs, rollouts)
