"""Block K's use cases, each in one database transaction: checking a profile before it is sent,
recording what stations accepted and reported, listing it, computing a composite schedule.

Every reader and writer of a station's profiles first holds them against the station's
transactions (:func:`~domain.resolve`): a TxProfile whose transaction has ended is gone (the
station dropped it), and the writers delete it then. Nothing here is on a station's hot path
(profiles change when an operator or, later, a load manager says so), so there is no group
commit: one transaction per call, committed before it returns (the gateway answers the station
after that).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import utcnow
from common.errors import FailedPrecondition, InvalidArgument
from transaction_svc.smart_charging.composite import composite_schedule
from transaction_svc.smart_charging.domain import (
    CSO,
    SOURCES,
    TX_PROFILE,
    UNITS,
    ClearCriteria,
    ProfileFilter,
    ReportCriteria,
    StationState,
    StoredProfile,
    TransactionInfo,
    check_profile,
    ev_schedule_excess,
    instant,
    limit_profiles,
    needs_status,
    rate_unit,
    resolve,
    stale_after_report,
)
from transaction_svc.smart_charging.models import (
    ChargingLimitRow,
    EVChargingNeedsRow,
    EVChargingScheduleRow,
)
from transaction_svc.smart_charging.repository import SmartChargingRepository, stored_profile

__all__ = ["SmartCharging"]

log = logging.getLogger(__name__)

JSON = Mapping[str, Any]


def _station(station_id: str) -> None:
    if not station_id or len(station_id) > 48:
        raise InvalidArgument("station_id must be 1 to 48 characters")


def _storable(where: str, profile: JSON) -> None:
    """What a profile needs to be stored at all (a station's own report may break more)."""
    for name in ("id", "stackLevel"):
        if not isinstance(profile.get(name), int):
            raise InvalidArgument(f"{where}.{name} is required")
    if not profile.get("chargingProfilePurpose"):
        raise InvalidArgument(f"{where}.chargingProfilePurpose is required")
    transaction_id = profile.get("transactionId")
    if transaction_id is not None and len(str(transaction_id)) > 36:
        raise InvalidArgument(f"{where}.transactionId must be at most 36 characters")


def _source(value: Any) -> str:
    if value not in SOURCES:
        raise InvalidArgument(f"chargingLimitSource must be one of {sorted(SOURCES)}")
    return str(value)


class SmartCharging:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.clock = clock

    async def _held(
        self, repo: SmartChargingRepository, station_id: str
    ) -> tuple[list[StoredProfile], list[int], dict[str, TransactionInfo]]:
        """The profiles the station holds, the ids of stored ones it dropped, and its
        transactions (the active ones, and those its TxProfiles name)."""
        stored = [stored_profile(row) for row in await repo.profiles(station_id)]
        tx_profiles = [p for p in stored if p.purpose == TX_PROFILE]
        transactions = await repo.transactions(
            station_id,
            {p.transaction_id for p in tx_profiles if p.transaction_id is not None},
            {p.remote_start_id for p in tx_profiles if p.remote_start_id is not None},
        )
        kept, stale = resolve(stored, transactions)
        return kept, stale, transactions

    async def _external(
        self, repo: SmartChargingRepository, station_id: str
    ) -> list[tuple[int, dict[str, Any]]]:
        """The external limits the station reported, as profiles for the composite."""
        rows = await repo.limits(station_id)
        return limit_profiles((r.evse_id, r.schedules, r.updated_at) for r in rows)

    # -- before and after a command ------------------------------------------------------------

    async def validate(
        self, station_id: str, evse_id: int, profile: JSON, *, remote_start: bool = False
    ) -> None:
        """INVALID_ARGUMENT or FAILED_PRECONDITION naming the K01 (F01) rule ``profile`` breaks
        for the station; nothing when it may be sent."""
        _station(station_id)
        async with self.sessions() as session:
            held, _, transactions = await self._held(SmartChargingRepository(session), station_id)
        active = {tx_id: tx for tx_id, tx in transactions.items() if tx.active}
        state = StationState(active, held, self.clock())
        check_profile(evse_id, profile, state, remote_start=remote_start)

    async def record_profile(
        self, station_id: str, evse_id: int, profile: JSON, *, remote_start_id: int | None = None
    ) -> None:
        """The station accepted ``profile`` from the CSMS (source CSO): it replaces the stored
        one of the same id."""
        _station(station_id)
        _storable("chargingProfile", profile)
        async with self.sessions.begin() as session:
            repo = SmartChargingRepository(session)
            _, stale, _ = await self._held(repo, station_id)
            await repo.delete_profiles(station_id, stale)
            await repo.put_profile(
                station_id,
                evse_id,
                profile,
                source=CSO,
                now=self.clock(),
                remote_start_id=remote_start_id,
            )
        log.info("charging profile %s recorded on EVSE %d", profile["id"], evse_id)

    async def forget(self, station_id: str, cleared: JSON) -> int:
        """The station accepted the ClearChargingProfile ``cleared``: the stored profiles
        matching it are gone; how many."""
        _station(station_id)
        criteria = ClearCriteria.of(cleared)
        async with self.sessions.begin() as session:
            repo = SmartChargingRepository(session)
            held, stale, _ = await self._held(repo, station_id)
            gone = [p.id for p in held if criteria.matches(p)]
            await repo.delete_profiles(station_id, [*stale, *gone])
        log.info("charging profiles cleared: %s", gone)
        return len(gone)

    async def expect_report(self, station_id: str, request: JSON) -> None:
        """A GetChargingProfiles is about to leave: its report reconciles its criteria."""
        _station(station_id)
        request_id = request.get("requestId")
        if not isinstance(request_id, int):
            raise InvalidArgument("requestId is required")
        async with self.sessions.begin() as session:
            await SmartChargingRepository(session).expect_report(
                station_id, request_id, request, self.clock()
            )

    async def no_profiles(self, station_id: str, request_id: int) -> int:
        """The station answered NoProfiles to GetChargingProfiles ``request_id``: it holds
        none matching the request's criteria (those recorded since it left aside); how many
        stored ones that removed."""
        _station(station_id)
        async with self.sessions.begin() as session:
            repo = SmartChargingRepository(session)
            expected = await repo.report(station_id, request_id)
            if expected is None:
                log.info("NoProfiles to GetChargingProfiles %d, not awaited: kept all", request_id)
                return 0
            criteria = ReportCriteria.of(expected.request)
            held, stale, _ = await self._held(repo, station_id)
            gone = [
                p.id for p in held if criteria.matches(p) and p.updated_at < expected.requested_at
            ]
            await repo.delete_profiles(station_id, [*stale, *gone])
            await repo.end_report(station_id, request_id)
        log.info("GetChargingProfiles %d: NoProfiles, forgot %s", request_id, gone)
        return len(gone)

    # -- from stations -------------------------------------------------------------------------

    async def report(self, station_id: str, part: JSON) -> list[int]:
        """One ReportChargingProfiles: its profiles stored as the station holds them; the last
        part (tbc false) of a report the CSMS awaits removes the stored profiles matching the
        request's criteria that no part listed. Returns the ids removed."""
        _station(station_id)
        request_id = part.get("requestId")
        if not isinstance(request_id, int):
            raise InvalidArgument("requestId is required")
        source = _source(part.get("chargingLimitSource"))
        evse_id = part.get("evseId")
        if not isinstance(evse_id, int) or evse_id < 0:
            raise InvalidArgument("evseId must be 0 or more")
        profiles = part.get("chargingProfile") or []
        if not profiles:
            raise InvalidArgument("chargingProfile: at least one profile is required")
        for i, profile in enumerate(profiles):
            _storable(f"chargingProfile[{i}]", profile)
        now = self.clock()
        removed: list[int] = []
        async with self.sessions.begin() as session:
            repo = SmartChargingRepository(session)
            for profile in profiles:
                await repo.put_profile(
                    station_id, evse_id, profile, source=source, now=now, reported_by=request_id
                )
            if not part.get("tbc", False):
                expected = await repo.report(station_id, request_id)
                held, stale, _ = await self._held(repo, station_id)
                if expected is not None:
                    removed = stale_after_report(
                        held,
                        ReportCriteria.of(expected.request),
                        request_id,
                        expected.requested_at,
                    )
                    await repo.end_report(station_id, request_id)
                await repo.delete_profiles(station_id, [*stale, *removed])
        log.info(
            "ReportChargingProfiles %d (EVSE %d, %s): %d profiles%s",
            request_id,
            evse_id,
            source,
            len(profiles),
            f", forgot {removed}" if removed else "",
        )
        return removed

    async def notify_limit(self, station_id: str, request: JSON) -> None:
        """A NotifyChargingLimit: the source's limit of the station (or EVSE), replacing the one
        it reported before."""
        _station(station_id)
        limit = request.get("chargingLimit") or {}
        source = _source(limit.get("chargingLimitSource"))
        evse_id = request.get("evseId", 0)
        if not isinstance(evse_id, int) or evse_id < 0:
            raise InvalidArgument("evseId must not be negative")
        schedules = request.get("chargingSchedule") or []
        async with self.sessions.begin() as session:
            await SmartChargingRepository(session).put_limit(
                station_id, source, evse_id, limit, schedules, self.clock()
            )
        log.info("charging limit of %s on EVSE %d (%d schedules)", source, evse_id, len(schedules))

    async def cleared_limit(self, station_id: str, request: JSON) -> int:
        """A ClearedChargingLimit: the source's limits of the station (of the EVSE when given)
        are gone; how many were stored."""
        _station(station_id)
        source = _source(request.get("chargingLimitSource"))
        evse_id = request.get("evseId")
        async with self.sessions.begin() as session:
            removed = await SmartChargingRepository(session).delete_limits(
                station_id, source, evse_id
            )
        log.info("charging limit of %s cleared (EVSE %s): %d", source, evse_id, removed)
        return removed

    async def _active_on(
        self, repo: SmartChargingRepository, station_id: str, evse_id: int
    ) -> TransactionInfo | None:
        transactions = await repo.transactions(station_id, (), ())
        for tx in transactions.values():
            if tx.active and tx.evse_id == evse_id:
                return tx
        return None

    async def ev_needs(self, station_id: str, request: JSON) -> tuple[str, str, str]:
        """A NotifyEVChargingNeeds, stored as the EVSE's last; the answer (status, reasonCode,
        additionalInfo) by :func:`~domain.needs_status`."""
        _station(station_id)
        evse_id = request.get("evseId")
        if not isinstance(evse_id, int) or evse_id <= 0:
            raise InvalidArgument("evseId must be more than 0")
        needs = request.get("chargingNeeds") or {}
        answer = needs_status(needs)
        async with self.sessions.begin() as session:
            repo = SmartChargingRepository(session)
            tx = await self._active_on(repo, station_id, evse_id)
            await repo.put_needs(
                {
                    "station_id": station_id,
                    "evse_id": evse_id,
                    "charging_needs": dict(needs),
                    "max_schedule_tuples": request.get("maxScheduleTuples"),
                    "status": answer[0],
                    "transaction_id": tx.id if tx is not None else None,
                    "received_at": self.clock(),
                }
            )
        log.info("EV charging needs on EVSE %d: %s", evse_id, answer[0])
        return answer

    async def ev_schedule(self, station_id: str, request: JSON) -> tuple[str, str]:
        """A NotifyEVChargingSchedule, stored as the EVSE's last; the answer (status,
        additionalInfo): Accepted when the EV's schedule stays within the CSMS's composite
        schedule for the EVSE (K15.FR.11, K16.FR.06), Rejected saying where it goes above
        (K15.FR.12, K16.FR.07; the caller renegotiates, K15.FR.13)."""
        _station(station_id)
        evse_id = request.get("evseId")
        if not isinstance(evse_id, int) or evse_id <= 0:
            raise InvalidArgument("evseId must be more than 0")
        time_base = instant(request.get("timeBase"))
        if time_base is None:
            raise InvalidArgument("timeBase is required")
        schedule = dict(request.get("chargingSchedule") or {})
        status, info = "Accepted", ""
        async with self.sessions.begin() as session:
            repo = SmartChargingRepository(session)
            tx = await self._active_on(repo, station_id, evse_id)
            held, _, _ = await self._held(repo, station_id)
            external = await self._external(repo, station_id)
            excess = self._excess(held, external, evse_id, tx, time_base, schedule)
            if excess is not None:
                second, wanted, allowed = excess
                unit = schedule.get("chargingRateUnit")
                status = "Rejected"
                info = (
                    f"K15.FR.12: {wanted:g} {unit} at {second} s after timeBase is above the "
                    f"CSMS's limit of {allowed:g} {unit}"
                )
            await repo.put_ev_schedule(
                {
                    "station_id": station_id,
                    "evse_id": evse_id,
                    "time_base": time_base,
                    "charging_schedule": schedule,
                    "status": status,
                    "transaction_id": tx.id if tx is not None else None,
                    "received_at": self.clock(),
                }
            )
        log.info("EV charging schedule on EVSE %d: %s %s", evse_id, status, info)
        return status, info

    def _excess(
        self,
        held: Sequence[StoredProfile],
        external: list[tuple[int, dict[str, Any]]],
        evse_id: int,
        tx: TransactionInfo | None,
        time_base: datetime.datetime,
        schedule: JSON,
    ) -> tuple[int, float, float] | None:
        """Where the EV's schedule goes above the CSMS's composite for the EVSE (K15.FR.11/12),
        compared in the EV schedule's unit over its duration (a day when it has none)."""
        unit = schedule.get("chargingRateUnit")
        periods = schedule.get("chargingSchedulePeriod")
        if unit not in UNITS or not periods:
            return None  # The schema requires both; nothing to compare otherwise.
        duration = schedule.get("duration")
        span = duration if isinstance(duration, int) and duration > 0 else 86_400
        profiles = [
            p
            for p in held
            if p.purpose != TX_PROFILE or (tx is not None and p.transaction_id == tx.id)
        ]
        try:
            csms = composite_schedule(
                [*((p.evse_id, p.profile) for p in profiles), *external],
                evse_id=evse_id,
                start=time_base,
                duration=span,
                unit=str(unit),
                transaction_start=tx.started_at if tx is not None else None,
            )
        except ValueError:
            return None  # A stored profile the composite cannot read: nothing to hold against.
        return ev_schedule_excess(schedule, csms.get("chargingSchedulePeriod") or [], span)

    # -- reads -----------------------------------------------------------------------------------

    async def list_profiles(self, station_id: str, where: ProfileFilter) -> list[StoredProfile]:
        _station(station_id)
        async with self.sessions() as session:
            held, _, _ = await self._held(SmartChargingRepository(session), station_id)
        return [p for p in held if where.matches(p)]

    async def list_limits(self, station_id: str) -> list[ChargingLimitRow]:
        _station(station_id)
        async with self.sessions() as session:
            return list(await SmartChargingRepository(session).limits(station_id))

    async def list_needs(
        self, station_id: str
    ) -> tuple[list[EVChargingNeedsRow], list[EVChargingScheduleRow]]:
        _station(station_id)
        async with self.sessions() as session:
            repo = SmartChargingRepository(session)
            return (
                list(await repo.needs(station_id)),
                list(await repo.ev_schedules(station_id)),
            )

    async def composite(
        self,
        station_id: str,
        evse_id: int,
        duration: int,
        unit: str | None,
        start: datetime.datetime | None,
    ) -> dict[str, Any]:
        """The composite schedule of the EVSE (0: the grid connection) from the profiles the
        station holds (OCPP CompositeScheduleType JSON, :mod:`.composite`): those of the EVSE
        and of the station, the TxProfile only of the transaction active on the EVSE, whose
        start anchors a Relative one. A stretch no profile limits is a period without a limit
        (OCPP has no "no limit" value; the station would fill in its own maximum)."""
        _station(station_id)
        if evse_id < 0:
            raise InvalidArgument("evseId must not be negative")
        if duration <= 0:
            raise InvalidArgument("duration must be more than 0 seconds")
        if unit is not None and unit not in ("A", "W"):
            raise InvalidArgument("chargingRateUnit must be A or W")
        async with self.sessions() as session:
            repo = SmartChargingRepository(session)
            held, _, _ = await self._held(repo, station_id)
            tx = await self._active_on(repo, station_id, evse_id) if evse_id else None
            external = await self._external(repo, station_id)
        profiles = [
            p
            for p in held
            if p.purpose != TX_PROFILE or (tx is not None and p.transaction_id == tx.id)
        ]
        try:
            return composite_schedule(
                [*((p.evse_id, p.profile) for p in profiles), *external],
                evse_id=evse_id,
                start=start or self.clock(),
                duration=duration,
                unit=unit or rate_unit(profiles, evse_id),
                transaction_start=tx.started_at if tx is not None else None,
            )
        except ValueError as exc:
            # The arguments are checked above: a stored profile (a station's report) that is
            # not OCPP's shape.
            raise FailedPrecondition(f"the station's profiles cannot be composed: {exc}") from None
