"""The management API's keys through the real Envoy: ext_authz to user_svc, REST and gRPC."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest

from csms.device.v1 import device_service_pb2 as device_pb
from csms.device.v1 import device_service_pb2_grpc as device_grpc
from deploy.mesh import Mesh

pytestmark = pytest.mark.e2e

STATIONS = "/v1/chargingStations"


@pytest.fixture
async def anonymous(mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    """A REST client through Envoy without any key."""
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{mesh.settings.envoy_port}", timeout=10
    ) as client:
        yield client


@pytest.fixture
async def envoy_channel(mesh: Mesh) -> AsyncIterator[grpc.aio.Channel]:
    """A native gRPC channel to Envoy's API port."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh.settings.envoy_port}") as channel:
        yield channel


def _bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


def _refused(resp: httpx.Response, status: int) -> str:
    """The refusal's message, after checking its status and JSON body (code 16 or 7)."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["code"] == {401: 16, 403: 7}[status] and body["message"], body
    if status == 401:
        assert resp.headers["www-authenticate"].startswith("Bearer")
    return str(body["message"])


async def test_missing_key_is_401_with_a_json_body(anonymous: httpx.AsyncClient) -> None:
    """No key: 401, www-authenticate Bearer, {"code": 16, "message": ...} saying what to send."""
    message = _refused(await anonymous.get(STATIONS), 401)
    assert "Authorization: Bearer" in message
    _refused(await anonymous.post("/v1/idTokens", json={"idToken": "X"}), 401)


async def test_wrong_keys_are_401(anonymous: httpx.AsyncClient, operator_key: str) -> None:
    """A made-up key, a real key's id with another secret, garbage: all 401."""
    forged = operator_key[:-4] + ("AAAA" if not operator_key.endswith("AAAA") else "BBBB")
    for secret in ("csms_abcdefgh_" + "x" * 43, forged, "not-a-key"):
        _refused(await anonymous.get(STATIONS, headers=_bearer(secret)), 401)
    _refused(await anonymous.get(STATIONS, headers={"x-api-key": "nope"}), 401)


async def test_revoked_key_is_401(rest: httpx.AsyncClient, anonymous: httpx.AsyncClient) -> None:
    """A key created and revoked over REST opens nothing within a second of its revoke."""
    created = await rest.post("/v1/apiKeys", json={"name": "tmp", "role": "reader"})
    assert created.status_code == 200, created.text
    key = created.json()
    assert key["secret"].startswith(f"csms_{key['id']}_")
    assert (await anonymous.get(STATIONS, headers=_bearer(key["secret"]))).status_code == 200
    revoked = await rest.post(f"/v1/apiKeys/{key['id']}:revoke", json={})
    assert revoked.status_code == 200 and revoked.json()["revokeTime"]
    deadline = time.monotonic() + 2
    while (
        resp := await anonymous.get(STATIONS, headers=_bearer(key["secret"]))
    ).status_code == 200:
        assert time.monotonic() < deadline, "the revoked key still works"
        await asyncio.sleep(0.1)
    _refused(resp, 401)


async def test_reader_lists_but_may_not_create(
    anonymous: httpx.AsyncClient, reader_key: str
) -> None:
    """A reader key: GET lists stations; POST is 403 with {"code": 7, ...}."""
    listed = await anonymous.get(STATIONS, headers=_bearer(reader_key))
    assert listed.status_code == 200, listed.text
    sid = f"RD-{uuid.uuid4().hex[:8]}"
    resp = await anonymous.post(STATIONS, json={"id": sid}, headers={"x-api-key": reader_key})
    assert "reader" in _refused(resp, 403)
    _refused(
        await anonymous.post("/v1/apiKeys", json={"role": "operator"}, headers=_bearer(reader_key)),
        403,
    )


async def test_operator_creates_and_keys_are_listed_without_secrets(
    rest: httpx.AsyncClient,
) -> None:
    """An operator key creates a station; ListApiKeys shows keys but never a secret."""
    sid = f"OP-{uuid.uuid4().hex[:8]}"
    assert (await rest.post(STATIONS, json={"id": sid, "model": "M"})).status_code == 200
    keys = (await rest.get("/v1/apiKeys", params={"pageSize": 1000})).json()["apiKeys"]
    assert keys and all("secret" not in k for k in keys)
    assert {"operator", "reader"} <= {k["role"] for k in keys}


async def test_legacy_create_anonymous_only_in_the_local_mode(
    mesh: Mesh, anonymous: httpx.AsyncClient
) -> None:
    """The prototype's create without a key: allowed on the embedded default, else 401."""
    sid = f"LG-{uuid.uuid4().hex[:8]}"
    resp = await anonymous.post("/chargingstations/create", json={"id": sid})
    if mesh.settings.anonymous_legacy_create():
        assert resp.status_code == 200, resp.text
    else:
        _refused(resp, 401)


async def test_native_grpc_through_envoy_needs_the_key(
    envoy_channel: grpc.aio.Channel, reader_key: str
) -> None:
    """gRPC with the key in metadata works; without it UNAUTHENTICATED; a write as reader 403."""
    stub = device_grpc.DeviceServiceStub(envoy_channel)
    request = device_pb.ListChargingStationsRequest(page_size=1)
    listed = await stub.ListChargingStations(request, metadata=_bearer(reader_key).items())
    assert listed is not None
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListChargingStations(request)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "Authorization: Bearer" in (err.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreateChargingStation(
            device_pb.CreateChargingStationRequest(
                charging_station=device_pb.ChargingStation(id=f"G-{uuid.uuid4().hex[:8]}")
            ),
            metadata=_bearer(reader_key).items(),
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_internal_rpcs_are_refused_through_envoy(
    envoy_channel: grpc.aio.Channel, operator_key: str
) -> None:
    """Station-facing RPCs (Heartbeat here) are 403 through Envoy even for an operator."""
    stub = device_grpc.DeviceServiceStub(envoy_channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Heartbeat(device_pb.HeartbeatCall(), metadata=_bearer(operator_key).items())
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "internal" in (err.value.details() or "")
