"""Alerts: the events an operator must see (N07/N08's events of a monitor of severity at or below
``threshold``; OCPP's 0 is the most severe, 9 the least), kept until acknowledged.

An event raises an alert when it names a monitor (variableMonitoringId) the CSMS knows the
station holds (:mod:`.monitors`) and that monitor's severity is at or below the threshold
(device_svc's ``ALERT_SEVERITY``, 2: Danger and above). Events of hard-wired or preconfigured
monitors the CSMS never learnt of raise none (their severity is unknown: a GetMonitoringReport
teaches it). A re-sent NotifyEvent part raises no second alert.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common import pagination
from common.db import insert_new, utcnow
from common.errors import NotFound
from device_svc.monitoring.domain import EventPart
from device_svc.monitoring.models import AlertRow, MonitorRow

__all__ = ["Alerts"]

log = logging.getLogger(__name__)


class Alerts:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        threshold: int = 2,
        clock: Callable[[], datetime.datetime] = utcnow,
        webhook: bool = False,
    ) -> None:
        """``webhook``: an operator's webhook is configured, each new alert is queued for it
        (:mod:`.webhook` delivers them)."""
        self.sessions = sessions
        self.threshold = threshold
        self.clock = clock
        self.webhook = webhook

    async def from_part(self, station_id: str, part: EventPart) -> int:
        """The alerts a NotifyEvent part raises (after it is stored); how many."""
        wanted = {
            e.variable_monitoring_id for e in part.events if e.variable_monitoring_id is not None
        }
        if not wanted:
            return 0
        raised = 0
        async with self.sessions.begin() as session:
            rows = await session.execute(
                select(MonitorRow.id, MonitorRow.severity).where(
                    MonitorRow.station_id == station_id, MonitorRow.id.in_(sorted(wanted))
                )
            )
            severity = {r.id: r.severity for r in rows}
            for e in part.events:
                level = severity.get(e.variable_monitoring_id or -1)
                if level is None or level > self.threshold:
                    continue
                await insert_new(
                    session,
                    AlertRow,
                    {
                        "station_id": station_id,
                        "generated_at": part.generated_at,
                        "seq_no": part.seq_no,
                        "event_id": e.event_id,
                        "timestamp": e.timestamp,
                        "severity": level,
                        "monitor_id": e.variable_monitoring_id,
                        "trigger": e.trigger,
                        "actual_value": e.actual_value,
                        "component_name": e.ref.component,
                        "evse_id": e.ref.evse_id,
                        "variable_name": e.ref.variable,
                        "acknowledged": False,
                        "acknowledged_at": None,
                        "created_at": self.clock(),
                        "webhook_state": "pending" if self.webhook else None,
                        "webhook_attempts": 0,
                        "webhook_next_at": self.clock() if self.webhook else None,
                        "webhook_error": "",
                    },
                )
                raised += 1
        if raised:
            log.warning("%d alerts raised by %s's events", raised, station_id)
        return raised

    async def list_alerts(
        self, station_id: str, acknowledged: bool | None, page_size: int, page_token: str
    ) -> tuple[list[AlertRow], str]:
        """Newest first."""
        size = min(page_size or 50, 1000)
        a = AlertRow
        stmt = select(a).order_by(a.id.desc()).limit(size + 1)
        if page_token:
            stmt = stmt.where(a.id < int(pagination.decode_token(page_token)[0]))
        if station_id:
            stmt = stmt.where(a.station_id == station_id)
        if acknowledged is not None:
            stmt = stmt.where(a.acknowledged.is_(acknowledged))
        async with self.sessions() as session:
            rows = list((await session.scalars(stmt)).all())
        more = len(rows) > size
        return rows[:size], pagination.encode_token(str(rows[size - 1].id)) if more else ""

    async def acknowledge(self, alert_id: int) -> AlertRow:
        async with self.sessions.begin() as session:
            row = await session.get(AlertRow, alert_id)
            if row is None:
                raise NotFound(f"alert {alert_id} not found")
            if not row.acknowledged:
                row.acknowledged, row.acknowledged_at = True, self.clock()
        log.info("alert %d acknowledged", alert_id)
        return row
