"""Block N's table in device_svc's database: the events stations reported (NotifyEvent).

On device_svc's ``Base``, so its metadata (and the Alembic chain, revision 0005) holds it and its
foreign key to ``charging_stations``. Enum-like columns keep the OCPP JSON spelling.
"""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from device_svc.models import Base

__all__ = ["AlertRow", "EventRow", "MonitorRow", "MonitoringReportRow"]


class EventRow(Base):
    """One eventData entry of a NotifyEvent part, with the part's own fields."""

    __tablename__ = "events"
    __table_args__ = (
        # A part is stored once: a repeat (same station, generatedAt, seqNo) finds its rows here,
        # and a concurrent copy of it conflicts on this key instead of adding rows.
        UniqueConstraint("station_id", "generated_at", "seq_no", "position", name="uq_events_part"),
        # ListEvents' order: newest first by the station's clock, then by arrival.
        Index("ix_events_station_time", "station_id", "timestamp", "id"),
    )

    # Assigned in arrival order (SQLite only auto-increments an INTEGER primary key).
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    station_id: Mapped[str] = mapped_column(
        String(48), ForeignKey("charging_stations.id", ondelete="CASCADE")
    )
    # The part: NotifyEventRequest's generatedAt (station clock), seqNo and tbc.
    generated_at: Mapped[datetime.datetime]
    seq_no: Mapped[int]
    tbc: Mapped[bool]
    # The entry's index in the part's eventData.
    position: Mapped[int]
    # EventDataType, field by field (OCPP's maxLengths).
    event_id: Mapped[int]
    timestamp: Mapped[datetime.datetime]
    # EventTriggerEnumType value: "Alerting", "Delta", "Periodic".
    trigger: Mapped[str] = mapped_column(String(16))
    cause: Mapped[int | None]
    actual_value: Mapped[str] = mapped_column(String(2500))
    tech_code: Mapped[str | None] = mapped_column(String(50))
    tech_info: Mapped[str | None] = mapped_column(String(500))
    cleared: Mapped[bool | None]
    transaction_id: Mapped[str | None] = mapped_column(String(36))
    component_name: Mapped[str] = mapped_column(String(50))
    # "" when the component (variable) has no instance; NULL EVSE / connector: none given.
    component_instance: Mapped[str] = mapped_column(String(50), default="")
    evse_id: Mapped[int | None]
    connector_id: Mapped[int | None]
    variable_name: Mapped[str] = mapped_column(String(50))
    variable_instance: Mapped[str] = mapped_column(String(50), default="")
    variable_monitoring_id: Mapped[int | None]
    # EventNotificationEnumType value, e.g. "HardWiredNotification".
    event_notification_type: Mapped[str] = mapped_column(String(32))
    # Vendor extensions (customData) as sent, by place: "request" (the NotifyEvent's own, the
    # same on each row of the part), "eventData", "component", "evse", "variable"; NULL: none.
    custom_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    received_at: Mapped[datetime.datetime]


class MonitorRow(Base):
    """A variable monitor a station holds, as the CSMS knows it: one per station and monitor id
    (SetVariableMonitoring results Accepted, NotifyMonitoringReport parts)."""

    __tablename__ = "variable_monitors"

    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    id: Mapped[int] = mapped_column(primary_key=True)
    # The ComponentType and VariableType JSON it watches.
    component: Mapped[dict[str, Any]] = mapped_column(JSON)
    variable: Mapped[dict[str, Any]] = mapped_column(JSON)
    # MonitorEnumType value, e.g. "UpperThreshold".
    type: Mapped[str] = mapped_column(String(24))
    value: Mapped[float]
    severity: Mapped[int]
    transaction: Mapped[bool] = mapped_column(default=False)
    # "CSMS" (set through the CSMS, Accepted) or "Station" (listed in a report).
    source: Mapped[str] = mapped_column(String(8))
    # The GetMonitoringReport requestId of the last report that listed it.
    reported_by: Mapped[int | None]
    updated_at: Mapped[datetime.datetime]


class MonitoringReportRow(Base):
    """A GetMonitoringReport whose NotifyMonitoringReport parts are awaited."""

    __tablename__ = "monitoring_reports"

    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    request_id: Mapped[int] = mapped_column(primary_key=True)
    # The request's componentVariable and monitoringCriteria (OCPP JSON).
    criteria: Mapped[dict[str, Any]] = mapped_column(JSON)
    requested_at: Mapped[datetime.datetime]


class AlertRow(Base):
    """An event severe enough to need an operator: raised by a monitor whose severity is at or
    below the alert threshold (0 is the most severe)."""

    __tablename__ = "alerts"
    __table_args__ = (
        # One alert per event: a re-sent NotifyEvent part adds none.
        UniqueConstraint(
            "station_id", "generated_at", "seq_no", "event_id", name="uq_alerts_event"
        ),
        Index("ix_alerts_acknowledged", "acknowledged", "id"),
        Index("ix_alerts_webhook", "webhook_state", "webhook_next_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    station_id: Mapped[str] = mapped_column(String(48))
    generated_at: Mapped[datetime.datetime]
    seq_no: Mapped[int]
    event_id: Mapped[int]
    timestamp: Mapped[datetime.datetime]
    severity: Mapped[int]
    monitor_id: Mapped[int]
    trigger: Mapped[str] = mapped_column(String(16))
    actual_value: Mapped[str] = mapped_column(String(2500))
    component_name: Mapped[str] = mapped_column(String(50))
    evse_id: Mapped[int | None]
    variable_name: Mapped[str] = mapped_column(String(50))
    acknowledged: Mapped[bool] = mapped_column(default=False)
    acknowledged_at: Mapped[datetime.datetime | None]
    created_at: Mapped[datetime.datetime]
    # Its delivery to the operator's webhook (device_svc/monitoring/webhook.py): "pending",
    # "delivered", "failed", or None (no webhook when it was raised); revision 0011.
    webhook_state: Mapped[str | None] = mapped_column(String(10))
    webhook_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    webhook_next_at: Mapped[datetime.datetime | None]
    webhook_error: Mapped[str] = mapped_column(String(300), default="", server_default="")
