"""``make flood``: half-open connections against every public listener, while real stations
connect and REST answers; no process may crash.

For each listener in turn (the stations' port through Envoy with two gateways, the wss port,
the API port, then the stations' port of a lone gateway listening itself) the flood holds up
to ``--connections`` connections that send a partial upgrade request (TLS: nothing, not even a
ClientHello) and reopens each one the server closes, for ``--seconds``; meanwhile a real station
connects to the flooded kind of listener (ws, or wss during the TLS flood) every second and must
have its BootNotification answered, REST must answer ``GET /v1/chargingStations``, and every
process of the mesh must stay up. Real clients behave as real ones do: a connection refused or
reset is tried again, 0.5 s later, for up to 15 s (a station's reconnect back-off, an HTTP
client's retry of an idempotent GET); the result says how many attempts each answer took.

The flood runs in a process of its own (``--hold``), with its own open-file limit: sharing the
probes' process, it used that process's descriptors up and the probes failed for want of a
socket, not because the mesh turned them away. Its connections come from 127.0.0.2 and further
loopback addresses (127.0.0.3 ...) when one address's ephemeral ports do not suffice; the
probes from 127.0.0.1.

    python -m bench.flood                       # 20,000 connections, 60 s per listener
    python -m bench.flood --connections 1000 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import pathlib
import ssl
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

import websockets
from websockets.asyncio.client import connect

from bench.loadgen import STATIONS_PER_SOURCE, raise_fd_limit
from deploy.mesh import Mesh, free_port, on_free_ports

__all__ = ["Flood", "FloodResult", "Probe", "main", "run"]

_ROOT = pathlib.Path(__file__).resolve().parents[1]
PARTIAL_REQUEST = b"GET /ocpp/FLOOD HTTP/1.1\r\nHost: csms\r\nUpgrade: websocket\r\n"
BOOT = json.dumps(
    [
        2,
        "1",
        "BootNotification",
        {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}},
    ]
)


@dataclasses.dataclass
class Flood:
    """Holds up to ``connections`` half-open connections to host:port; reopens closed ones."""

    host: str
    port: int
    connections: int
    send: bytes = PARTIAL_REQUEST
    held: int = 0
    peak: int = 0
    opened: int = 0
    closed_by_server: int = 0
    failed_connects: int = 0

    async def run(self, until: float) -> None:
        slots = [asyncio.create_task(self._slot(i, until)) for i in range(self.connections)]
        await asyncio.gather(*slots, return_exceptions=True)

    async def _slot(self, i: int, until: float) -> None:
        # Below half an address's ephemeral ports each (see bench.loadgen).
        source = f"127.0.0.{2 + i // STATIONS_PER_SOURCE}"
        while time.monotonic() < until:
            try:
                # A connect waiting in a full accept queue is given up at the end.
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port, local_addr=(source, 0)),
                    max(until - time.monotonic(), 0.01),
                )
            except TimeoutError:
                return
            except OSError:
                self.failed_connects += 1
                await asyncio.sleep(0.5)
                continue
            self.opened += 1
            self.held += 1
            self.peak = max(self.peak, self.held)
            try:
                if self.send:
                    writer.write(self.send)
                with contextlib.suppress(OSError):
                    await asyncio.wait_for(reader.read(), max(until - time.monotonic(), 0.01))
                    self.closed_by_server += 1
            except TimeoutError:
                pass
            finally:
                self.held -= 1
                writer.transport.abort()
            # A closed connection is reopened at once, a refused one after a breath.
            await asyncio.sleep(0.05)


def _counts(flood: Flood) -> dict[str, int]:
    return {
        "peak": flood.peak,
        "opened": flood.opened,
        "closed_by_server": flood.closed_by_server,
        "failed_connects": flood.failed_connects,
    }


async def _hold(host: str, port: int, connections: int, seconds: float, send: bytes) -> None:
    """The flood's own process (``--hold``): prints its counts as JSON when it is over."""
    raise_fd_limit()
    flood = Flood(host, port, connections, send)
    await flood.run(time.monotonic() + seconds)
    print(json.dumps(_counts(flood)), flush=True)


async def _flood_elsewhere(
    host: str, port: int, connections: int, seconds: float, send: bytes
) -> Flood:
    """The flood, run by a child process; its counts when it is over."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.flood",
        "--hold",
        json.dumps([host, port, connections, seconds, send.decode("latin-1")]),
        stdout=asyncio.subprocess.PIPE,
        cwd=_ROOT,
    )
    out, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"the flood's process exited with {child.returncode}")
    flood = Flood(host, port, connections, send)
    for name, value in json.loads(out.decode().strip().splitlines()[-1]).items():
        setattr(flood, name, value)
    return flood


@dataclasses.dataclass
class Probe:
    """Real clients during the flood: a station booting every second, REST every second."""

    ws_url: str
    rest_url: str
    api_key: str
    tls: ssl.SSLContext | None = None
    stations_answered: int = 0
    stations_failed: int = 0
    station_attempts: int = 0
    rest_answered: int = 0
    rest_failed: int = 0
    rest_attempts: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)

    async def run(self, until: float, label: str) -> None:
        n = 0
        while time.monotonic() < until:
            n += 1
            await asyncio.gather(self._station(f"{label}-{n}"), asyncio.to_thread(self._rest))
            await asyncio.sleep(1.0)

    async def _station(self, station_id: str) -> None:
        """Connects and boots like a station: on a refused or dropped connect it tries again
        (OCPP 2.0.1 B.. reconnects), at most 10 times within 15 s."""
        deadline = time.monotonic() + 15
        for _ in range(10):
            self.station_attempts += 1
            try:
                async with connect(
                    f"{self.ws_url}/{station_id}",
                    subprotocols=[websockets.Subprotocol("ocpp2.0.1")],
                    open_timeout=10,
                    ssl=self.tls,
                ) as ws:
                    await ws.send(BOOT)
                    answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if answer[0] == 3:
                    self.stations_answered += 1
                    return
                self.errors.append(f"{station_id}: {answer}")
                break
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                if time.monotonic() > deadline:
                    self.errors.append(f"{station_id}: {exc!r}")
                    break
                await asyncio.sleep(0.5)
        self.stations_failed += 1

    def _rest(self) -> None:
        """An idempotent GET, tried again on a refused or reset connection like an HTTP
        client's retry, at most 10 times within 15 s."""
        request = urllib.request.Request(
            f"{self.rest_url}/v1/chargingStations?pageSize=1",
            headers={"authorization": f"Bearer {self.api_key}"},
        )
        deadline = time.monotonic() + 15
        for _ in range(10):
            self.rest_attempts += 1
            try:
                with urllib.request.urlopen(request, timeout=10) as r:
                    r.read()
                self.rest_answered += 1
                return
            except OSError as exc:
                if time.monotonic() > deadline:
                    self.errors.append(f"REST: {exc!r}")
                    break
                time.sleep(0.5)
        self.rest_failed += 1


@dataclasses.dataclass
class FloodResult:
    listener: str
    flood: Flood
    probe: Probe
    crashed: list[str]

    def ok(self) -> bool:
        return (
            not self.crashed
            and self.probe.stations_failed == 0
            and self.probe.rest_failed == 0
            and self.probe.stations_answered > 0
            and self.probe.rest_answered > 0
        )

    def line(self) -> str:
        f, p = self.flood, self.probe
        return (
            f"{'PASS' if self.ok() else 'FAIL'} {self.listener}: flood held up to {f.peak} of "
            f"{f.connections} ({f.opened} opened, {f.closed_by_server} closed by the server, "
            f"{f.failed_connects} connects failed); stations answered {p.stations_answered} "
            f"(failed {p.stations_failed}, {p.station_attempts} connects), REST answered "
            f"{p.rest_answered} (failed {p.rest_failed}, {p.rest_attempts} attempts); crashed: "
            f"{self.crashed or 'none'}"
        )


def _crashed(mesh: Mesh) -> list[str]:
    return [
        f"{p.name} (exit {p.popen.returncode})"
        for p in mesh.procs
        if p.popen is not None and p.popen.poll() is not None
    ]


async def _phase(
    mesh: Mesh, listener: str, port: int, send: bytes, connections: int, seconds: float
) -> FloodResult:
    s = mesh.settings
    key = mesh.create_api_key("reader", f"flood-{listener}")
    if listener == "stations-tls":
        # During the TLS flood the probe station comes in over wss, through the flooded port.
        tls = ssl.create_default_context(cafile=str(mesh.write_tls()["ca_cert"]))
        ws_url = f"wss://localhost:{s.station_tls_port}/ocpp"
    else:
        tls, ws_url = None, f"ws://127.0.0.1:{s.gateway_port}/ocpp"
    probe = Probe(ws_url, f"http://127.0.0.1:{s.envoy_port}", key, tls)
    until = time.monotonic() + seconds
    flood, _ = await asyncio.gather(
        _flood_elsewhere("127.0.0.1", port, connections, seconds, send),
        probe.run(until, f"probe-{listener}"),
    )
    return FloodResult(listener, flood, probe, _crashed(mesh))


def run(
    data_dir: pathlib.Path,
    connections: int,
    seconds: float,
    listeners: Sequence[str] = ("stations-envoy", "stations-tls", "api", "stations-gateway"),
    overrides: dict[str, Any] | None = None,
) -> list[FloodResult]:
    """Each listener flooded in turn; the first three on a mesh with two gateways and TLS, the
    last on a mesh whose lone gateway listens on the stations' port itself."""
    raise_fd_limit()
    results: list[FloodResult] = []
    common = {"auto_register": True, "allow_unsecured_stations": True, **(overrides or {})}
    envoy_side = [name for name in listeners if name != "stations-gateway"]
    meshes: list[tuple[list[str], dict[str, Any]]] = [
        (envoy_side, {"gateways": 2, "tls": True}),
        (["stations-gateway"] if "stations-gateway" in listeners else [], {"gateways": 1}),
    ]
    for i, (names, extra) in enumerate(meshes):
        if not names:
            continue
        settings = on_free_ports(
            data_dir / f"mesh-{i}", station_tls_port=free_port(), **common, **extra
        )
        mesh = Mesh(settings, log_dir=data_dir / f"mesh-{i}")
        mesh.start()
        try:
            ports = {
                "stations-envoy": (settings.gateway_port, PARTIAL_REQUEST),
                "stations-tls": (settings.station_tls_port, b""),
                "api": (settings.envoy_port, PARTIAL_REQUEST),
                "stations-gateway": (settings.gateway_port, PARTIAL_REQUEST),
            }
            for name in names:
                port, send = ports[name]
                result = asyncio.run(_phase(mesh, name, port, send, connections, seconds))
                print(result.line(), flush=True)
                for error in result.probe.errors[:5]:
                    print("  ", error, flush=True)
                results.append(result)
        finally:
            mesh.stop()
    return results


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.flood", description=__doc__)
    p.add_argument("--connections", type=int, default=20_000)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--listener", action="append", help="only these (repeatable)")
    p.add_argument("--hold", help=argparse.SUPPRESS)  # the flood's own process
    a = p.parse_args(argv)
    if a.hold:
        host, port, connections, seconds, send = json.loads(a.hold)
        asyncio.run(_hold(host, port, connections, seconds, send.encode("latin-1")))
        return
    with tempfile.TemporaryDirectory(prefix="csms-flood-") as tmp:
        kwargs: dict[str, Any] = {}
        if a.listener:
            kwargs["listeners"] = a.listener
        results = run(pathlib.Path(tmp), a.connections, a.seconds, **kwargs)
    sys.exit(0 if all(r.ok() for r in results) else 1)


if __name__ == "__main__":
    main()
