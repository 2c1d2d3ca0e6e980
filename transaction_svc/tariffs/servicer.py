"""Block I's TransactionService methods, mixed into
:class:`transaction_svc.servicer.TransactionServicer`."""

from __future__ import annotations

import datetime

import grpc
from google.api import httpbody_pb2
from google.protobuf import empty_pb2

from common.errors import InvalidArgument
from common.field_masks import update_fields
from csms.transaction.v1 import transaction_service_pb2 as pb
from transaction_svc.tariffs import convert
from transaction_svc.tariffs.models import ChargeDetailRecordRow
from transaction_svc.tariffs.service import Tariffs

__all__ = ["TariffsServicer"]


class TariffsServicer:
    tariffs: Tariffs

    async def CreateTariff(
        self, request: pb.CreateTariffRequest, context: grpc.aio.ServicerContext
    ) -> pb.Tariff:
        return convert.tariff_to_proto(await self.tariffs.create(convert.tariff_of(request.tariff)))

    async def GetTariff(
        self, request: pb.GetTariffRequest, context: grpc.aio.ServicerContext
    ) -> pb.Tariff:
        return convert.tariff_to_proto(await self.tariffs.get(request.id))

    async def ListTariffs(
        self, request: pb.ListTariffsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTariffsResponse:
        if request.page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        rows, token = await self.tariffs.list_tariffs(request.page_size, request.page_token)
        return pb.ListTariffsResponse(
            tariffs=[convert.tariff_to_proto(r) for r in rows], next_page_token=token
        )

    async def UpdateTariff(
        self, request: pb.UpdateTariffRequest, context: grpc.aio.ServicerContext
    ) -> pb.Tariff:
        fields = update_fields(
            request.tariff,
            request.update_mask,
            convert.MASK_PATHS,
            convert.tariff_fields(request.tariff),
        )
        return convert.tariff_to_proto(await self.tariffs.update(request.tariff.id, fields))

    async def DeleteTariff(
        self, request: pb.DeleteTariffRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self.tariffs.delete(request.id)
        return empty_pb2.Empty()

    async def _records(
        self, request: pb.ListChargeDetailRecordsRequest
    ) -> tuple[list[ChargeDetailRecordRow], str]:
        if request.page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        return await self.tariffs.records(
            station_id=request.station_id,
            id_token=request.id_token,
            since=request.since.ToDatetime(tzinfo=datetime.UTC)
            if request.HasField("since")
            else None,
            until=request.until.ToDatetime(tzinfo=datetime.UTC)
            if request.HasField("until")
            else None,
            page_size=request.page_size,
            page_token=request.page_token,
        )

    async def ListChargeDetailRecords(
        self, request: pb.ListChargeDetailRecordsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListChargeDetailRecordsResponse:
        rows, token = await self._records(request)
        return pb.ListChargeDetailRecordsResponse(
            charge_detail_records=[convert.record_to_proto(r) for r in rows],
            next_page_token=token,
        )

    async def ListChargeDetailRecordsCsv(
        self, request: pb.ListChargeDetailRecordsRequest, context: grpc.aio.ServicerContext
    ) -> httpbody_pb2.HttpBody:
        """CSV of one page (``page_size`` up to 1000); the next page's token in the
        ``x-next-page-token`` response header."""
        rows, token = await self._records(request)
        if token:
            await context.send_initial_metadata((("x-next-page-token", token),))
        return httpbody_pb2.HttpBody(
            content_type="text/csv; charset=utf-8", data=convert.records_csv(rows).encode()
        )
