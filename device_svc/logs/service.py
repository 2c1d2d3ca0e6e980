"""Block N's logs (N01): GetLog requests, the LogStatusNotifications that follow them, and the
files stations upload to the CSMS.

:meth:`Logs.request` sends a GetLog whose remoteLocation is the CSMS's own upload URL
(``/files/<token>``, :mod:`device_svc.files`), with a requestId of the CSMS's choosing; an
operator's own GetLog command (to a location of theirs) is recorded too, by its hook. Every
LogStatusNotification is kept, in the order received, on the request it names.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import AsyncIterator, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common import pagination
from common.db import upsert, utcnow
from common.errors import FailedPrecondition, InvalidArgument, NotFound
from common.ocpp_json import ocpp_enum_value
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.files.storage import Storage, TooLarge
from device_svc.files.tokens import UPLOAD, FileTokens
from device_svc.logs.models import StationLogRow
from device_svc.models import Station
from device_svc.operations import Operations

__all__ = ["Logs"]

log = logging.getLogger(__name__)

# A GetLog sent, not answered yet.
REQUESTED = "Requested"


class Logs:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        storage: Storage,
        tokens: FileTokens,
        max_log_bytes: int,
        token_seconds: int,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.storage = storage
        self.tokens = tokens
        self.max_log_bytes = max_log_bytes
        self.token_seconds = token_seconds
        self.clock = clock

    def _history(self, row_history: list[dict[str, str]], status: str) -> list[dict[str, str]]:
        return [*row_history, {"status": status, "at": self.clock().isoformat()}]

    async def request(
        self,
        operations: Operations,
        station_id: str,
        request: ocpp.GetLogRequest,
        time_remaining: float | None,
    ) -> tuple[StationLogRow, ocpp.GetLogResponse]:
        """GetLog to the station, uploading to the CSMS (``request``'s requestId and
        remoteLocation are filled in here)."""
        async with self.sessions() as session:
            if await session.get(Station, station_id) is None:
                raise NotFound(f"charging station {station_id} not found")
            last = await session.scalar(
                select(StationLogRow.request_id)
                .where(StationLogRow.station_id == station_id)
                .order_by(StationLogRow.request_id.desc())
                .limit(1)
            )
        request_id = (last or 0) + 1
        url = await self.tokens.issue(
            UPLOAD,
            station_id,
            str(request_id),
            self.clock() + datetime.timedelta(seconds=self.token_seconds),
        )
        request.request_id = request_id
        request.log.remote_location = url
        response = await operations.call("GetLog", station_id, request, time_remaining)
        assert isinstance(response, ocpp.GetLogResponse)
        row = await self.get(station_id, request_id)
        return row, response

    async def announce(self, station_id: str, request: ocpp.GetLogRequest) -> None:
        """A GetLog about to leave: recorded first (its LogStatusNotifications, even its upload,
        may come before its answer reaches us). A requestId used again starts afresh."""
        now = self.clock()
        async with self.sessions.begin() as session:
            old = await session.get(StationLogRow, (station_id, request.request_id))
            await upsert(
                session,
                StationLogRow,
                {
                    "station_id": station_id,
                    "request_id": request.request_id,
                    "log_type": ocpp_enum_value(ocpp.LogEnum, request.log_type)
                    if request.log_type
                    else "",
                    "remote_location": request.log.remote_location[:512],
                    "status": REQUESTED,
                    "history": [],
                    "filename": "",
                    "storage_key": None,
                    "size": 0,
                    "sha256": "",
                    "content_type": "",
                    "requested_at": now,
                    "received_at": None,
                },
                ["station_id", "request_id"],
            )
        if old is not None and old.storage_key:
            await self.storage.delete(old.storage_key)

    async def answered(
        self, station_id: str, request: ocpp.GetLogRequest, response: ocpp.GetLogResponse
    ) -> None:
        """The station's answer to a GetLog (the CSMS's or an operator's)."""
        if not response.status:
            return  # no answer the schema allows: nothing to record
        status = ocpp_enum_value(ocpp.LogStatusEnum, response.status)
        async with self.sessions.begin() as session:
            row = await session.get(StationLogRow, (station_id, request.request_id))
            if row is None:
                return
            if row.status == REQUESTED:
                row.status = status
            # The answer comes first in the history, whatever overtook it on the way.
            row.history = [{"status": status, "at": self.clock().isoformat()}, *row.history]
            if response.HasField("filename") and not row.filename:
                row.filename = response.filename

    async def status_notification(
        self, station_id: str, status: str, request_id: int | None
    ) -> None:
        """A LogStatusNotification: kept on its request (one without a requestId, e.g. Idle to
        a TriggerMessage, on the station's latest request)."""
        async with self.sessions.begin() as session:
            if request_id is None:
                row = await session.scalar(
                    select(StationLogRow)
                    .where(StationLogRow.station_id == station_id)
                    .order_by(StationLogRow.requested_at.desc())
                    .limit(1)
                )
            else:
                row = await session.get(StationLogRow, (station_id, request_id))
            if row is None:
                log.info("LogStatusNotification %s for no known request (%s)", status, request_id)
                return
            row.status = status
            row.history = self._history(list(row.history), status)

    async def receive(
        self,
        token: str,
        chunks: AsyncIterator[tuple[bytes, str]],
    ) -> StationLogRow:
        """A station's upload to a URL of ours: ``chunks`` gives the file's bytes and, with the
        first, its name ("" when it came without one)."""
        grant = await self.tokens.resolve(token, UPLOAD)
        station_id, request_id = grant.station_id, int(grant.subject)
        key = f"logs/{station_id}/{request_id}"
        writer = self.storage.writer(key, self.max_log_bytes)
        filename = ""
        try:
            async for data, name in chunks:
                filename = filename or name
                await writer.write(data)
            stored = await writer.commit()
        except TooLarge:
            await writer.abort()
            raise InvalidArgument(
                f"the log is larger than the limit of {self.max_log_bytes} bytes"
            ) from None
        except BaseException:
            await writer.abort()
            raise
        async with self.sessions.begin() as session:
            row = await session.get(StationLogRow, (station_id, request_id), with_for_update=True)
            if row is None:
                raise NotFound("no such file")
            row.storage_key, row.size, row.sha256 = stored.key, stored.size, stored.sha256
            row.filename = filename or row.filename or f"log-{request_id}.txt"
            row.content_type = "application/octet-stream"
            row.received_at = self.clock()
        await self.tokens.consume(token)
        log.info(
            "%s uploaded log %d: %s, %d bytes", station_id, request_id, row.filename, stored.size
        )
        return row

    async def get(self, station_id: str, request_id: int) -> StationLogRow:
        async with self.sessions() as session:
            row = await session.get(StationLogRow, (station_id, request_id))
        if row is None:
            raise NotFound(f"no log {request_id} of station {station_id}")
        return row

    async def download(self, station_id: str, request_id: int) -> tuple[StationLogRow, str]:
        row = await self.get(station_id, request_id)
        if not row.storage_key:
            raise FailedPrecondition(f"log {request_id} of {station_id} was not uploaded (yet)")
        return row, row.storage_key

    async def list(
        self, station_id: str, page_size: int, page_token: str
    ) -> tuple[list[StationLogRow], str]:
        """Newest request first."""
        size = pagination.page_size(page_size)
        r = StationLogRow
        stmt = select(r).where(r.station_id == station_id).order_by(r.request_id.desc())
        if page_token:
            try:
                before = int(pagination.decode_token(page_token)[0])
            except ValueError:
                raise InvalidArgument("page_token is not one this service issued") from None
            stmt = stmt.where(r.request_id < before)
        async with self.sessions() as session:
            if await session.get(Station, station_id) is None:
                raise NotFound(f"charging station {station_id} not found")
            rows = list((await session.scalars(stmt.limit(size + 1))).all())
        more = len(rows) > size
        return rows[:size], pagination.encode_token(str(rows[size - 1].request_id)) if more else ""
