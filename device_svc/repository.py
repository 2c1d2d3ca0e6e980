"""Stations, their device model, customer information and security events on an AsyncSession: the
only place device_svc writes SQL."""

from __future__ import annotations

import datetime
from collections.abc import Collection, Iterable, Sequence

from sqlalchemy import Select, and_, bindparam, delete, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from device_svc.domain import VariableRef
from device_svc.models import (
    NO_ID,
    Connector,
    CustomerInformationRow,
    DeviceVariable,
    ReportPart,
    SecurityEventRow,
    Station,
)

__all__ = [
    "StationRepository",
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
# Bound parameters per statement stay well below SQLite's and asyncpg's limits.
_CHUNK = 500

_stations = Station.__table__.c
# One statement executed for many (station, time) pairs; a time older than the stored one (a
# retried batch arriving after a newer one) leaves it alone.
_RECORD_HEARTBEAT = (
    update(Station.__table__)
    .where(
        _stations.id == bindparam("b_id"),
        or_(
            _stations.last_heartbeat_at.is_(None),
            _stations.last_heartbeat_at < bindparam("b_at"),
        ),
    )
    .values(last_heartbeat_at=bindparam("b_at"))
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


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:  # type: ignore[type-arg]
    for start in range(0, len(items), size):
        yield items[start : start + size]


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

    async def page(self, after: str, limit: int) -> Sequence[Station]:
        stmt = select(Station).where(Station.id > after).order_by(Station.id).limit(limit)
        return (await self.session.scalars(stmt)).all()

    async def delete(self, station_id: str) -> bool:
        await self.session.execute(delete(Connector).where(Connector.station_id == station_id))
        result = await self.session.execute(delete(Station).where(Station.id == station_id))
        return result.rowcount > 0  # type: ignore[attr-defined]

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
        """Extend the leases the gateway still holds under these epochs; the ids renewed."""
        renewed: set[str] = set()
        for chunk in _chunks(list(leases)):
            result = await self.session.execute(
                update(Station)
                .where(
                    tuple_(Station.id, Station.epoch).in_(chunk),
                    Station.gateway == gateway,
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

    async def page(
        self,
        station_id: str,
        component: str,
        variable: str,
        after: VariableKey | None,
        limit: int,
    ) -> Sequence[DeviceVariable]:
        stmt: Select[tuple[DeviceVariable]] = select(DeviceVariable).where(
            DeviceVariable.station_id == station_id
        )
        if component:
            stmt = stmt.where(DeviceVariable.component_name == component)
        if variable:
            stmt = stmt.where(DeviceVariable.variable_name == variable)
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
