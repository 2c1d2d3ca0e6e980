"""transaction_svc settings, from ``CSMS_TRANSACTION_*`` environment variables."""

from __future__ import annotations

import functools

from pydantic_settings import SettingsConfigDict

from common.settings import DEFAULT_PORTS, ServiceSettings

__all__ = ["Settings", "get_settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CSMS_TRANSACTION_", extra="ignore", frozen=True)

    grpc_listen: str = f"127.0.0.1:{DEFAULT_PORTS['transaction']}"
    database_url: str = "sqlite+aiosqlite:///var/transaction.sqlite"
    # user_svc's host:port, asked for the idTokenInfo of TransactionEvents.
    user_svc_addr: str = f"127.0.0.1:{DEFAULT_PORTS['user']}"
    # Seconds user_svc gets to answer Authorize before the event fails with UNAVAILABLE.
    user_svc_timeout: float = 5.0
    # Group commit of TransactionEvents: at most this many events per database transaction, and
    # at most this many seconds spent waiting for more when more are on their way.
    group_commit_max_batch: int = 256
    group_commit_max_wait: float = 0.002


@functools.cache
def get_settings() -> Settings:
    return Settings()
