"""user_svc use cases: the id tokens an operator manages, the Authorize decision, local lists,
the management API's keys.

:func:`decide` is the whole authorization policy as a pure function of the stored token, the type
the station presented and the time; :class:`IdTokens` adds the transactions around it. Every
method is one transaction, committed before it returns. :class:`LocalLists` keeps each station's
local authorization list in step with the id tokens (the rules are in
:mod:`user_svc.local_list`). Enums are OCPP spellings here
("ISO14443", "Accepted"), as they are in the database. :class:`ApiKeys` issues, revokes and
checks the management API's keys (the rules are in :mod:`user_svc.access`).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from common import pagination
from common.columns import check_strings
from common.db import GroupCommit, utcnow
from common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from user_svc import access, local_list
from user_svc.models import (
    MAX_API_KEY_NAME_LENGTH,
    MAX_ID_TOKEN_LENGTH,
    MAX_STATION_ID_LENGTH,
    ApiKey,
    IdToken,
    LocalList,
)
from user_svc.repository import (
    ApiKeyRepository,
    IdTokenRepository,
    LocalListRepository,
    read_id_tokens,
)

__all__ = [
    "ACCEPTED",
    "ANY_TYPE",
    "EXPIRED",
    "UNKNOWN",
    "NO_AUTHORIZATION",
    "WRITABLE_FIELDS",
    "ApiKeys",
    "Authorization",
    "IdTokens",
    "LocalLists",
    "Stations",
    "SyncResult",
    "decide",
    "with_contract",
    "token_key",
    "validate_id_token",
]

log = logging.getLogger(__name__)

ACCEPTED = "Accepted"
EXPIRED = "Expired"
UNKNOWN = "Unknown"
# The IdTokenEnum of stations without any reader (a start button, a key switch): the idToken is
# empty by definition, the station decided that no authorization is needed, so we agree.
NO_AUTHORIZATION = "NoAuthorization"
# What an OCPP 1.6 idTag presents as its type (it has none): matches a stored token of any type.
# Not "": a 2.0.1 token presented with an empty type stays Unknown against a typed one.
ANY_TYPE = "*"

# What an operator may set; the id_token itself is the resource's name and never changes.
WRITABLE_FIELDS = ("type", "status", "expiry_date", "group_id_token")


@dataclass(frozen=True, slots=True)
class Authorization:
    """The idTokenInfo of an answer: status, and for Accepted tokens what a station may cache."""

    status: str
    cache_expiry: datetime.datetime | None = None
    group_id_token: str = ""


#: AuthorizeCertificateStatusEnum of a contract certificate that checked out (C07).
CERTIFICATE_ACCEPTED = "Accepted"
#: idTokenInfo.status of a contract the CSMS refuses (its certificate not Accepted).
INVALID = "Invalid"


def with_contract(
    decision: Authorization, certificate_status: str, presented: str = "", certified: str = ""
) -> Authorization:
    """C07 / OCTT TC_C_51, TC_C_52: a contract whose certificate is not Accepted (revoked, a
    broken chain, expired, no status) authorizes nothing, whatever the eMAID's own status; nor
    does a certificate of another eMAID than the one presented (``certified``: its CN, ""
    when the station sent only hash data); a good one leaves the eMAID's decision as it is (it
    is checked like any token)."""
    if certificate_status != CERTIFICATE_ACCEPTED:
        return Authorization(INVALID)
    if certified and _emaid_key(certified) != _emaid_key(presented):
        return Authorization(INVALID)
    return decision


def _emaid_key(emaid: str) -> str:
    # ISO 15118 / DIN 91286 eMAIDs are written with or without their hyphens, in any case.
    return emaid.replace("-", "").lower()


def token_key(id_token: str) -> str:
    """The key a token is stored and found under: OCPP idTokens are case-insensitive."""
    return id_token.lower()


def validate_id_token(value: str, field: str = "id_token") -> None:
    # Both spellings must fit the column (lower() lengthens a few non-ASCII letters).
    if not value or max(len(value), len(token_key(value))) > MAX_ID_TOKEN_LENGTH:
        raise InvalidArgument(f"{field} must be 1 to {MAX_ID_TOKEN_LENGTH} characters")
    if "\x00" in value:  # no stored token has one (PostgreSQL's text cannot hold it)
        raise InvalidArgument(f"{field} contains a NUL character (U+0000), which is refused")


def decide(
    token: IdToken | Row[Any] | None, presented_type: str, now: datetime.datetime
) -> Authorization:
    """The answer to a station presenting ``token`` (None if not stored) of ``presented_type``.

    OCPP 2.0.1 identifies a token by value and type, so a stored type that differs is Unknown; a
    token stored without a type matches any, and so does a token presented as :data:`ANY_TYPE`
    (an OCPP 1.6 idTag, which has no type). Only an Accepted token can expire: Blocked stays
    Blocked.
    """
    if presented_type == NO_AUTHORIZATION:
        return Authorization(ACCEPTED)
    if token is None or (token.type and presented_type not in (token.type, ANY_TYPE)):
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
        # Authorize reads its token with the others waiting at that moment: one statement for
        # the group (a GroupCommit with nothing to write) instead of a session per call.
        self._reads: GroupCommit[str, Row[Any] | None] = GroupCommit(
            sessions.kw["bind"],
            self._read_one,
            apply_many=self._read_many,
            name="id-token-reads",
        )

    @staticmethod
    async def _read_one(conn: AsyncConnection, key: str) -> Row[Any] | None:
        return (await read_id_tokens(conn, [key])).get(key)

    @staticmethod
    async def _read_many(conn: AsyncConnection, keys: list[str]) -> list[Row[Any] | None]:
        found = await read_id_tokens(conn, keys)
        return [found.get(key) for key in keys]

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

    async def list(
        self, size: int, page_token: str, status: str | None = None, type_: str | None = None
    ) -> tuple[Sequence[IdToken], str]:
        """A page in token order; only of ``status`` / ``type_`` (OCPP values) when given."""
        limit = pagination.page_size(size)
        (after,) = pagination.decode_token(page_token) if page_token else ("",)
        async with self.sessions() as session:
            rows = await IdTokenRepository(session).page(after, limit + 1, status, type_)
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
            token = await self._reads.submit(token_key(id_token))
        return decide(token, presented_type, self.clock())


def _writable(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(WRITABLE_FIELDS)
    if unknown:
        raise InvalidArgument(f"not writable: {', '.join(sorted(unknown))}")
    group = fields.get("group_id_token")
    if group:
        validate_id_token(group, "group_id_token")
    # Before the database does, and alike on both backends (the columns' lengths).
    check_strings(IdToken.__table__, fields)
    return dict(fields)


class Stations(Protocol):
    """What :class:`LocalLists` needs of a station (device_svc forwards it; tests fake it).

    Either call raises when the station cannot answer (not connected, no answer in time, a
    CALLERROR); :class:`LocalLists` lets that through and stores nothing for it.
    """

    async def local_list_version(self, station_id: str) -> int: ...

    async def send_local_list(
        self, station_id: str, payload: Mapping[str, Any]
    ) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What a sync did: the version the station has now and what was sent to get there."""

    version: int
    # "Full" or "Differential": the first message's type; "" when nothing needed sending.
    update_type: str = ""
    # Entries sent, over all messages of the update that succeeded.
    entries: int = 0
    # The station's SendLocalListResponse (OCPP JSON) to the last message.
    station_response: Mapping[str, Any] | None = None


class _VersionMismatch(Exception):
    def __init__(self, version: int) -> None:
        self.version = version


class LocalLists:
    """Each station's local authorization list: built from the id tokens, sent, remembered.

    Syncs of one station are serialized in this process (its calls reach the station one at a
    time anyway, and the version numbers of two interleaved syncs would collide).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        stations: Stations,
        per_message: int,
    ) -> None:
        if per_message < 1:
            raise ValueError("per_message must be at least 1")
        self.sessions = sessions
        self.stations = stations
        self.per_message = per_message
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def get(self, station_id: str) -> LocalList:
        """The list as the station last accepted it."""
        _validate_station_id(station_id)
        async with self.sessions() as session:
            row = await LocalListRepository(session).get(station_id)
        if row is None:
            raise NotFound(f"station {station_id} has accepted no local list yet")
        return row

    async def sync(self, station_id: str, full: bool = False) -> SyncResult:
        """Bring the station's list up to date with the id tokens.

        Differential when the station holds the version we last stored, else (or when ``full``)
        Full, with the next version number; nothing is sent when nothing changed. Only what the
        station accepted is stored. VersionMismatch is answered with one Full update; Failed
        (or VersionMismatch again) is FAILED_PRECONDITION.
        """
        _validate_station_id(station_id)
        lock = self._locks.get(station_id)
        if lock is None:
            lock = self._locks[station_id] = asyncio.Lock()
        async with lock:
            station_version = await self.stations.local_list_version(station_id)
            async with self.sessions() as session:
                snapshot = await LocalListRepository(session).get(station_id)
                wanted = local_list.entries_of(await IdTokenRepository(session).all())
            stored_version = snapshot.version if snapshot is not None else 0
            if snapshot is not None and not full and station_version == snapshot.version:
                messages = local_list.plan(
                    snapshot.entries, wanted, stored_version + 1, False, self.per_message
                )
                if not messages:
                    return SyncResult(stored_version)
                try:
                    return await self._send(station_id, messages, snapshot.entries, retry=True)
                except _VersionMismatch as exc:
                    # The station's list is not the one we think: replace it whole.
                    log.warning(
                        "station %s: local list version mismatch, sending it full", station_id
                    )
                    stored_version = max(stored_version, exc.version)
            # Above both our version and the station's, so the station sees it grow.
            version = max(stored_version, station_version, 0) + 1
            messages = local_list.plan(None, wanted, version, True, self.per_message)
            return await self._send(station_id, messages, [], retry=False)

    async def _send(
        self,
        station_id: str,
        messages: Sequence[local_list.Message],
        entries: Sequence[local_list.Entry],
        retry: bool,
    ) -> SyncResult:
        """Send ``messages`` in order, storing the list after each one the station accepted."""
        current = list(entries)
        response: Mapping[str, Any] = {}
        for message in messages:
            response = await self.stations.send_local_list(station_id, message.payload())
            status = response.get("status")
            if status == ACCEPTED:
                current = local_list.apply(current, message)
                async with self.sessions.begin() as session:
                    await LocalListRepository(session).save(
                        station_id, message.version, [dict(e) for e in current]
                    )
                continue
            if (
                status == "VersionMismatch"
                and retry
                and message.update_type == local_list.DIFFERENTIAL
            ):
                raise _VersionMismatch(message.version)
            info = response.get("statusInfo") or {}
            detail = " ".join(v for v in (info.get("reasonCode"), info.get("additionalInfo")) if v)
            raise FailedPrecondition(
                f"station {station_id} answered the {message.update_type} SendLocalList "
                f"(version {message.version}) with {status}" + (f": {detail}" if detail else "")
            )
        return SyncResult(
            messages[-1].version,
            messages[0].update_type,
            sum(len(m.entries) for m in messages),
            response,
        )


def _validate_station_id(station_id: str) -> None:
    if not station_id or len(station_id) > MAX_STATION_ID_LENGTH:
        raise InvalidArgument(f"station_id must be 1 to {MAX_STATION_ID_LENGTH} characters")


@dataclass(frozen=True, slots=True)
class _Known:
    """What :meth:`ApiKeys.authenticate` remembers of a key id until ``until`` (monotonic)."""

    # None: no such key, or revoked.
    role: str | None
    secret_hash: str
    until: float


class ApiKeys:
    """The management API's keys: created, listed, revoked, and checked for every request.

    :meth:`authenticate` is on the path of every API request (Envoy asks before each one), so it
    remembers what it read of a key id (unknown ids too) for ``cache_ttl`` seconds: a request
    then costs one SHA-256 and a dict lookup. A key revoked through this process stops working
    at once; one revoked through another replica, or in the database, within ``cache_ttl``.
    """

    # Beyond this many remembered ids (e.g. someone presenting random keys) start afresh.
    MAX_CACHED = 10_000
    # Ids are random: a collision is rare, two in a row a broken generator.
    _CREATE_ATTEMPTS = 3

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cache_ttl: float = 1.0,
        clock: Callable[[], datetime.datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.cache_ttl = cache_ttl
        self.clock = clock
        self.monotonic = monotonic
        self._known: dict[str, _Known] = {}

    async def create(self, name: str, role: str) -> tuple[ApiKey, str]:
        """A new key and its secret, which is not kept: this is the only time it is known."""
        if role not in access.ROLES:
            raise InvalidArgument(f"role is required: one of {', '.join(access.ROLES)}")
        if len(name) > MAX_API_KEY_NAME_LENGTH:
            raise InvalidArgument(f"name must be at most {MAX_API_KEY_NAME_LENGTH} characters")
        for _ in range(self._CREATE_ATTEMPTS):
            key_id, secret = access.new_secret()
            try:
                async with self.sessions.begin() as session:
                    repo = ApiKeyRepository(session)
                    if await repo.get(key_id) is not None:
                        continue
                    key = ApiKey(
                        id=key_id,
                        name=name,
                        role=role,
                        secret_hash=access.hash_secret(secret),
                        created_at=self.clock(),
                    )
                    repo.add(key)
            except IntegrityError:
                continue  # a concurrent create drew the same id
            self._known.pop(key_id, None)  # it may have been remembered as unknown
            log.info("API key %s (%s, %r) created", key_id, role, name)
            return key, secret
        raise RuntimeError("could not draw an unused API key id")

    async def list(self, size: int, page_token: str) -> tuple[Sequence[ApiKey], str]:
        limit = pagination.page_size(size)
        (after,) = pagination.decode_token(page_token) if page_token else ("",)
        async with self.sessions() as session:
            rows = await ApiKeyRepository(session).page(after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, pagination.encode_token(rows[-1].id) if more else ""

    async def revoke(self, key_id: str) -> ApiKey:
        """Revoke the key (again: nothing changes, it keeps its first revoke time)."""
        async with self.sessions.begin() as session:
            key = await ApiKeyRepository(session).get(key_id, for_update=True)
            if key is None:
                raise NotFound(f"API key {key_id} not found")
            if key.revoked_at is None:
                key.revoked_at = self.clock()
                log.info("API key %s (%s, %r) revoked", key.id, key.role, key.name)
        self._known.pop(key_id, None)
        return key

    async def authenticate(self, secret: str) -> str | None:
        """The role of the key whose secret this is; None if none (unknown, revoked, malformed)."""
        key_id = access.key_id_of(secret)
        if key_id is None:
            return None
        now = self.monotonic()
        known = self._known.get(key_id)
        if known is None or known.until <= now:
            async with self.sessions() as session:
                key = await ApiKeyRepository(session).get(key_id)
            if key is None or key.revoked_at is not None:
                known = _Known(None, "", now + self.cache_ttl)
            else:
                known = _Known(key.role, key.secret_hash, now + self.cache_ttl)
            if len(self._known) >= self.MAX_CACHED:
                self._known.clear()
            self._known[key_id] = known
        if known.role is None or not access.secret_matches(secret, known.secret_hash):
            return None
        return known.role
