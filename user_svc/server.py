"""user_svc wiring: database, servicer, gRPC server with health, graceful stop."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from common import grpc_server
from common.db import create_engine, session_factory
from csms.user.v1 import user_service_pb2 as pb
from csms.user.v1 import user_service_pb2_grpc as pb_grpc
from user_svc.service import IdTokens
from user_svc.servicer import UserServicer
from user_svc.settings import Settings

__all__ = ["SERVICE_NAME", "run", "start"]

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["UserService"].full_name


async def start(settings: Settings) -> tuple[grpc_server.Server, AsyncEngine]:
    """Start the service (tests use this with port 0); returns the server and its engine."""
    engine = create_engine(settings.database_url)
    id_tokens = IdTokens(session_factory(engine))
    server = await grpc_server.start(
        settings.grpc_listen,
        lambda s: pb_grpc.add_UserServiceServicer_to_server(UserServicer(id_tokens), s),
        [SERVICE_NAME],
    )
    return server, engine


async def run(settings: Settings) -> None:
    server, engine = await start(settings)
    await grpc_server.serve_until_signal(
        "user_svc", server, settings.shutdown_grace, on_stop=engine.dispose
    )
