"""The TransactionService methods of sites, mixed into
:class:`transaction_svc.servicer.TransactionServicer`."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from common.errors import InvalidArgument
from common.field_masks import update_fields
from csms.transaction.v1 import transaction_service_pb2 as pb
from transaction_svc.load_manager.convert import MASK_PATHS, site_to_proto, spec_fields, spec_of
from transaction_svc.load_manager.service import LoadManager

__all__ = ["SitesServicer"]


class SitesServicer:
    load_manager: LoadManager

    async def CreateSite(
        self, request: pb.CreateSiteRequest, context: grpc.aio.ServicerContext
    ) -> pb.Site:
        return site_to_proto(await self.load_manager.create(spec_of(request.site)))

    async def GetSite(
        self, request: pb.GetSiteRequest, context: grpc.aio.ServicerContext
    ) -> pb.Site:
        return site_to_proto(await self.load_manager.get(request.id))

    async def ListSites(
        self, request: pb.ListSitesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSitesResponse:
        if request.page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        views, token = await self.load_manager.list(request.page_size, request.page_token)
        return pb.ListSitesResponse(sites=[site_to_proto(v) for v in views], next_page_token=token)

    async def UpdateSite(
        self, request: pb.UpdateSiteRequest, context: grpc.aio.ServicerContext
    ) -> pb.Site:
        fields = update_fields(
            request.site, request.update_mask, MASK_PATHS, spec_fields(request.site)
        )
        return site_to_proto(await self.load_manager.update(request.site.id, fields))

    async def DeleteSite(
        self, request: pb.DeleteSiteRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self.load_manager.delete(request.id)
        return empty_pb2.Empty()
