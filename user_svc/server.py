"""user_svc wiring: database, device_svc channel, servicer, gRPC server, graceful stop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc

from common import grpc_server
from common.db import create_engine, session_factory
from csms.user.v1 import user_service_pb2 as pb
from csms.user.v1 import user_service_pb2_grpc as pb_grpc
from user_svc.devices import Devices
from user_svc.service import IdTokens, LocalLists
from user_svc.servicer import UserServicer
from user_svc.settings import Settings

__all__ = ["SERVICE_NAME", "run", "start"]

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["UserService"].full_name


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
    channel = grpc.aio.insecure_channel(settings.device_svc_addr)
    servicer = UserServicer(
        IdTokens(sessions),
        LocalLists(
            sessions,
            Devices(channel, settings.device_svc_timeout),
            settings.local_list_items_per_message,
        ),
    )

    async def close() -> None:
        await channel.close()
        await engine.dispose()

    try:
        server = await grpc_server.start(
            settings.grpc_listen,
            lambda s: pb_grpc.add_UserServiceServicer_to_server(servicer, s),
            [SERVICE_NAME],
        )
    except BaseException:
        await close()
        raise
    return server, close


async def run(settings: Settings) -> None:
    server, close = await start(settings)
    await grpc_server.serve_until_signal("user_svc", server, settings.shutdown_grace, on_stop=close)
