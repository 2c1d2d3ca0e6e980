"""Firmware rollouts, images, logs' uploads and file tokens (device_svc/firmware, device_svc/files,
device_svc/logs) over real gRPC on SQLite and PostgreSQL, with the stand-in gateway of
test_device_svc_operations.py answering as stations would."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import pathlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

import grpc
import pytest
from google.api import httpbody_pb2
from sqlalchemy import Executable, delete, update
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import create_engine, session_factory
from common.errors import NotFound, PermissionDenied
from csms.device.v1 import device_service_pb2 as pb
from csms.device.v1 import device_service_pb2_grpc as pb_grpc
from csms.device.v1 import files_pb2 as files
from csms.device.v1 import files_pb2_grpc as files_grpc
from csms.gateway.v1 import station_control_pb2_grpc as gw_grpc
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc import server as device_server
from device_svc.files.tokens import DOWNLOAD, UPLOAD, FileTokens
from device_svc.firmware import domain
from device_svc.firmware.models import FirmwareUpdateRow, RolloutStationRow
from device_svc.models import Station
from device_svc.settings import Settings as DeviceSettings
from tests.integration.test_device_svc_operations import FakeGateway


class Device:
    """One running device_svc: its stubs and server."""

    def __init__(self, channel: grpc.aio.Channel, server: Any) -> None:
        self.stub = pb_grpc.DeviceServiceStub(channel)
        self.files = files_grpc.FileServiceStub(channel)
        self.server = server


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    fake = FakeGateway()
    fake.answers["UpdateFirmware"] = lambda _: ocpp.UpdateFirmwareResponse(
        status=ocpp.UPDATE_FIRMWARE_STATUS_ACCEPTED
    )
    server = grpc.aio.server()
    gw_grpc.add_StationControlServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    fake.address = f"127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield fake
    await server.stop(0)


@pytest.fixture
async def database(migrated_db: Callable[[str], str]) -> str:
    return await asyncio.to_thread(migrated_db, "device_svc")


@pytest.fixture
async def start(
    database: str, tmp_path: pathlib.Path
) -> AsyncIterator[Callable[..., Awaitable[Device]]]:
    """A factory of device_svc servers on one database and files directory (a second one is
    a restart); ``stop`` ends one."""
    running: list[tuple[Any, AsyncEngine, grpc.aio.Channel]] = []

    async def start_one(**settings: Any) -> Device:
        server, engine = await device_server.start(
            DeviceSettings(
                grpc_listen="127.0.0.1:0",
                database_url=database,
                heartbeat_interval=60,
                rollout_tick=0.05,
                files_dir=str(tmp_path / "files"),
                **settings,
            )
        )
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        running.append((server, engine, channel))
        return Device(channel, server)

    yield start_one
    for server, engine, channel in running:
        await channel.close()
        await server.stop(1)
        await engine.dispose()


async def _fleet(device: Device, gateway: str, n: int) -> list[str]:
    ids = [f"CS{i:03d}" for i in range(n)]
    for sid in ids:
        await device.stub.CreateChargingStation(
            pb.CreateChargingStationRequest(charging_station=pb.ChargingStation(id=sid))
        )
        await device.stub.ConnectStation(
            pb.ConnectStationRequest(
                station_id=sid, gateway=gateway, lease_seconds=300, allow_unsecured=True
            )
        )
    return ids


def _chunks(image_id: str, content: bytes, size: int = 65536) -> Iterator[Any]:
    for i in range(0, len(content), size):
        yield files.UploadFirmwareImageChunk(
            id=image_id,
            content=httpbody_pb2.HttpBody(
                content_type="application/octet-stream", data=content[i : i + size]
            ),
        )


async def _ready_image(device: Device, content: bytes = b"firmware" * 1000) -> str:
    image = await device.stub.CreateFirmwareImage(
        files.CreateFirmwareImageRequest(
            image=files.FirmwareImage(name="fw", version="2.0", signature="c2ln")
        )
    )
    await device.files.UploadFirmwareImage(_chunks(image.id, content))
    return str(image.id)


async def _rollout(device: Device, image_id: str, stations: list[str], **fields: Any) -> str:
    rollout = await device.stub.CreateFirmwareRollout(
        files.CreateFirmwareRolloutRequest(
            rollout=files.FirmwareRollout(image_id=image_id, station_ids=stations, **fields)
        )
    )
    return str(rollout.id)


async def _collect(fake: FakeGateway, count: int, within: float = 10) -> list[tuple[str, int]]:
    """The next ``count`` UpdateFirmware requests the stations got: (station, requestId)."""
    got = []
    for _ in range(count):
        call, payload, _ = await asyncio.wait_for(fake.calls.get(), within)
        assert payload.DESCRIPTOR.name == "UpdateFirmwareRequest"
        got.append((call.station_id, payload.request_id))
    return got


async def _report(device: Device, station_id: str, request_id: int, status: int) -> None:
    await device.stub.FirmwareStatusNotification(
        pb.FirmwareStatusNotificationCall(
            station_id=station_id,
            request=ocpp.FirmwareStatusNotificationRequest(status=status, request_id=request_id),
        )
    )


async def _state(device: Device, rollout_id: str, state: str, within: float = 10) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        rollout = await device.stub.GetFirmwareRollout(
            files.GetFirmwareRolloutRequest(id=rollout_id)
        )
        if rollout.state == state or loop.time() > deadline:
            return rollout
        await asyncio.sleep(0.05)


async def _quiet(fake: FakeGateway, seconds: float = 0.3) -> bool:
    """No request reaches the stations for ``seconds`` (the rollout ticks every 0.05 s)."""
    await asyncio.sleep(seconds)
    return fake.calls.empty()


async def test_a_rollout_of_200_in_waves_of_50_completes(start, gateway) -> None:  # type: ignore[no-untyped-def]
    """Wave by wave: the next wave leaves only once each of the one before reported Installed;
    every station gets one UpdateFirmware, with the image's signature and a CSMS URL."""
    device = await start()
    stations = await _fleet(device, gateway.address, 200)
    rollout_id = await _rollout(device, await _ready_image(device), stations, wave_size=50)
    sent: list[tuple[str, int]] = []
    for wave in range(4):
        got = await _collect(gateway, 50)
        assert {s for s, _ in got} == set(stations[wave * 50 : (wave + 1) * 50])
        assert await _quiet(gateway), "the next wave left before this one finished"
        for station_id, request_id in got:
            await _report(device, station_id, request_id, ocpp.FIRMWARE_STATUS_INSTALLED)
        sent.extend(got)
    rollout = await _state(device, rollout_id, "completed")
    assert rollout.state == "completed"
    assert Counter(s for s, _ in sent) == Counter(stations)
    assert {s.state for s in rollout.stations} == {"installed"}
    assert await _quiet(gateway)


async def test_a_rollout_halts_when_a_wave_fails_beyond_the_ratio(start, gateway) -> None:  # type: ignore[no-untyped-def]
    """30% of the first wave fail (maxFailureRatio 0.2): halted, the second wave never leaves."""
    device = await start()
    stations = await _fleet(device, gateway.address, 100)
    rollout_id = await _rollout(
        device, await _ready_image(device), stations, wave_size=50, max_failure_ratio=0.2
    )
    got = await _collect(gateway, 50)
    for i, (station_id, request_id) in enumerate(got):
        status = (
            ocpp.FIRMWARE_STATUS_INSTALLATION_FAILED
            if i % 10 < 3
            else ocpp.FIRMWARE_STATUS_INSTALLED
        )
        await _report(device, station_id, request_id, status)
    rollout = await _state(device, rollout_id, "halted")
    assert rollout.state == "halted", rollout
    assert "of the 50 stations of wave 1 failed" in rollout.halt_reason
    assert await _quiet(gateway, 0.5)
    assert Counter(s.state for s in rollout.stations) == {
        "installed": 35,
        "failed": 15,
        "waiting": 50,
    }


async def test_a_restarted_device_svc_goes_on_with_the_rollout_without_sending_twice(
    start, gateway
) -> None:  # type: ignore[no-untyped-def]
    """device_svc stops with the first wave under way; the next one takes the statuses and
    sends the second wave; no station gets a second UpdateFirmware."""
    first = await start()
    stations = await _fleet(first, gateway.address, 100)
    rollout_id = await _rollout(first, await _ready_image(first), stations, wave_size=50)
    wave1 = await _collect(gateway, 50)
    await first.server.stop(1)
    second = await start()
    await asyncio.sleep(0.5)
    while not gateway.calls.empty():
        # A request whose answer the first one had not recorded yet is asked about, not sent.
        _, payload, _ = gateway.calls.get_nowait()
        assert payload.DESCRIPTOR.name == "TriggerMessageRequest", "sent the first wave again"
    for station_id, request_id in wave1:
        await _report(second, station_id, request_id, ocpp.FIRMWARE_STATUS_INSTALLED)
    wave2 = await _collect(gateway, 50)
    for station_id, request_id in wave2:
        await _report(second, station_id, request_id, ocpp.FIRMWARE_STATUS_INSTALLED)
    rollout = await _state(second, rollout_id, "completed")
    assert rollout.state == "completed"
    assert Counter(s for s, _ in wave1 + wave2) == Counter(stations)


async def test_an_offline_station_is_sent_its_update_once_it_connects(start, gateway) -> None:  # type: ignore[no-untyped-def]
    """A station not connected at its turn is "offline", does not hold the rollout back, and
    gets its UpdateFirmware when it connects again."""
    device = await start()
    stations = await _fleet(device, gateway.address, 3)
    await device.stub.DisconnectStation(pb.DisconnectStationRequest(station_id="CS001", epoch=1))
    rollout_id = await _rollout(device, await _ready_image(device), stations)
    got = await _collect(gateway, 2)
    assert {s for s, _ in got} == {"CS000", "CS002"}
    rollout = await _state(device, rollout_id, "running")
    assert {s.station_id: s.state for s in rollout.stations}["CS001"] == "offline"
    for station_id, request_id in got:
        await _report(device, station_id, request_id, ocpp.FIRMWARE_STATUS_INSTALLED)
    assert await _quiet(gateway)
    await device.stub.ConnectStation(
        pb.ConnectStationRequest(
            station_id="CS001", gateway=gateway.address, lease_seconds=300, allow_unsecured=True
        )
    )
    [(station_id, request_id)] = await _collect(gateway, 1)
    assert station_id == "CS001"
    await _report(device, station_id, request_id, ocpp.FIRMWARE_STATUS_INSTALLED)
    assert (await _state(device, rollout_id, "completed")).state == "completed"


async def test_an_image_over_the_limit_is_refused_and_nothing_kept(start, tmp_path) -> None:  # type: ignore[no-untyped-def]
    device = await start(max_firmware_bytes=100_000)
    image = await device.stub.CreateFirmwareImage(
        files.CreateFirmwareImageRequest(image=files.FirmwareImage(name="big", version="1"))
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        # Two chunks, the second past the limit: the client has sent everything when the
        # service refuses (a refusal while the client still sends is its own INTERNAL).
        await device.files.UploadFirmwareImage(_chunks(image.id, b"x" * 131_072))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "100000" in (err.value.details() or "")
    kept = await device.stub.GetFirmwareImage(files.GetFirmwareImageRequest(id=image.id))
    assert kept.state == "pending" and kept.size == 0
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == []
    # Within the limit it goes in, with its SHA-256; a second upload is refused.
    content = b"y" * 99_999
    await device.files.UploadFirmwareImage(_chunks(image.id, content))
    kept = await device.stub.GetFirmwareImage(files.GetFirmwareImageRequest(id=image.id))
    assert kept.state == "ready" and kept.sha256 == hashlib.sha256(content).hexdigest()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await device.files.UploadFirmwareImage(_chunks(image.id, content))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_token_serves_its_purpose_until_it_expires(database: str) -> None:
    """Expired → PERMISSION_DENIED; another purpose or a made-up token → NOT_FOUND; a consumed
    upload token → NOT_FOUND."""
    engine = create_engine(database)
    now = datetime.datetime(2026, 12, 5, 10, 0, tzinfo=datetime.UTC)
    clock = [now]
    tokens = FileTokens(session_factory(engine), "http://csms.example:5000", lambda: clock[0])
    try:
        url = await tokens.issue(DOWNLOAD, "CS1", "image-1", now + datetime.timedelta(hours=1))
        assert url.startswith("http://csms.example:5000/files/")
        token = url.rsplit("/", 1)[1]
        assert (await tokens.resolve(token, DOWNLOAD)).subject == "image-1"
        with pytest.raises(NotFound):
            await tokens.resolve(token, UPLOAD)
        with pytest.raises(NotFound):
            await tokens.resolve("A" * 43, DOWNLOAD)
        clock[0] = now + datetime.timedelta(hours=2)
        with pytest.raises(PermissionDenied):
            await tokens.resolve(token, DOWNLOAD)
        upload = await tokens.issue(UPLOAD, "CS1", "7", clock[0] + datetime.timedelta(hours=1))
        up = upload.rsplit("/", 1)[1]
        assert (await tokens.resolve(up, UPLOAD)).station_id == "CS1"
        await tokens.consume(up)
        with pytest.raises(NotFound):
            await tokens.resolve(up, UPLOAD)
    finally:
        await engine.dispose()


async def _died_while_sending(
    start: Any,
    gateway: Any,
    database: str,
    count: int,
    also: Callable[[list[str]], Sequence[Executable]] = lambda ids: (),
) -> tuple[list[str], int, dict[str, Any]]:
    """A rollout to ``count`` stations whose first wave went out, then device_svc stopped with
    its rows saying "sending" (it died before hearing the answers); ``also``: statements for
    the same transaction, given the stations' ids. The stations, the rollout, the wave sent."""
    first = await start()
    stations = await _fleet(first, gateway.address, count)
    rollout_id = await _rollout(first, await _ready_image(first), stations)
    wave = dict(await _collect(gateway, count))
    await first.server.stop(1)
    engine = create_engine(database)
    async with engine.begin() as conn:
        await conn.execute(
            update(RolloutStationRow)
            .where(RolloutStationRow.rollout_id == rollout_id)
            .values(state="sending")
        )
        for statement in also(stations):
            await conn.execute(statement)
    await engine.dispose()
    return stations, rollout_id, wave


async def test_a_request_about_to_leave_when_device_svc_died_is_checked_before_it_goes_again(
    start, gateway, database, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """device_svc died between writing "sending" and hearing the answer (the rows say so).
    The next one asks each station (TriggerMessage FirmwareStatusNotification): one reports a
    status of its request (it got it: not sent again), one Idle (it did not: sent again, same
    requestId), one says nothing (sent again once the check time is over)."""
    monkeypatch.setattr(domain, "CHECK_SECONDS", 1)
    stations, rollout_id, wave = await _died_while_sending(start, gateway, database, 3)
    second = await start()
    asked = []
    for _ in range(3):
        call, payload, _ = await asyncio.wait_for(gateway.calls.get(), 5)
        assert payload.DESCRIPTOR.name == "TriggerMessageRequest"
        assert payload.requested_message == ocpp.MESSAGE_TRIGGER_FIRMWARE_STATUS_NOTIFICATION
        asked.append(call.station_id)
    assert sorted(asked) == stations
    await _report(second, "CS000", wave["CS000"], ocpp.FIRMWARE_STATUS_DOWNLOADING)
    await second.stub.FirmwareStatusNotification(
        pb.FirmwareStatusNotificationCall(
            station_id="CS001",
            request=ocpp.FirmwareStatusNotificationRequest(status=ocpp.FIRMWARE_STATUS_IDLE),
        )
    )
    [again] = await _collect(gateway, 1)
    assert again == ("CS001", wave["CS001"])
    [late] = await _collect(gateway, 1, within=5)
    assert late == ("CS002", wave["CS002"])
    for station_id, request_id in wave.items():
        await _report(second, station_id, request_id, ocpp.FIRMWARE_STATUS_INSTALLED)
    assert (await _state(second, rollout_id, "completed")).state == "completed"
    assert await _quiet(gateway)


async def test_statuses_without_request_id_are_about_the_last_update(start, gateway) -> None:  # type: ignore[no-untyped-def]
    """An OCPP 1.6 station's FirmwareStatusNotification has no requestId: a status other than
    Idle is about the update it was sent last, so its rollout follows it to installed; kept as
    received (no requestId) in the station's history."""
    device = await start()
    stations = await _fleet(device, gateway.address, 1)
    rollout_id = await _rollout(device, await _ready_image(device), stations)
    [(station_id, _)] = await _collect(gateway, 1)
    for status in (
        ocpp.FIRMWARE_STATUS_DOWNLOADING,
        ocpp.FIRMWARE_STATUS_DOWNLOADED,
        ocpp.FIRMWARE_STATUS_INSTALLING,
    ):
        await device.stub.FirmwareStatusNotification(
            pb.FirmwareStatusNotificationCall(
                station_id=station_id, request=ocpp.FirmwareStatusNotificationRequest(status=status)
            )
        )
    rollout = await _state(device, rollout_id, "running")
    assert [s.state for s in rollout.stations] == ["sent"]
    await device.stub.FirmwareStatusNotification(
        pb.FirmwareStatusNotificationCall(
            station_id=station_id,
            request=ocpp.FirmwareStatusNotificationRequest(status=ocpp.FIRMWARE_STATUS_INSTALLED),
        )
    )
    rollout = await _state(device, rollout_id, "completed")
    assert rollout.state == "completed"
    assert [s.state for s in rollout.stations] == ["installed"]


async def test_a_checked_16_station_reports_without_request_id(
    start, gateway, database, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """device_svc died before hearing the answer to an UpdateFirmware (no update row kept);
    the station, asked, reports Downloading without requestId (OCPP 1.6): that is the request
    being checked, so it is not sent again, and its Installed completes the rollout."""
    monkeypatch.setattr(domain, "CHECK_SECONDS", 1)
    [station_id], rollout_id, _ = await _died_while_sending(
        start,
        gateway,
        database,
        1,
        lambda ids: [delete(FirmwareUpdateRow).where(FirmwareUpdateRow.station_id == ids[0])],
    )
    second = await start()
    call, payload, _ = await asyncio.wait_for(gateway.calls.get(), 5)
    assert payload.DESCRIPTOR.name == "TriggerMessageRequest"
    for status in (ocpp.FIRMWARE_STATUS_DOWNLOADING, ocpp.FIRMWARE_STATUS_INSTALLED):
        await second.stub.FirmwareStatusNotification(
            pb.FirmwareStatusNotificationCall(
                station_id=station_id, request=ocpp.FirmwareStatusNotificationRequest(status=status)
            )
        )
    assert (await _state(second, rollout_id, "completed")).state == "completed"
    assert await _quiet(gateway, 1.5)  # never sent again


async def test_a_checked_16_station_answering_idle_is_not_sent_its_request_again(
    start, gateway, database, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """device_svc died before hearing the answers to three 1.6 stations' UpdateFirmware; asked,
    each answers Idle, which in 1.6 also means "done with it". The one that booted since with
    the image's version is installed; the one whose request was never announced (so never
    left) is sent it again; the third is not sent it again but followed, and its Installed
    completes the rollout."""
    monkeypatch.setattr(domain, "CHECK_SECONDS", 1)
    stations, rollout_id, wave = await _died_while_sending(
        start,
        gateway,
        database,
        3,
        lambda ids: [
            update(Station).where(Station.id.in_(ids)).values(protocol="ocpp1.6"),
            update(Station)
            .where(Station.id == "CS000")
            .values(firmware_version="2.0", last_boot_at=datetime.datetime.now(datetime.UTC)),
            delete(FirmwareUpdateRow).where(FirmwareUpdateRow.station_id == "CS001"),
        ],
    )
    second = await start()
    for _ in range(3):
        _, payload, _ = await asyncio.wait_for(gateway.calls.get(), 5)
        assert payload.DESCRIPTOR.name == "TriggerMessageRequest"
    for station_id in stations:
        await second.stub.FirmwareStatusNotification(
            pb.FirmwareStatusNotificationCall(
                station_id=station_id,
                request=ocpp.FirmwareStatusNotificationRequest(status=ocpp.FIRMWARE_STATUS_IDLE),
            )
        )
    [again] = await _collect(gateway, 1)
    assert again == ("CS001", wave["CS001"])
    expected = {"CS000": "installed", "CS001": "sent", "CS002": "sent"}
    for _ in range(100):  # CS001's answer is recorded just after it reached the station
        rollout = await _state(second, rollout_id, "running")
        states = {s.station_id: s.state for s in rollout.stations}
        if states == expected:
            break
        await asyncio.sleep(0.05)
    assert states == expected
    for station_id in ("CS001", "CS002"):
        await _report(second, station_id, wave[station_id], ocpp.FIRMWARE_STATUS_INSTALLED)
    assert (await _state(second, rollout_id, "completed")).state == "completed"
    assert await _quiet(gateway, 1.5)  # CS002 (and CS000) never sent it again
