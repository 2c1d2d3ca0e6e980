"""Block N's log methods of DeviceService: proto ⇄ domain, nothing else.

:class:`LogsServicer` is mixed into :class:`device_svc.servicer.DeviceServicer`, which gives it
``logs`` and ``operations``.
"""

from __future__ import annotations

import datetime

import grpc

from common.columns import timestamp
from common.errors import InvalidArgument
from common.ocpp_json import ocpp_enum_value
from csms.device.v1 import device_service_pb2 as pb
from csms.device.v1 import files_pb2 as files
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.logs.models import StationLogRow
from device_svc.logs.service import Logs
from device_svc.operations import Operations

__all__ = ["LogsServicer", "log_to_proto"]


def log_to_proto(row: StationLogRow) -> files.StationLog:
    return files.StationLog(
        station_id=row.station_id,
        request_id=row.request_id,
        log_type=row.log_type,
        status=row.status,
        filename=row.filename,
        received=row.storage_key is not None,
        size=row.size,
        sha256=row.sha256,
        content_type=row.content_type,
        request_time=timestamp(row.requested_at),
        receive_time=timestamp(row.received_at),
        history=[
            files.LogStatusRecord(
                status=h["status"],
                receive_time=timestamp(datetime.datetime.fromisoformat(h["at"])),
            )
            for h in row.history
        ],
    )


class LogsServicer:
    logs: Logs
    operations: Operations

    async def LogStatusNotification(
        self, request: pb.LogStatusNotificationCall, context: grpc.aio.ServicerContext
    ) -> ocpp.LogStatusNotificationResponse:
        r = request.request
        await self.logs.status_notification(
            request.station_id,
            ocpp_enum_value(ocpp.UploadLogStatusEnum, r.status),
            r.request_id if r.HasField("request_id") else None,
        )
        return ocpp.LogStatusNotificationResponse()

    async def RequestLog(
        self, request: files.RequestLogRequest, context: grpc.aio.ServicerContext
    ) -> files.RequestLogResponse:
        if not request.log_type:
            raise InvalidArgument("logType is required: DiagnosticsLog or SecurityLog")
        get_log = ocpp.GetLogRequest(log_type=request.log_type)
        get_log.log.SetInParent()
        if request.HasField("oldest_timestamp"):
            get_log.log.oldest_timestamp.CopyFrom(request.oldest_timestamp)
        if request.HasField("latest_timestamp"):
            get_log.log.latest_timestamp.CopyFrom(request.latest_timestamp)
        if request.HasField("retries"):
            get_log.retries = request.retries
        if request.HasField("retry_interval"):
            get_log.retry_interval = request.retry_interval
        row, response = await self.logs.request(
            self.operations, request.station_id, get_log, context.time_remaining()
        )
        return files.RequestLogResponse(log=log_to_proto(row), response=response)

    async def ListStationLogs(
        self, request: files.ListStationLogsRequest, context: grpc.aio.ServicerContext
    ) -> files.ListStationLogsResponse:
        rows, token = await self.logs.list(
            request.station_id, request.page_size, request.page_token
        )
        return files.ListStationLogsResponse(
            logs=[log_to_proto(r) for r in rows], next_page_token=token
        )
