"""The mesh with internal mutual TLS (``CSMS_INTERNAL_TLS=true``): every hop still works, and
the services' and the gateway's gRPC ports refuse whoever has no certificate of the internal CA.

Each hop is exercised by something that fails without it: REST through Envoy (Envoy → user_svc
for ext_authz, → device_svc, → transaction_svc), a station's boot (gateway → device_svc), a
TransactionEvent authorized by user_svc (gateway → transaction_svc → user_svc), a command to the
station (Envoy → device_svc → the gateway's StationControlService).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common import grpc_tls, pki
from deploy.mesh import Mesh
from tests.e2e.station_sim import Station, now

from .conftest import rest_client, running_mesh

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mtls_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """A mesh on SQLite with internal TLS on, every port free."""
    with running_mesh(
        tmp_path_factory.mktemp("mesh-internal-tls"), internal_tls=True, heartbeat_interval=42
    ) as mesh:
        yield mesh


@pytest.fixture
async def mtls_rest(mtls_mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    """REST through this mesh's Envoy (plain HTTP outside; internal hops on mTLS), operator key."""
    key = mtls_mesh.create_api_key("operator", "e2e internal tls")
    async with rest_client(mtls_mesh, key) as client:
        yield client


def _internal_ports(mesh: Mesh) -> dict[str, int]:
    s = mesh.settings
    ports = {f"{svc}_svc": getattr(s, f"{svc}_port") for svc in ("device", "transaction", "user")}
    ports.update({gw.name: gw.grpc_port for gw in mesh.gateways})
    return ports


async def _health(port: int, tls: grpc_tls.InternalTls | None) -> int:
    async with grpc_tls.aio_channel(f"127.0.0.1:{port}", tls=tls) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        resp = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        return int(resp.status)


async def test_a_station_boots_transacts_and_takes_commands(
    mtls_mesh: Mesh, mtls_rest: httpx.AsyncClient
) -> None:
    """Create (REST), boot Accepted, an authorized TransactionEvent, a Reset through Envoy."""
    sid = f"MTLS-{uuid.uuid4().hex[:10]}"
    resp = await mtls_rest.post("/v1/chargingStations", json={"id": sid, "model": "M1"})
    assert resp.status_code == 200, resp.text
    token = f"MT{uuid.uuid4().hex[:8]}".upper()
    resp = await mtls_rest.post("/v1/idTokens", json={"idToken": token, "type": "ISO14443"})
    assert resp.status_code == 200, resp.text

    url = f"ws://127.0.0.1:{mtls_mesh.settings.gateway_port}/ocpp/{sid}"
    station = await Station.connect(url, sid)
    try:
        boot = await station.boot()
        assert boot["status"] == "Accepted" and boot["interval"] == 42, boot

        tx_id = f"tx-{uuid.uuid4().hex[:10]}"
        answer = await station.call(
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": now(),
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": tx_id},
                "idToken": {"idToken": token, "type": "ISO14443"},
                "evse": {"id": 1, "connectorId": 1},
            },
        )
        assert answer["idTokenInfo"]["status"] == "Accepted", answer
        listed = await mtls_rest.get("/v1/transactions", params={"stationId": sid})
        assert listed.status_code == 200, listed.text
        assert [tx["id"] for tx in listed.json()["transactions"]] == [tx_id]

        resp = await mtls_rest.post(f"/v1/chargingStations/{sid}:reset", json={"type": "Immediate"})
        assert resp.status_code == 200, resp.text
        assert [c.payload for c in station.calls("Reset")] == [{"type": "Immediate"}]
    finally:
        await station.close()
    assert station.violations == []


async def test_internal_grpc_ports_refuse_plaintext_and_strangers(
    mtls_mesh: Mesh, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each service's and gateway's gRPC port: plaintext and another CA's certificate refused,
    the mesh's own certificate (the launcher's) served."""
    other = tmp_path_factory.mktemp("other-ca")
    paths = pki.write_internal_ca(other, ["intruder"], ["localhost"], ["127.0.0.1"])
    stranger = grpc_tls.InternalTls.from_files(
        paths["intruder_cert"], paths["intruder_key"], paths["ca_cert"]
    )
    ports = _internal_ports(mtls_mesh)
    assert len(ports) == 4
    for name, port in ports.items():
        for client in (None, stranger):
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                await _health(port, client)
            assert exc.value.code() == grpc.StatusCode.UNAVAILABLE, name
        assert await _health(port, mtls_mesh.client_tls()) == 1, name  # SERVING
