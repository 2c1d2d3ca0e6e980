"""user_svc tables: id tokens."""

from __future__ import annotations

import datetime

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import UtcDateTime, utcnow

__all__ = ["Base", "IdToken", "MAX_ID_TOKEN_LENGTH"]

# OCPP 2.0.1 IdTokenType.idToken: maxLength 36.
MAX_ID_TOKEN_LENGTH = 36


class Base(DeclarativeBase):
    type_annotation_map = {datetime.datetime: UtcDateTime}


class IdToken(Base):
    __tablename__ = "id_tokens"

    # The lower-cased id_token: OCPP compares idTokens case-insensitively, and a reader may send
    # a UID in either case; this is the primary key and the order of listings.
    key: Mapped[str] = mapped_column(String(MAX_ID_TOKEN_LENGTH), primary_key=True)
    # The value as the operator spelled it, given back unchanged.
    id_token: Mapped[str] = mapped_column(String(MAX_ID_TOKEN_LENGTH))
    # OCPP IdTokenEnumType value, e.g. "ISO14443"; "" when not given: then any type matches.
    type: Mapped[str] = mapped_column(String(16), default="")
    # OCPP AuthorizationStatusEnumType value, e.g. "Accepted".
    status: Mapped[str] = mapped_column(String(20), default="Accepted")
    expiry_date: Mapped[datetime.datetime | None]
    # An idToken value shared by a group (e.g. a fleet); "" when none.
    group_id_token: Mapped[str] = mapped_column(String(MAX_ID_TOKEN_LENGTH), default="")
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
