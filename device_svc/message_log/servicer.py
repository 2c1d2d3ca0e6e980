"""The message log's DeviceService methods: proto ⇄ domain, nothing else.

:class:`MessageLogServicer` is mixed into :class:`device_svc.servicer.DeviceServicer`, which
gives it ``message_log``.
"""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2, struct_pb2

from common.columns import timestamp, utc_datetime
from csms.device.v1 import device_service_pb2 as pb
from device_svc.message_log.domain import Frame
from device_svc.message_log.service import Batch, MessageLog

__all__ = ["MessageLogServicer"]


def _to_proto(frame: Frame) -> pb.StationMessage:
    msg = pb.StationMessage(
        id=frame.id,
        station_id=frame.station_id,
        time=timestamp(frame.at),
        direction=frame.direction,
        type=frame.type,
        message_id=frame.message_id,
        action=frame.action,
    )
    holder = struct_pb2.Struct()
    holder.update({"payload": frame.payload})
    msg.payload.CopyFrom(holder.fields["payload"])
    return msg


class MessageLogServicer:
    message_log: MessageLog

    async def RecordMessages(
        self, request: pb.RecordMessagesRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self.message_log.record(
            [
                Batch(
                    station_id=b.station_id,
                    first_at=utc_datetime(b.first_time),
                    last_at=utc_datetime(b.last_time),
                    frames=b.frames,
                    body=b.body,
                )
                for b in request.batches
            ]
        )
        return empty_pb2.Empty()

    async def ListStationMessages(
        self, request: pb.ListStationMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListStationMessagesResponse:
        frames, token = await self.message_log.page(
            request.station_id,
            utc_datetime(request.since) if request.HasField("since") else None,
            request.action,
            request.page_size,
            request.page_token,
        )
        return pb.ListStationMessagesResponse(
            messages=[_to_proto(f) for f in frames], next_page_token=token
        )
