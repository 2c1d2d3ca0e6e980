"""device_svc tables: stations and their connectors."""

from __future__ import annotations

import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from common.db import UtcDateTime, utcnow

__all__ = ["Base", "Station", "Connector"]


class Base(DeclarativeBase):
    type_annotation_map = {datetime.datetime: UtcDateTime}


class Station(Base):
    __tablename__ = "charging_stations"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    serial_number: Mapped[str] = mapped_column(String(25), default="")
    model: Mapped[str] = mapped_column(String(20), default="")
    vendor_name: Mapped[str] = mapped_column(String(50), default="")
    firmware_version: Mapped[str] = mapped_column(String(50), default="")
    modem_iccid: Mapped[str] = mapped_column(String(20), default="")
    modem_imsi: Mapped[str] = mapped_column(String(20), default="")
    location_lat: Mapped[float | None]
    location_lng: Mapped[float | None]
    connected: Mapped[bool] = mapped_column(default=False)
    # Increases with every WebSocket connection; a disconnect of an older one is ignored.
    epoch: Mapped[int] = mapped_column(default=0)
    gateway: Mapped[str] = mapped_column(String(255), default="")
    last_boot_at: Mapped[datetime.datetime | None]
    # OCPP BootReasonEnumType value, e.g. "PowerUp".
    boot_reason: Mapped[str] = mapped_column(String(32), default="")
    last_heartbeat_at: Mapped[datetime.datetime | None]
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    connectors: Mapped[list[Connector]] = relationship(
        back_populates="station",
        cascade="all, delete-orphan",
        order_by="(Connector.evse_id, Connector.connector_id)",
        lazy="selectin",
    )


class Connector(Base):
    __tablename__ = "connectors"

    station_id: Mapped[str] = mapped_column(
        ForeignKey("charging_stations.id", ondelete="CASCADE"), primary_key=True
    )
    evse_id: Mapped[int] = mapped_column(primary_key=True)
    connector_id: Mapped[int] = mapped_column(primary_key=True)
    # OCPP ConnectorStatusEnumType value, e.g. "Available".
    status: Mapped[str] = mapped_column(String(16))
    # The station's timestamp of the status; an older report never overwrites a newer one.
    status_time: Mapped[datetime.datetime]

    station: Mapped[Station] = relationship(back_populates="connectors")
