"""Block O's DeviceService methods: proto ⇄ domain, nothing else.

:class:`DisplayMessagesServicer` is mixed into :class:`device_svc.servicer.DeviceServicer`,
which gives it ``display_messages`` and ``operations``.
"""

from __future__ import annotations

import grpc

from common.errors import InvalidArgument
from common.ocpp_json import to_ocpp
from csms.device.v1 import device_service_pb2 as pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.display_messages import convert
from device_svc.display_messages.service import DisplayMessages
from device_svc.operations import Operations

__all__ = ["MAX_STATIONS", "DisplayMessagesServicer"]

#: Stations one SetDisplayMessages / ClearDisplayMessages reaches at most.
MAX_STATIONS = 1000


def _stations(ids: list[str]) -> list[str]:
    if not ids:
        raise InvalidArgument("stationIds must name at least one station")
    if len(ids) > MAX_STATIONS:
        raise InvalidArgument(f"stationIds: at most {MAX_STATIONS}")
    if len(set(ids)) != len(ids):
        raise InvalidArgument("stationIds: a station is listed twice")
    return ids


class DisplayMessagesServicer:
    """NotifyDisplayMessages (from stations), ListDisplayMessages, and the commands to many
    stations at once."""

    display_messages: DisplayMessages
    operations: Operations

    async def NotifyDisplayMessages(
        self, request: pb.NotifyDisplayMessagesCall, context: grpc.aio.ServicerContext
    ) -> ocpp.NotifyDisplayMessagesResponse:
        await self.display_messages.report(request.station_id, to_ocpp(request.request))
        return ocpp.NotifyDisplayMessagesResponse()

    async def ListDisplayMessages(
        self, request: pb.ListDisplayMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDisplayMessagesResponse:
        priority, state = convert.filters(request)
        found = await self.display_messages.list(request.station_id, priority, state)
        return pb.ListDisplayMessagesResponse(
            display_messages=[convert.message_to_proto(request.station_id, m) for m in found]
        )

    async def SetDisplayMessages(
        self, request: pb.SetDisplayMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.DisplayMessagesAnswers:
        stations = _stations(list(request.station_ids))
        answers = await self.operations.fan_out(
            "SetDisplayMessage", stations, request.request, context.time_remaining()
        )
        return convert.answers_to_proto(answers)

    async def ClearDisplayMessages(
        self, request: pb.ClearDisplayMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.DisplayMessagesAnswers:
        stations = _stations(list(request.station_ids))
        answers = await self.operations.fan_out(
            "ClearDisplayMessage", stations, request.request, context.time_remaining()
        )
        return convert.answers_to_proto(answers)
