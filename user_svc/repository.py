"""Id tokens, local lists and API keys on an AsyncSession: the only place user_svc writes SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Row, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from user_svc.models import ApiKey, IdToken, LocalList

__all__ = ["ApiKeyRepository", "IdTokenRepository", "LocalListRepository", "read_id_tokens"]

_ID_TOKENS = IdToken.__table__
# Built once: SQLAlchemy memoizes a statement's cache key on the object.
_ID_TOKENS_BY_KEY = select(_ID_TOKENS).where(
    _ID_TOKENS.c.key.in_(bindparam("keys", expanding=True))
)


async def read_id_tokens(conn: AsyncConnection, keys: Sequence[str]) -> dict[str, Row[Any]]:
    """The stored tokens of these keys (one statement, on a connection: the grouped reads of
    Authorize); a key not stored is not in the answer."""
    result = await conn.execute(_ID_TOKENS_BY_KEY, {"keys": sorted(set(keys))})
    return {row.key: row for row in result}


class IdTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key: str, *, for_update: bool = False) -> IdToken | None:
        stmt = select(IdToken).where(IdToken.key == key)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).one_or_none()

    def add(self, token: IdToken) -> None:
        self.session.add(token)

    async def page(
        self, after: str, limit: int, status: str | None = None, type_: str | None = None
    ) -> Sequence[IdToken]:
        stmt = select(IdToken).where(IdToken.key > after)
        if status is not None:
            stmt = stmt.where(IdToken.status == status)
        if type_ is not None:
            stmt = stmt.where(IdToken.type == type_)
        return (await self.session.scalars(stmt.order_by(IdToken.key).limit(limit))).all()

    async def all(self) -> Sequence[IdToken]:
        return (await self.session.scalars(select(IdToken).order_by(IdToken.key))).all()

    async def delete(self, key: str) -> bool:
        # DML executed on a session gives a CursorResult; SQLAlchemy types it as any Result.
        result = cast(
            CursorResult[Any],
            await self.session.execute(delete(IdToken).where(IdToken.key == key)),
        )
        return result.rowcount > 0


class LocalListRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, station_id: str) -> LocalList | None:
        return await self.session.get(LocalList, station_id)

    async def save(self, station_id: str, version: int, entries: list[dict[str, Any]]) -> LocalList:
        """Replace the station's snapshot (or make its first one)."""
        row = await self.session.get(LocalList, station_id, with_for_update=True)
        if row is None:
            row = LocalList(station_id=station_id, version=version, entries=entries)
            self.session.add(row)
        else:
            row.version = version
            row.entries = entries
        await self.session.flush()
        return row


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key_id: str, *, for_update: bool = False) -> ApiKey | None:
        stmt = select(ApiKey).where(ApiKey.id == key_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).one_or_none()

    def add(self, key: ApiKey) -> None:
        self.session.add(key)

    async def page(self, after: str, limit: int) -> Sequence[ApiKey]:
        stmt = select(ApiKey).where(ApiKey.id > after).order_by(ApiKey.id).limit(limit)
        return (await self.session.scalars(stmt)).all()
