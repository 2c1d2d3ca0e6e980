"""device_svc over real gRPC on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2

from csms.device.v1 import device_service_pb2 as pb
from csms.ocpp.v201 import messages_pb2 as ocpp


def _ts(iso: str) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromJsonString(iso)
    return ts


PROTOTYPE_STATION = pb.ChargingStation(
    id="CS123",
    serial_number="5",
    model="CS-5500",
    vendor_name="ChargerMaker Inc.",
    firmware_version="1.8",
    modem=pb.Modem(iccid="24", imsi="24"),
    location=pb.Location(lat=41.366446, lng=-38.1854651),
)


async def test_create_get_list_update_delete(device_stub) -> None:
    """The standard methods keep what was given and return the resource."""
    created = await device_stub.CreateChargingStation(
        pb.CreateChargingStationRequest(charging_station=PROTOTYPE_STATION)
    )
    assert created.id == "CS123" and created.location.lng == pytest.approx(-38.1854651)
    assert not created.connected
    got = await device_stub.GetChargingStation(pb.GetChargingStationRequest(id="CS123"))
    assert got.modem.iccid == "24" and got.vendor_name == "ChargerMaker Inc."

    updated = await device_stub.UpdateChargingStation(
        pb.UpdateChargingStationRequest(
            charging_station=pb.ChargingStation(id="CS123", model="CS-6000", vendor_name="X"),
            update_mask=field_mask_pb2.FieldMask(paths=["model"]),
        )
    )
    assert updated.model == "CS-6000" and updated.vendor_name == "ChargerMaker Inc."

    await device_stub.DeleteChargingStation(pb.DeleteChargingStationRequest(id="CS123"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await device_stub.GetChargingStation(pb.GetChargingStationRequest(id="CS123"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_create_twice_is_already_exists(device_stub) -> None:
    """A second create of one id is ALREADY_EXISTS, and a bad id INVALID_ARGUMENT."""
    req = pb.CreateChargingStationRequest(charging_station=pb.ChargingStation(id="A"))
    await device_stub.CreateChargingStation(req)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await device_stub.CreateChargingStation(req)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await device_stub.CreateChargingStation(
            pb.CreateChargingStationRequest(charging_station=pb.ChargingStation(id="a/b"))
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_list_pages(device_stub) -> None:
    """Listing walks every station once, page by page."""
    for i in range(5):
        await device_stub.CreateChargingStation(
            pb.CreateChargingStationRequest(charging_station=pb.ChargingStation(id=f"S{i}"))
        )
    seen, token = [], ""
    while True:
        page = await device_stub.ListChargingStations(
            pb.ListChargingStationsRequest(page_size=2, page_token=token)
        )
        seen += [s.id for s in page.charging_stations]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["S0", "S1", "S2", "S3", "S4"]


async def test_connect_boot_heartbeat_status(device_stub) -> None:
    """What a station reports is stored; a stale disconnect does not mark it offline."""
    await device_stub.CreateChargingStation(
        pb.CreateChargingStationRequest(charging_station=PROTOTYPE_STATION)
    )
    # A station without credentials (security profile 0), let in by the deployment.
    connect = pb.ConnectStationRequest(station_id="CS123", allow_unsecured=True)
    first = await device_stub.ConnectStation(connect)
    second = await device_stub.ConnectStation(connect)
    assert second.epoch == first.epoch + 1
    await device_stub.DisconnectStation(
        pb.DisconnectStationRequest(station_id="CS123", epoch=first.epoch)
    )
    got = await device_stub.GetChargingStation(pb.GetChargingStationRequest(id="CS123"))
    assert got.connected

    boot = await device_stub.BootNotification(
        pb.BootNotificationCall(
            station_id="CS123",
            request=ocpp.BootNotificationRequest(
                reason=ocpp.BOOT_REASON_POWER_UP,
                charging_station=ocpp.ChargingStation(
                    model="CS-5501", vendor_name="ChargerMaker Inc.", firmware_version="1.9"
                ),
            ),
        )
    )
    assert boot.status == ocpp.REGISTRATION_STATUS_ACCEPTED and boot.interval == 60
    hb = await device_stub.Heartbeat(pb.HeartbeatCall(station_id="CS123"))
    assert hb.current_time.seconds > 0
    for when, status in [
        ("2026-01-01T10:00:00Z", ocpp.CONNECTOR_STATUS_OCCUPIED),
        ("2026-01-01T09:00:00Z", ocpp.CONNECTOR_STATUS_FAULTED),  # older: ignored
    ]:
        await device_stub.StatusNotification(
            pb.StatusNotificationCall(
                station_id="CS123",
                request=ocpp.StatusNotificationRequest(
                    timestamp=_ts(when), connector_status=status, evse_id=1, connector_id=1
                ),
            )
        )
    got = await device_stub.GetChargingStation(pb.GetChargingStationRequest(id="CS123"))
    assert got.model == "CS-5501" and got.firmware_version == "1.9"
    assert got.boot_reason == ocpp.BOOT_REASON_POWER_UP
    assert got.last_boot_at.seconds > 0 and got.last_heartbeat_at.seconds > 0
    [evse] = got.evses
    assert evse.id == 1 and evse.connectors[0].status == ocpp.CONNECTOR_STATUS_OCCUPIED
    assert evse.connectors[0].status_time.ToDatetime(datetime.UTC).hour == 10

    await device_stub.DisconnectStation(
        pb.DisconnectStationRequest(station_id="CS123", epoch=second.epoch)
    )
    got = await device_stub.GetChargingStation(pb.GetChargingStationRequest(id="CS123"))
    assert not got.connected


async def test_unknown_station_refused_unless_auto_register(device_stub) -> None:
    """ConnectStation is NOT_FOUND for an unknown id, and creates it with auto_register."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await device_stub.ConnectStation(pb.ConnectStationRequest(station_id="NEW"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    resp = await device_stub.ConnectStation(
        pb.ConnectStationRequest(station_id="NEW", auto_register=True, allow_unsecured=True)
    )
    assert resp.charging_station.connected and resp.epoch == 1


async def test_batches_answer_each_call_as_alone(device_stub) -> None:
    """ConnectStations and BootNotifications: one outcome per item, in order, each what the
    unary RPC would have answered (an unknown station is NOT_FOUND alone)."""
    connects = pb.ConnectStationsRequest(
        items=[
            pb.ConnectStationsRequest.Item(
                call=pb.ConnectStationRequest(
                    station_id=sid, auto_register=sid != "GHOST", allow_unsecured=True
                ),
                request_id=f"{sid}/handshake",
            )
            for sid in ("B1", "GHOST", "B2", "B1")
        ]
    )
    answer = await device_stub.ConnectStations(connects)
    kinds = [o.WhichOneof("outcome") for o in answer.outcomes]
    assert kinds == ["response", "error", "response", "response"]
    assert answer.outcomes[1].error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert "GHOST" in answer.outcomes[1].error.message
    # B1 twice: two epochs, in the order the calls came.
    assert answer.outcomes[3].response.epoch == answer.outcomes[0].response.epoch + 1

    boot = ocpp.BootNotificationRequest(
        reason=ocpp.BOOT_REASON_POWER_UP,
        charging_station=ocpp.ChargingStation(model="M", vendor_name="V"),
    )
    boots = pb.BootNotificationsRequest(
        items=[
            pb.BootNotificationsRequest.Item(
                call=pb.BootNotificationCall(station_id=sid, request=boot)
            )
            for sid in ("B1", "B2")
        ]
    )
    answer = await device_stub.BootNotifications(boots)
    assert [o.response.status for o in answer.outcomes] == [ocpp.REGISTRATION_STATUS_ACCEPTED] * 2
    got = await device_stub.GetChargingStation(pb.GetChargingStationRequest(id="B2"))
    assert got.model == "M" and got.connected


async def test_disconnect_batch_answers_each_and_ignores_stale_epochs(device_stub) -> None:
    """DisconnectStations (a gateway's mass disconnect): one outcome per item, in order; each
    does what DisconnectStation would (a stale epoch is ignored, the current one disconnects)."""
    connected = {}
    for sid in ("D1", "D2", "D3"):
        connected[sid] = await device_stub.ConnectStation(
            pb.ConnectStationRequest(station_id=sid, auto_register=True, allow_unsecured=True)
        )
    # D3 reconnected since: its first epoch is stale.
    again = await device_stub.ConnectStation(
        pb.ConnectStationRequest(station_id="D3", auto_register=True, allow_unsecured=True)
    )
    answer = await device_stub.DisconnectStations(
        pb.DisconnectStationsRequest(
            items=[
                pb.DisconnectStationsRequest.Item(
                    call=pb.DisconnectStationRequest(station_id=sid, epoch=epoch),
                    request_id=f"{sid}/disconnect",
                )
                for sid, epoch in (
                    ("D1", connected["D1"].epoch),
                    ("D3", connected["D3"].epoch),
                    ("D2", connected["D2"].epoch),
                )
            ]
        )
    )
    assert [o.WhichOneof("outcome") for o in answer.outcomes] == ["response"] * 3
    state = {
        sid: (await device_stub.GetChargingStation(pb.GetChargingStationRequest(id=sid))).connected
        for sid in ("D1", "D2", "D3")
    }
    assert state == {"D1": False, "D2": False, "D3": True}
    assert again.epoch == connected["D3"].epoch + 1


async def test_status_batch_keeps_the_newest_and_refuses_unknown_alone(device_stub) -> None:
    """StatusNotifications written as one group: per connector the newest status (by the
    station's clock) wins whatever the order in the group; an unknown station is NOT_FOUND."""
    await device_stub.ConnectStation(
        pb.ConnectStationRequest(station_id="S1", auto_register=True, allow_unsecured=True)
    )

    def item(station: str, when: str, status: int, connector: int = 1):  # type: ignore[no-untyped-def]
        return pb.StatusNotificationsRequest.Item(
            call=pb.StatusNotificationCall(
                station_id=station,
                request=ocpp.StatusNotificationRequest(
                    timestamp=_ts(when), connector_status=status, evse_id=1, connector_id=connector
                ),
            )
        )

    answer = await device_stub.StatusNotifications(
        pb.StatusNotificationsRequest(
            items=[
                item("S1", "2026-01-01T10:00:00Z", ocpp.CONNECTOR_STATUS_OCCUPIED),
                item("S1", "2026-01-01T09:00:00Z", ocpp.CONNECTOR_STATUS_FAULTED),  # older
                item("NOPE", "2026-01-01T10:00:00Z", ocpp.CONNECTOR_STATUS_AVAILABLE),
                item("S1", "2026-01-01T08:00:00Z", ocpp.CONNECTOR_STATUS_RESERVED, connector=2),
                item("S1", "2026-01-01T11:00:00Z", ocpp.CONNECTOR_STATUS_AVAILABLE, connector=2),
            ]
        )
    )
    kinds = [o.WhichOneof("outcome") for o in answer.outcomes]
    assert kinds == ["response", "response", "error", "response", "response"]
    assert answer.outcomes[2].error.code == grpc.StatusCode.NOT_FOUND.value[0]
    got = await device_stub.GetChargingStation(pb.GetChargingStationRequest(id="S1"))
    [evse] = got.evses
    assert [c.status for c in evse.connectors] == [
        ocpp.CONNECTOR_STATUS_OCCUPIED,
        ocpp.CONNECTOR_STATUS_AVAILABLE,
    ]


async def test_connect_records_the_protocol(device_stub) -> None:
    """ConnectStation stores the negotiated subprotocol (each connection its own), an old
    gateway's empty one is 2.0.1, and one the CSMS does not speak is INVALID_ARGUMENT, stored
    nowhere."""

    async def connect(protocol: str) -> str:
        resp = await device_stub.ConnectStation(
            pb.ConnectStationRequest(
                station_id="P16", auto_register=True, allow_unsecured=True, protocol=protocol
            )
        )
        got = await device_stub.GetChargingStation(pb.GetChargingStationRequest(id="P16"))
        assert got.protocol == resp.charging_station.protocol
        return str(got.protocol)

    assert await connect("ocpp1.6") == "ocpp1.6"
    assert await connect("ocpp2.0.1") == "ocpp2.0.1"
    assert await connect("ocpp1.6") == "ocpp1.6"
    assert await connect("") == "ocpp2.0.1"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await connect("ocpp1.5")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    got = await device_stub.GetChargingStation(pb.GetChargingStationRequest(id="P16"))
    assert got.protocol == "ocpp2.0.1"


async def test_status_notification_keeps_the_1_6_fields(device_stub) -> None:
    """A StatusNotificationCall with ocpp16 stores the 1.6 status and error code beside the
    2.0.1 status; a later 2.0.1 report of the same connector clears them."""
    await device_stub.ConnectStation(
        pb.ConnectStationRequest(
            station_id="S16", auto_register=True, allow_unsecured=True, protocol="ocpp1.6"
        )
    )

    async def report(seconds: int, ocpp16: pb.Ocpp16ConnectorStatus | None) -> pb.Connector:
        call = pb.StatusNotificationCall(
            station_id="S16",
            request=ocpp.StatusNotificationRequest(
                evse_id=1,
                connector_id=1,
                connector_status=ocpp.CONNECTOR_STATUS_OCCUPIED,
                timestamp=timestamp_pb2.Timestamp(seconds=1_800_000_000 + seconds),
            ),
        )
        if ocpp16 is not None:
            call.ocpp16.CopyFrom(ocpp16)
        await device_stub.StatusNotification(call)
        got = await device_stub.GetChargingStation(pb.GetChargingStationRequest(id="S16"))
        return got.evses[0].connectors[0]

    charging = pb.Ocpp16ConnectorStatus(
        status="Charging", error_code="NoError", vendor_id="com.acme", vendor_error_code="E0"
    )
    connector = await report(0, charging)
    assert connector.status == ocpp.CONNECTOR_STATUS_OCCUPIED
    assert connector.ocpp16 == charging
    connector = await report(1, None)
    assert not connector.HasField("ocpp16")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await report(2, pb.Ocpp16ConnectorStatus(error_code="NoError"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
