"""A real WebSocket station against the real mesh, checked through REST via Envoy."""

from __future__ import annotations

import asyncio
import datetime
import uuid

import httpx
import orjson
import pytest
import websockets
from ocpp.v201 import ChargePoint, call
from websockets.asyncio.client import ClientConnection, connect

pytestmark = pytest.mark.e2e

PROTOTYPE_BODY = {
    "id": "CS123",
    "serialNumber": "5",
    "model": "CS-5500",
    "vendorName": "ChargerMaker Inc.",
    "firmwareVersion": "1.8",
    "modem": {"iccid": "24", "imsi": "24"},
    "location": {"lat": 41.366446, "lng": -38.1854651},
}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


class Station:
    """The ocpp library's charge point on a live WebSocket; it checks our replies' schemas."""

    def __init__(self, station_id: str, ws: ClientConnection) -> None:
        self.cp = ChargePoint(station_id, ws)
        self.task = asyncio.create_task(self.cp.start())

    async def call(self, payload):  # type: ignore[no-untyped-def]
        return await self.cp.call(payload, suppress=False)

    def close(self) -> None:
        self.task.cancel()


async def _connect(url: str) -> ClientConnection:
    return await connect(url, subprotocols=["ocpp2.0.1"])  # type: ignore[list-item]


async def test_prototype_quick_start(mesh, rest: httpx.AsyncClient, ws_url) -> None:  # type: ignore[no-untyped-def]
    """The Go prototype's README, word for word: create CS123, connect to /ocpp/CS123, boot."""
    resp = await rest.post("/chargingstations/create", json=PROTOTYPE_BODY)
    assert resp.status_code == 200, resp.text
    assert {k: resp.json()[k] for k in PROTOTYPE_BODY} == PROTOTYPE_BODY

    async with await _connect(ws_url("CS123")) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
        station = Station("CS123", ws)
        boot = await station.call(
            call.BootNotification(
                charging_station={"model": "CS-5500", "vendor_name": "ChargerMaker Inc."},
                reason="PowerUp",
            )
        )
        assert boot.status == "Accepted" and boot.interval == 42
        got = (await rest.get("/v1/chargingStations/CS123")).json()
        assert got["connected"] is True
        assert got["bootReason"] == "PowerUp" and "lastBootAt" in got
        station.close()


async def test_heartbeat_and_status(rest, ws_url, station_id) -> None:  # type: ignore[no-untyped-def]
    """Heartbeat gives the time and records last-seen; StatusNotification stores the connector."""
    async with await _connect(ws_url(station_id)) as ws:
        station = Station(station_id, ws)
        hb = await station.call(call.Heartbeat())
        answered = datetime.datetime.fromisoformat(hb.current_time)
        assert abs((answered - datetime.datetime.now(datetime.UTC)).total_seconds()) < 60
        await station.call(
            call.StatusNotification(
                timestamp=_now(), connector_status="Occupied", evse_id=1, connector_id=1
            )
        )
        # The gateway answers Heartbeats itself and sends last-seen times to device_svc about
        # once a second (gateway.heartbeats): poll for it.
        for _ in range(30):
            got = (await rest.get(f"/v1/chargingStations/{station_id}")).json()
            if "lastHeartbeatAt" in got:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("lastHeartbeatAt not recorded within 3 s of the Heartbeat")
        assert got["evses"] == [
            {
                "id": 1,
                "connectors": [
                    {
                        "id": 1,
                        "status": "Occupied",
                        "statusTime": got["evses"][0]["connectors"][0]["statusTime"],
                    }
                ],
            }
        ]
        station.close()
    # The disconnect is recorded.
    for _ in range(50):
        if not (await rest.get(f"/v1/chargingStations/{station_id}")).json().get("connected"):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the station still shows connected after it closed")


async def test_authorize_known_and_unknown(rest, ws_url, station_id) -> None:  # type: ignore[no-untyped-def]
    """Authorize answers from user_svc: a created token Accepted, an unknown one Unknown."""
    token = f"TAG{uuid.uuid4().hex[:8]}".upper()
    resp = await rest.post(
        "/v1/idTokens",
        json={
            "idToken": token,
            "type": "ISO14443",
            "status": "Accepted",
        },
    )
    assert resp.status_code == 200, resp.text
    async with await _connect(ws_url(station_id)) as ws:
        station = Station(station_id, ws)
        await _boot(station)  # only an Accepted station may Authorize (OCPP 2.0.1 B02/B03)
        known = await station.call(call.Authorize(id_token={"id_token": token, "type": "ISO14443"}))
        unknown = await station.call(
            call.Authorize(id_token={"id_token": "NOPE" + token, "type": "ISO14443"})
        )
        assert known.id_token_info["status"] == "Accepted"
        assert unknown.id_token_info["status"] == "Unknown"
        station.close()


async def _boot(station: Station) -> None:
    boot = await station.call(
        call.BootNotification(reason="PowerUp", charging_station={"model": "x", "vendor_name": "y"})
    )
    assert boot.status == "Accepted"


def _tx_event(tx_id: str, seq: int, kind: str, wh: float | None, **extra):  # type: ignore[no-untyped-def]
    meter = (
        [
            {
                "timestamp": _now(),
                "sampled_value": [{"value": wh, "measurand": "Energy.Active.Import.Register"}],
            }
        ]
        if wh is not None
        else None
    )
    return call.TransactionEvent(
        event_type=kind,
        timestamp=_now(),
        trigger_reason={
            "Started": "Authorized",
            "Updated": "MeterValuePeriodic",
            "Ended": "StopAuthorized",
        }[kind],
        seq_no=seq,
        transaction_info={"transaction_id": tx_id, **extra},
        meter_value=meter,
        evse={"id": 1, "connector_id": 1} if kind == "Started" else None,
    )


async def test_full_transaction_with_energy_and_duplicate(rest, ws_url, station_id) -> None:  # type: ignore[no-untyped-def]
    """Started/Updated/Ended are stored with their energy; a repeated event is stored once."""
    token = f"T{uuid.uuid4().hex[:8]}".upper()
    await rest.post("/v1/idTokens", json={"idToken": token, "type": "ISO14443"})
    tx_id = uuid.uuid4().hex
    async with await _connect(ws_url(station_id)) as ws:
        station = Station(station_id, ws)
        await _boot(station)  # only an Accepted station may transact (OCPP 2.0.1 B02/B03)
        started = _tx_event(tx_id, 0, "Started", 1000.0, charging_state="Charging")
        started.id_token = {"id_token": token, "type": "ISO14443"}
        first = await station.call(started)
        assert first.id_token_info["status"] == "Accepted"
        again = await station.call(started)  # the station did not get our answer: it resends
        assert again.id_token_info["status"] == "Accepted"
        await station.call(_tx_event(tx_id, 1, "Updated", 5500.0))
        await station.call(
            _tx_event(tx_id, 2, "Ended", 13500.0, charging_state="Idle", stopped_reason="Local")
        )
        station.close()

    listed = (await rest.get("/v1/transactions", params={"stationId": station_id})).json()
    [tx] = listed["transactions"]
    assert tx["id"] == tx_id and not tx.get("active")  # proto3 JSON omits false
    assert tx["energyWh"] == pytest.approx(12500.0)
    got = (await rest.get(f"/v1/transactions/{tx_id}")).json()
    assert [e["seqNo"] if "seqNo" in e else 0 for e in got["events"]] == [0, 1, 2]
    assert got["stoppedReason"] == "Local" and got["idToken"] == token
    assert got["events"][1]["meterValues"][0]["sampledValue"][0]["value"] == 5500
    active = (
        await rest.get("/v1/transactions", params={"stationId": station_id, "state": "active"})
    ).json()
    assert active.get("transactions", []) == []


_CS = '"chargingStation": {"model": "x", "vendorName": "y"}'

# Each row: a frame the station sends → the CALLERROR code and message id it must get.
BAD_FRAMES = [
    ("not json", "RpcFrameworkError", "-1"),
    ('{"a": 1}', "RpcFrameworkError", "-1"),
    ('[2, 5, "Heartbeat", {}]', "RpcFrameworkError", "-1"),
    ('[9, "m1", "Heartbeat", {}]', "MessageTypeNotSupported", "m1"),
    ('[2, "m2", "NoSuchAction", {}]', "NotImplemented", "m2"),
    ('[2, "m3", "CancelReservation", {"reservationId": 1}]', "NotSupported", "m3"),
    (
        '[2, "m4", "BootNotification", {' + _CS + "}]",
        "OccurrenceConstraintViolation",
        "m4",
    ),
    (
        '[2, "m5", "BootNotification", {"reason": 5, ' + _CS + "}]",
        "TypeConstraintViolation",
        "m5",
    ),
    (
        '[2, "m6", "BootNotification", {"reason": "Bored", ' + _CS + "}]",
        "PropertyConstraintViolation",
        "m6",
    ),
    ('[2, "m7", "Heartbeat", {"extra": 1}]', "FormatViolation", "m7"),
    ('[2, "m8", "Heartbeat", []]', "FormatViolation", "m8"),
]


async def test_bad_frames_get_the_right_callerror_and_the_connection_stays(
    ws_url, station_id
) -> None:  # type: ignore[no-untyped-def]
    """Every bad frame is answered per OCPP-J Part 4, and the next good frame still is."""
    async with await _connect(ws_url(station_id)) as ws:
        for frame, code, message_id in BAD_FRAMES:
            await ws.send(frame)
            reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            assert reply[0] == 4 and reply[2] == code and reply[1] == message_id, (frame, reply)
            assert isinstance(reply[3], str) and len(reply[3]) <= 255 and reply[4] == {}
        await ws.send('[2, "ok", "Heartbeat", {}]')
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply[:2] == [3, "ok"] and "currentTime" in reply[2]


async def test_unknown_station_and_missing_subprotocol_refused(ws_url, station_id) -> None:  # type: ignore[no-untyped-def]
    """Unknown ids get 404 at the handshake; a handshake offering neither ocpp2.0.1 nor ocpp1.6
    (issue 18 made 1.6 a subprotocol the gateway speaks: tests/e2e/test_ocpp16.py) gets 400,
    and so does one offering none."""
    with pytest.raises(websockets.InvalidStatus) as err:
        await _connect(ws_url("NOT-REGISTERED-" + uuid.uuid4().hex[:6]))
    assert err.value.response.status_code == 404
    with pytest.raises(websockets.InvalidStatus) as err:
        await connect(ws_url(station_id), subprotocols=["ocpp1.5"])  # type: ignore[list-item]
    assert err.value.response.status_code == 400
    with pytest.raises(websockets.InvalidStatus) as err:
        await connect(ws_url(station_id))
    assert err.value.response.status_code == 400


async def test_reconnect_replaces_the_old_connection(rest, ws_url, station_id) -> None:  # type: ignore[no-untyped-def]
    """A second connection with the same id closes the first and is served; it stays connected."""
    old = await _connect(ws_url(station_id))
    new = await _connect(ws_url(station_id))
    await asyncio.wait_for(old.wait_closed(), 10)
    await new.send('[2, "hb", "Heartbeat", {}]')
    reply = orjson.loads(await asyncio.wait_for(new.recv(), 10))
    assert reply[:2] == [3, "hb"]
    await asyncio.sleep(0.3)  # the old connection's disconnect must not mark the station offline
    assert (await rest.get(f"/v1/chargingStations/{station_id}")).json()["connected"] is True
    await new.close()


async def test_rest_errors_are_json_with_the_right_status(rest) -> None:  # type: ignore[no-untyped-def]
    """NOT_FOUND → 404, ALREADY_EXISTS → 409, INVALID_ARGUMENT → 400, malformed body → 400."""
    assert (await rest.get("/v1/chargingStations/none-such")).status_code == 404
    sid = f"DUP-{uuid.uuid4().hex[:6]}"
    assert (await rest.post("/v1/chargingStations", json={"id": sid})).status_code == 200
    dup = await rest.post("/v1/chargingStations", json={"id": sid})
    assert dup.status_code == 409 and "already exists" in dup.json()["message"]
    bad = await rest.post("/v1/chargingStations", json={"id": "has/slash"})
    assert bad.status_code == 400 and bad.json()["message"]
    malformed = await rest.post(
        "/v1/chargingStations", content=b'{"id": ', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400 and malformed.json()["message"]
    wrong_type = await rest.post("/v1/chargingStations", json={"id": "x", "location": {"lat": "n"}})
    assert wrong_type.status_code == 400
