"""device_svc records the RequestStartTransactions stations accept in transaction_svc, so that
their transactions show the idToken the CSMS sent: real device_svc and transaction_svc over real
gRPC on SQLite and PostgreSQL, a stand-in gateway for the station."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
import pytest

from common.ocpp_json import to_proto
from csms.device.v1 import device_service_pb2 as pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as tx_pb
from csms.transaction.v1 import transaction_service_pb2_grpc as tx_grpc
from deploy.mesh import free_port
from transaction_svc import server as transaction_server
from transaction_svc.settings import Settings as TransactionSettings

from .test_device_svc_operations import _connected, gateway  # noqa: F401 - the fixture

APP = ocpp.IdToken(id_token="APP-USER-1", type=ocpp.ID_TOKEN_CENTRAL)


def _start(station_id: str, remote_start_id: int) -> pb.RequestStartTransactionCommand:
    return pb.RequestStartTransactionCommand(
        station_id=station_id,
        request=ocpp.RequestStartTransactionRequest(
            id_token=APP, remote_start_id=remote_start_id, evse_id=1
        ),
    )


def _started(station_id: str, remote_start_id: int) -> tx_pb.TransactionEventCall:
    """The station's Started event, with the remoteStartId and without the idToken."""
    payload: dict[str, Any] = {
        "eventType": "Started",
        "timestamp": "2026-01-01T10:00:00Z",
        "triggerReason": "RemoteStart",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-1", "remoteStartId": remote_start_id},
        "evse": {"id": 1, "connectorId": 1},
    }
    return tx_pb.TransactionEventCall(
        station_id=station_id, request=to_proto(ocpp.TransactionEventRequest, payload)
    )


@pytest.fixture
async def services(start_device_svc, migrated_db):  # type: ignore[no-untyped-def]
    """transaction_svc (no user_svc needed: no event here carries an idToken) and a device_svc
    that records remote starts there."""
    url = await asyncio.to_thread(migrated_db, "transaction_svc")
    server, close = await transaction_server.start(
        TransactionSettings(
            grpc_listen="127.0.0.1:0", database_url=url, user_svc_addr=f"127.0.0.1:{free_port()}"
        )
    )
    address = f"127.0.0.1:{server.port}"
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            device = await start_device_svc(transaction_svc_addr=address)
            yield device, tx_grpc.TransactionServiceStub(channel)
    finally:
        await server.stop(1)
        await close()


async def _id_token(transactions, station_id: str) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    tx = await transactions.GetTransaction(
        tx_pb.GetTransactionRequest(id="tx-1", station_id=station_id)
    )
    return tx.id_token, tx.id_token_type


async def test_an_accepted_remote_start_gives_its_transaction_the_id_token(
    services,
    gateway,  # noqa: F811
) -> None:
    """Accepted, then the Started event without idToken: the transaction shows the one sent."""
    device, transactions = services
    fake, addr = gateway
    await _connected(device, "CS1", addr)
    fake.answers["RequestStartTransaction"] = lambda _: ocpp.RequestStartTransactionResponse(
        status=ocpp.REQUEST_START_STOP_STATUS_ACCEPTED
    )
    await device.RequestStartTransaction(_start("CS1", 42), timeout=10)
    await transactions.TransactionEvent(_started("CS1", 42))
    assert await _id_token(transactions, "CS1") == ("APP-USER-1", ocpp.ID_TOKEN_CENTRAL)


async def test_the_started_event_may_come_before_the_answer(services, gateway) -> None:  # noqa: F811
    """The station sends its Started event before it answers RequestStartTransaction."""
    device, transactions = services
    fake, addr = gateway
    await _connected(device, "CS1", addr)
    await transactions.TransactionEvent(_started("CS1", 42))
    fake.answers["RequestStartTransaction"] = lambda _: ocpp.RequestStartTransactionResponse(
        status=ocpp.REQUEST_START_STOP_STATUS_ACCEPTED
    )
    assert await _id_token(transactions, "CS1") == ("", 0)
    await device.RequestStartTransaction(_start("CS1", 42), timeout=10)
    assert await _id_token(transactions, "CS1") == ("APP-USER-1", ocpp.ID_TOKEN_CENTRAL)


async def test_a_rejected_remote_start_is_not_recorded(services, gateway) -> None:  # noqa: F811
    """Rejected: no transaction was started for the idToken, none gets it."""
    device, transactions = services
    fake, addr = gateway
    await _connected(device, "CS1", addr)
    fake.answers["RequestStartTransaction"] = lambda _: ocpp.RequestStartTransactionResponse(
        status=ocpp.REQUEST_START_STOP_STATUS_REJECTED
    )
    answer = await device.RequestStartTransaction(_start("CS1", 42), timeout=10)
    assert answer.status == ocpp.REQUEST_START_STOP_STATUS_REJECTED
    await transactions.TransactionEvent(_started("CS1", 42))
    assert await _id_token(transactions, "CS1") == ("", 0)


async def test_without_transaction_svc_the_command_still_works(
    start_device_svc,
    gateway,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """transaction_svc unreachable: the station's answer comes back, and a WARNING says what
    could not be recorded."""
    device = await start_device_svc(
        transaction_svc_addr=f"127.0.0.1:{free_port()}", transaction_svc_timeout=2.0
    )
    fake, addr = gateway
    await _connected(device, "CS1", addr)
    fake.answers["RequestStartTransaction"] = lambda _: ocpp.RequestStartTransactionResponse(
        status=ocpp.REQUEST_START_STOP_STATUS_ACCEPTED
    )
    with caplog.at_level(logging.WARNING, logger="device_svc.operations"):
        answer = await device.RequestStartTransaction(_start("CS1", 42), timeout=10)
    assert answer.status == ocpp.REQUEST_START_STOP_STATUS_ACCEPTED
    [warning] = [r for r in caplog.records if "RecordRemoteStart" in r.getMessage()]
    assert warning.levelno == logging.WARNING and "42" in warning.getMessage()
