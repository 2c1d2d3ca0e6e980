"""Gateway settings, from ``CSMS_GATEWAY_*`` environment variables."""

from __future__ import annotations

import functools

from pydantic_settings import BaseSettings, SettingsConfigDict

from common.settings import DEFAULT_PORTS

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CSMS_GATEWAY_", extra="ignore", frozen=True)

    # Where stations connect: ws://HOST:PORT{path_prefix}{stationId} (the prototype's).
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORTS["gateway"]
    path_prefix: str = "/ocpp/"
    # Let unknown station ids in (registering them) instead of refusing them with 404.
    auto_register: bool = False
    # The services the action → RPC table sends to.
    device_svc_addr: str = f"127.0.0.1:{DEFAULT_PORTS['device']}"
    transaction_svc_addr: str = f"127.0.0.1:{DEFAULT_PORTS['transaction']}"
    user_svc_addr: str = f"127.0.0.1:{DEFAULT_PORTS['user']}"
    # The gateway's own gRPC server (StationControlService: CSMS-initiated calls to its stations).
    grpc_listen: str = f"127.0.0.1:{DEFAULT_PORTS['gateway_grpc']}"
    # The address device_svc records and other processes dial for this gateway's stations
    # (empty: grpc_listen). Must be reachable from device_svc, e.g. the pod IP on Kubernetes.
    advertise_addr: str = ""
    # Seconds a station gets to answer a CSMS-initiated CALL unless the caller's deadline is
    # shorter.
    call_timeout: float = 30.0
    # Seconds a connection's ownership lease lasts in device_svc; renewed every third of it.
    lease_seconds: int = 30
    # Seconds a service gets to answer one forwarded CALL before the station hears InternalError.
    rpc_timeout: float = 10.0
    # Largest frame a station may send, in bytes.
    max_frame_size: int = 1 << 20
    log_level: str = "INFO"
    # Seconds open connections get to close after SIGTERM.
    shutdown_grace: float = 5.0


@functools.cache
def get_settings() -> Settings:
    return Settings()
