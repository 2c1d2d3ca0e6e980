"""device_svc use cases: registering stations and recording what they report.

Every method is one transaction, committed before it returns: the gateway answers a station only
after that.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common import pagination
from common.db import utcnow
from common.errors import AlreadyExists, InvalidArgument, NotFound
from device_svc.models import Connector, Station
from device_svc.repository import StationRepository

__all__ = ["Devices", "WRITABLE_FIELDS", "validate_station_id"]

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
)
# OCPP 2.0.1 (Part 2, security): the identity is at most 48 characters, of RFC 3986's
# "unreserved" set (plus ':' and '*', seen in EVSE-ID style identities), since it is a URL path
# segment.
_STATION_ID = re.compile(r"[A-Za-z0-9._~:*-]{1,48}")


def validate_station_id(station_id: str) -> None:
    if not _STATION_ID.fullmatch(station_id):
        raise InvalidArgument("id must be 1 to 48 characters of letters, digits and . _ ~ : * -")


class Devices:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        heartbeat_interval: int,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.heartbeat_interval = heartbeat_interval
        self.clock = clock

    async def create(self, station_id: str, fields: Mapping[str, Any]) -> Station:
        validate_station_id(station_id)
        async with self.sessions.begin() as session:
            repo = StationRepository(session)
            if await repo.get(station_id) is not None:
                raise AlreadyExists(f"charging station {station_id} already exists")
            station = Station(id=station_id, connectors=[], **_writable(fields))
            repo.add(station)
        return station

    async def get(self, station_id: str) -> Station:
        async with self.sessions() as session:
            station = await StationRepository(session).get(station_id)
        if station is None:
            raise NotFound(f"charging station {station_id} not found")
        return station

    async def list(self, size: int, token: str) -> tuple[Sequence[Station], str]:
        limit = pagination.page_size(size)
        (after,) = pagination.decode_token(token) if token else ("",)
        async with self.sessions() as session:
            rows = await StationRepository(session).page(after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, pagination.encode_token(rows[-1].id) if more else ""

    async def update(self, station_id: str, fields: Mapping[str, Any]) -> Station:
        async with self.sessions.begin() as session:
            station = await StationRepository(session).get(station_id, for_update=True)
            if station is None:
                raise NotFound(f"charging station {station_id} not found")
            for name, value in _writable(fields).items():
                setattr(station, name, value)
        return station

    async def delete(self, station_id: str) -> None:
        async with self.sessions.begin() as session:
            if not await StationRepository(session).delete(station_id):
                raise NotFound(f"charging station {station_id} not found")

    async def connect(self, station_id: str, auto_register: bool, gateway: str) -> Station:
        """Mark the station connected under a new epoch; unknown stations only if auto_register."""
        async with self.sessions.begin() as session:
            repo = StationRepository(session)
            station = await repo.get(station_id, for_update=True)
            if station is None:
                if not auto_register:
                    raise NotFound(f"charging station {station_id} is not registered")
                validate_station_id(station_id)
                station = Station(id=station_id, epoch=0, connectors=[])
                repo.add(station)
            station.epoch = (station.epoch or 0) + 1
            station.connected = True
            station.gateway = gateway
        return station

    async def disconnect(self, station_id: str, epoch: int) -> None:
        async with self.sessions.begin() as session:
            await StationRepository(session).disconnect(station_id, epoch)

    async def boot(self, station_id: str, reason: str, reported: Mapping[str, str]) -> bool:
        """Record a boot and what the station says of itself; False if the station is unknown."""
        async with self.sessions.begin() as session:
            station = await StationRepository(session).get(station_id, for_update=True)
            if station is None:
                return False
            station.last_boot_at = self.clock()
            station.boot_reason = reason
            for name, value in reported.items():
                if value:
                    setattr(station, name, value)
        return True

    async def heartbeat(self, station_id: str) -> datetime.datetime:
        now = self.clock()
        async with self.sessions.begin() as session:
            station = await StationRepository(session).get(station_id, for_update=True)
            if station is not None:
                station.last_heartbeat_at = now
        return now

    async def status(
        self,
        station_id: str,
        evse_id: int,
        connector_id: int,
        status: str,
        timestamp: datetime.datetime,
    ) -> None:
        """Store a connector's status unless a newer one (by the station's clock) is stored."""
        async with self.sessions.begin() as session:
            repo = StationRepository(session)
            if await repo.get(station_id) is None:
                raise NotFound(f"charging station {station_id} not found")
            row = await repo.connector(station_id, evse_id, connector_id)
            if row is None:
                repo.add_connector(
                    Connector(
                        station_id=station_id,
                        evse_id=evse_id,
                        connector_id=connector_id,
                        status=status,
                        status_time=timestamp,
                    )
                )
            elif timestamp >= row.status_time:
                row.status, row.status_time = status, timestamp


def _writable(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(WRITABLE_FIELDS)
    if unknown:
        raise InvalidArgument(f"not writable: {', '.join(sorted(unknown))}")
    return dict(fields)
