"""What a station may send before it is accepted, and a deleted station, on a real gateway with
real device_svc, transaction_svc and user_svc (SQLite and PostgreSQL): TransactionEvents and
Authorizes of a station that is Pending, Rejected or never booted get a CALLERROR SecurityError
(OCPP 2.0.1 B02.FR.09, B03.FR.07) but for a TransactionEvent TriggerMessage asked a Pending
station for; deleting a station closes its connection at once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from csms.device.v1 import device_service_pb2 as device_pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from transaction_svc import server as transaction_server
from transaction_svc.settings import Settings as TransactionSettings

BOOT = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
AUTHORIZE = {"idToken": {"idToken": "CARD", "type": "ISO14443"}}


def transaction_event(trigger: str = "MeterValuePeriodic", seq_no: int = 0) -> dict[str, Any]:
    return {
        "eventType": "Updated",
        "timestamp": "2026-01-01T10:00:00Z",
        "triggerReason": trigger,
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": "tx-1"},
    }


@contextlib.asynccontextmanager
async def mesh(  # type: ignore[no-untyped-def]
    gateway_on_device_svc, migrated_db, user_svc_addr: str, **gateway: Any
) -> AsyncIterator[tuple[str, Any]]:
    """The stations' URL and device_svc's stub of a gateway in front of all three services."""
    url = await asyncio.to_thread(migrated_db, "transaction_svc")
    server, close = await transaction_server.start(
        TransactionSettings(
            grpc_listen="127.0.0.1:0", database_url=url, user_svc_addr=user_svc_addr
        )
    )
    try:
        async with gateway_on_device_svc(
            transaction_svc_addr=f"127.0.0.1:{server.port}",
            user_svc_addr=user_svc_addr,
            **gateway,
        ) as (running, device, _):
            yield f"ws://127.0.0.1:{running.gateway.settings.port}/ocpp", device
    finally:
        await server.stop(1)
        await close()


async def station(device, url: str, status: int | None = None) -> tuple[str, ClientConnection]:  # type: ignore[no-untyped-def]
    """A new station of that registration status, connected."""
    sid = f"REG-{uuid.uuid4().hex[:8]}"
    fields = {} if status is None else {"registration_status": status}
    await device.CreateChargingStation(
        device_pb.CreateChargingStationRequest(
            charging_station=device_pb.ChargingStation(id=sid, **fields)
        )
    )
    return sid, await connect(f"{url}/{sid}", subprotocols=["ocpp2.0.1"])  # type: ignore[list-item]


async def send(ws: ClientConnection, action: str, payload: dict[str, Any]) -> list[Any]:
    message_id = uuid.uuid4().hex[:8]
    await ws.send(json.dumps([2, message_id, action, payload]))
    async with asyncio.timeout(10):  # a bound on the test, not a speed check
        answer: list[Any] = json.loads(await ws.recv())
    assert answer[1] == message_id
    return answer


def refused(answer: list[Any]) -> bool:
    return answer[0] == 4 and answer[2] == "SecurityError"


async def test_pending_and_rejected_stations_may_not_transact(  # type: ignore[no-untyped-def]
    gateway_on_device_svc, migrated_db, user_svc_addr
) -> None:
    async with mesh(gateway_on_device_svc, migrated_db, user_svc_addr) as (url, device):
        sid, ws = await station(device, url, ocpp.REGISTRATION_STATUS_PENDING)
        async with ws:
            boot = await send(ws, "BootNotification", BOOT)
            assert boot[0] == 3 and boot[2]["status"] == "Pending"
            assert refused(await send(ws, "TransactionEvent", transaction_event()))
            assert refused(await send(ws, "Authorize", AUTHORIZE))
            # Asked for by TriggerMessage: allowed while Pending.
            triggered = await send(ws, "TransactionEvent", transaction_event("Trigger"))
            assert triggered == [3, triggered[1], {}]
            # Accepted at the next boot: from then on allowed.
            await device.AcceptChargingStation(device_pb.AcceptChargingStationRequest(id=sid))
            async with asyncio.timeout(10):  # the CSMS asks for a BootNotification (B02)
                trigger = json.loads(await ws.recv())
            assert trigger[:3] == [2, trigger[1], "TriggerMessage"]
            await ws.send(json.dumps([3, trigger[1], {"status": "Accepted"}]))
            boot = await send(ws, "BootNotification", BOOT)
            assert boot[2]["status"] == "Accepted"
            assert (await send(ws, "TransactionEvent", transaction_event(seq_no=1)))[0] == 3
            assert (await send(ws, "Authorize", AUTHORIZE))[0] == 3
        _, ws = await station(device, url, ocpp.REGISTRATION_STATUS_REJECTED)
        async with ws:
            assert (await send(ws, "BootNotification", BOOT))[2]["status"] == "Rejected"
            assert refused(await send(ws, "TransactionEvent", transaction_event("Trigger")))
            assert refused(await send(ws, "Authorize", AUTHORIZE))


async def test_a_station_that_never_booted_may_not_transact(  # type: ignore[no-untyped-def]
    gateway_on_device_svc, migrated_db, user_svc_addr
) -> None:
    async with mesh(gateway_on_device_svc, migrated_db, user_svc_addr) as (url, device):
        sid, ws = await station(device, url)
        async with ws:
            assert refused(await send(ws, "TransactionEvent", transaction_event()))
            assert refused(await send(ws, "Authorize", AUTHORIZE))
            assert (await send(ws, "BootNotification", BOOT))[2]["status"] == "Accepted"
            assert (await send(ws, "TransactionEvent", transaction_event()))[0] == 3
        # Once booted, a new connection (no BootNotification after a network outage) may.
        async with await connect(f"{url}/{sid}", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
            assert (await send(ws, "TransactionEvent", transaction_event(seq_no=1)))[0] == 3


async def test_a_deleted_station_is_disconnected_at_once(  # type: ignore[no-untyped-def]
    gateway_on_device_svc, migrated_db, user_svc_addr
) -> None:
    # A lease renewal would close it too: none comes during this test.
    async with mesh(gateway_on_device_svc, migrated_db, user_svc_addr, lease_seconds=3600) as (
        url,
        device,
    ):
        sid, ws = await station(device, url)
        async with ws:
            assert (await send(ws, "BootNotification", BOOT))[2]["status"] == "Accepted"
            await device.DeleteChargingStation(device_pb.DeleteChargingStationRequest(id=sid))
            async with asyncio.timeout(10):  # a bound on the test, not a speed check
                await ws.wait_closed()
            assert ws.close_reason == "charging station deleted"
