"""Stations, their device model, customer information and security events on an AsyncSession (and
the group-committed connection and boot writes on a connection): the only place device_svc writes
SQL."""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import (
    CursorResult,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    not_,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Executable

from common.db import equal_in_any_case, table_of, utcnow
from common.prepared import Prepared, padded
from device_svc.domain import VariableRef
from device_svc.fleet.repository import reachable
from device_svc.models import (
    NO_ID,
    CertificateName,
    Connector,
    CustomerInformationRow,
    DeviceVariable,
    DeviceVariableAttribute,
    GatewayLease,
    ReportPart,
    SecurityEventRow,
    Station,
    StationMove,
)

__all__ = [
    "BOOT_REPORTED",
    "LIST_STATUSES",
    "GatewayLeaseRepository",
    "Move",
    "StationRepository",
    "StationWriter",
    "DeviceModelRepository",
    "CustomerInformationRepository",
    "SecurityEventRepository",
    "VariableKey",
    "variable_key",
]

# The device model's key (and ListVariables order): component name, instance, EVSE, connector,
# variable name, instance; NO_ID and "" stand for absent parts.
VariableKey = tuple[str, str, int, int, str, str]

_KEY_COLUMNS = (
    DeviceVariable.component_name,
    DeviceVariable.component_instance,
    DeviceVariable.evse_id,
    DeviceVariable.connector_id,
    DeviceVariable.variable_name,
    DeviceVariable.variable_instance,
)
_T = TypeVar("_T")
_VARIABLES = table_of(DeviceVariable)
_ATTRIBUTES = table_of(DeviceVariableAttribute)
# A variable's VariableCharacteristics: a report that carries them replaces all six.
_CHARACTERISTICS = (
    "data_type",
    "supports_monitoring",
    "unit",
    "min_limit",
    "max_limit",
    "values_list",
)

# Bound parameters per statement stay well below SQLite's and asyncpg's limits.
_CHUNK = 500

_STATIONS = table_of(Station)
_stations = _STATIONS.c
_CERT_NAMES = table_of(CertificateName)
_cert_names = _CERT_NAMES.c
# One statement executed for many (station, time) pairs; a time older than the stored one (a
# retried batch arriving after a newer one) leaves it alone.
_RECORD_HEARTBEAT = (
    update(_STATIONS)
    .where(
        _stations.id == bindparam("b_id"),
        or_(
            _stations.last_heartbeat_at.is_(None),
            _stations.last_heartbeat_at < bindparam("b_at"),
        ),
    )
    .values(last_heartbeat_at=bindparam("b_at"))
)


# What a BootNotification reports of the station; an empty value leaves the stored one.
BOOT_REPORTED = (
    "model",
    "vendor_name",
    "serial_number",
    "firmware_version",
    "modem_iccid",
    "modem_imsi",
)
_CONNECTORS = table_of(Connector)
# A 1.6 station's own status fields (Ocpp16ConnectorStatus), "" for a 2.0.1 report.
OCPP16_STATUS_COLUMNS = (
    "ocpp16_status",
    "ocpp16_error_code",
    "ocpp16_info",
    "ocpp16_vendor_id",
    "ocpp16_vendor_error_code",
)
# One statement executed for many connections (a group of ConnectStation).
_SET_CONNECTION = Prepared(
    update(_STATIONS)
    .where(_stations.id == bindparam("b_id"))
    .values(
        epoch=bindparam("b_epoch"),
        connected=True,
        gateway=bindparam("b_gateway"),
        gateway_lease=bindparam("b_gateway_lease"),
        lease_expires_at=bindparam("b_lease"),
        protocol=bindparam("b_protocol"),
        updated_at=bindparam("b_now"),
    )
)
# One statement executed for the stations of a group of connects that came with pending
# credentials (a new password, OCPP A01; a higher security profile, A05): they become theirs.
_SET_CREDENTIALS = (
    update(_STATIONS)
    .where(_stations.id == bindparam("b_id"))
    .values(
        security_profile=bindparam("b_profile"),
        pending_security_profile=bindparam("b_pending_profile"),
        password_hash=bindparam("b_password_hash"),
        pending_password_hash=bindparam("b_pending_password_hash"),
    )
)
# One statement executed for many boots: what the station reports replaces what is stored
# unless it is empty.
_RECORD_BOOT = Prepared(
    update(_STATIONS)
    .where(_stations.id == bindparam("b_id"))
    .values(
        last_boot_at=bindparam("b_now"),
        boot_reason=bindparam("b_reason"),
        updated_at=bindparam("b_now"),
        **{
            name: func.coalesce(
                func.nullif(bindparam(f"b_{name}", type_=_stations[name].type), ""),
                _stations[name],
            )
            for name in BOOT_REPORTED
        },
    )
)
# A group of connects' new stations (every column given).
_ADD_STATIONS = Prepared(insert(_STATIONS))
# The columns of a station's row (StationWriter's rows are mappings of them), and the id's place.
_STATION_KEYS = tuple(_STATIONS.c.keys())
_ID = _STATION_KEYS.index("id")


@functools.cache
def _lock_stations_sqlite(size: int) -> Prepared:
    """SQLite: a group's stations by id, ``size`` ids (``k0``...; common.prepared.padded). No
    FOR UPDATE: the group's BEGIN IMMEDIATE holds the database's write lock."""
    ids = [bindparam(f"k{i}", type_=_stations.id.type) for i in range(size)]
    return Prepared(select(_STATIONS).where(_stations.id.in_(ids)).order_by(_stations.id))


# One statement executed for many disconnects; one of an older connection changes nothing.
_DISCONNECT = (
    update(_STATIONS)
    .where(_stations.id == bindparam("b_id"), _stations.epoch == bindparam("b_epoch"))
    .values(connected=False)
)


def variable_key(ref: VariableRef) -> VariableKey:
    return (
        ref.component,
        ref.component_instance,
        NO_ID if ref.evse_id is None else ref.evse_id,
        NO_ID if ref.connector_id is None else ref.connector_id,
        ref.variable,
        ref.variable_instance,
    )


def key_of_row(row: DeviceVariable) -> VariableKey:
    return (
        row.component_name,
        row.component_instance,
        row.evse_id,
        row.connector_id,
        row.variable_name,
        row.variable_instance,
    )


def _chunks(items: Sequence[_T], size: int = _CHUNK) -> Iterable[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


#: The ``status`` filters of :meth:`StationRepository.page`.
LIST_STATUSES = ("connected", "offline", "faulted")


class StationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, station_id: str, *, for_update: bool = False) -> Station | None:
        stmt = select(Station).where(Station.id == station_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).one_or_none()

    def add(self, station: Station) -> None:
        self.session.add(station)

    async def page(
        self,
        after: str,
        limit: int,
        *,
        id_contains: str = "",
        status: str = "",
        now: datetime.datetime | None = None,
    ) -> Sequence[Station]:
        """Stations by id after ``after``; ``status`` (connected, offline, faulted: see
        :data:`LIST_STATUSES`) needs ``now`` (leases)."""
        stmt = select(Station).where(Station.id > after)
        if id_contains:
            pattern = id_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(Station.id.ilike(f"%{pattern}%", escape="\\"))
        if status:
            up = reachable(now or utcnow())
            if status == "connected":
                stmt = stmt.where(up)
            elif status == "offline":
                stmt = stmt.where(not_(up))
            elif status == "faulted":
                faulted = (
                    select(Connector.station_id)
                    .where(Connector.station_id == Station.id, Connector.status == "Faulted")
                    .exists()
                )
                stmt = stmt.where(up, faulted)
            else:
                raise ValueError(status)
        stmt = stmt.order_by(Station.id).limit(limit)
        return (await self.session.scalars(stmt)).all()

    async def delete(self, station_id: str) -> bool:
        await self.session.execute(delete(Connector).where(Connector.station_id == station_id))
        await self.session.execute(
            delete(CertificateName).where(CertificateName.station_id == station_id)
        )
        # DML executed on a session gives a CursorResult; SQLAlchemy types it as any Result.
        result = cast(
            CursorResult[Any],
            await self.session.execute(delete(Station).where(Station.id == station_id)),
        )
        return result.rowcount > 0

    async def disconnect(self, station_id: str, epoch: int) -> None:
        await self.session.execute(
            update(Station)
            .where(Station.id == station_id, Station.epoch == epoch)
            .values(connected=False)
        )

    async def record_heartbeats(self, seen: Iterable[tuple[str, datetime.datetime]]) -> None:
        """Move each station's last_heartbeat_at forward to its time (never backwards)."""
        params = [{"b_id": station_id, "b_at": at} for station_id, at in seen]
        if params:
            await self.session.execute(_RECORD_HEARTBEAT, params)

    async def renew_leases(
        self, gateway: str, leases: Collection[tuple[str, int]], until: datetime.datetime
    ) -> set[str]:
        """Extend the leases the gateway still holds under these epochs; the ids renewed.

        The per-station renewal of gateways from before gateway leases: a station held under
        a gateway lease is never renewed here."""
        renewed: set[str] = set()
        for chunk in _chunks(list(leases)):
            result = await self.session.execute(
                update(Station)
                .where(
                    # The ids alone first: SQLite finds them by the primary key, where it scans
                    # the whole table for the row-value IN (which still checks the epochs).
                    Station.id.in_([station_id for station_id, _ in chunk]),
                    tuple_(Station.id, Station.epoch).in_(chunk),
                    Station.gateway == gateway,
                    Station.gateway_lease.is_(None),
                    Station.connected.is_(True),
                )
                .values(lease_expires_at=until)
                .returning(Station.id)
                .execution_options(synchronize_session=False)
            )
            renewed.update(result.scalars())
        return renewed

    async def connector(self, station_id: str, evse_id: int, connector_id: int) -> Connector | None:
        return await self.session.get(Connector, (station_id, evse_id, connector_id))

    def add_connector(self, connector: Connector) -> None:
        self.session.add(connector)


# The dialect's own INSERT (ON CONFLICT), by dialect name.
_UPSERTS: dict[str, Callable[[Table], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


class StationWriter:
    """The connection and boot writes in Core statements on one connection (group commits): a
    few statements per group of stations, whatever its size.

    Rows are plain mappings of ``charging_stations`` columns.
    """

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def _written(self, statement: Prepared, params: Sequence[Mapping[str, Any]]) -> None:
        """An executemany: on SQLite straight on the driver (common.prepared); on PostgreSQL
        through SQLAlchemy (the straight path made make bench's fleet of 100,000 slower there:
        see the README's benchmarks of 2026-12-06)."""
        if not params:
            return
        if self.conn.dialect.name == "sqlite":
            await statement.many(self.conn, params)
        else:
            await self.conn.execute(cast(Executable, statement.statement), list(params))

    async def lock(self, station_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """The stations among ``station_ids`` by id, their rows locked (FOR UPDATE; SQLite's
        transaction holds the write lock already) in id order."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(sorted(station_ids)):
            if self.conn.dialect.name == "sqlite":
                params = {f"k{i}": station_id for i, station_id in enumerate(padded(chunk))}
                rows = await _lock_stations_sqlite(len(params)).rows(self.conn, params)
                found.update((row[_ID], dict(zip(_STATION_KEYS, row, strict=True))) for row in rows)
            else:
                result = await self.conn.execute(
                    select(_STATIONS)
                    .where(_stations.id.in_(chunk))
                    .order_by(_stations.id)
                    .with_for_update()
                )
                found.update((row.id, dict(row._mapping)) for row in result)
        return found

    async def holders(self, names: Collection[str]) -> dict[str, set[str]]:
        """For each name, the ids of the stations whose id or recorded serial number it is
        (a certificate CN that may name a station either way: credentials.names_by_serial)."""
        found: dict[str, set[str]] = {name: set() for name in names}
        for chunk in _chunks(sorted(found)):
            rows = await self.conn.execute(
                select(_stations.id, _stations.serial_number).where(
                    _stations.id.in_(chunk) | _stations.serial_number.in_(chunk)
                )
            )
            for row in rows:
                for name in {row.id, row.serial_number} & found.keys():
                    found[name].add(row.id)
        return found

    async def certificate_names(self, names: Collection[str]) -> dict[str, str]:
        """The station each of ``names`` is bound to as a certificate name (CertificateName);
        a name bound to none is left out."""
        found: dict[str, str] = {}
        for chunk in _chunks(sorted(set(names))):
            rows = await self.conn.execute(
                select(_cert_names.name, _cert_names.station_id).where(_cert_names.name.in_(chunk))
            )
            found.update((row.name, row.station_id) for row in rows)
        return found

    async def bind_certificate_names(self, bound: Mapping[str, str]) -> dict[str, str]:
        """Bind each name to its station unless it is bound already (to whichever: a binding
        never moves); the bindings of ``bound``'s names as they are afterwards."""
        if bound:
            insert_ = _UPSERTS[self.conn.dialect.name](_CERT_NAMES)
            now = utcnow()
            await self.conn.execute(
                insert_.on_conflict_do_nothing(index_elements=["name"]),
                [
                    {"name": name, "station_id": station_id, "created_at": now}
                    for name, station_id in sorted(bound.items())
                ],
            )
        return await self.certificate_names(bound)

    async def add(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert new stations (every column given). See _written for PostgreSQL."""
        await self._written(_ADD_STATIONS, rows)

    async def set_connections(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Store each row's epoch, gateway, gateway lease and own lease, connected
        (``updated_at`` as given)."""
        params = [
            {
                "b_id": r["id"],
                "b_epoch": r["epoch"],
                "b_gateway": r["gateway"],
                "b_gateway_lease": r["gateway_lease"],
                "b_lease": r["lease_expires_at"],
                "b_protocol": r["protocol"],
                "b_now": r["updated_at"],
            }
            for r in rows
        ]
        await self._written(_SET_CONNECTION, params)

    async def set_credentials(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Store each row's security profile and password hash, and their pending ones."""
        params = [
            {
                "b_id": r["id"],
                "b_profile": r["security_profile"],
                "b_pending_profile": r["pending_security_profile"],
                "b_password_hash": r["password_hash"],
                "b_pending_password_hash": r["pending_password_hash"],
            }
            for r in rows
        ]
        if params:
            await self.conn.execute(_SET_CREDENTIALS, params)

    async def record_statuses(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Upsert connector statuses (``station_id, evse_id, connector_id, status,
        status_time`` and the :data:`OCPP16_STATUS_COLUMNS`), in the given order; a status older
        (by the station's clock) than the stored one is not written."""
        if not rows:
            return
        insert_ = _UPSERTS[self.conn.dialect.name](_CONNECTORS)
        await self.conn.execute(
            insert_.on_conflict_do_update(
                index_elements=["station_id", "evse_id", "connector_id"],
                set_={
                    "status": insert_.excluded.status,
                    "status_time": insert_.excluded.status_time,
                    **{
                        column: getattr(insert_.excluded, column)
                        for column in OCPP16_STATUS_COLUMNS
                    },
                },
                where=insert_.excluded.status_time >= _CONNECTORS.c.status_time,
            ),
            list(rows),
        )

    async def connectors(self, station_ids: Collection[str]) -> dict[str, list[dict[str, Any]]]:
        """The connector rows of these stations, by station, in EVSE, connector order."""
        found: dict[str, list[dict[str, Any]]] = {}
        c = _CONNECTORS.c
        for chunk in _chunks(sorted(station_ids)):
            rows = await self.conn.execute(
                select(_CONNECTORS)
                .where(c.station_id.in_(chunk))
                .order_by(c.station_id, c.evse_id, c.connector_id)
            )
            for row in rows:
                found.setdefault(row.station_id, []).append(dict(row._mapping))
        return found

    async def record_boots(
        self, boots: Iterable[tuple[str, str, Mapping[str, str]]], at: datetime.datetime
    ) -> None:
        """(station, reason, reported) each: last boot time and reason, what it reported."""
        params = [
            {
                "b_id": station_id,
                "b_reason": reason,
                "b_now": at,
                **{f"b_{name}": reported.get(name) or "" for name in BOOT_REPORTED},
            }
            for station_id, reason, reported in boots
        ]
        await self._written(_RECORD_BOOT, params)

    async def disconnect(self, connections: Iterable[tuple[str, int]]) -> None:
        """Mark these (station, epoch) connections closed; a newer epoch stays connected."""
        params = [{"b_id": station_id, "b_epoch": epoch} for station_id, epoch in connections]
        if params:
            await self.conn.execute(_DISCONNECT, params)


_LEASES = table_of(GatewayLease)
_MOVES = table_of(StationMove)
# (move id, station, epoch of the connection to close, why)
Move = tuple[int, str, int, str]


class GatewayLeaseRepository:
    """The gateway incarnations' leases and the moves they must collect, in Core statements on
    one connection (a group commit's, or a session's): a renewal is a few statements touching
    the gateway's one row, whatever the number of stations it holds."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def extend(self, leases: Mapping[str, tuple[str, datetime.datetime]]) -> None:
        """Create or extend each incarnation's lease (id → (address, until)), in id order (the
        order every writer takes these rows in); a lease running longer already is left."""
        if not leases:
            return
        insert_ = _UPSERTS[self.conn.dialect.name](_LEASES)
        now = utcnow()
        for lease_id in sorted(leases):
            address, until = leases[lease_id]
            await self.conn.execute(
                insert_.values(
                    id=lease_id, address=address, expires_at=until, created_at=now
                ).on_conflict_do_update(
                    index_elements=["id"],
                    set_={"expires_at": insert_.excluded.expires_at, "address": address},
                    where=insert_.excluded.expires_at > _LEASES.c.expires_at,
                )
            )

    async def add_moves(self, moves: Sequence[tuple[str, str, int, str]]) -> None:
        """(incarnation, station, epoch, reason) each: an old connection to close there."""
        if moves:
            now = utcnow()
            await self.conn.execute(
                insert(_MOVES),
                [
                    {
                        "gateway_lease": lease_id,
                        "station_id": station_id,
                        "epoch": epoch,
                        "reason": reason,
                        "created_at": now,
                    }
                    for lease_id, station_id, epoch, reason in moves
                ],
            )

    async def acknowledge(self, lease_id: str, move_ids: Collection[int]) -> None:
        """Forget these moves of the incarnation (it closed those connections)."""
        for chunk in _chunks(sorted(move_ids)):
            await self.conn.execute(
                delete(_MOVES).where(_MOVES.c.gateway_lease == lease_id, _MOVES.c.id.in_(chunk))
            )

    async def moves(self, lease_id: str, limit: int) -> list[Move]:
        """The incarnation's moves, oldest first, at most ``limit``."""
        c = _MOVES.c
        rows = await self.conn.execute(
            select(c.id, c.station_id, c.epoch, c.reason)
            .where(c.gateway_lease == lease_id)
            .order_by(c.id)
            .limit(limit)
        )
        return [(row.id, row.station_id, row.epoch, row.reason) for row in rows]

    async def forget_expired(self, before: datetime.datetime) -> int:
        """Delete the leases that ran out before ``before`` and their moves; how many leases.

        Their stations' rows still name them, and are offline: a lease that is gone is no
        live one."""
        gone = list(
            (
                await self.conn.execute(
                    select(_LEASES.c.id).where(_LEASES.c.expires_at < before).order_by(_LEASES.c.id)
                )
            ).scalars()
        )
        for chunk in _chunks(gone):
            await self.conn.execute(delete(_MOVES).where(_MOVES.c.gateway_lease.in_(chunk)))
            await self.conn.execute(delete(_LEASES).where(_LEASES.c.id.in_(chunk)))
        return len(gone)


class DeviceModelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def report_part_seen(self, station_id: str, request_id: int, seq_no: int) -> bool:
        return await self.session.get(ReportPart, (station_id, request_id, seq_no)) is not None

    def add_report_part(self, part: ReportPart) -> None:
        self.session.add(part)

    async def variables(
        self, station_id: str, keys: Collection[VariableKey]
    ) -> dict[VariableKey, DeviceVariable]:
        """The stored variables among ``keys``, with their attributes."""
        found: dict[VariableKey, DeviceVariable] = {}
        for chunk in _chunks(list(keys), _CHUNK // len(_KEY_COLUMNS)):
            rows = await self.session.scalars(
                select(DeviceVariable).where(
                    DeviceVariable.station_id == station_id, tuple_(*_KEY_COLUMNS).in_(chunk)
                )
            )
            found.update((key_of_row(row), row) for row in rows)
        return found

    def add_variable(self, variable: DeviceVariable) -> None:
        self.session.add(variable)

    async def upsert_variables(
        self, rows: Sequence[Mapping[str, Any]], *, characteristics: bool
    ) -> dict[VariableKey, int]:
        """Insert the variables of ``rows`` (``device_variables`` columns: ``station_id``, the
        key, ``updated_at`` and, with ``characteristics``, the six characteristics; one row per
        key), or update the stored ones with those columns; their ids by key.

        Set-based (a few multi-row statements whatever the count): a NotifyReport part of
        thousands of variables took the ORM's unit of work about 150 us of CPU per variable, and
        on SQLite's one connection every other write of the service waited that long."""
        if not rows:
            return {}
        insert_ = _UPSERTS[self.session.get_bind().dialect.name](_VARIABLES)
        columns = ["updated_at", *(_CHARACTERISTICS if characteristics else ())]
        key = [column.key for column in _KEY_COLUMNS]
        stmt = insert_.on_conflict_do_update(
            index_elements=["station_id", *key],
            set_={name: insert_.excluded[name] for name in columns},
        ).returning(_VARIABLES.c.id, *(_VARIABLES.c[name] for name in key))
        result = await self.session.execute(stmt, list(rows))
        return {tuple(row[1:]): row[0] for row in result}

    async def upsert_attributes(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert or replace attributes (``device_variable_attributes`` rows, every column)."""
        if not rows:
            return
        insert_ = _UPSERTS[self.session.get_bind().dialect.name](_ATTRIBUTES)
        await self.session.execute(
            insert_.on_conflict_do_update(
                index_elements=["variable_id", "type"],
                set_={
                    name: insert_.excluded[name]
                    for name in ("value", "mutability", "persistent", "constant")
                },
            ),
            list(rows),
        )

    async def page(
        self,
        station_id: str,
        component: str,
        variable: str,
        after: VariableKey | None,
        limit: int,
    ) -> Sequence[DeviceVariable]:
        stmt: Select[DeviceVariable] = select(DeviceVariable).where(
            DeviceVariable.station_id == station_id
        )
        # Names in any case: OCPP 2.0.1's component and variable names are case-insensitive.
        if component:
            stmt = stmt.where(equal_in_any_case(DeviceVariable.component_name, component))
        if variable:
            stmt = stmt.where(equal_in_any_case(DeviceVariable.variable_name, variable))
        if after is not None:
            stmt = stmt.where(tuple_(*_KEY_COLUMNS) > tuple_(*after))
        stmt = stmt.order_by(*_KEY_COLUMNS).limit(limit)
        return (await self.session.scalars(stmt)).all()


class CustomerInformationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(
        self, station_id: str, request_id: int, seq_no: int
    ) -> CustomerInformationRow | None:
        return await self.session.get(CustomerInformationRow, (station_id, request_id, seq_no))

    def add(self, row: CustomerInformationRow) -> None:
        self.session.add(row)

    async def list(
        self, station_id: str, request_id: int | None
    ) -> Sequence[CustomerInformationRow]:
        stmt = select(CustomerInformationRow).where(CustomerInformationRow.station_id == station_id)
        if request_id is not None:
            stmt = stmt.where(CustomerInformationRow.request_id == request_id)
        stmt = stmt.order_by(CustomerInformationRow.request_id, CustomerInformationRow.seq_no)
        return (await self.session.scalars(stmt)).all()


class SecurityEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: SecurityEventRow) -> None:
        self.session.add(row)

    async def exists(
        self, station_id: str, type_: str, timestamp: datetime.datetime, tech_info: str
    ) -> bool:
        """Whether exactly this event is stored already."""
        stmt = (
            select(SecurityEventRow.id)
            .where(
                SecurityEventRow.station_id == station_id,
                SecurityEventRow.timestamp == timestamp,
                SecurityEventRow.type == type_,
                SecurityEventRow.tech_info == tech_info,
            )
            .limit(1)
        )
        return (await self.session.scalars(stmt)).first() is not None

    async def page(
        self, station_id: str, before: tuple[datetime.datetime, int] | None, limit: int
    ) -> Sequence[SecurityEventRow]:
        """Newest first by the station's clock (then by arrival), after the key ``before``."""
        stmt = select(SecurityEventRow).where(SecurityEventRow.station_id == station_id)
        if before is not None:
            timestamp, id_ = before
            stmt = stmt.where(
                or_(
                    SecurityEventRow.timestamp < timestamp,
                    and_(SecurityEventRow.timestamp == timestamp, SecurityEventRow.id < id_),
                )
            )
        stmt = stmt.order_by(SecurityEventRow.timestamp.desc(), SecurityEventRow.id.desc())
        return (await self.session.scalars(stmt.limit(limit))).all()
