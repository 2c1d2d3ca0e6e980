"""Two gateways behind Envoy: stations keep one URL and are spread over both, and all are served."""

from __future__ import annotations

import asyncio
import base64
import random
import re
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from deploy.mesh import Mesh

from .conftest import rest_client, running_mesh

pytestmark = pytest.mark.e2e

STATIONS = 8


@pytest.fixture(scope="module")
def mesh2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """A mesh with two gateways on SQLite, every port free (0: picked by the launcher)."""
    with running_mesh(
        tmp_path_factory.mktemp("mesh-2gw"), gateways=2, heartbeat_interval=42
    ) as mesh:
        yield mesh


@pytest.fixture
async def rest(mesh2: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    """A REST client through this mesh's Envoy, with an operator key."""
    key = mesh2.create_api_key("operator", "e2e multi-gateway")
    async with rest_client(mesh2, key) as client:
        yield client


async def _register(rest: httpx.AsyncClient, n: int) -> list[str]:
    ids = [f"MG-{uuid.uuid4().hex[:10]}" for _ in range(n)]
    for sid in ids:
        resp = await rest.post("/v1/chargingStations", json={"id": sid, "model": "M1"})
        assert resp.status_code == 200, resp.text
    return ids


async def _connect(mesh: Mesh, station_id: str) -> ClientConnection:
    """Through the stations' one URL: Envoy's listener on gateway_port."""
    url = f"ws://127.0.0.1:{mesh.settings.gateway_port}/ocpp/{station_id}"
    return await connect(url, subprotocols=["ocpp2.0.1"])  # type: ignore[list-item]


async def _connect_like_a_station(mesh: Mesh, station_id: str) -> ClientConnection:
    """Like a real station: retry a refused connect (503 while Envoy notices a dead gateway)."""
    for _ in range(20):
        try:
            return await _connect(mesh, station_id)
        except InvalidStatus as exc:
            if exc.response.status_code != 503:
                raise
            await asyncio.sleep(0.25)
    raise AssertionError("still 503 after 5 s of retries")


async def _call(ws: ClientConnection, action: str, payload: dict[str, object]) -> object:
    msg_id = uuid.uuid4().hex[:8]
    await ws.send(orjson.dumps([2, msg_id, action, payload]).decode())
    reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
    assert reply[:2] == [3, msg_id], reply
    return reply[2]


async def _boot_and_heartbeat(ws: ClientConnection) -> None:
    boot = await _call(
        ws,
        "BootNotification",
        {"reason": "PowerUp", "chargingStation": {"model": "M1", "vendorName": "V"}},
    )
    assert boot["status"] == "Accepted" and boot["interval"] == 42, boot  # type: ignore[index]
    beat = await _call(ws, "Heartbeat", {})
    assert "currentTime" in beat  # type: ignore[operator]


def _active_per_gateway(mesh: Mesh) -> dict[str, int]:
    """Envoy's own count of open upstream connections per gateway (admin /clusters)."""
    url = f"http://127.0.0.1:{mesh.settings.envoy_admin_port}/clusters"
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    by_port = {gw.ws_port: gw.name for gw in mesh.gateways}
    active = {gw.name: 0 for gw in mesh.gateways}
    for port, count in re.findall(r"^gateway::127\.0\.0\.1:(\d+)::cx_active::(\d+)$", text, re.M):
        active[by_port[int(port)]] = int(count)
    return active


def _held_by(mesh: Mesh, station_id: str) -> list[str]:
    """The gateways whose log says they connected the station."""
    return [
        gw.name
        for gw in mesh.gateways
        if re.search(
            rf"station={re.escape(station_id)} .*connected \(epoch",
            (mesh.settings.data_dir / f"{gw.name}.log").read_text(),
        )
    ]


async def test_stations_spread_over_both_gateways(mesh2: Mesh, rest: httpx.AsyncClient) -> None:
    """Several stations on the one URL land on both gateways; each is booted and shown connected."""
    assert [gw.name for gw in mesh2.gateways] == ["gateway-1", "gateway-2"]
    assert len({gw.ws_port for gw in mesh2.gateways} | {mesh2.settings.gateway_port}) == 3
    ids = await _register(rest, STATIONS)
    sockets = [await _connect(mesh2, sid) for sid in ids]
    try:
        assert all(ws.subprotocol == "ocpp2.0.1" for ws in sockets)
        await asyncio.gather(*(_boot_and_heartbeat(ws) for ws in sockets))
        active = _active_per_gateway(mesh2)
        # One after the other, each to the gateway holding the fewest: an even split.
        assert sum(active.values()) == STATIONS, active
        assert max(active.values()) - min(active.values()) <= 1, active
        holders = {sid: _held_by(mesh2, sid) for sid in ids}
        assert all(len(h) == 1 for h in holders.values()), holders
        assert {h[0] for h in holders.values()} == {"gateway-1", "gateway-2"}, holders
        for sid in ids:
            got = (await rest.get(f"/v1/chargingStations/{sid}")).json()
            assert got["connected"] is True and got["bootReason"] == "PowerUp", got
    finally:
        for ws in sockets:
            await ws.close()


async def test_handshake_rules_pass_through_envoy(mesh2: Mesh) -> None:
    """The gateway's own handshake answers reach stations through Envoy (404, 400)."""
    with pytest.raises(InvalidStatus) as unknown:
        await _connect(mesh2, f"NOPE-{uuid.uuid4().hex[:8]}")
    assert unknown.value.response.status_code == 404
    url = f"ws://127.0.0.1:{mesh2.settings.gateway_port}/ocpp/whoever"
    with pytest.raises(InvalidStatus) as no_subprotocol:
        await connect(url)
    assert no_subprotocol.value.response.status_code == 400


async def test_stations_still_connect_while_a_gateway_is_down(
    mesh2: Mesh, rest: httpx.AsyncClient
) -> None:
    """gateway-1 killed: new stations still get in (on gateway-2); restarted, it serves again."""
    mesh2.kill("gateway-1")
    try:
        ids = await _register(rest, 4)
        for sid in ids:
            async with await _connect_like_a_station(mesh2, sid) as ws:
                await _boot_and_heartbeat(ws)
            assert _held_by(mesh2, sid) == ["gateway-2"]
    finally:
        await asyncio.to_thread(mesh2.restart, "gateway-1")
    # Envoy set gateway-1 aside for a few seconds after the failed connects; then it is back.
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        [sid] = await _register(rest, 1)
        async with await _connect_like_a_station(mesh2, sid) as ws:
            await _boot_and_heartbeat(ws)
        if _held_by(mesh2, sid) == ["gateway-1"]:
            break
        assert asyncio.get_running_loop().time() < deadline, "gateway-1 never got a station back"
        await asyncio.sleep(0.5)


def _basic(station_id: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _gateway_logs(mesh: Mesh) -> str:
    return "".join((mesh.settings.data_dir / f"{gw.name}.log").read_text() for gw in mesh.gateways)


async def test_only_envoy_is_believed_about_a_stations_address(
    mesh2: Mesh, rest: httpx.AsyncClient
) -> None:
    """Through Envoy, a refusal is counted against the station's own address (Envoy's
    x-forwarded-for, believed with Envoy's secret); straight at a gateway's internal port
    (loopback only), a forged x-forwarded-for is ignored and the real peer is counted."""
    sid = f"MG-{uuid.uuid4().hex[:10]}"
    body = {"id": sid, "securityProfile": 1, "basicAuthPassword": "the-right-password-16"}
    assert (await rest.post("/v1/chargingStations", json=body)).status_code == 200
    wrong = _basic(sid, "a-wrong-password-0123")
    via_envoy = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    with pytest.raises(InvalidStatus) as refused:
        await connect(
            f"ws://127.0.0.1:{mesh2.settings.gateway_port}/ocpp/{sid}",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            additional_headers={**wrong, "X-Forwarded-For": "192.0.2.55"},
            local_addr=(via_envoy, 0),
        )
    assert refused.value.response.status_code == 401
    direct = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    gateway = mesh2.gateways[1]
    assert gateway.ws_host == "127.0.0.1"
    with pytest.raises(InvalidStatus) as refused:
        await connect(
            f"ws://127.0.0.1:{gateway.ws_port}/ocpp/{sid}",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            additional_headers={**wrong, "X-Forwarded-For": "192.0.2.66"},
            local_addr=(direct, 0),
        )
    assert refused.value.response.status_code == 401
    logs = _gateway_logs(mesh2)
    assert f"for station {sid} from {via_envoy}:" in logs
    assert f"for station {sid} from {direct}:" in logs
    assert "192.0.2.55" not in logs and "192.0.2.66" not in logs


async def test_a_quiet_station_outlives_envoys_timeouts_for_half_open_connections(
    mesh2: Mesh, rest: httpx.AsyncClient
) -> None:
    """Envoy closes a connection that has sent no request 2 s after its connect (half-open
    floods); a station's upgraded WebSocket is a stream, not an idle connection: one that stays
    silent far longer than that (stations talk every heartbeat interval, minutes apart) keeps
    its connection and is answered on it."""
    [sid] = await _register(rest, 1)
    ws = await connect(
        f"ws://127.0.0.1:{mesh2.settings.gateway_port}/ocpp/{sid}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        ping_interval=None,  # not even WebSocket pings: nothing at all crosses Envoy
    )
    try:
        await _boot_and_heartbeat(ws)
        await asyncio.sleep(6)  # three times the stations' listener's 2 s
        await _boot_and_heartbeat(ws)
    finally:
        await ws.close()
