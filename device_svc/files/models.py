"""The file tokens' table in device_svc's database (revision 0010 of its migration chain)."""

from __future__ import annotations

import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from device_svc.models import Base

__all__ = ["FileTokenRow"]


class FileTokenRow(Base):
    """A token the CSMS put in a URL it sent a station: what it lets that station download or
    upload, until when. Only the token's SHA-256 is kept (the URL is the credential)."""

    __tablename__ = "file_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # "download" (a firmware image) or "upload" (a log).
    purpose: Mapped[str] = mapped_column(String(8))
    station_id: Mapped[str] = mapped_column(String(48), index=True)
    # download: the image id; upload: the log's request id.
    subject: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime.datetime]
    created_at: Mapped[datetime.datetime]
