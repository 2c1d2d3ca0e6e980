"""Tests for device_svc.server: the channel to transaction_svc."""

from __future__ import annotations

from typing import Any

import pytest

from common import grpc_tls
from device_svc import server


def test_transaction_channel_checks_transaction_svc_s_own_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under internal TLS with CSMS_INTERNAL_TLS_SERVER_NAME (the gateways' name, which
    device_svc dials by pod IP), transaction_svc's certificate is still checked for the name
    dialled, not the gateways'."""
    tls = grpc_tls.InternalTls(b"cert", b"key", b"ca", server_name="gateway")
    monkeypatch.setattr(grpc_tls, "configured", lambda: tls)
    dialled: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        grpc_tls, "aio_channel", lambda target, *, tls: dialled.append((target, tls))
    )
    server._transaction_channel("transaction-svc:50052")
    [(target, used)] = dialled
    assert target == "transaction-svc:50052"
    assert used.server_name == "" and used.cert_chain == b"cert" and used.root_ca == b"ca"
    assert tls.server_name == "gateway"  # the process's own setting is left as it is
