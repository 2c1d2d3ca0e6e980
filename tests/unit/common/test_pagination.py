"""common.pagination: tokens the services issue come back; anything else is INVALID_ARGUMENT."""

from __future__ import annotations

import base64
import datetime

import pytest

from common import pagination
from common.errors import InvalidArgument


def test_tokens_round_trip() -> None:
    assert pagination.decode_token(pagination.encode_token("CS1", "x")) == ("CS1", "x")
    at = datetime.datetime(2026, 12, 4, 10, 0, tzinfo=datetime.UTC)
    assert pagination.decode_time_key(pagination.encode_time_key(at, 7)) == (at, 7)


@pytest.mark.parametrize(
    "token",
    [
        "A" * 10_000,  # valid base64 of 7,500 NUL bytes
        "QUFB" * 2_500,  # valid base64 of "AAA..."
        base64.urlsafe_b64encode(b"CS\x001").decode(),  # a NUL inside a short one
        "!!!",
    ],
    ids=["10k-nuls", "10k-text", "nul", "not-base64"],
)
def test_tokens_not_issued_here_are_invalid(token: str) -> None:
    """Huge tokens and keys no issued token holds (a NUL: PostgreSQL cannot even compare it)."""
    with pytest.raises(InvalidArgument, match="page_token"):
        pagination.decode_token(token)
