"""Variable monitors (N04, N05, N02): what each station watches, as the CSMS knows it, kept from
the answers to the CSMS's monitoring commands and from the station's NotifyMonitoringReport
parts; one database transaction each. :class:`MonitorHooks` is its part in device_svc's
commands (:class:`device_svc.operations.Hooks`).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import upsert, utcnow
from common.errors import InvalidArgument
from common.ocpp_json import to_ocpp
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.monitoring.models import MonitoringReportRow, MonitorRow
from device_svc.monitoring.monitors_domain import (
    MonitorCriteria,
    StoredMonitor,
    clears_custom_monitors,
    stale_after_report,
)

__all__ = ["MonitorHooks", "Monitors"]

log = logging.getLogger(__name__)

JSON = Mapping[str, Any]
CSMS = "CSMS"
STATION = "Station"


def _stored(row: MonitorRow) -> StoredMonitor:
    return StoredMonitor(
        row.id, row.component, row.variable, row.type, row.updated_at, row.reported_by
    )


class Monitors:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.clock = clock

    async def _put(
        self,
        session: AsyncSession,
        station_id: str,
        monitor: JSON,
        component: JSON,
        variable: JSON,
        source: str,
        reported_by: int | None = None,
    ) -> None:
        await upsert(
            session,
            MonitorRow,
            {
                "station_id": station_id,
                "id": int(monitor["id"]),
                "component": dict(component),
                "variable": dict(variable),
                "type": str(monitor.get("type", "")),
                "value": float(monitor.get("value", 0)),
                "severity": int(monitor.get("severity", 0)),
                "transaction": bool(monitor.get("transaction", False)),
                "source": source,
                "reported_by": reported_by,
                "updated_at": self.clock(),
            },
            ["station_id", "id"],
        )

    async def accepted(self, station_id: str, request: JSON, response: JSON) -> int:
        """SetVariableMonitoring's Accepted results: kept (the value and transaction flag from
        the request's entry of the same place, which the result does not repeat)."""
        asked = list(request.get("setMonitoringData") or [])
        results = list(response.get("setMonitoringResult") or [])
        kept = 0
        async with self.sessions.begin() as session:
            for i, result in enumerate(results):
                if result.get("status") != "Accepted" or "id" not in result:
                    continue
                entry = asked[i] if i < len(asked) and len(asked) == len(results) else {}
                monitor = {
                    **entry,
                    **{k: result[k] for k in ("id", "type", "severity") if k in result},
                }
                await self._put(
                    session,
                    station_id,
                    monitor,
                    result.get("component") or entry.get("component") or {},
                    result.get("variable") or entry.get("variable") or {},
                    CSMS,
                )
                kept += 1
        return kept

    async def cleared(self, station_id: str, response: JSON) -> None:
        """ClearVariableMonitoring's results: Accepted and NotFound ids are gone."""
        gone = [
            int(r["id"])
            for r in response.get("clearMonitoringResult") or []
            if r.get("status") in ("Accepted", "NotFound")
        ]
        if gone:
            async with self.sessions.begin() as session:
                await session.execute(
                    delete(MonitorRow).where(
                        MonitorRow.station_id == station_id, MonitorRow.id.in_(gone)
                    )
                )

    async def forget_custom(self, station_id: str) -> None:
        """The station cleared its custom monitors (SetMonitoringBase HardWiredOnly accepted):
        the ones the CSMS set are gone. Those it learnt from a report stay: it cannot tell a
        hard-wired one from a custom one there (the next report says)."""
        async with self.sessions.begin() as session:
            await session.execute(
                delete(MonitorRow).where(
                    MonitorRow.station_id == station_id, MonitorRow.source == CSMS
                )
            )
        log.info("%s cleared its custom monitors (HardWiredOnly)", station_id)

    async def expect_report(self, station_id: str, request: JSON) -> None:
        criteria = MonitorCriteria.of_request(request)
        async with self.sessions.begin() as session:
            await upsert(
                session,
                MonitoringReportRow,
                {
                    "station_id": station_id,
                    "request_id": int(request.get("requestId", 0)),
                    "criteria": criteria.as_json(),
                    "requested_at": self.clock(),
                },
                ["station_id", "request_id"],
            )

    async def report(self, station_id: str, part: JSON) -> int:
        """A NotifyMonitoringReport part: its monitors kept; the last part (tbc false) removes
        the ones its request asked for that no part listed. Returns how many it listed."""
        request_id = part.get("requestId")
        if not isinstance(request_id, int):
            raise InvalidArgument("requestId is required")
        listed: list[int] = []
        async with self.sessions.begin() as session:
            for data in part.get("monitor") or []:
                for monitor in data.get("variableMonitoring") or []:
                    await self._put(
                        session,
                        station_id,
                        monitor,
                        data.get("component") or {},
                        data.get("variable") or {},
                        STATION,
                        reported_by=request_id,
                    )
                    listed.append(int(monitor["id"]))
        if not part.get("tbc", False):
            await self.finish(station_id, request_id, listed)
        return len(listed)

    async def finish(self, station_id: str, request_id: int, listed: list[int]) -> list[int]:
        async with self.sessions.begin() as session:
            report = await session.get(MonitoringReportRow, (station_id, request_id))
            if report is None:
                return []
            criteria = MonitorCriteria(
                tuple(report.criteria.get("componentVariable") or ()),
                tuple(report.criteria.get("monitoringCriteria") or ()),
            )
            rows = (
                await session.scalars(select(MonitorRow).where(MonitorRow.station_id == station_id))
            ).all()
            stale = stale_after_report(
                [_stored(r) for r in rows], criteria, request_id, report.requested_at, listed
            )
            if stale:
                await session.execute(
                    delete(MonitorRow).where(
                        MonitorRow.station_id == station_id, MonitorRow.id.in_(stale)
                    )
                )
            await session.delete(report)
        if stale:
            log.info("monitors %s are gone from the station", stale)
        return stale

    async def list(self, station_id: str) -> list[MonitorRow]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(MonitorRow)
                .where(MonitorRow.station_id == station_id)
                .order_by(MonitorRow.id)
            )
            return list(rows.all())


class MonitorHooks:
    """Block N's part in SetVariableMonitoring, ClearVariableMonitoring, GetMonitoringReport and
    SetMonitoringBase."""

    def __init__(self, monitors: Monitors) -> None:
        self.monitors = monitors
        self.before: Mapping[str, Callable[[str, Any], Awaitable[None]]] = {
            "GetMonitoringReport": self._announce,
        }
        self.learn: Mapping[str, Callable[[str, Any, Any], Awaitable[None]]] = {
            "SetVariableMonitoring": self._set,
            "ClearVariableMonitoring": self._cleared,
            "GetMonitoringReport": self._none,
            "SetMonitoringBase": self._base,
        }

    async def _announce(self, station_id: str, request: ocpp.GetMonitoringReportRequest) -> None:
        await self.monitors.expect_report(station_id, to_ocpp(request))

    async def _set(self, station_id: str, request: Any, response: Any) -> None:
        await self.monitors.accepted(station_id, to_ocpp(request), to_ocpp(response))

    async def _cleared(self, station_id: str, request: Any, response: Any) -> None:
        await self.monitors.cleared(station_id, to_ocpp(response))

    async def _base(self, station_id: str, request: Any, response: Any) -> None:
        if to_ocpp(response).get("status") == "Accepted" and clears_custom_monitors(
            str(to_ocpp(request).get("monitoringBase", ""))
        ):
            await self.monitors.forget_custom(station_id)

    async def _none(
        self,
        station_id: str,
        request: ocpp.GetMonitoringReportRequest,
        response: ocpp.GetMonitoringReportResponse,
    ) -> None:
        if to_ocpp(response).get("status") == "EmptyResultSet":
            await self.monitors.finish(station_id, request.request_id, [])
