"""Internal gRPC over mutual TLS, switched on by configuration (``CSMS_INTERNAL_TLS_*``).

Between the gateway, the services and Envoy, gRPC is plaintext unless this process is given a
certificate, its key and the internal CA: then every gRPC server of the CSMS asks each client
for a certificate from that CA (and refuses plaintext), and every internal channel presents this
process's certificate and accepts only a server certificate from that CA naming the host it
dials. For deployments without a service mesh, which would otherwise do this between pods.

One place: every gRPC server listens through :func:`add_port` (``common.grpc_server.start``),
every internal client dials through :func:`aio_channel` or :func:`channel`. Both read the
process's settings once (:func:`configured`) unless a test passes ``tls=`` explicitly.

``python -m common.grpc_tls health HOST:PORT`` checks a server's grpc.health.v1 over the same
channel: Kubernetes' native gRPC probes cannot present a client certificate.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import functools
import pathlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common import pki

__all__ = [
    "FROM_ENV",
    "InternalTls",
    "InternalTlsError",
    "InternalTlsSettings",
    "TlsChoice",
    "add_port",
    "aio_channel",
    "channel",
    "configured",
    "health",
]


class InternalTlsError(ValueError):
    """The internal TLS settings or files are unusable; the message says which and why."""


class InternalTlsSettings(BaseSettings):
    """``CSMS_INTERNAL_TLS_*``, read by every process (gateway, services); none set: plaintext."""

    model_config = SettingsConfigDict(
        env_prefix="CSMS_INTERNAL_TLS_", extra="ignore", frozen=True, env_ignore_empty=True
    )

    # PEM files: this process's certificate (chain), for both server and client authentication;
    # its unencrypted private key; the internal CA every peer's certificate must chain to.
    # All three, or none.
    cert: pathlib.Path | None = None
    key: pathlib.Path | None = None
    ca: pathlib.Path | None = None
    # The name this process's channels expect in the servers' certificates instead of the host
    # they dial. Only for peers dialled by an address no certificate can name in advance:
    # device_svc dials gateways by their advertised pod IP on Kubernetes, so there device_svc
    # gets ``gateway`` here and the gateways' certificate carries that DNS name.
    server_name: str = ""

    @model_validator(mode="after")
    def _all_or_none(self) -> InternalTlsSettings:
        given = {n: getattr(self, n) is not None for n in ("cert", "key", "ca")}
        if any(given.values()) and not all(given.values()):
            missing = ", ".join(f"CSMS_INTERNAL_TLS_{n.upper()}" for n, g in given.items() if not g)
            raise ValueError(f"internal TLS needs CERT, KEY and CA together: {missing} unset")
        if self.server_name and not all(given.values()):
            raise ValueError("CSMS_INTERNAL_TLS_SERVER_NAME is set but internal TLS is off")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert is not None


@dataclass(frozen=True)
class InternalTls:
    """The PEM material of one process's internal mutual TLS, read and checked once."""

    cert_chain: bytes
    private_key: bytes
    root_ca: bytes
    server_name: str = ""

    @classmethod
    def from_files(
        cls,
        cert: pathlib.Path | str,
        key: pathlib.Path | str,
        ca: pathlib.Path | str,
        server_name: str = "",
    ) -> InternalTls:
        """Read and check the files: PEM, and a key that belongs to the certificate.

        A bad file fails here, at start, with its name; gRPC itself would only fail handshakes.
        """
        data = {}
        for what, path in (("certificate", cert), ("key", key), ("CA", ca)):
            try:
                data[what] = pathlib.Path(path).read_bytes()
            except OSError as exc:
                raise InternalTlsError(f"internal TLS {what} {path}: {exc.strerror}") from exc
        try:
            leaf = pki.load_cert(data["certificate"])
            private_key = pki.load_key(data["key"])
            pki.load_cert(data["CA"])
        except pki.PkiError as exc:
            raise InternalTlsError(f"internal TLS files {cert}, {key}, {ca}: {exc}") from exc
        if leaf.public_key() != private_key.public_key():
            raise InternalTlsError(f"internal TLS key {key} is not the key of {cert}")
        return cls(data["certificate"], data["key"], data["CA"], server_name)

    @classmethod
    def from_settings(cls, settings: InternalTlsSettings) -> InternalTls | None:
        """The material the settings name; None when internal TLS is off."""
        if settings.cert is None or settings.key is None or settings.ca is None:
            return None
        return cls.from_files(settings.cert, settings.key, settings.ca, settings.server_name)

    def server_credentials(self) -> grpc.ServerCredentials:
        """Serve with this certificate; every client must present one from the internal CA."""
        return grpc.ssl_server_credentials(
            [(self.private_key, self.cert_chain)],
            root_certificates=self.root_ca,
            require_client_auth=True,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Present this certificate; trust only servers with a certificate from the internal CA."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.root_ca,
            private_key=self.private_key,
            certificate_chain=self.cert_chain,
        )

    def channel_options(self) -> list[tuple[str, Any]]:
        """The name to check in servers' certificates, when it is not the host dialled."""
        if not self.server_name:
            return []
        return [("grpc.ssl_target_name_override", self.server_name)]


class _FromEnv(enum.Enum):
    TOKEN = "the process's CSMS_INTERNAL_TLS_* settings"


# ``tls=FROM_ENV`` (the default): this process's settings. ``None``: plaintext. Tests and the
# launcher pass an InternalTls of their own.
FROM_ENV = _FromEnv.TOKEN
TlsChoice = InternalTls | None | _FromEnv


@functools.cache
def configured() -> InternalTls | None:
    """This process's internal TLS, from ``CSMS_INTERNAL_TLS_*`` (read once); None: plaintext."""
    return InternalTls.from_settings(InternalTlsSettings())


def _resolve(tls: TlsChoice) -> InternalTls | None:
    return configured() if tls is FROM_ENV else tls


def aio_channel(
    target: str, *, tls: TlsChoice = FROM_ENV, options: Sequence[tuple[str, Any]] = ()
) -> grpc.aio.Channel:
    """An asyncio channel to another process of the CSMS: mutual TLS when configured."""
    chosen = _resolve(tls)
    if chosen is None:
        return grpc.aio.insecure_channel(target, options=list(options) or None)
    return grpc.aio.secure_channel(
        target, chosen.channel_credentials(), options=[*options, *chosen.channel_options()]
    )


def channel(
    target: str, *, tls: TlsChoice = FROM_ENV, options: Sequence[tuple[str, Any]] = ()
) -> grpc.Channel:
    """A blocking channel to another process of the CSMS (the launcher's), as
    :func:`aio_channel`."""
    chosen = _resolve(tls)
    if chosen is None:
        return grpc.insecure_channel(target, options=list(options) or None)
    return grpc.secure_channel(
        target, chosen.channel_credentials(), options=[*options, *chosen.channel_options()]
    )


def add_port(server: grpc.aio.Server, listen: str, *, tls: TlsChoice = FROM_ENV) -> int:
    """Bind ``listen``: mutual TLS when configured (plaintext clients are refused), else
    plaintext. Returns the port, 0 when it could not bind."""
    chosen = _resolve(tls)
    port: int
    if chosen is None:
        port = server.add_insecure_port(listen)
    else:
        port = server.add_secure_port(listen, chosen.server_credentials())
    return port


# -- health check for probes --------------------------------------------------------------------


def health(target: str, service: str = "", timeout: float = 3.0, server_name: str = "") -> bool:
    """Whether ``target`` answers grpc.health.v1 SERVING, over this process's internal TLS.

    The server's certificate is checked for ``server_name`` if given, else for the host of
    ``target``: a probe dials its own container, whatever CSMS_INTERNAL_TLS_SERVER_NAME says
    about the peers this process dials.
    """
    tls = configured()
    if tls is not None:
        tls = dataclasses.replace(tls, server_name=server_name)
    with channel(target, tls=tls) as ch:
        try:
            resp = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as exc:
            print(f"{target}: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return False
    serving: bool = resp.status == health_pb2.HealthCheckResponse.SERVING
    if not serving:
        print(f"{target}: {health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)}")
    return serving


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.grpc_tls", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("health", help="exit 0 if HOST:PORT's gRPC health is SERVING")
    check.add_argument("target", help="HOST:PORT, e.g. 127.0.0.1:50051")
    check.add_argument("--service", default="", help="a service name (default: the server)")
    check.add_argument("--timeout", type=float, default=3.0)
    check.add_argument(
        "--server-name", default="", help="the name to expect in its certificate (default: HOST)"
    )
    args = parser.parse_args(argv)
    return 0 if health(args.target, args.service, args.timeout, args.server_name) else 1


if __name__ == "__main__":
    sys.exit(main())
