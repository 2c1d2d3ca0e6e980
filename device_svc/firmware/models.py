"""Block L's tables in device_svc's database (revision 0010 of its migration chain)."""

from __future__ import annotations

import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from device_svc.models import Base

__all__ = [
    "FirmwareImageRow",
    "FirmwareRolloutRow",
    "FirmwareStatusRow",
    "FirmwareUpdateRow",
    "RolloutStationRow",
]


class FirmwareImageRow(Base):
    """A firmware image the CSMS hosts: its metadata, and where its content is stored."""

    __tablename__ = "firmware_images"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(50))
    signature: Mapped[str] = mapped_column(Text)
    signing_certificate: Mapped[str] = mapped_column(Text)
    # "pending" (no content yet) or "ready".
    state: Mapped[str] = mapped_column(String(8))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    # Hex MD5 of the content (PublishFirmware's checksum); revision 0012.
    md5: Mapped[str] = mapped_column(String(32), default="", server_default="")
    content_type: Mapped[str] = mapped_column(String(100))
    storage_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime.datetime]
    uploaded_at: Mapped[datetime.datetime | None]


class FirmwareUpdateRow(Base):
    """An UpdateFirmware a station accepted (the CSMS's, or an operator's own command), with the
    latest status the station reported of it."""

    __tablename__ = "firmware_updates"

    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    request_id: Mapped[int] = mapped_column(primary_key=True)
    location: Mapped[str] = mapped_column(String(512))
    image_id: Mapped[str | None] = mapped_column(String(36))
    rollout_id: Mapped[str | None] = mapped_column(String(36))
    # The station's answer ("Accepted", ...), then its latest FirmwareStatusNotification.
    status: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime.datetime]
    updated_at: Mapped[datetime.datetime]


class FirmwareStatusRow(Base):
    """Every FirmwareStatusNotification and PublishFirmwareStatusNotification, as received."""

    __tablename__ = "firmware_statuses"
    __table_args__ = (Index("ix_firmware_statuses_station", "station_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    station_id: Mapped[str] = mapped_column(String(48))
    # "update" or "publish".
    kind: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[int | None]
    locations: Mapped[list[str]] = mapped_column(JSON)
    received_at: Mapped[datetime.datetime]


class FirmwareRolloutRow(Base):
    """A rollout of one image to many stations in waves (device_svc.firmware.rollouts)."""

    __tablename__ = "firmware_rollouts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    image_id: Mapped[str] = mapped_column(String(36))
    wave_size: Mapped[int]
    wave_pause_seconds: Mapped[int]
    max_failure_ratio: Mapped[float]
    retries: Mapped[int | None]
    retry_interval: Mapped[int | None]
    station_timeout_seconds: Mapped[int]
    # UpdateFirmware's retrieveDateTime (None: when sent) and installDateTime (None: left out).
    retrieve_at: Mapped[datetime.datetime | None]
    install_at: Mapped[datetime.datetime | None]
    # "running", "halted", "completed", "cancelled".
    state: Mapped[str] = mapped_column(String(10), index=True)
    halt_reason: Mapped[str] = mapped_column(Text)
    # When the wave under way finished (the next one starts wave_pause_seconds later).
    wave_done_at: Mapped[datetime.datetime | None]
    created_at: Mapped[datetime.datetime]
    updated_at: Mapped[datetime.datetime]


class RolloutStationRow(Base):
    """One station of a rollout, and where it stands."""

    __tablename__ = "firmware_rollout_stations"
    __table_args__ = (Index("ix_rollout_stations_station", "station_id", "state"),)

    rollout_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    station_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    position: Mapped[int]
    wave: Mapped[int]
    # "waiting", "sending" (written before UpdateFirmware leaves), "sent", "offline",
    # "installed", "failed".
    state: Mapped[str] = mapped_column(String(10))
    firmware_status: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[int | None]
    detail: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime.datetime | None]
    updated_at: Mapped[datetime.datetime]
