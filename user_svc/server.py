"""user_svc wiring: database, device_svc channel, servicers, gRPC server, graceful stop.

Besides UserService it serves Envoy's external authorization (``envoy.service.auth.v3``), which
Envoy asks about every management API request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import grpc
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc

from common import grpc_server, grpc_tls
from common.db import create_engine, session_factory
from common.rest import RestFacade, update_request
from csms.user.v1 import user_service_pb2 as pb
from csms.user.v1 import user_service_pb2_grpc as pb_grpc
from user_svc.devices import Devices
from user_svc.service import ApiKeys, IdTokens, LocalLists
from user_svc.servicer import ExtAuthzServicer, UserServicer
from user_svc.settings import Settings

__all__ = ["AUTHZ_SERVICE_NAME", "SERVICE_NAME", "run", "start"]

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["UserService"].full_name
_REST_SERVICE = pb.DESCRIPTOR.services_by_name["UserRestService"]
REST_SERVICE_NAME = _REST_SERVICE.full_name
AUTHZ_SERVICE_NAME = external_auth_pb2.DESCRIPTOR.services_by_name["Authorization"].full_name


async def start(
    settings: Settings,
) -> tuple[grpc_server.Server, Callable[[], Awaitable[None]]]:
    """Start the service (tests use this with port 0).

    Returns the server and ``close``, to await after the server stopped: it closes the
    device_svc channel, then the engine.
    """
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    # One channel for the life of the process; it reconnects by itself when device_svc restarts.
    channel = grpc_tls.aio_channel(settings.device_svc_addr)
    api_keys = ApiKeys(sessions, settings.api_key_cache_ttl)
    devices = Devices(channel, settings.device_svc_timeout)
    servicer = UserServicer(
        IdTokens(sessions),
        LocalLists(sessions, devices, settings.local_list_items_per_message),
        api_keys,
        devices,
    )
    authz = ExtAuthzServicer(api_keys, settings.allow_anonymous_legacy_create)

    async def close() -> None:
        await channel.close()
        await engine.dispose()

    def add_servicers(s: grpc.aio.Server) -> None:
        pb_grpc.add_UserServiceServicer_to_server(servicer, s)
        pb_grpc.add_UserRestServiceServicer_to_server(
            RestFacade(
                _REST_SERVICE,
                servicer,
                requests={
                    "UpdateIdToken": update_request(pb.UpdateIdTokenRequest, "id_token", "id_token")
                },
            ),
            s,
        )
        external_auth_pb2_grpc.add_AuthorizationServicer_to_server(authz, s)

    try:
        server = await grpc_server.start(
            settings.grpc_listen,
            add_servicers,
            [SERVICE_NAME, REST_SERVICE_NAME, AUTHZ_SERVICE_NAME],
        )
    except BaseException:
        await close()
        raise
    return server, close


async def run(settings: Settings) -> None:
    if settings.allow_anonymous_legacy_create:
        log.warning(
            "insecure local mode: POST /chargingstations/create is allowed without an API key"
        )
    server, close = await start(settings)
    await grpc_server.serve_until_signal("user_svc", server, settings.shutdown_grace, on_stop=close)
