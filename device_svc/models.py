"""device_svc tables: stations, their connectors, device model, customer information and security
events.

Enum-like columns keep the OCPP JSON spelling ("Accepted", "ReadWrite", ...).
"""

from __future__ import annotations

import datetime
import types
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column, relationship

from common.db import UtcDateTime, utcnow

__all__ = [
    "Base",
    "GatewayLease",
    "Station",
    "StationMove",
    "StationView",
    "StationLike",
    "Connector",
    "DeviceVariable",
    "DeviceVariableAttribute",
    "ReportPart",
    "CustomerInformationRow",
    "SecurityEventRow",
    "NO_ID",
]

# Stands for "no EVSE" / "no connector" in the device model's key columns, which must not be
# NULL to take part in the unique key and in keyset pagination (OCPP ids are > 0).
NO_ID = -1


class Base(DeclarativeBase):
    type_annotation_map = {datetime.datetime: UtcDateTime}


class GatewayLease(Base):
    """One gateway process (an incarnation: a restarted gateway is a new one) and its lease.

    The stations it holds are reachable while ``expires_at`` is ahead: the gateway renews this
    one row every third of its lease, whatever the number of stations it holds."""

    __tablename__ = "gateway_leases"

    # Chosen by the gateway at its start (random): ConnectStation's gateway_lease.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Its StationControlService address when last heard of.
    address: Mapped[str] = mapped_column(String(255), default="")
    expires_at: Mapped[datetime.datetime]
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)


class StationMove(Base):
    """A connection a gateway incarnation still holds and must close: its station connected
    elsewhere (or was deleted). Written once per move, read and forgotten when the gateway
    acknowledges it (RenewGatewayLease)."""

    __tablename__ = "station_moves"
    __table_args__ = (Index("ix_station_moves_gateway_lease", "gateway_lease", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    # The incarnation holding the old connection (no foreign key: its lease row may go first).
    gateway_lease: Mapped[str] = mapped_column(String(64))
    # No foreign key either: a deleted station's connection must still be closed.
    station_id: Mapped[str] = mapped_column(String(48))
    # The old connection's epoch: only that one is closed.
    epoch: Mapped[int]
    reason: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)


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
    # The StationControlService address of the gateway holding the connection.
    gateway: Mapped[str] = mapped_column(String(255), default="")
    # The gateway incarnation (GatewayLease.id) holding the connection: it counts while that
    # lease is live. NULL: held by a gateway from before gateway leases (lease_expires_at).
    gateway_lease: Mapped[str | None] = mapped_column(String(64))
    # A per-connection lease, only for gateways from before gateway leases (RenewLeases); NULL
    # for a connection under a gateway lease.
    lease_expires_at: Mapped[datetime.datetime | None]
    last_boot_at: Mapped[datetime.datetime | None]
    # OCPP BootReasonEnumType value, e.g. "PowerUp".
    boot_reason: Mapped[str] = mapped_column(String(32), default="")
    last_heartbeat_at: Mapped[datetime.datetime | None]
    # OCPP RegistrationStatusEnumType value BootNotification answers: "Accepted", "Pending", ...
    registration_status: Mapped[str] = mapped_column(
        String(16), default="Accepted", server_default="Accepted"
    )
    # While Pending: fetch the full base report at boot, accept once it is complete.
    accept_after_base_report: Mapped[bool] = mapped_column(
        default=False, server_default=text("false")
    )
    # The requestId of the GetBaseReport the automatic rule is waiting for.
    base_report_request_id: Mapped[int | None]
    # OCPP security profile the station must connect with (device_svc.credentials); 0: none.
    security_profile: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    # Argon2id hash of the HTTP Basic auth password (profiles 1 and 2); never leaves the service.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # The hash of a new password the station took with RebootRequired: accepted beside the old one
    # until the station first connects with it, which makes it password_hash (OCPP A01).
    pending_password_hash: Mapped[str | None] = mapped_column(String(255))
    # A higher profile the station accepted in SetNetworkProfile (OCPP A05) and has not connected
    # with yet: it replaces security_profile at the first connection that satisfies it.
    pending_security_profile: Mapped[int | None]
    # The OCPP-J subprotocol of its last connection: "ocpp2.0.1" or "ocpp1.6" ("" never connected).
    protocol: Mapped[str] = mapped_column(String(16), default="", server_default="")
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Read only: until when the holding gateway incarnation's lease runs (NULL: none, or gone).
    # Not expired by a flush: it is no column of this table, and an async session cannot load
    # it lazily.
    holder_expires_at: Mapped[datetime.datetime | None] = column_property(
        select(GatewayLease.expires_at)
        .where(GatewayLease.id == gateway_lease)
        .correlate_except(GatewayLease)
        .scalar_subquery(),
        expire_on_flush=False,
    )

    connectors: Mapped[list[Connector]] = relationship(
        back_populates="station",
        cascade="all, delete-orphan",
        order_by="(Connector.evse_id, Connector.connector_id)",
        lazy="selectin",
    )


class StationView(types.SimpleNamespace):
    """A station as a group write has just decided it: a :class:`Station`'s columns,
    ``holder_expires_at`` and ``connectors`` (each a :class:`Connector`'s columns), as plain
    attributes. No ORM instance
    state: building ORM objects for the outcomes of a boot storm's connects was a sixth of
    device_svc's CPU there. Read-only by intent; nothing is written through it."""

    @classmethod
    def of(
        cls,
        row: Mapping[str, Any],
        connectors: Iterable[Mapping[str, Any]],
        holder_expires_at: datetime.datetime | None = None,
    ) -> StationView:
        return cls(
            **row,
            holder_expires_at=holder_expires_at,
            connectors=[types.SimpleNamespace(**c) for c in connectors],
        )


# What reads a station's fields (its proto, whether it is reachable) takes either.
StationLike = Station | StationView


class CertificateName(Base):
    """A serial number an OCPP 1.6 station's certificate names it by (the security whitepaper's
    A00.FR.511), bound to that station for good from the first certificate signed for it, or the
    first connection with one: the name never names another station, whatever serial numbers
    stations report later (credentials.names_by_serial). Goes with its station."""

    __tablename__ = "certificate_names"

    # A certificate's CN: the serial number (1.6's chargePointSerialNumber, CiString25).
    name: Mapped[str] = mapped_column(String(25), primary_key=True)
    station_id: Mapped[str] = mapped_column(
        ForeignKey("charging_stations.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)


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
    # An OCPP 1.6 station's own ChargePointStatus and ChargePointErrorCode (and info, vendorId,
    # vendorErrorCode) beside the 2.0.1 status it maps to; "" when the status came from 2.0.1.
    ocpp16_status: Mapped[str] = mapped_column(String(16), default="", server_default="")
    ocpp16_error_code: Mapped[str] = mapped_column(String(32), default="", server_default="")
    ocpp16_info: Mapped[str] = mapped_column(String(50), default="", server_default="")
    ocpp16_vendor_id: Mapped[str] = mapped_column(String(255), default="", server_default="")
    ocpp16_vendor_error_code: Mapped[str] = mapped_column(String(50), default="", server_default="")

    station: Mapped[Station] = relationship(back_populates="connectors")


class DeviceVariable(Base):
    """One variable of one component of a station, with its characteristics."""

    __tablename__ = "device_variables"
    __table_args__ = (
        # Also the order of ListVariables and the index behind its filters.
        UniqueConstraint(
            "station_id",
            "component_name",
            "component_instance",
            "evse_id",
            "connector_id",
            "variable_name",
            "variable_instance",
            name="uq_device_variables_key",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("charging_stations.id", ondelete="CASCADE"))
    component_name: Mapped[str] = mapped_column(String(50))
    # "" when the component has no instance.
    component_instance: Mapped[str] = mapped_column(String(50), default="")
    evse_id: Mapped[int] = mapped_column(default=NO_ID)
    connector_id: Mapped[int] = mapped_column(default=NO_ID)
    variable_name: Mapped[str] = mapped_column(String(50))
    variable_instance: Mapped[str] = mapped_column(String(50), default="")
    # VariableCharacteristics; data_type is NULL when the station reported none.
    data_type: Mapped[str | None] = mapped_column(String(16))
    supports_monitoring: Mapped[bool | None]
    unit: Mapped[str | None] = mapped_column(String(16))
    min_limit: Mapped[float | None]
    max_limit: Mapped[float | None]
    values_list: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[datetime.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    attributes: Mapped[list[DeviceVariableAttribute]] = relationship(
        back_populates="variable",
        cascade="all, delete-orphan",
        order_by="DeviceVariableAttribute.type",
        lazy="selectin",
    )


class DeviceVariableAttribute(Base):
    __tablename__ = "device_variable_attributes"

    variable_id: Mapped[int] = mapped_column(
        ForeignKey("device_variables.id", ondelete="CASCADE"), primary_key=True
    )
    # OCPP AttributeEnumType value: "Actual", "Target", "MinSet", "MaxSet".
    type: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str | None] = mapped_column(String(2500))
    # OCPP MutabilityEnumType value; NULL when not reported (OCPP's default: ReadWrite).
    mutability: Mapped[str | None] = mapped_column(String(16))
    persistent: Mapped[bool | None]
    constant: Mapped[bool | None]

    variable: Mapped[DeviceVariable] = relationship(back_populates="attributes")


class ReportPart(Base):
    """A NotifyReport part already applied: a replay of it changes nothing."""

    __tablename__ = "report_parts"

    station_id: Mapped[str] = mapped_column(
        ForeignKey("charging_stations.id", ondelete="CASCADE"), primary_key=True
    )
    request_id: Mapped[int] = mapped_column(primary_key=True)
    seq_no: Mapped[int] = mapped_column(primary_key=True)
    tbc: Mapped[bool]
    generated_at: Mapped[datetime.datetime]
    received_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)


class CustomerInformationRow(Base):
    """One NotifyCustomerInformation part."""

    __tablename__ = "customer_information"

    station_id: Mapped[str] = mapped_column(
        ForeignKey("charging_stations.id", ondelete="CASCADE"), primary_key=True
    )
    request_id: Mapped[int] = mapped_column(primary_key=True)
    seq_no: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[str] = mapped_column(String(512))
    tbc: Mapped[bool]
    generated_at: Mapped[datetime.datetime]


class SecurityEventRow(Base):
    """One SecurityEventNotification, as the station sent it."""

    __tablename__ = "security_events"
    __table_args__ = (
        # ListSecurityEvents' order (newest first by the station's clock) and the look-up of a
        # repeated event.
        Index("ix_security_events_station_time", "station_id", "timestamp", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("charging_stations.id", ondelete="CASCADE"))
    # OCPP security event type, e.g. "FirmwareUpdated" (maxLength 50).
    type: Mapped[str] = mapped_column(String(50))
    # When it happened, by the station's clock.
    timestamp: Mapped[datetime.datetime]
    # "" when the station sent no techInfo (maxLength 255).
    tech_info: Mapped[str] = mapped_column(String(255), default="")
    received_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
