"""FleetService and its REST face: proto ⇄ domain, nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.protobuf import struct_pb2

from common.columns import timestamp
from common.errors import InvalidArgument
from common.ocpp_json import proto_enum_number
from common.rest import RestFacade
from common.rest_json import to_struct
from csms.device.v1 import device_service_pb2 as device_pb
from csms.device.v1 import fleet_pb2 as pb
from csms.device.v1 import fleet_pb2_grpc as pb_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.fleet.domain import FleetCounts
from device_svc.fleet.service import Fleet, FleetUpdate, StationState

__all__ = ["REST_SERVICE", "FleetServicer", "fleet_rest"]

REST_SERVICE = pb.DESCRIPTOR.services_by_name["FleetRestService"]

_KEEPALIVE_DEFAULT, _KEEPALIVE_MAX = 15, 60


def summary_to_proto(counts: FleetCounts) -> pb.FleetSummary:
    return pb.FleetSummary(
        stations=counts.stations,
        connected=counts.connected,
        offline=counts.offline,
        faulted=counts.faulted,
        charging=counts.charging or 0,
        charging_known=counts.charging is not None,
    )


def state_to_proto(state: StationState) -> pb.StationState:
    msg = pb.StationState(
        id=state.id,
        connected=state.connected,
        status=state.status,
        last_heartbeat_at=timestamp(state.last_heartbeat_at),
    )
    evses: dict[int, device_pb.Evse] = {}
    for evse_id, connector_id, status, status_time in state.connectors:
        evse = evses.get(evse_id)
        if evse is None:
            evse = evses[evse_id] = msg.evses.add(id=evse_id)
        evse.connectors.add(
            id=connector_id,
            status=proto_enum_number(ocpp.ConnectorStatusEnum, status),
            status_time=timestamp(status_time),
        )
    return msg


def update_to_proto(update: FleetUpdate) -> pb.FleetUpdate:
    return pb.FleetUpdate(
        summary=summary_to_proto(update.counts),
        stations=[state_to_proto(s) for s in update.stations],
        time=timestamp(update.time),
    )


def _keepalive(request: pb.WatchFleetRequest) -> int:
    if request.keepalive_seconds < 0 or request.keepalive_seconds > _KEEPALIVE_MAX:
        raise InvalidArgument(f"keepaliveSeconds: between 1 and {_KEEPALIVE_MAX}")
    return request.keepalive_seconds or _KEEPALIVE_DEFAULT


class FleetServicer(pb_grpc.FleetServiceServicer):
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    async def GetFleetSummary(
        self, request: pb.GetFleetSummaryRequest, context: grpc.aio.ServicerContext
    ) -> pb.FleetSummary:
        return summary_to_proto(await self.fleet.summary())

    async def WatchFleet(
        self, request: pb.WatchFleetRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.FleetUpdate]:
        async for update in self.fleet.watch(request.station_ids, _keepalive(request)):
            yield update_to_proto(update)


def fleet_rest(servicer: FleetServicer) -> RestFacade:
    """FleetRestService over ``servicer``: the summary through the generic facade, the watch as
    a stream of Structs (each update in the REST API's JSON)."""

    async def watch(
        request: pb.WatchFleetRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[struct_pb2.Struct]:
        async for update in servicer.WatchFleet(request, context):
            yield to_struct(update)

    return RestFacade(REST_SERVICE, servicer, handlers={"WatchFleet": watch})  # type: ignore[dict-item]
