"""Internal mutual TLS on a real gRPC server (common.grpc_server.start with common.grpc_tls).

The server is started the way every process starts its own; the clients are the channels of
common.grpc_tls (the right certificate, one of another CA, none) and plain gRPC ones (plaintext,
server-authenticated TLS without a client certificate).
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import subprocess
import sys
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common import grpc_server, grpc_tls, pki

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _material(tmp_path: pathlib.Path, name: str, ca_name: str = "ca") -> grpc_tls.InternalTls:
    """A certificate for ``name`` from the CA in tmp_path/ca_name (made on first use)."""
    paths = pki.write_internal_ca(tmp_path / ca_name, [name], ["localhost"], ["127.0.0.1"])
    return grpc_tls.InternalTls.from_files(
        paths[f"{name}_cert"], paths[f"{name}_key"], paths["ca_cert"]
    )


@pytest.fixture
async def tls_server(tmp_path: pathlib.Path) -> AsyncIterator[grpc_server.Server]:
    server = await grpc_server.start(
        "127.0.0.1:0", lambda s: None, [], tls=_material(tmp_path, "device-svc")
    )
    yield server
    await server.stop(0)


async def _check(channel: grpc.aio.Channel) -> int:
    """The health status the server answers; raises AioRpcError when it refuses the client."""
    async with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        resp = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        return int(resp.status)


async def test_the_right_client_certificate_is_accepted(
    tmp_path: pathlib.Path, tls_server: grpc_server.Server
) -> None:
    """A client certificate of the internal CA; the server's names 127.0.0.1 and localhost."""
    client = _material(tmp_path, "gateway")
    for host in ("127.0.0.1", "localhost"):
        channel = grpc_tls.aio_channel(f"{host}:{tls_server.port}", tls=client)
        assert await _check(channel) == health_pb2.HealthCheckResponse.SERVING


async def test_a_plaintext_client_is_refused(tls_server: grpc_server.Server) -> None:
    channel = grpc_tls.aio_channel(f"127.0.0.1:{tls_server.port}", tls=None)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await _check(channel)
    assert exc.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_client_certificate_of_another_ca_is_refused(
    tmp_path: pathlib.Path, tls_server: grpc_server.Server
) -> None:
    """Another CA's client: the server refuses its certificate (and it refuses the server's)."""
    stranger = _material(tmp_path, "gateway", ca_name="other-ca")
    channel = grpc_tls.aio_channel(f"127.0.0.1:{tls_server.port}", tls=stranger)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await _check(channel)
    assert exc.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_client_certificate_of_another_ca_is_refused_by_the_server(
    tmp_path: pathlib.Path, tls_server: grpc_server.Server
) -> None:
    """It trusts the server (so only the server can say no), yet presents another CA's cert."""
    ours = _material(tmp_path, "gateway")
    stranger = _material(tmp_path, "gateway", ca_name="other-ca")
    mixed = grpc_tls.InternalTls(stranger.cert_chain, stranger.private_key, ours.root_ca)
    channel = grpc_tls.aio_channel(f"127.0.0.1:{tls_server.port}", tls=mixed)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await _check(channel)
    assert exc.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_tls_without_a_client_certificate_is_refused(
    tmp_path: pathlib.Path, tls_server: grpc_server.Server
) -> None:
    """Trusting the server is not enough: no client certificate, no call."""
    ca = _material(tmp_path, "gateway").root_ca
    channel = grpc.aio.secure_channel(
        f"127.0.0.1:{tls_server.port}", grpc.ssl_channel_credentials(root_certificates=ca)
    )
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await _check(channel)
    assert exc.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_the_server_name_is_checked_and_can_be_overridden(tmp_path: pathlib.Path) -> None:
    """A server whose certificate names only ``gateway`` (as a pod dialled by IP on Kubernetes):
    refused at 127.0.0.1, accepted with server_name="gateway", refused with another name."""
    ca_cert, ca_key = pki.new_ca("Internal")
    cert, key = pki.issue_server_cert(ca_cert, ca_key, ["gateway"], [], client_auth=True)
    only_name = grpc_tls.InternalTls(
        pki.cert_pem(cert).encode(), pki.key_pem(key).encode(), pki.cert_pem(ca_cert).encode()
    )
    server = await grpc_server.start("127.0.0.1:0", lambda s: None, [], tls=only_name)
    try:
        target = f"127.0.0.1:{server.port}"
        with pytest.raises(grpc.aio.AioRpcError):
            await _check(grpc_tls.aio_channel(target, tls=only_name))
        named = grpc_tls.InternalTls(
            only_name.cert_chain, only_name.private_key, only_name.root_ca, "gateway"
        )
        assert await _check(grpc_tls.aio_channel(target, tls=named)) == 1  # SERVING
        wrong = grpc_tls.InternalTls(
            only_name.cert_chain, only_name.private_key, only_name.root_ca, "device-svc"
        )
        with pytest.raises(grpc.aio.AioRpcError):
            await _check(grpc_tls.aio_channel(target, tls=wrong))
    finally:
        await server.stop(0)


async def test_a_plaintext_server_stays_plaintext(tmp_path: pathlib.Path) -> None:
    """tls=None: the default of a process without CSMS_INTERNAL_TLS_*; TLS clients fail."""
    server = await grpc_server.start("127.0.0.1:0", lambda s: None, [], tls=None)
    try:
        target = f"127.0.0.1:{server.port}"
        assert await _check(grpc_tls.aio_channel(target, tls=None)) == 1
        with pytest.raises(grpc.aio.AioRpcError):
            await _check(grpc_tls.aio_channel(target, tls=_material(tmp_path, "gateway")))
    finally:
        await server.stop(0)


def _probe(target: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CSMS_")}
    return subprocess.run(
        [sys.executable, "-m", "common.grpc_tls", "health", target, "--timeout", "3", *args],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


async def test_the_health_command_probes_over_internal_tls(
    tmp_path: pathlib.Path, tls_server: grpc_server.Server
) -> None:
    """``python -m common.grpc_tls health`` (Kubernetes exec probes): 0 with the process's
    CSMS_INTERNAL_TLS_* files, also when SERVER_NAME names its peers (device_svc's "gateway"),
    1 without them or when told to expect a name the server's certificate lacks."""
    paths = pki.write_internal_ca(tmp_path / "ca", ["probe"], ["localhost"], ["127.0.0.1"])
    env = {
        "CSMS_INTERNAL_TLS_CERT": str(paths["probe_cert"]),
        "CSMS_INTERNAL_TLS_KEY": str(paths["probe_key"]),
        "CSMS_INTERNAL_TLS_CA": str(paths["ca_cert"]),
    }
    target = f"127.0.0.1:{tls_server.port}"
    peers_named = {**env, "CSMS_INTERNAL_TLS_SERVER_NAME": "gateway"}
    ok, named, plain, wrong = await asyncio.gather(
        asyncio.to_thread(_probe, target, env),
        asyncio.to_thread(_probe, target, peers_named),
        asyncio.to_thread(_probe, target, {}),
        asyncio.to_thread(_probe, target, env, "--server-name", "gateway"),
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert named.returncode == 0, named.stdout + named.stderr
    assert plain.returncode == 1, plain.stdout + plain.stderr
    assert "UNAVAILABLE" in plain.stderr
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
