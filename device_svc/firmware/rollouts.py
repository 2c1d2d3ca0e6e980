"""Firmware rollouts: one hosted image to many stations, in waves (rules: :mod:`.domain`).

A worker in device_svc looks at every running rollout each ``tick`` seconds and does what
:func:`domain.plan` says. Everything it knows is in the database, so a rollout goes on where it
was after device_svc restarts. A station whose UpdateFirmware was about to leave ("sending") may
or may not have got it: it is asked (TriggerMessage FirmwareStatusNotification, "checking"); a
status of that requestId says it did, Idle that it did not, and silence for
:data:`domain.CHECK_SECONDS` sends the request again, with the same requestId. So no station is
sent an update twice because device_svc died. Each UpdateFirmware carries a URL of the CSMS's own
(``/files/<token>``, valid until ``retrieveDateTime`` + the token lifetime), the image's
signature and signing certificate, and the rollout's retries and retryInterval.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common import pagination
from common.db import utcnow
from common.errors import CsmsError, FailedPrecondition, InvalidArgument, NotFound
from common.ocpp_json import ocpp_enum_value
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.files.tokens import DOWNLOAD, FileTokens
from device_svc.firmware import domain
from device_svc.firmware.models import FirmwareRolloutRow, RolloutStationRow
from device_svc.firmware.service import Firmware
from device_svc.models import Station
from device_svc.operations import GatewayError, Operations
from device_svc.service import is_reachable

__all__ = ["MAX_STATIONS", "RolloutSpec", "Rollouts"]

log = logging.getLogger(__name__)

# A call's errors that mean the station was not reached (or did not answer).
_OFFLINE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})

#: Stations one rollout reaches at most.
MAX_STATIONS = 10_000


@dataclass(frozen=True, slots=True)
class _Send:
    """What each station's UpdateFirmware carries of its rollout."""

    image_id: str
    retries: int | None
    retry_interval: int | None
    retrieve_at: datetime.datetime | None
    install_at: datetime.datetime | None


@dataclass(frozen=True, slots=True)
class RolloutSpec:
    image_id: str
    station_ids: Sequence[str]
    wave_size: int = 0
    wave_pause_seconds: int = 0
    max_failure_ratio: float = 0.0
    retries: int | None = None
    retry_interval: int | None = None
    station_timeout_seconds: int = 3600
    retrieve_at: datetime.datetime | None = None
    install_at: datetime.datetime | None = None


class Rollouts:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        firmware: Firmware,
        tokens: FileTokens,
        operations: Operations,
        token_seconds: int,
        tick: float = 1.0,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.firmware = firmware
        self.tokens = tokens
        self.operations = operations
        self.token_seconds = token_seconds
        self.tick = tick
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # -- the operator's side ---------------------------------------------------------------------

    async def create(self, spec: RolloutSpec) -> tuple[FirmwareRolloutRow, list[RolloutStationRow]]:
        problem = domain.validate_rollout(
            spec.station_ids,
            spec.wave_size,
            spec.wave_pause_seconds,
            spec.max_failure_ratio,
            spec.station_timeout_seconds,
            MAX_STATIONS,
        )
        if problem:
            raise InvalidArgument(problem)
        if (spec.retries is not None and spec.retries < 0) or (
            spec.retry_interval is not None and spec.retry_interval < 0
        ):
            raise InvalidArgument("retries and retryInterval must not be negative")
        await self.firmware.ready_image(spec.image_id)
        now = self.clock()
        wave_size = spec.wave_size or len(spec.station_ids)
        rollout = FirmwareRolloutRow(
            id=str(uuid.uuid4()),
            image_id=spec.image_id,
            wave_size=wave_size,
            wave_pause_seconds=spec.wave_pause_seconds,
            max_failure_ratio=spec.max_failure_ratio,
            retries=spec.retries,
            retry_interval=spec.retry_interval,
            station_timeout_seconds=spec.station_timeout_seconds,
            retrieve_at=spec.retrieve_at,
            install_at=spec.install_at,
            state="running",
            halt_reason="",
            wave_done_at=None,
            created_at=now,
            updated_at=now,
        )
        stations = [
            RolloutStationRow(
                rollout_id=rollout.id,
                station_id=station_id,
                position=i,
                wave=i // wave_size,
                state="waiting",
                firmware_status="",
                request_id=None,
                detail="",
                sent_at=None,
                updated_at=now,
            )
            for i, station_id in enumerate(spec.station_ids)
        ]
        async with self.sessions.begin() as session:
            known = set(
                (
                    await session.scalars(
                        select(Station.id).where(Station.id.in_(list(spec.station_ids)))
                    )
                ).all()
            )
            unknown = [s for s in spec.station_ids if s not in known]
            if unknown:
                raise InvalidArgument(f"stationIds: unknown station(s) {', '.join(unknown[:10])}")
            session.add(rollout)
            session.add_all(stations)
        log.info(
            "rollout %s of image %s to %d stations in waves of %d",
            rollout.id,
            spec.image_id,
            len(stations),
            wave_size,
        )
        self._wake.set()
        return rollout, stations

    async def get(self, rollout_id: str) -> tuple[FirmwareRolloutRow, list[RolloutStationRow]]:
        async with self.sessions() as session:
            rollout = await session.get(FirmwareRolloutRow, rollout_id)
            if rollout is None:
                raise NotFound(f"firmware rollout {rollout_id} not found")
            stations = await self._stations(session, rollout_id)
        return rollout, stations

    async def page(
        self, page_size: int, page_token: str
    ) -> tuple[list[tuple[FirmwareRolloutRow, list[RolloutStationRow]]], str]:
        size = pagination.page_size(page_size)
        r = FirmwareRolloutRow
        stmt = select(r).order_by(r.created_at.desc(), r.id).limit(size + 1)
        if page_token:
            key = pagination.decode_token(page_token)
            try:
                at, rid = datetime.datetime.fromisoformat(key[0]), key[1]
            except (ValueError, IndexError):
                raise InvalidArgument("page_token is not one this service issued") from None
            stmt = stmt.where((r.created_at < at) | ((r.created_at == at) & (r.id > rid)))
        async with self.sessions() as session:
            rows = list((await session.scalars(stmt)).all())
            more = len(rows) > size
            rows = rows[:size]
            out = [(row, await self._stations(session, row.id)) for row in rows]
        token = (
            pagination.encode_token(rows[-1].created_at.isoformat(), rows[-1].id) if more else ""
        )
        return out, token

    async def cancel(self, rollout_id: str) -> tuple[FirmwareRolloutRow, list[RolloutStationRow]]:
        """Nothing more is sent (updates under way on stations go on: OCPP has no way to stop
        one but a new UpdateFirmware)."""
        async with self.sessions.begin() as session:
            rollout = await session.get(FirmwareRolloutRow, rollout_id, with_for_update=True)
            if rollout is None:
                raise NotFound(f"firmware rollout {rollout_id} not found")
            if rollout.state in ("completed", "cancelled"):
                raise FailedPrecondition(f"firmware rollout {rollout_id} is {rollout.state}")
            rollout.state, rollout.updated_at = "cancelled", self.clock()
        log.info("rollout %s cancelled", rollout_id)
        return await self.get(rollout_id)

    @staticmethod
    async def _stations(session: AsyncSession, rollout_id: str) -> list[RolloutStationRow]:
        return list(
            (
                await session.scalars(
                    select(RolloutStationRow)
                    .where(RolloutStationRow.rollout_id == rollout_id)
                    .order_by(RolloutStationRow.position)
                )
            ).all()
        )

    # -- one image to a local controller (L03) --------------------------------------------------

    async def publish(
        self,
        image_id: str,
        station_id: str,
        retries: int | None,
        retry_interval: int | None,
        time_remaining: float | None,
    ) -> tuple[int, ocpp.PublishFirmwareResponse]:
        """PublishFirmware of a hosted image: a download URL of the CSMS's own for that station,
        the image's MD5 as checksum, a requestId of the CSMS's; the station's answer (its
        PublishFirmwareStatusNotifications are kept like any)."""
        image = await self.firmware.ready_image(image_id)
        if not image.md5:
            raise FailedPrecondition(
                f"firmware image {image_id} has no MD5 (uploaded before the CSMS kept them): "
                "upload it again as a new image"
            )
        async with self.sessions() as session:
            request_id = await self.firmware.next_request_id(session, station_id)
        location = await self.tokens.issue(
            DOWNLOAD,
            station_id,
            image_id,
            self.clock() + datetime.timedelta(seconds=self.token_seconds),
        )
        request = ocpp.PublishFirmwareRequest(
            location=location, checksum=image.md5, request_id=request_id
        )
        if retries is not None:
            request.retries = retries
        if retry_interval is not None:
            request.retry_interval = retry_interval
        response = await self.operations.call(
            "PublishFirmware", station_id, request, time_remaining
        )
        assert isinstance(response, ocpp.PublishFirmwareResponse)
        log.info("image %s published to %s (request %d)", image_id, station_id, request_id)
        return request_id, response

    # -- the worker ------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="firmware-rollouts")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        await self._resume()
        while True:
            running = 1
            try:
                running = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("firmware rollouts: step failed (next one in %s s)", self.tick)
            if running:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.tick)
                except TimeoutError:
                    pass
            else:
                # No rollout runs: nothing to look at (not even the database) until one is
                # created (rollouts are created here, in the one device_svc).
                await self._wake.wait()
            self._wake.clear()

    async def _resume(self) -> None:
        """After a restart: each station whose request was about to leave is asked whether it
        got it (see the module docstring)."""
        now = self.clock()
        async with self.sessions() as session:
            sending = await session.scalar(
                select(RolloutStationRow.rollout_id)
                .where(RolloutStationRow.state == "sending")
                .limit(1)
            )
        if sending is None:
            return  # (the common case: no write at start-up)
        async with self.sessions.begin() as session:
            rows = (
                await session.scalars(
                    select(RolloutStationRow).where(RolloutStationRow.state == "sending")
                )
            ).all()
            for row in rows:
                row.state, row.sent_at, row.updated_at = "checking", now, now
            asking = [row.station_id for row in rows]
        if asking:
            log.info(
                "firmware rollouts: asking %d stations whether they got their request", len(asking)
            )
        for station_id in asking:
            request = ocpp.TriggerMessageRequest(
                requested_message=ocpp.MESSAGE_TRIGGER_FIRMWARE_STATUS_NOTIFICATION
            )
            try:
                await self.operations.call("TriggerMessage", station_id, request, 10.0)
            except (GatewayError, CsmsError) as exc:
                log.info(
                    "%s not asked (%s): its request goes again after the check time",
                    station_id,
                    exc,
                )

    async def step(self) -> int:
        """One look at every running rollout; how many run."""
        async with self.sessions() as session:
            running = list(
                (
                    await session.scalars(
                        select(FirmwareRolloutRow.id).where(FirmwareRolloutRow.state == "running")
                    )
                ).all()
            )
        for rollout_id in running:
            await self._step_one(rollout_id)
        return len(running)

    async def _step_one(self, rollout_id: str) -> None:
        now = self.clock()
        async with self.sessions.begin() as session:
            rollout = await session.get(FirmwareRolloutRow, rollout_id, with_for_update=True)
            if rollout is None or rollout.state != "running":
                return
            stations = await self._stations(session, rollout_id)
            connected = frozenset(
                s.id
                for s in (
                    await session.scalars(
                        select(Station).where(Station.id.in_([r.station_id for r in stations]))
                    )
                ).all()
                if is_reachable(s, now)
            )
            plan = domain.plan(
                domain.RolloutView(
                    rollout.wave_pause_seconds,
                    rollout.max_failure_ratio,
                    rollout.station_timeout_seconds,
                    rollout.wave_done_at,
                ),
                [domain.StationView(s.station_id, s.wave, s.state, s.sent_at) for s in stations],
                now,
                connected,
            )
            by_id = {s.station_id: s for s in stations}
            for station_id in plan.unconfirmed:
                row = by_id[station_id]
                row.state, row.updated_at = "waiting", now
                log.info(
                    "rollout %s: %s did not say it got its request: again", rollout_id, station_id
                )
            for station_id in plan.timed_out:
                row = by_id[station_id]
                row.state, row.updated_at = "failed", now
                row.detail = (
                    f"no Installed within {rollout.station_timeout_seconds} s "
                    f"(last status: {row.firmware_status or 'none'})"
                )
                log.warning("rollout %s: %s timed out", rollout_id, station_id)
            if plan.halt:
                rollout.state, rollout.halt_reason = "halted", plan.halt
                log.warning("rollout %s halted: %s", rollout_id, plan.halt)
            elif plan.completed:
                rollout.state = "completed"
                log.info("rollout %s completed", rollout_id)
            if plan.wave_settled:
                rollout.wave_done_at = now
            if plan.new_wave:
                rollout.wave_done_at = None
            to_send = [] if plan.halt or plan.completed else plan.send
            for station_id in to_send:
                row = by_id[station_id]
                row.state, row.sent_at, row.updated_at = "sending", now, now
                if row.request_id is None:
                    row.request_id = await self.firmware.next_request_id(session, station_id)
            rollout.updated_at = now
            sends = [(s, by_id[s].request_id) for s in to_send]
            spec = _Send(
                rollout.image_id,
                rollout.retries,
                rollout.retry_interval,
                rollout.retrieve_at,
                rollout.install_at,
            )
        for station_id, request_id in sends:
            assert request_id is not None
            await self._send(rollout_id, station_id, request_id, spec)

    async def _send(
        self,
        rollout_id: str,
        station_id: str,
        request_id: int,
        spec: _Send,
    ) -> None:
        image_id, retries, retry_interval = spec.image_id, spec.retries, spec.retry_interval
        image = await self.firmware.ready_image(image_id)
        now = self.clock()
        retrieve = max(spec.retrieve_at or now, now)
        # OCPP's date-times: UTC, at most milliseconds.
        retrieve = retrieve.replace(microsecond=(retrieve.microsecond // 1000) * 1000)
        location = await self.tokens.issue(
            DOWNLOAD,
            station_id,
            image_id,
            retrieve + datetime.timedelta(seconds=self.token_seconds),
        )
        request = ocpp.UpdateFirmwareRequest(request_id=request_id)
        request.firmware.location = location
        request.firmware.retrieve_date_time.FromDatetime(retrieve)
        if spec.install_at is not None:
            install = spec.install_at.replace(
                microsecond=(spec.install_at.microsecond // 1000) * 1000
            )
            request.firmware.install_date_time.FromDatetime(install)
        if image.signing_certificate:
            request.firmware.signing_certificate = image.signing_certificate
        if image.signature:
            request.firmware.signature = image.signature
        if retries is not None:
            request.retries = retries
        if retry_interval is not None:
            request.retry_interval = retry_interval
        state, detail, answer = "sent", "", ""
        try:
            response = await self.operations.call("UpdateFirmware", station_id, request, None)
        except GatewayError as exc:
            # Unreachable or silent: again once it is connected; a CALLERROR: failed.
            state = "offline" if exc.code in _OFFLINE else "failed"
            detail = f"{exc.code.name}: {exc.details}"
        except CsmsError as exc:
            state, detail = "offline" if exc.code in _OFFLINE else "failed", str(exc)
        else:
            answer = ocpp_enum_value(ocpp.UpdateFirmwareStatusEnum, response.status)
            if answer not in domain.ACCEPTED_ANSWERS:
                state, detail = "failed", f"the station answered {answer}"
        async with self.sessions.begin() as session:
            row = await session.get(
                RolloutStationRow, (rollout_id, station_id), with_for_update=True
            )
            # A status may have come before our answer and moved it on already.
            if row is not None and row.state == "sending":
                row.state, row.detail, row.updated_at = state, detail, self.clock()
        if answer:
            await self.firmware.answered_update(
                station_id, request_id, answer, image_id, rollout_id
            )
        log.info(
            "rollout %s: UpdateFirmware %d to %s: %s %s",
            rollout_id,
            request_id,
            station_id,
            state,
            detail,
        )
