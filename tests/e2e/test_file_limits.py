"""The file routes' limits through the real Envoy: a body whose Content-Length passes the limit
is answered 413 before a byte of it is read (nothing reaches device_svc, nothing is stored);
the stations' /files/ path takes no API key but only a token's shape; the operator's upload
takes one."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from deploy.mesh import Mesh

pytestmark = pytest.mark.e2e


async def _raw(mesh: Mesh, request: str) -> str:
    """Send the request's head and a few bytes of a body it says is huge; the answer's head."""
    reader, writer = await asyncio.open_connection("127.0.0.1", mesh.settings.envoy_port)
    try:
        writer.write(request.encode() + b"xxxx")
        await writer.drain()
        return (await asyncio.wait_for(reader.read(4096), 5)).decode(errors="replace")
    finally:
        writer.close()


async def test_an_upload_declared_too_large_is_413_at_once(
    mesh: Mesh, rest: httpx.AsyncClient, operator_key: str
) -> None:
    image = (await rest.post("/v1/firmwareImages", json={"name": "big", "version": "1"})).json()
    huge = mesh.settings.max_firmware_bytes + 1
    answer = await _raw(
        mesh,
        f"PUT /v1/firmwareImages/{image['id']}/content HTTP/1.1\r\nhost: csms\r\n"
        f"authorization: Bearer {operator_key}\r\ncontent-length: {huge}\r\n\r\n",
    )
    assert answer.startswith("HTTP/1.1 413"), answer
    assert "larger than the CSMS accepts" in answer
    kept = (await rest.get(f"/v1/firmwareImages/{image['id']}")).json()
    assert kept["state"] == "pending" and kept["size"] == "0"
    answer = await _raw(
        mesh,
        f"POST /files/{'A' * 43} HTTP/1.1\r\nhost: csms\r\n"
        f"content-length: {mesh.settings.max_log_bytes + 1}\r\n\r\n",
    )
    assert answer.startswith("HTTP/1.1 413"), answer


async def test_the_stations_path_takes_a_token_and_nothing_else(mesh: Mesh) -> None:
    """No API key on /files/<token> (a made-up token is the service's 404), but a path that is
    not a token's shape is the rest of the API, which wants a key."""
    base = f"http://127.0.0.1:{mesh.settings.envoy_port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as anonymous:
        made_up = await anonymous.get(f"/files/{'B' * 43}")
        assert made_up.status_code == 404 and made_up.json()["message"] == "no such file"
        for path in ("/files/../v1/apiKeys", "/files/x/../../v1/chargingStations", "/files/a.b"):
            resp = await anonymous.get(path)
            assert resp.status_code in (401, 404), (path, resp.status_code)
            assert "apiKeys" not in resp.text and 'chargingStations":' not in resp.text
        upload = await anonymous.put(f"/v1/firmwareImages/{'C' * 36}/content", content=b"x")
        assert upload.status_code == 401
