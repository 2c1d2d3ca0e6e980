"""user_svc use cases: the id tokens an operator manages and the Authorize decision.

:func:`decide` is the whole authorization policy as a pure function of the stored token, the type
the station presented and the time; :class:`IdTokens` adds the transactions around it. Every
method is one transaction, committed before it returns. Enums are OCPP spellings here
("ISO14443", "Accepted"), as they are in the database.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common import pagination
from common.db import utcnow
from common.errors import AlreadyExists, InvalidArgument, NotFound
from user_svc.models import MAX_ID_TOKEN_LENGTH, IdToken
from user_svc.repository import IdTokenRepository

__all__ = [
    "ACCEPTED",
    "EXPIRED",
    "UNKNOWN",
    "NO_AUTHORIZATION",
    "WRITABLE_FIELDS",
    "Authorization",
    "IdTokens",
    "decide",
    "token_key",
    "validate_id_token",
]

ACCEPTED = "Accepted"
EXPIRED = "Expired"
UNKNOWN = "Unknown"
# The IdTokenEnum of stations without any reader (a start button, a key switch): the idToken is
# empty by definition, the station decided that no authorization is needed, so we agree.
NO_AUTHORIZATION = "NoAuthorization"

# What an operator may set; the id_token itself is the resource's name and never changes.
WRITABLE_FIELDS = ("type", "status", "expiry_date", "group_id_token")


@dataclass(frozen=True, slots=True)
class Authorization:
    """The idTokenInfo of an answer: status, and for Accepted tokens what a station may cache."""

    status: str
    cache_expiry: datetime.datetime | None = None
    group_id_token: str = ""


def token_key(id_token: str) -> str:
    """The key a token is stored and found under: OCPP idTokens are case-insensitive."""
    return id_token.lower()


def validate_id_token(value: str, field: str = "id_token") -> None:
    # Both spellings must fit the column (lower() lengthens a few non-ASCII letters).
    if not value or max(len(value), len(token_key(value))) > MAX_ID_TOKEN_LENGTH:
        raise InvalidArgument(f"{field} must be 1 to {MAX_ID_TOKEN_LENGTH} characters")


def decide(token: IdToken | None, presented_type: str, now: datetime.datetime) -> Authorization:
    """The answer to a station presenting ``token`` (None if not stored) of ``presented_type``.

    OCPP identifies a token by value and type, so a stored type that differs is Unknown; a token
    stored without a type matches any. Only an Accepted token can expire: Blocked stays Blocked.
    """
    if presented_type == NO_AUTHORIZATION:
        return Authorization(ACCEPTED)
    if token is None or (token.type and token.type != presented_type):
        return Authorization(UNKNOWN)
    if token.status != ACCEPTED:
        return Authorization(token.status)
    if token.expiry_date is not None and token.expiry_date < now:
        return Authorization(EXPIRED)
    return Authorization(ACCEPTED, token.expiry_date, token.group_id_token)


class IdTokens:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.clock = clock

    async def create(self, id_token: str, fields: Mapping[str, Any]) -> IdToken:
        validate_id_token(id_token)
        values = _writable(fields)
        values["status"] = values.get("status") or ACCEPTED
        key = token_key(id_token)
        try:
            async with self.sessions.begin() as session:
                repo = IdTokenRepository(session)
                if await repo.get(key) is not None:
                    raise AlreadyExists(f"id token {id_token} already exists")
                token = IdToken(key=key, id_token=id_token, **values)
                repo.add(token)
        except IntegrityError:
            # A concurrent create of the same key won the race.
            raise AlreadyExists(f"id token {id_token} already exists") from None
        return token

    async def get(self, id_token: str) -> IdToken:
        async with self.sessions() as session:
            token = await IdTokenRepository(session).get(token_key(id_token))
        if token is None:
            raise NotFound(f"id token {id_token} not found")
        return token

    async def list(self, size: int, page_token: str) -> tuple[Sequence[IdToken], str]:
        limit = pagination.page_size(size)
        (after,) = pagination.decode_token(page_token) if page_token else ("",)
        async with self.sessions() as session:
            rows = await IdTokenRepository(session).page(after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, pagination.encode_token(rows[-1].key) if more else ""

    async def update(self, id_token: str, fields: Mapping[str, Any]) -> IdToken:
        values = _writable(fields)
        if "status" in values and not values["status"]:
            raise InvalidArgument("status must be given")
        async with self.sessions.begin() as session:
            token = await IdTokenRepository(session).get(token_key(id_token), for_update=True)
            if token is None:
                raise NotFound(f"id token {id_token} not found")
            for name, value in values.items():
                setattr(token, name, value)
        return token

    async def delete(self, id_token: str) -> None:
        async with self.sessions.begin() as session:
            if not await IdTokenRepository(session).delete(token_key(id_token)):
                raise NotFound(f"id token {id_token} not found")

    async def authorize(self, id_token: str, presented_type: str) -> Authorization:
        """The decision for a token a station presents; unknown or malformed values are Unknown."""
        token = None
        if presented_type != NO_AUTHORIZATION:
            try:
                validate_id_token(id_token)
            except InvalidArgument:
                return Authorization(UNKNOWN)
            async with self.sessions() as session:
                token = await IdTokenRepository(session).get(token_key(id_token))
        return decide(token, presented_type, self.clock())


def _writable(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(WRITABLE_FIELDS)
    if unknown:
        raise InvalidArgument(f"not writable: {', '.join(sorted(unknown))}")
    group = fields.get("group_id_token")
    if group:
        validate_id_token(group, "group_id_token")
    return dict(fields)
