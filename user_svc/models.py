"""user_svc tables: id tokens, the local authorization list each station accepted, API keys."""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.db import UtcDateTime, utcnow

__all__ = [
    "ApiKey",
    "Base",
    "IdToken",
    "LocalList",
    "MAX_API_KEY_NAME_LENGTH",
    "MAX_ID_TOKEN_LENGTH",
    "MAX_STATION_ID_LENGTH",
]

# OCPP 2.0.1 IdTokenType.idToken: maxLength 36.
MAX_ID_TOKEN_LENGTH = 36
# OCPP 2.0.1 station identities: at most 48 characters (as device_svc stores them).
MAX_STATION_ID_LENGTH = 48
# An API key's name is the operator's label for it ("ci", "grafana", ...).
MAX_API_KEY_NAME_LENGTH = 100


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


class LocalList(Base):
    """The snapshot of the local authorization list a station last accepted (SendLocalList)."""

    __tablename__ = "local_lists"

    station_id: Mapped[str] = mapped_column(String(MAX_STATION_ID_LENGTH), primary_key=True)
    # The versionNumber the station holds the list under.
    version: Mapped[int]
    # The OCPP JSON AuthorizationData entries, in user_svc.local_list.entry_key order.
    entries: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ApiKey(Base):
    """A key of the management API (see :mod:`user_svc.access`); the secret itself is not kept."""

    __tablename__ = "api_keys"

    # The public prefix of the secret (csms_<id>_<random>): names the key in logs and URLs.
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_API_KEY_NAME_LENGTH), default="")
    # "reader" or "operator" (user_svc.access.READER / OPERATOR).
    role: Mapped[str] = mapped_column(String(16))
    # Hex SHA-256 of the whole secret: the secret is 256 random bits, so a fast hash is enough
    # (nothing to brute-force), and it keeps the check of every request cheap.
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    # Set once revoked; a revoked key opens nothing.
    revoked_at: Mapped[datetime.datetime | None]
