"""Block N's DeviceService methods: proto ⇄ domain, nothing else.

:class:`MonitoringServicer` is mixed into :class:`device_svc.servicer.DeviceServicer`, which
gives it ``monitoring``; the block's methods live here, not in the station servicer.
"""

from __future__ import annotations

import grpc

from common.columns import timestamp
from common.ocpp_json import to_ocpp, to_proto
from csms.device.v1 import device_service_pb2 as pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.monitoring import convert
from device_svc.monitoring.alerts import Alerts
from device_svc.monitoring.monitors import Monitors
from device_svc.monitoring.service import Monitoring

__all__ = ["MonitoringServicer"]


class MonitoringServicer:
    """NotifyEvent and NotifyMonitoringReport (from stations, through the gateway), ListEvents
    and ListMonitors."""

    monitoring: Monitoring
    monitors: Monitors
    alerts: Alerts

    async def ListAlerts(
        self, request: pb.ListAlertsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAlertsResponse:
        acknowledged = request.acknowledged if request.HasField("acknowledged") else None
        rows, token = await self.alerts.list_alerts(
            request.station_id, acknowledged, request.page_size, request.page_token
        )
        return pb.ListAlertsResponse(
            alerts=[convert.alert_to_proto(r) for r in rows], next_page_token=token
        )

    async def AcknowledgeAlert(
        self, request: pb.AcknowledgeAlertRequest, context: grpc.aio.ServicerContext
    ) -> pb.Alert:
        return convert.alert_to_proto(await self.alerts.acknowledge(request.id))

    async def NotifyMonitoringReport(
        self, request: pb.NotifyMonitoringReportCall, context: grpc.aio.ServicerContext
    ) -> ocpp.NotifyMonitoringReportResponse:
        await self.monitors.report(request.station_id, to_ocpp(request.request))
        return ocpp.NotifyMonitoringReportResponse()

    async def ListMonitors(
        self, request: pb.ListMonitorsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMonitorsResponse:
        rows = await self.monitors.list(request.station_id)
        return pb.ListMonitorsResponse(
            monitors=[
                pb.StationMonitor(
                    station_id=r.station_id,
                    component=to_proto(ocpp.Component, dict(r.component)),
                    variable=to_proto(ocpp.Variable, dict(r.variable)),
                    variable_monitoring=to_proto(
                        ocpp.VariableMonitoring,
                        {
                            "id": r.id,
                            "transaction": r.transaction,
                            "value": r.value,
                            "type": r.type,
                            "severity": r.severity,
                        },
                    ),
                    source=r.source,
                    update_time=timestamp(r.updated_at),
                )
                for r in rows
            ]
        )

    async def NotifyEvent(
        self, request: pb.NotifyEventCall, context: grpc.aio.ServicerContext
    ) -> ocpp.NotifyEventResponse:
        part = convert.event_part(request.request)
        await self.monitoring.record_events(request.station_id, part)
        await self.alerts.from_part(request.station_id, part)
        return ocpp.NotifyEventResponse()

    async def ListEvents(
        self, request: pb.ListEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListEventsResponse:
        events, token = await self.monitoring.list_events(
            request.station_id,
            convert.event_filter(request),
            request.page_size,
            request.page_token,
        )
        return pb.ListEventsResponse(
            events=[convert.event_to_proto(e) for e in events], next_page_token=token
        )
