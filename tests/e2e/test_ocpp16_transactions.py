"""OCPP 1.6J transactions end to end: raw WebSocket stations offering ``ocpp1.6`` against the
whole mesh (Envoy, gateway, services), on SQLite and PostgreSQL.

StartTransaction, MeterValues and StopTransaction become a transaction in transaction_svc, listed
by REST (through Envoy) with its integer id, ``protocol: "ocpp1.6"`` and its energy; a re-sent
StartTransaction gets the same id, a re-sent MeterValues or StopTransaction counts once; a Stop
of an id the CSMS never gave is answered and stored; bad values get 1.6 CALLERRORs on a
connection that stays usable. The OCTT 1.6 CSMS-side cases reproduced are named in each
docstring.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.e2e.test_ocpp16 import BOOT, Station16

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
T_START = "2026-12-05T10:00:00Z"
T_MID = "2026-12-05T10:15:00.500Z"
T_STOP = "2026-12-05T10:30:00Z"


@pytest.fixture
async def cp(ws_url: Callable[[str], str], station_id: str) -> AsyncIterator[Station16]:
    """A 1.6 station, connected and booted."""
    st = await Station16.connect(ws_url(station_id))
    try:
        assert (await st.result("BootNotification", BOOT))["status"] == "Accepted"
        yield st
    finally:
        await st.ws.close()


async def _token(rest: httpx.AsyncClient, status: str = "Accepted", kind: str = "ISO14443") -> str:
    tag = f"T{uuid.uuid4().hex[:12].upper()}"
    resp = await rest.post("/v1/idTokens", json={"idToken": tag, "type": kind, "status": status})
    assert resp.status_code == 200, resp.text
    return tag


async def _transactions(rest: httpx.AsyncClient, station_id: str) -> list[JSON]:
    resp = await rest.get("/v1/transactions", params={"stationId": station_id})
    assert resp.status_code == 200, resp.text
    return list(resp.json().get("transactions", []))


async def _transaction(rest: httpx.AsyncClient, station_id: str, tx_id: int) -> JSON:
    resp = await rest.get(f"/v1/transactions/{tx_id}", params={"stationId": station_id})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _status(connector: int, status: str) -> JSON:
    return {"connectorId": connector, "errorCode": "NoError", "status": status}


def _meter(tx_id: int | None, at: str, wh: str, connector: int = 1) -> JSON:
    payload: JSON = {
        "connectorId": connector,
        "meterValue": [
            {
                "timestamp": at,
                "sampledValue": [
                    {"value": wh, "context": "Sample.Periodic", "unit": "Wh",
                     "measurand": "Energy.Active.Import.Register"},
                    {"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
                    {"value": "31", "measurand": "Temperature", "unit": "Celcius"},
                ],
            }
        ],
    }  # fmt: skip
    if tx_id is not None:
        payload["transactionId"] = tx_id
    return payload


def _start(tag: str, meter: int = 1000, at: str = T_START, connector: int = 1) -> JSON:
    return {"connectorId": connector, "idTag": tag, "meterStart": meter, "timestamp": at}


@pytest.mark.parametrize("order", ["plugin-first", "identification-first"])
async def test_tc_003_004_regular_charging_session(
    cp: Station16, station_id: str, rest: httpx.AsyncClient, order: str
) -> None:
    """OCTT TC_003_CSMS (regular charging session) and TC_004_1/TC_004_2_CSMS (plugin first /
    identification first): Authorize, StartTransaction, MeterValues, StopTransaction each
    answered in 1.6's shape (StartTransaction.conf with idTagInfo and an integer
    transactionId); REST lists the transaction with that id, protocol ocpp1.6, the energy
    meterStop − meterStart, its idTag and reason, and its three events."""
    tag = await _token(rest, kind="eMAID")  # a 1.6 idTag matches a token of any type
    if order == "plugin-first":
        assert await cp.result("StatusNotification", _status(1, "Preparing")) == {}
        assert (await cp.result("Authorize", {"idTag": tag}))["idTagInfo"]["status"] == "Accepted"
    else:
        assert (await cp.result("Authorize", {"idTag": tag}))["idTagInfo"]["status"] == "Accepted"
        assert await cp.result("StatusNotification", _status(1, "Preparing")) == {}
    started = await cp.result("StartTransaction", _start(tag, meter=1000))
    assert started["idTagInfo"] == {"status": "Accepted"}
    tx_id = started["transactionId"]
    assert isinstance(tx_id, int) and tx_id > 0
    assert await cp.result("StatusNotification", _status(1, "Charging")) == {}
    assert await cp.result("MeterValues", _meter(tx_id, T_MID, "4000")) == {}
    (listed,) = await _transactions(rest, station_id)
    assert (listed["id"], listed["protocol"], listed["active"]) == (str(tx_id), "ocpp1.6", True)
    assert listed["energyWh"] == 3000
    stopped = await cp.result(
        "StopTransaction",
        {
            "transactionId": tx_id,
            "idTag": tag,
            "meterStop": 9500,
            "timestamp": T_STOP,
            "transactionData": [
                {
                    "timestamp": T_STOP,
                    "sampledValue": [{"value": "9500", "context": "Transaction.End"}],
                }
            ],
        },
    )
    assert stopped == {"idTagInfo": {"status": "Accepted"}}
    assert await cp.result("StatusNotification", _status(1, "Finishing")) == {}
    assert await cp.result("StatusNotification", _status(1, "Available")) == {}
    got = await _transaction(rest, station_id, tx_id)
    assert got["id"] == str(tx_id) and got["protocol"] == "ocpp1.6"
    assert got["active"] is False
    assert got["energyWh"] == 8500
    assert got["idToken"] == tag
    assert "idTokenType" not in got  # a 1.6 idTag has none
    assert got["stoppedReason"] == "Local"
    assert (got["evseId"], got["connectorId"]) == (1, 1)
    assert got["startedAt"] == T_START and got["endedAt"] == T_STOP
    # The StatusNotification Charging is the transaction's chargingState (an Updated event,
    # dated at its receipt: after this test's made-up times).
    assert [(e["eventType"], e["triggerReason"]) for e in got["events"]] == [
        ("Started", "Authorized"),
        ("Updated", "MeterValuePeriodic"),
        ("Updated", "ChargingStateChanged"),
        ("Ended", "StopAuthorized"),
    ]
    assert got.get("conflicts", []) == [] and got.get("implausibleReadings", []) == []
    updated = got["events"][1]["meterValues"][0]["sampledValue"]
    # Temperature has no place in 2.0.1: left out; the rest as sent, values as numbers.
    assert [s.get("measurand", "Energy.Active.Import.Register") for s in updated] == [
        "Energy.Active.Import.Register",
        "Current.Import",
    ]


@pytest.mark.parametrize(
    ("before", "state", "after"),
    [
        ("SuspendedEV", "SuspendedEV", "Charging"),
        ("SuspendedEVSE", "SuspendedEVSE", "SuspendedEV"),
        ("Charging", "Charging", "SuspendedEVSE"),
        ("Preparing", "Charging", "SuspendedEV"),  # no chargingState said: Charging
    ],
)
async def test_a_status_before_the_start_is_the_transactions_charging_state(
    cp: Station16, station_id: str, rest: httpx.AsyncClient, before: str, state: str, after: str
) -> None:
    """A 1.6 station may report its connector Charging, SuspendedEV or SuspendedEVSE before
    the StartTransaction of its session: the transaction starts in that chargingState (listed
    by ``?chargingState=``), the same for the start re-sent (no conflict); a status after the
    start still wins."""
    tag = await _token(rest)
    assert await cp.result("StatusNotification", _status(1, "SuspendedEV")) == {}
    assert await cp.result("StatusNotification", _status(2, "Charging")) == {}  # another one
    assert await cp.result("StatusNotification", _status(1, before)) == {}
    started = await cp.result("StartTransaction", _start(tag))
    assert await cp.result("StartTransaction", _start(tag)) == started
    tx_id = started["transactionId"]
    got = await _transaction(rest, station_id, tx_id)
    assert got["chargingState"] == state, got
    assert got.get("conflicts", []) == []
    resp = await rest.get(
        "/v1/transactions", params={"stationId": station_id, "chargingState": state}
    )
    assert [t["id"] for t in resp.json().get("transactions", [])] == [str(tx_id)], resp.text
    assert await cp.result("StatusNotification", _status(1, after)) == {}
    assert (await _transaction(rest, station_id, tx_id))["chargingState"] == after


async def test_tc_005_ev_side_disconnected(
    cp: Station16, station_id: str, rest: httpx.AsyncClient
) -> None:
    """OCTT TC_005_1_CSMS (EV side disconnected): the station stops the transaction with reason
    EVDisconnected and no idTag: answered without idTagInfo; REST shows the transaction ended
    for that reason, the EV gone (chargingState Idle)."""
    tag = await _token(rest)
    tx_id = (await cp.result("StartTransaction", _start(tag, meter=0)))["transactionId"]
    stopped = await cp.result(
        "StopTransaction",
        {
            "transactionId": tx_id,
            "meterStop": 2500,
            "timestamp": T_STOP,
            "reason": "EVDisconnected",
        },
    )
    assert stopped == {}
    assert await cp.result("StatusNotification", _status(1, "Finishing")) == {}
    got = await _transaction(rest, station_id, tx_id)
    assert got["stoppedReason"] == "EVDisconnected" and got["chargingState"] == "Idle"
    assert got["energyWh"] == 2500 and got["active"] is False


async def test_tc_032_power_failure_stops_the_transaction(
    cp: Station16, station_id: str, rest: httpx.AsyncClient
) -> None:
    """OCTT TC_032_1_CSMS-style (power failure, then boot: the station stops its transaction
    with reason PowerLoss): after the new BootNotification, the StopTransaction is answered and
    the transaction ends with stoppedReason PowerLoss."""
    tag = await _token(rest)
    tx_id = (await cp.result("StartTransaction", _start(tag, meter=50)))["transactionId"]
    assert (await cp.result("BootNotification", BOOT))["status"] == "Accepted"
    stopped = await cp.result(
        "StopTransaction",
        {"transactionId": tx_id, "meterStop": 450, "timestamp": T_MID, "reason": "PowerLoss"},
    )
    assert stopped == {}
    got = await _transaction(rest, station_id, tx_id)
    assert (got["stoppedReason"], got["active"], got["energyWh"]) == ("PowerLoss", False, 400)


async def test_tc_039_offline_transaction(
    cp: Station16, station_id: str, rest: httpx.AsyncClient
) -> None:
    """OCTT TC_039_CSMS (Offline Transaction: one held while offline, delivered on reconnection):
    StartTransaction, MeterValues and StopTransaction dated hours before they arrive, sent back
    to back: the transaction is recorded with the station's times and its energy."""
    tag = await _token(rest)
    day = "2026-12-01T0"
    tx_id = (await cp.result("StartTransaction", _start(tag, meter=10, at=f"{day}8:00:00Z")))[
        "transactionId"
    ]
    for hour, wh in ((8, "2010"), (9, "5010")):
        assert await cp.result("MeterValues", _meter(tx_id, f"{day}{hour}:30:00Z", wh)) == {}
    stop = {"transactionId": tx_id, "meterStop": 6010, "timestamp": f"{day}9:45:00Z"}
    assert await cp.result("StopTransaction", {**stop, "idTag": tag}) == {
        "idTagInfo": {"status": "Accepted"}
    }
    got = await _transaction(rest, station_id, tx_id)
    assert got["startedAt"] == f"{day}8:00:00Z" and got["endedAt"] == f"{day}9:45:00Z"
    assert got["energyWh"] == 6000 and got.get("implausibleReadings", []) == []
    assert [e["eventType"] for e in got["events"]] == ["Started", "Updated", "Updated", "Ended"]


async def test_tc_037_1_offline_start_with_a_valid_id_tag(
    ws_url: Callable[[str], str], station_id: str, rest: httpx.AsyncClient
) -> None:
    """OCTT TC_037_1_CSMS (Offline Start Transaction - Valid IdTag): the station lost its
    connection, started a transaction offline, and once connected again sends the queued
    StartTransaction (dated before) then StatusNotification Charging: StartTransaction.conf
    idTagInfo Accepted, the transaction recorded at the station's time, Charging."""
    tag = await _token(rest)
    first = await Station16.connect(ws_url(station_id))
    assert (await first.result("BootNotification", BOOT))["status"] == "Accepted"
    await first.ws.close()  # offline
    st = await Station16.connect(ws_url(station_id))
    try:
        started = await st.result("StartTransaction", _start(tag, at="2026-12-01T07:00:00Z"))
        assert started["idTagInfo"] == {"status": "Accepted"}
        assert await st.result("StatusNotification", _status(1, "Charging")) == {}
        got = await _transaction(rest, station_id, started["transactionId"])
        assert got["startedAt"] == "2026-12-01T07:00:00Z" and got["active"] is True
        assert got["chargingState"] == "Charging"
    finally:
        await st.ws.close()


@pytest.mark.parametrize("status_first", [False, True], ids=["stop-first", "status-first"])
async def test_tc_038_offline_stop(
    ws_url: Callable[[str], str], station_id: str, rest: httpx.AsyncClient, status_first: bool
) -> None:
    """TC_038 Offline Stop Transaction (the CS side's text; the CSMS side's is not verified):
    a transaction started online, the connection lost, the driver stops it offline; connected
    again, the station sends StopTransaction (reason Local, dated before) and StatusNotification
    Finishing, in either order: both answered, the transaction ended Local at the station's
    time."""
    tag = await _token(rest)
    first = await Station16.connect(ws_url(station_id))
    assert (await first.result("BootNotification", BOOT))["status"] == "Accepted"
    tx_id = (await first.result("StartTransaction", _start(tag, meter=100)))["transactionId"]
    assert await first.result("StatusNotification", _status(1, "Charging")) == {}
    await first.ws.close()  # offline
    st = await Station16.connect(ws_url(station_id))
    stop = {
        "transactionId": tx_id,
        "idTag": tag,
        "meterStop": 2100,
        "timestamp": T_STOP,
        "reason": "Local",
    }
    try:
        if status_first:
            assert await st.result("StatusNotification", _status(1, "Finishing")) == {}
        assert (await st.result("StopTransaction", stop))["idTagInfo"]["status"] == "Accepted"
        if not status_first:
            assert await st.result("StatusNotification", _status(1, "Finishing")) == {}
        got = await _transaction(rest, station_id, tx_id)
        assert (got["active"], got["stoppedReason"], got["endedAt"]) == (False, "Local", T_STOP)
        assert got["energyWh"] == 2000
    finally:
        await st.ws.close()


async def test_tc_068_stop_of_an_unknown_transaction(
    cp: Station16, station_id: str, rest: httpx.AsyncClient
) -> None:
    """OCTT TC_068_CSMS (stop transaction with an unknown transactionId, e.g. started while the
    CSMS was unreachable): answered, with idTagInfo for its idTag, and stored as an ended 1.6
    transaction of that id."""
    tag = await _token(rest)
    unknown = 2_000_000_000 + int(uuid.uuid4().int % 100_000_000)
    stopped = await cp.result(
        "StopTransaction",
        {"transactionId": unknown, "idTag": tag, "meterStop": 700, "timestamp": T_STOP},
    )
    assert stopped == {"idTagInfo": {"status": "Accepted"}}
    got = await _transaction(rest, station_id, unknown)
    assert (got["protocol"], got["active"], got["stoppedReason"]) == ("ocpp1.6", False, "Local")
    assert [e["eventType"] for e in got["events"]] == ["Ended"]


async def test_a_refused_id_tag_still_gets_a_transaction(
    cp: Station16, station_id: str, rest: httpx.AsyncClient
) -> None:
    """1.6: the station decides what to do with a non-Accepted idTagInfo, so the CSMS records
    the transaction and answers its id all the same (Blocked; unknown → Invalid)."""
    blocked = await _token(rest, status="Blocked")
    one = await cp.result("StartTransaction", _start(blocked))
    assert one["idTagInfo"] == {"status": "Blocked"} and one["transactionId"] > 0
    two = await cp.result("StartTransaction", _start("NOBODY-KNOWS", connector=2))
    assert two["idTagInfo"] == {"status": "Invalid"} and two["transactionId"] > 0
    listed = {t["id"] for t in await _transactions(rest, station_id)}
    assert listed == {str(one["transactionId"]), str(two["transactionId"])}


async def test_lost_answers_resent_count_once(
    cp: Station16, station_id: str, rest: httpx.AsyncClient
) -> None:
    """A StartTransaction whose answer was lost, re-sent (the same request, a new message id),
    gets the same transactionId; a MeterValues and a StopTransaction re-sent add no event and no
    energy."""
    tag = await _token(rest)
    first = await cp.result("StartTransaction", _start(tag, meter=100))
    again = await cp.result("StartTransaction", _start(tag, meter=100))
    assert again == first
    tx_id = first["transactionId"]
    for _ in range(2):
        assert await cp.result("MeterValues", _meter(tx_id, T_MID, "600")) == {}
    stop = {"transactionId": tx_id, "meterStop": 1100, "timestamp": T_STOP, "idTag": tag}
    for _ in range(2):
        assert await cp.result("StopTransaction", stop) == {"idTagInfo": {"status": "Accepted"}}
    (listed,) = await _transactions(rest, station_id)
    assert listed["id"] == str(tx_id) and listed["energyWh"] == 1000
    got = await _transaction(rest, station_id, tx_id)
    assert [e["eventType"] for e in got["events"]] == ["Started", "Updated", "Ended"]
    assert got.get("conflicts", []) == []
    # A new start on the same connector (another timestamp) is another transaction.
    other = await cp.result("StartTransaction", _start(tag, meter=1100, at="2026-12-05T11:00:00Z"))
    assert other["transactionId"] != tx_id


async def test_meter_values_without_a_transaction_are_the_stations(
    cp: Station16, station_id: str, rest: httpx.AsyncClient
) -> None:
    """MeterValues without transactionId: the station's meter values (connectorId 0 = the
    station, EVSE 0), not a transaction."""
    assert await cp.result("MeterValues", _meter(None, T_MID, "123456", connector=0)) == {}
    resp = await rest.get(f"/v1/chargingStations/{station_id}/meterValues")
    assert resp.status_code == 200, resp.text
    (stored,) = resp.json()["meterValues"]
    assert stored.get("evseId", 0) == 0
    assert stored["meterValues"][0]["sampledValue"][0]["value"] == 123456
    assert await _transactions(rest, station_id) == []


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        pytest.param(
            "StartTransaction", _start("A", connector=0), "PropertyConstraintViolation",
            id="start-on-connector-0",
        ),
        pytest.param(
            "StartTransaction", {"connectorId": 1, "idTag": "A", "timestamp": T_START},
            "OccurenceConstraintViolation", id="start-without-meter-start",
        ),
        pytest.param(
            "StartTransaction", {**_start("A"), "meterStart": "0"}, "TypeConstraintViolation",
            id="start-meter-start-string",
        ),
        pytest.param(
            "StartTransaction", {**_start("A"), "meterStart": 2**40},
            "PropertyConstraintViolation", id="start-meter-start-beyond-32-bits",
        ),
        pytest.param(
            "StopTransaction", {"transactionId": 1, "meterStop": 1, "timestamp": T_STOP,
                                "reason": "Bored"},
            "PropertyConstraintViolation", id="stop-unknown-reason",
        ),
        pytest.param(
            "MeterValues", _meter(5, T_MID, "lots"), "PropertyConstraintViolation",
            id="meter-value-not-a-number",
        ),
        pytest.param(
            "MeterValues", {"connectorId": 1, "meterValue": []}, "OccurenceConstraintViolation",
            id="meter-values-empty",
        ),
    ],
)  # fmt: skip
async def test_bad_transaction_messages_get_1_6_callerrors(
    cp: Station16, station_id: str, rest: httpx.AsyncClient, action: str, payload: JSON, code: str
) -> None:
    """Bad 1.6 transaction messages get OCPP-J 1.6's code, nothing is stored, and the
    connection stays usable."""
    answer = await cp.call(action, payload)
    assert answer[0] == 4 and answer[2] == code, answer
    assert await _transactions(rest, station_id) == []
    assert (await cp.result("Heartbeat", {}))["currentTime"]


async def test_date_times_sent_in_transaction_answers(
    cp: Station16, station_id: str, rest: httpx.AsyncClient
) -> None:
    """The expiryDate of StartTransaction's and StopTransaction's idTagInfo (the token's
    expiry, stored with nanoseconds) reaches the station in UTC with at most 3 fraction digits."""
    tag = f"T{uuid.uuid4().hex[:12].upper()}"
    resp = await rest.post(
        "/v1/idTokens",
        json={"idToken": tag, "type": "ISO14443", "expiryDate": "2030-01-01T00:00:00.123456789Z"},
    )
    assert resp.status_code == 200, resp.text
    started = await cp.result("StartTransaction", _start(tag))
    assert started["idTagInfo"] == {"status": "Accepted", "expiryDate": "2030-01-01T00:00:00.123Z"}
    stop = {"transactionId": started["transactionId"], "meterStop": 1000, "timestamp": T_STOP}
    stopped = await cp.result("StopTransaction", {**stop, "idTag": tag})
    assert stopped["idTagInfo"]["expiryDate"] == "2030-01-01T00:00:00.123Z"
