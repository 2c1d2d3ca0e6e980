"""Variable monitoring (OCPP 2.0.1 block N, N02/N04/N05/N06/N07) end to end: REST through Envoy,
device_svc, the gateway and a real WebSocket station that keeps its monitors as a station does
(Accepted with an id, cleared by id with NotFound when absent, reported in
NotifyMonitoringReport parts)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.station_sim import Station, now

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
POWER = {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}}
TEMP = {"component": {"name": "ChargingStation"}, "variable": {"name": "Temperature"}}


class Watch:
    """The station's monitors, by id."""

    def __init__(self, station: Station) -> None:
        self.held: dict[int, JSON] = {}
        self.ids = itertools.count(100)
        self.received: list[tuple[str, JSON]] = []
        station.answer("SetVariableMonitoring", self.set)
        station.answer("ClearVariableMonitoring", self.clear)
        station.answer("GetMonitoringReport", self.get)
        station.answer(
            "SetMonitoringBase", lambda r: self._log("SetMonitoringBase", r, {"status": "Accepted"})
        )
        station.answer(
            "SetMonitoringLevel",
            lambda r: self._log("SetMonitoringLevel", r, {"status": "Accepted"}),
        )

    def _log(self, action: str, request: JSON, answer: JSON) -> JSON:
        self.received.append((action, request))
        return answer

    def set(self, request: JSON) -> JSON:
        results = []
        for data in request["setMonitoringData"]:
            result: JSON = {
                "status": "Accepted" if data["value"] >= 0 else "Rejected",
                "type": data["type"],
                "severity": data["severity"],
                "component": data["component"],
                "variable": data["variable"],
            }
            if result["status"] == "Accepted":
                result["id"] = data.get("id", next(self.ids))
                self.held[result["id"]] = data | {"id": result["id"]}
            results.append(result)
        return {"setMonitoringResult": results}

    def clear(self, request: JSON) -> JSON:
        return {
            "clearMonitoringResult": [
                {"id": i, "status": "Accepted" if self.held.pop(i, None) else "NotFound"}
                for i in request["id"]
            ]
        }

    def get(self, request: JSON) -> JSON:
        self.received.append(("GetMonitoringReport", request))
        return {"status": "Accepted" if self.held else "EmptyResultSet"}


async def command(rest: httpx.AsyncClient, station_id: str, verb: str, body: JSON) -> JSON:
    resp = await rest.post(f"/v1/chargingStations/{station_id}:{verb}", json=body)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def monitors(rest: httpx.AsyncClient, station_id: str) -> list[tuple[int, str, float, str]]:
    resp = await rest.get(f"/v1/chargingStations/{station_id}/monitors")
    assert resp.status_code == 200, resp.text
    return [
        (
            m["variableMonitoring"]["id"],
            m["variableMonitoring"]["type"],
            m["variableMonitoring"]["value"],
            m["source"],
        )
        for m in resp.json().get("monitors", [])
    ]


async def test_monitors_set_listed_cleared_and_reconciled(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """N04: the Accepted monitors are listed in OCPP's words (with the value asked), a Rejected
    one is not; N05: cleared ones are gone, NotFound ones too; N02: a GetMonitoringReport for
    threshold monitors, answered in two parts, makes the list what the station holds (one the
    station lost goes, one it had of its own comes; the Delta monitor, not asked for, stays)."""
    watch = Watch(station)
    body = {
        "setMonitoringData": [
            {"value": 11000, "type": "UpperThreshold", "severity": 4, **POWER},
            {"value": -1, "type": "LowerThreshold", "severity": 4, **POWER},
            {"value": 5, "type": "Delta", "severity": 7, **TEMP},
            {"value": 60, "type": "UpperThreshold", "severity": 2, **TEMP},
        ]
    }
    got = await command(rest, station_id, "setVariableMonitoring", body)
    assert [r["status"] for r in got["setMonitoringResult"]] == [
        "Accepted",
        "Rejected",
        "Accepted",
        "Accepted",
    ]
    assert await monitors(rest, station_id) == [
        (100, "UpperThreshold", 11000, "CSMS"),
        (101, "Delta", 5, "CSMS"),
        (102, "UpperThreshold", 60, "CSMS"),
    ]
    got = await command(rest, station_id, "clearVariableMonitoring", {"id": [102, 999]})
    assert [r["status"] for r in got["clearMonitoringResult"]] == ["Accepted", "NotFound"]
    assert [m[0] for m in await monitors(rest, station_id)] == [100, 101]

    del watch.held[100]  # The station lost it; an EMS set one of its own.
    watch.held[200] = {"id": 200, "value": 10, "type": "LowerThreshold", "severity": 5, **TEMP}
    request = {"requestId": 31, "monitoringCriteria": ["ThresholdMonitoring"]}
    assert (await command(rest, station_id, "getMonitoringReport", request))["status"] == "Accepted"
    assert watch.received[-1] == ("GetMonitoringReport", request)
    mine = watch.held[200]
    part = {
        "requestId": 31,
        "seqNo": 0,
        "generatedAt": now(),
        "monitor": [
            {
                "component": mine["component"],
                "variable": mine["variable"],
                "variableMonitoring": [
                    {
                        "id": 200,
                        "transaction": False,
                        "value": 10,
                        "type": "LowerThreshold",
                        "severity": 5,
                    }
                ],
            }
        ],
        "tbc": True,
    }
    await station.call("NotifyMonitoringReport", part)
    await station.call(
        "NotifyMonitoringReport", {"requestId": 31, "seqNo": 1, "generatedAt": now()}
    )
    assert await monitors(rest, station_id) == [
        (101, "Delta", 5, "CSMS"),
        (200, "LowerThreshold", 10, "Station"),
    ]

    watch.held.clear()
    got = await command(rest, station_id, "getMonitoringReport", {"requestId": 32})
    assert got == {"status": "EmptyResultSet"}
    assert await monitors(rest, station_id) == []


async def test_base_and_level_reach_the_station(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """N03 / N06: SetMonitoringBase and SetMonitoringLevel are sent as given and answered with
    the station's own answer."""
    watch = Watch(station)
    assert await command(
        rest, station_id, "setMonitoringBase", {"monitoringBase": "FactoryDefault"}
    ) == {"status": "Accepted"}
    assert await command(rest, station_id, "setMonitoringLevel", {"severity": 4}) == {
        "status": "Accepted"
    }
    assert watch.received == [
        ("SetMonitoringBase", {"monitoringBase": "FactoryDefault"}),
        ("SetMonitoringLevel", {"severity": 4}),
    ]


def _event(event_id: int, monitor_id: int | None, value: str, **ref: Any) -> JSON:
    e: JSON = {
        "eventId": event_id,
        "timestamp": now(),
        "trigger": "Alerting",
        "actualValue": value,
        "eventNotificationType": "CustomMonitor",
        **(ref or TEMP),
    }
    if monitor_id is not None:
        e["variableMonitoringId"] = monitor_id
    return e


async def test_severe_monitors_raise_alerts_an_operator_acknowledges(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """An event of a monitor of severity 2 (Danger... at the default threshold) is an alert, one
    of severity 7 is not, nor one of a monitor the CSMS does not know; a re-sent part raises no
    second alert; acknowledged, it leaves the unacknowledged list."""
    Watch(station)
    body = {
        "setMonitoringData": [
            {"value": 60, "type": "UpperThreshold", "severity": 2, **TEMP},
            {"value": 5, "type": "Delta", "severity": 7, **TEMP},
        ]
    }
    got = await command(rest, station_id, "setVariableMonitoring", body)
    severe, mild = (r["id"] for r in got["setMonitoringResult"])
    part = {
        "generatedAt": now(),
        "seqNo": 0,
        "eventData": [
            _event(1, severe, "71"),
            _event(2, mild, "66"),
            _event(3, 999, "80"),
            _event(4, None, "x"),
        ],
    }
    await station.call("NotifyEvent", part)
    await station.call("NotifyEvent", part)  # Our answer was lost: the station sends it again.

    async def alerts(**params: Any) -> list[JSON]:
        resp = await rest.get("/v1/alerts", params={"stationId": station_id, **params})
        assert resp.status_code == 200, resp.text
        return list(resp.json().get("alerts", []))

    [alert] = await alerts(acknowledged="false")
    assert (alert["eventId"], alert["monitorId"], alert["severity"], alert["actualValue"]) == (
        1,
        severe,
        2,
        "71",
    )
    assert (alert["component"], alert["variable"], alert["trigger"]) == (
        "ChargingStation",
        "Temperature",
        "Alerting",
    )
    resp = await rest.post(f"/v1/alerts/{alert['id']}:acknowledge", json={})
    assert resp.status_code == 200, resp.text
    assert resp.json()["acknowledged"] is True and resp.json()["acknowledgeTime"]
    assert await alerts(acknowledged="false") == []
    assert [a["id"] for a in await alerts(acknowledged="true")] == [alert["id"]]
    assert (await rest.post("/v1/alerts/999999999:acknowledge", json={})).status_code == 404

    # The events by their monitor's severity: at or below 2 only the severe monitor's, at or
    # below 7 the mild one's too; never those of a monitor the CSMS does not know, nor none.
    async def event_ids(max_severity: int) -> list[int]:
        resp = await rest.get(
            "/v1/events", params={"stationId": station_id, "maxSeverity": max_severity}
        )
        assert resp.status_code == 200, resp.text
        return sorted({e["eventData"]["eventId"] for e in resp.json().get("events", [])})

    assert await event_ids(2) == [1]
    assert await event_ids(7) == [1, 2]
    resp = await rest.get("/v1/events", params={"maxSeverity": 10})
    assert resp.status_code == 400 and "maxSeverity" in resp.text


async def test_events_across_the_fleet(
    rest: httpx.AsyncClient,
    station: Station,
    station_id: str,
    ws_url: Callable[[str], str],
) -> None:
    """GET /v1/events: every station's events newest first, filtered by component, variable
    and trigger, and by station when asked; a station's own listing is unchanged."""
    other_id = f"CS-{uuid.uuid4().hex[:12]}"
    assert (await rest.post("/v1/chargingStations", json={"id": other_id})).status_code == 200
    other = await Station.connect(ws_url(other_id), other_id)
    try:
        assert (await other.boot())["status"] == "Accepted"
        variable = {"name": f"Probe{uuid.uuid4().hex[:8]}"}
        ref = {"component": {"name": "ChargingStation"}, "variable": variable}
        for st, value in ((station, "1"), (other, "2")):
            part = {"generatedAt": now(), "seqNo": 0, "eventData": [_event(1, None, value, **ref)]}
            await st.call("NotifyEvent", part)

        async def values(**params: Any) -> list[tuple[str, str]]:
            resp = await rest.get("/v1/events", params={"variable": variable["name"], **params})
            assert resp.status_code == 200, resp.text
            return [
                (e["stationId"], e["eventData"]["actualValue"])
                for e in resp.json().get("events", [])
            ]

        assert sorted(await values()) == sorted([(station_id, "1"), (other_id, "2")])
        assert await values(stationId=other_id) == [(other_id, "2")]
        assert await values(trigger="Periodic") == []
        resp = await rest.get(
            f"/v1/chargingStations/{station_id}/events", params={"variable": variable["name"]}
        )
        assert [e["eventData"]["actualValue"] for e in resp.json()["events"]] == ["1"]
    finally:
        await other.close()
