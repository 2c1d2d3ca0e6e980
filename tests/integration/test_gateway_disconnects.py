"""Stations that drop all at once (a network outage, a load balancer restart) on a real gateway
with a real device_svc: each is recorded as disconnected, and the gateway sends those that queue
behind its call in flight together, through DisconnectStations, as it does their handshakes."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from websockets.asyncio.client import connect

from csms.device.v1 import device_service_pb2 as device_pb
from device_svc.servicer import DeviceServicer

STATIONS = 40


async def test_a_mass_disconnect_is_recorded_in_batches(  # type: ignore[no-untyped-def]
    gateway_on_device_svc, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    batch = DeviceServicer.DisconnectStations

    async def counted(self: DeviceServicer, request: Any, context: Any) -> Any:
        batches.append(len(request.items))
        return await batch(self, request, context)

    monkeypatch.setattr(DeviceServicer, "DisconnectStations", counted)
    async with gateway_on_device_svc(auto_register=True) as (running, device, _):
        url = f"ws://127.0.0.1:{running.gateway.settings.port}/ocpp"
        ids = [f"DROP-{uuid.uuid4().hex[:8]}-{i}" for i in range(STATIONS)]
        stations = await asyncio.gather(
            *(connect(f"{url}/{sid}", subprotocols=["ocpp2.0.1"]) for sid in ids)  # type: ignore[list-item]
        )
        await asyncio.gather(*(ws.close() for ws in stations))

        async def connected() -> list[str]:
            got = await device.ListChargingStations(
                device_pb.ListChargingStationsRequest(page_size=1000)
            )
            return [s.id for s in got.charging_stations if s.id in ids and s.connected]

        async with asyncio.timeout(10):
            while await connected():  # noqa: ASYNC110 - device_svc's state, polled
                await asyncio.sleep(0.05)
    assert sum(batches) == STATIONS
    assert len(batches) < STATIONS  # together, not one call each
