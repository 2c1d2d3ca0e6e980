"""Smart charging (OCPP 2.0.1 block K) end to end: REST through Envoy, device_svc, the gateway
and a real WebSocket station, with transaction_svc keeping what the station holds.

The station here keeps its profiles as OCPP says a station does (one per id, cleared by id or by
criteria, reported in parts on GetChargingProfiles), so that what the CSMS lists can be held
against what the station really has.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.e2e.station_sim import Station, now

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]


def profile(id_: int, **fields: Any) -> JSON:
    """A Relative TxDefaultProfile of 16 A, then 8 A after 10 minutes."""
    return {
        "id": id_,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0},
                    {"startPeriod": 600, "limit": 8.0},
                ],
            }
        ],
        **fields,
    }


class Profiles:
    """The station's own profiles: (evseId, ChargingProfileType) by id."""

    def __init__(self, station: Station) -> None:
        self.held: dict[int, tuple[int, JSON]] = {}
        self.refuse = False
        station.answer("SetChargingProfile", self.set)
        station.answer("ClearChargingProfile", self.clear)
        station.answer("GetChargingProfiles", self.get)

    def set(self, request: JSON) -> JSON:
        if self.refuse:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "NoCapacity"}}
        p = request["chargingProfile"]
        self.held[p["id"]] = (request["evseId"], p)
        return {"status": "Accepted"}

    def clear(self, request: JSON) -> JSON:
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

    def get(self, request: JSON) -> JSON:
        return {"status": "Accepted" if self.held else "NoProfiles"}


@pytest.fixture
async def station(ws_url: Callable[[str], str], station_id: str) -> AsyncIterator[Station]:
    st = await Station.connect(ws_url(station_id), station_id)
    try:
        boot = await st.boot()
        assert boot["status"] == "Accepted", boot
        yield st
    finally:
        await st.close()
    assert st.violations == []


async def command(
    rest: httpx.AsyncClient, station_id: str, verb: str, body: JSON
) -> httpx.Response:
    return await rest.post(f"/v1/chargingStations/{station_id}:{verb}", json=body)


async def listed(rest: httpx.AsyncClient, station_id: str, **params: Any) -> list[JSON]:
    resp = await rest.get(f"/v1/chargingStations/{station_id}/chargingProfiles", params=params)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["chargingProfiles"])


def ids(found: list[JSON]) -> list[tuple[int, int]]:
    return [(p["evseId"], p["chargingProfile"]["id"]) for p in found]


async def set_profile(
    rest: httpx.AsyncClient, station_id: str, evse: int, p: JSON
) -> httpx.Response:
    return await command(
        rest, station_id, "setChargingProfile", {"evseId": evse, "chargingProfile": p}
    )


def started(tx_id: str, evse: int = 1, **info: Any) -> JSON:
    return {
        "eventType": "Started",
        "timestamp": now(),
        "triggerReason": "CablePluggedIn",
        "seqNo": 0,
        "transactionInfo": {"transactionId": tx_id, **info},
        "evse": {"id": evse, "connectorId": 1},
    }


# -- set, list, refuse -----------------------------------------------------------------------


async def test_set_accepted_is_listed_rejected_is_not(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    profiles = Profiles(station)
    resp = await set_profile(rest, station_id, 1, profile(1))
    assert resp.status_code == 200 and resp.json() == {"status": "Accepted"}, resp.text
    [got] = station.calls("SetChargingProfile")
    assert got.payload == {"evseId": 1, "chargingProfile": profile(1)}
    [entry] = await listed(rest, station_id)
    assert entry["stationId"] == station_id and entry["evseId"] == 1
    assert entry["chargingLimitSource"] == "CSO"
    assert entry["chargingProfile"] == profile(1)
    assert "updateTime" in entry

    profiles.refuse = True
    resp = await set_profile(rest, station_id, 2, profile(2))
    assert resp.status_code == 200 and resp.json()["status"] == "Rejected", resp.text
    assert ids(await listed(rest, station_id)) == [(1, 1)]


async def test_an_invalid_profile_is_400_and_the_station_gets_nothing(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """K01's rules: a TxProfile without an active transaction (K01.FR.09), a second profile of
    one EVSE, purpose and stack level (K01.FR.06), periods not starting at 0 (K01.FR.31); and the
    schema's: a purpose OCPP lacks."""
    Profiles(station)
    assert (await set_profile(rest, station_id, 1, profile(1))).status_code == 200
    bad_start = profile(3)
    bad_start["chargingSchedule"][0]["chargingSchedulePeriod"][0]["startPeriod"] = 30
    refused = [
        (profile(2, chargingProfilePurpose="TxProfile", transactionId="nope"), "K01.FR.09"),
        (profile(2), "K01.FR.06"),
        (bad_start, "K01.FR.31"),
        (profile(2, chargingProfilePurpose="Whatever"), "schema"),
    ]
    for p, rule in refused:
        resp = await set_profile(rest, station_id, 1, p)
        assert resp.status_code == 400, resp.text
        assert rule in resp.json()["message"], resp.text
    assert len(station.calls("SetChargingProfile")) == 1
    assert ids(await listed(rest, station_id)) == [(1, 1)]


async def test_filters_and_tx_profiles(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """A TxProfile for the running transaction (K_60), listed with the filters, gone with its
    transaction."""
    Profiles(station)
    tx_id = f"tx-{uuid.uuid4().hex[:10]}"
    await station.call("TransactionEvent", started(tx_id))
    max_profile = profile(1, chargingProfilePurpose="ChargingStationMaxProfile")
    max_profile["chargingProfileKind"] = "Absolute"
    max_profile["chargingSchedule"][0]["startSchedule"] = now()
    tx = profile(3, chargingProfilePurpose="TxProfile", transactionId=tx_id, stackLevel=2)
    for evse, p in [(0, max_profile), (1, profile(2)), (1, tx)]:
        resp = await set_profile(rest, station_id, evse, p)
        assert resp.status_code == 200 and resp.json()["status"] == "Accepted", resp.text
    assert ids(await listed(rest, station_id)) == [(0, 1), (1, 2), (1, 3)]
    assert ids(await listed(rest, station_id, evseId=1)) == [(1, 2), (1, 3)]
    assert ids(await listed(rest, station_id, purpose="TxProfile")) == [(1, 3)]
    assert ids(await listed(rest, station_id, stackLevel=2)) == [(1, 3)]
    assert ids(await listed(rest, station_id, source="CSO")) == [(0, 1), (1, 2), (1, 3)]
    assert await listed(rest, station_id, source="EMS") == []
    bad = await rest.get(
        f"/v1/chargingStations/{station_id}/chargingProfiles", params={"purpose": "Tx"}
    )
    assert bad.status_code == 400, bad.text
    ended = {
        "eventType": "Ended",
        "timestamp": now(),
        "triggerReason": "EVDeparted",
        "seqNo": 1,
        "transactionInfo": {"transactionId": tx_id, "stoppedReason": "EVDisconnected"},
    }
    await station.call("TransactionEvent", ended)
    assert ids(await listed(rest, station_id)) == [(0, 1), (1, 2)]


# -- clear, report ---------------------------------------------------------------------------


async def test_clear_by_id_and_by_criteria(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    profiles = Profiles(station)
    for evse, p in [(0, profile(1)), (1, profile(2, stackLevel=1)), (2, profile(3))]:
        assert (await set_profile(rest, station_id, evse, p)).status_code == 200
    resp = await command(rest, station_id, "clearChargingProfile", {"chargingProfileId": 2})
    assert resp.json() == {"status": "Accepted"}, resp.text
    assert ids(await listed(rest, station_id)) == [(0, 1), (2, 3)]
    resp = await command(rest, station_id, "clearChargingProfile", {"chargingProfileId": 99})
    assert resp.json() == {"status": "Unknown"}, resp.text
    criteria = {
        "chargingProfileCriteria": {"evseId": 2, "chargingProfilePurpose": "TxDefaultProfile"}
    }
    resp = await command(rest, station_id, "clearChargingProfile", criteria)
    assert resp.json() == {"status": "Accepted"}, resp.text
    assert ids(await listed(rest, station_id)) == [(0, 1)]
    assert sorted(profiles.held) == [1]


async def test_report_charging_profiles_reconciles(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """The CSMS believes the station holds 1 and 2; the station lost 1 and an EMS installed 5.
    GetChargingProfiles, answered in two parts: the list becomes what the station holds."""
    profiles = Profiles(station)
    for evse, p in [(1, profile(1)), (1, profile(2, stackLevel=1))]:
        assert (await set_profile(rest, station_id, evse, p)).status_code == 200
    del profiles.held[1]
    ems = profile(5, stackLevel=4)
    request_id = random.randrange(1, 2**31)
    resp = await command(
        rest,
        station_id,
        "getChargingProfiles",
        {
            "requestId": request_id,
            "chargingProfile": {"chargingLimitSource": ["CSO", "EMS", "SO", "Other"]},
        },
    )
    assert resp.json() == {"status": "Accepted"}, resp.text
    part = {"requestId": request_id, "chargingLimitSource": "CSO", "evseId": 1}
    await station.call(
        "ReportChargingProfiles",
        {**part, "chargingProfile": [profile(2, stackLevel=1)], "tbc": True},
    )
    await station.call(
        "ReportChargingProfiles", {**part, "chargingLimitSource": "EMS", "chargingProfile": [ems]}
    )
    found = await listed(rest, station_id)
    assert [(p["chargingProfile"]["id"], p["chargingLimitSource"]) for p in found] == [
        (2, "CSO"),
        (5, "EMS"),
    ]
    assert ids(await listed(rest, station_id, source="EMS")) == [(1, 5)]


async def test_get_charging_profiles_no_profiles_forgets(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    profiles = Profiles(station)
    assert (await set_profile(rest, station_id, 1, profile(1))).status_code == 200
    profiles.held.clear()  # the station lost it (a factory reset)
    resp = await command(
        rest,
        station_id,
        "getChargingProfiles",
        {"requestId": 3, "chargingProfile": {"chargingLimitSource": ["CSO", "EMS", "SO", "Other"]}},
    )
    assert resp.json() == {"status": "NoProfiles"}, resp.text
    assert await listed(rest, station_id) == []


async def test_remote_start_with_a_tx_profile(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """K_37: RequestStartTransaction with a TxProfile (no transactionId): listed, then the
    transaction's once the station reports it."""
    remote_start_id = random.randrange(1, 2**31)
    tx_profile = profile(7, chargingProfilePurpose="TxProfile")
    body = {
        "idToken": {"idToken": "APP-1", "type": "Central"},
        "remoteStartId": remote_start_id,
        "evseId": 1,
        "chargingProfile": tx_profile,
    }
    resp = await command(rest, station_id, "requestStartTransaction", body)
    assert resp.json() == {"status": "Accepted"}, resp.text
    assert station.calls("RequestStartTransaction")[0].payload == body
    [entry] = await listed(rest, station_id)
    assert entry["chargingProfile"] == tx_profile and entry["evseId"] == 1
    tx_id = f"tx-{uuid.uuid4().hex[:10]}"
    await station.call("TransactionEvent", started(tx_id, remoteStartId=remote_start_id))
    [entry] = await listed(rest, station_id)
    assert entry["chargingProfile"]["transactionId"] == tx_id
    with_tx_id = {**body, "chargingProfile": {**tx_profile, "transactionId": tx_id}}
    resp = await command(rest, station_id, "requestStartTransaction", with_tx_id)
    assert resp.status_code == 400 and "F01.FR.11" in resp.json()["message"], resp.text


# -- what stations report --------------------------------------------------------------------


async def test_external_limits_reported_and_cleared(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    schedule = {
        "id": 1,
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}],
    }
    assert (
        await station.call(
            "NotifyChargingLimit",
            {
                "evseId": 1,
                "chargingLimit": {"chargingLimitSource": "EMS", "isGridCritical": True},
                "chargingSchedule": [schedule],
            },
        )
        == {}
    )
    await station.call("NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "SO"}})
    resp = await rest.get(f"/v1/chargingStations/{station_id}/chargingLimits")
    assert resp.status_code == 200, resp.text
    limits = resp.json()["chargingLimits"]
    assert [(x.get("evseId"), x["chargingLimit"]) for x in limits] == [
        (None, {"chargingLimitSource": "SO"}),
        (1, {"chargingLimitSource": "EMS", "isGridCritical": True}),
    ]
    assert limits[1]["chargingSchedule"] == [schedule]
    assert (
        await station.call("ClearedChargingLimit", {"chargingLimitSource": "EMS", "evseId": 1})
        == {}
    )
    resp = await rest.get(f"/v1/chargingStations/{station_id}/chargingLimits")
    assert [x["chargingLimit"]["chargingLimitSource"] for x in resp.json()["chargingLimits"]] == [
        "SO"
    ]


async def test_ev_charging_needs_and_schedule(
    rest: httpx.AsyncClient, station: Station, station_id: str, reader_key: str
) -> None:
    needs = {
        "requestedEnergyTransfer": "DC",
        "departureTime": "2026-12-04T18:00:00Z",
        "dcChargingParameters": {"evMaxCurrent": 200, "evMaxVoltage": 800, "stateOfCharge": 20},
    }
    answer = await station.call(
        "NotifyEVChargingNeeds", {"evseId": 1, "maxScheduleTuples": 5, "chargingNeeds": needs}
    )
    assert answer == {"status": "Accepted"}
    answer = await station.call(
        "NotifyEVChargingNeeds", {"evseId": 2, "chargingNeeds": {"requestedEnergyTransfer": "DC"}}
    )
    assert answer["status"] == "Rejected" and answer["statusInfo"]["reasonCode"]
    ev_schedule = {
        "id": 1,
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 50000.0}],
    }
    answer = await station.call(
        "NotifyEVChargingSchedule",
        {"timeBase": "2026-12-04T10:00:00Z", "evseId": 1, "chargingSchedule": ev_schedule},
    )
    assert answer == {"status": "Accepted"}
    resp = await rest.get(f"/v1/chargingStations/{station_id}/evChargingNeeds")
    assert resp.status_code == 200, resp.text
    found = resp.json()
    [first, second] = found["evChargingNeeds"]
    assert first["evseId"] == 1 and first["chargingNeeds"] == needs
    assert first["maxScheduleTuples"] == 5 and first["status"] == "Accepted"
    assert second["status"] == "Rejected"
    [sched] = found["evChargingSchedules"]
    assert sched["timeBase"] == "2026-12-04T10:00:00Z" and sched["chargingSchedule"] == ev_schedule


# -- the composite schedule ------------------------------------------------------------------


async def test_composite_schedule_computed_by_the_csms(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """A ChargingStationMaxProfile of 10 A and EVSE 1's TxDefaultProfile of 16 A then 8 A: the
    CSMS's composite for EVSE 1 is 10 A, then 8 A after 600 s; for EVSE 2 (no profile of its
    own) the station's 10 A."""
    Profiles(station)
    start = "2026-12-04T10:00:00Z"
    max_profile = profile(1, chargingProfilePurpose="ChargingStationMaxProfile")
    max_profile["chargingProfileKind"] = "Absolute"
    max_profile["chargingSchedule"] = [
        {
            "id": 1,
            "startSchedule": "2026-12-04T09:00:00Z",
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
        }
    ]
    default = profile(2, chargingProfileKind="Absolute")
    default["chargingSchedule"][0]["startSchedule"] = start
    for evse, p in [(0, max_profile), (1, default)]:
        resp = await set_profile(rest, station_id, evse, p)
        assert resp.status_code == 200 and resp.json()["status"] == "Accepted", resp.text
    url = f"/v1/chargingStations/{station_id}/compositeSchedule"
    params = {"evseId": 1, "duration": 1200, "chargingRateUnit": "A", "scheduleStart": start}
    resp = await rest.get(url, params=params)
    assert resp.status_code == 200, resp.text
    composite = resp.json()
    assert composite["evseId"] == 1 and composite["duration"] == 1200
    assert composite["chargingRateUnit"] == "A"
    assert composite["scheduleStart"] == start
    periods = [(p["startPeriod"], p["limit"]) for p in composite["chargingSchedulePeriod"]]
    assert periods == [(0, 10.0), (600, 8.0)]
    resp = await rest.get(url, params={**params, "evseId": 2})
    assert [p["limit"] for p in resp.json()["chargingSchedulePeriod"]] == [10.0]
    bad = await rest.get(url, params={**params, "duration": 0})
    assert bad.status_code == 400, bad.text
