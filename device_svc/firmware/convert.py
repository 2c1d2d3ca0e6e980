"""Block L's rows ⇄ protobuf."""

from __future__ import annotations

from common.columns import timestamp
from csms.device.v1 import files_pb2 as files
from device_svc.firmware.models import (
    FirmwareImageRow,
    FirmwareRolloutRow,
    FirmwareStatusRow,
    RolloutStationRow,
)

__all__ = ["image_to_proto", "rollout_to_proto", "status_to_proto"]


def image_to_proto(row: FirmwareImageRow) -> files.FirmwareImage:
    msg = files.FirmwareImage(
        id=row.id,
        name=row.name,
        version=row.version,
        signature=row.signature,
        signing_certificate=row.signing_certificate,
        state=row.state,
        size=row.size,
        sha256=row.sha256,
        md5=row.md5,
        content_type=row.content_type,
        create_time=timestamp(row.created_at),
    )
    if row.uploaded_at is not None:
        msg.upload_time.CopyFrom(timestamp(row.uploaded_at))
    return msg


def status_to_proto(row: FirmwareStatusRow) -> files.FirmwareStatusRecord:
    msg = files.FirmwareStatusRecord(
        station_id=row.station_id,
        status=row.status,
        kind=row.kind,
        locations=row.locations,
        receive_time=timestamp(row.received_at),
    )
    if row.request_id is not None:
        msg.request_id = row.request_id
    return msg


def rollout_to_proto(
    row: FirmwareRolloutRow, stations: list[RolloutStationRow]
) -> files.FirmwareRollout:
    msg = files.FirmwareRollout(
        id=row.id,
        image_id=row.image_id,
        station_ids=[s.station_id for s in stations],
        wave_size=row.wave_size,
        wave_pause_seconds=row.wave_pause_seconds,
        max_failure_ratio=row.max_failure_ratio,
        station_timeout_seconds=row.station_timeout_seconds,
        state=row.state,
        halt_reason=row.halt_reason,
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
        retrieve_time=timestamp(row.retrieve_at),
        install_time=timestamp(row.install_at),
    )
    if row.retries is not None:
        msg.retries = row.retries
    if row.retry_interval is not None:
        msg.retry_interval = row.retry_interval
    for s in stations:
        station = msg.stations.add(
            station_id=s.station_id,
            wave=s.wave,
            state=s.state,
            firmware_status=s.firmware_status,
            detail=s.detail,
            update_time=timestamp(s.updated_at),
        )
        if s.request_id is not None:
            station.request_id = s.request_id
    return msg
