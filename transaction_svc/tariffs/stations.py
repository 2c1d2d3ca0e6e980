"""The running cost to the station: device_svc's CostUpdated command, over its channel."""

from __future__ import annotations

import logging
from decimal import Decimal

import grpc

from csms.device.v1 import device_service_pb2 as dev
from csms.device.v1 import device_service_pb2_grpc as dev_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp

__all__ = ["CostUpdateSender"]

log = logging.getLogger(__name__)


class CostUpdateSender:
    def __init__(self, channel: grpc.aio.Channel, timeout: float) -> None:
        self.stub = dev_grpc.DeviceServiceStub(channel)
        self.timeout = timeout

    async def cost_updated(self, station_id: str, transaction_id: str, total: Decimal) -> str:
        """CostUpdated; "Accepted" (the station answered) or why not."""
        request = ocpp.CostUpdatedRequest(total_cost=float(total), transaction_id=transaction_id)
        try:
            await self.stub.CostUpdated(
                dev.CostUpdatedCommand(station_id=station_id, request=request),
                timeout=self.timeout,
            )
        except grpc.aio.AioRpcError as exc:
            return f"{exc.code().name} {exc.details()}"
        return "Accepted"
