"""device_svc settings, from ``CSMS_DEVICE_*`` environment variables."""

from __future__ import annotations

import functools

from pydantic_settings import SettingsConfigDict

from common.settings import DEFAULT_PORTS, ServiceSettings

__all__ = ["Settings", "get_settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CSMS_DEVICE_", extra="ignore", frozen=True)

    grpc_listen: str = f"127.0.0.1:{DEFAULT_PORTS['device']}"
    database_url: str = "sqlite+aiosqlite:///var/device.sqlite"
    # Seconds between Heartbeats that BootNotification asks of stations.
    heartbeat_interval: int = 300


@functools.cache
def get_settings() -> Settings:
    return Settings()
