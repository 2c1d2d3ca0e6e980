"""DeviceService over gRPC: proto ⇄ domain, nothing else."""

from __future__ import annotations

import datetime

import grpc
from google.protobuf import empty_pb2, timestamp_pb2

from common.ocpp_json import ocpp_enum_value, proto_enum_number
from csms.device.v1 import device_service_pb2 as pb
from csms.device.v1 import device_service_pb2_grpc as pb_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.models import Station
from device_svc.service import Devices

__all__ = ["DeviceServicer", "station_to_proto"]

# update_mask paths (and sub-paths) → columns.
_MASK_COLUMNS = {
    "serial_number": ("serial_number",),
    "model": ("model",),
    "vendor_name": ("vendor_name",),
    "firmware_version": ("firmware_version",),
    "modem": ("modem_iccid", "modem_imsi"),
    "modem.iccid": ("modem_iccid",),
    "modem.imsi": ("modem_imsi",),
    "location": ("location_lat", "location_lng"),
    "location.lat": ("location_lat",),
    "location.lng": ("location_lng",),
}


def _ts(value: datetime.datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def _columns(cs: pb.ChargingStation) -> dict[str, object]:
    """Every writable column as the message gives it."""
    return {
        "serial_number": cs.serial_number,
        "model": cs.model,
        "vendor_name": cs.vendor_name,
        "firmware_version": cs.firmware_version,
        "modem_iccid": cs.modem.iccid,
        "modem_imsi": cs.modem.imsi,
        "location_lat": cs.location.lat if cs.HasField("location") else None,
        "location_lng": cs.location.lng if cs.HasField("location") else None,
    }


def station_to_proto(station: Station) -> pb.ChargingStation:
    msg = pb.ChargingStation(
        id=station.id,
        serial_number=station.serial_number,
        model=station.model,
        vendor_name=station.vendor_name,
        firmware_version=station.firmware_version,
        connected=station.connected,
        last_boot_at=_ts(station.last_boot_at),
        last_heartbeat_at=_ts(station.last_heartbeat_at),
        create_time=_ts(station.created_at),
        update_time=_ts(station.updated_at),
    )
    if station.modem_iccid or station.modem_imsi:
        msg.modem.iccid, msg.modem.imsi = station.modem_iccid, station.modem_imsi
    if station.location_lat is not None and station.location_lng is not None:
        msg.location.lat, msg.location.lng = station.location_lat, station.location_lng
    if station.boot_reason:
        msg.boot_reason = proto_enum_number(ocpp.BootReasonEnum, station.boot_reason)
    evses: dict[int, pb.Evse] = {}
    for c in station.connectors:
        evse = evses.get(c.evse_id)
        if evse is None:
            evse = evses[c.evse_id] = msg.evses.add(id=c.evse_id)
        evse.connectors.add(
            id=c.connector_id,
            status=proto_enum_number(ocpp.ConnectorStatusEnum, c.status),
            status_time=_ts(c.status_time),
        )
    return msg


class DeviceServicer(pb_grpc.DeviceServiceServicer):
    def __init__(self, devices: Devices) -> None:
        self.devices = devices

    async def CreateChargingStation(self, request, context):  # type: ignore[no-untyped-def]
        cs = request.charging_station
        station = await self.devices.create(cs.id, _columns(cs))
        return station_to_proto(station)

    async def GetChargingStation(self, request, context):  # type: ignore[no-untyped-def]
        return station_to_proto(await self.devices.get(request.id))

    async def ListChargingStations(self, request, context):  # type: ignore[no-untyped-def]
        rows, token = await self.devices.list(request.page_size, request.page_token)
        return pb.ListChargingStationsResponse(
            charging_stations=[station_to_proto(s) for s in rows], next_page_token=token
        )

    async def UpdateChargingStation(self, request, context):  # type: ignore[no-untyped-def]
        cs = request.charging_station
        given = _columns(cs)
        if request.update_mask.paths:
            names: list[str] = []
            for path in request.update_mask.paths:
                if path not in _MASK_COLUMNS:
                    await context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT, f"update_mask: {path} is not writable"
                    )
                names.extend(_MASK_COLUMNS[path])
            fields = {n: given[n] for n in names}
        else:
            # No mask: PATCH the fields the body sets.
            fields = {n: v for n, v in given.items() if v not in ("", None)}
        return station_to_proto(await self.devices.update(cs.id, fields))

    async def DeleteChargingStation(self, request, context):  # type: ignore[no-untyped-def]
        await self.devices.delete(request.id)
        return empty_pb2.Empty()

    async def ConnectStation(self, request, context):  # type: ignore[no-untyped-def]
        station = await self.devices.connect(
            request.station_id, request.auto_register, request.gateway
        )
        return pb.ConnectStationResponse(
            charging_station=station_to_proto(station), epoch=station.epoch
        )

    async def DisconnectStation(self, request, context):  # type: ignore[no-untyped-def]
        await self.devices.disconnect(request.station_id, request.epoch)
        return empty_pb2.Empty()

    async def BootNotification(self, request, context):  # type: ignore[no-untyped-def]
        req = request.request
        cs = req.charging_station
        reported = {
            "model": cs.model,
            "vendor_name": cs.vendor_name,
            "serial_number": cs.serial_number,
            "firmware_version": cs.firmware_version,
            "modem_iccid": cs.modem.iccid,
            "modem_imsi": cs.modem.imsi,
        }
        reason = ocpp_enum_value(ocpp.BootReasonEnum, req.reason)
        known = await self.devices.boot(request.station_id, reason, reported)
        return ocpp.BootNotificationResponse(
            current_time=_ts(self.devices.clock()),
            interval=self.devices.heartbeat_interval,
            status=ocpp.REGISTRATION_STATUS_ACCEPTED
            if known
            else ocpp.REGISTRATION_STATUS_REJECTED,
        )

    async def Heartbeat(self, request, context):  # type: ignore[no-untyped-def]
        now = await self.devices.heartbeat(request.station_id)
        return ocpp.HeartbeatResponse(current_time=_ts(now))

    async def StatusNotification(self, request, context):  # type: ignore[no-untyped-def]
        req = request.request
        await self.devices.status(
            request.station_id,
            req.evse_id,
            req.connector_id,
            ocpp_enum_value(ocpp.ConnectorStatusEnum, req.connector_status),
            req.timestamp.ToDatetime(tzinfo=datetime.UTC),
        )
        return ocpp.StatusNotificationResponse()
