"""The message log's DeviceService methods: proto ⇄ domain, nothing else.

:class:`MessageLogServicer` is mixed into :class:`device_svc.servicer.DeviceServicer`, which
gives it ``message_log``.
"""

from __future__ import annotations

import grpc
import orjson
from google.protobuf import empty_pb2, struct_pb2

from common.columns import timestamp, utc_datetime
from csms.device.v1 import device_service_pb2 as pb
from device_svc.message_log.models import StationMessageRow
from device_svc.message_log.service import Frame, MessageLog

__all__ = ["MessageLogServicer"]


def _to_proto(row: StationMessageRow) -> pb.StationMessage:
    msg = pb.StationMessage(
        id=row.id,
        station_id=row.station_id,
        time=timestamp(row.at),
        direction=row.direction,
        type=row.type,
        message_id=row.message_id,
        action=row.action,
    )
    try:
        parsed = orjson.loads(row.payload)
    except orjson.JSONDecodeError:
        parsed = {"unparsed": row.payload}
    holder = struct_pb2.Struct()
    holder.update({"payload": parsed})
    msg.payload.CopyFrom(holder.fields["payload"])
    return msg


class MessageLogServicer:
    message_log: MessageLog

    async def RecordMessages(
        self, request: pb.RecordMessagesRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self.message_log.record(
            [
                Frame(
                    station_id=m.station_id,
                    at=utc_datetime(m.time),
                    direction=m.direction,
                    type=m.type,
                    message_id=m.message_id,
                    action=m.action,
                    payload=m.payload_json,
                )
                for m in request.messages
            ]
        )
        return empty_pb2.Empty()

    async def ListStationMessages(
        self, request: pb.ListStationMessagesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListStationMessagesResponse:
        rows, token = await self.message_log.page(
            request.station_id,
            utc_datetime(request.since) if request.HasField("since") else None,
            request.action,
            request.page_size,
            request.page_token,
        )
        return pb.ListStationMessagesResponse(
            messages=[_to_proto(r) for r in rows], next_page_token=token
        )
