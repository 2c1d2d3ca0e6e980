"""The fleet live over REST through the real Envoy: GET /v1/fleet, GET /v1/fleet:watch as
server-sent events (what the console reads), and the stations list's filters."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from deploy.mesh import Mesh
from tests.e2e.conftest import rest_client
from tests.e2e.station_sim import Station

pytestmark = pytest.mark.e2e


class Events:
    """The server-sent events of one watch, parsed as they arrive."""

    def __init__(self, resp: httpx.Response) -> None:
        self.resp = resp
        self.lines = resp.aiter_lines()

    async def next(self, within: float = 10) -> dict[str, Any]:
        data: list[str] = []
        async with asyncio.timeout(within):
            async for line in self.lines:
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and data:
                    return dict(orjson.loads("".join(data)))
        raise AssertionError("the stream ended")

    async def until(self, check: Any, within: float = 15) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                update = await self.next(within)
                if check(update):
                    return update


async def _watch(client: httpx.AsyncClient, **params: Any) -> AsyncIterator[Events]:
    async with client.stream("GET", "/v1/fleet:watch", params=params, timeout=30) as resp:
        assert resp.status_code == 200, await resp.aread()
        assert resp.headers["content-type"].startswith("text/event-stream"), resp.headers
        yield Events(resp)


def _state(update: dict[str, Any], station_id: str) -> dict[str, Any] | None:
    for state in update.get("stations", []):
        if state["id"] == station_id:
            return dict(state)
    return None


async def test_a_reader_watches_a_station_connect_fault_and_leave(
    mesh: Mesh, reader_key: str, station_id: str, ws_url: Any
) -> None:
    """The first update has the counts and the station (offline); then its connection, its
    Faulted connector and its disconnection arrive as they happen, the counts with them."""
    async with rest_client(mesh, reader_key) as reader:
        async for events in _watch(reader, stationIds=station_id, keepaliveSeconds=5):
            first = await events.next()
            summary = first["summary"]
            assert summary["stations"] >= 1
            assert summary["stations"] == summary["connected"] + summary["offline"]
            assert summary["chargingKnown"] is True
            assert _state(first, station_id) == {
                "id": station_id,
                "connected": False,
                "status": "offline",
                "evses": [],
            }
            sim = await Station.connect(ws_url(station_id), station_id)
            try:
                await sim.boot()
                up = await events.until(lambda u: (_state(u, station_id) or {}).get("connected"))
                assert _state(up, station_id)["status"] == "unknown"  # type: ignore[index]
                await sim.call(
                    "StatusNotification",
                    {
                        "timestamp": "2026-12-05T10:00:00Z",
                        "connectorStatus": "Faulted",
                        "evseId": 1,
                        "connectorId": 1,
                    },
                )
                fault = await events.until(
                    lambda u: (_state(u, station_id) or {}).get("status") == "faulted"
                )
                assert _state(fault, station_id)["evses"] == [  # type: ignore[index]
                    {
                        "id": 1,
                        "connectors": [
                            {"id": 1, "status": "Faulted", "statusTime": "2026-12-05T10:00:00Z"}
                        ],
                    }
                ]
                assert fault["summary"]["faulted"] >= 1  # this station at least
            finally:
                await sim.close()
            gone = await events.until(
                lambda u: (_state(u, station_id) or {}).get("status") == "offline"
            )
            assert _state(gone, station_id)["connected"] is False  # type: ignore[index]
            break


async def test_the_watch_keeps_alive_and_says_nothing_new_otherwise(
    mesh: Mesh, reader_key: str, station_id: str
) -> None:
    """With nothing changing, an update still comes every keepaliveSeconds, without the
    stations already sent."""
    async with rest_client(mesh, reader_key) as reader:
        async for events in _watch(reader, stationIds=station_id, keepaliveSeconds=1):
            first = await events.next()
            assert _state(first, station_id) is not None
            for _ in range(2):
                again = await events.next(within=5)
                assert _state(again, station_id) is None
            break


async def test_the_summary_and_a_bad_watch(mesh: Mesh, reader_key: str) -> None:
    async with rest_client(mesh, reader_key) as reader:
        resp = await reader.get("/v1/fleet")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert set(body) >= {"stations", "connected", "offline", "faulted", "charging"}
        resp = await reader.get(
            "/v1/fleet:watch", params={"stationIds": [f"S{i}" for i in range(201)]}
        )
        assert resp.status_code == 400, resp.text
        assert "at most 200" in resp.json()["message"]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{mesh.settings.envoy_port}") as anon:
        assert (await anon.get("/v1/fleet:watch")).status_code == 401


async def test_the_stations_list_filters(mesh: Mesh, rest: httpx.AsyncClient, ws_url: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    ids = [f"FLT-{tag}-{n}" for n in ("a", "b", "c")]
    for sid in ids:
        resp = await rest.post("/v1/chargingStations", json={"id": sid})
        assert resp.status_code == 200, resp.text
    sims = [await Station.connect(ws_url(sid), sid) for sid in ids[:2]]
    try:
        for sim in sims:
            await sim.boot()
        await sims[1].call(
            "StatusNotification",
            {
                "timestamp": "2026-12-05T10:00:00Z",
                "connectorStatus": "Faulted",
                "evseId": 1,
                "connectorId": 1,
            },
        )

        async def listed(**params: Any) -> list[str]:
            resp = await rest.get(
                "/v1/chargingStations", params={"idContains": f"flt-{tag}", **params}
            )
            assert resp.status_code == 200, resp.text
            return [s["id"] for s in resp.json().get("chargingStations", [])]

        assert await listed() == ids
        assert await listed(status="connected") == ids[:2]
        assert await listed(status="faulted") == ids[1:2]
        assert await listed(status="offline") == ids[2:]
        resp = await rest.get("/v1/chargingStations", params={"status": "charging"})
        assert resp.status_code == 400 and "status: one of" in resp.json()["message"]
        # A LIKE wildcard in the text is a character, not a pattern.
        assert await listed(idContains=f"FLT_{tag}") == []
    finally:
        for sim in sims:
            await sim.close()
