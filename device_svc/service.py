"""device_svc use cases: registering stations, their connections, boot policy, what they report
(security events included).

Every method is one transaction, committed before it returns: the gateway answers a station only
after that. The three writes every station makes when it (re)connects — ConnectStation,
BootNotification, DisconnectStation — are group-committed (:class:`common.db.GroupCommit`): the
ones waiting at that moment are written together in a few set-based statements and one commit,
and each caller returns only after that commit. A boot storm (thousands of stations coming back
at once) then costs a commit per group, not two per station.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import datetime
import logging
import re
import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import grpc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from common import pagination
from common.columns import check_strings
from common.db import GroupCommit, utcnow
from common.errors import AlreadyExists, CsmsError, InvalidArgument, NotFound
from device_svc import credentials
from device_svc.credentials import Passwords, Presented, Unauthenticated
from device_svc.domain import (
    CustomerInformationPart,
    ReportedVariable,
    Route,
    SecurityEvent,
    ValueUpdate,
)
from device_svc.models import (
    NO_ID,
    CustomerInformationRow,
    DeviceVariable,
    DeviceVariableAttribute,
    ReportPart,
    SecurityEventRow,
    Station,
    StationLike,
    StationView,
)
from device_svc.repository import (
    LIST_STATUSES,
    OCPP16_STATUS_COLUMNS,
    CustomerInformationRepository,
    DeviceModelRepository,
    GatewayLeaseRepository,
    Move,
    SecurityEventRepository,
    StationRepository,
    StationWriter,
    VariableKey,
    variable_key,
)

__all__ = [
    "ACCEPTED",
    "PENDING",
    "REJECTED",
    "BootOutcome",
    "Devices",
    "MOVES_PER_RENEWAL",
    "FORGET_LEASES_AFTER",
    "Unavailable",
    "WRITABLE_FIELDS",
    "is_reachable",
    "validate_station_id",
]

log = logging.getLogger(__name__)

# OCPP RegistrationStatusEnumType values.
ACCEPTED, PENDING, REJECTED = "Accepted", "Pending", "Rejected"

# The fields an operator may set; the rest is learned from the station.
WRITABLE_FIELDS = (
    "serial_number",
    "model",
    "vendor_name",
    "firmware_version",
    "modem_iccid",
    "modem_imsi",
    "location_lat",
    "location_lng",
    "registration_status",
    "accept_after_base_report",
    "security_profile",
    # Input only: stored as password_hash (device_svc.credentials), never read back.
    "basic_auth_password",
)
_REGISTRATION_STATUSES = (ACCEPTED, PENDING, REJECTED)
# OCPP 2.0.1 (Part 2, security): the identity is at most 48 characters, of RFC 3986's
# "unreserved" set (plus ':' and '*', seen in EVSE-ID style identities), since it is a URL path
# segment.
_STATION_ID = re.compile(r"[A-Za-z0-9._~:*-]{1,48}")
# OCPP requestIds are 32-bit integers; ours for the automatic rule are random positive ones so
# they hardly ever meet an operator's own GetBaseReport/GetReport requestId.
_MAX_REQUEST_ID = 2**31 - 1
# Variables of a NotifyReport part stored per transaction (see Devices.record_report): about 10
# ms of SQLite's one connection each, commit included, so that other writes pass between them.
REPORT_CHUNK = 256
# Moves one RenewGatewayLease answer carries at most (the gateway renews again at once for more).
MOVES_PER_RENEWAL = 1000
# A gateway lease that ran out this long ago is deleted with its moves (at some renewal): its
# gateway is long dead, or was cut off from device_svc so long that its stations left it.
FORGET_LEASES_AFTER = datetime.timedelta(days=1)
# The longest gateway lease id (GatewayLease.id).
_MAX_LEASE_ID = 64
# Why a gateway must close its old connection of a station.
MOVED, DELETED = "connected to another gateway", "charging station deleted"
# A connect verifies the password against the stored hash, then writes only if the hash is
# still that one; a password changed in between makes it verify again, this many times at most.
_VERIFY_ATTEMPTS = 3


def _new_station_row(station_id: str, now: datetime.datetime) -> dict[str, Any]:
    """Every column of a station registered on first contact: the columns' defaults."""
    row: dict[str, Any] = {}
    for column in Station.__table__.columns:
        default = column.default
        row[column.key] = default.arg if default is not None and default.is_scalar else None
    row.update(id=station_id, registration_status=ACCEPTED, created_at=now, updated_at=now)
    return row


class Unavailable(CsmsError):
    """The station cannot be reached now (not connected, or its gateway's lease ran out)."""

    code = grpc.StatusCode.UNAVAILABLE


# The OCPP-J subprotocols a gateway may negotiate (gateway.server.SUBPROTOCOLS).
PROTOCOLS = frozenset({"ocpp2.0.1", "ocpp1.6"})


def _protocol(protocol: str) -> str:
    """The protocol a ConnectStation names; "" (a gateway from before OCPP 1.6) is 2.0.1."""
    if not protocol:
        return "ocpp2.0.1"
    if protocol not in PROTOCOLS:
        raise InvalidArgument(f"protocol must be one of {', '.join(sorted(PROTOCOLS))}")
    return protocol


def _validate_lease_id(lease_id: str, *, allow_empty: bool) -> None:
    if not (lease_id or allow_empty):
        raise InvalidArgument("gateway_lease is required")
    if len(lease_id) > _MAX_LEASE_ID or not (lease_id.isascii() and lease_id.isprintable()):
        raise InvalidArgument(f"gateway_lease: at most {_MAX_LEASE_ID} printable ASCII characters")


def validate_station_id(station_id: str) -> None:
    if not _STATION_ID.fullmatch(station_id):
        raise InvalidArgument("id must be 1 to 48 characters of letters, digits and . _ ~ : * -")


def is_reachable(station: StationLike, now: datetime.datetime) -> bool:
    """Connected, and the lease of the gateway incarnation holding it has not run out (or,
    held by a gateway from before gateway leases, its own lease)."""
    if not station.connected:
        return False
    if station.gateway_lease is not None:
        holder = station.holder_expires_at
        if holder is not None and holder > now:
            return True
    return station.lease_expires_at is not None and station.lease_expires_at > now


@dataclasses.dataclass(frozen=True, slots=True)
class BootOutcome:
    """What BootNotification answers, and whether the automatic accept rule starts now."""

    status: str
    fetch_base_report: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class _Connect:
    """One ConnectStation waiting for its group commit."""

    station_id: str
    auto_register: bool
    gateway: str
    lease_until: datetime.datetime
    presented: Presented
    allow_unsecured: bool
    # The stored hash the presented password was verified against (None: not verified yet).
    verified_hash: str | None = None
    # The OCPP-J subprotocol negotiated: "ocpp2.0.1" or "ocpp1.6".
    protocol: str = "ocpp2.0.1"
    # The gateway incarnation's lease id ("": a gateway from before gateway leases, whose
    # connection has a lease of its own until lease_until).
    gateway_lease: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class _VerifyFirst:
    """A connect's outcome: the password must be verified against this hash first (outside the
    transaction: Argon2 takes milliseconds on purpose); nothing was written."""

    password_hash: str
    # A new password the station took with RebootRequired, accepted too (OCPP A01).
    pending_hash: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _Boot:
    """One BootNotification waiting for its group commit."""

    station_id: str
    reason: str
    reported: Mapping[str, str]


# A group's outcome per connect: the station connected, the password to verify, or the refusal
# (returned, not raised: nothing was written for it, and the rest of the group goes on).
_ConnectOutcome = StationView | _VerifyFirst | CsmsError


def _by_station(item: _Connect | _Boot | tuple[str, int]) -> str:
    """Lock order (stable: one station's items keep their arrival order)."""
    return item[0] if isinstance(item, tuple) else item.station_id


class Devices:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        heartbeat_interval: int,
        clock: Callable[[], datetime.datetime] = utcnow,
        default_lease_seconds: int = 30,
        passwords: Passwords | None = None,
        *,
        max_batch: int = 256,
        max_wait: float = 0.002,
        cpo_name: str = "",
    ) -> None:
        self.sessions = sessions
        self.heartbeat_interval = heartbeat_interval
        # Client certificates' O must be this (credentials.check_organization); "": unchecked.
        self.cpo_name = cpo_name
        self.clock = clock
        self.default_lease_seconds = default_lease_seconds
        self.passwords = passwords or Passwords()
        engine = sessions.kw["bind"]
        batching: dict[str, Any] = {
            "order": _by_station,
            "max_batch": max_batch,
            "max_wait": max_wait,
        }
        self._connects: GroupCommit[_Connect, _ConnectOutcome] = GroupCommit(
            engine,
            self._connect_one,
            apply_many=self._connect_many,
            name="connect-station",
            **batching,
        )
        self._boots: GroupCommit[_Boot, BootOutcome] = GroupCommit(
            engine, self._boot_one, apply_many=self._boot_many, name="boot", **batching
        )
        self._statuses: GroupCommit[dict[str, Any], CsmsError | None] = GroupCommit(
            engine,
            self._status_one,
            apply_many=self._status_many,
            name="status",
            order=lambda item: item["station_id"],
            max_batch=max_batch,
            max_wait=max_wait,
        )
        self._disconnects: GroupCommit[tuple[str, int], None] = GroupCommit(
            engine,
            self._disconnect_one,
            apply_many=self._disconnect_many,
            name="disconnect-station",
            **batching,
        )
        # NotifyReport parts are stored one at a time (record_report): see there.
        self._reports = asyncio.Lock()

    async def drain(self) -> None:
        """Wait for the group commits under way (before the engine is disposed of)."""
        for writes in (self._connects, self._boots, self._statuses, self._disconnects):
            await writes.drain()

    # -- stations ------------------------------------------------------------------------------

    async def create(self, station_id: str, fields: Mapping[str, Any]) -> Station:
        validate_station_id(station_id)
        columns = await self._columns(fields)
        if columns.get("registration_status") is None:
            columns["registration_status"] = ACCEPTED
        if columns.get("password_hash") and not columns.get("security_profile"):
            # A password without a profile: the operator means Basic auth, not an open door.
            columns["security_profile"] = 1
        credentials.require_password(
            columns.get("security_profile") or 0, bool(columns.get("password_hash"))
        )
        async with self.sessions.begin() as session:
            repo = StationRepository(session)
            if await repo.get(station_id) is not None:
                raise AlreadyExists(f"charging station {station_id} already exists")
            station = Station(id=station_id, connectors=[], **columns)
            repo.add(station)
        return station

    async def get(self, station_id: str) -> Station:
        async with self.sessions() as session:
            station = await StationRepository(session).get(station_id)
        if station is None:
            raise NotFound(f"charging station {station_id} not found")
        return station

    async def list(
        self, size: int, token: str, id_contains: str = "", status: str = ""
    ) -> tuple[Sequence[Station], str]:
        """A page by id; ``id_contains`` and ``status`` (:data:`LIST_STATUSES`) narrow it."""
        if status and status not in LIST_STATUSES:
            raise InvalidArgument(f"status: one of {', '.join(LIST_STATUSES)}, not {status!r}")
        limit = pagination.page_size(size)
        (after,) = pagination.decode_token(token) if token else ("",)
        async with self.sessions() as session:
            rows = await StationRepository(session).page(
                after, limit + 1, id_contains=id_contains, status=status, now=self.clock()
            )
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, pagination.encode_token(rows[-1].id) if more else ""

    async def update(self, station_id: str, fields: Mapping[str, Any]) -> Station:
        columns = await self._columns(fields)
        async with self.sessions.begin() as session:
            station = await StationRepository(session).get(station_id, for_update=True)
            if station is None:
                raise NotFound(f"charging station {station_id} not found")
            for name, value in columns.items():
                setattr(station, name, value)
            if "security_profile" in columns:
                # The operator decided the profile: an upgrade under way no longer applies.
                station.pending_security_profile = None
            if "password_hash" in columns:
                # Likewise the password: a rotation under way no longer applies.
                station.pending_password_hash = None
            if {"security_profile", "password_hash"} & columns.keys():
                # Raising here rolls the update back.
                credentials.require_password(
                    station.security_profile, station.password_hash is not None
                )
        return station

    async def delete(self, station_id: str) -> Route | None:
        """Delete the station; where its connection is held (to close it there), if it has one."""
        async with self.sessions.begin() as session:
            repo = StationRepository(session)
            station = await repo.get(station_id, for_update=True)
            if station is None or not await repo.delete(station_id):
                raise NotFound(f"charging station {station_id} not found")
            if station.connected and station.gateway_lease is not None:
                # Its gateway closes the connection at its next renewal if the call our caller
                # makes now does not reach it.
                await GatewayLeaseRepository(await session.connection()).add_moves(
                    [(station.gateway_lease, station_id, station.epoch, DELETED)]
                )
            if station.connected and station.gateway:
                return Route(gateway=station.gateway, epoch=station.epoch)
            return None

    async def _columns(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The columns ``fields`` set: the password becomes its hash (off the event loop)."""
        columns = _writable(fields)
        # Before the database does, and alike on both backends (the columns' lengths).
        check_strings(Station.__table__, columns)
        if columns.get("security_profile") is not None:
            credentials.validate_profile(columns["security_profile"])
        if "basic_auth_password" in columns:
            password = columns.pop("basic_auth_password")
            if password is not None:
                columns["password_hash"] = await self.hash_password(password)
        return columns

    async def hash_password(self, password: str) -> str:
        """A valid password's Argon2id hash; INVALID_ARGUMENT for one OCPP would not take."""
        credentials.validate_password(password)
        return await asyncio.to_thread(self.passwords.hash, password)

    async def set_password_hash(self, station_id: str, password_hash: str) -> None:
        """Replace the station's password (a rotation the station accepted): the old one stops
        working at once."""
        async with self.sessions.begin() as session:
            station = await StationRepository(session).get(station_id, for_update=True)
            if station is None:
                raise NotFound(f"charging station {station_id} not found")
            station.password_hash = password_hash
            station.pending_password_hash = None

    async def set_pending_password_hash(self, station_id: str, password_hash: str) -> None:
        """A new password the station took with RebootRequired: accepted beside the old one until
        the station first connects with it (then it is the only one)."""
        async with self.sessions.begin() as session:
            station = await StationRepository(session).get(station_id, for_update=True)
            if station is None:
                raise NotFound(f"charging station {station_id} not found")
            station.pending_password_hash = password_hash

    async def check_upgrade(self, station_id: str, new_profile: int) -> None:
        """Before a SetNetworkProfile of ``new_profile`` is sent: FAILED_PRECONDITION when the
        station could never connect under it (profile 1 or 2 without a password stored)."""
        station = await self.get(station_id)
        credentials.require_upgrade_password(
            station.security_profile, new_profile, station.password_hash is not None
        )

    async def record_pending_profile(self, station_id: str, new_profile: int) -> int | None:
        """The station accepted a SetNetworkProfile of ``new_profile``: a higher profile than
        its own becomes its pending one (OCPP A05), returned; None when it is no upgrade (its
        profile stays, nothing recorded)."""
        async with self.sessions.begin() as session:
            station = await StationRepository(session).get(station_id, for_update=True)
            if station is None:
                raise NotFound(f"charging station {station_id} not found")
            if new_profile <= station.security_profile:
                return None
            station.pending_security_profile = new_profile
        return new_profile

    # -- connections ---------------------------------------------------------------------------

    async def connect(
        self,
        station_id: str,
        auto_register: bool,
        gateway: str,
        lease_seconds: int = 0,
        presented: Presented | None = None,
        allow_unsecured: bool = False,
        protocol: str = "",
        gateway_lease: str = "",
    ) -> StationView:
        """Mark the station connected to ``gateway`` under a new epoch, held by the gateway
        incarnation ``gateway_lease`` (its lease created or extended by ``lease_seconds``); a
        gateway from before gateway leases gives none, and the connection gets a lease of its
        own. The incarnation that held the station before (another, or this one under an older
        epoch) is told to close its connection at its next renewal (a move).

        Only if what it ``presented`` satisfies its security profile (else Unauthenticated; so is
        a client certificate of another organization than the CPO's, whatever the profile);
        unknown stations only if ``auto_register`` (they have no credentials: profile 0).
        Group-committed; a password is verified between two groups, so that no transaction
        waits for Argon2, and the write happens only if the stored hash is still the verified
        one (a password rotated meanwhile is verified again).
        """
        presented = presented or Presented()
        _validate_lease_id(gateway_lease, allow_empty=True)
        credentials.check_organization(presented, self.cpo_name)
        item = _Connect(
            station_id,
            auto_register,
            gateway,
            self._lease_end(lease_seconds),
            presented,
            allow_unsecured,
            protocol=_protocol(protocol),
            gateway_lease=gateway_lease,
        )
        for _ in range(_VERIFY_ATTEMPTS):
            outcome = await self._connects.submit(item)
            if isinstance(outcome, StationView):
                return outcome
            if isinstance(outcome, CsmsError):
                if (
                    presented.password
                    and item.verified_hash is None
                    and isinstance(outcome, NotFound | Unauthenticated)
                ):
                    # Refused before the password was verified (an unknown station, a profile
                    # it does not fit): verify it against a dummy hash all the same, so that
                    # every refusal of a presented password takes an Argon2 verification and
                    # the time tells no one which station ids exist or what their profile is.
                    await asyncio.to_thread(self.passwords.verify_dummy, presented.password)
                raise outcome
            verified = await self._verified_hash(outcome, presented.password)
            if verified is None:
                raise Unauthenticated("wrong password")
            item = dataclasses.replace(item, verified_hash=verified)
        raise Unavailable(f"the password of station {station_id} keeps changing: retry")

    async def _verified_hash(self, outcome: _VerifyFirst, password: str) -> str | None:
        """The stored hash ``password`` matches: the station's, else its pending one (a rotation
        it took with RebootRequired); None when neither."""
        for password_hash in (outcome.password_hash, outcome.pending_hash):
            if password_hash is not None and await asyncio.to_thread(
                self.passwords.verify, password_hash, password
            ):
                return password_hash
        return None

    async def _connect_one(self, conn: AsyncConnection, item: _Connect) -> _ConnectOutcome:
        """One connect in its SAVEPOINT (a group whose set-based write failed)."""
        return (await self._connect_many(conn, [item]))[0]

    async def _connect_many(
        self, conn: AsyncConnection, items: builtins.list[_Connect]
    ) -> builtins.list[_ConnectOutcome]:
        """A group of connects: read the stations (locked), decide each in order (a station
        listed twice gets two epochs, as one after the other), insert the new ones, update the
        others once, read their connectors. Refused items write nothing but the binding of a
        certificate name their certificate proved theirs (_named_by_serial)."""
        writer = StationWriter(conn)
        rows = await writer.lock({item.station_id for item in items})
        items = await _named_by_serial(writer, items, rows)
        known = set(rows)
        now = self.clock()
        decided: list[dict[str, Any] | _VerifyFirst | CsmsError] = []
        # Stations connecting with pending credentials: a new password (OCPP A01), the credentials
        # of a higher security profile (A05).
        upgraded: set[str] = set()
        # The incarnations connecting stations (id → address, lease end), the moves to record.
        leases: dict[str, tuple[str, datetime.datetime]] = {}
        moves: list[tuple[str, str, int, str]] = []
        for item in items:
            row = rows.get(item.station_id)
            try:
                if row is None:
                    row = self._register(item, now)
                elif self._password_to_verify(item, row):
                    decided.append(_VerifyFirst(row["password_hash"], row["pending_password_hash"]))
                    continue
            except CsmsError as exc:
                decided.append(exc)
                continue
            upgrade = _upgrade(item, row)
            if upgrade:
                upgraded.add(item.station_id)
            if row["connected"] and row["gateway_lease"]:
                # Its old connection, under any incarnation (the same one, too: two handshakes
                # of one station racing there), is closed where it is held.
                moves.append((row["gateway_lease"], item.station_id, row["epoch"], MOVED))
            if item.gateway_lease:
                _, until = leases.get(item.gateway_lease, (item.gateway, item.lease_until))
                leases[item.gateway_lease] = (item.gateway, max(until, item.lease_until))
            row = rows[item.station_id] = {
                **row,
                **upgrade,
                "epoch": (row["epoch"] or 0) + 1,
                "connected": True,
                "gateway": item.gateway,
                "gateway_lease": item.gateway_lease or None,
                # Under a gateway lease the connection has none of its own.
                "lease_expires_at": None if item.gateway_lease else item.lease_until,
                "protocol": item.protocol,
                "updated_at": now,
            }
            decided.append(row)
        connected = {r["id"] for r in decided if isinstance(r, dict)}
        await writer.add([rows[sid] for sid in sorted(connected - known)])
        await writer.set_connections(rows[sid] for sid in sorted(connected & known))
        await writer.set_credentials(rows[sid] for sid in sorted(upgraded))
        # After the stations' rows: every writer locks stations first, then leases in id order.
        lease_writer = GatewayLeaseRepository(conn)
        await lease_writer.extend(leases)
        await lease_writer.add_moves(moves)
        connectors = await writer.connectors(connected & known) if connected & known else {}
        return [
            StationView.of(
                r,
                connectors.get(r["id"], ()),
                leases[r["gateway_lease"]][1] if r["gateway_lease"] else None,
            )
            if isinstance(r, dict)
            else r
            for r in decided
        ]

    def _register(self, item: _Connect, now: datetime.datetime) -> dict[str, Any]:
        """The row of a station unknown so far, or why it may not connect."""
        if not item.auto_register:
            raise NotFound(f"charging station {item.station_id} is not registered")
        validate_station_id(item.station_id)
        # Registered on first contact, without credentials: profile 0.
        credentials.check(item.station_id, 0, False, item.presented, item.allow_unsecured)
        return _new_station_row(item.station_id, now)

    @staticmethod
    def _password_to_verify(item: _Connect, row: Mapping[str, Any]) -> bool:
        """Unauthenticated unless what was presented fits the station's profile (or its pending
        one: :func:`_judged_by`); True when the password is still to be verified against the
        stored hash."""
        password_hash = row["password_hash"]
        return credentials.check(
            item.station_id,
            _judged_by(item, row),
            password_hash is not None,
            item.presented,
            item.allow_unsecured,
        ) and (item.verified_hash is None or item.verified_hash not in _hashes(row))

    async def disconnect(self, station_id: str, epoch: int) -> None:
        await self._disconnects.submit((station_id, epoch))

    async def _disconnect_one(self, conn: AsyncConnection, item: tuple[str, int]) -> None:
        await StationWriter(conn).disconnect([item])

    async def _disconnect_many(
        self, conn: AsyncConnection, items: builtins.list[tuple[str, int]]
    ) -> builtins.list[None]:
        await StationWriter(conn).disconnect(items)
        return [None] * len(items)

    async def renew_leases(
        self, gateway: str, leases: Collection[tuple[str, int]], ttl_seconds: int
    ) -> builtins.list[str]:
        """Extend the leases ``gateway`` still holds; the listed stations it lost, sorted.

        Lost: the station reconnected (another epoch, maybe another gateway), disconnected, or
        is gone. An expired lease is renewed as long as nobody else took the station.
        """
        if ttl_seconds < 0:
            raise InvalidArgument("ttl_seconds must not be negative")
        until = self._lease_end(ttl_seconds)
        async with self.sessions.begin() as session:
            renewed = await StationRepository(session).renew_leases(gateway, leases, until)
        return sorted({station_id for station_id, _ in leases} - renewed)

    async def renew_gateway_lease(
        self,
        gateway: str,
        lease_id: str,
        ttl_seconds: int,
        acknowledged: Collection[int] = (),
    ) -> tuple[builtins.list[Move], bool]:
        """Extend the lease of the gateway incarnation ``lease_id`` (created if new) and forget
        the moves it ``acknowledged``; the moves it has still to act on (oldest first, at most
        :data:`MOVES_PER_RENEWAL`) and whether more wait.

        One row written whatever the number of stations the gateway holds, plus one per move
        acknowledged; leases run out :data:`FORGET_LEASES_AFTER` ago are deleted on the way.
        """
        if ttl_seconds < 0:
            raise InvalidArgument("ttl_seconds must not be negative")
        _validate_lease_id(lease_id, allow_empty=False)
        until = self._lease_end(ttl_seconds)
        async with self.sessions.begin() as session:
            leases = GatewayLeaseRepository(await session.connection())
            await leases.extend({lease_id: (gateway, until)})
            await leases.acknowledge(lease_id, acknowledged)
            moves = await leases.moves(lease_id, MOVES_PER_RENEWAL + 1)
            forgotten = await leases.forget_expired(self.clock() - FORGET_LEASES_AFTER)
        if forgotten:
            log.info("forgot %d gateway leases run out over %s ago", forgotten, FORGET_LEASES_AFTER)
        return moves[:MOVES_PER_RENEWAL], len(moves) > MOVES_PER_RENEWAL

    async def route(self, station_id: str) -> Route:
        """Where to send a call to the station; NOT_FOUND or UNAVAILABLE when there is none."""
        station = await self.get(station_id)
        if not is_reachable(station, self.clock()):
            raise Unavailable(f"station {station_id} is not connected")
        if not station.gateway:
            # Connected through a gateway that gave no StationControlService address.
            raise Unavailable(f"station {station_id} is connected through a gateway without calls")
        return Route(gateway=station.gateway, epoch=station.epoch)

    def _lease_end(self, seconds: int) -> datetime.datetime:
        return self.clock() + datetime.timedelta(seconds=seconds or self.default_lease_seconds)

    # -- what stations send --------------------------------------------------------------------

    async def boot(self, station_id: str, reason: str, reported: Mapping[str, str]) -> BootOutcome:
        """Record a boot and what the station says of itself; Rejected if it is unknown.

        Group-committed: returns once the boot is committed with the others of its group.
        """
        return await self._boots.submit(_Boot(station_id, reason, dict(reported)))

    async def _boot_one(self, conn: AsyncConnection, item: _Boot) -> BootOutcome:
        return (await self._boot_many(conn, [item]))[0]

    async def _boot_many(
        self, conn: AsyncConnection, items: builtins.list[_Boot]
    ) -> builtins.list[BootOutcome]:
        """A group of boots: read the stations (locked), answer from their boot policy, record
        every known station's boot in one statement."""
        writer = StationWriter(conn)
        rows = await writer.lock({item.station_id for item in items})
        outcomes: list[BootOutcome] = []
        for item in items:
            row = rows.get(item.station_id)
            if row is None:
                outcomes.append(BootOutcome(REJECTED))
                continue
            status = row["registration_status"]
            outcomes.append(
                BootOutcome(status, status == PENDING and row["accept_after_base_report"])
            )
        await writer.record_boots(
            ((i.station_id, i.reason, i.reported) for i in items if i.station_id in rows),
            self.clock(),
        )
        return outcomes

    async def heartbeat(self, station_id: str) -> datetime.datetime:
        now = self.clock()
        await self.record_heartbeats([(station_id, now)])
        return now

    async def record_heartbeats(self, seen: Collection[tuple[str, datetime.datetime]]) -> None:
        """Last-seen times a gateway collected, in one transaction; unknown stations are skipped
        and no time moves backwards."""
        if not seen:
            return
        async with self.sessions.begin() as session:
            # In id order, the order the group commits lock rows in: no deadlock on PostgreSQL.
            await StationRepository(session).record_heartbeats(sorted(seen))

    async def status(
        self,
        station_id: str,
        evse_id: int,
        connector_id: int,
        status: str,
        timestamp: datetime.datetime,
        ocpp16: Mapping[str, str] | None = None,
    ) -> None:
        """Store a connector's status unless a newer one (by the station's clock) is stored.

        ``ocpp16``: an OCPP 1.6 station's own fields (repository.OCPP16_STATUS_COLUMNS), stored
        beside the 2.0.1 status; a 2.0.1 report clears them.

        Group-committed like boots: a fleet reports every connector at every (re)connect.
        """
        refused = await self._statuses.submit(
            {
                "station_id": station_id,
                "evse_id": evse_id,
                "connector_id": connector_id,
                "status": status,
                "status_time": timestamp,
                **{column: (ocpp16 or {}).get(column, "") for column in OCPP16_STATUS_COLUMNS},
            }
        )
        if refused is not None:
            raise refused

    async def _status_one(self, conn: AsyncConnection, item: dict[str, Any]) -> CsmsError | None:
        return (await self._status_many(conn, [item]))[0]

    async def _status_many(
        self, conn: AsyncConnection, items: builtins.list[dict[str, Any]]
    ) -> builtins.list[CsmsError | None]:
        """A group of statuses: the known stations' upserted in arrival order in one statement;
        an unknown station's refused (returned: nothing written for it)."""
        writer = StationWriter(conn)
        known = await writer.lock({item["station_id"] for item in items})
        await writer.record_statuses([item for item in items if item["station_id"] in known])
        return [
            None
            if item["station_id"] in known
            else NotFound(f"charging station {item['station_id']} not found")
            for item in items
        ]

    # -- boot policy ---------------------------------------------------------------------------

    async def accept(self, station_id: str) -> Station:
        """Answer the station's next BootNotification with Accepted."""
        async with self.sessions.begin() as session:
            station = await StationRepository(session).get(station_id, for_update=True)
            if station is None:
                raise NotFound(f"charging station {station_id} not found")
            station.registration_status = ACCEPTED
            station.base_report_request_id = None
        return station

    async def start_base_report(self, station_id: str) -> int | None:
        """A fresh requestId for the automatic rule's GetBaseReport, remembered on the station.

        None when the rule no longer applies (accepted meanwhile, rule switched off, deleted).
        """
        async with self.sessions.begin() as session:
            station = await StationRepository(session).get(station_id, for_update=True)
            if (
                station is None
                or station.registration_status != PENDING
                or not station.accept_after_base_report
            ):
                return None
            station.base_report_request_id = secrets.randbelow(_MAX_REQUEST_ID) + 1
            return station.base_report_request_id

    # -- device model --------------------------------------------------------------------------

    async def record_report(
        self,
        station_id: str,
        request_id: int,
        seq_no: int,
        tbc: bool,
        generated_at: datetime.datetime,
        variables: Sequence[ReportedVariable],
    ) -> bool:
        """Store one NotifyReport part (a replay changes nothing).

        True when this part completed the report the automatic rule waited for and the station
        is now accepted: the caller asks it to boot again.

        One part at a time, in chunks of :data:`REPORT_CHUNK` variables, each its own
        transaction: a part of thousands of variables (up to the gateway's 1 MiB frame) held a
        connection for tens of milliseconds, on SQLite the service's only one, and parts of
        several stations queued there ahead of every other write (a StatusNotification waited
        behind four of them). Now a write waits behind one chunk at most. The part is recorded
        (which makes a replay change nothing, and may accept the station) with its last chunk,
        and only then answered; a part cut short by a crash is not recorded, so the station's
        retry applies it whole again.
        """
        # Later entries for one key win, as if the parts had been applied one by one.
        entries = builtins.list({variable_key(v.ref): v for v in variables}.items())
        chunks = [entries[i : i + REPORT_CHUNK] for i in range(0, len(entries), REPORT_CHUNK)]
        accepted = False
        async with self._reports:
            for n, chunk in enumerate(chunks or [[]], 1):
                async with self.sessions.begin() as session:
                    # Locked in each chunk: a station deleted meanwhile stops the part.
                    station = await StationRepository(session).get(station_id, for_update=True)
                    if station is None:
                        raise NotFound(f"charging station {station_id} not found")
                    model = DeviceModelRepository(session)
                    # Parts are stored one at a time: none is recorded meanwhile.
                    if n == 1 and await model.report_part_seen(station_id, request_id, seq_no):
                        return False
                    await self._apply_report(model, station_id, chunk)
                    if n >= len(chunks):
                        model.add_report_part(
                            ReportPart(
                                station_id=station_id,
                                request_id=request_id,
                                seq_no=seq_no,
                                tbc=tbc,
                                generated_at=generated_at,
                            )
                        )
                        accepted = not tbc and _complete_base_report(station, request_id)
        return accepted

    async def complete_base_report(self, station_id: str, request_id: int) -> bool:
        """The rule's report is complete without any part (EmptyResultSet): as for the last part."""
        async with self.sessions.begin() as session:
            station = await StationRepository(session).get(station_id, for_update=True)
            return station is not None and _complete_base_report(station, request_id)

    async def _apply_report(
        self,
        model: DeviceModelRepository,
        station_id: str,
        entries: Sequence[tuple[VariableKey, ReportedVariable]],
    ) -> None:
        """Store reported variables (one entry per key) in a few set-based statements."""
        now = self.clock()
        # Two statements: a row carrying characteristics replaces them, one without keeps them.
        described: builtins.list[dict[str, Any]] = []
        bare: builtins.list[dict[str, Any]] = []
        for key, reported in entries:
            row = _variable_row(station_id, key, now)
            c = reported.characteristics
            if c is None:
                bare.append(row)
            else:
                row.update(
                    data_type=c.data_type,
                    supports_monitoring=c.supports_monitoring,
                    unit=c.unit,
                    min_limit=c.min_limit,
                    max_limit=c.max_limit,
                    values_list=c.values_list,
                )
                described.append(row)
        ids = await model.upsert_variables(described, characteristics=True)
        ids.update(await model.upsert_variables(bare, characteristics=False))
        # One row per (variable, type): a type reported twice in an entry, the later wins.
        attributes = {
            (ids[key], a.type): {
                "variable_id": ids[key],
                "type": a.type,
                # The Basic auth password is write-only: a value reported anyway is not kept.
                "value": None if credentials.is_basic_auth_password(reported.ref) else a.value,
                "mutability": a.mutability,
                "persistent": a.persistent,
                "constant": a.constant,
            }
            for key, reported in entries
            for a in reported.attributes
        }
        await model.upsert_attributes(builtins.list(attributes.values()))

    async def record_values(self, station_id: str, updates: Sequence[ValueUpdate]) -> None:
        """Store values the station confirmed; unknown variables join the model."""
        if not updates:
            return
        # The Basic auth password is write-only: never kept in the clear, not even here.
        updates = [u for u in updates if not credentials.is_basic_auth_password(u.ref)]
        if not updates:
            return
        async with self.sessions.begin() as session:
            model = DeviceModelRepository(session)
            by_key = {(variable_key(u.ref), u.type): u for u in updates}
            stored = await model.variables(station_id, {key for key, _ in by_key})
            for (key, type_), update in by_key.items():
                row = stored.get(key)
                if row is None:
                    row = stored[key] = _new_variable(station_id, key)
                    model.add_variable(row)
                target = next((a for a in row.attributes if a.type == type_), None)
                if target is None:
                    row.attributes.append(DeviceVariableAttribute(type=type_, value=update.value))
                else:
                    target.value = update.value
                row.updated_at = self.clock()

    async def list_variables(
        self, station_id: str, component: str, variable: str, size: int, token: str
    ) -> tuple[Sequence[DeviceVariable], str]:
        limit = pagination.page_size(size)
        after = _decode_variable_key(token) if token else None
        async with self.sessions() as session:
            if await StationRepository(session).get(station_id) is None:
                raise NotFound(f"charging station {station_id} not found")
            rows = await DeviceModelRepository(session).page(
                station_id, component, variable, after, limit + 1
            )
        more = len(rows) > limit
        rows = rows[:limit]
        if not more:
            return rows, ""
        last = rows[-1]
        return rows, pagination.encode_token(
            last.component_name,
            last.component_instance,
            str(last.evse_id),
            str(last.connector_id),
            last.variable_name,
            last.variable_instance,
        )

    async def serial_identity(self, station_id: str) -> str:
        """The serial number a certificate of the station may name it by besides its id
        (credentials.names_by_serial: an OCPP 1.6 station's recorded serial number, its own for
        good), bound to it now if it was not yet (a certificate is about to be signed for it);
        "" when none."""
        async with self.sessions.begin() as session:
            station = await StationRepository(session).get(station_id)
            if station is None or station.protocol != credentials.OCPP16:
                return ""
            serial = station.serial_number
            if not serial:
                return ""
            writer = StationWriter(await session.connection())
            holders = await writer.holders([serial])
            bound = (await writer.certificate_names([serial])).get(serial)
            if not credentials.names_by_serial(
                serial, station_id, station.protocol, serial, holders[serial], bound
            ):
                return ""
            if bound is None:
                bound = (await writer.bind_certificate_names({serial: station_id})).get(serial)
        return serial if bound == station_id else ""

    async def variable_value(
        self, station_id: str, component: str, variable: str, instance: str = ""
    ) -> str | None:
        """The Actual value the device model holds of a station-level variable (no EVSE,
        no connector), None when it holds none."""
        key = (component, "", NO_ID, NO_ID, variable, instance)
        async with self.sessions() as session:
            found = await DeviceModelRepository(session).variables(station_id, [key])
            row = found.get(key)
            if row is None:
                return None
            actual = [a.value for a in row.attributes if a.type == "Actual"]
        return actual[0] if actual else None

    # -- customer information ------------------------------------------------------------------

    async def record_customer_information(
        self, station_id: str, part: CustomerInformationPart
    ) -> None:
        """Store one NotifyCustomerInformation part; a replay changes nothing."""
        async with self.sessions.begin() as session:
            if await StationRepository(session).get(station_id) is None:
                raise NotFound(f"charging station {station_id} not found")
            repo = CustomerInformationRepository(session)
            if await repo.get(station_id, part.request_id, part.seq_no) is not None:
                return
            repo.add(
                CustomerInformationRow(
                    station_id=station_id,
                    request_id=part.request_id,
                    seq_no=part.seq_no,
                    data=part.data,
                    tbc=part.tbc,
                    generated_at=part.generated_at,
                )
            )

    async def list_customer_information(
        self, station_id: str, request_id: int | None
    ) -> builtins.list[CustomerInformationPart]:
        async with self.sessions() as session:
            if await StationRepository(session).get(station_id) is None:
                raise NotFound(f"charging station {station_id} not found")
            rows = await CustomerInformationRepository(session).list(station_id, request_id)
        return [
            CustomerInformationPart(r.request_id, r.seq_no, r.data, r.tbc, r.generated_at)
            for r in rows
        ]

    # -- security events -----------------------------------------------------------------------

    async def record_security_event(self, station_id: str, event: SecurityEvent) -> bool:
        """Store a SecurityEventNotification; False when exactly this event is stored already
        (the station resent it, e.g. after losing our answer)."""
        async with self.sessions.begin() as session:
            if await StationRepository(session).get(station_id) is None:
                raise NotFound(f"charging station {station_id} not found")
            repo = SecurityEventRepository(session)
            if await repo.exists(station_id, event.type, event.timestamp, event.tech_info):
                return False
            repo.add(
                SecurityEventRow(
                    station_id=station_id,
                    type=event.type,
                    timestamp=event.timestamp,
                    tech_info=event.tech_info,
                    received_at=self.clock(),
                )
            )
        # Operators watch for these: each one is worth a line at WARNING.
        log.warning(
            "security event from station %s: %s at %s%s",
            station_id,
            event.type,
            event.timestamp.isoformat(),
            f" ({event.tech_info})" if event.tech_info else "",
        )
        return True

    async def list_security_events(
        self, station_id: str, size: int, token: str
    ) -> tuple[builtins.list[SecurityEvent], str]:
        """Newest first by the station's clock."""
        limit = pagination.page_size(size)
        before = pagination.decode_time_key(token) if token else None
        async with self.sessions() as session:
            if await StationRepository(session).get(station_id) is None:
                raise NotFound(f"charging station {station_id} not found")
            rows = await SecurityEventRepository(session).page(station_id, before, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        events = [SecurityEvent(r.type, r.timestamp, r.tech_info, r.received_at) for r in rows]
        if not more:
            return events, ""
        return events, pagination.encode_time_key(rows[-1].timestamp, rows[-1].id)


async def _named_by_serial(
    writer: StationWriter, items: builtins.list[_Connect], rows: Mapping[str, Mapping[str, Any]]
) -> builtins.list[_Connect]:
    """``items``, those whose client certificate names their OCPP 1.6 station by its serial
    number (credentials.names_by_serial) as if its CN were the station id; a name used so for
    the first time is bound to the station. Queries only when some 1.6 connect presents a CN
    that is not its station id (rare: nothing for the others)."""
    candidates = {
        item.presented.client_certificate_cn
        for item in items
        if item.protocol == credentials.OCPP16
        and item.presented.client_certificate_cn not in ("", item.station_id)
        and item.station_id in rows
    }
    if not candidates:
        return items
    holders = await writer.holders(candidates)
    bound = await writer.certificate_names(candidates)
    named: builtins.list[_Connect] = []
    binding: dict[str, str] = {}
    for item in items:
        row = rows.get(item.station_id)
        cn = item.presented.client_certificate_cn
        if row is not None and credentials.names_by_serial(
            cn,
            item.station_id,
            item.protocol,
            row["serial_number"],
            holders.get(cn, ()),
            bound.get(cn, binding.get(cn)),
        ):
            if cn not in bound:
                binding[cn] = item.station_id
            presented = dataclasses.replace(item.presented, client_certificate_cn=item.station_id)
            item = dataclasses.replace(item, presented=presented)
        named.append(item)
    if binding:
        # A name another transaction bound meanwhile stays its (ON CONFLICT DO NOTHING): then
        # this connect is judged by its CN as it is.
        now_bound = await writer.bind_certificate_names(binding)
        lost = {cn for cn, sid in binding.items() if now_bound.get(cn) != sid}
        if lost:
            return [
                original if original.presented.client_certificate_cn in lost else item
                for original, item in zip(items, named, strict=True)
            ]
    return named


def _judged_by(item: _Connect, row: Mapping[str, Any]) -> int:
    """The security profile this connect is judged by: the station's pending one when it came
    with that one's credentials (credentials.effective_profile), else its own."""
    return credentials.effective_profile(
        item.station_id,
        row["security_profile"],
        row["pending_security_profile"],
        row["password_hash"] is not None,
        item.presented,
    )


def _hashes(row: Mapping[str, Any]) -> set[str]:
    """The password hashes a station's connect may be verified against."""
    return {h for h in (row["password_hash"], row["pending_password_hash"]) if h is not None}


def _upgrade(item: _Connect, row: Mapping[str, Any]) -> dict[str, Any]:
    """The columns a let-in connect changes: a pending password it came with becomes its
    password (OCPP A01), a pending profile it satisfied its profile (A05); from now on the old
    password, the lower profile, are refused."""
    changed: dict[str, Any] = {}
    pending_hash = row["pending_password_hash"]
    if pending_hash is not None and item.verified_hash == pending_hash:
        log.info(
            "station %s connected with its new password: the old one is refused from now on",
            item.station_id,
        )
        changed.update(password_hash=pending_hash, pending_password_hash=None)
    profile = _judged_by(item, row)
    if profile != row["security_profile"]:
        log.info(
            "station %s connected under its pending security profile %d: that is its profile "
            "now, %d is refused from now on",
            item.station_id,
            profile,
            row["security_profile"],
        )
        changed.update(security_profile=profile, pending_security_profile=None)
    return changed


def _writable(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(WRITABLE_FIELDS)
    if unknown:
        raise InvalidArgument(f"not writable: {', '.join(sorted(unknown))}")
    status = fields.get("registration_status")
    if status is not None and status not in _REGISTRATION_STATUSES:
        raise InvalidArgument(f"registration_status must be one of {_REGISTRATION_STATUSES}")
    return dict(fields)


def _complete_base_report(station: Station, request_id: int) -> bool:
    """The report ``request_id`` is complete: True if that accepts the station (automatic rule)."""
    if station.base_report_request_id != request_id:
        return False
    station.base_report_request_id = None
    if station.registration_status != PENDING:
        return False
    station.registration_status = ACCEPTED
    return True


def _new_variable(station_id: str, key: VariableKey) -> DeviceVariable:
    component, component_instance, evse_id, connector_id, variable, variable_instance = key
    return DeviceVariable(
        station_id=station_id,
        component_name=component,
        component_instance=component_instance,
        evse_id=evse_id,
        connector_id=connector_id,
        variable_name=variable,
        variable_instance=variable_instance,
        attributes=[],
    )


def _variable_row(station_id: str, key: VariableKey, now: datetime.datetime) -> dict[str, Any]:
    """A ``device_variables`` row of ``key`` without its characteristics."""
    component, component_instance, evse_id, connector_id, variable, variable_instance = key
    return {
        "station_id": station_id,
        "component_name": component,
        "component_instance": component_instance,
        "evse_id": evse_id,
        "connector_id": connector_id,
        "variable_name": variable,
        "variable_instance": variable_instance,
        "updated_at": now,
    }


def _decode_variable_key(token: str) -> VariableKey:
    parts = pagination.decode_token(token)
    try:
        component, c_instance, evse, connector, variable, v_instance = parts
        return (component, c_instance, int(evse), int(connector), variable, v_instance)
    except ValueError:
        raise InvalidArgument("page_token is not one this service issued") from None
