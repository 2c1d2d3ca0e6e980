"""The local mesh: Envoy, the gateway and the three services as processes on one machine.

``make up`` is ``python -m deploy.mesh up``: it applies the migrations, starts every process,
waits until each one is healthy, prints the endpoints and stops everything cleanly on Ctrl-C.
The end-to-end tests start the very same mesh on free ports through :class:`Mesh`.

Settings come from ``CSMS_*`` environment variables (see :class:`MeshSettings`);
``CSMS_DATABASE_URL=postgresql+asyncpg://user@host:5432`` switches every service to its own
PostgreSQL database (``csms_device``, ``csms_transaction``, ``csms_user``);
``CSMS_INTERNAL_TLS=true`` puts every internal gRPC connection on mutual TLS (common.grpc_tls).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import ipaddress
import logging
import os
import pathlib
import random
import secrets
import shlex
import signal
import socket
import string
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from common import db, grpc_tls, pki, rlimits
from common.settings import DEFAULT_MAX_FIRMWARE_BYTES, DEFAULT_MAX_LOG_BYTES, DEFAULT_PORTS
from csms.user.v1 import user_service_pb2, user_service_pb2_grpc

__all__ = [
    "MeshSettings",
    "Mesh",
    "Gateway",
    "Cluster",
    "StationTls",
    "UpstreamTls",
    "SERVICES",
    "SERVICE_HOSTNAMES",
    "free_port",
    "on_free_ports",
    "envoy_config",
    "render_envoy",
    "kubernetes_envoy_config",
]

log = logging.getLogger(__name__)

ROOT = pathlib.Path(__file__).resolve().parents[1]
SERVICES = ("device", "transaction", "user")
# Each service's DNS name: its Kubernetes Service, and with internal TLS the name its certificate
# carries and Envoy checks (deploy/k8s/base and the local mesh alike).
SERVICE_HOSTNAMES = {s: f"{s}-svc" for s in SERVICES}
# The OpenAPI document of the REST API, next to the descriptor set in gen/ (`make proto`,
# proto/tools/gen_openapi.py); Envoy answers GET /v1/openapi.json with it.
OPENAPI_FILE = "openapi.json"
# The operator console's assets (console/: HTML, JavaScript modules, CSS, no build step), served
# by Envoy itself on the API port under /console/ (README "Console").
CONSOLE_DIR = ROOT / "console"
_CONSOLE_TYPES = {".html", ".js", ".css", ".svg"}


def console_assets(directory: pathlib.Path = CONSOLE_DIR) -> list[str]:
    """The console's files Envoy serves, by name (the tests and notes beside them are not)."""
    return sorted(f.name for f in directory.iterdir() if f.is_file() and f.suffix in _CONSOLE_TYPES)


# The per-filter switches of a console route: no API key asked, no transcoding.
_CONSOLE_FILTERS_OFF = """\
typed_per_filter_config:
  envoy.filters.http.ext_authz:
    "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute
    disabled: true
  envoy.filters.http.grpc_json_transcoder:
    "@type": type.googleapis.com/envoy.config.route.v3.FilterConfig
    disabled: true
"""
# The console's pages ask nothing of any other origin (scripts, styles, fonts, calls).
_CONSOLE_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
_CONSOLE_ASSET = string.Template("""\
- match: {path: "/console/$name"}
  direct_response:
    status: 200
    body: {filename: "$file"}
  response_headers_to_add:
    - header: {key: cache-control, value: no-cache}
    - header: {key: content-security-policy, value: "$csp"}
    - header: {key: x-content-type-options, value: nosniff}
""")


def _console_routes(directory: pathlib.Path | str) -> str:
    """One route per asset (a direct response of the file, read when Envoy starts), the
    index at /console/, and /console sent there. No API key for them: the assets hold no data
    (every call the console makes carries the operator's key)."""
    off = textwrap.indent(_CONSOLE_FILTERS_OFF, "  ")
    routes = '- match: {path: "/console"}\n  redirect: {path_redirect: "/console/"}\n' + off
    for name in ["", *console_assets()]:
        file = f"{directory}/{name or 'index.html'}"
        routes += _CONSOLE_ASSET.substitute(name=name, file=file, csp=_CONSOLE_CSP) + off
    return textwrap.indent(routes, " " * 24)


class MeshSettings(BaseSettings):
    """What the launcher reads (``CSMS_*``); each process gets its own ``CSMS_<PROC>_*``."""

    model_config = SettingsConfigDict(env_prefix="CSMS_", extra="ignore")

    # The address stations and REST clients reach; 0.0.0.0 to serve other machines.
    host: str = "127.0.0.1"
    # The stations' port (one URL for all of them, whatever the number of gateways).
    gateway_port: int = DEFAULT_PORTS["gateway"]
    # Gateway processes. One listens on gateway_port itself (the fast path); with several,
    # Envoy listens there and spreads the WebSocket upgrades over them.
    gateways: int = Field(default=1, ge=1)
    # The first gateway's gRPC port (StationControlService, health); gateway i gets +i-1.
    # 0: free ports picked at start (tests); a taken one is replaced by a free one too.
    gateway_grpc_port: int = DEFAULT_PORTS["gateway_grpc"]
    # With several gateways: the first one's WebSocket port behind Envoy; gateway i gets +i-1.
    # 0: free ports picked at start (tests).
    gateway_internal_port: int = DEFAULT_PORTS["gateway"] + 1
    envoy_port: int = DEFAULT_PORTS["envoy"]
    envoy_admin_port: int = DEFAULT_PORTS["envoy_admin"]
    device_port: int = DEFAULT_PORTS["device"]
    transaction_port: int = DEFAULT_PORTS["transaction"]
    user_port: int = DEFAULT_PORTS["user"]
    # The OCSP responder of device_svc's embedded Plug & Charge test PKI (on host; its
    # certificates name http://<host>:<port>/ocsp); 0: none.
    ocsp_port: int = DEFAULT_PORTS["ocsp"]
    # Empty: one SQLite file per service in data_dir. A PostgreSQL server URL
    # (postgresql+asyncpg://user@host:port): one database per service on it.
    database_url: str = ""
    database_prefix: str = "csms_"
    data_dir: pathlib.Path = ROOT / "var"
    # Let unknown stations in (registering them) instead of refusing them with 404.
    auto_register: bool = False
    # The insecure local mode of the quick start: the prototype's POST /chargingstations/create
    # through Envoy without an API key (every other call needs one). Unset: on only for the
    # embedded default (SQLite files, no database URL) on a loopback host; `make up` warns.
    allow_anonymous_legacy_create: bool | None = None
    heartbeat_interval: int = 300
    log_level: str = "INFO"
    # Every process's log lines: "text" (key=value) or "json" (one object per line).
    log_format: Literal["text", "json"] = "text"
    # TLS mode (security profiles 2 and 3): a local CA and Envoy's server certificate in
    # data_dir/tls (made on first start, kept after), Envoy terminating wss on station_tls_port
    # and plain ws on gateway_port, every gateway behind it.
    tls: bool = False
    station_tls_port: int = 3443
    # The CPO's name: station certificates' subject O must be this (device_svc's cpo_name,
    # A00.FR.404). Empty: not checked.
    cpo_name: str = ""
    # Let stations without credentials (security profile 0) in. Unset: on for a mesh on a
    # loopback host (the local quick start; `make up` warns), off otherwise.
    allow_unsecured_stations: bool | None = None
    # Internal gRPC on mutual TLS (CSMS_INTERNAL_TLS=true): an internal CA and one certificate
    # per process in data_dir/internal-tls (the CA kept across runs), each process given its
    # own as CSMS_INTERNAL_TLS_*, Envoy's gRPC clusters on TLS with its own.
    internal_tls: bool = False
    # Envoy's downstream connections at once, in all listeners (each has a share: a quarter
    # for the API, the rest for the stations' listeners). 0: sized from the open-file limit,
    # which `make up` raises to the hard limit first (deploy.mesh.envoy_max_connections).
    envoy_max_connections: int = Field(default=0, ge=0)
    # The base of the file URLs stations are given (firmware downloads, log uploads:
    # <base>/files/<token>, served by Envoy's API port). Empty: http://<host>:<envoy_port>
    # (127.0.0.1 for a host of 0.0.0.0: set it to the address stations reach).
    files_base_url: str = ""
    # The station message log (CSMS_MESSAGE_LOG=true): every frame in and out, recorded.
    message_log: bool = False
    # The size limits of uploads (a firmware image, a station's log), in bytes: device_svc's,
    # and Envoy's 413 for a Content-Length beyond them.
    max_firmware_bytes: int = Field(default=DEFAULT_MAX_FIRMWARE_BYTES, ge=1)
    max_log_bytes: int = Field(default=DEFAULT_MAX_LOG_BYTES, ge=1)
    # Prometheus metrics: device_svc on this port +1, transaction_svc +2, user_svc +3,
    # gateway-i +10+i-1, all on 127.0.0.1 (deploy/prometheus.yml scrapes them and Envoy's
    # admin); 0: no metrics.
    metrics_base_port: int = Field(default=9150, ge=0)

    def metrics_port(self, proc: str) -> int:
        """``proc``'s metrics port ("device", ..., "gateway-2"); 0 when metrics are off."""
        if not self.metrics_base_port:
            return 0
        offsets = {"device": 1, "transaction": 2, "user": 3}
        if proc.startswith("gateway-"):
            return self.metrics_base_port + 9 + int(proc.removeprefix("gateway-"))
        return self.metrics_base_port + offsets[proc]

    def files_url(self) -> str:
        if self.files_base_url:
            return self.files_base_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.envoy_port}"

    def unsecured_stations(self) -> bool:
        """Whether the gateways let stations without credentials in."""
        if self.allow_unsecured_stations is not None:
            return self.allow_unsecured_stations
        return _loopback(self.host)

    def behind_envoy(self) -> bool:
        """Envoy fronts the gateways (several of them, or TLS): they trust its headers."""
        return self.gateways > 1 or self.tls

    def tls_dir(self) -> pathlib.Path:
        return self.data_dir / "tls"

    def internal_tls_dir(self) -> pathlib.Path:
        return self.data_dir / "internal-tls"

    def anonymous_legacy_create(self) -> bool:
        """Whether user_svc lets the legacy create through without an API key."""
        if self.allow_anonymous_legacy_create is not None:
            return self.allow_anonymous_legacy_create
        try:
            loopback = ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            loopback = self.host == "localhost"
        return not self.database_url and loopback

    def service_database_url(self, service: str) -> str:
        if not self.database_url:
            return f"sqlite+aiosqlite:///{self.data_dir / service}.sqlite"
        return f"{self.database_url.rstrip('/')}/{self.database_prefix}{service}"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


# Ports handed out by free_port: below the kernel's ephemeral range (32768-60999 by default), so
# that no outgoing connection (a test's WebSocket client, a gRPC channel) is given one as its
# source port between the moment it is picked and the moment a process binds it. Binding port 0
# would pick from that very range.
_FREE_PORTS = range(20000, 32768)
_random = random.SystemRandom()
# Every port free_port has handed out in this process: a mesh picks all its ports before any of
# its processes binds one, so a free port picked twice would have two processes race for it.
_handed_out: set[int] = set()


def free_port() -> int:
    """A port free on loopback right now (tests, bench, chaos): a random one of _FREE_PORTS that
    binds (one in use by anything else does not) and that this process never handed out before."""
    try:
        return free_port_range(1)
    except OSError:
        raise OSError(f"no free port in {_FREE_PORTS}") from None


def free_port_range(span: int) -> int:
    """The first of ``span`` consecutive ports that all bind on loopback right now and that
    :func:`free_port` never hands out afterwards (a mesh's metrics ports: ``metrics_base_port``
    and the ports above it, see ``MeshSettings.metrics_port``).

    Every window of the pool is looked at, from a random one on and round, so a range is found
    while any is left (a test worker may have handed out half the pool by then); a window with a
    port handed out or taken is skipped past that port."""
    first, last = _FREE_PORTS.start, _FREE_PORTS.stop - span
    start = _random.randint(first, last)
    for lo, hi in ((start, last), (first, start - 1)):
        base = lo
        while base <= hi:
            taken = _first_taken(range(base, base + span))
            if taken is None:
                _handed_out.update(range(base, base + span))
                return base
            base = taken + 1
    raise OSError(f"no {span} consecutive free ports in {_FREE_PORTS}")


def _first_taken(ports: range) -> int | None:
    """The last port of ``ports`` handed out before, else the first that does not bind, or None."""
    handed_out = [port for port in ports if port in _handed_out]
    if handed_out:
        return handed_out[-1]
    with contextlib.ExitStack() as stack:
        for port in ports:
            try:
                stack.enter_context(socket.socket()).bind(("127.0.0.1", port))
            except OSError:
                return port
    return None


def on_free_ports(data_dir: pathlib.Path, **overrides: Any) -> MeshSettings:
    """Settings of a mesh on loopback with every port free (tests, bench, chaos); SQLite unless
    ``database_url`` is given."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "gateway_port": free_port(),
        "gateway_grpc_port": 0,
        "gateway_internal_port": 0,
        "envoy_port": free_port(),
        "envoy_admin_port": free_port(),
        # No metrics ports: several meshes (tests) would share them; a test that wants them
        # gives a base of its own.
        "metrics_base_port": 0,
        "device_port": free_port(),
        "transaction_port": free_port(),
        "user_port": free_port(),
        "ocsp_port": free_port(),
        "data_dir": data_dir,
        "database_url": "",
    }
    values.update(overrides)
    return MeshSettings(**values)


_CLUSTER = string.Template(
    """    - name: ${name}
      type: ${type}
      connect_timeout: 2s
${lb}${options}${transport}      load_assignment:
        cluster_name: ${name}
        endpoints:
          - lb_endpoints:
${endpoints}"""
)

_ENDPOINT = string.Template(
    """              - endpoint:
                  address:
                    socket_address: {address: ${address}, port_value: ${port}}
"""
)

# The services speak gRPC: HTTP/2 upstream.
_HTTP2 = """      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config: {http2_protocol_options: {}}
"""

# The services: any instance answers any call.
_ROUND_ROBIN = """      lb_policy: ROUND_ROBIN
"""

# The gateways: a station's WebSocket is one long request, so the gateway with the fewest active
# requests holds the fewest stations, and a new one goes there. All of them are compared (a full
# scan), not two picked at random (LEAST_REQUEST's default, which with two gateways picks the
# same one twice in a quarter of the picks, whatever each holds).
_FEWEST_STATIONS = """      load_balancing_policy:
        policies:
          - typed_extension_config:
              name: envoy.load_balancing_policies.least_request
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest
                selection_method: FULL_SCAN
"""  # noqa: E501 - the extension's type URL

# Both intervals: before the first station (no traffic yet) and after.
_GATEWAY_HEALTH_CHECK_INTERVAL_S = 1.0

# A gateway that stopped answering connects is set aside for a while, so a crashed one does not
# keep refusing a share of the stations (its TCP connect fails at once).
_GATEWAY_OPTIONS = f"""      outlier_detection:
        split_external_local_origin_errors: true
        consecutive_local_origin_failure: 1
        base_ejection_time: 5s
        max_ejection_percent: 100
      # A killed gateway leaves the rotation within about a second, before stations hit it.
      health_checks:
        - timeout: 0.5s
          interval: {_GATEWAY_HEALTH_CHECK_INTERVAL_S:g}s
          no_traffic_interval: {_GATEWAY_HEALTH_CHECK_INTERVAL_S:g}s
          unhealthy_threshold: 1
          healthy_threshold: 1
          tcp_health_check: {{}}
"""


@dataclass(frozen=True)
class Cluster:
    """An Envoy upstream: a service (gRPC, HTTP/2) or the gateways (HTTP/1.1 WebSocket)."""

    name: str
    endpoints: Sequence[tuple[str, int]]
    grpc: bool = True
    # The DNS name in the upstream's certificate, checked when its gRPC goes over internal TLS.
    server_name: str = ""


@dataclass(frozen=True)
class StationTls:
    """The wss listener: its port, Envoy's ECDSA server certificate and key, the CA of
    stations' client certificates, Envoy's RSA server certificate and key (PEM files; both
    server certificates because A00.FR.421's TLS 1.2 suites need both kinds)."""

    port: int
    server_cert: pathlib.Path | str
    server_key: pathlib.Path | str
    ca_cert: pathlib.Path | str
    server_rsa_cert: pathlib.Path | str
    server_rsa_key: pathlib.Path | str


@dataclass(frozen=True)
class UpstreamTls:
    """Internal mutual TLS towards the services: Envoy's client certificate and key, the internal
    CA (PEM files)."""

    cert: pathlib.Path | str
    key: pathlib.Path | str
    ca: pathlib.Path | str


def _upstream_tls(cluster: Cluster, tls: UpstreamTls | None) -> str:
    """The transport socket of a gRPC cluster under internal TLS; nothing otherwise."""
    if tls is None or not cluster.grpc:
        return ""
    if not cluster.server_name:
        raise ValueError(f"cluster {cluster.name}: internal TLS needs the server's name")
    return string.Template((ROOT / "deploy" / "envoy-upstream-tls.yaml").read_text()).substitute(
        server_name=cluster.server_name, cert=tls.cert, key=tls.key, ca=tls.ca
    )


def _stations_listener(name: str, host: str, port: int, tls: StationTls | None) -> str:
    """envoy-stations.yaml for one station listener: plain ws, or wss with client certificates."""
    transport = ""
    if tls is not None:
        transport = string.Template(
            (ROOT / "deploy" / "envoy-stations-tls.yaml").read_text()
        ).substitute(
            server_cert=tls.server_cert,
            server_key=tls.server_key,
            server_rsa_cert=tls.server_rsa_cert,
            server_rsa_key=tls.server_rsa_key,
            ca_cert=tls.ca_cert,
        )
    return string.Template((ROOT / "deploy" / "envoy-stations.yaml").read_text()).substitute(
        name=name,
        host=host,
        port=port,
        proto="https" if tls is not None else "http",
        forward_client_cert="SANITIZE_SET" if tls is not None else "SANITIZE",
        client_cert_details="                set_current_client_cert_details: {subject: true}\n"
        if tls is not None
        else "",
        transport_socket=transport,
        # Seconds from the connect to the whole upgrade request: a TLS station also needs its
        # handshake's round trips (two on TLS 1.2) in that time, on links of a few hundred ms.
        pre_request_timeout="5s" if tls is not None else "2s",
    )


def render_envoy(
    *,
    host: str,
    port: int,
    admin_host: str,
    admin_port: int,
    descriptor: pathlib.Path | str,
    openapi: pathlib.Path | str,
    clusters: Sequence[Cluster],
    console: pathlib.Path | str = CONSOLE_DIR,
    stations_port: int | None = None,
    stations_tls: StationTls | None = None,
    dns: bool = False,
    upstream_tls: UpstreamTls | None = None,
    max_connections: int = 0,
    max_firmware_bytes: int = DEFAULT_MAX_FIRMWARE_BYTES,
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
) -> str:
    """deploy/envoy.yaml filled in; a ``gateway`` cluster needs ``stations_port`` and back.

    ``max_connections``: downstream connections Envoy holds at once, in all (0: the default
    below, :data:`ENVOY_MAX_CONNECTIONS`); each listener gets a share (:func:`listener_limits`).

    ``descriptor``: the transcoder's descriptor set; ``openapi``: the OpenAPI document Envoy
    answers ``GET /v1/openapi.json`` with (both written by ``make proto``); ``console``: the
    directory of the console's assets where Envoy runs.

    ``stations_tls``: also the stations' wss listener (the TLS mode).

    ``upstream_tls``: the gRPC clusters (the services; ext_authz goes to user_svc's) over
    internal mutual TLS, each checking its ``server_name``. The gateways' cluster carries the
    stations' WebSocket connections, not internal gRPC, and stays as it is.

    ``dns``: the endpoints are DNS names resolved to every address they have (Kubernetes
    Services; a headless one lists every gateway pod) instead of fixed IPs.
    """
    rendered = []
    for c in clusters:
        rendered.append(
            _CLUSTER.substitute(
                name=c.name,
                type="STRICT_DNS" if dns else "STATIC",
                lb=_ROUND_ROBIN if c.grpc else _FEWEST_STATIONS,
                options=_HTTP2 if c.grpc else _GATEWAY_OPTIONS,
                transport=_upstream_tls(c, upstream_tls),
                endpoints="".join(_ENDPOINT.substitute(address=a, port=p) for a, p in c.endpoints),
            )
        )
    has_gateways = any(c.name == "gateway" for c in clusters)
    if has_gateways != (stations_port is not None):
        raise ValueError("the stations listener and the gateway cluster go together")
    if stations_tls is not None and stations_port is None:
        raise ValueError("the wss listener comes with the plain stations listener")
    listener = (
        _stations_listener("stations", host, stations_port, None)
        if stations_port is not None
        else ""
    )
    if stations_tls is not None:
        listener += _stations_listener("stations_tls", host, stations_tls.port, stations_tls)
    names = ["api"] + (["stations"] if stations_port is not None else [])
    names += ["stations_tls"] if stations_tls is not None else []
    max_connections = max_connections or ENVOY_MAX_CONNECTIONS
    limits = listener_limits(max_connections, names)
    template = string.Template((ROOT / "deploy" / "envoy.yaml").read_text())
    return template.substitute(
        max_connections=max_connections,
        listener_limits="".join(
            f"        envoy.resource_limits.listener.{n}.connection_limit: {limit}\n"
            for n, limit in limits.items()
        ),
        host=host,
        port=port,
        admin_host=admin_host,
        admin_port=admin_port,
        descriptor=descriptor,
        openapi=openapi,
        console_routes=_console_routes(console),
        stations_listener=listener,
        clusters="".join(rendered),
        # Envoy's header range match: [start, end).
        firmware_too_large=max_firmware_bytes + 1,
        log_too_large=max_log_bytes + 1,
    )


# Envoy's downstream connections when nothing else is known (Kubernetes: its pod's 256 MiB hold
# this many half-open connections and more; the container runtime's open-file limit is higher).
ENVOY_MAX_CONNECTIONS = 20_000
# Descriptors Envoy keeps for everything but downstream connections (upstream pools to the
# services, health checks, admin, files).
ENVOY_FD_RESERVE = 1024


def listener_limits(max_connections: int, listeners: Sequence[str]) -> dict[str, int]:
    """Each listener's share of ``max_connections``: all of it for the API alone; with station
    listeners, a quarter for the API and the rest split between them. A flood on one port then
    fills that port's share only."""
    if listeners == ["api"]:
        return {"api": max_connections}
    stations = [n for n in listeners if n != "api"]
    api = max(max_connections // 4, 16)
    each = max((max_connections - api) // len(stations), 16)
    return {"api": api, **{n: each for n in stations}}


def envoy_max_connections(settings: MeshSettings, open_files: int, stations: bool) -> int:
    """Envoy's downstream connections: the setting, else what ``open_files`` descriptors hold
    (with ``stations``, Envoy fronting gateways: a station takes two, its own and Envoy's to
    its gateway)."""
    if settings.envoy_max_connections:
        return settings.envoy_max_connections
    per_connection = 2 if stations else 1
    return rlimits.connection_budget(open_files, ENVOY_FD_RESERVE, per_connection)


def envoy_config(
    settings: MeshSettings,
    descriptor: pathlib.Path,
    gateway_ports: Sequence[int] = (),
    open_files: int = 0,
) -> str:
    """deploy/envoy.yaml with this mesh's ports filled in (the OpenAPI document is the one
    ``make proto`` writes next to ``descriptor``).

    ``gateway_ports``: the gateways' internal WebSocket ports when Envoy fronts them (several
    gateways, or TLS: Envoy then also listens on the stations' port, and on the wss port in TLS
    mode); empty when the one gateway listens there itself.

    ``open_files``: Envoy's open-file limit, which sizes its connection limits (0: this
    process's, which Envoy inherits).
    """
    clusters = [
        Cluster(
            f"{s}_svc",
            [("127.0.0.1", getattr(settings, f"{s}_port"))],
            server_name=SERVICE_HOSTNAMES[s],
        )
        for s in SERVICES
    ]
    if gateway_ports:
        clusters.append(Cluster("gateway", [("127.0.0.1", p) for p in gateway_ports], grpc=False))
    return render_envoy(
        host=settings.host,
        port=settings.envoy_port,
        admin_host="127.0.0.1",
        admin_port=settings.envoy_admin_port,
        descriptor=descriptor,
        openapi=descriptor.with_name(OPENAPI_FILE),
        clusters=clusters,
        stations_port=settings.gateway_port if gateway_ports else None,
        stations_tls=StationTls(
            settings.station_tls_port,
            settings.tls_dir() / "server.pem",
            settings.tls_dir() / "server.key",
            settings.tls_dir() / "ca.pem",
            settings.tls_dir() / "server-rsa.pem",
            settings.tls_dir() / "server-rsa.key",
        )
        if settings.tls and gateway_ports
        else None,
        upstream_tls=UpstreamTls(
            *(settings.internal_tls_dir() / f for f in ("envoy.pem", "envoy.key", "ca.pem"))
        )
        if settings.internal_tls
        else None,
        max_connections=envoy_max_connections(
            settings, open_files or rlimits.open_files(), bool(gateway_ports)
        ),
        max_firmware_bytes=settings.max_firmware_bytes,
        max_log_bytes=settings.max_log_bytes,
    )


# Kubernetes: peers are Services (deploy/k8s/base); the descriptor and the OpenAPI document
# are built into the image (`make proto`).
K8S_DESCRIPTOR = "/app/gen/descriptor.pb"
K8S_OPENAPI = f"/app/gen/{OPENAPI_FILE}"
K8S_CONSOLE = "/app/console"
K8S_SERVICE_NAMES = SERVICE_HOSTNAMES
# With internal TLS: where Envoy's pod mounts the Secret csms-internal-tls-envoy (the keys of a
# kubernetes.io/tls Secret plus ca.crt, as cert-manager writes them; deploy/k8s/README.md).
K8S_INTERNAL_TLS_DIR = "/etc/csms/internal-tls"


def kubernetes_envoy_config(internal_tls: bool = False) -> str:
    """The Envoy config of deploy/k8s/base: all interfaces, the gateways' headless Service.

    ``internal_tls``: the services' clusters over mutual TLS, with the certificate mounted at
    :data:`K8S_INTERNAL_TLS_DIR` (deploy/k8s/README.md, "Internal mTLS").
    """
    clusters = [
        Cluster(
            f"{s}_svc", [(K8S_SERVICE_NAMES[s], DEFAULT_PORTS[s])], server_name=K8S_SERVICE_NAMES[s]
        )
        for s in SERVICES
    ]
    clusters.append(Cluster("gateway", [("gateway", DEFAULT_PORTS["gateway"])], grpc=False))
    return render_envoy(
        host="0.0.0.0",
        port=DEFAULT_PORTS["envoy"],
        # Admin (config dump, /quitquitquit, ...) only inside the pod: the probes ask /ready
        # from there (deploy/k8s/base/envoy.yaml).
        admin_host="127.0.0.1",
        admin_port=DEFAULT_PORTS["envoy_admin"],
        descriptor=K8S_DESCRIPTOR,
        openapi=K8S_OPENAPI,
        console=K8S_CONSOLE,
        clusters=clusters,
        stations_port=DEFAULT_PORTS["gateway"],
        dns=True,
        upstream_tls=UpstreamTls(
            *(f"{K8S_INTERNAL_TLS_DIR}/{f}" for f in ("tls.crt", "tls.key", "ca.crt"))
        )
        if internal_tls
        else None,
    )


@dataclass
class Proc:
    name: str
    argv: Sequence[str]
    env: dict[str, str]
    # Waits until the process serves (or raises); gets the monotonic deadline.
    ready: Callable[[float], Coroutine[Any, Any, None]] | None = None
    popen: subprocess.Popen[bytes] | None = None
    log: pathlib.Path | None = None
    # Killed on purpose (Mesh.kill): its death is not a failure of the mesh.
    killed: bool = False
    # Mesh.supervise: when it was last started, restarts in a row (its backoff), and when the
    # next one is due (None: not waiting for one).
    started_at: float = 0.0
    restarts: int = 0
    restart_at: float | None = None


# Mesh.supervise: a process that died is started again after 1 s, then 2, 4, ... at most 30 s
# while it keeps dying; one that ran for a minute starts from 1 s again.
RESTART_BACKOFF_S = 1.0
RESTART_BACKOFF_MAX_S = 30.0
RESTART_RESET_AFTER_S = 60.0


@dataclass(frozen=True)
class Gateway:
    """Where one gateway process listens."""

    name: str  # gateway-1, gateway-2, ...
    ws_host: str
    ws_port: int
    grpc_port: int


@dataclass
class Mesh:
    """Starts, checks and stops the processes of one mesh."""

    settings: MeshSettings
    log_dir: pathlib.Path | None = None  # None: the processes log to this terminal
    procs: list[Proc] = field(default_factory=list)
    gateways: list[Gateway] = field(default_factory=list)
    # The launcher's own internal TLS (health checks, API keys), once loaded.
    _client_tls: grpc_tls.InternalTls | None = field(default=None, repr=False)
    # What Envoy adds to every station request and the gateways behind it check before they
    # believe its x-forwarded-* headers: made per run, handed over in the environment only
    # (never in a file or a log line).
    _proxy_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    # -- configuration --------------------------------------------------------------------

    def _proc_env(
        self, prefix: str, values: dict[str, object], identity: str = ""
    ) -> dict[str, str]:
        """The process's env: its own CSMS_<prefix>_* and, with internal TLS, the certificate
        of ``identity`` as CSMS_INTERNAL_TLS_* (common.grpc_tls). An operator's own
        CSMS_<prefix>_* (a tuning knob the launcher does not set, e.g.
        CSMS_GATEWAY_RPC_BATCH_SIZE) reaches that process; what the launcher sets wins."""
        own = f"CSMS_{prefix}_"
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("CSMS_") or k.startswith(own)
        }
        env.update({f"{own}{k.upper()}": str(v) for k, v in values.items()})
        if self.settings.internal_tls:
            d = self.settings.internal_tls_dir()
            env["CSMS_INTERNAL_TLS_CERT"] = str(d / f"{identity}.pem")
            env["CSMS_INTERNAL_TLS_KEY"] = str(d / f"{identity}.key")
            env["CSMS_INTERNAL_TLS_CA"] = str(d / "ca.pem")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def database_urls(self) -> dict[str, str]:
        return {s: self.settings.service_database_url(s) for s in SERVICES}

    def plan_gateways(self) -> list[Gateway]:
        """The gateways' ports: the stations' port for a lone gateway, else internal ones."""
        s = self.settings

        def ports(base: int) -> list[int]:
            # Nobody dials these by number (Envoy's config is written here, and device_svc
            # learns each gateway's gRPC address from the gateway itself), so one taken, e.g.
            # by another mesh on this machine, is replaced by a free one rather than failing.
            chosen = []
            for i in range(s.gateways):
                port = base + i if base else free_port()
                if base and not _port_free(port):
                    port, taken = free_port(), port
                    log.warning("port %d is taken: gateway-%d uses %d instead", taken, i + 1, port)
                chosen.append(port)
            return chosen

        grpc_ports = ports(s.gateway_grpc_port)
        if not s.behind_envoy():
            return [Gateway("gateway-1", s.host, s.gateway_port, grpc_ports[0])]
        ws_ports = ports(s.gateway_internal_port)
        return [
            Gateway(f"gateway-{i + 1}", "127.0.0.1", ws, grpc)
            for i, (ws, grpc) in enumerate(zip(ws_ports, grpc_ports, strict=True))
        ]

    def plan(self) -> list[Proc]:
        s = self.settings
        py = sys.executable
        urls = self.database_urls()
        addr = {svc: f"127.0.0.1:{getattr(s, f'{svc}_port')}" for svc in SERVICES}

        def grpc_ready(svc: str) -> Callable[[float], Coroutine[Any, Any, None]]:
            return lambda deadline: self._wait_grpc(addr[svc], deadline)

        procs = [
            Proc(
                "user_svc",
                [py, "-m", "user_svc", "--no-migrate"],
                self._proc_env(
                    "USER",
                    {
                        "grpc_listen": addr["user"],
                        "metrics_port": s.metrics_port("user"),
                        "database_url": urls["user"],
                        # For the local authorization lists' station lookups.
                        "device_svc_addr": addr["device"],
                        "allow_anonymous_legacy_create": str(s.anonymous_legacy_create()).lower(),
                        "log_level": s.log_level,
                        "log_format": s.log_format,
                    },
                    SERVICE_HOSTNAMES["user"],
                ),
                grpc_ready("user"),
            ),
            Proc(
                "device_svc",
                [py, "-m", "device_svc", "--no-migrate"],
                self._proc_env(
                    "DEVICE",
                    {
                        "grpc_listen": addr["device"],
                        "metrics_port": s.metrics_port("device"),
                        "database_url": urls["device"],
                        "heartbeat_interval": s.heartbeat_interval,
                        # The CA that signs stations' CSRs is the TLS mode's: the certificates
                        # it signs are the ones Envoy's wss listener accepts.
                        "local_ca_dir": s.tls_dir(),
                        "cpo_name": s.cpo_name,
                        # Where accepted RequestStartTransactions are recorded.
                        "transaction_svc_addr": addr["transaction"],
                        # Firmware images and stations' logs, and the URLs stations get.
                        "files_dir": s.data_dir / "files",
                        "files_base_url": s.files_url(),
                        "max_firmware_bytes": s.max_firmware_bytes,
                        "max_log_bytes": s.max_log_bytes,
                        # Plug & Charge's embedded test PKI and its OCSP responder.
                        "pnc_dir": s.data_dir / "pnc",
                        "pnc_ocsp_listen": f"{s.host}:{s.ocsp_port}" if s.ocsp_port else "",
                        "log_level": s.log_level,
                        "log_format": s.log_format,
                    },
                    SERVICE_HOSTNAMES["device"],
                ),
                grpc_ready("device"),
            ),
            Proc(
                "transaction_svc",
                [py, "-m", "transaction_svc", "--no-migrate"],
                self._proc_env(
                    "TRANSACTION",
                    {
                        "grpc_listen": addr["transaction"],
                        "metrics_port": s.metrics_port("transaction"),
                        "database_url": urls["transaction"],
                        "user_svc_addr": addr["user"],
                        "device_svc_addr": addr["device"],
                        "log_level": s.log_level,
                        "log_format": s.log_format,
                    },
                    SERVICE_HOSTNAMES["transaction"],
                ),
                grpc_ready("transaction"),
            ),
        ]
        self.gateways = self.plan_gateways()
        for gw in self.gateways:
            procs.append(
                Proc(
                    gw.name,
                    [py, "-m", "gateway"],
                    self._proc_env(
                        "GATEWAY",
                        {
                            "host": gw.ws_host,
                            "port": gw.ws_port,
                            "grpc_listen": f"127.0.0.1:{gw.grpc_port}",
                            "auto_register": str(s.auto_register).lower(),
                            "allow_unsecured_stations": str(s.unsecured_stations()).lower(),
                            "trust_proxy_headers": str(s.behind_envoy()).lower(),
                            **({"proxy_secret": self._proxy_secret} if s.behind_envoy() else {}),
                            "device_svc_addr": addr["device"],
                            "transaction_svc_addr": addr["transaction"],
                            "user_svc_addr": addr["user"],
                            "log_level": s.log_level,
                            "log_format": s.log_format,
                            "metrics_port": s.metrics_port(gw.name),
                            "message_log": str(s.message_log).lower(),
                        },
                        gw.name,
                    ),
                    functools.partial(self._wait_gateway, gw),
                )
            )
        run_dir = self.log_dir or s.data_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        config = run_dir / "envoy.yaml"
        behind_envoy = [gw.ws_port for gw in self.gateways] if s.behind_envoy() else []
        if s.tls:
            self.write_tls()
        if s.internal_tls:
            self.write_internal_tls()
        config.write_text(envoy_config(s, ROOT / "gen" / "descriptor.pb", behind_envoy))
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
                # The stations' listeners add the gateways' proxy secret from this variable.
                {**os.environ, "CSMS_GATEWAY_PROXY_SECRET": self._proxy_secret},
                self._wait_envoy,
            )
        )
        return procs

    def write_tls(self) -> dict[str, pathlib.Path]:
        """The TLS mode's local CA and Envoy's ECDSA and RSA server certificates
        (common.pki.write_local_ca): for localhost, 127.0.0.1 and the host the mesh serves on."""
        host = self.settings.host
        hostnames, ips = ["localhost"], ["127.0.0.1"]
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            hostnames.append(host)
        else:
            if ip.is_unspecified:
                hostnames.append(socket.gethostname())
            elif str(ip) not in ips:
                ips.append(str(ip))
        return pki.write_local_ca(self.settings.tls_dir(), sorted(set(hostnames)), ips)

    def write_internal_tls(self) -> dict[str, pathlib.Path]:
        """Internal TLS's CA and a certificate per process (common.pki.write_internal_ca): the
        services under their SERVICE_HOSTNAMES, each planned gateway, Envoy and this launcher;
        all for localhost and 127.0.0.1, where every internal gRPC port of the mesh listens."""
        names = [
            *SERVICE_HOSTNAMES.values(),
            *(gw.name for gw in self.gateways),
            "envoy",
            "launcher",
        ]
        return pki.write_internal_ca(
            self.settings.internal_tls_dir(), names, ["localhost"], ["127.0.0.1"]
        )

    def client_tls(self) -> grpc_tls.InternalTls | None:
        """The launcher's internal TLS for its own gRPC calls (health checks, API keys); None
        when internal TLS is off."""
        if not self.settings.internal_tls:
            return None
        if self._client_tls is None:
            paths = self.write_internal_tls()
            self._client_tls = grpc_tls.InternalTls.from_files(
                paths["launcher_cert"], paths["launcher_key"], paths["ca_cert"]
            )
        return self._client_tls

    # -- lifecycle --------------------------------------------------------------------------

    def migrate(self) -> None:
        for svc, url in self.database_urls().items():
            db.migrate(f"{svc}_svc", url)

    def start(self, timeout: float = 60.0) -> None:
        """Migrate, start every process and wait until all are healthy (or raise)."""
        # Every process inherits this one's open-file limit: as many as it may have (Envoy's
        # connection limits are sized from it, the gateways size theirs).
        rlimits.raise_open_files(
            self.settings.envoy_max_connections + ENVOY_FD_RESERVE
            if self.settings.envoy_max_connections
            else 0,
            "Envoy (CSMS_ENVOY_MAX_CONNECTIONS)",
        )
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.migrate()
        self.procs = self.plan()
        try:
            for proc in self.procs:
                self._spawn(proc)
            asyncio.run(self._wait_healthy(time.monotonic() + timeout))
        except BaseException:
            self.stop()
            raise

    def _spawn(self, proc: Proc) -> None:
        out = None
        if self.log_dir is not None:
            proc.log = self.log_dir / f"{proc.name}.log"
            out = proc.log.open("ab")
        try:
            proc.popen = subprocess.Popen(
                proc.argv,
                env=proc.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
            )
        finally:
            if out is not None:
                out.close()  # the child has its own copy
        proc.killed = False
        proc.started_at = time.monotonic()
        proc.restart_at = None

    def proc(self, name: str) -> Proc:
        for proc in self.procs:
            if proc.name == name:
                return proc
        raise KeyError(f"no process {name!r} in this mesh: {[p.name for p in self.procs]}")

    def kill(self, name: str) -> None:
        """SIGKILL one process (e.g. ``"gateway-1"``) and reap it: a crash, for chaos tests."""
        proc = self.proc(name)
        proc.killed = True
        if proc.popen is not None and proc.popen.poll() is None:
            proc.popen.kill()
            proc.popen.wait()

    def restart(self, *names: str, timeout: float = 30.0) -> None:
        """Start killed (or exited) processes again, same argv and env, all at once (as a
        supervisor restarts what crashed together); wait until every one serves."""
        procs = [self.proc(name) for name in names]
        for proc in procs:
            if proc.popen is not None and proc.popen.poll() is None:
                raise RuntimeError(f"{proc.name} is still running; kill it first")
        for proc in procs:
            self._spawn(proc)
        deadline = time.monotonic() + timeout

        async def serving() -> None:
            await asyncio.gather(*(p.ready(deadline) for p in procs if p.ready is not None))

        asyncio.run(serving())

    async def _wait_healthy(self, deadline: float) -> None:
        for proc in self.procs:
            if proc.ready is not None:
                await proc.ready(deadline)

    async def _wait(self, check: Callable[[], bool], deadline: float, what: str) -> None:
        while not await asyncio.to_thread(check):
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not become ready")
            await asyncio.sleep(0.1)

    async def _wait_envoy(self, deadline: float) -> None:
        """Live, and every gateway it fronts healthy, still so one health check later: /clusters
        shows a gateway healthy a moment before Envoy's load balancer picks it (measured: in one
        start of four, a gateway that had just turned healthy got none of the 8 stations that
        connected in the next 0.3 s)."""
        port = self.settings.envoy_admin_port
        await self._wait(lambda: _envoy_ready(port), deadline, "envoy")
        if self.settings.behind_envoy():
            await asyncio.sleep(_GATEWAY_HEALTH_CHECK_INTERVAL_S)
            await self._wait(lambda: _envoy_ready(port), deadline, "envoy")

    async def _wait_gateway(self, gw: Gateway, deadline: float) -> None:
        """Its WebSocket port open, and its gRPC health SERVING once it has a gRPC server.

        A gateway that has not bound its gRPC port a moment after its WebSocket port is taken
        for one without a gRPC server (older builds): its open WebSocket port is then enough.
        """
        await self._wait(lambda: _tcp_open(gw.ws_host, gw.ws_port), deadline, gw.name)
        grace = min(deadline, time.monotonic() + 2.0)
        while not await asyncio.to_thread(_tcp_open, "127.0.0.1", gw.grpc_port):
            self._check_alive()
            if time.monotonic() > grace:
                log.warning(
                    "%s serves no gRPC on %s: checked its TCP port only", gw.name, gw.grpc_port
                )
                return
            await asyncio.sleep(0.1)
        await self._wait_grpc(f"127.0.0.1:{gw.grpc_port}", deadline)

    async def _wait_grpc(self, addr: str, deadline: float) -> None:
        async with grpc_tls.aio_channel(addr, tls=self.client_tls()) as channel:
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
            if proc.killed:
                continue
            if proc.popen is not None and proc.popen.poll() is not None:
                tail = proc.log.read_text()[-3000:] if proc.log and proc.log.exists() else ""
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}\n{tail}")

    def supervise(self, now: float | None = None) -> None:
        """Restart what died (``make up``): a process that exits, or is killed by anything but
        :meth:`kill`, is started again, same argv and env, after a backoff that doubles while
        it keeps dying; each death and restart is logged. Call it periodically."""
        now = time.monotonic() if now is None else now
        for proc in self.procs:
            if proc.killed or proc.popen is None or proc.popen.poll() is None:
                continue
            if proc.restart_at is None:
                if now - proc.started_at >= RESTART_RESET_AFTER_S:
                    proc.restarts = 0
                delay = min(RESTART_BACKOFF_S * 2**proc.restarts, RESTART_BACKOFF_MAX_S)
                proc.restart_at = now + delay
                log.warning(
                    "%s exited with %s after %.1f s: restarting it in %.0f s%s",
                    proc.name,
                    proc.popen.returncode,
                    now - proc.started_at,
                    delay,
                    f" (log: {proc.log})" if proc.log else "",
                )
            elif now >= proc.restart_at:
                proc.restarts += 1
                self._spawn(proc)
                log.warning("%s restarted (restart %d in a row)", proc.name, proc.restarts)

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

    def drop_databases(self, *, ignore_errors: bool = False) -> None:
        """Drop each service's database (SQLite files or PostgreSQL databases): for benchmarks
        and tests, after ``stop``. ``ignore_errors``: a database that cannot be dropped (gone
        already, server down) is left, not raised."""
        for svc in SERVICES:
            try:
                asyncio.run(db.drop_database(self.settings.service_database_url(svc)))
            except Exception:
                if not ignore_errors:
                    raise

    # -- the management API's keys ----------------------------------------------------------

    def _users(self) -> tuple[grpc.Channel, user_service_pb2_grpc.UserServiceStub]:
        """user_svc straight, not through Envoy: the launcher is an internal caller."""
        channel = grpc_tls.channel(f"127.0.0.1:{self.settings.user_port}", tls=self.client_tls())
        return channel, user_service_pb2_grpc.UserServiceStub(channel)

    def create_api_key(self, role: str, name: str) -> str:
        """A new key's secret; ``role`` is "reader" or "operator"."""
        number = user_service_pb2.ApiKeyRole.Value(f"API_KEY_ROLE_{role.upper()}")
        channel, users = self._users()
        with channel:
            key = users.CreateApiKey(
                user_service_pb2.CreateApiKeyRequest(
                    api_key=user_service_pb2.ApiKey(name=name, role=number)
                ),
                timeout=10,
            )
        return str(key.secret)

    def first_operator_key(self, name: str = "make up") -> str | None:
        """An operator key's secret if there is no key at all yet, else None (keys exist)."""
        channel, users = self._users()
        with channel:
            existing = users.ListApiKeys(
                user_service_pb2.ListApiKeysRequest(page_size=1), timeout=10
            )
        if existing.api_keys:
            return None
        return self.create_api_key("operator", name)

    def api_key_command(self) -> str:
        """The shell command that creates another operator key for this mesh's user_svc."""
        url = shlex.quote(self.settings.service_database_url("user"))
        return (
            f"CSMS_USER_DATABASE_URL={url} {shlex.quote(sys.executable)} -m user_svc "
            "create-api-key --role operator --name NAME"
        )

    def endpoints(self) -> str:
        s = self.settings
        via = " (Envoy, to the gateways below)" if s.behind_envoy() else ""
        return "\n".join(
            [
                f"  stations (OCPP 2.0.1):  ws://{s.host}:{s.gateway_port}/ocpp/<stationId>{via}",
                *(
                    [
                        f"  stations over TLS:      wss://{s.host}:{s.station_tls_port}"
                        "/ocpp/<stationId>  (profiles 2 and 3)",
                        f"  CA of the TLS mode:     {s.tls_dir() / 'ca.pem'}  (trust it; it also "
                        "signs client certificates)",
                    ]
                    if s.tls
                    else []
                ),
                f"  REST and gRPC (Envoy):  http://{s.host}:{s.envoy_port}",
                f"  console (browser):      http://{s.host}:{s.envoy_port}/console/  (sign in "
                "with an API key)",
                *(
                    [
                        "  internal gRPC:          mutual TLS, CA "
                        f"{s.internal_tls_dir() / 'ca.pem'} (a client needs a certificate of it)"
                    ]
                    if s.internal_tls
                    else []
                ),
                f"  Envoy admin:            http://127.0.0.1:{s.envoy_admin_port}",
                *(
                    f"  {gw.name}:  ws {gw.ws_host}:{gw.ws_port}  gRPC 127.0.0.1:{gw.grpc_port}"
                    for gw in self.gateways
                ),
                *(
                    f"  {svc}_svc gRPC:  127.0.0.1:{getattr(s, f'{svc}_port')}  "
                    f"({self.settings.service_database_url(svc)})"
                    for svc in SERVICES
                ),
            ]
        )


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host if host != "0.0.0.0" else "127.0.0.1", port), 0.5):
            return True
    except OSError:
        return False


def _envoy_ready(admin_port: int) -> bool:
    """Envoy is live and, when it fronts gateways, its health checks found every one up."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/ready", timeout=0.5) as r:
            if r.status != 200:
                return False
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/clusters", timeout=0.5) as r:
            flags = [
                line.rsplit("::", 1)[1]
                for line in r.read().decode().splitlines()
                if line.startswith("gateway::") and "::health_flags::" in line
            ]
    except OSError:
        return False
    return all(f == "healthy" for f in flags)


def _api_key_notice(mesh: Mesh) -> str:
    """What `make up` says about the management API's keys (and its insecure local mode)."""
    s = mesh.settings
    lines = []
    key = mesh.first_operator_key()
    if key is not None:
        lines += [
            "The management API wants an API key. A first operator key (shown once, keep it):",
            f"  {key}",
            f"  e.g. curl -H 'authorization: Bearer {key}' "
            f"http://{s.host}:{s.envoy_port}/v1/chargingStations",
        ]
    else:
        lines += [
            "The management API wants an API key; keys exist already. Another operator key:",
            f"  {mesh.api_key_command()}",
        ]
    if s.anonymous_legacy_create():
        lines.append(
            "WARNING: insecure local mode: POST /chargingstations/create is accepted without an "
            "API key (the quick start's call; CSMS_ALLOW_ANONYMOUS_LEGACY_CREATE=false turns it "
            "off). Never expose this mesh."
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.mesh", description=__doc__)
    parser.add_argument("command", choices=["up", "migrate", "envoy-config"])
    parser.add_argument(
        "--kubernetes",
        action="store_true",
        help="envoy-config: the one of deploy/k8s/base (written to deploy/k8s/base/envoy.yaml)",
    )
    parser.add_argument(
        "--internal-tls",
        action="store_true",
        help="envoy-config --kubernetes: with the services' clusters on internal mutual TLS",
    )
    args = parser.parse_args(argv)
    # The launcher's own lines (open-file limit, restarts) among its processes' in the terminal.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mesh %(levelname)s %(message)s")
    mesh = Mesh(MeshSettings())
    if args.command == "envoy-config":
        if args.kubernetes:
            print(kubernetes_envoy_config(args.internal_tls), end="")
        else:
            ports = (
                [gw.ws_port for gw in mesh.plan_gateways()] if mesh.settings.behind_envoy() else []
            )
            print(envoy_config(mesh.settings, ROOT / "gen" / "descriptor.pb", ports), end="")
        return
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
    print("\nThe CSMS mesh is up:\n" + mesh.endpoints() + "\n", flush=True)
    try:
        print(_api_key_notice(mesh), flush=True)
        if mesh.settings.unsecured_stations():
            print(
                "WARNING: unsecured stations are allowed: a station created without credentials "
                "(security profile 0) connects without any (CSMS_ALLOW_UNSECURED_STATIONS=false "
                "turns it off). Never expose this mesh.\n",
                flush=True,
            )
        print("Ctrl-C stops it.\n", flush=True)
        while not stop:
            mesh.supervise()
            time.sleep(0.5)
    finally:
        print("stopping the mesh ...", flush=True)
        mesh.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    main()
