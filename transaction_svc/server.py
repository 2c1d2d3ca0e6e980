"""transaction_svc wiring: database, user_svc channel, servicer, gRPC server, graceful stop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc

from common import grpc_server, grpc_tls
from common.db import create_engine, session_factory
from common.rest import RestFacade, update_request
from csms.transaction.v1 import transaction_service_pb2 as pb
from csms.transaction.v1 import transaction_service_pb2_grpc as pb_grpc
from transaction_svc.load_manager.service import LoadManager
from transaction_svc.load_manager.stations import StationProfiles
from transaction_svc.reservations.service import Reservations
from transaction_svc.reservations.stations import ReservationCommands
from transaction_svc.service import MeterValues, Transactions
from transaction_svc.servicer import TransactionServicer
from transaction_svc.settings import Settings
from transaction_svc.smart_charging.service import SmartCharging
from transaction_svc.tariffs.service import Tariffs
from transaction_svc.tariffs.stations import CostUpdateSender
from transaction_svc.users import Users

__all__ = ["SERVICE_NAME", "run", "start"]

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TransactionService"].full_name
_REST_SERVICE = pb.DESCRIPTOR.services_by_name["TransactionRestService"]
REST_SERVICE_NAME = _REST_SERVICE.full_name
# The REST methods whose request needs its own conversion (a PATCH's id is in the path).
REST_REQUESTS = {
    "UpdateSite": update_request(pb.UpdateSiteRequest, "site", "id"),
    "UpdateTariff": update_request(pb.UpdateTariffRequest, "tariff", "id"),
}


def _add_servicers(server: grpc.aio.Server, servicer: TransactionServicer) -> None:
    pb_grpc.add_TransactionServiceServicer_to_server(servicer, server)
    pb_grpc.add_TransactionRestServiceServicer_to_server(
        RestFacade(
            _REST_SERVICE,
            servicer,
            requests=REST_REQUESTS,
        ),
        server,
    )


async def start(
    settings: Settings,
) -> tuple[grpc_server.Server, Callable[[], Awaitable[None]]]:
    """Start the service (tests use this with port 0).

    Returns the server and ``close``, to await after the server stopped: it closes the user_svc
    channel, then the engine.
    """
    engine = create_engine(settings.database_url)
    # One channel for the life of the process; it reconnects by itself when user_svc restarts.
    channel = grpc_tls.aio_channel(settings.user_svc_addr)
    devices = grpc_tls.aio_channel(settings.device_svc_addr)
    sessions = session_factory(engine)
    transactions = Transactions(
        sessions,
        max_batch=settings.group_commit_max_batch,
        max_wait=settings.group_commit_max_wait,
        linger=settings.group_commit_linger,
    )
    users = Users(channel, settings.user_svc_timeout)
    load_manager = LoadManager(
        sessions,
        StationProfiles(devices, settings.load_manager_answer_timeout),
        users,
        id_base=settings.load_manager_profile_id_base,
        stack_level=settings.load_manager_stack_level,
        retry_after=settings.load_manager_retry_after,
    )
    tariffs = Tariffs(
        sessions, users, CostUpdateSender(devices, settings.load_manager_answer_timeout)
    )
    reservations = Reservations(
        sessions,
        ReservationCommands(devices, settings.load_manager_answer_timeout),
        sweep_every=settings.reservation_sweep_every,
    )
    servicer = TransactionServicer(
        transactions,
        users,
        MeterValues(sessions),
        SmartCharging(sessions),
        load_manager,
        tariffs,
        reservations,
    )
    try:
        server = await grpc_server.start(
            settings.grpc_listen,
            lambda s: _add_servicers(s, servicer),
            [SERVICE_NAME, REST_SERVICE_NAME],
        )
        await load_manager.start()
        await reservations.start()
    except BaseException:
        await channel.close()
        await devices.close()
        await engine.dispose()
        raise

    async def close() -> None:
        await load_manager.close()
        await tariffs.close()
        await reservations.close()
        await channel.close()
        await devices.close()
        await transactions.drain()
        await engine.dispose()

    return server, close


async def run(settings: Settings) -> None:
    server, close = await start(settings)
    await grpc_server.serve_until_signal(
        "transaction_svc", server, settings.shutdown_grace, on_stop=close
    )
