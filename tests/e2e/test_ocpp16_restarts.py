"""What a 1.6 station was promised survives kill -9 of the CSMS's processes: a mesh of this
module's own (on SQLite, then on PostgreSQL: those runs fail, not skip, without a server), real
1.6 WebSocket stations (:class:`tests.e2e.station_sim16.Station16`), REST through Envoy.

* A remote start's remoteStartId, which 1.6's RemoteStartTransaction cannot carry, is kept by
  transaction_svc before the request leaves: the gateway killed and started again between the
  RemoteStartTransaction and the StartTransaction, the transaction still has it (and its
  Started event triggerReason RemoteStart), also for the StartTransaction re-sent.
* A firmware rollout's 1.6 station that installed its update while device_svc was down is not
  sent the UpdateFirmware again when the rollout recovers, and the rollout completes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from deploy.mesh import Mesh
from tests.e2e.conftest import rest_client, running_mesh
from tests.e2e.station_sim import CallErrorAnswer, now
from tests.e2e.station_sim16 import Station16

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def own_mesh(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> Iterator[Mesh]:
    database = postgres_url if request.param == "postgresql" else ""
    prefix = f"csms_e2e_{uuid.uuid4().hex[:8]}_"
    with running_mesh(
        tmp_path_factory.mktemp(f"mesh-16-restarts-{request.param}"),
        heartbeat_interval=42,
        database_url=database,
        database_prefix=prefix,
    ) as mesh:
        try:
            yield mesh
        finally:
            if database:
                mesh.stop()
                mesh.drop_databases()


@pytest.fixture
async def rest(own_mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with rest_client(own_mesh, own_mesh.create_api_key("operator", "restarts")) as client:
        yield client


async def _station(rest: httpx.AsyncClient, mesh: Mesh, prefix: str) -> Station16:
    """A new station, created over REST, connected as 1.6 and booted."""
    sid = f"{prefix}-{uuid.uuid4().hex[:8].upper()}"
    resp = await rest.post("/v1/chargingStations", json={"id": sid})
    assert resp.status_code == 200, resp.text
    return await _connect(mesh, sid)


async def _connect(mesh: Mesh, sid: str) -> Station16:
    url = f"ws://127.0.0.1:{mesh.settings.gateway_port}/ocpp/{sid}"
    st = await Station16.connect(url, sid, attempts=50)
    assert (await st.boot())["status"] == "Accepted"
    return st


async def _token(rest: httpx.AsyncClient) -> str:
    tag = f"RS{uuid.uuid4().hex[:12].upper()}"
    resp = await rest.post(
        "/v1/idTokens", json={"idToken": tag, "type": "ISO14443", "status": "Accepted"}
    )
    assert resp.status_code == 200, resp.text
    return tag


async def test_a_remote_start_survives_a_gateway_killed(
    own_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    """Remote start through REST, accepted by the 1.6 station; kill -9 of the gateway and a new
    one; the station connects again and sends its StartTransaction (twice: the first answer
    lost): one transaction, remoteStartId of the remote start, Started by RemoteStart."""
    st = await _station(rest, own_mesh, "RS16")
    sid = st.station_id
    tag = await _token(rest)
    body = {"idToken": {"idToken": tag, "type": "ISO14443"}, "remoteStartId": 5150, "evseId": 1}
    try:
        resp = await rest.post(f"/v1/chargingStations/{sid}:requestStartTransaction", json=body)
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "Accepted"
        assert (await st.wait_for("RemoteStartTransaction")).payload == {
            "idTag": tag,
            "connectorId": 1,
        }
        own_mesh.kill("gateway-1")
        await st.close()
        await asyncio.to_thread(own_mesh.restart, "gateway-1")
        st = await _connect(own_mesh, sid)
        start = {"connectorId": 1, "idTag": tag.lower(), "meterStart": 0, "timestamp": now()}
        first = await st.call("StartTransaction", start)
        again = await st.call("StartTransaction", start)
        assert first == again and first["idTagInfo"]["status"] == "Accepted"
        tx_id = first["transactionId"]
        resp = await rest.get("/v1/transactions", params={"stationId": sid, "remoteStartId": 5150})
        assert [t["id"] for t in resp.json().get("transactions", [])] == [str(tx_id)], resp.text
        got = (await rest.get(f"/v1/transactions/{tx_id}", params={"stationId": sid})).json()
        assert got["remoteStartId"] == 5150, got
        assert [(e["eventType"], e["triggerReason"]) for e in got["events"]] == [
            ("Started", "RemoteStart")
        ]
        assert got.get("conflicts", []) == []
        # Taken: the idTag's next start is no remote start.
        later = await st.call("StartTransaction", {**start, "meterStart": 5, "timestamp": now()})
        got = (
            await rest.get(f"/v1/transactions/{later['transactionId']}", params={"stationId": sid})
        ).json()
        assert "remoteStartId" not in got, got
        assert st.violations == []
    finally:
        await st.close()


async def test_a_refused_remote_start_links_no_transaction(
    own_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    """The station answers Rejected: its next StartTransaction of that idTag (a local start) is
    no remote start."""
    st = await _station(rest, own_mesh, "RR16")
    sid = st.station_id
    tag = await _token(rest)
    st.answer("RemoteStartTransaction", {"status": "Rejected"})
    body = {"idToken": {"idToken": tag, "type": "ISO14443"}, "remoteStartId": 5151, "evseId": 1}
    try:
        resp = await rest.post(f"/v1/chargingStations/{sid}:requestStartTransaction", json=body)
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "Rejected"
        start = {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": now()}
        tx_id = (await st.call("StartTransaction", start))["transactionId"]
        got = (await rest.get(f"/v1/transactions/{tx_id}", params={"stationId": sid})).json()
        assert "remoteStartId" not in got, got
        assert got["events"][0]["triggerReason"] == "Authorized"
    finally:
        await st.close()


class Firmware16:
    """A 1.6 station's firmware manager: takes an UpdateFirmware (answered ``answer_after``
    seconds later), reports Downloading, Downloaded, Installing, Installed (each tried a few
    times: 1.6 asks no more), then reboots into the new firmware (BootNotification with the
    image's version, sent until Accepted, as 1.6 stations do); TriggerMessage
    FirmwareStatusNotification is answered as 1.6 says: Idle when no update is under way (so
    after Installed too), sent once the station is booted."""

    def __init__(self, station: Station16, version: str, answer_after: float) -> None:
        self.station = station
        self.version = version
        self.updates: list[JSON] = []
        self.arrived = asyncio.Event()
        self.installed = asyncio.Event()
        self.booted = asyncio.Event()
        self.booted.set()
        self.rebooting = asyncio.Event()
        self.busy = ""
        self.tasks: set[asyncio.Task[None]] = set()
        station.answer("UpdateFirmware", self._update)
        station.delay("UpdateFirmware", answer_after)
        station.answer("TriggerMessage", self._trigger)

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _update(self, request: JSON) -> JSON:
        self.updates.append(request)
        self.arrived.set()
        self._spawn(self._install(request))
        return {}

    def _trigger(self, request: JSON) -> JSON:
        if request.get("requestedMessage") == "FirmwareStatusNotification":
            self._spawn(self._report_when_booted(self.busy or "Idle"))
        return {"status": "Accepted"}

    async def _report_when_booted(self, status: str) -> None:
        await self.booted.wait()
        await self._report(status, tries=50)

    async def _report(self, status: str, tries: int = 3) -> None:
        for _ in range(tries):
            try:
                await self.station.call("FirmwareStatusNotification", {"status": status}, within=2)
                return
            except (CallErrorAnswer, TimeoutError):
                await asyncio.sleep(0.2)

    async def _install(self, request: JSON) -> None:
        await asyncio.sleep(0.5)  # after our (delayed) answer went
        for status in ("Downloading", "Downloaded", "Installing", "Installed"):
            self.busy = status if status != "Installed" else ""
            await self._report(status)
        self.installed.set()
        # Rebooted into the new firmware: BootNotification until Accepted.
        self.booted.clear()
        self.rebooting.set()
        boot = {"chargePointVendor": "E2E", "chargePointModel": "E2E-16"}
        for _ in range(300):
            try:
                answer = await self.station.call(
                    "BootNotification", {**boot, "firmwareVersion": self.version}, within=2
                )
                if answer["status"] == "Accepted":
                    break
            except (CallErrorAnswer, TimeoutError):
                pass
            await asyncio.sleep(0.2)
        self.booted.set()


async def test_a_1_6_station_that_installed_is_not_sent_its_firmware_again(
    own_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    """A rollout to one 1.6 station; device_svc is killed (-9) while the station's UpdateFirmware
    is on its way (the station answers it late); the station reports Downloading to Installed
    while device_svc is down (lost: each got a CALLERROR) and reboots into the new version, its
    BootNotification sent until device_svc, started again, accepts it; the rollout recovers
    and asks the station (TriggerMessage FirmwareStatusNotification), which says Idle as a 1.6
    station does after an update. The station is not sent the UpdateFirmware
    again, and the rollout completes with it installed."""
    version = f"16.{uuid.uuid4().hex[:6]}"
    resp = await rest.post("/v1/firmwareImages", json={"name": "fw16", "version": version})
    assert resp.status_code == 200, resp.text
    image_id = resp.json()["id"]
    resp = await rest.put(f"/v1/firmwareImages/{image_id}/content", content=b"1.6 image " * 100)
    assert resp.status_code == 200, resp.text
    st = await _station(rest, own_mesh, "FW16")
    manager = Firmware16(st, version, answer_after=2.0)
    try:
        resp = await rest.post(
            "/v1/firmwareRollouts", json={"imageId": image_id, "stationIds": [st.station_id]}
        )
        assert resp.status_code == 200, resp.text
        rollout_id = resp.json()["id"]
        await asyncio.wait_for(manager.arrived.wait(), 30)
        own_mesh.kill("device_svc")  # its request is on its way: not known as sent
        await asyncio.wait_for(manager.rebooting.wait(), 30)  # its boot retried meanwhile
        await asyncio.sleep(1.0)
        await asyncio.to_thread(own_mesh.restart, "device_svc")
        body: JSON = {}
        for _ in range(400):
            body = (await rest.get(f"/v1/firmwareRollouts/{rollout_id}")).json()
            if body.get("state") == "completed":
                break
            await asyncio.sleep(0.1)
        assert body.get("state") == "completed", body
        assert [s["state"] for s in body["stations"]] == ["installed"], body
        await asyncio.sleep(1.0)  # time for a second UpdateFirmware, were one to come
        assert len(manager.updates) == 1, "the station was sent its firmware again"
        assert st.violations == []
    finally:
        for task in manager.tasks:
            task.cancel()
        await st.close()
