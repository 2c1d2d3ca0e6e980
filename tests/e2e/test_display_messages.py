"""Display messages (OCPP 2.0.1 block O) end to end: REST through Envoy, device_svc, the gateway
and real WebSocket stations that keep their messages as OCPP says a station does (one per id,
cleared by id with Unknown when absent, GetDisplayMessages answered Unknown when nothing
matches, else Accepted and the messages sent in NotifyDisplayMessages parts)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.station_sim import Station

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]


def info(id_: int, priority: str = "NormalCycle", **fields: Any) -> JSON:
    return {
        "id": id_,
        "priority": priority,
        "message": {"format": "UTF8", "language": "en", "content": f"message {id_}"},
        **fields,
    }


class Screen:
    """The station's own display messages, by id."""

    def __init__(self, station: Station) -> None:
        self.held: dict[int, JSON] = {}
        self.refuse: str | None = None
        self.asked: list[JSON] = []
        station.answer("SetDisplayMessage", self.set)
        station.answer("ClearDisplayMessage", self.clear)
        station.answer("GetDisplayMessages", self.get)

    def set(self, request: JSON) -> JSON:
        if self.refuse is not None:
            return {"status": self.refuse}
        self.held[request["message"]["id"]] = request["message"]
        return {"status": "Accepted"}

    def clear(self, request: JSON) -> JSON:
        return {"status": "Accepted" if self.held.pop(request["id"], None) else "Unknown"}

    def matching(self, request: JSON) -> list[JSON]:
        return [
            m
            for i, m in sorted(self.held.items())
            if (not request.get("id") or i in request["id"])
            and request.get("priority", m["priority"]) == m["priority"]
            and request.get("state", m.get("state")) == m.get("state")
        ]

    def get(self, request: JSON) -> JSON:
        self.asked.append(request)
        return {"status": "Accepted" if self.matching(request) else "Unknown"}


async def _booted(ws_url: Callable[[str], str], station_id: str) -> Station:
    st = await Station.connect(ws_url(station_id), station_id)
    boot = await st.boot()
    assert boot["status"] == "Accepted", boot
    return st


async def listed(rest: httpx.AsyncClient, station_id: str, **params: Any) -> list[JSON]:
    resp = await rest.get(f"/v1/chargingStations/{station_id}/displayMessages", params=params)
    assert resp.status_code == 200, resp.text
    return list(resp.json().get("displayMessages", []))


def ids(found: list[JSON]) -> list[int]:
    return [m["messageInfo"]["id"] for m in found]


async def command(
    rest: httpx.AsyncClient, station_id: str, verb: str, body: JSON
) -> httpx.Response:
    return await rest.post(f"/v1/chargingStations/{station_id}:{verb}", json=body)


async def test_set_accepted_is_listed_rejected_is_not_and_clear_removes(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """O01 and O05: what the station Accepted is listed, in OCPP's words; a Rejected or
    NotSupportedPriority one is not; a message of the same id replaces it; Accepted or Unknown
    to a clear, it is gone."""
    screen = Screen(station)
    resp = await command(
        rest, station_id, "setDisplayMessage", {"message": info(1, state="Charging")}
    )
    assert resp.json() == {"status": "Accepted"}, resp.text
    [kept] = await listed(rest, station_id)
    assert kept["messageInfo"] == info(1, state="Charging")
    assert kept["source"] == "CSMS" and kept["stationId"] == station_id
    screen.refuse = "NotSupportedPriority"
    resp = await command(rest, station_id, "setDisplayMessage", {"message": info(2, "AlwaysFront")})
    assert resp.json() == {"status": "NotSupportedPriority"}
    screen.refuse = None
    replaced = info(1, "InFront")
    assert (
        await command(rest, station_id, "setDisplayMessage", {"message": replaced})
    ).status_code == 200
    assert [m["messageInfo"] for m in await listed(rest, station_id)] == [replaced]
    assert ids(await listed(rest, station_id, priority="InFront")) == [1]
    assert await listed(rest, station_id, priority="AlwaysFront") == []
    resp = await command(rest, station_id, "clearDisplayMessage", {"id": 1})
    assert resp.json() == {"status": "Accepted"}
    assert await listed(rest, station_id) == []
    resp = await command(rest, station_id, "clearDisplayMessage", {"id": 1})
    assert resp.json() == {"status": "Unknown"}


async def test_a_bad_message_is_400_and_the_station_gets_nothing(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    screen = Screen(station)
    bad = info(3, startDateTime="2026-12-05T11:00:00Z", endDateTime="2026-12-05T10:00:00Z")
    resp = await command(rest, station_id, "setDisplayMessage", {"message": bad})
    assert resp.status_code == 400
    assert "endDateTime must be after" in resp.text
    resp = await command(rest, station_id, "setDisplayMessage", {"message": info(3, "Sometimes")})
    assert resp.status_code == 400
    assert "SetDisplayMessageRequest schema" in resp.text
    assert screen.held == {}
    assert await listed(rest, station_id) == []


async def test_get_display_messages_reconciles(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """O02/O03/O04: the CSMS believes the station shows 1, 2 (NormalCycle) and 3 (AlwaysFront);
    the station lost 2 and shows 5, its own. GetDisplayMessages for NormalCycle, answered in two
    parts: NormalCycle becomes what the station shows, 3 is untouched. Then a request by id that
    matches nothing is answered Unknown and the CSMS forgets that id."""
    screen = Screen(station)
    for m in (info(1), info(2), info(3, "AlwaysFront")):
        assert (
            await command(rest, station_id, "setDisplayMessage", {"message": m})
        ).status_code == 200
    del screen.held[2]
    screen.held[5] = info(5)
    request_id = random.randrange(1, 2**31)
    resp = await command(
        rest, station_id, "getDisplayMessages", {"requestId": request_id, "priority": "NormalCycle"}
    )
    assert resp.json() == {"status": "Accepted"}, resp.text
    shown = screen.matching(screen.asked[-1])
    await station.call(
        "NotifyDisplayMessages", {"requestId": request_id, "messageInfo": shown[:1], "tbc": True}
    )
    await station.call("NotifyDisplayMessages", {"requestId": request_id, "messageInfo": shown[1:]})
    found = await listed(rest, station_id)
    assert [(m["messageInfo"]["id"], m["source"]) for m in found] == [
        (1, "Station"),
        (3, "CSMS"),
        (5, "Station"),
    ]
    del screen.held[3]
    resp = await command(
        rest, station_id, "getDisplayMessages", {"requestId": request_id + 1, "id": [3]}
    )
    assert resp.json() == {"status": "Unknown"}
    assert ids(await listed(rest, station_id)) == [1, 5]


async def test_one_message_to_many_stations(
    rest: httpx.AsyncClient,
    station: Station,
    station_id: str,
    ws_url: Callable[[str], str],
) -> None:
    """POST /v1/displayMessages:set: each station's own answer (Accepted, Rejected) and, for
    one not connected, why none; kept only where Accepted. :clear likewise."""
    other_id, offline_id = f"CS-{uuid.uuid4().hex[:12]}", f"CS-{uuid.uuid4().hex[:12]}"
    for sid in (other_id, offline_id):
        assert (await rest.post("/v1/chargingStations", json={"id": sid})).status_code == 200
    other = await _booted(ws_url, other_id)
    try:
        Screen(station)
        Screen(other).refuse = "Rejected"
        body = {"stationIds": [station_id, other_id, offline_id], "request": {"message": info(9)}}
        resp = await rest.post("/v1/displayMessages:set", json=body)
        assert resp.status_code == 200, resp.text
        answers = resp.json()["answers"]
        assert [a["stationId"] for a in answers] == [station_id, other_id, offline_id]
        assert answers[0]["response"] == {"status": "Accepted"}
        assert answers[1]["response"] == {"status": "Rejected"}
        assert "response" not in answers[2]
        assert answers[2]["error"]["code"] == 14  # UNAVAILABLE: not connected
        assert ids(await listed(rest, station_id)) == [9]
        assert await listed(rest, other_id) == []
        resp = await rest.post(
            "/v1/displayMessages:clear", json={"stationIds": [station_id], "request": {"id": 9}}
        )
        assert resp.json()["answers"] == [
            {"stationId": station_id, "response": {"status": "Accepted"}}
        ]
        assert await listed(rest, station_id) == []
        for bad in (
            {"stationIds": [], "request": {"id": 9}},
            {"stationIds": [station_id, station_id], "request": {"id": 9}},
            {"stationIds": [station_id], "request": {"id": "nine"}},
            {"stationIds": [station_id]},
        ):
            resp = await rest.post("/v1/displayMessages:clear", json=bad)
            assert resp.status_code == 400, (bad, resp.text)
    finally:
        await other.close()
