"""``python -m bench.handshake_timing``: how long a refused handshake takes for a station id that
does not exist and for a known station's wrong password, both presenting a password. The two
must answer alike, status and time within noise, so that no one learns which ids exist.

A fresh mesh on SQLite (one gateway listening itself, unsecured stations not allowed) gets
``--attempts`` profile-1 stations; each is tried once with a wrong password (a station of its
own each time, so that no failure counter of the gateway's locks anything out), interleaved
with as many attempts on made-up ids, each attempt from a loopback address of its own. Prints
per kind the status codes and the milliseconds from connect to the answer (median, p10, p90).

    python -m bench.handshake_timing                  # 200 attempts of each kind
    python -m bench.handshake_timing --attempts 50
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from deploy.mesh import Mesh, on_free_ports

__all__ = ["main"]

PASSWORD = "the-right-password-0123"
WRONG = "a-wrong-password-012345"


def _basic(station_id: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _source() -> tuple[str, int]:
    return (f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}", 0)


async def _attempt(mesh: Mesh, station_id: str) -> tuple[int, float]:
    """The handshake's status and its milliseconds, connect to answer."""
    url = f"ws://127.0.0.1:{mesh.settings.gateway_port}/ocpp/{station_id}"
    started = time.perf_counter()
    try:
        ws = await connect(
            url,
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            additional_headers=_basic(station_id, WRONG),
            proxy=None,
            open_timeout=10,
            local_addr=_source(),
        )
    except InvalidStatus as exc:
        return exc.response.status_code, (time.perf_counter() - started) * 1000
    await ws.close()
    return 101, (time.perf_counter() - started) * 1000


async def _measure(mesh: Mesh, attempts: int) -> dict[str, list[tuple[int, float]]]:
    key = mesh.create_api_key("operator", "handshake timing")
    known = [f"TIMING-{uuid.uuid4().hex[:10]}" for _ in range(attempts)]
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{mesh.settings.envoy_port}",
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    ) as rest:
        for sid in known:
            body = {"id": sid, "securityProfile": 1, "basicAuthPassword": PASSWORD}
            resp = await rest.post("/v1/chargingStations", json=body)
            resp.raise_for_status()
    results: dict[str, list[tuple[int, float]]] = {"unknown id": [], "known, wrong password": []}
    for _ in range(3):  # warm-up: connections, the dummy hash, caches
        await _attempt(mesh, f"WARMUP-{uuid.uuid4().hex[:10]}")
    for sid in known:
        results["unknown id"].append(await _attempt(mesh, f"NOPE-{uuid.uuid4().hex[:10]}"))
        results["known, wrong password"].append(await _attempt(mesh, sid))
    return results


def _report(results: dict[str, list[tuple[int, float]]]) -> None:
    for kind, outcomes in results.items():
        statuses = collections.Counter(status for status, _ in outcomes)
        times = sorted(ms for _, ms in outcomes)
        deciles = statistics.quantiles(times, n=10)
        print(
            f"{kind:24} statuses {dict(statuses)}  median {statistics.median(times):6.1f} ms  "
            f"p10 {deciles[0]:6.1f}  p90 {deciles[-1]:6.1f}  (n={len(times)})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--attempts", type=int, default=200, help="attempts of each kind")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="csms-handshake-timing-") as tmp:
        settings = on_free_ports(Path(tmp), allow_unsecured_stations=False)
        mesh = Mesh(settings, log_dir=Path(tmp))
        mesh.start()
        try:
            _report(asyncio.run(_measure(mesh, args.attempts)))
        finally:
            mesh.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
