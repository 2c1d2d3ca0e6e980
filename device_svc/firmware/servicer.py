"""Block L's DeviceService methods: proto ⇄ domain, nothing else.

:class:`FirmwareServicer` is mixed into :class:`device_svc.servicer.DeviceServicer`, which gives
it ``firmware`` and ``rollouts``.
"""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from common.columns import utc_datetime
from common.ocpp_json import ocpp_enum_value
from csms.device.v1 import device_service_pb2 as pb
from csms.device.v1 import files_pb2 as files
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.firmware import convert
from device_svc.firmware.rollouts import Rollouts, RolloutSpec
from device_svc.firmware.service import Firmware

__all__ = ["FirmwareServicer"]


class FirmwareServicer:
    firmware: Firmware
    rollouts: Rollouts

    async def FirmwareStatusNotification(
        self, request: pb.FirmwareStatusNotificationCall, context: grpc.aio.ServicerContext
    ) -> ocpp.FirmwareStatusNotificationResponse:
        r = request.request
        await self.firmware.status_notification(
            request.station_id,
            ocpp_enum_value(ocpp.FirmwareStatusEnum, r.status),
            r.request_id if r.HasField("request_id") else None,
        )
        return ocpp.FirmwareStatusNotificationResponse()

    async def PublishFirmwareStatusNotification(
        self,
        request: pb.PublishFirmwareStatusNotificationCall,
        context: grpc.aio.ServicerContext,
    ) -> ocpp.PublishFirmwareStatusNotificationResponse:
        r = request.request
        await self.firmware.publish_status_notification(
            request.station_id,
            ocpp_enum_value(ocpp.PublishFirmwareStatusEnum, r.status),
            list(r.location),
            r.request_id if r.HasField("request_id") else None,
        )
        return ocpp.PublishFirmwareStatusNotificationResponse()

    async def CreateFirmwareImage(
        self, request: files.CreateFirmwareImageRequest, context: grpc.aio.ServicerContext
    ) -> files.FirmwareImage:
        i = request.image
        row = await self.firmware.create_image(
            i.name, i.version, i.signature, i.signing_certificate
        )
        return convert.image_to_proto(row)

    async def GetFirmwareImage(
        self, request: files.GetFirmwareImageRequest, context: grpc.aio.ServicerContext
    ) -> files.FirmwareImage:
        return convert.image_to_proto(await self.firmware.get_image(request.id))

    async def ListFirmwareImages(
        self, request: files.ListFirmwareImagesRequest, context: grpc.aio.ServicerContext
    ) -> files.ListFirmwareImagesResponse:
        rows, token = await self.firmware.list_images(request.page_size, request.page_token)
        return files.ListFirmwareImagesResponse(
            images=[convert.image_to_proto(r) for r in rows], next_page_token=token
        )

    async def DeleteFirmwareImage(
        self, request: files.DeleteFirmwareImageRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self.firmware.delete_image(request.id)
        return empty_pb2.Empty()

    async def PublishFirmwareImage(
        self, request: files.PublishFirmwareImageRequest, context: grpc.aio.ServicerContext
    ) -> files.PublishFirmwareImageResponse:
        request_id, response = await self.rollouts.publish(
            request.image_id,
            request.station_id,
            request.retries if request.HasField("retries") else None,
            request.retry_interval if request.HasField("retry_interval") else None,
            context.time_remaining(),
        )
        return files.PublishFirmwareImageResponse(request_id=request_id, response=response)

    async def ListFirmwareStatus(
        self, request: files.ListFirmwareStatusRequest, context: grpc.aio.ServicerContext
    ) -> files.ListFirmwareStatusResponse:
        page = await self.firmware.status_page(
            request.station_id, request.page_size, request.page_token
        )
        return files.ListFirmwareStatusResponse(
            firmware_version=page.firmware_version,
            status=page.status,
            history=[convert.status_to_proto(r) for r in page.history],
            next_page_token=page.next_page_token,
        )

    async def CreateFirmwareRollout(
        self, request: files.CreateFirmwareRolloutRequest, context: grpc.aio.ServicerContext
    ) -> files.FirmwareRollout:
        r = request.rollout
        rollout, stations = await self.rollouts.create(
            RolloutSpec(
                image_id=r.image_id,
                station_ids=list(r.station_ids),
                wave_size=r.wave_size,
                wave_pause_seconds=r.wave_pause_seconds,
                max_failure_ratio=r.max_failure_ratio,
                retries=r.retries if r.HasField("retries") else None,
                retry_interval=r.retry_interval if r.HasField("retry_interval") else None,
                station_timeout_seconds=r.station_timeout_seconds or 3600,
                retrieve_at=utc_datetime(r.retrieve_time) if r.HasField("retrieve_time") else None,
                install_at=utc_datetime(r.install_time) if r.HasField("install_time") else None,
            )
        )
        return convert.rollout_to_proto(rollout, stations)

    async def GetFirmwareRollout(
        self, request: files.GetFirmwareRolloutRequest, context: grpc.aio.ServicerContext
    ) -> files.FirmwareRollout:
        return convert.rollout_to_proto(*await self.rollouts.get(request.id))

    async def ListFirmwareRollouts(
        self, request: files.ListFirmwareRolloutsRequest, context: grpc.aio.ServicerContext
    ) -> files.ListFirmwareRolloutsResponse:
        found, token = await self.rollouts.page(request.page_size, request.page_token)
        return files.ListFirmwareRolloutsResponse(
            rollouts=[convert.rollout_to_proto(r, s) for r, s in found], next_page_token=token
        )

    async def CancelFirmwareRollout(
        self, request: files.CancelFirmwareRolloutRequest, context: grpc.aio.ServicerContext
    ) -> files.FirmwareRollout:
        return convert.rollout_to_proto(*await self.rollouts.cancel(request.id))
