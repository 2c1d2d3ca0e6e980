"""transaction_svc settings, from ``CSMS_TRANSACTION_*`` environment variables."""

from __future__ import annotations

import functools

from pydantic_settings import SettingsConfigDict

from common.settings import DEFAULT_PORTS, ServiceSettings

__all__ = ["Settings", "get_settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CSMS_TRANSACTION_", extra="ignore", frozen=True)

    grpc_listen: str = f"127.0.0.1:{DEFAULT_PORTS['transaction']}"
    metrics_port: int = DEFAULT_PORTS["transaction_metrics"]
    database_url: str = "sqlite+aiosqlite:///var/transaction.sqlite"
    # user_svc's host:port, asked for the idTokenInfo of TransactionEvents.
    user_svc_addr: str = f"127.0.0.1:{DEFAULT_PORTS['user']}"
    # Seconds user_svc gets to answer Authorize before the event fails with UNAVAILABLE.
    user_svc_timeout: float = 5.0
    # device_svc's host:port: the load manager sends its TxProfiles through it.
    device_svc_addr: str = f"127.0.0.1:{DEFAULT_PORTS['device']}"
    # Seconds the load manager waits for a station's answer to a SetChargingProfile (device_svc's
    # own wait for the station is shorter or equal) before counting it as not answered.
    load_manager_answer_timeout: float = 35.0
    # Seconds a session whose station Rejected or was not reachable stays at what it holds
    # before the load manager tries again (and the period of its retries).
    load_manager_retry_after: float = 30.0
    # The profile ids the load manager uses on every station: base + 2 x evseId for the
    # TxProfile, + 1 for the TxDefaultProfile; an operator's own profiles keep clear of them.
    load_manager_profile_id_base: int = 1_900_000_000
    # The stackLevel of the load manager's profiles.
    load_manager_stack_level: int = 8
    # Seconds between two sweeps that expire the reservations past their expiryDateTime.
    reservation_sweep_every: float = 5.0
    # Group commit of TransactionEvents: at most this many events per database transaction, and
    # at most this many seconds spent waiting for more when more are on their way.
    group_commit_max_batch: int = 256
    group_commit_max_wait: float = 0.002
    # Seconds a writer that finds few events waits for more from other gateways (common.db
    # GroupCommit's linger): a fleet's events come one at a time, and a commit's fixed cost,
    # shared, is most of what each costs. 0: none.
    group_commit_linger: float = 0.01


@functools.cache
def get_settings() -> Settings:
    return Settings()
