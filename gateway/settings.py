"""Gateway settings, from ``CSMS_GATEWAY_*`` environment variables."""

from __future__ import annotations

import functools
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.settings import DEFAULT_PORTS

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CSMS_GATEWAY_", extra="ignore", frozen=True)

    # Where stations connect: ws://HOST:PORT{path_prefix}{stationId} (the prototype's).
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORTS["gateway"]
    path_prefix: str = "/ocpp/"
    # Let unknown station ids in (registering them) instead of refusing them: with 401, like a
    # wrong password, so that the answer does not tell which ids exist; with 404 while
    # unsecured stations are allowed (any profile-0 id gets in without a secret then anyway).
    auto_register: bool = False
    # Let stations without credentials (security profile 0) in. Off in production; `make up`
    # turns it on for the local quick start (and says so).
    allow_unsecured_stations: bool = False
    # The gateway sits behind Envoy, which terminates TLS and sets x-forwarded-proto,
    # x-forwarded-client-cert and x-forwarded-for: believe them. Off when stations reach the
    # gateway directly, since any client could then send those headers.
    trust_proxy_headers: bool = False
    # What proves a request is Envoy's: Envoy sets x-csms-proxy-secret to it on every station
    # request (overwriting any a client sent), and the headers above are believed only on a
    # request carrying it (compared in constant time). Empty: nothing proves it, so they are
    # never believed (a WARNING says so). The launcher generates one per run; Kubernetes: the
    # Secret csms-proxy-secret. Never logged.
    proxy_secret: SecretStr = SecretStr("")
    # Failed handshakes (gateway.auth.Throttle). Only an (address, station id) pair is ever
    # locked out: beyond auth_failure_limit refused passwords (a burst of that many, then one
    # forgiven every auth_failure_window / auth_failure_limit seconds), each one locks the pair
    # out (HTTP 429 with Retry-After, device_svc not asked) for auth_lockout_seconds, doubling
    # with each lockout in a row up to auth_max_lockout_seconds. Per address (every failure)
    # and per station id (refused passwords) nobody is locked out, since many stations share
    # one address and anyone can fail on a known id: beyond auth_address_failure_limit or
    # auth_station_failure_limit (per auth_failure_window) a pair with that address or station
    # id is locked out at its first failure instead. A station presenting valid credentials is
    # never refused for failures from other addresses or on other station ids.
    auth_failure_limit: int = 5
    auth_failure_window: float = 60.0
    auth_lockout_seconds: float = 60.0
    auth_max_lockout_seconds: float = 900.0
    auth_address_failure_limit: int = 100
    auth_station_failure_limit: int = 20
    # At most this many pairs, addresses and station ids each are tracked (bounded memory under
    # a flood).
    auth_tracked_keys: int = 10_000
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
    # Station CALLs forwarded to one service at the same time; more wait here. A gRPC server
    # cancels (CANCELLED) calls beyond its grpc.server.max_pending_requests (1,000 by default)
    # waiting to be picked up, which a burst from thousands of stations reaches. The handshakes'
    # ConnectStation calls have a bound of this size of their own.
    rpcs_in_flight_per_service: int = 256
    # TransactionEvents, Authorizes, Boot- and StatusNotifications, the handshakes'
    # ConnectStation and the closes' DisconnectStation calls go to their service in batches
    # (common.batched_rpc): at most rpc_batches_in_flight batch calls of one kind at once, of at
    # most rpc_batch_size calls; rpc_batch_size 0 sends each call alone. One in flight measured
    # best on the bench's one core (steady fleet p99 55-66 ms against 101-345 with 2 and 135-174
    # with 4; throughput 1,180/s against 1,085 and 1,016): fewer, larger batches cost less CPU.
    # The price: a batch answers when its slowest call does (a TransactionEvent whose idToken
    # waits for user_svc, at most its user_svc_timeout).
    rpc_batches_in_flight: int = 1
    rpc_batch_size: int = 256
    # Seconds a WebSocket handshake may take (a boot storm queues them behind device_svc).
    handshake_timeout: float = 60.0
    # Seconds a client gets, from its connect, to have sent its whole HTTP upgrade request; a
    # slower (or half-open) one is dropped (gateway.admission). handshake_timeout, which also
    # covers the wait for device_svc, bounds the rest.
    request_timeout: float = 10.0
    # TCP connections open at once on the stations' port (stations and handshakes). 0: sized
    # from the open-file limit (common.rlimits, minus a reserve). One more drops the oldest
    # connection still waiting for its request, so half-open floods cannot lock stations out.
    max_connections: int = 0
    # Connections the kernel keeps waiting for accept (capped by net.core.somaxconn). asyncio's
    # default of 100 drops SYNs when thousands of stations connect at once (a restart), and a
    # dropped SYN costs the station a retransmission (1 s, then 3 s, ...) or its handshake.
    listen_backlog: int = 4096
    # Heartbeats are answered by the gateway; the last-seen times go to device_svc in one
    # RecordHeartbeats call (of at most heartbeat_batch_size stations) every this many seconds.
    heartbeat_flush_interval: float = 1.0
    heartbeat_batch_size: int = 5_000
    # At most this many stations' last-seen times wait for a flush (device_svc down for long).
    heartbeat_pending_limit: int = 200_000
    # Keepalive (gateway.keepalive): a station silent (no frame, no pong) for keepalive_idle
    # seconds is pinged, and dropped when its pong has not come keepalive_timeout seconds later.
    # Above the heartbeat interval (device_svc's 300 s), a station that heartbeats is never
    # pinged: an idle fleet costs nothing but its Heartbeats. A dead link is found within about
    # keepalive_idle + keepalive_timeout seconds of the station's last frame.
    keepalive_idle: float = Field(default=330.0, gt=0)
    keepalive_timeout: float = Field(default=30.0, gt=0)
    # Largest frame a station may send, in bytes.
    max_frame_size: int = 1 << 20
    # Seconds a frame to a station may wait for room in the connection's write buffer (full
    # while the station reads nothing) before the gateway drops that connection (1008). A
    # station on ~2 KB/s GPRS still takes a 50 KiB frame within it.
    send_timeout: float = 30.0
    # The station message log: every frame in and out, sent to device_svc every
    # message_log_interval seconds, each station's frames as batches of at most
    # message_log_batch_size; beyond message_log_limit frames waiting, new ones are dropped
    # (counted), never waited for, and a flush spends at most message_log_budget of its interval
    # (CPU time) before it drops the rest. Off by default: it costs the mesh about 7% more CPU
    # per Heartbeat on the mean of nine runs and 1-9% per TransactionEvent (bench.interleaved,
    # with and without it in the same minutes), and Heartbeat throughput with it is 0.83-1.02x
    # of without from run to run, around the 0.9x target (README, Metrics and logs).
    message_log: bool = False
    message_log_interval: float = 0.5
    message_log_batch_size: int = Field(default=1000, ge=1, le=65_536)
    message_log_budget: float = 0.1
    message_log_limit: int = 100_000
    # Prometheus metrics on this port (GET /metrics on metrics_host); 0: none.
    metrics_port: int = DEFAULT_PORTS["gateway_metrics"]
    metrics_host: str = "127.0.0.1"
    log_level: str = "INFO"
    # "text" (key=value lines) or "json" (one object per line, the same fields).
    log_format: Literal["text", "json"] = "text"
    # Seconds open connections get to close after SIGTERM.
    shutdown_grace: float = 5.0


@functools.cache
def get_settings() -> Settings:
    return Settings()
