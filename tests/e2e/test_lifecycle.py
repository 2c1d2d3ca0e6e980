"""Processes as operators run them: ``python -m deploy.mesh up`` and graceful SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys

import grpc
import httpx
import pytest

from csms.device.v1 import device_service_pb2 as pb
from csms.device.v1 import device_service_pb2_grpc as pb_grpc
from deploy.mesh import ROOT, free_port

pytestmark = pytest.mark.e2e


def _env(**values: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSMS_")}
    env.update({k: str(v) for k, v in values.items()})
    return env


def test_mesh_up_prints_endpoints_serves_and_stops_on_ctrl_c(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`make up`'s command waits for health, prints endpoints and a key, serves, stops cleanly."""
    envoy_port = free_port()
    env = _env(
        CSMS_GATEWAY_PORT=free_port(),
        CSMS_ENVOY_PORT=envoy_port,
        CSMS_ENVOY_ADMIN_PORT=free_port(),
        CSMS_DEVICE_PORT=free_port(),
        CSMS_TRANSACTION_PORT=free_port(),
        CSMS_USER_PORT=free_port(),
        CSMS_DATA_DIR=tmp_path,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy.mesh", "up"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops it" in line:
                break
        text = "".join(lines)
        assert "The CSMS mesh is up" in text and f"http://127.0.0.1:{envoy_port}" in text
        # The quick start's create works without a key (the local mode, announced) ...
        assert "WARNING: insecure local mode" in text
        resp = httpx.post(
            f"http://127.0.0.1:{envoy_port}/chargingstations/create", json={"id": "CS123"}
        )
        assert resp.status_code == 200, resp.text
        # ... nothing else does; the first operator key it printed does.
        [key] = re.findall(r"^  (csms_\S+)$", text, re.M)
        api = f"http://127.0.0.1:{envoy_port}/v1/chargingStations/CS123"
        assert httpx.get(api).status_code == 401
        assert httpx.get(api, headers={"authorization": f"Bearer {key}"}).status_code == 200
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole process group
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0 and "stopped." in out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def test_sigterm_lets_in_flight_rpcs_finish(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """On SIGTERM, RPCs already in flight complete and are stored before the process exits."""
    port = free_port()
    path = tmp_path / "device.sqlite"
    env = _env(
        CSMS_DEVICE_GRPC_LISTEN=f"127.0.0.1:{port}",
        CSMS_DEVICE_DATABASE_URL=f"sqlite+aiosqlite:///{path}",
    )

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "device_svc"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL
        )

    async def ready(stub: pb_grpc.DeviceServiceStub) -> None:
        for _ in range(200):
            try:
                await stub.ListChargingStations(pb.ListChargingStationsRequest(), timeout=1)
                return
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.05)
        raise TimeoutError("device_svc did not start")

    proc = start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.DeviceServiceStub(channel)
            await ready(stub)
            # Hold SQLite's write lock: every create below is then stuck inside its handler.
            # (Waiting up to 5 s for it: device_svc's own background work may hold it a moment.)
            lock = sqlite3.connect(path, timeout=5)
            lock.execute("BEGIN IMMEDIATE")
            calls = [
                asyncio.ensure_future(
                    stub.CreateChargingStation(
                        pb.CreateChargingStationRequest(
                            charging_station=pb.ChargingStation(id=f"S{i:03d}")
                        ),
                        timeout=20,
                    )
                )
                for i in range(50)
            ]
            await asyncio.sleep(0.5)
            assert not any(c.done() for c in calls), "the lock did not hold the RPCs in flight"
            proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            lock.rollback()
            lock.close()
            results = await asyncio.gather(*calls, return_exceptions=True)
        assert await asyncio.to_thread(proc.wait, 30) == 0
        failed = [r for r in results if not isinstance(r, pb.ChargingStation)]
        assert not failed, {(r.code(), r.details()) for r in failed}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    proc = start()  # and every acknowledged create is there after the restart
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.DeviceServiceStub(channel)
            await ready(stub)
            page = await stub.ListChargingStations(pb.ListChargingStationsRequest(page_size=1000))
        assert {s.id for s in page.charging_stations} == {f"S{i:03d}" for i in range(50)}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
