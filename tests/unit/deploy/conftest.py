"""What each process really reads, derived from its pydantic settings class (prefix + fields)."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
from pydantic_settings import BaseSettings

import device_svc.settings
import gateway.settings
import transaction_svc.settings
import user_svc.settings
from common.grpc_tls import InternalTlsSettings
from deploy.mesh import MeshSettings

# ``python -m <module>`` → the settings class that process reads.
SETTINGS: dict[str, type[BaseSettings]] = {
    "gateway": gateway.settings.Settings,
    "device_svc": device_svc.settings.Settings,
    "transaction_svc": transaction_svc.settings.Settings,
    "user_svc": user_svc.settings.Settings,
}


def _names(cls: type[BaseSettings]) -> set[str]:
    prefix = str(cls.model_config.get("env_prefix", ""))
    return {(prefix + name).upper() for name in cls.model_fields}


def env_names(module: str) -> set[str]:
    """The environment variables ``python -m module`` reads: its own settings, and internal
    TLS's (``CSMS_INTERNAL_TLS_*``), which every gRPC server and channel reads."""
    return _names(SETTINGS[module]) | _names(InternalTlsSettings)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No CSMS_* variable of this machine leaks into settings built by a test."""
    import os

    for key in list(os.environ):
        if key.startswith("CSMS_"):
            monkeypatch.delenv(key)
    return monkeypatch


def mesh_settings(data_dir: pathlib.Path, **kw: Any) -> MeshSettings:
    """Launcher settings on fixed ports (nothing listens in these tests), data in ``data_dir``."""
    kw.setdefault("host", "127.0.0.1")
    return MeshSettings(
        gateway_port=13000,
        envoy_port=15000,
        envoy_admin_port=19901,
        device_port=15051,
        transaction_port=15052,
        user_port=15053,
        gateway_grpc_port=15060,
        gateway_internal_port=13001,
        data_dir=data_dir,
        **kw,
    )
