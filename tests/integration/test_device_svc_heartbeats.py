"""DeviceService.RecordHeartbeats: gateways' batched last-seen times, on SQLite and PostgreSQL."""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from csms.device.v1 import device_service_pb2 as pb


def _ts(seconds: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds)


async def _create(device_stub, station_id: str) -> None:  # type: ignore[no-untyped-def]
    await device_stub.CreateChargingStation(
        pb.CreateChargingStationRequest(charging_station=pb.ChargingStation(id=station_id))
    )


async def _last_seen(device_stub, station_id: str) -> int:  # type: ignore[no-untyped-def]
    got = await device_stub.GetChargingStation(pb.GetChargingStationRequest(id=station_id))
    return got.last_heartbeat_at.seconds if got.HasField("last_heartbeat_at") else 0


def _beats(*pairs: tuple[str, int]) -> pb.RecordHeartbeatsRequest:
    return pb.RecordHeartbeatsRequest(
        heartbeats=[pb.StationHeartbeat(station_id=s, time=_ts(t)) for s, t in pairs]
    )


async def test_batch_sets_last_seen_of_each_station(device_stub) -> None:  # type: ignore[no-untyped-def]
    """One call records several stations; unknown stations are skipped, not an error."""
    await _create(device_stub, "HB1")
    await _create(device_stub, "HB2")
    await device_stub.RecordHeartbeats(
        _beats(("HB1", 1_800_000_000), ("HB2", 1_800_000_100), ("NOPE", 1_800_000_200))
    )
    assert await _last_seen(device_stub, "HB1") == 1_800_000_000
    assert await _last_seen(device_stub, "HB2") == 1_800_000_100


async def test_last_seen_never_moves_backwards(device_stub) -> None:  # type: ignore[no-untyped-def]
    """A retried (older) batch arriving after a newer one leaves the newer time; within one
    batch the latest time of a station wins."""
    await _create(device_stub, "HB3")
    await device_stub.RecordHeartbeats(_beats(("HB3", 1_800_000_500)))
    await device_stub.RecordHeartbeats(_beats(("HB3", 1_800_000_400)))
    assert await _last_seen(device_stub, "HB3") == 1_800_000_500
    await device_stub.RecordHeartbeats(_beats(("HB3", 1_800_000_900), ("HB3", 1_800_000_600)))
    assert await _last_seen(device_stub, "HB3") == 1_800_000_900


async def test_empty_batch_and_heartbeat_rpc(device_stub) -> None:  # type: ignore[no-untyped-def]
    """An empty batch is fine; the per-station Heartbeat RPC still records last-seen."""
    await _create(device_stub, "HB4")
    await device_stub.RecordHeartbeats(pb.RecordHeartbeatsRequest())
    assert await _last_seen(device_stub, "HB4") == 0
    hb = await device_stub.Heartbeat(pb.HeartbeatCall(station_id="HB4"))
    assert await _last_seen(device_stub, "HB4") == hb.current_time.seconds
