"""NotifyEvent from a real WebSocket station through a real gateway to a real device_svc (SQLite
and PostgreSQL): OCTT's "Booted" state (BootNotification, StatusNotification, then NotifyEvent
with the connector's AvailabilityState) is answered, every part is stored, a resent part once."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from common.ocpp_json import to_ocpp
from csms.device.v1 import device_service_pb2 as device_pb


async def _call(ws: ClientConnection, action: str, payload: dict[str, Any]) -> list[Any]:
    """Send a CALL as the station; the CSMS's answer to it."""
    message_id = uuid.uuid4().hex
    await ws.send(orjson.dumps([2, message_id, action, payload]).decode())
    answer = orjson.loads(await ws.recv())
    assert answer[1] == message_id, answer
    return list(answer)


def _availability(event_id: int, connector: int, value: str) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "timestamp": "2026-01-01T10:00:00.500Z",
        "trigger": "Delta",
        "actualValue": value,
        "eventNotificationType": "HardWiredNotification",
        "component": {"name": "Connector", "evse": {"id": 1, "connectorId": connector}},
        "variable": {"name": "AvailabilityState"},
    }


async def test_booted_station_notify_event_is_answered_and_stored(  # type: ignore[no-untyped-def]
    gateway_on_device_svc,
) -> None:
    """Each NotifyEvent frame gets the CALLRESULT {}; both parts are stored as sent, each entry
    with its part's seqNo and tbc; the resent first part adds nothing."""
    async with gateway_on_device_svc() as (running, device, _):
        await device.CreateChargingStation(
            device_pb.CreateChargingStationRequest(
                charging_station=device_pb.ChargingStation(id="CS-EV")
            )
        )
        url = f"ws://127.0.0.1:{running.gateway.settings.port}/ocpp/CS-EV"
        async with connect(url, subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
            boot = await _call(
                ws,
                "BootNotification",
                {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}},
            )
            assert boot[0] == 3 and boot[2]["status"] == "Accepted"
            status = await _call(
                ws,
                "StatusNotification",
                {
                    "timestamp": "2026-01-01T10:00:00Z",
                    "connectorStatus": "Available",
                    "evseId": 1,
                    "connectorId": 1,
                },
            )
            assert status[0] == 3
            first = {
                "generatedAt": "2026-01-01T10:00:01Z",
                "seqNo": 0,
                "tbc": True,
                "eventData": [_availability(1, 1, "Available"), _availability(2, 2, "Available")],
            }
            last = {
                "generatedAt": "2026-01-01T10:00:01Z",
                "seqNo": 1,
                "eventData": [_availability(3, 3, "Unavailable")],
            }
            assert (await _call(ws, "NotifyEvent", first))[::2] == [3, {}]
            assert (await _call(ws, "NotifyEvent", last))[::2] == [3, {}]
            # The station lost our answer to the first part and sends it again.
            assert (await _call(ws, "NotifyEvent", first))[::2] == [3, {}]

        listed = await device.ListEvents(device_pb.ListEventsRequest(station_id="CS-EV"))
        sent = {e["eventId"]: e for e in first["eventData"] + last["eventData"]}  # type: ignore[operator]
        assert sorted(e.event_data.event_id for e in listed.events) == [1, 2, 3]
        for event in listed.events:
            assert to_ocpp(event.event_data) == sent[event.event_data.event_id]
            assert (event.seq_no, event.tbc) == (
                (1, False) if event.event_data.event_id == 3 else (0, True)
            )
