"""Block N's SQL: the events table, written in set-based statements on a group commit's
connection and read on an AsyncSession."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Collection, Sequence
from typing import Any

from sqlalchemy import Select, Table, and_, exists, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from common.db import equal_in_any_case, table_of
from device_svc.domain import VariableRef
from device_svc.models import Station
from device_svc.monitoring.domain import (
    Event,
    EventFilter,
    EventPart,
    PageKey,
    PartKey,
    StoredEvent,
)
from device_svc.monitoring.models import EventRow, MonitorRow

__all__ = ["EventRepository", "EventWriter", "event_rows", "stored_event"]

_EVENTS = table_of(EventRow)
_STATIONS = table_of(Station)
# Bound parameters per statement stay well below SQLite's and asyncpg's limits.
_CHUNK = 500
# The dialect's own INSERT (ON CONFLICT), by dialect name.
_INSERTS: dict[str, Callable[[Table], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def event_rows(
    station_id: str, part: EventPart, received_at: datetime.datetime
) -> list[dict[str, Any]]:
    """The rows of one part, one per eventData entry, in order."""
    rows = []
    for position, e in enumerate(part.events):
        custom = dict(e.custom_data)
        if part.custom_data is not None:
            custom["request"] = part.custom_data
        rows.append(
            {
                "station_id": station_id,
                "generated_at": part.generated_at,
                "seq_no": part.seq_no,
                "tbc": part.tbc,
                "position": position,
                "event_id": e.event_id,
                "timestamp": e.timestamp,
                "trigger": e.trigger,
                "cause": e.cause,
                "actual_value": e.actual_value,
                "tech_code": e.tech_code,
                "tech_info": e.tech_info,
                "cleared": e.cleared,
                "transaction_id": e.transaction_id,
                "component_name": e.ref.component,
                "component_instance": e.ref.component_instance,
                "evse_id": e.ref.evse_id,
                "connector_id": e.ref.connector_id,
                "variable_name": e.ref.variable,
                "variable_instance": e.ref.variable_instance,
                "variable_monitoring_id": e.variable_monitoring_id,
                "event_notification_type": e.event_notification_type,
                "custom_data": custom or None,
                "received_at": received_at,
            }
        )
    return rows


def stored_event(row: EventRow) -> StoredEvent:
    custom = dict(row.custom_data or {})
    part_custom = custom.pop("request", None)
    return StoredEvent(
        id=row.id,
        station_id=row.station_id,
        event=Event(
            event_id=row.event_id,
            timestamp=row.timestamp,
            trigger=row.trigger,
            actual_value=row.actual_value,
            event_notification_type=row.event_notification_type,
            ref=VariableRef(
                component=row.component_name,
                variable=row.variable_name,
                component_instance=row.component_instance,
                evse_id=row.evse_id,
                connector_id=row.connector_id,
                variable_instance=row.variable_instance,
            ),
            cause=row.cause,
            tech_code=row.tech_code,
            tech_info=row.tech_info,
            cleared=row.cleared,
            transaction_id=row.transaction_id,
            variable_monitoring_id=row.variable_monitoring_id,
            custom_data=custom,
        ),
        generated_at=row.generated_at,
        seq_no=row.seq_no,
        tbc=row.tbc,
        part_custom_data=part_custom,
        received_at=row.received_at,
    )


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[start : start + _CHUNK] for start in range(0, len(items), _CHUNK)]


class EventWriter:
    """The writes of a group of NotifyEvent parts, a few statements whatever its size."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def known_stations(self, station_ids: Collection[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(sorted(station_ids)):
            rows = await self.conn.execute(select(_STATIONS.c.id).where(_STATIONS.c.id.in_(chunk)))
            found.update(rows.scalars())
        return found

    async def stored_parts(self, keys: Collection[PartKey]) -> set[PartKey]:
        """The parts among ``keys`` that are stored already."""
        wanted = set(keys)
        found: set[PartKey] = set()
        c = _EVENTS.c
        for chunk in _chunks(sorted(wanted)):
            # Two plain INs (the unique key's leading columns), the pairs sorted out here.
            rows = await self.conn.execute(
                select(c.station_id, c.generated_at, c.seq_no)
                .distinct()
                .where(
                    c.station_id.in_(sorted({k[0] for k in chunk})),
                    c.generated_at.in_(sorted({k[1] for k in chunk})),
                )
            )
            found.update(key for key in map(tuple, rows) if key in wanted)
        return found

    async def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert the rows; one whose part and position are stored already (a copy of the part
        committed meanwhile by another transaction) is left out."""
        if not rows:
            return
        insert_ = _INSERTS[self.conn.dialect.name](_EVENTS).on_conflict_do_nothing(
            index_elements=["station_id", "generated_at", "seq_no", "position"]
        )
        for chunk in _chunks(rows):
            await self.conn.execute(insert_, list(chunk))


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def station_exists(self, station_id: str) -> bool:
        found = await self.session.scalars(select(Station.id).where(Station.id == station_id))
        return found.first() is not None

    async def page(
        self, station_id: str, where: EventFilter, before: PageKey | None, limit: int
    ) -> Sequence[EventRow]:
        """Newest first by the station's clock (then by arrival), after the key ``before``; every
        station's when ``station_id`` is empty."""
        stmt: Select[EventRow] = select(EventRow)
        if station_id:
            stmt = stmt.where(EventRow.station_id == station_id)
        # Names in any case: OCPP 2.0.1's component and variable names are case-insensitive.
        if where.component:
            stmt = stmt.where(equal_in_any_case(EventRow.component_name, where.component))
        if where.variable:
            stmt = stmt.where(equal_in_any_case(EventRow.variable_name, where.variable))
        if where.trigger:
            stmt = stmt.where(EventRow.trigger == where.trigger)
        if where.since is not None:
            stmt = stmt.where(EventRow.timestamp >= where.since)
        if where.until is not None:
            stmt = stmt.where(EventRow.timestamp < where.until)
        if where.max_severity is not None:
            stmt = stmt.where(
                exists().where(
                    MonitorRow.station_id == EventRow.station_id,
                    MonitorRow.id == EventRow.variable_monitoring_id,
                    MonitorRow.severity <= where.max_severity,
                )
            )
        if before is not None:
            timestamp, id_ = before
            stmt = stmt.where(
                or_(
                    EventRow.timestamp < timestamp,
                    and_(EventRow.timestamp == timestamp, EventRow.id < id_),
                )
            )
        stmt = stmt.order_by(EventRow.timestamp.desc(), EventRow.id.desc()).limit(limit)
        return (await self.session.scalars(stmt)).all()
