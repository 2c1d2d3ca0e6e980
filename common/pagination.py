"""Page tokens for the List methods: an opaque, url-safe encoding of the last key of a page."""

from __future__ import annotations

import base64
import binascii
import datetime

from common.errors import InvalidArgument

__all__ = [
    "MAX_TOKEN_LENGTH",
    "page_size",
    "encode_token",
    "decode_token",
    "encode_time_key",
    "decode_time_key",
]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def page_size(requested: int) -> int:
    """The page size to use: the default for 0, capped at the maximum; negative is an error."""
    if requested < 0:
        raise InvalidArgument("page_size must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_token(*key: str) -> str:
    raw = "\x1f".join(key).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# The longest key a token holds (a report's variable key: six parts, names of 50 characters)
# is well below this; a longer token was not issued here.
MAX_TOKEN_LENGTH = 1024


def decode_token(token: str) -> tuple[str, ...]:
    """The key encoded in ``token``; an unreadable token, one longer than any issued, or one
    holding a NUL (no key has one, and PostgreSQL cannot compare it) is the caller's error."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidArgument("page_token is not one this service issued")
    try:
        raw = base64.b64decode(
            token + "=" * (-len(token) % 4), altchars=b"-_", validate=True
        ).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgument("page_token is not one this service issued") from None
    if "\x00" in raw:
        raise InvalidArgument("page_token is not one this service issued")
    return tuple(raw.split("\x1f"))


def encode_time_key(at: datetime.datetime, row_id: int) -> str:
    """The token of a page ordered newest first: the last row's time and id."""
    return encode_token(at.isoformat(), str(row_id))


def decode_time_key(token: str) -> tuple[datetime.datetime, int]:
    """The (aware time, row id) an :func:`encode_time_key` token holds; INVALID_ARGUMENT for a
    token this service did not issue."""
    try:
        at, row_id = decode_token(token)
        key = datetime.datetime.fromisoformat(at), int(row_id)
    except ValueError:
        raise InvalidArgument("page_token is not one this service issued") from None
    if key[0].tzinfo is None:
        raise InvalidArgument("page_token is not one this service issued")
    return key
