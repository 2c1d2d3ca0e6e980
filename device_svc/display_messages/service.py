"""Block O's use cases: what a station shows, kept from the answers to the CSMS's commands and
from the station's reports; one database transaction each."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import utcnow
from common.errors import InvalidArgument
from device_svc.display_messages.domain import (
    CSMS,
    STATION,
    Criteria,
    StoredMessage,
    check_message,
    stale_after_report,
)
from device_svc.display_messages.repository import DisplayMessageRepository

__all__ = ["DisplayMessages"]

log = logging.getLogger(__name__)

JSON = Mapping[str, Any]


class DisplayMessages:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.clock = clock

    # -- around the commands ---------------------------------------------------------------------

    def check(self, request: JSON) -> None:
        """Before a SetDisplayMessage leaves (its schema is checked already)."""
        check_message(request.get("message") or {})

    async def accepted(self, station_id: str, info: JSON) -> None:
        """The station Accepted a SetDisplayMessage: it shows ``info`` (a message of the same id
        replaced)."""
        async with self.sessions.begin() as session:
            await DisplayMessageRepository(session).put(station_id, dict(info), CSMS, self.clock())
        log.info("display message %s kept", info.get("id"))

    async def cleared(self, station_id: str, message_id: int) -> None:
        """The station cleared the message, or did not know it (Unknown): it has it no more."""
        async with self.sessions.begin() as session:
            await DisplayMessageRepository(session).delete(station_id, [message_id])

    async def expect_report(self, station_id: str, request: JSON) -> None:
        """Before a GetDisplayMessages leaves: its parts will reconcile by its criteria."""
        criteria = Criteria.of_request(request)
        async with self.sessions.begin() as session:
            await DisplayMessageRepository(session).expect_report(
                station_id, int(request.get("requestId", 0)), criteria.as_json(), self.clock()
            )

    async def none_reported(self, station_id: str, request_id: int) -> list[int]:
        """The station answered Unknown (no message matches, O02): the stored ones the request
        asked for are gone; returns their ids."""
        return await self._finish(station_id, request_id, [])

    async def report(self, station_id: str, part: JSON) -> int:
        """A NotifyDisplayMessages part: its messages kept as the station's; the last part
        (tbc false) removes the ones the request asked for that no part listed. Returns how
        many messages the part listed."""
        request_id = part.get("requestId")
        if not isinstance(request_id, int):
            raise InvalidArgument("requestId is required")
        infos = list(part.get("messageInfo") or [])
        now = self.clock()
        async with self.sessions.begin() as session:
            repo = DisplayMessageRepository(session)
            for info in infos:
                await repo.put(station_id, dict(info), STATION, now, reported_by=request_id)
        if not part.get("tbc", False):
            await self._finish(station_id, request_id, [int(i["id"]) for i in infos])
        return len(infos)

    async def _finish(self, station_id: str, request_id: int, listed: list[int]) -> list[int]:
        async with self.sessions.begin() as session:
            repo = DisplayMessageRepository(session)
            report = await repo.report(station_id, request_id)
            if report is None:  # Nobody asked (or not through us): a report only adds.
                return []
            criteria = Criteria(
                ids=tuple(report.criteria.get("id") or ()),
                priority=report.criteria.get("priority"),
                state=report.criteria.get("state"),
            )
            stale = stale_after_report(
                await repo.messages(station_id), criteria, request_id, report.requested_at, listed
            )
            await repo.delete(station_id, stale)
            await repo.end_report(station_id, request_id)
        if stale:
            log.info("display messages %s are gone from the station", stale)
        return stale

    # -- reads -----------------------------------------------------------------------------------

    async def list(
        self, station_id: str, priority: str | None, state: str | None
    ) -> list[StoredMessage]:
        criteria = Criteria(priority=priority, state=state)
        async with self.sessions() as session:
            messages = await DisplayMessageRepository(session).messages(station_id)
        return [m for m in messages if criteria.matches(m)]
