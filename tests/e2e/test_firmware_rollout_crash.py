"""A firmware rollout survives kill -9 of device_svc: a mesh of its own, 20 real WebSocket
stations, waves of 5; device_svc is killed in the middle of the second wave and started again.
The rollout completes, and no station is sent its UpdateFirmware twice: a request that was about
to leave is first asked about (TriggerMessage FirmwareStatusNotification), which the stations
answer as OCPP stations do, with the status of the update they hold."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from deploy.mesh import Mesh
from tests.e2e.conftest import rest_client, running_mesh
from tests.e2e.station_sim import CallErrorAnswer, Station

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]


@pytest.fixture(scope="module")
def own_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with running_mesh(tmp_path_factory.mktemp("mesh-rollout-crash"), heartbeat_interval=42) as mesh:
        yield mesh


class Updating:
    """A station's firmware manager: accepts an UpdateFirmware, downloads the image, reports
    Downloading, Downloaded, Installing, Installed (each sent until the CSMS answers it), and
    answers TriggerMessage FirmwareStatusNotification with where it is."""

    def __init__(self, station: Station, image: bytes) -> None:
        self.station = station
        self.image = image
        self.updates: list[JSON] = []
        self.arrived = asyncio.Event()
        self.status = ("Idle", None)
        self.tasks: set[asyncio.Task[None]] = set()
        station.answer("UpdateFirmware", self._update)
        station.answer("TriggerMessage", self._trigger)

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _update(self, request: JSON) -> JSON:
        self.updates.append(request)
        self.arrived.set()
        self._spawn(self._install(request))
        return {"status": "Accepted"}

    def _trigger(self, request: JSON) -> JSON:
        if request.get("requestedMessage") == "FirmwareStatusNotification":
            self._spawn(self._report(*self.status))
        return {"status": "Accepted"}

    async def _report(self, status: str, request_id: int | None) -> None:
        payload: JSON = {"status": status}
        if request_id is not None:
            payload["requestId"] = request_id
        for _ in range(200):  # until the CSMS answers (device_svc may be down meanwhile)
            try:
                await self.station.call("FirmwareStatusNotification", payload, within=2)
                return
            except (CallErrorAnswer, TimeoutError):
                await asyncio.sleep(0.2)

    async def _install(self, request: JSON) -> None:
        rid = request["requestId"]
        self.status = ("Downloading", rid)
        await self._report("Downloading", rid)
        async with httpx.AsyncClient(timeout=10) as http:
            for _ in range(100):  # the station's own retries: device_svc may be down meanwhile
                resp = await http.get(request["firmware"]["location"])
                if resp.status_code == 200:
                    break
                await asyncio.sleep(0.2)
        assert resp.status_code == 200, resp.text
        assert hashlib.sha256(resp.content).digest() == hashlib.sha256(self.image).digest()
        for status in ("Downloaded", "Installing", "Installed"):
            self.status = (status, rid)
            await asyncio.sleep(0.05)
            await self._report(status, rid)


@pytest.fixture
async def rest(own_mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with rest_client(own_mesh, own_mesh.create_api_key("operator", "crash")) as client:
        yield client


async def test_kill_9_of_device_svc_mid_rollout(own_mesh: Mesh, rest: httpx.AsyncClient) -> None:
    image = os.urandom(300_000)
    resp = await rest.post("/v1/firmwareImages", json={"name": "fw", "version": "9"})
    image_id = resp.json()["id"]
    resp = await rest.put(f"/v1/firmwareImages/{image_id}/content", content=image)
    assert resp.status_code == 200, resp.text
    ids = [f"CRASH-{i:02d}" for i in range(20)]
    stations, managers = [], []
    for sid in ids:
        assert (await rest.post("/v1/chargingStations", json={"id": sid})).status_code == 200
        station = await Station.connect(
            f"ws://127.0.0.1:{own_mesh.settings.gateway_port}/ocpp/{sid}", sid
        )
        await station.boot()
        stations.append(station)
        managers.append(Updating(station, image))
    try:
        resp = await rest.post(
            "/v1/firmwareRollouts",
            json={"imageId": image_id, "stationIds": ids, "waveSize": 5},
        )
        assert resp.status_code == 200, resp.text
        rollout_id = resp.json()["id"]

        # In the middle of the second wave: its first two stations have their request.
        await asyncio.wait_for(managers[6].arrived.wait(), 30)
        own_mesh.kill("device_svc")
        await asyncio.sleep(0.5)
        await asyncio.to_thread(own_mesh.restart, "device_svc")
        body: JSON = {}
        for _ in range(600):
            body = (await rest.get(f"/v1/firmwareRollouts/{rollout_id}")).json()
            if body.get("state") == "completed":
                break
            await asyncio.sleep(0.1)
        assert body.get("state") == "completed", body
        assert {s["state"] for s in body["stations"]} == {"installed"}
        assert [len(m.updates) for m in managers] == [1] * 20, "a station was updated twice"
        for station in stations:
            assert station.violations == []
    finally:
        for m in managers:
            for task in m.tasks:
                task.cancel()
        for station in stations:
            await station.close()
