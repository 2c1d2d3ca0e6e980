"""Prometheus metrics: every process serves its own on a port of its own (``METRICS_PORT``
setting; not through the public API), from ``prometheus-client``'s registry.

The metrics are defined here, in one place, so that their names and labels stay one family
across processes (the ``proc`` of a series is its scrape target's job/instance):

- ``csms_ocpp_frames_total{direction, type, action}``: OCPP frames through a gateway;
  direction ``in`` (from stations) or ``out``, type ``call``, ``result`` or ``error``, the
  action of the CALL (a reply's is its CALL's; "" when unknown).
- ``csms_ocpp_callerrors_total{direction, code}``: CALLERRORs by OCPP-J code.
- ``csms_connected_stations``: stations a gateway holds.
- ``csms_rpc_duration_seconds{method, code}``: gRPC methods a service answered (histogram).
- ``csms_db_statement_duration_seconds``: each SQL statement of a service (histogram).
- ``csms_group_commit_size{name}``: items per group commit (histogram).
- ``csms_commands_total{action, outcome}``: CSMS-initiated commands (device_svc): ``answered``
  or the gRPC code of the failure.
- ``csms_message_log_dropped_total``: frames the station message log dropped (a gateway's
  backlog full, or device_svc refusing a batch).

Hot paths keep the labelled children in dicts (a labels() lookup each time costs more than the
increment).
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

__all__ = [
    "CALLERRORS",
    "COMMANDS",
    "KEEPALIVE",
    "CONNECTED",
    "DB_STATEMENT",
    "FRAMES",
    "GROUP_COMMIT",
    "MESSAGE_LOG_DROPPED",
    "RPC_DURATION",
    "frame",
    "serve",
]

log = logging.getLogger(__name__)

FRAMES = Counter(
    "csms_ocpp_frames", "OCPP frames through the gateway", ["direction", "type", "action"]
)
CALLERRORS = Counter("csms_ocpp_callerrors", "OCPP CALLERRORs by code", ["direction", "code"])
CONNECTED = Gauge("csms_connected_stations", "Stations this gateway holds")
RPC_DURATION = Histogram(
    "csms_rpc_duration_seconds",
    "gRPC methods answered by this service",
    ["method", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DB_STATEMENT = Histogram(
    "csms_db_statement_duration_seconds",
    "SQL statements of this service",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5),
)
GROUP_COMMIT = Histogram(
    "csms_group_commit_size",
    "Items per group commit",
    ["name"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
COMMANDS = Counter("csms_commands", "CSMS-initiated commands", ["action", "outcome"])
KEEPALIVE = Counter(
    "csms_keepalive",
    "WebSocket pings to silent stations, by outcome (sent; closed: no pong in time)",
    ["outcome"],
)
MESSAGE_LOG_DROPPED = Counter(
    "csms_message_log_dropped", "Frames the station message log could not keep (gateway)"
)

_frames: dict[tuple[str, str, str], Any] = {}


def frame(direction: str, kind: str, action: str) -> None:
    """Count one frame (cheap: the labelled child is kept)."""
    key = (direction, kind, action)
    child = _frames.get(key)
    if child is None:
        child = _frames[key] = FRAMES.labels(direction, kind, action)
    child.inc()


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Serve /metrics on ``port`` (0: not at all). A port that is taken is logged, not fatal:
    the process serves stations all the same."""
    if not port:
        return
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.error("metrics not served: port %d: %s", port, exc)
        return
    log.info("metrics on http://%s:%d/metrics", host, port)
