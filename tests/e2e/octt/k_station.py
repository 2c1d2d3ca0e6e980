"""The smart charging side (OCPP 2.0.1 block K) of the OCTT's station in the block K cases.

:class:`SmartChargingStation` answers the CSMS's SetChargingProfile, ClearChargingProfile,
GetChargingProfiles and GetCompositeSchedule on an :class:`~tests.e2e.octt.station.OcttStation`
the way Part 2 chapter K asks a station to, and keeps what a station keeps:

- its profiles, one per id, with the EVSE each is installed on and who installed it (CSO for the
  CSMS; EMS etc. for an external system's ChargingStationExternalConstraints). A profile of an id
  it holds replaces it (K01.FR.05). It refuses (Rejected) a TxProfile on evseId 0 (K01.FR.16),
  without a transactionId (K01.FR.03), or when no transaction is active on the EVSE or it is
  another one (K01.FR.09, K01.FR.33); and a ChargingStationExternalConstraints (only an external
  system sets those).
- ClearChargingProfile: by chargingProfileId, else by the criteria given (evseId, purpose,
  stackLevel); only what the CSMS installed (source CSO) is cleared; Accepted when something
  was, else Unknown.
- GetChargingProfiles: Accepted when a held profile matches the request (evseId: that EVSE's
  profiles, 0 the station-wide ones, absent every EVSE; chargingProfileId, purpose, stackLevel,
  chargingLimitSource each when given), else NoProfiles (K09). :meth:`report` then sends the
  ReportChargingProfiles: one part per EVSE and source (a part has one of each), tbc true on
  every part but the last.
- GetCompositeSchedule: its own composite, computed here second by second over the requested
  duration from the profiles it holds (independently of the CSMS's code): at each second, per
  purpose, the valid profile of the highest stackLevel whose schedule has a period then leads;
  the limit is the lowest of the ChargingStationMaxProfile (evseId 0), the
  ChargingStationExternalConstraints (evseId 0 and the EVSE's), and the EVSE's TxProfile of its
  transaction, else its TxDefaultProfile (the EVSE's own and evseId 0's, stacked by stackLevel;
  the cases never install both). For evseId 0 (the grid connection) only the
  ChargingStationMaxProfile and the constraints on evseId 0 count. Where nothing limits, the
  station's own maximum (:attr:`max_current`). Absolute and Recurring schedules start at
  startSchedule, Relative ones at the start of the EVSE's transaction; a period lasts until the
  next one or the schedule's duration. Limits in the other unit convert at 230 V per phase
  (numberPhases, else 3). Consecutive seconds of one limit are one period; the periods carry
  startPeriod and limit only.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable
from typing import Any

from tests.e2e.octt.station import OcttStation

__all__ = ["Held", "SmartChargingStation", "at", "instant"]

JSON = dict[str, Any]

MAX = "ChargingStationMaxProfile"
EXTERNAL = "ChargingStationExternalConstraints"
TX_DEFAULT = "TxDefaultProfile"
TX = "TxProfile"
VOLTAGE = 230.0
_RECURRENCE = {"Daily": 86_400, "Weekly": 7 * 86_400}


def at(seconds: int = 0, *, base: datetime.datetime | None = None) -> str:
    """Now (or ``base``), to the whole second, plus ``seconds``, as OCPP writes a date-time."""
    moment = (base or datetime.datetime.now(datetime.UTC)).replace(microsecond=0)
    moment += datetime.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def instant(value: str) -> int:
    """An OCPP date-time as whole epoch seconds."""
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return int(parsed.timestamp())


@dataclasses.dataclass
class Held:
    """One profile the station holds."""

    evse_id: int
    profile: JSON
    source: str = "CSO"

    @property
    def id(self) -> int:
        return int(self.profile["id"])

    @property
    def purpose(self) -> str:
        return str(self.profile["chargingProfilePurpose"])

    @property
    def stack_level(self) -> int:
        return int(self.profile["stackLevel"])


class SmartChargingStation:
    """The station's profiles and its answers to the CSMS (see the module docstring)."""

    def __init__(self, cs: OcttStation, *, max_current: float = 32.0) -> None:
        self.cs = cs
        self.max_current = max_current
        self.held: dict[int, Held] = {}
        cs.sim.answer("SetChargingProfile", self._set)
        cs.sim.answer("ClearChargingProfile", self._clear)
        cs.sim.answer("GetChargingProfiles", self._get)
        cs.sim.answer("GetCompositeSchedule", self._composite)

    # -- what it holds ---------------------------------------------------------------------------

    def install(self, evse_id: int, profile: JSON, source: str = "CSO") -> None:
        """A profile the station holds without this CSMS having sent it (installed before, or by
        an external system)."""
        self.held[int(profile["id"])] = Held(evse_id, dict(profile), source)

    def holds(self) -> list[tuple[int, int, str]]:
        """(evseId, id, source) of every profile held, sorted."""
        return sorted((h.evse_id, h.id, h.source) for h in self.held.values())

    def received(self, action: str) -> list[JSON]:
        """The payloads of the CSMS's CALLs of ``action`` so far."""
        return [r.payload for r in self.cs.sim.calls(action)]

    def _transaction_on(self, evse_id: int) -> str | None:
        cs = self.cs
        return cs.transaction_id if cs.transaction_id and evse_id == cs.evse_id else None

    def _transaction_start(self) -> int | None:
        for event in self.cs.sent_events:
            info = event["transactionInfo"]
            if event["eventType"] == "Started" and info["transactionId"] == self.cs.transaction_id:
                return instant(event["timestamp"])
        return None

    # -- SetChargingProfile / ClearChargingProfile --------------------------------------------

    def _refusal(self, evse_id: int, profile: JSON) -> str | None:
        purpose = profile["chargingProfilePurpose"]
        if purpose == EXTERNAL:
            return "ChargingStationExternalConstraints are set by an external system"
        if purpose == MAX and evse_id != 0:
            return "a ChargingStationMaxProfile is for evseId 0"
        if purpose != TX:
            return None
        if evse_id == 0:
            return "K01.FR.16: a TxProfile needs an evseId above 0"
        if "transactionId" not in profile:
            return "K01.FR.03: a TxProfile needs its transactionId"
        active = self._transaction_on(evse_id)
        if active is None:
            return "K01.FR.09: no transaction is active on the EVSE"
        if profile["transactionId"] != active:
            return "K01.FR.33: the transactionId is not the EVSE's transaction"
        return None

    def _set(self, request: JSON) -> JSON:
        evse_id, profile = request["evseId"], request["chargingProfile"]
        refusal = self._refusal(evse_id, profile)
        if refusal is not None:
            return {
                "status": "Rejected",
                "statusInfo": {"reasonCode": "InvalidProfile", "additionalInfo": refusal},
            }
        self.install(evse_id, profile)  # replaces the one of the same id (K01.FR.05)
        return {"status": "Accepted"}

    def _clear(self, request: JSON) -> JSON:
        criteria = request.get("chargingProfileCriteria") or {}

        def cleared(h: Held) -> bool:
            if h.source != "CSO":
                return False
            if "chargingProfileId" in request:
                return bool(h.id == request["chargingProfileId"])
            wanted = {
                "evseId": h.evse_id,
                "chargingProfilePurpose": h.purpose,
                "stackLevel": h.stack_level,
            }
            return bool(criteria) and all(
                criteria[k] == v for k, v in wanted.items() if k in criteria
            )

        gone = [i for i, h in self.held.items() if cleared(h)]
        for i in gone:
            del self.held[i]
        return {"status": "Accepted" if gone else "Unknown"}

    # -- GetChargingProfiles / ReportChargingProfiles ------------------------------------------

    def matching(self, request: JSON) -> list[Held]:
        """The held profiles a GetChargingProfilesRequest asks for, by EVSE, source and id."""
        return sorted(
            (h for h in self.held.values() if matches(request, h.evse_id, h.profile, h.source)),
            key=lambda h: (h.evse_id, h.source, h.id),
        )

    def _get(self, request: JSON) -> JSON:
        return {"status": "Accepted" if self.matching(request) else "NoProfiles"}

    async def report(self, step: str, request: JSON) -> list[JSON]:
        """The ReportChargingProfiles of a GetChargingProfilesRequest the station Accepted: one
        part per (EVSE, source), tbc true but on the last; each checked answered. The parts."""
        groups: dict[tuple[int, str], list[JSON]] = {}
        for h in self.matching(request):
            groups.setdefault((h.evse_id, h.source), []).append(h.profile)
        parts = [
            {
                "requestId": request["requestId"],
                "chargingLimitSource": source,
                "evseId": evse_id,
                "chargingProfile": profiles,
                "tbc": i < len(groups) - 1,
            }
            for i, ((evse_id, source), profiles) in enumerate(sorted(groups.items()))
        ]
        for part in parts:
            await self.cs.send(step, "ReportChargingProfiles", part)
        return parts

    # -- GetCompositeSchedule --------------------------------------------------------------------

    def _composite(self, request: JSON) -> JSON:
        evse_id = request["evseId"]
        if evse_id != 0 and evse_id not in self.cs.evses:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}}
        schedule = self.composite(
            evse_id, request["duration"], request.get("chargingRateUnit", "A")
        )
        return {"status": "Accepted", "schedule": schedule}

    def composite(
        self,
        evse_id: int,
        duration: int,
        unit: str,
        start: str | None = None,
        *,
        own_maximum: bool = True,
    ) -> JSON:
        """The station's CompositeScheduleType for ``evse_id`` from ``start`` (now). Where no
        profile limits, its own maximum; without ``own_maximum``, a period without a limit
        instead (what the CSMS, which cannot know that maximum, says there)."""
        start = start or at()
        begin = instant(start)
        own = self.max_current if unit == "A" else self.max_current * VOLTAGE * 3
        periods: list[JSON] = []
        for second in range(duration):
            limit = self._limit_at(evse_id, begin + second, unit)
            if limit is None and own_maximum:
                limit = own
            if not periods or periods[-1]["limit"] != limit:
                periods.append({"startPeriod": second, "limit": limit})
        return {
            "evseId": evse_id,
            "duration": duration,
            "scheduleStart": start,
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": periods,
        }

    def _limit_at(self, evse_id: int, t: int, unit: str) -> float | None:
        def leading(purpose: str, scopes: Iterable[int]) -> float | None:
            found: list[tuple[int, float]] = []
            for h in self.held.values():
                if h.purpose != purpose or h.evse_id not in scopes:
                    continue
                if purpose == TX and h.profile.get("transactionId") != self._transaction_on(
                    evse_id
                ):
                    continue
                limit = self._period_limit(h.profile, t, unit)
                if limit is not None:
                    found.append((h.stack_level, limit))
            if not found:
                return None
            top = max(level for level, _ in found)
            return min(limit for level, limit in found if level == top)

        limits = [leading(MAX, (0,)), leading(EXTERNAL, (0,))]
        if evse_id != 0:
            limits.append(leading(EXTERNAL, (evse_id,)))
            tx = leading(TX, (evse_id,)) if self._transaction_on(evse_id) else None
            limits.append(tx if tx is not None else leading(TX_DEFAULT, (0, evse_id)))
        stated = [limit for limit in limits if limit is not None]
        return min(stated) if stated else None

    def _period_limit(self, profile: JSON, t: int, unit: str) -> float | None:
        """The limit (in ``unit``) of ``profile``'s period in force at ``t``, if any."""
        if "validFrom" in profile and t < instant(profile["validFrom"]):
            return None
        if "validTo" in profile and t >= instant(profile["validTo"]):
            return None
        schedule = profile["chargingSchedule"][0]
        if profile["chargingProfileKind"] == "Relative" or "startSchedule" not in schedule:
            anchor = self._transaction_start()
            if anchor is None:
                return None
        else:
            anchor = instant(schedule["startSchedule"])
        offset = t - anchor
        if offset < 0:
            return None
        if profile["chargingProfileKind"] == "Recurring":
            offset %= _RECURRENCE[profile["recurrencyKind"]]
        if "duration" in schedule and offset >= schedule["duration"]:
            return None
        current = None
        for period in sorted(schedule["chargingSchedulePeriod"], key=lambda p: p["startPeriod"]):
            if period["startPeriod"] <= offset:
                current = period
        if current is None:
            return None
        limit = float(current["limit"])
        if schedule["chargingRateUnit"] == unit:
            return limit
        factor = VOLTAGE * float(current.get("numberPhases", 3))
        return limit * factor if unit == "W" else limit / factor


def matches(request: JSON, evse_id: int, profile: JSON, source: str) -> bool:
    """Whether a profile (installed on ``evse_id`` by ``source``) is one a
    GetChargingProfilesRequest asks for (K09: evseId, then the criteria, each when given)."""
    if "evseId" in request and request["evseId"] != evse_id:
        return False
    criteria = request.get("chargingProfile") or {}
    if "chargingProfileId" in criteria and profile["id"] not in criteria["chargingProfileId"]:
        return False
    if (
        criteria.get("chargingProfilePurpose", profile["chargingProfilePurpose"])
        != profile["chargingProfilePurpose"]
    ):
        return False
    if criteria.get("stackLevel", profile["stackLevel"]) != profile["stackLevel"]:
        return False
    return source in criteria.get("chargingLimitSource", [source])
