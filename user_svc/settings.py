"""user_svc settings, from ``CSMS_USER_*`` environment variables."""

from __future__ import annotations

import functools

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from common.settings import DEFAULT_PORTS, ServiceSettings

__all__ = ["Settings", "get_settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CSMS_USER_", extra="ignore", frozen=True)

    grpc_listen: str = f"127.0.0.1:{DEFAULT_PORTS['user']}"
    metrics_port: int = DEFAULT_PORTS["user_metrics"]
    database_url: str = "sqlite+aiosqlite:///var/user.sqlite"
    # device_svc's host:port, through which local lists reach the stations.
    device_svc_addr: str = f"127.0.0.1:{DEFAULT_PORTS['device']}"
    # Seconds device_svc gets for each call it forwards to a station; above the gateway's own
    # 30 s call timeout, so that a silent station is reported by the gateway, not by us.
    device_svc_timeout: float = 35.0
    # Entries per SendLocalListRequest: the stations' LocalAuthListCtrlr.ItemsPerMessage (the
    # smallest of the fleet's); longer updates are split (see user_svc.local_list.plan).
    local_list_items_per_message: int = Field(default=100, ge=1)
    # The insecure local mode of the quick start: let the prototype's POST
    # /chargingstations/create through Envoy without an API key. Off unless a deployment turns
    # it on (`make up` does on the embedded default, and says so); every other call needs a key.
    allow_anonymous_legacy_create: bool = False
    # Seconds an API key read from the database is trusted before it is read again: how long a
    # key revoked through another user_svc replica (or in the database) may still be accepted.
    api_key_cache_ttl: float = Field(default=1.0, ge=0)


@functools.cache
def get_settings() -> Settings:
    return Settings()
