"""Part 6, functional block K (Smart charging), CSMS test cases.

Steps and tool validations from the public reimplementation tzi-OCTT
(``2.0.1/K/test_tc_k_NN_csms.py``; the official Part 6 text was not found). Each "the CSMS
sends" is the operator's REST command (the manual action), except where the CSMS acts by itself
(K_53/55/57/59: its load manager answers EV charging needs with a TxProfile; for those the
station's EVSE is on a site, the operator's "Memory State"). The OCTT's station keeps its
profiles as a station does (one per id, cleared by id or criteria, Unknown when nothing
matched, reported in ReportChargingProfiles parts) and computes its composite schedule itself,
from the one profile the composite cases install (not with the CSMS's code). Verdicts check
what the CSMS sent and, beyond the cases, what it then shows over REST.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.e2e.octt.states import (
    authorized,
    booted,
    energy_transfer_started,
    ev_connected_pre_session,
)
from tests.e2e.octt.station import OcttStation

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]

# <Configured ...> values.
STACK_LEVEL = 1
UNIT = "A"
DURATION = 3600
PHASES = 3


def _at(seconds: int = 0) -> str:
    moment = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return (moment + datetime.timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def absolute(id_: int, purpose: str, limit: float, **fields: Any) -> JSON:
    return {
        "id": id_,
        "stackLevel": STACK_LEVEL,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "validFrom": _at(-60),
        "validTo": _at(DURATION),
        "chargingSchedule": [
            {
                "id": 1,
                "startSchedule": _at(-60),
                "duration": DURATION,
                "chargingRateUnit": UNIT,
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": limit, "numberPhases": PHASES}
                ],
            }
        ],
        **fields,
    }


def relative_tx(id_: int, limit: float, transaction_id: str | None) -> JSON:
    profile: JSON = {
        "id": id_,
        "stackLevel": STACK_LEVEL,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": UNIT,
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": limit, "numberPhases": PHASES}
                ],
            }
        ],
    }
    if transaction_id is not None:
        profile["transactionId"] = transaction_id
    return profile


class Profiles:
    """The OCTT station's charging profiles: (evseId, profile) by id, and what it received."""

    def __init__(self, cs: OcttStation) -> None:
        self.cs = cs
        self.held: dict[int, tuple[int, JSON]] = {}
        self.received: list[tuple[str, JSON]] = []
        self.set_status = "Accepted"
        cs.sim.answer("SetChargingProfile", self._set)
        cs.sim.answer("ClearChargingProfile", self._clear)
        cs.sim.answer("GetChargingProfiles", self._get)
        cs.sim.answer("GetCompositeSchedule", self._composite)

    def _set(self, request: JSON) -> JSON:
        self.received.append(("SetChargingProfile", request))
        if self.set_status == "Accepted":
            self.held[request["chargingProfile"]["id"]] = (
                request["evseId"],
                request["chargingProfile"],
            )
        return {"status": self.set_status}

    def _clear(self, request: JSON) -> JSON:
        self.received.append(("ClearChargingProfile", request))
        criteria = request.get("chargingProfileCriteria", {})

        def matches(evse: int, p: JSON) -> bool:
            if "chargingProfileId" in request:
                return bool(p["id"] == request["chargingProfileId"])
            return all(
                criteria[k] == v
                for k, v in (
                    ("evseId", evse),
                    ("chargingProfilePurpose", p["chargingProfilePurpose"]),
                    ("stackLevel", p["stackLevel"]),
                )
                if k in criteria
            )

        gone = [i for i, (evse, p) in self.held.items() if matches(evse, p)]
        for i in gone:
            del self.held[i]
        return {"status": "Accepted" if gone else "Unknown"}

    def matching(self, request: JSON) -> list[tuple[int, JSON]]:
        criteria = request.get("chargingProfile", {})
        found = []
        for evse, p in self.held.values():
            if "evseId" in request and evse != request["evseId"]:
                continue
            if criteria.get("chargingProfileId") and p["id"] not in criteria["chargingProfileId"]:
                continue
            if (
                criteria.get("chargingProfilePurpose", p["chargingProfilePurpose"])
                != p["chargingProfilePurpose"]
            ):
                continue
            if criteria.get("stackLevel", p["stackLevel"]) != p["stackLevel"]:
                continue
            if "CSO" not in criteria.get("chargingLimitSource", ["CSO"]):
                continue
            found.append((evse, p))
        return found

    def _get(self, request: JSON) -> JSON:
        self.received.append(("GetChargingProfiles", request))
        return {"status": "Accepted" if self.matching(request) else "NoProfiles"}

    def _composite(self, request: JSON) -> JSON:
        """The station's own composite schedule: the lowest limit of the Absolute profiles that
        apply to the EVSE (its own, and evseId 0's) for the whole duration; the cases install
        one whose schedule covers it."""
        self.received.append(("GetCompositeSchedule", request))
        evse = request["evseId"]
        limits = [
            p["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]
            for e, p in self.held.values()
            if e in (0, evse) and p["chargingProfileKind"] == "Absolute"
        ]
        if not limits:
            return {"status": "Rejected"}
        return {
            "status": "Accepted",
            "schedule": {
                "evseId": evse,
                "duration": request["duration"],
                "scheduleStart": _at(),
                "chargingRateUnit": request.get("chargingRateUnit", UNIT),
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": min(limits), "numberPhases": PHASES}
                ],
            },
        }

    def last(self, step: str, action: str) -> JSON:
        got = [r for a, r in self.received if a == action]
        self.cs.verdicts.expect(step, f"the CSMS sends a {action}Request", bool(got), self.received)
        return got[-1] if got else {}

    async def report(self, step: str, request: JSON) -> None:
        """ReportChargingProfiles for a GetChargingProfiles, one part per EVSE, tbc between."""
        by_evse: dict[int, list[JSON]] = {}
        for evse, p in self.matching(request):
            by_evse.setdefault(evse, []).append(p)
        evses = sorted(by_evse)
        for i, evse in enumerate(evses):
            await self.cs.send(
                step,
                "ReportChargingProfiles",
                {
                    "requestId": request["requestId"],
                    "chargingLimitSource": "CSO",
                    "evseId": evse,
                    "chargingProfile": by_evse[evse],
                    "tbc": i < len(evses) - 1,
                },
            )


async def command(
    cs: OcttStation, rest: httpx.AsyncClient, verb: str, body: JSON, step: str
) -> httpx.Response:
    resp = await rest.post(f"/v1/chargingStations/{cs.sim.station_id}:{verb}", json=body)
    return resp


async def answered(
    cs: OcttStation, rest: httpx.AsyncClient, verb: str, body: JSON, step: str
) -> JSON:
    resp = await command(cs, rest, verb, body, step)
    cs.verdicts.expect(step, f"REST :{verb} answers 200", resp.status_code == 200, resp.text)
    return dict(resp.json()) if resp.status_code == 200 else {}


async def listed(
    cs: OcttStation, rest: httpx.AsyncClient, step: str, **params: Any
) -> list[tuple[int, int]]:
    resp = await rest.get(
        f"/v1/chargingStations/{cs.sim.station_id}/chargingProfiles", params=params
    )
    cs.verdicts.expect(
        step, "REST chargingProfiles answers 200", resp.status_code == 200, resp.text
    )
    return [
        (p.get("evseId", 0), p["chargingProfile"]["id"])
        for p in resp.json().get("chargingProfiles", [])
    ]


def _period(profile: JSON) -> JSON:
    return dict(profile["chargingSchedule"][0]["chargingSchedulePeriod"][0])


# -- K01: SetChargingProfile -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "evse", "purpose", "limit"),
    [
        ("TC_K_01 TxDefaultProfile - Specific EVSE", 1, "TxDefaultProfile", 6.0),
        ("TC_K_10 TxDefaultProfile - All EVSE", 0, "TxDefaultProfile", 6.0),
        ("TC_K_03 ChargingStationMaxProfile", 0, "ChargingStationMaxProfile", 8.0),
    ],
)
async def test_tc_k_01_10_03_set_charging_profile(
    cs: OcttStation, rest: httpx.AsyncClient, case: str, evse: int, purpose: str, limit: float
) -> None:
    """TC_K_01 / TC_K_10 / TC_K_03 (K01, K01.FR.31, K01.FR.38): 1. the CSMS sends
    SetChargingProfileRequest (evseId, stackLevel, purpose, Absolute, validFrom/validTo,
    startSchedule, unit, duration, startPeriod 0, the case's limit, numberPhases); 2. Accepted.
    Then the CSMS lists it as the station's."""
    await booted(cs)
    profiles = Profiles(cs)
    sent = absolute(10, purpose, limit)
    got = await answered(
        cs, rest, "setChargingProfile", {"evseId": evse, "chargingProfile": sent}, "Main step 1"
    )
    cs.verdicts.equal("Main step 2", "status", got.get("status"), "Accepted")
    request = profiles.last("Main step 1", "SetChargingProfile")
    cs.verdicts.equal(f"{case} tool validation", "evseId", request.get("evseId"), evse)
    p = request.get("chargingProfile", {})
    cs.verdicts.fields(
        f"{case} tool validation",
        p,
        {
            "stackLevel": STACK_LEVEL,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute",
        },
    )
    for field in ("validFrom", "validTo"):
        cs.verdicts.expect(f"{case} tool validation", f"{field} not omitted", field in p, p)
    schedule = (p.get("chargingSchedule") or [{}])[0]
    cs.verdicts.fields(
        f"{case} tool validation", schedule, {"chargingRateUnit": UNIT, "duration": DURATION}
    )
    cs.verdicts.expect(
        f"{case} tool validation",
        "startSchedule not omitted",
        "startSchedule" in schedule,
        schedule,
    )
    cs.verdicts.equal(
        f"{case} tool validation",
        "the period",
        schedule.get("chargingSchedulePeriod"),
        [{"startPeriod": 0, "limit": limit, "numberPhases": PHASES}],
    )
    cs.verdicts.equal(
        "REST chargingProfiles", "listed", await listed(cs, rest, "REST"), [(evse, 10)]
    )
    cs.assert_passed()


async def test_tc_k_02_tx_profile_without_transaction(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_K_02 TxProfile without ongoing transaction on the specified EVSE (K01). Its
    prerequisite, "the CSMS supports sending a TxProfile without an ongoing transaction", does
    not hold here by design: the CSMS checks K01.FR.09 (a TxProfile's transaction is active on
    its EVSE) before sending, so the operator gets 400 naming the rule, and the station gets
    nothing (the case's Rejected is what a station would answer)."""
    await booted(cs)
    profiles = Profiles(cs)
    body = {"evseId": 1, "chargingProfile": relative_tx(20, 7.0, f"no-tx-{uuid.uuid4().hex[:6]}")}
    resp = await command(cs, rest, "setChargingProfile", body, "Main step 1")
    cs.verdicts.equal("Main step 1", "REST status", resp.status_code, 400)
    cs.verdicts.expect(
        "Main step 1", "the refusal names K01.FR.09", "K01.FR.09" in resp.text, resp.text
    )
    cs.verdicts.equal("Main step 1", "what the station received", profiles.received, [])
    cs.assert_passed()


async def test_tc_k_60_tx_profile_with_ongoing_transaction(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_K_60 TxProfile with ongoing transaction on the specified EVSE (K01.FR.03, K01.FR.31):
    Before: EnergyTransferStarted. 1. SetChargingProfileRequest (TxProfile, evseId, the
    transaction's id, Relative or Absolute); 2. Accepted. Listed with the transaction."""
    await booted(cs)
    await energy_transfer_started(cs)
    profiles = Profiles(cs)
    body = {"evseId": cs.evse_id, "chargingProfile": relative_tx(21, 16.0, cs.transaction_id)}
    got = await answered(cs, rest, "setChargingProfile", body, "Main step 1")
    cs.verdicts.equal("Main step 2", "status", got.get("status"), "Accepted")
    request = profiles.last("Main step 1", "SetChargingProfile")
    p = request.get("chargingProfile", {})
    cs.verdicts.equal("Main step 1 tool validation", "evseId", request.get("evseId"), cs.evse_id)
    cs.verdicts.fields(
        "Main step 1 tool validation",
        p,
        {"chargingProfilePurpose": "TxProfile", "transactionId": cs.transaction_id},
    )
    cs.verdicts.expect(
        "Main step 1 tool validation",
        "kind Relative or Absolute",
        p.get("chargingProfileKind") in ("Relative", "Absolute"),
        p,
    )
    cs.verdicts.equal(
        "REST",
        "listed TxProfiles",
        await listed(cs, rest, "REST", purpose="TxProfile"),
        [(cs.evse_id, 21)],
    )
    cs.assert_passed()


async def test_tc_k_04_replace_by_id(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_K_04 Replace charging profile - With chargingProfileId: 1-2. limit 8, Accepted; 3-4.
    the same id with limit 6, Accepted (same purpose, kind and stackLevel; one period each;
    startSchedule present). The CSMS lists only the second."""
    await booted(cs)
    profiles = Profiles(cs)
    for step, limit in (("Main steps 1-2", 8.0), ("Main steps 3-4", 6.0)):
        body = {"evseId": 1, "chargingProfile": absolute(40, "TxDefaultProfile", limit)}
        got = await answered(cs, rest, "setChargingProfile", body, step)
        cs.verdicts.equal(step, "status", got.get("status"), "Accepted")
        p = profiles.last(step, "SetChargingProfile").get("chargingProfile", {})
        cs.verdicts.equal(
            f"{step} tool validation",
            "the one period",
            p["chargingSchedule"][0]["chargingSchedulePeriod"],
            [{"startPeriod": 0, "limit": limit, "numberPhases": PHASES}],
        )
    resp = await rest.get(f"/v1/chargingStations/{cs.sim.station_id}/chargingProfiles")
    kept = [p["chargingProfile"] for p in resp.json().get("chargingProfiles", [])]
    cs.verdicts.equal("REST", "listed", [(p["id"], _period(p)["limit"]) for p in kept], [(40, 6.0)])
    cs.assert_passed()


async def test_tc_k_19_recurring_profile(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_K_19 ChargingProfileKind is Recurring (K01): evseId, stackLevel, TxDefaultProfile,
    startPeriod 0, Recurring with its recurrencyKind; Accepted."""
    await booted(cs)
    profiles = Profiles(cs)
    p = absolute(
        50, "TxDefaultProfile", 10.0, chargingProfileKind="Recurring", recurrencyKind="Daily"
    )
    del p["validTo"]
    p["chargingSchedule"][0]["duration"] = 86400
    got = await answered(
        cs, rest, "setChargingProfile", {"evseId": 1, "chargingProfile": p}, "Main step 1"
    )
    cs.verdicts.equal("Main step 2", "status", got.get("status"), "Accepted")
    sent = profiles.last("Main step 1", "SetChargingProfile").get("chargingProfile", {})
    cs.verdicts.fields(
        "Main step 1 tool validation",
        sent,
        {"chargingProfileKind": "Recurring", "recurrencyKind": "Daily", "stackLevel": STACK_LEVEL},
    )
    cs.assert_passed()


async def test_tc_k_70_several_profiles(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_K_70 Multiple Profiles: Before EnergyTransferStarted. 1-2. a TxDefaultProfile
    (Absolute, startSchedule), Accepted; 3-4. a ChargingStationMaxProfile of another id
    (Absolute, startSchedule), Accepted. Both listed."""
    await booted(cs)
    await energy_transfer_started(cs)
    profiles = Profiles(cs)
    for step, evse, p in (
        ("Main steps 1-2", 1, absolute(70, "TxDefaultProfile", 10.0)),
        ("Main steps 3-4", 0, absolute(71, "ChargingStationMaxProfile", 32.0)),
    ):
        got = await answered(
            cs, rest, "setChargingProfile", {"evseId": evse, "chargingProfile": p}, step
        )
        cs.verdicts.equal(step, "status", got.get("status"), "Accepted")
        sent = profiles.last(step, "SetChargingProfile").get("chargingProfile", {})
        cs.verdicts.expect(
            step, "startSchedule not omitted", "startSchedule" in sent["chargingSchedule"][0], sent
        )
    cs.verdicts.equal("REST", "listed", sorted(await listed(cs, rest, "REST")), [(0, 71), (1, 70)])
    cs.assert_passed()


# -- K10: ClearChargingProfile ---------------------------------------------------------------


async def test_tc_k_05_06_08_clear(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_K_05 (by chargingProfileId), TC_K_06 (by stackLevel/purpose/evseId for one profile),
    TC_K_08 (without a profile: Unknown) (K10, K10.FR.02). The CSMS lists what remains."""
    await booted(cs)
    profiles = Profiles(cs)
    for id_ in (60, 61):
        evse = 1 if id_ == 60 else 2
        await answered(
            cs,
            rest,
            "setChargingProfile",
            {"evseId": evse, "chargingProfile": absolute(id_, "TxDefaultProfile", 6.0)},
            "Memory state",
        )
    got = await answered(
        cs, rest, "clearChargingProfile", {"chargingProfileId": 60}, "TC_K_05 step 1"
    )
    cs.verdicts.equal("TC_K_05 step 2", "status", got.get("status"), "Accepted")
    cs.verdicts.equal("TC_K_05", "listed", await listed(cs, rest, "REST"), [(2, 61)])
    criteria = {
        "chargingProfilePurpose": "TxDefaultProfile",
        "stackLevel": STACK_LEVEL,
        "evseId": 2,
    }
    got = await answered(
        cs, rest, "clearChargingProfile", {"chargingProfileCriteria": criteria}, "TC_K_06 step 1"
    )
    cs.verdicts.equal("TC_K_06 step 2", "status", got.get("status"), "Accepted")
    sent = profiles.last("TC_K_06 step 1", "ClearChargingProfile")
    cs.verdicts.fields("TC_K_06 tool validation", sent.get("chargingProfileCriteria", {}), criteria)
    cs.verdicts.equal("TC_K_06", "listed", await listed(cs, rest, "REST"), [])
    got = await answered(
        cs, rest, "clearChargingProfile", {"chargingProfileCriteria": criteria}, "TC_K_08 step 1"
    )
    cs.verdicts.equal("TC_K_08 step 2", "status", got.get("status"), "Unknown")
    cs.assert_passed()


# -- K09: GetChargingProfiles ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "request_"),
    [
        (
            "TC_K_29 EvseId 0",
            {
                "evseId": 0,
                "chargingProfile": {"chargingProfilePurpose": "ChargingStationMaxProfile"},
            },
        ),
        ("TC_K_30 EvseId > 0", {"evseId": 1, "chargingProfile": {}}),
        ("TC_K_31 No EvseId", {"chargingProfile": {}}),
        ("TC_K_32 chargingProfileId", {"chargingProfile": {"chargingProfileId": [81]}}),
        (
            "TC_K_33 EvseId + stackLevel",
            {"evseId": 1, "chargingProfile": {"stackLevel": STACK_LEVEL}},
        ),
        (
            "TC_K_34 EvseId + chargingLimitSource",
            {"evseId": 1, "chargingProfile": {"chargingLimitSource": ["CSO"]}},
        ),
        (
            "TC_K_35 EvseId + purpose",
            {"evseId": 1, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}},
        ),
        (
            "TC_K_36 EvseId + purpose + stackLevel",
            {
                "evseId": 1,
                "chargingProfile": {
                    "chargingProfilePurpose": "TxDefaultProfile",
                    "stackLevel": STACK_LEVEL,
                },
            },
        ),
    ],
)
async def test_tc_k_29_to_36_get_charging_profiles(
    cs: OcttStation, rest: httpx.AsyncClient, case: str, request_: JSON
) -> None:
    """TC_K_29 to TC_K_36 (K09, K09.FR.03): with profiles installed (a ChargingStationMaxProfile
    on evseId 0, TxDefaultProfiles on EVSE 1 and 2), 1. the CSMS sends GetChargingProfilesRequest
    with the case's criteria (tool validation), 2. Accepted, 3. ReportChargingProfiles with its
    requestId (a part per EVSE), 4. answered. The CSMS then lists, for those criteria, what was
    reported."""
    await booted(cs)
    profiles = Profiles(cs)
    for evse, p in (
        (0, absolute(80, "ChargingStationMaxProfile", 32.0)),
        (1, absolute(81, "TxDefaultProfile", 16.0)),
        (2, absolute(82, "TxDefaultProfile", 16.0)),
    ):
        await answered(
            cs, rest, "setChargingProfile", {"evseId": evse, "chargingProfile": p}, "Before"
        )
    request_id = int(uuid.uuid4().int % 2**31)
    got = await answered(
        cs, rest, "getChargingProfiles", {"requestId": request_id, **request_}, "Main step 1"
    )
    cs.verdicts.equal("Main step 2", "status", got.get("status"), "Accepted")
    sent = profiles.last("Main step 1", "GetChargingProfiles")
    cs.verdicts.fields(f"{case} tool validation", sent, {"requestId": request_id, **request_})
    if "evseId" not in request_:
        cs.verdicts.expect(f"{case} tool validation", "evseId omitted", "evseId" not in sent, sent)
    await profiles.report("Main steps 3-4", sent)
    reported = sorted((e, p["id"]) for e, p in profiles.matching(sent))
    cs.verdicts.expect(case, "the station reported something", bool(reported), reported)
    everything = sorted(await listed(cs, rest, "REST"))
    cs.verdicts.equal("REST", "listed after the report", everything, [(0, 80), (1, 81), (2, 82)])
    cs.assert_passed()


async def test_tc_k_52_external_constraints_in_report(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_K_52 ChargingStationExternalConstraints in report (K12): 1-2. GetChargingProfiles,
    Accepted; 3-4. a ReportChargingProfiles with an EMS's ChargingStationExternalConstraints,
    answered. The CSMS lists it, source EMS, and counts it in its composite schedule."""
    await booted(cs)
    profiles = Profiles(cs)
    request_id = 5252
    got = await answered(
        cs,
        rest,
        "getChargingProfiles",
        {"requestId": request_id, "chargingProfile": {"chargingLimitSource": ["EMS"]}},
        "Main step 1",
    )
    cs.verdicts.equal("Main step 2", "status", got.get("status"), "NoProfiles")
    external = absolute(90, "ChargingStationExternalConstraints", 12.0)
    await cs.send(
        "Main steps 3-4",
        "ReportChargingProfiles",
        {
            "requestId": request_id,
            "chargingLimitSource": "EMS",
            "evseId": 0,
            "chargingProfile": [external],
        },
    )
    resp = await rest.get(
        f"/v1/chargingStations/{cs.sim.station_id}/chargingProfiles", params={"source": "EMS"}
    )
    found = resp.json().get("chargingProfiles", [])
    cs.verdicts.equal(
        "REST",
        "EMS profiles",
        [(p.get("evseId", 0), p["chargingProfile"]["id"]) for p in found],
        [(0, 90)],
    )
    resp = await rest.get(
        f"/v1/chargingStations/{cs.sim.station_id}/compositeSchedule",
        params={"evseId": 0, "duration": 60, "chargingRateUnit": "A"},
    )
    periods = resp.json().get("chargingSchedulePeriod", [])
    cs.verdicts.equal("REST composite", "limit", [p.get("limit") for p in periods], [12.0])
    del profiles
    cs.assert_passed()


# -- K05 / F01: RequestStartTransaction with a TxProfile ---------------------------------------


async def test_tc_k_37_remote_start_with_profile(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_K_37 (K05.FR.02, F01.FR.08/09/11): 1. RequestStartTransactionRequest with the
    configured idToken, evseId and a TxProfile without transactionId (Relative or Absolute);
    2. Accepted; 3. TransactionEvent RemoteStart with its remoteStartId; 4. answered. The
    profile is then listed with the transaction."""
    await booted(cs)
    received: list[JSON] = []
    cs.sim.answer("RequestStartTransaction", lambda r: received.append(r) or {"status": "Accepted"})
    body = {
        "remoteStartId": 3737,
        "evseId": cs.evse_id,
        "idToken": dict(cs.id_token),
        "chargingProfile": relative_tx(37, 16.0, None),
    }
    got = await answered(cs, rest, "requestStartTransaction", body, "Main step 1")
    cs.verdicts.equal("Main step 2", "status", got.get("status"), "Accepted")
    sent = received[-1] if received else {}
    cs.verdicts.fields(
        "Main step 1 tool validation", sent, {"idToken": cs.id_token, "evseId": cs.evse_id}
    )
    p = sent.get("chargingProfile", {})
    cs.verdicts.equal(
        "Main step 1 tool validation", "purpose", p.get("chargingProfilePurpose"), "TxProfile"
    )
    cs.verdicts.expect(
        "Main step 1 tool validation", "transactionId omitted", "transactionId" not in p, p
    )
    tx_id = str(uuid.uuid4())
    cs.transaction_id = tx_id
    answer = await cs.send(
        "Main steps 3-4",
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": _at(),
            "triggerReason": "RemoteStart",
            "seqNo": 0,
            "transactionInfo": {"transactionId": tx_id, "remoteStartId": 3737},
            "idToken": dict(cs.id_token),
            "evse": {"id": cs.evse_id, "connectorId": cs.connector_id},
        },
    )
    cs.verdicts.expect("Main step 4", "answered", answer is not None, answer)
    resp = await rest.get(
        f"/v1/chargingStations/{cs.sim.station_id}/chargingProfiles",
        params={"purpose": "TxProfile"},
    )
    found = resp.json().get("chargingProfiles", [])
    cs.verdicts.equal(
        "REST",
        "the TxProfile joins its transaction",
        [p["chargingProfile"].get("transactionId") for p in found],
        [tx_id],
    )
    cs.assert_passed()


# -- K08: GetCompositeSchedule -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "evse"), [("TC_K_43 Specific EVSE", 1), ("TC_K_44 Charging Station", 0)]
)
async def test_tc_k_43_44_composite_schedule(
    cs: OcttStation, rest: httpx.AsyncClient, case: str, evse: int
) -> None:
    """TC_K_43 / TC_K_44 (K08.FR.01): 1. GetCompositeScheduleRequest (evseId 1 or 0, the
    configured duration and unit), 2. the station's answer. Beyond the case: the CSMS's own
    composite (GET .../compositeSchedule) is the station's, for the profile installed (a
    ChargingStationMaxProfile of 20 A covering the duration)."""
    await booted(cs)
    profiles = Profiles(cs)
    await answered(
        cs,
        rest,
        "setChargingProfile",
        {"evseId": 0, "chargingProfile": absolute(43, "ChargingStationMaxProfile", 20.0)},
        "Before",
    )
    got = await answered(
        cs,
        rest,
        "getCompositeSchedule",
        {"evseId": evse, "duration": 600, "chargingRateUnit": UNIT},
        "Main step 1",
    )
    cs.verdicts.equal("Main step 2", "status", got.get("status"), "Accepted")
    sent = profiles.last("Main step 1", "GetCompositeSchedule")
    cs.verdicts.fields(
        f"{case} tool validation", sent, {"evseId": evse, "duration": 600, "chargingRateUnit": UNIT}
    )
    station = [
        (p["startPeriod"], p["limit"])
        for p in got.get("schedule", {}).get("chargingSchedulePeriod", [])
    ]
    resp = await rest.get(
        f"/v1/chargingStations/{cs.sim.station_id}/compositeSchedule",
        params={"evseId": evse, "duration": 600, "chargingRateUnit": UNIT},
    )
    csms = [
        (p["startPeriod"], p.get("limit")) for p in resp.json().get("chargingSchedulePeriod", [])
    ]
    cs.verdicts.equal("REST composite", "the CSMS's composite equals the station's", csms, station)
    cs.assert_passed()


# -- K12 / K13: external limits -----------------------------------------------------------------


async def test_tc_k_48_to_51_external_limits(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_K_48 (NotifyChargingLimit EMS, answered), TC_K_49 (the same during a transaction),
    TC_K_50 (ClearedChargingLimit EMS without a
    transaction, answered), TC_K_51 (Before EnergyTransferStarted: ClearedChargingLimit, then a
    TransactionEvent ChargingRateChanged, both answered). The CSMS lists the limit while it is
    reported and not after."""
    await booted(cs)
    schedule = {
        "id": 1,
        "chargingRateUnit": UNIT,
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
    }
    answer = await cs.send(
        "TC_K_48 steps 1-2",
        "NotifyChargingLimit",
        {
            "chargingLimit": {"chargingLimitSource": "EMS", "isGridCritical": True},
            "chargingSchedule": [schedule],
            "evseId": 1,
        },
    )
    cs.verdicts.expect("TC_K_48 step 2", "answered", answer is not None, answer)
    resp = await rest.get(f"/v1/chargingStations/{cs.sim.station_id}/chargingLimits")
    cs.verdicts.equal(
        "REST",
        "limits",
        [x["chargingLimit"]["chargingLimitSource"] for x in resp.json().get("chargingLimits", [])],
        ["EMS"],
    )
    answer = await cs.send(
        "TC_K_50 steps 1-2", "ClearedChargingLimit", {"chargingLimitSource": "EMS"}
    )
    cs.verdicts.expect("TC_K_50 step 2", "answered", answer is not None, answer)
    resp = await rest.get(f"/v1/chargingStations/{cs.sim.station_id}/chargingLimits")
    cs.verdicts.equal("REST", "limits", resp.json().get("chargingLimits", []), [])
    await energy_transfer_started(cs)
    # TC_K_49 (K12, built from its requirements: not in the public reimplementation): with a
    # transaction, 1-2. NotifyChargingLimit (EMS, the EVSE, a schedule), answered; 3-4. the
    # TransactionEvent ChargingRateChanged, answered; the limit listed and in the composite.
    answer = await cs.send(
        "TC_K_49 steps 1-2",
        "NotifyChargingLimit",
        {
            "chargingLimit": {"chargingLimitSource": "EMS"},
            "chargingSchedule": [schedule],
            "evseId": 1,
        },
    )
    cs.verdicts.expect("TC_K_49 step 2", "answered", answer is not None, answer)
    await cs.transaction_event("TC_K_49 steps 3-4", "Updated", "ChargingRateChanged")
    resp = await rest.get(
        f"/v1/chargingStations/{cs.sim.station_id}/compositeSchedule",
        params={"evseId": 1, "duration": 60, "chargingRateUnit": "A"},
    )
    periods = resp.json().get("chargingSchedulePeriod", [])
    cs.verdicts.equal("TC_K_49 REST composite", "limit", [p.get("limit") for p in periods], [10.0])
    answer = await cs.send(
        "TC_K_51 steps 1-2", "ClearedChargingLimit", {"chargingLimitSource": "EMS", "evseId": 1}
    )
    cs.verdicts.expect("TC_K_51 step 2", "answered", answer is not None, answer)
    await cs.transaction_event("TC_K_51 steps 3-4", "Updated", "ChargingRateChanged")
    cs.assert_passed()


# -- K15 / K16 / K17: ISO 15118 charging needs and schedules ------------------------------------


@pytest.fixture
async def site(rest: httpx.AsyncClient, cs: OcttStation) -> AsyncIterator[str]:
    """The operator's configuration for the ISO 15118 cases: the station's EVSE on a site of
    32 A, so that the CSMS (its load manager) answers EV charging needs with a TxProfile."""
    site_id = f"octt-{uuid.uuid4().hex[:8]}"
    body = {
        "id": site_id,
        "limit": 32,
        "evses": [{"stationId": cs.sim.station_id, "evseId": cs.evse_id}],
    }
    resp = await rest.post("/v1/sites", json=body)
    assert resp.status_code == 200, resp.text
    yield site_id
    await rest.delete(f"/v1/sites/{site_id}")


NEEDS = {
    "requestedEnergyTransfer": "AC_three_phase",
    "acChargingParameters": {
        "energyAmount": 20000,
        "evMinCurrent": 6,
        "evMaxCurrent": 20,
        "evMaxVoltage": 400,
    },
}


async def _tx_profile(
    profiles: Profiles, cs: OcttStation, step: str, after: int, limit: float | None = None
) -> JSON:
    """The next TxProfile the CSMS sends by itself (of that limit, when given; within 10 s)."""
    for _ in range(100):
        got = [
            r
            for a, r in profiles.received[after:]
            if a == "SetChargingProfile"
            and r["chargingProfile"]["chargingProfilePurpose"] == "TxProfile"
            and (limit is None or _period(r["chargingProfile"])["limit"] == limit)
        ]
        if got:
            request = got[0]
            cs.verdicts.equal(f"{step} tool validation", "evseId", request["evseId"], cs.evse_id)
            cs.verdicts.equal(
                f"{step} tool validation",
                "transactionId",
                request["chargingProfile"].get("transactionId"),
                cs.transaction_id,
            )
            return request
        await asyncio.sleep(0.1)
    cs.verdicts.fail(
        step, "the CSMS sends a SetChargingProfileRequest (TxProfile)", "none within 10 s"
    )
    return {}


def _ev_schedule(cs: OcttStation, limit: float) -> JSON:
    return {
        "timeBase": _at(),
        "evseId": cs.evse_id,
        "chargingSchedule": {
            "id": 1,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
    }


async def _pre_session(cs: OcttStation) -> Profiles:
    """Before: Authorized and EVConnectedPreSession (the ISO 15118 cases)."""
    await booted(cs)
    profiles = Profiles(cs)
    await authorized(cs)
    await ev_connected_pre_session(cs)
    return profiles


async def test_tc_k_53_57_load_leveling_needs_answered_with_a_profile(
    cs: OcttStation, site: str
) -> None:
    """TC_K_53 (K15.FR.02/03/05/07/11) and TC_K_57 (K17, initiated by the EV): 1.
    NotifyEVChargingNeedsRequest, 2. Accepted (or Processing), 3. the CSMS sends a TxProfile for
    the transaction on its EVSE, 4. Accepted, 5. NotifyEVChargingScheduleRequest within it, 6.
    Accepted. (Here the limit is the EV's maximum, 20 A, on a 32 A site.)"""
    profiles = await _pre_session(cs)
    mark = len(profiles.received)
    answer = await cs.send(
        "Main steps 1-2", "NotifyEVChargingNeeds", {"evseId": cs.evse_id, "chargingNeeds": NEEDS}
    )
    cs.verdicts.expect(
        "Main step 2 tool validation",
        "Accepted or Processing",
        (answer or {}).get("status") in ("Accepted", "Processing"),
        answer,
    )
    # (A TxProfile at the site's 32 A may come first: the EVSE's transaction got one when it
    # began; the answer to the needs is the one at the EV's maximum.)
    request = await _tx_profile(profiles, cs, "Main step 3", mark, limit=20.0)
    limit = _period(request["chargingProfile"])["limit"] if request else 0
    answer = await cs.send("Main steps 5-6", "NotifyEVChargingSchedule", _ev_schedule(cs, limit))
    cs.verdicts.equal(
        "Main step 6 tool validation", "status", (answer or {}).get("status"), "Accepted"
    )
    cs.assert_passed()


async def test_tc_k_55_ev_schedule_exceeds_limits(cs: OcttStation, site: str) -> None:
    """TC_K_55 (K15.FR.12/13, K16.FR.07/08): 1-4. needs, Accepted, a TxProfile, Accepted; 5-6.
    an EV schedule above that TxProfile, Rejected; 7-8. TransactionEvent Charging; 9-10. the CSMS
    renegotiates: a TxProfile again, Accepted; 11-12. an EV schedule within it, Accepted; 13-14.
    TransactionEvent ChargingRateChanged."""
    profiles = await _pre_session(cs)
    mark = len(profiles.received)
    await cs.send(
        "Main steps 1-2", "NotifyEVChargingNeeds", {"evseId": cs.evse_id, "chargingNeeds": NEEDS}
    )
    request = await _tx_profile(profiles, cs, "Main step 3", mark, limit=20.0)
    limit = _period(request["chargingProfile"])["limit"] if request else 0.0
    mark = len(profiles.received)
    answer = await cs.send(
        "Main steps 5-6", "NotifyEVChargingSchedule", _ev_schedule(cs, limit + 5)
    )
    cs.verdicts.equal("Main step 6", "status", (answer or {}).get("status"), "Rejected")
    await cs.transaction_event(
        "Main steps 7-8", "Updated", "ChargingStateChanged", charging_state="Charging"
    )
    request = await _tx_profile(profiles, cs, "Main step 9", mark)
    again = _period(request["chargingProfile"])["limit"] if request else 0.0
    answer = await cs.send("Main steps 11-12", "NotifyEVChargingSchedule", _ev_schedule(cs, again))
    cs.verdicts.equal("Main step 12", "status", (answer or {}).get("status"), "Accepted")
    await cs.transaction_event("Main steps 13-14", "Updated", "ChargingRateChanged")
    cs.assert_passed()


async def test_tc_k_58_59_renegotiation_initiated_by_the_csms(
    cs: OcttStation, rest: httpx.AsyncClient, site: str
) -> None:
    """TC_K_58 (K16.FR.06): 1. the CSMS sends a TxProfile (the operator lowers the site: its
    load manager renegotiates), 2. Accepted, 3. an EV schedule within it, 4. Accepted. TC_K_59
    (K16.FR.12): then 3. NotifyEVChargingNeeds, 4. Accepted, 5. the CSMS sends a TxProfile, 6.
    Accepted, 7-8. an EV schedule within it, Accepted."""
    profiles = await _pre_session(cs)
    mark = len(profiles.received)
    resp = await rest.patch(
        f"/v1/sites/{site}", params={"update_mask": "limit"}, json={"limit": 12}
    )
    cs.verdicts.equal("TC_K_58 manual action", "REST status", resp.status_code, 200)
    request = await _tx_profile(profiles, cs, "TC_K_58 step 1", mark, limit=12.0)
    limit = _period(request["chargingProfile"])["limit"] if request else 0.0
    cs.verdicts.equal("TC_K_58 step 1", "the TxProfile's limit (the site's)", limit, 12.0)
    answer = await cs.send("TC_K_58 steps 3-4", "NotifyEVChargingSchedule", _ev_schedule(cs, limit))
    cs.verdicts.equal(
        "TC_K_58 step 4 tool validation", "status", (answer or {}).get("status"), "Accepted"
    )
    mark = len(profiles.received)
    answer = await cs.send(
        "TC_K_59 steps 3-4", "NotifyEVChargingNeeds", {"evseId": cs.evse_id, "chargingNeeds": NEEDS}
    )
    cs.verdicts.expect(
        "TC_K_59 step 4 tool validation",
        "Accepted or Processing",
        (answer or {}).get("status") in ("Accepted", "Processing"),
        answer,
    )
    request = await _tx_profile(profiles, cs, "TC_K_59 step 5", mark, limit=12.0)
    limit = _period(request["chargingProfile"])["limit"] if request else 0.0
    answer = await cs.send("TC_K_59 steps 7-8", "NotifyEVChargingSchedule", _ev_schedule(cs, limit))
    cs.verdicts.equal(
        "TC_K_59 step 8 tool validation", "status", (answer or {}).get("status"), "Accepted"
    )
    cs.assert_passed()
