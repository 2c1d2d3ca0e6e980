"""Block K's TransactionService methods: proto ⇄ domain, nothing else.

:class:`SmartChargingServicer` is mixed into :class:`transaction_svc.servicer.TransactionServicer`,
which gives it ``smart_charging``; the block's methods live here, not in the transaction servicer.
"""

from __future__ import annotations

from typing import Any

import grpc

from common import logging as log_ctx
from common.columns import enum_column, utc_datetime
from common.errors import InvalidArgument
from common.ocpp_json import proto_enum_number, to_proto
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as pb
from transaction_svc.load_manager.service import LoadManager
from transaction_svc.smart_charging import convert
from transaction_svc.smart_charging.service import SmartCharging

__all__ = ["SmartChargingServicer"]


def _profile(
    request: pb.ValidateChargingProfileRequest | pb.RecordChargingProfileRequest,
) -> dict[str, Any]:
    if not request.HasField("charging_profile"):
        raise InvalidArgument("charging_profile is required")
    return convert.json_of(request.charging_profile)


class SmartChargingServicer:
    """From device_svc: ValidateChargingProfile, RecordChargingProfile, ForgetChargingProfiles,
    ExpectChargingProfilesReport, RecordNoChargingProfiles. From stations (through the gateway):
    ReportChargingProfiles, NotifyChargingLimit, ClearedChargingLimit, NotifyEVChargingNeeds,
    NotifyEVChargingSchedule. Reads: ListChargingProfiles, ListChargingLimits,
    ListEVChargingNeeds, GetCompositeSchedule."""

    smart_charging: SmartCharging
    load_manager: LoadManager

    # -- from device_svc -----------------------------------------------------------------------

    async def ValidateChargingProfile(
        self, request: pb.ValidateChargingProfileRequest, context: grpc.aio.ServicerContext
    ) -> pb.ValidateChargingProfileResponse:
        log_ctx.station_id.set(request.station_id)
        await self.smart_charging.validate(
            request.station_id,
            request.evse_id,
            _profile(request),
            remote_start=request.remote_start,
        )
        return pb.ValidateChargingProfileResponse()

    async def RecordChargingProfile(
        self, request: pb.RecordChargingProfileRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordChargingProfileResponse:
        log_ctx.station_id.set(request.station_id)
        await self.smart_charging.record_profile(
            request.station_id,
            request.evse_id,
            _profile(request),
            remote_start_id=(
                request.remote_start_id if request.HasField("remote_start_id") else None
            ),
        )
        return pb.RecordChargingProfileResponse()

    async def ForgetChargingProfiles(
        self, request: pb.ForgetChargingProfilesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ForgetChargingProfilesResponse:
        log_ctx.station_id.set(request.station_id)
        removed = await self.smart_charging.forget(
            request.station_id, convert.json_of(request.cleared)
        )
        return pb.ForgetChargingProfilesResponse(removed=removed)

    async def ExpectChargingProfilesReport(
        self, request: pb.ExpectChargingProfilesReportRequest, context: grpc.aio.ServicerContext
    ) -> pb.ExpectChargingProfilesReportResponse:
        log_ctx.station_id.set(request.station_id)
        await self.smart_charging.expect_report(
            request.station_id, convert.json_of(request.request)
        )
        return pb.ExpectChargingProfilesReportResponse()

    async def RecordNoChargingProfiles(
        self, request: pb.RecordNoChargingProfilesRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordNoChargingProfilesResponse:
        log_ctx.station_id.set(request.station_id)
        removed = await self.smart_charging.no_profiles(request.station_id, request.request_id)
        return pb.RecordNoChargingProfilesResponse(removed=removed)

    # -- from stations -------------------------------------------------------------------------

    async def ReportChargingProfiles(
        self, request: pb.ReportChargingProfilesCall, context: grpc.aio.ServicerContext
    ) -> ocpp.ReportChargingProfilesResponse:
        log_ctx.station_id.set(request.station_id)
        await self.smart_charging.report(request.station_id, convert.json_of(request.request))
        return ocpp.ReportChargingProfilesResponse()

    async def NotifyChargingLimit(
        self, request: pb.NotifyChargingLimitCall, context: grpc.aio.ServicerContext
    ) -> ocpp.NotifyChargingLimitResponse:
        log_ctx.station_id.set(request.station_id)
        await self.smart_charging.notify_limit(request.station_id, convert.json_of(request.request))
        self.load_manager.touched(request.station_id)  # Its site's limits may have to follow.
        return ocpp.NotifyChargingLimitResponse()

    async def ClearedChargingLimit(
        self, request: pb.ClearedChargingLimitCall, context: grpc.aio.ServicerContext
    ) -> ocpp.ClearedChargingLimitResponse:
        log_ctx.station_id.set(request.station_id)
        await self.smart_charging.cleared_limit(
            request.station_id, convert.json_of(request.request)
        )
        self.load_manager.touched(request.station_id)
        return ocpp.ClearedChargingLimitResponse()

    async def NotifyEVChargingNeeds(
        self, request: pb.NotifyEVChargingNeedsCall, context: grpc.aio.ServicerContext
    ) -> ocpp.NotifyEVChargingNeedsResponse:
        log_ctx.station_id.set(request.station_id)
        status, reason, info = await self.smart_charging.ev_needs(
            request.station_id, convert.json_of(request.request)
        )
        if status == "Accepted":
            # K15.FR.03/07: the EVSE's transaction gets a TxProfile (sent again even when its
            # limit is unchanged) by the load manager when the EVSE is on a site.
            self.load_manager.renegotiate(request.station_id, request.request.evse_id)
        answer = ocpp.NotifyEVChargingNeedsResponse(
            status=proto_enum_number(ocpp.NotifyEVChargingNeedsStatusEnum, status)
        )
        if reason:
            answer.status_info.reason_code = reason
            answer.status_info.additional_info = info
        return answer

    async def NotifyEVChargingSchedule(
        self, request: pb.NotifyEVChargingScheduleCall, context: grpc.aio.ServicerContext
    ) -> ocpp.NotifyEVChargingScheduleResponse:
        log_ctx.station_id.set(request.station_id)
        status, info = await self.smart_charging.ev_schedule(
            request.station_id, convert.json_of(request.request)
        )
        answer = ocpp.NotifyEVChargingScheduleResponse(
            status=proto_enum_number(ocpp.GenericStatusEnum, status)
        )
        if info:
            answer.status_info.reason_code = "ExceedsLimit"
            answer.status_info.additional_info = info
            # K15.FR.13: a new negotiation, the EVSE's TxProfile sent again (a site's EVSE).
            self.load_manager.renegotiate(request.station_id, request.request.evse_id)
        return answer

    # -- reads ---------------------------------------------------------------------------------

    async def ListChargingProfiles(
        self, request: pb.ListChargingProfilesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListChargingProfilesResponse:
        profiles = await self.smart_charging.list_profiles(
            request.station_id, convert.profile_filter(request)
        )
        return pb.ListChargingProfilesResponse(
            charging_profiles=[convert.profile_to_proto(request.station_id, p) for p in profiles]
        )

    async def ListChargingLimits(
        self, request: pb.ListChargingLimitsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListChargingLimitsResponse:
        rows = await self.smart_charging.list_limits(request.station_id)
        return pb.ListChargingLimitsResponse(
            charging_limits=[convert.limit_to_proto(r) for r in rows]
        )

    async def ListEVChargingNeeds(
        self, request: pb.ListEVChargingNeedsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListEVChargingNeedsResponse:
        needs, schedules = await self.smart_charging.list_needs(request.station_id)
        return pb.ListEVChargingNeedsResponse(
            ev_charging_needs=[convert.ev_charging_needs_to_proto(r) for r in needs],
            ev_charging_schedules=[convert.ev_charging_schedule_to_proto(r) for r in schedules],
        )

    async def GetCompositeSchedule(
        self, request: pb.GetCompositeScheduleRequest, context: grpc.aio.ServicerContext
    ) -> ocpp.CompositeSchedule:
        unit = enum_column(ocpp.ChargingRateUnitEnum, request.charging_rate_unit, "unit")
        schedule = await self.smart_charging.composite(
            request.station_id,
            request.evse_id,
            request.duration,
            unit or None,
            utc_datetime(request.schedule_start) if request.HasField("schedule_start") else None,
        )
        composite = to_proto(ocpp.CompositeSchedule, schedule)
        assert isinstance(composite, ocpp.CompositeSchedule)
        return composite
