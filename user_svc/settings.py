"""user_svc settings, from ``CSMS_USER_*`` environment variables."""

from __future__ import annotations

import functools

from pydantic_settings import SettingsConfigDict

from common.settings import DEFAULT_PORTS, ServiceSettings

__all__ = ["Settings", "get_settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CSMS_USER_", extra="ignore", frozen=True)

    grpc_listen: str = f"127.0.0.1:{DEFAULT_PORTS['user']}"
    database_url: str = "sqlite+aiosqlite:///var/user.sqlite"


@functools.cache
def get_settings() -> Settings:
    return Settings()
