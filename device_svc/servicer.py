"""DeviceService over gRPC: proto ⇄ domain, nothing else."""

from __future__ import annotations

import datetime
import pathlib
from collections.abc import Callable, Coroutine
from typing import Any, cast

import grpc
from google.protobuf import empty_pb2

from common import grpc_server, pki
from common.columns import utc_datetime
from common.errors import InvalidArgument
from common.ocpp_json import ocpp_enum_value, proto_enum_number
from csms.device.v1 import device_service_pb2 as pb
from csms.device.v1 import device_service_pb2_grpc as pb_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc import convert
from device_svc.convert import timestamp as _ts
from device_svc.credentials import Presented
from device_svc.display_messages.service import DisplayMessages
from device_svc.display_messages.servicer import DisplayMessagesServicer
from device_svc.domain import CustomerInformationPart, SecurityEvent
from device_svc.files import FileBlocks, FileSettings, build
from device_svc.firmware.servicer import FirmwareServicer
from device_svc.logs.servicer import LogsServicer
from device_svc.message_log.service import MessageLog
from device_svc.message_log.servicer import MessageLogServicer
from device_svc.models import StationLike
from device_svc.monitoring.alerts import Alerts
from device_svc.monitoring.monitors import Monitors
from device_svc.monitoring.service import Monitoring
from device_svc.monitoring.servicer import MonitoringServicer
from device_svc.operations import ACTIONS, GatewayError, Operations, PasswordUpdate
from device_svc.plug_and_charge.embedded import EmbeddedPki
from device_svc.plug_and_charge.ocsp_client import OcspClient
from device_svc.plug_and_charge.service import EmbeddedProvider, PlugAndCharge
from device_svc.plug_and_charge.servicer import PlugAndChargeServicer
from device_svc.service import Devices, is_reachable

__all__ = ["DeviceServicer", "password_update_to_proto", "station_to_proto"]

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
    "registration_status": ("registration_status",),
    "accept_after_base_report": ("accept_after_base_report",),
    "security_profile": ("security_profile",),
    "basic_auth_password": ("basic_auth_password",),
}


def _columns(cs: pb.ChargingStation) -> dict[str, object]:
    """Every writable column as the message gives it (None: not given)."""
    return {
        "serial_number": cs.serial_number,
        "model": cs.model,
        "vendor_name": cs.vendor_name,
        "firmware_version": cs.firmware_version,
        "modem_iccid": cs.modem.iccid,
        "modem_imsi": cs.modem.imsi,
        "location_lat": cs.location.lat if cs.HasField("location") else None,
        "location_lng": cs.location.lng if cs.HasField("location") else None,
        "registration_status": ocpp_enum_value(ocpp.RegistrationStatusEnum, cs.registration_status)
        if cs.registration_status
        else None,
        "accept_after_base_report": cs.accept_after_base_report,
        "security_profile": cs.security_profile,
        "basic_auth_password": cs.basic_auth_password or None,
    }


def station_to_proto(station: StationLike, now: datetime.datetime) -> pb.ChargingStation:
    reachable = is_reachable(station, now)
    msg = pb.ChargingStation(
        id=station.id,
        serial_number=station.serial_number,
        model=station.model,
        vendor_name=station.vendor_name,
        firmware_version=station.firmware_version,
        connected=reachable,
        last_boot_at=_ts(station.last_boot_at),
        last_heartbeat_at=_ts(station.last_heartbeat_at),
        create_time=_ts(station.created_at),
        update_time=_ts(station.updated_at),
        registration_status=proto_enum_number(
            ocpp.RegistrationStatusEnum, station.registration_status
        ),
        accept_after_base_report=station.accept_after_base_report,
        gateway=station.gateway if reachable else "",
        security_profile=station.security_profile,
        password_set=station.password_hash is not None,
        protocol=station.protocol,
    )
    if station.pending_security_profile is not None:
        msg.pending_security_profile = station.pending_security_profile
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
        connector = evse.connectors.add(
            id=c.connector_id,
            status=proto_enum_number(ocpp.ConnectorStatusEnum, c.status),
            status_time=_ts(c.status_time),
        )
        if c.ocpp16_status:
            connector.ocpp16.CopyFrom(
                pb.Ocpp16ConnectorStatus(
                    status=c.ocpp16_status,
                    error_code=c.ocpp16_error_code,
                    info=c.ocpp16_info,
                    vendor_id=c.ocpp16_vendor_id,
                    vendor_error_code=c.ocpp16_vendor_error_code,
                )
            )
    return msg


def _ocpp16_columns(status: pb.Ocpp16ConnectorStatus) -> dict[str, str]:
    """A 1.6 StatusNotification's own fields as the connector's columns."""
    if not status.status:
        raise InvalidArgument("ocpp16.status is required when ocpp16 is set")
    return {
        "ocpp16_status": status.status,
        "ocpp16_error_code": status.error_code,
        "ocpp16_info": status.info,
        "ocpp16_vendor_id": status.vendor_id,
        "ocpp16_vendor_error_code": status.vendor_error_code,
    }


def password_update_to_proto(update: PasswordUpdate) -> pb.UpdateBasicAuthPasswordResponse:
    return pb.UpdateBasicAuthPasswordResponse(
        status=cast(ocpp.SetVariableStatusEnum.ValueType, update.status),
        password_changed=update.changed,
        password_pending=update.pending,
        set_variables_response=update.response,
    )


def _default_plug_and_charge() -> PlugAndCharge:
    """Tests that build a DeviceServicer by hand: the embedded PKI of the default settings
    (created only if a Plug & Charge RPC is called)."""
    embedded = EmbeddedPki(pathlib.Path("var/pnc"), "")
    return PlugAndCharge(EmbeddedProvider(embedded), OcspClient(5.0), embedded)


class DeviceServicer(
    MonitoringServicer,
    DisplayMessagesServicer,
    FirmwareServicer,
    LogsServicer,
    MessageLogServicer,
    PlugAndChargeServicer,
    pb_grpc.DeviceServiceServicer,
):
    """The operation RPCs (Reset, ..., CustomerInformation) are added below from ACTIONS; block
    N's (NotifyEvent, ListEvents) come from :class:`MonitoringServicer`, block O's
    (NotifyDisplayMessages, ListDisplayMessages, SetDisplayMessages, ClearDisplayMessages) from
    :class:`DisplayMessagesServicer`."""

    def __init__(
        self,
        devices: Devices,
        operations: Operations,
        monitoring: Monitoring,
        display_messages: DisplayMessages | None = None,
        monitors: Monitors | None = None,
        alerts: Alerts | None = None,
        blocks: FileBlocks | None = None,
        message_log: MessageLog | None = None,
        plug_and_charge: PlugAndCharge | None = None,
    ) -> None:
        self.devices = devices
        self.plug_and_charge = plug_and_charge or _default_plug_and_charge()
        self.message_log = message_log or MessageLog(devices.sessions, clock=devices.clock)
        self.operations = operations
        self.monitoring = monitoring
        self.display_messages = display_messages or DisplayMessages(devices.sessions, devices.clock)
        self.monitors = monitors or Monitors(devices.sessions, devices.clock)
        self.alerts = alerts or Alerts(devices.sessions, clock=devices.clock)
        blocks = blocks or build(devices.sessions, FileSettings(), operations, devices.clock)
        self.firmware, self.logs, self.rollouts = blocks.firmware, blocks.logs, blocks.rollouts

    def _proto(self, station: StationLike) -> pb.ChargingStation:
        return station_to_proto(station, self.devices.clock())

    # -- stations ------------------------------------------------------------------------------

    async def CreateChargingStation(
        self, request: pb.CreateChargingStationRequest, context: grpc.aio.ServicerContext
    ) -> pb.ChargingStation:
        cs = request.charging_station
        station = await self.devices.create(cs.id, _columns(cs))
        return self._proto(station)

    async def GetChargingStation(
        self, request: pb.GetChargingStationRequest, context: grpc.aio.ServicerContext
    ) -> pb.ChargingStation:
        return self._proto(await self.devices.get(request.id))

    async def ListChargingStations(
        self, request: pb.ListChargingStationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListChargingStationsResponse:
        rows, token = await self.devices.list(
            request.page_size, request.page_token, request.id_contains, request.status
        )
        return pb.ListChargingStationsResponse(
            charging_stations=[self._proto(s) for s in rows], next_page_token=token
        )

    async def UpdateChargingStation(
        self, request: pb.UpdateChargingStationRequest, context: grpc.aio.ServicerContext
    ) -> pb.ChargingStation:
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
            if "registration_status" in fields and fields["registration_status"] is None:
                raise InvalidArgument("registration_status must be given")
            if "basic_auth_password" in fields and fields["basic_auth_password"] is None:
                raise InvalidArgument("basic_auth_password must be given")
        else:
            # No mask: PATCH the fields the body sets.
            fields = {
                n: v
                for n, v in given.items()
                if v not in ("", None)
                and not (n == "accept_after_base_report" and v is False)
                # 0 is the unset default: a PATCH without a mask never lowers the profile.
                and not (n == "security_profile" and v == 0)
            }
        return self._proto(await self.devices.update(cs.id, fields))

    async def DeleteChargingStation(
        self, request: pb.DeleteChargingStationRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        route = await self.devices.delete(request.id)
        if route is not None:
            # At once, not at the gateway's next lease renewal (which would close it too).
            await self.operations.gateways.disconnect(request.id, route, "charging station deleted")
        return empty_pb2.Empty()

    async def AcceptChargingStation(
        self, request: pb.AcceptChargingStationRequest, context: grpc.aio.ServicerContext
    ) -> pb.ChargingStation:
        return self._proto(await self.operations.accept(request.id))

    async def UpdateBasicAuthPassword(
        self, request: pb.UpdateBasicAuthPasswordRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateBasicAuthPasswordResponse:
        try:
            update = await self.operations.update_basic_auth_password(
                request.station_id, context.time_remaining()
            )
        except GatewayError as exc:
            await context.abort(exc.code, exc.details, exc.trailing_metadata)
        return password_update_to_proto(update)

    # -- connections ---------------------------------------------------------------------------

    async def ConnectStation(
        self, request: pb.ConnectStationRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConnectStationResponse:
        if request.lease_seconds < 0:
            raise InvalidArgument("lease_seconds must not be negative")
        station = await self.devices.connect(
            request.station_id,
            request.auto_register,
            request.gateway,
            request.lease_seconds,
            Presented(
                password=request.password,
                secure_transport=request.secure_transport,
                client_certificate_cn=request.client_certificate_cn,
                client_certificate_organization=request.client_certificate_organization,
            ),
            request.allow_unsecured,
            request.protocol,
            request.gateway_lease,
        )
        return pb.ConnectStationResponse(
            charging_station=self._proto(station),
            epoch=station.epoch,
            under_gateway_lease=station.gateway_lease is not None,
        )

    async def ConnectStations(
        self, request: pb.ConnectStationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConnectStationsResponse:
        """Each item as ConnectStation would answer it; their writes share group commits."""
        return await grpc_server.answer_each(
            request, lambda call: self.ConnectStation(call, context), pb.ConnectStationsResponse
        )

    async def DisconnectStation(
        self, request: pb.DisconnectStationRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        await self.devices.disconnect(request.station_id, request.epoch)
        return empty_pb2.Empty()

    async def DisconnectStations(
        self, request: pb.DisconnectStationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.DisconnectStationsResponse:
        """Each item as DisconnectStation would answer it; their writes share group commits."""
        return await grpc_server.answer_each(
            request,
            lambda call: self.DisconnectStation(call, context),
            pb.DisconnectStationsResponse,
        )

    async def RenewGatewayLease(
        self, request: pb.RenewGatewayLeaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.RenewGatewayLeaseResponse:
        moves, more = await self.devices.renew_gateway_lease(
            request.gateway, request.gateway_lease, request.ttl_seconds, request.acknowledged
        )
        return pb.RenewGatewayLeaseResponse(
            moves=[
                pb.StationMove(id=i, station_id=sid, epoch=epoch, reason=reason)
                for i, sid, epoch, reason in moves
            ],
            more=more,
        )

    async def RenewLeases(
        self, request: pb.RenewLeasesRequest, context: grpc.aio.ServicerContext
    ) -> pb.RenewLeasesResponse:
        lost = await self.devices.renew_leases(
            request.gateway,
            [(s.station_id, s.epoch) for s in request.stations],
            request.ttl_seconds,
        )
        return pb.RenewLeasesResponse(lost=lost)

    # -- OCPP messages from stations -----------------------------------------------------------

    async def BootNotification(
        self, request: pb.BootNotificationCall, context: grpc.aio.ServicerContext
    ) -> ocpp.BootNotificationResponse:
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
        outcome = await self.operations.boot(request.station_id, reason, reported)
        return ocpp.BootNotificationResponse(
            current_time=_ts(self.devices.clock()),
            interval=self.devices.heartbeat_interval,
            status=proto_enum_number(ocpp.RegistrationStatusEnum, outcome.status),
        )

    async def BootNotifications(
        self, request: pb.BootNotificationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.BootNotificationsResponse:
        """Each item as BootNotification would answer it; their writes share group commits."""
        return await grpc_server.answer_each(
            request,
            lambda call: self.BootNotification(call, context),
            pb.BootNotificationsResponse,
        )

    async def Heartbeat(
        self, request: pb.HeartbeatCall, context: grpc.aio.ServicerContext
    ) -> ocpp.HeartbeatResponse:
        now = await self.devices.heartbeat(request.station_id)
        return ocpp.HeartbeatResponse(current_time=_ts(now))

    async def RecordHeartbeats(
        self, request: pb.RecordHeartbeatsRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        # A station listed twice (a retried batch merged with a new one) keeps its latest time.
        latest: dict[str, datetime.datetime] = {}
        for beat in request.heartbeats:
            if not beat.station_id or not beat.HasField("time"):
                continue
            at = utc_datetime(beat.time)
            if beat.station_id not in latest or at > latest[beat.station_id]:
                latest[beat.station_id] = at
        await self.devices.record_heartbeats(list(latest.items()))
        return empty_pb2.Empty()

    async def StatusNotification(
        self, request: pb.StatusNotificationCall, context: grpc.aio.ServicerContext
    ) -> ocpp.StatusNotificationResponse:
        req = request.request
        await self.devices.status(
            request.station_id,
            req.evse_id,
            req.connector_id,
            ocpp_enum_value(ocpp.ConnectorStatusEnum, req.connector_status),
            utc_datetime(req.timestamp),
            _ocpp16_columns(request.ocpp16) if request.HasField("ocpp16") else None,
        )
        return ocpp.StatusNotificationResponse()

    async def StatusNotifications(
        self, request: pb.StatusNotificationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.StatusNotificationsResponse:
        """Each item as StatusNotification would answer it; their writes share group commits."""
        return await grpc_server.answer_each(
            request,
            lambda call: self.StatusNotification(call, context),
            pb.StatusNotificationsResponse,
        )

    async def NotifyReport(
        self, request: pb.NotifyReportCall, context: grpc.aio.ServicerContext
    ) -> ocpp.NotifyReportResponse:
        req = request.request
        await self.operations.record_report(
            request.station_id,
            req.request_id,
            req.seq_no,
            req.tbc,
            utc_datetime(req.generated_at),
            convert.reported_variables(req.report_data),
        )
        return ocpp.NotifyReportResponse()

    async def NotifyCustomerInformation(
        self, request: pb.NotifyCustomerInformationCall, context: grpc.aio.ServicerContext
    ) -> ocpp.NotifyCustomerInformationResponse:
        req = request.request
        await self.devices.record_customer_information(
            request.station_id,
            CustomerInformationPart(
                request_id=req.request_id,
                seq_no=req.seq_no,
                data=req.data,
                tbc=req.tbc,
                generated_at=utc_datetime(req.generated_at),
            ),
        )
        return ocpp.NotifyCustomerInformationResponse()

    async def StationDataTransfer(
        self, request: pb.DataTransferCall, context: grpc.aio.ServicerContext
    ) -> ocpp.DataTransferResponse:
        # We implement no vendor extension, so every vendorId is unknown to us.
        return ocpp.DataTransferResponse(status=ocpp.DATA_TRANSFER_STATUS_UNKNOWN_VENDOR_ID)

    async def SecurityEventNotification(
        self, request: pb.SecurityEventNotificationCall, context: grpc.aio.ServicerContext
    ) -> ocpp.SecurityEventNotificationResponse:
        req = request.request
        await self.devices.record_security_event(
            request.station_id,
            SecurityEvent(
                type=req.type, timestamp=utc_datetime(req.timestamp), tech_info=req.tech_info
            ),
        )
        # A firmware's signature or certificate refused: its rollout is told.
        await self.firmware.security_event(request.station_id, req.type)
        return ocpp.SecurityEventNotificationResponse()

    async def SignCertificate(
        self, request: pb.SignCertificateCall, context: grpc.aio.ServicerContext
    ) -> ocpp.SignCertificateResponse:
        req = request.request
        usage = (
            cast(pki.CertificateUse, ocpp_enum_value(ocpp.CertificateSigningUseEnum, t))
            if (t := req.certificate_type)
            else None
        )
        outcome = await self.operations.sign_certificate(request.station_id, req.csr, usage)
        if outcome.accepted:
            return ocpp.SignCertificateResponse(status=ocpp.GENERIC_STATUS_ACCEPTED)
        return ocpp.SignCertificateResponse(
            status=ocpp.GENERIC_STATUS_REJECTED,
            status_info=ocpp.StatusInfo(
                reason_code=outcome.reason_code, additional_info=outcome.additional_info
            ),
        )

    # -- what the CSMS keeps -------------------------------------------------------------------

    async def ListVariables(
        self, request: pb.ListVariablesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListVariablesResponse:
        rows, token = await self.devices.list_variables(
            request.station_id,
            request.component,
            request.variable,
            request.page_size,
            request.page_token,
        )
        return pb.ListVariablesResponse(
            variables=[convert.variable_to_proto(r) for r in rows], next_page_token=token
        )

    async def ListSecurityEvents(
        self, request: pb.ListSecurityEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSecurityEventsResponse:
        events, token = await self.devices.list_security_events(
            request.station_id, request.page_size, request.page_token
        )
        return pb.ListSecurityEventsResponse(
            security_events=[
                pb.SecurityEvent(
                    type=e.type,
                    timestamp=_ts(e.timestamp),
                    tech_info=e.tech_info,
                    receive_time=_ts(e.received_at),
                )
                for e in events
            ],
            next_page_token=token,
        )

    async def ListCustomerInformation(
        self, request: pb.ListCustomerInformationRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCustomerInformationResponse:
        parts = await self.devices.list_customer_information(
            request.station_id, request.request_id if request.HasField("request_id") else None
        )
        return pb.ListCustomerInformationResponse(
            parts=[
                pb.CustomerInformation(
                    request_id=p.request_id,
                    seq_no=p.seq_no,
                    data=p.data,
                    generated_at=_ts(p.generated_at),
                    tbc=p.tbc,
                )
                for p in parts
            ]
        )


def _operation(
    action: str,
) -> Callable[[DeviceServicer, Any, grpc.aio.ServicerContext], Coroutine[Any, Any, Any]]:
    """The servicer method of one operation RPC: ``<action>(<action>Command)``."""

    # request: the ``<action>Command`` message of the action, known only at run time.
    async def method(self: DeviceServicer, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await self.operations.call(
                action, request.station_id, request.request, context.time_remaining()
            )
        except GatewayError as exc:
            await context.abort(exc.code, exc.details, exc.trailing_metadata)

    method.__name__ = method.__qualname__ = action
    method.__doc__ = f"OCPP {action} to the station, through the gateway holding it."
    return method


for _action in ACTIONS:
    setattr(DeviceServicer, _action, _operation(_action))
del _action
