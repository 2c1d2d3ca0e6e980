"""Page tokens for the List methods: an opaque, url-safe encoding of the last key of a page."""

from __future__ import annotations

import base64
import binascii

from common.errors import InvalidArgument

__all__ = ["page_size", "encode_token", "decode_token"]

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


def decode_token(token: str) -> tuple[str, ...]:
    """The key encoded in ``token``; an unreadable token is the caller's error."""
    try:
        raw = base64.b64decode(
            token + "=" * (-len(token) % 4), altchars=b"-_", validate=True
        ).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgument("page_token is not one this service issued") from None
    return tuple(raw.split("\x1f"))
