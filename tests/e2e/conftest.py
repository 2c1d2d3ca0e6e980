"""End-to-end fixtures: the real mesh (Envoy, gateway, three services) on free loopback ports.

The mesh is started by the same :class:`deploy.mesh.Mesh` that ``make up`` uses, once per
backend (SQLite files, then PostgreSQL databases) and test session. Its management API wants an
API key: the mesh gets an operator and a reader key the way ``make up`` makes its first one
(user_svc's gRPC, directly), and ``rest`` sends the operator's.
"""

from __future__ import annotations

import base64
import contextlib
import pathlib
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from cryptography import x509

from common import pki
from deploy.mesh import Mesh, MeshSettings, free_port, on_free_ports

pytestmark = pytest.mark.e2e


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def mesh(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postgres_url: str
) -> Iterator[Mesh]:
    """A running mesh; its settings tell the ports."""
    run_dir = tmp_path_factory.mktemp(f"mesh-{request.param}")
    settings = MeshSettings(
        host="127.0.0.1",
        gateway_port=free_port(),
        envoy_port=free_port(),
        envoy_admin_port=free_port(),
        gateway_grpc_port=0,
        device_port=free_port(),
        transaction_port=free_port(),
        user_port=free_port(),
        ocsp_port=free_port(),
        data_dir=run_dir,
        database_url=postgres_url if request.param == "postgresql" else "",
        database_prefix=f"csms_e2e_{uuid.uuid4().hex[:8]}_",
        heartbeat_interval=42,
        log_level="INFO",
        metrics_base_port=0,  # (test_metrics.py runs a mesh with them)
    )
    mesh = Mesh(settings, log_dir=run_dir)
    mesh.start()
    try:
        yield mesh
    finally:
        mesh.stop()
        mesh.drop_databases()


@pytest.fixture(scope="session")
def api_keys(mesh: Mesh) -> dict[str, str]:
    """The secrets of an operator key and a reader key of this mesh, by role."""
    return {role: mesh.create_api_key(role, f"e2e {role}") for role in ("operator", "reader")}


@pytest.fixture
def operator_key(api_keys: dict[str, str]) -> str:
    return api_keys["operator"]


@pytest.fixture
def reader_key(api_keys: dict[str, str]) -> str:
    return api_keys["reader"]


@contextlib.contextmanager
def running_mesh(run_dir: pathlib.Path, **overrides: object) -> Iterator[Mesh]:
    """A mesh of a test module's own (SQLite, every port free), stopped afterwards."""
    mesh = Mesh(on_free_ports(run_dir, **overrides), log_dir=run_dir)
    mesh.start()
    try:
        yield mesh
    finally:
        mesh.stop()


# The TLS mesh's CPO name (device_svc's cpo_name): its stations' certificates and CSRs name it
# as their O, as a CPO's stations do (A00.FR.404).
CPO_NAME = "E2E CPO"


@pytest.fixture(scope="session")
def tls_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """A TLS-mode mesh on SQLite (Envoy terminating wss), unsecured stations refused, station
    certificates' O checked against :data:`CPO_NAME`, every port free: the station-security
    tests share it (each with its own station ids and loopback source addresses, since the
    gateway counts failures per address and id)."""
    with running_mesh(
        tmp_path_factory.mktemp("mesh-tls"),
        tls=True,
        station_tls_port=free_port(),
        allow_unsecured_stations=False,
        heartbeat_interval=42,
        cpo_name=CPO_NAME,
    ) as mesh:
        yield mesh


@pytest.fixture(scope="session")
def ca(tls_mesh: Mesh) -> tuple[x509.Certificate, pki.PrivateKey]:
    """The TLS mesh's CA (the stations' CSMSRootCertificate and their certificates' signer)."""
    tls = tls_mesh.settings.tls_dir()
    return pki.load_cert((tls / "ca.pem").read_bytes()), pki.load_key((tls / "ca.key").read_bytes())


def source_address() -> tuple[str, int]:
    """A loopback source address of its own (the gateway counts failures per address)."""
    return (f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}", 0)


def basic_auth(username: str, password: str) -> dict[str, str]:
    """The Authorization header of HTTP Basic auth (OCPP security profiles 1 and 2)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def rest_client(mesh: Mesh, key: str) -> httpx.AsyncClient:
    """REST through ``mesh``'s Envoy with API key ``key`` (use it with ``async with``)."""
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{mesh.settings.envoy_port}",
        headers={"authorization": f"Bearer {key}"},
        timeout=10,
    )


@pytest.fixture
async def rest(mesh: Mesh, operator_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """A REST client through Envoy, with the operator key."""
    async with rest_client(mesh, operator_key) as client:
        yield client


@pytest.fixture
def ws_url(mesh: Mesh):  # type: ignore[no-untyped-def]
    """``ws_url("CS1")``: where station CS1 connects."""
    return lambda station_id: f"ws://127.0.0.1:{mesh.settings.gateway_port}/ocpp/{station_id}"


@pytest.fixture
async def station_id(rest: httpx.AsyncClient) -> str:
    """A station registered through REST, with a fresh id per test."""
    sid = f"CS-{uuid.uuid4().hex[:12]}"
    resp = await rest.post("/v1/chargingStations", json={"id": sid, "model": "M1"})
    assert resp.status_code == 200, resp.text
    return sid


@pytest.fixture
async def station(ws_url: Any, station_id: str) -> AsyncIterator[Any]:
    """``station_id``'s station (tests/e2e/station_sim.py), connected and booted; at the end,
    nothing the CSMS sent it broke an OCPP schema. A test file may define its own."""
    from tests.e2e.station_sim import Station

    st = await Station.connect(ws_url(station_id), station_id)
    try:
        assert (await st.boot())["status"] == "Accepted"
        yield st
    finally:
        await st.close()
    assert st.violations == []
