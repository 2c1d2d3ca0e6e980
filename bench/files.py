"""``python -m bench.files``: big files through the mesh, and what they cost in memory.

A fresh mesh (SQLite unless ``--database-url``) and one station on a real WebSocket. Four
transfers of ``--mib`` MiB each, every byte generated on the fly and hashed on both sides:

1. the operator uploads a firmware image (``PUT /v1/firmwareImages/{id}/content``);
2. the station downloads it from the URL of the UpdateFirmware a rollout sends it;
3. the station uploads a log to the URL of the GetLog the operator has sent
   (multipart/form-data, as stations send it);
4. the operator downloads that log (``GET .../logs/{requestId}:download``).

For each: seconds, MiB/s, the SHA-256 checked, and how much the peak RSS (VmHWM, reset before
each transfer through /proc/<pid>/clear_refs) of device_svc and Envoy grew above their RSS
before it. Streaming means far less than the file.

    python -m bench.files                 # 50 MiB
    python -m bench.files --mib 200 --database-url postgresql+asyncpg://postgres@127.0.0.1:5432
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import pathlib
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import websockets

from bench.run import own_mesh
from deploy.mesh import Mesh

__all__ = ["main"]

CHUNK = 256 * 1024
STATION = "BENCH-FILES-1"


def _status(pid: int, field: str) -> int:
    """A /proc/<pid>/status size field, in KiB."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


class Memory:
    """The peak RSS growth of some processes over one transfer."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.before: dict[str, int] = {}

    def start(self) -> None:
        for name, pid in self.pids.items():
            pathlib.Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
            self.before[name] = _status(pid, "VmRSS")

    def growth_mib(self) -> dict[str, float]:
        return {
            name: round((_status(pid, "VmHWM") - self.before[name]) / 1024, 1)
            for name, pid in self.pids.items()
        }


def _content(mib: int, digest: Any) -> AsyncIterator[bytes]:
    """``mib`` MiB of random bytes in chunks, hashed into ``digest`` as they go."""

    async def gen() -> AsyncIterator[bytes]:
        block = os.urandom(CHUNK)
        for i in range(mib * 1024 * 1024 // CHUNK):
            chunk = block[i % 97 :] + block[: i % 97]  # not one repeated block
            digest.update(chunk)
            yield chunk

    return gen()


def _multipart(boundary: str, inner: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="diagnostics.log"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        async for chunk in inner:
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    return gen()


async def _read_all(resp: httpx.Response, digest: Any) -> int:
    size = 0
    async for chunk in resp.aiter_bytes(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size


class Station:
    """One station on a real WebSocket that answers UpdateFirmware and GetLog Accepted and
    keeps what they asked."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.calls: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.ws: Any = None
        self.answers: dict[str, asyncio.Future[Any]] = {}

    def expect(self, action: str) -> asyncio.Future[dict[str, Any]]:
        self.calls[action] = asyncio.get_running_loop().create_future()
        return self.calls[action]

    async def start(self) -> None:
        self.ws = await websockets.connect(
            self.url, subprotocols=[websockets.Subprotocol("ocpp2.0.1")]
        )
        self._reader = asyncio.create_task(self._read())
        boot = {"reason": "PowerUp", "chargingStation": {"model": "B", "vendorName": "B"}}
        await self.call("BootNotification", boot)

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        mid = os.urandom(8).hex()
        self.answers[mid] = asyncio.get_running_loop().create_future()
        await self.ws.send(orjson.dumps([2, mid, action, payload]).decode())
        return await asyncio.wait_for(self.answers[mid], 10)

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = orjson.loads(raw)
            if msg[0] == 2:
                action, payload = msg[2], msg[3]
                answer = {"status": "Accepted"}
                if action == "GetLog":
                    answer["filename"] = "diagnostics.log"
                await self.ws.send(orjson.dumps([3, msg[1], answer]).decode())
                fut = self.calls.pop(action, None)
                if fut is not None and not fut.done():
                    fut.set_result(payload)
            elif msg[0] in (3, 4) and msg[1] in self.answers:
                self.answers.pop(msg[1]).set_result(msg[2] if msg[0] == 3 else msg)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


async def _timed(
    name: str,
    mib: int,
    memory: Memory,
    transfer: Callable[[], Any],
    expected: Callable[[], str],
    got: Callable[[], str],
) -> dict[str, Any]:
    memory.start()
    t0 = time.perf_counter()
    await transfer()
    seconds = time.perf_counter() - t0
    return {
        "transfer": name,
        "mib": mib,
        "seconds": round(seconds, 2),
        "mib_per_s": round(mib / seconds, 1),
        "sha256_ok": expected() == got(),
        "peak_rss_growth_mib": memory.growth_mib(),
    }


async def run(mesh: Mesh, mib: int) -> list[dict[str, Any]]:
    key = mesh.create_api_key("operator", "bench files")
    base = f"http://127.0.0.1:{mesh.settings.envoy_port}"
    pids = {p.name: p.popen.pid for p in mesh.procs if p.popen is not None}
    memory = Memory({"device_svc": pids["device_svc"], "envoy": pids["envoy"]})
    results = []
    station = Station(f"ws://127.0.0.1:{mesh.settings.gateway_port}/ocpp/{STATION}")
    await station.start()
    rest = httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {key}"}, timeout=600)
    plain = httpx.AsyncClient(timeout=600)
    try:
        image = (await rest.post("/v1/firmwareImages", json={"name": "b", "version": "1"})).json()
        sent, down = hashlib.sha256(), hashlib.sha256()
        stored: dict[str, Any] = {}

        async def upload_image() -> None:
            resp = await rest.put(
                f"/v1/firmwareImages/{image['id']}/content", content=_content(mib, sent)
            )
            resp.raise_for_status()
            stored.update(resp.json())

        results.append(
            await _timed(
                "firmware upload (operator)",
                mib,
                memory,
                upload_image,
                sent.hexdigest,
                lambda: str(stored.get("sha256")),
            )
        )
        update = station.expect("UpdateFirmware")
        resp = await rest.post(
            "/v1/firmwareRollouts", json={"imageId": image["id"], "stationIds": [STATION]}
        )
        resp.raise_for_status()
        location = (await asyncio.wait_for(update, 10))["firmware"]["location"]

        async def download_image() -> None:
            async with plain.stream("GET", location) as resp:
                resp.raise_for_status()
                await _read_all(resp, down)

        results.append(
            await _timed(
                "firmware download (station)",
                mib,
                memory,
                download_image,
                sent.hexdigest,
                down.hexdigest,
            )
        )
        get_log = station.expect("GetLog")
        resp = await rest.post(
            f"/v1/chargingStations/{STATION}/logs", json={"logType": "DiagnosticsLog"}
        )
        resp.raise_for_status()
        request = await asyncio.wait_for(get_log, 10)
        up, back = hashlib.sha256(), hashlib.sha256()
        boundary = os.urandom(12).hex()

        async def upload_log() -> None:
            resp = await plain.post(
                request["log"]["remoteLocation"],
                content=_multipart(boundary, _content(mib, up)),
                headers={"content-type": f"multipart/form-data; boundary={boundary}"},
            )
            resp.raise_for_status()

        results.append(
            await _timed(
                "log upload (station, multipart)",
                mib,
                memory,
                upload_log,
                up.hexdigest,
                lambda: up.hexdigest(),
            )
        )
        listed = (await rest.get(f"/v1/chargingStations/{STATION}/logs")).json()["logs"][0]
        results[-1]["sha256_ok"] = listed["sha256"] == up.hexdigest()

        async def download_log() -> None:
            path = f"/v1/chargingStations/{STATION}/logs/{request['requestId']}:download"
            async with rest.stream("GET", path) as resp:
                resp.raise_for_status()
                await _read_all(resp, back)

        results.append(
            await _timed(
                "log download (operator)", mib, memory, download_log, up.hexdigest, back.hexdigest
            )
        )
    finally:
        await rest.aclose()
        await plain.aclose()
        await station.close()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=50)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--cpus", choices=["split", "shared"], default="split")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    with own_mesh("files", args.database_url, args.cpus) as mesh:
        results = asyncio.run(run(mesh, args.mib))
    for r in results:
        growth = ", ".join(f"{k} +{v} MiB" for k, v in r["peak_rss_growth_mib"].items())
        print(
            f"{r['transfer']:34} {r['mib']} MiB in {r['seconds']:6.2f} s "
            f"({r['mib_per_s']:6.1f} MiB/s), sha256 {'ok' if r['sha256_ok'] else 'WRONG'}, "
            f"peak RSS {growth}"
        )
    if args.json:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    if not all(r["sha256_ok"] for r in results):
        sys.exit("a transfer's SHA-256 did not match")


if __name__ == "__main__":
    main()
