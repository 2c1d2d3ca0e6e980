"""Settings shared by every process: one object per process, read from the environment once.

Each process subclasses :class:`ServiceSettings` with its own env prefix (``CSMS_DEVICE_``,
``CSMS_TRANSACTION_``, ``CSMS_USER_``, ``CSMS_GATEWAY_``). Nothing else reads ``os.environ``.
"""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServiceSettings", "DEFAULT_PORTS"]

# The mesh's well-known ports; the gateway's 3000 and Envoy's 5000 are the Go prototype's.
DEFAULT_PORTS = {
    "gateway": 3000,
    "gateway_grpc": 50060,
    "envoy": 5000,
    "envoy_admin": 9901,
    "device": 50051,
    "transaction": 50052,
    "user": 50053,
    # The embedded Plug & Charge test PKI's OCSP responder (device_svc).
    "ocsp": 8088,
    # Prometheus metrics of each process (not through the public API); gateway i: +i-1.
    "device_metrics": 9151,
    "transaction_metrics": 9152,
    "user_metrics": 9153,
    "gateway_metrics": 9160,
}

# The largest firmware image an operator may upload and the largest log a station may upload,
# in bytes: device_svc enforces them, and Envoy answers 413 at once to a body whose
# Content-Length passes them (deploy/mesh.py renders them into its configuration).
DEFAULT_MAX_FIRMWARE_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_LOG_BYTES = 256 * 1024 * 1024


class ServiceSettings(BaseSettings):
    """What every gRPC service reads."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # host:port the gRPC server listens on; port 0 picks a free one.
    grpc_listen: str = "127.0.0.1:0"
    # SQLAlchemy async URL: sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db
    database_url: str = "sqlite+aiosqlite:///var/db.sqlite"
    log_level: str = "INFO"
    # "text" (key=value lines) or "json" (one object per line, the same fields).
    log_format: Literal["text", "json"] = "text"
    # Seconds in-flight RPCs get to finish after SIGTERM.
    shutdown_grace: float = 10.0
    # Prometheus metrics on this port (GET /metrics on metrics_host); 0: none.
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
