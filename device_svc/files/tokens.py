"""The tokens of the file URLs the CSMS gives stations (``<base>/files/<token>``).

A token is 32 random bytes (url-safe base64); only its SHA-256 is stored, with what it lets one
station do (download an image, upload a log) and until when, and only for that purpose. A
download token is good until it expires (a station may retry its download); an upload token for
one upload that arrives whole (a failed one may be retried, a finished one is not replaced).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import secrets
from collections.abc import Callable

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import utcnow
from common.errors import NotFound, PermissionDenied
from device_svc.files.models import FileTokenRow

__all__ = ["DOWNLOAD", "UPLOAD", "FileTokens"]

log = logging.getLogger(__name__)

DOWNLOAD, UPLOAD = "download", "upload"
_TOKEN_BYTES = 32


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class FileTokens:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        base_url: str,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.base_url = base_url.rstrip("/")
        self.clock = clock

    async def issue(
        self, purpose: str, station_id: str, subject: str, valid_until: datetime.datetime
    ) -> str:
        """A new token; returns the URL that carries it."""
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        now = self.clock()
        async with self.sessions.begin() as session:
            session.add(
                FileTokenRow(
                    token_hash=_hash(token),
                    purpose=purpose,
                    station_id=station_id,
                    subject=subject,
                    expires_at=valid_until,
                    created_at=now,
                )
            )
            # Expired ones go as new ones come: the table holds what is live.
            await session.execute(delete(FileTokenRow).where(FileTokenRow.expires_at < now))
        return f"{self.base_url}/files/{token}"

    async def resolve(self, token: str, purpose: str) -> FileTokenRow:
        """The live token's row; NOT_FOUND for one never issued (or for another purpose),
        PERMISSION_DENIED for an expired one."""
        if not token or len(token) > 100:
            raise NotFound("no such file")
        async with self.sessions() as session:
            row = await session.get(FileTokenRow, _hash(token))
        if row is None or row.purpose != purpose:
            raise NotFound("no such file")
        if row.expires_at < self.clock():
            raise PermissionDenied("this file URL has expired")
        return row

    async def consume(self, token: str) -> None:
        """The upload is done: the token is good for nothing more."""
        async with self.sessions.begin() as session:
            await session.execute(
                delete(FileTokenRow).where(FileTokenRow.token_hash == _hash(token))
            )
