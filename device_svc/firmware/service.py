"""Block L's use cases: the images the CSMS hosts, the updates stations accepted and the statuses
they report (rollouts: :mod:`.rollouts`)."""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common import pagination
from common.db import upsert, utcnow
from common.errors import FailedPrecondition, InvalidArgument, NotFound
from device_svc.files.storage import Storage, StoredFile, TooLarge
from device_svc.firmware import domain
from device_svc.firmware.models import (
    FirmwareImageRow,
    FirmwareRolloutRow,
    FirmwareStatusRow,
    FirmwareUpdateRow,
    RolloutStationRow,
)
from device_svc.models import Station

__all__ = ["Firmware", "StatusPage"]

log = logging.getLogger(__name__)

PENDING, READY = "pending", "ready"
# An update or log request sent, not answered yet.
REQUESTED = "Requested"


class StatusPage:
    def __init__(
        self, firmware_version: str, status: str, history: list[FirmwareStatusRow], token: str
    ) -> None:
        self.firmware_version = firmware_version
        self.status = status
        self.history = history
        self.next_page_token = token


class Firmware:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        storage: Storage,
        max_image_bytes: int,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.storage = storage
        self.max_image_bytes = max_image_bytes
        self.clock = clock

    # -- images ----------------------------------------------------------------------------------

    async def create_image(
        self, name: str, version: str, signature: str, signing_certificate: str
    ) -> FirmwareImageRow:
        if not name.strip():
            raise InvalidArgument("name is required")
        if len(name) > 200 or len(version) > 50:
            raise InvalidArgument("name: at most 200 characters, version: at most 50")
        if len(signing_certificate) > 5500:
            raise InvalidArgument("signingCertificate: at most 5500 characters (OCPP)")
        if len(signature) > 800:
            raise InvalidArgument("signature: at most 800 characters (OCPP)")
        image_id = str(uuid.uuid4())
        row = FirmwareImageRow(
            id=image_id,
            name=name,
            version=version,
            signature=signature,
            signing_certificate=signing_certificate,
            state=PENDING,
            size=0,
            sha256="",
            md5="",
            content_type="",
            storage_key=f"firmware/{image_id}",
            created_at=self.clock(),
            uploaded_at=None,
        )
        async with self.sessions.begin() as session:
            session.add(row)
        log.info("firmware image %s (%s %s) created", image_id, name, version)
        return row

    async def get_image(self, image_id: str) -> FirmwareImageRow:
        async with self.sessions() as session:
            row = await session.get(FirmwareImageRow, image_id)
        if row is None:
            raise NotFound(f"firmware image {image_id} not found")
        return row

    async def list_images(
        self, page_size: int, page_token: str
    ) -> tuple[list[FirmwareImageRow], str]:
        size = pagination.page_size(page_size)
        i = FirmwareImageRow
        stmt = select(i).order_by(i.id).limit(size + 1)
        if page_token:
            stmt = stmt.where(i.id > pagination.decode_token(page_token)[0])
        async with self.sessions() as session:
            rows = list((await session.scalars(stmt)).all())
        more = len(rows) > size
        return rows[:size], pagination.encode_token(rows[size - 1].id) if more else ""

    async def upload_image(
        self, image_id: str, chunks: AsyncIterator[bytes], content_type: str
    ) -> FirmwareImageRow:
        """Store the image's content (once: an image never changes, upload a new one)."""
        image = await self.get_image(image_id)
        if image.state != PENDING:
            raise FailedPrecondition(
                f"firmware image {image_id} has its content already: create a new image"
            )
        writer = self.storage.writer(image.storage_key, self.max_image_bytes)
        try:
            async for chunk in chunks:
                await writer.write(chunk)
            stored: StoredFile = await writer.commit()
        except TooLarge:
            await writer.abort()
            raise InvalidArgument(
                f"the image is larger than the limit of {self.max_image_bytes} bytes "
                "(CSMS_DEVICE_MAX_FIRMWARE_BYTES)"
            ) from None
        except BaseException:
            await writer.abort()
            raise
        if stored.size == 0:
            raise InvalidArgument("the image is empty")
        async with self.sessions.begin() as session:
            row = await session.get(FirmwareImageRow, image_id, with_for_update=True)
            if row is None:
                raise NotFound(f"firmware image {image_id} not found")
            row.state, row.size, row.sha256 = READY, stored.size, stored.sha256
            row.md5 = stored.md5
            row.content_type = content_type or "application/octet-stream"
            row.uploaded_at = self.clock()
        log.info(
            "firmware image %s uploaded: %d bytes, sha256 %s", image_id, stored.size, stored.sha256
        )
        return row

    async def delete_image(self, image_id: str) -> None:
        async with self.sessions.begin() as session:
            row = await session.get(FirmwareImageRow, image_id)
            if row is None:
                raise NotFound(f"firmware image {image_id} not found")
            running = await session.scalar(
                select(FirmwareRolloutRow.id).where(
                    FirmwareRolloutRow.image_id == image_id,
                    FirmwareRolloutRow.state == "running",
                )
            )
            if running is not None:
                raise FailedPrecondition(
                    f"firmware image {image_id} is being rolled out ({running}): cancel it first"
                )
            await session.delete(row)
        await self.storage.delete(row.storage_key)
        log.info("firmware image %s deleted", image_id)

    async def ready_image(self, image_id: str) -> FirmwareImageRow:
        image = await self.get_image(image_id)
        if image.state != READY:
            raise FailedPrecondition(f"firmware image {image_id} has no content yet")
        return image

    # -- updates and statuses ------------------------------------------------------------------

    async def announce_update(self, station_id: str, request_id: int, location: str) -> None:
        """An UpdateFirmware about to leave: recorded first (its statuses may come before its
        answer reaches us). A requestId used again starts afresh."""
        now = self.clock()
        async with self.sessions.begin() as session:
            await upsert(
                session,
                FirmwareUpdateRow,
                {
                    "station_id": station_id,
                    "request_id": request_id,
                    "location": location[:512],
                    "image_id": None,
                    "rollout_id": None,
                    "status": REQUESTED,
                    "created_at": now,
                    "updated_at": now,
                },
                ["station_id", "request_id"],
            )

    async def answered_update(
        self,
        station_id: str,
        request_id: int,
        answer: str,
        image_id: str | None = None,
        rollout_id: str | None = None,
    ) -> None:
        """The station's answer (OCPP's words), unless a status of it came first.

        AcceptedCanceled: the station took this request and dropped the one it was busy with
        (L01.FR.24): every other update of the station still under way is Canceled, and fails
        in its rollout."""
        now = self.clock()
        async with self.sessions.begin() as session:
            row = await session.get(FirmwareUpdateRow, (station_id, request_id))
            if row is not None:
                if row.status == REQUESTED:
                    row.status, row.updated_at = answer, now
                if image_id is not None:
                    row.image_id, row.rollout_id = image_id, rollout_id
            if answer != domain.ACCEPTED_CANCELED:
                return
            others = (
                await session.scalars(
                    select(FirmwareUpdateRow).where(
                        FirmwareUpdateRow.station_id == station_id,
                        FirmwareUpdateRow.request_id != request_id,
                        FirmwareUpdateRow.status.not_in(domain.FINAL_STATUSES),
                    )
                )
            ).all()
            for other in others:
                other.status, other.updated_at = domain.CANCELED, now
            dropped = (
                await session.scalars(
                    select(RolloutStationRow).where(
                        RolloutStationRow.station_id == station_id,
                        RolloutStationRow.request_id != request_id,
                        RolloutStationRow.state.in_(("sending", "sent")),
                    )
                )
            ).all()
            for station in dropped:
                station.state, station.updated_at = "failed", now
                station.detail = f"canceled by the station for UpdateFirmware {request_id}"
                log.warning("rollout %s: %s's update canceled", station.rollout_id, station_id)

    @staticmethod
    async def next_request_id(session: AsyncSession, station_id: str) -> int:
        """A requestId this station's updates have not used (in the caller's transaction)."""
        used = await session.scalar(
            select(FirmwareUpdateRow.request_id)
            .where(FirmwareUpdateRow.station_id == station_id)
            .order_by(FirmwareUpdateRow.request_id.desc())
            .limit(1)
        )
        in_rollouts = await session.scalar(
            select(RolloutStationRow.request_id)
            .where(
                RolloutStationRow.station_id == station_id,
                RolloutStationRow.request_id.is_not(None),
            )
            .order_by(RolloutStationRow.request_id.desc())
            .limit(1)
        )
        published = await session.scalar(
            select(FirmwareStatusRow.request_id)
            .where(
                FirmwareStatusRow.station_id == station_id,
                FirmwareStatusRow.request_id.is_not(None),
            )
            .order_by(FirmwareStatusRow.request_id.desc())
            .limit(1)
        )
        return max(used or 0, in_rollouts or 0, published or 0) + 1

    async def status_notification(
        self, station_id: str, status: str, request_id: int | None
    ) -> None:
        """A FirmwareStatusNotification: kept, its update's status set, its rollout told."""
        now = self.clock()
        async with self.sessions.begin() as session:
            session.add(
                FirmwareStatusRow(
                    station_id=station_id,
                    kind="update",
                    status=status,
                    request_id=request_id,
                    locations=[],
                    received_at=now,
                )
            )
            if request_id is None and status != "Idle":
                request_id = await self._last_update(session, station_id)
            if request_id is None:
                if status == "Idle":
                    await self._idle_when_asked(session, station_id, now)
                return
            await session.execute(
                update(FirmwareUpdateRow)
                .where(
                    FirmwareUpdateRow.station_id == station_id,
                    FirmwareUpdateRow.request_id == request_id,
                )
                .values(status=status, updated_at=now)
            )
            rows = (
                await session.scalars(
                    select(RolloutStationRow).where(
                        RolloutStationRow.station_id == station_id,
                        RolloutStationRow.request_id == request_id,
                    )
                )
            ).all()
            for row in rows:
                row.firmware_status = status
                state = domain.station_state_after(row.state, status)
                if state != row.state:
                    log.info("rollout %s: %s %s (%s)", row.rollout_id, station_id, state, status)
                    row.state = state
                    row.detail = "" if state != "failed" else f"the station reported {status}"
                row.updated_at = now

    @staticmethod
    async def _idle_when_asked(
        session: AsyncSession, station_id: str, now: datetime.datetime
    ) -> None:
        """Idle from a station asked whether it got its rollout's request (rollouts: checking).

        A 2.0.1 station busy with an update says so with that update's requestId, so Idle
        means the request never reached it: to be sent again. A 1.6 station's Idle means only
        that it is not busy with firmware now (1.6 has no requestId; its triggered status is
        Idle once an update is done, or before a retrieveDate to come). So for a 1.6 station:
        a request never announced (recorded before it leaves, :meth:`announce_update`) never
        left: sent again; one the station booted with the image's version since: installed;
        else it may have it (installed, its Installed lost while device_svc was down, or still
        to come): not sent again, followed as a station that has its request (its statuses, or
        the rollout's station timeout, tell how it ends)."""
        rows = (
            await session.scalars(
                select(RolloutStationRow).where(
                    RolloutStationRow.station_id == station_id,
                    RolloutStationRow.state == "checking",
                )
            )
        ).all()
        if not rows:
            return
        station = await session.get(Station, station_id)
        for row in rows:
            row.updated_at = now
            announced = None
            if row.request_id is not None:
                announced = await session.get(FirmwareUpdateRow, (station_id, row.request_id))
            if station is None or station.protocol != "ocpp1.6" or announced is None:
                row.state = "waiting"
                continue
            version = await session.scalar(
                select(FirmwareImageRow.version)
                .join(FirmwareRolloutRow, FirmwareRolloutRow.image_id == FirmwareImageRow.id)
                .where(FirmwareRolloutRow.id == row.rollout_id)
            )
            booted = (
                station.last_boot_at is not None and station.last_boot_at >= announced.created_at
            )
            if version and booted and station.firmware_version == version:
                row.state, row.firmware_status = "installed", domain.INSTALLED
                row.detail = f"booted with firmware {version} since its request"
                log.info(
                    "rollout %s: %s installed (booted with %s)", row.rollout_id, station_id, version
                )
            else:
                row.state, row.sent_at = "sent", now
                log.info(
                    "rollout %s: %s (OCPP 1.6) idle: followed as having its request",
                    row.rollout_id,
                    station_id,
                )

    @staticmethod
    async def _last_update(session: AsyncSession, station_id: str) -> int | None:
        """The requestId a FirmwareStatusNotification without one is about: an OCPP 1.6
        station's never has one (2.0.1's has one whenever the status is not Idle), and it works
        on the update it was sent last (a new UpdateFirmware replaces the one before): the
        later of a rollout's request still under way (sending, checking, sent: its answer may
        never have been heard, see rollouts) and the station's last accepted update."""
        rollout = (
            await session.execute(
                select(RolloutStationRow.request_id, RolloutStationRow.sent_at)
                .where(
                    RolloutStationRow.station_id == station_id,
                    RolloutStationRow.state.in_(("sending", "checking", "sent")),
                    RolloutStationRow.request_id.is_not(None),
                    RolloutStationRow.sent_at.is_not(None),
                )
                .order_by(RolloutStationRow.sent_at.desc())
                .limit(1)
            )
        ).first()
        last = (
            await session.execute(
                select(FirmwareUpdateRow.request_id, FirmwareUpdateRow.created_at)
                .where(FirmwareUpdateRow.station_id == station_id)
                .order_by(FirmwareUpdateRow.created_at.desc(), FirmwareUpdateRow.request_id.desc())
                .limit(1)
            )
        ).first()
        if rollout is not None and (last is None or rollout.sent_at >= last.created_at):
            return int(rollout.request_id)
        return None if last is None else int(last.request_id)

    async def publish_status_notification(
        self, station_id: str, status: str, locations: Sequence[str], request_id: int | None
    ) -> None:
        async with self.sessions.begin() as session:
            session.add(
                FirmwareStatusRow(
                    station_id=station_id,
                    kind="publish",
                    status=status,
                    request_id=request_id,
                    locations=list(locations),
                    received_at=self.clock(),
                )
            )

    async def security_event(self, station_id: str, event_type: str) -> None:
        """InvalidFirmwareSignature / InvalidFirmwareSigningCertificate: the station's update in a
        running rollout failed for that reason."""
        if event_type not in domain.FIRMWARE_SECURITY_EVENTS:
            return
        async with self.sessions.begin() as session:
            rows = (
                await session.scalars(
                    select(RolloutStationRow)
                    .join(
                        FirmwareRolloutRow,
                        FirmwareRolloutRow.id == RolloutStationRow.rollout_id,
                    )
                    .where(
                        RolloutStationRow.station_id == station_id,
                        RolloutStationRow.state.in_(("sending", "sent")),
                        FirmwareRolloutRow.state == "running",
                    )
                )
            ).all()
            for row in rows:
                row.state, row.detail = "failed", f"security event {event_type}"
                row.updated_at = self.clock()
                log.warning("rollout %s: %s failed: %s", row.rollout_id, station_id, event_type)

    async def status_page(self, station_id: str, page_size: int, page_token: str) -> StatusPage:
        size = pagination.page_size(page_size)
        f = FirmwareStatusRow
        stmt = select(f).where(f.station_id == station_id).order_by(f.id.desc()).limit(size + 1)
        if page_token:
            try:
                before = int(pagination.decode_token(page_token)[0])
            except ValueError:
                raise InvalidArgument("page_token is not one this service issued") from None
            stmt = stmt.where(f.id < before)
        async with self.sessions() as session:
            station = await session.get(Station, station_id)
            if station is None:
                raise NotFound(f"charging station {station_id} not found")
            rows = list((await session.scalars(stmt)).all())
            latest = await session.scalar(
                select(f.status)
                .where(f.station_id == station_id, f.kind == "update")
                .order_by(f.id.desc())
                .limit(1)
            )
        more = len(rows) > size
        return StatusPage(
            station.firmware_version,
            latest or "Idle",
            rows[:size],
            pagination.encode_token(str(rows[size - 1].id)) if more else "",
        )
