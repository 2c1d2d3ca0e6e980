"""Block N's DeviceService methods: proto ⇄ domain, nothing else.

:class:`MonitoringServicer` is mixed into :class:`device_svc.servicer.DeviceServicer`, which
gives it ``monitoring``; the block's methods live here, not in the station servicer.
"""

from __future__ import annotations

import grpc

from csms.device.v1 import device_service_pb2 as pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.monitoring import convert
from device_svc.monitoring.service import Monitoring

__all__ = ["MonitoringServicer"]


class MonitoringServicer:
    """NotifyEvent (from stations, through the gateway) and ListEvents."""

    monitoring: Monitoring

    async def NotifyEvent(
        self, request: pb.NotifyEventCall, context: grpc.aio.ServicerContext
    ) -> ocpp.NotifyEventResponse:
        await self.monitoring.record_events(request.station_id, convert.event_part(request.request))
        return ocpp.NotifyEventResponse()

    async def ListEvents(
        self, request: pb.ListEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListEventsResponse:
        events, token = await self.monitoring.list_events(
            request.station_id,
            convert.event_filter(request),
            request.page_size,
            request.page_token,
        )
        return pb.ListEventsResponse(
            events=[convert.event_to_proto(e) for e in events], next_page_token=token
        )
