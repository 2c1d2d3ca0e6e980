"""The local mesh: Envoy, the gateway and the three services as processes on one machine.

``make up`` is ``python -m deploy.mesh up``: it applies the migrations, starts every process,
waits until each one is healthy, prints the endpoints and stops everything cleanly on Ctrl-C.
The end-to-end tests start the very same mesh on free ports through :class:`Mesh`.

Settings come from ``CSMS_*`` environment variables (see :class:`MeshSettings`);
``CSMS_DATABASE_URL=postgresql+asyncpg://user@host:5432`` switches every service to its own
PostgreSQL database (``csms_device``, ``csms_transaction``, ``csms_user``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic_settings import BaseSettings, SettingsConfigDict

from common import db
from common.settings import DEFAULT_PORTS

__all__ = ["MeshSettings", "Mesh", "SERVICES", "free_port"]

ROOT = pathlib.Path(__file__).resolve().parents[1]
SERVICES = ("device", "transaction", "user")


class MeshSettings(BaseSettings):
    """What the launcher reads (``CSMS_*``); each process gets its own ``CSMS_<PROC>_*``."""

    model_config = SettingsConfigDict(env_prefix="CSMS_", extra="ignore")

    # The address stations and REST clients reach; 0.0.0.0 to serve other machines.
    host: str = "127.0.0.1"
    gateway_port: int = DEFAULT_PORTS["gateway"]
    envoy_port: int = DEFAULT_PORTS["envoy"]
    envoy_admin_port: int = DEFAULT_PORTS["envoy_admin"]
    device_port: int = DEFAULT_PORTS["device"]
    transaction_port: int = DEFAULT_PORTS["transaction"]
    user_port: int = DEFAULT_PORTS["user"]
    # Empty: one SQLite file per service in data_dir. A PostgreSQL server URL
    # (postgresql+asyncpg://user@host:port): one database per service on it.
    database_url: str = ""
    database_prefix: str = "csms_"
    data_dir: pathlib.Path = ROOT / "var"
    # Let unknown stations in (registering them) instead of refusing them with 404.
    auto_register: bool = False
    heartbeat_interval: int = 300
    log_level: str = "INFO"

    def service_database_url(self, service: str) -> str:
        if not self.database_url:
            return f"sqlite+aiosqlite:///{self.data_dir / service}.sqlite"
        return f"{self.database_url.rstrip('/')}/{self.database_prefix}{service}"


def free_port() -> int:
    """A port free on loopback right now (for tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_CLUSTER = string.Template(
    """    - name: ${name}
      type: STATIC
      connect_timeout: 2s
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config: {http2_protocol_options: {}}
      load_assignment:
        cluster_name: ${name}
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: {address: 127.0.0.1, port_value: ${port}}
"""
)


def envoy_config(settings: MeshSettings, descriptor: pathlib.Path) -> str:
    """deploy/envoy.yaml with this mesh's ports filled in."""
    clusters = "".join(
        _CLUSTER.substitute(name=f"{s}_svc", port=getattr(settings, f"{s}_port")) for s in SERVICES
    )
    template = string.Template((ROOT / "deploy" / "envoy.yaml").read_text())
    return template.substitute(
        host=settings.host,
        port=settings.envoy_port,
        admin_port=settings.envoy_admin_port,
        descriptor=descriptor,
        clusters=clusters,
    )


@dataclass
class Proc:
    name: str
    argv: Sequence[str]
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None
    log: pathlib.Path | None = None


@dataclass
class Mesh:
    """Starts, checks and stops the processes of one mesh."""

    settings: MeshSettings
    log_dir: pathlib.Path | None = None  # None: the processes log to this terminal
    procs: list[Proc] = field(default_factory=list)

    # -- configuration --------------------------------------------------------------------

    def _proc_env(self, prefix: str, values: dict[str, object]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CSMS_")}
        env.update({f"CSMS_{prefix}_{k.upper()}": str(v) for k, v in values.items()})
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def database_urls(self) -> dict[str, str]:
        return {s: self.settings.service_database_url(s) for s in SERVICES}

    def plan(self) -> list[Proc]:
        s = self.settings
        py = sys.executable
        urls = self.database_urls()
        addr = {svc: f"127.0.0.1:{getattr(s, f'{svc}_port')}" for svc in SERVICES}
        procs = [
            Proc(
                "user_svc",
                [py, "-m", "user_svc", "--no-migrate"],
                self._proc_env(
                    "USER",
                    {
                        "grpc_listen": addr["user"],
                        "database_url": urls["user"],
                        "log_level": s.log_level,
                    },
                ),
            ),
            Proc(
                "device_svc",
                [py, "-m", "device_svc", "--no-migrate"],
                self._proc_env(
                    "DEVICE",
                    {
                        "grpc_listen": addr["device"],
                        "database_url": urls["device"],
                        "heartbeat_interval": s.heartbeat_interval,
                        "log_level": s.log_level,
                    },
                ),
            ),
            Proc(
                "transaction_svc",
                [py, "-m", "transaction_svc", "--no-migrate"],
                self._proc_env(
                    "TRANSACTION",
                    {
                        "grpc_listen": addr["transaction"],
                        "database_url": urls["transaction"],
                        "user_svc_addr": addr["user"],
                        "log_level": s.log_level,
                    },
                ),
            ),
            Proc(
                "gateway",
                [py, "-m", "gateway"],
                self._proc_env(
                    "GATEWAY",
                    {
                        "host": s.host,
                        "port": s.gateway_port,
                        "auto_register": str(s.auto_register).lower(),
                        "device_svc_addr": addr["device"],
                        "transaction_svc_addr": addr["transaction"],
                        "user_svc_addr": addr["user"],
                        "log_level": s.log_level,
                    },
                ),
            ),
        ]
        run_dir = self.log_dir or s.data_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        config = run_dir / "envoy.yaml"
        config.write_text(envoy_config(s, ROOT / "gen" / "descriptor.pb"))
        envoy = pathlib.Path(py).parent / "envoy"
        procs.append(
            Proc(
                "envoy",
                [
                    str(envoy),
                    "-c",
                    str(config),
                    "--disable-hot-restart",
                    "--log-level",
                    "warn",
                    "--concurrency",
                    "1",
                ],
                dict(os.environ),
            )
        )
        return procs

    # -- lifecycle --------------------------------------------------------------------------

    def migrate(self) -> None:
        for svc, url in self.database_urls().items():
            db.migrate(f"{svc}_svc", url)

    def start(self, timeout: float = 60.0) -> None:
        """Migrate, start every process and wait until all are healthy (or raise)."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.migrate()
        self.procs = self.plan()
        try:
            for proc in self.procs:
                out = None
                if self.log_dir is not None:
                    proc.log = self.log_dir / f"{proc.name}.log"
                    out = proc.log.open("ab")
                proc.popen = subprocess.Popen(
                    proc.argv,
                    env=proc.env,
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT if out else None,
                )
            asyncio.run(self._wait_healthy(time.monotonic() + timeout))
        except BaseException:
            self.stop()
            raise

    async def _wait_healthy(self, deadline: float) -> None:
        s = self.settings
        for svc in SERVICES:
            await self._wait_grpc(f"127.0.0.1:{getattr(s, f'{svc}_port')}", deadline)
        await self._wait(lambda: _tcp_open(s.host, s.gateway_port), deadline, "gateway")
        await self._wait(lambda: _envoy_ready(s.envoy_admin_port), deadline, "envoy")

    async def _wait(self, check, deadline: float, what: str) -> None:  # type: ignore[no-untyped-def]
        while not await asyncio.to_thread(check):
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not become ready")
            await asyncio.sleep(0.1)

    async def _wait_grpc(self, addr: str, deadline: float) -> None:
        async with grpc.aio.insecure_channel(addr) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                self._check_alive()
                try:
                    resp = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if resp.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{addr} did not become healthy")
                await asyncio.sleep(0.1)

    def _check_alive(self) -> None:
        for proc in self.procs:
            if proc.popen is not None and proc.popen.poll() is not None:
                tail = proc.log.read_text()[-3000:] if proc.log and proc.log.exists() else ""
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}\n{tail}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every process (front first, so no new work arrives), then wait."""
        for proc in reversed(self.procs):
            if proc.popen is not None and proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
                try:
                    proc.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.popen.kill()
                    proc.popen.wait()

    def endpoints(self) -> str:
        s = self.settings
        return "\n".join(
            [
                f"  stations (OCPP 2.0.1):  ws://{s.host}:{s.gateway_port}/ocpp/<stationId>",
                f"  REST and gRPC (Envoy):  http://{s.host}:{s.envoy_port}",
                f"  Envoy admin:            http://127.0.0.1:{s.envoy_admin_port}",
                *(
                    f"  {svc}_svc gRPC:  127.0.0.1:{getattr(s, f'{svc}_port')}  "
                    f"({self.settings.service_database_url(svc)})"
                    for svc in SERVICES
                ),
            ]
        )


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host if host != "0.0.0.0" else "127.0.0.1", port), 0.5):
            return True
    except OSError:
        return False


def _envoy_ready(admin_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/ready", timeout=0.5) as r:
            return r.status == 200
    except OSError:
        return False


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.mesh", description=__doc__)
    parser.add_argument("command", choices=["up", "migrate"])
    args = parser.parse_args(argv)
    mesh = Mesh(MeshSettings())
    if args.command == "migrate":
        mesh.migrate()
        return
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    mesh.start()
    print("\nThe CSMS mesh is up:\n" + mesh.endpoints() + "\n\nCtrl-C stops it.\n", flush=True)
    try:
        while not stop:
            mesh._check_alive()
            time.sleep(0.5)
    finally:
        print("stopping the mesh ...", flush=True)
        mesh.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    main()
