"""Commands to OCPP 1.6J stations, and their other messages, end to end: REST through Envoy,
device_svc, the gateway's translation (gateway/ocpp16.py), a real 1.6 WebSocket station
(tests/e2e/station_sim16.py, checking every CALL the CSMS sends it against the 1.6 schemas).

Each command goes over the same REST resource as for a 2.0.1 station, reaches the station as its
1.6 message, and its answer comes back as the 2.0.1 response, in OCPP's spelling. What 1.6 cannot
say is refused (400 with a message) and nothing is sent. The scenarios reproduce the CSMS side of
OCTT 1.6 test cases of Core and Remote Trigger, named in each docstring by the numbers issue 18
gives them.
"""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from tests.e2e.station_sim import CallErrorAnswer, now
from tests.e2e.station_sim16 import Station16

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
# What the CSMS sends a station: UTC, at most 3 fractional digits.
SENT_DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$")
QUIET = 0.3  # seconds of silence that show nothing was sent


@pytest.fixture
async def station16(ws_url: Callable[[str], str], station_id: str) -> AsyncIterator[Station16]:
    """``station_id`` as a booted 1.6 station; at the end, nothing the CSMS sent it broke a 1.6
    schema."""
    st = await Station16.connect(ws_url(station_id), station_id)
    try:
        assert (await st.boot())["status"] == "Accepted"
        yield st
    finally:
        await st.close()
    assert st.violations == []


async def _command(rest: httpx.AsyncClient, station_id: str, name: str, body: JSON) -> JSON:
    resp = await rest.post(f"/v1/chargingStations/{station_id}:{name}", json=body)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def _refused(
    rest: httpx.AsyncClient, station: Station16, name: str, body: JSON, why: str
) -> None:
    """400 naming why, and the station receives nothing."""
    before = len(station.received)
    resp = await rest.post(f"/v1/chargingStations/{station.station_id}:{name}", json=body)
    assert resp.status_code == 400, resp.text
    assert why in resp.text, resp.text
    await asyncio.sleep(QUIET)
    assert len(station.received) == before


async def test_tc_013_hard_reset(station16: Station16, rest: httpx.AsyncClient) -> None:
    """OCTT 1.6 TC_013 (hard reset, CSMS side): Reset Immediate reaches the station as Reset
    Hard; its Accepted comes back; after its reboot it boots and reports its connectors."""
    assert await _command(rest, station16.station_id, "reset", {"type": "Immediate"}) == {
        "status": "Accepted"
    }
    assert (await station16.wait_for("Reset")).payload == {"type": "Hard"}
    assert (await station16.boot())["status"] == "Accepted"
    for connector in (0, 1):
        status = {"connectorId": connector, "errorCode": "NoError", "status": "Available"}
        assert await station16.call("StatusNotification", status) == {}


async def test_tc_014_soft_reset(station16: Station16, rest: httpx.AsyncClient) -> None:
    """OCTT 1.6 TC_014 (soft reset, CSMS side): Reset OnIdle reaches the station as Reset Soft;
    a station refusing it answers Rejected, and REST says so."""
    assert await _command(rest, station16.station_id, "reset", {"type": "OnIdle"}) == {
        "status": "Accepted"
    }
    assert (await station16.wait_for("Reset")).payload == {"type": "Soft"}
    station16.answer("Reset", {"status": "Rejected"})
    assert await _command(rest, station16.station_id, "reset", {"type": "OnIdle"}) == {
        "status": "Rejected"
    }


async def test_tc_017_unlock_connector(station16: Station16, rest: httpx.AsyncClient) -> None:
    """OCTT 1.6 TC_017 (unlock connector, no session, CSMS side): EVSE 1 connector 1 is 1.6
    connectorId 1, Unlocked comes back; a station without a lock answers NotSupported, which
    2.0.1 lacks: UnlockFailed naming it."""
    body = {"evseId": 1, "connectorId": 1}
    assert await _command(rest, station16.station_id, "unlockConnector", body) == {
        "status": "Unlocked"
    }
    assert (await station16.wait_for("UnlockConnector")).payload == {"connectorId": 1}
    station16.answer("UnlockConnector", {"status": "NotSupported"})
    assert await _command(rest, station16.station_id, "unlockConnector", body) == {
        "status": "UnlockFailed",
        "statusInfo": {
            "reasonCode": "NotSupported",
            "additionalInfo": "the OCPP 1.6 station answered NotSupported",
        },
    }


async def test_change_availability(station16: Station16, rest: httpx.AsyncClient) -> None:
    """OCTT 1.6 ChangeAvailability cases (CSMS side; TC_018/TC_019 as issue 18 numbers them):
    a connector Inoperative, the whole station (no EVSE: connectorId 0) Operative, and a
    Scheduled answer (a transaction runs) passed on."""
    sid = station16.station_id
    body: JSON = {"operationalStatus": "Inoperative", "evse": {"id": 1}}
    assert await _command(rest, sid, "changeAvailability", body) == {"status": "Accepted"}
    station16.answer("ChangeAvailability", {"status": "Scheduled"})
    body = {"operationalStatus": "Operative"}
    assert await _command(rest, sid, "changeAvailability", body) == {"status": "Scheduled"}
    assert [r.payload for r in station16.calls("ChangeAvailability")] == [
        {"connectorId": 1, "type": "Inoperative"},
        {"connectorId": 0, "type": "Operative"},
    ]


async def test_tc_010_011_remote_start(station16: Station16, rest: httpx.AsyncClient) -> None:
    """OCTT 1.6 TC_010/TC_011 (remote start, CSMS side): RequestStartTransaction reaches the
    station as RemoteStartTransaction, idToken → idTag, evseId → connectorId, a simple TxProfile
    as csChargingProfiles; a Rejected answer is passed on."""
    sid = station16.station_id
    body: JSON = {
        "idToken": {"idToken": "TAG16", "type": "ISO14443"},
        "remoteStartId": 1601,
        "evseId": 1,
    }
    assert await _command(rest, sid, "requestStartTransaction", body) == {"status": "Accepted"}
    assert (await station16.wait_for("RemoteStartTransaction")).payload == {
        "idTag": "TAG16",
        "connectorId": 1,
    }
    profile = {
        "id": 1602,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
            }
        ],
    }
    station16.answer("RemoteStartTransaction", {"status": "Rejected"})
    body = {**body, "remoteStartId": 1603, "chargingProfile": profile}
    assert await _command(rest, sid, "requestStartTransaction", body) == {"status": "Rejected"}
    sent = (await station16.wait_for("RemoteStartTransaction", 2)).payload
    assert sent["chargingProfile"] == {
        "chargingProfileId": 1602,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
        },
    }


async def test_tc_012_remote_stop(station16: Station16, rest: httpx.AsyncClient) -> None:
    """OCTT 1.6 TC_012 (remote stop, CSMS side): the transactionId, a string in REST (2.0.1),
    reaches the station as 1.6's integer; one that is no integer is refused, nothing sent."""
    sid = station16.station_id
    assert await _command(rest, sid, "requestStopTransaction", {"transactionId": "1234"}) == {
        "status": "Accepted"
    }
    assert (await station16.wait_for("RemoteStopTransaction")).payload == {"transactionId": 1234}
    await _refused(rest, station16, "requestStopTransaction", {"transactionId": "tx-9"}, "integer")


async def test_tc_019_get_configuration(station16: Station16, rest: httpx.AsyncClient) -> None:
    """OCTT 1.6 TC_019 (retrieve configuration, CSMS side): GetBaseReport asks the station for
    every key (GetConfiguration without keys); the keys land in the device model as variables
    of component OCPP16, readonly → ReadOnly. GetVariables of named keys is GetConfiguration of
    those keys: a known one Accepted with its value, an unknown one UnknownVariable."""
    sid = station16.station_id
    body = {"requestId": 1901, "reportBase": "ConfigurationInventory"}
    assert await _command(rest, sid, "getBaseReport", body) == {"status": "Accepted"}
    assert (await station16.wait_for("GetConfiguration")).payload == {}
    resp = await rest.get(f"/v1/chargingStations/{sid}/variables", params={"component": "OCPP16"})
    assert resp.status_code == 200, resp.text
    got = {v["variable"]["name"]: v["attributes"] for v in resp.json()["variables"]}
    assert got == {
        key: [
            {
                "type": "Actual",
                "value": value,
                "mutability": "ReadOnly" if readonly else "ReadWrite",
            }
        ]
        for key, (value, readonly) in station16.configuration.items()
    }
    config = {"name": "OCPP16"}
    body = {
        "getVariableData": [
            {"component": config, "variable": {"name": "HeartbeatInterval"}},
            {"component": config, "variable": {"name": "NoSuchKey"}},
        ]
    }
    assert await _command(rest, sid, "getVariables", body) == {
        "getVariableResult": [
            {
                "attributeType": "Actual",
                "attributeStatus": "Accepted",
                "attributeValue": "300",
                "component": config,
                "variable": {"name": "HeartbeatInterval"},
            },
            {
                "attributeType": "Actual",
                "attributeStatus": "UnknownVariable",
                "component": config,
                "variable": {"name": "NoSuchKey"},
            },
        ]
    }
    assert (await station16.wait_for("GetConfiguration", 2)).payload == {
        "key": ["HeartbeatInterval", "NoSuchKey"]
    }


async def test_tc_021_change_configuration(station16: Station16, rest: httpx.AsyncClient) -> None:
    """OCTT 1.6 TC_021 (change configuration, CSMS side): SetVariables of OCPP16 keys is one
    ChangeConfiguration per key; Accepted, Rejected (readonly) and NotSupported (unknown key,
    2.0.1's UnknownVariable) come back per key, and the accepted value is in the device model."""
    sid = station16.station_id
    config = {"name": "OCPP16"}
    body = {
        "setVariableData": [
            {"component": config, "variable": {"name": k}, "attributeValue": v}
            for k, v in (("HeartbeatInterval", "60"), ("NumberOfConnectors", "3"), ("Nope", "1"))
        ]
    }
    answer = await _command(rest, sid, "setVariables", body)
    assert [r["attributeStatus"] for r in answer["setVariableResult"]] == [
        "Accepted",
        "Rejected",
        "UnknownVariable",
    ]
    assert answer["setVariableResult"][2]["attributeStatusInfo"]["reasonCode"] == "NotSupported"
    assert [r.payload for r in station16.calls("ChangeConfiguration")] == [
        {"key": "HeartbeatInterval", "value": "60"},
        {"key": "NumberOfConnectors", "value": "3"},
        {"key": "Nope", "value": "1"},
    ]
    assert station16.configuration["HeartbeatInterval"] == ("60", False)
    resp = await rest.get(
        f"/v1/chargingStations/{sid}/variables",
        params={"component": "OCPP16", "variable": "HeartbeatInterval"},
    )
    [variable] = resp.json()["variables"]
    assert variable["attributes"][0]["value"] == "60"


async def test_get_configuration_max_keys(station16: Station16, rest: httpx.AsyncClient) -> None:
    """GetConfigurationMaxKeys (1.6 section 9.1.8): once a GetBaseReport stored the station's
    (component OCPP16), a GetVariables of more keys goes as several GetConfiguration of at most
    that many, one after the other, their answers joined into one GetVariables answer (an
    unknownKey UnknownVariable). Before the CSMS knows it, the keys go in one call."""
    sid = station16.station_id
    station16.configuration.update(
        {"GetConfigurationMaxKeys": ("2", True), "ConnectionTimeOut": ("60", False)}
    )
    config = {"name": "OCPP16"}
    names = ["HeartbeatInterval", "MeterValueSampleInterval", "NumberOfConnectors", "Nope"]
    body: JSON = {
        "getVariableData": [{"component": config, "variable": {"name": n}} for n in names]
        + [{"component": {"name": "TxCtrlr"}, "variable": {"name": "EVConnectionTimeOut"}}]
    }
    answer = await _command(rest, sid, "getVariables", body)
    assert [r.payload for r in station16.calls("GetConfiguration")] == [
        {"key": [*names, "ConnectionTimeOut"]}
    ]
    # The station was asked for more than it takes: what the CSMS could not know yet.
    assert station16.violations == ["GetConfiguration of 5 keys, more than 2"]
    station16.violations.clear()
    body_report = {"requestId": 1902, "reportBase": "ConfigurationInventory"}
    assert await _command(rest, sid, "getBaseReport", body_report) == {"status": "Accepted"}
    before = len(station16.calls("GetConfiguration"))
    joined = await _command(rest, sid, "getVariables", body)
    sent = [r.payload for r in station16.calls("GetConfiguration")[before:]]
    assert sent == [
        {"key": ["HeartbeatInterval", "MeterValueSampleInterval"]},
        {"key": ["NumberOfConnectors", "Nope"]},
        {"key": ["ConnectionTimeOut"]},
    ]
    station16.assert_one_at_a_time()
    assert joined == answer
    assert [
        (r["variable"]["name"], r["attributeStatus"], r.get("attributeValue"))
        for r in joined["getVariableResult"]
    ] == [
        ("HeartbeatInterval", "Accepted", "300"),
        ("MeterValueSampleInterval", "Accepted", "60"),
        ("NumberOfConnectors", "Accepted", "2"),
        ("Nope", "UnknownVariable", None),
        ("EVConnectionTimeOut", "Accepted", "60"),
    ]


async def test_standard_2_0_1_variables_of_a_1_6_station(
    station16: Station16, rest: httpx.AsyncClient
) -> None:
    """The OCPP 2.0.1 names of the settings 1.6 has (gateway.ocpp16.STANDARD_VARIABLES_16) reach
    a 1.6 station as its keys: SetVariables as one ChangeConfiguration per key, GetVariables as
    GetConfiguration; the results keep the 2.0.1 names and are stored under them. A name no 1.6
    key has is UnknownComponent / UnknownVariable for its attribute and is not sent; a request
    of only such names sends nothing. Component OCPP16 keeps naming the raw keys."""
    sid = station16.station_id
    station16.configuration.update(
        {"ConnectionTimeOut": ("60", False), "LocalAuthListEnabled": ("true", False)}
    )
    body: JSON = {
        "setVariableData": [
            {"component": {"name": c}, "variable": {"name": v}, "attributeValue": value}
            for c, v, value in (
                ("OCPPCommCtrlr", "HeartbeatInterval", "120"),
                ("ClockCtrlr", "TimeZone", "Europe/Amsterdam"),
                ("TxCtrlr", "EVConnectionTimeOut", "45"),
                ("OCPPCommCtrlr", "NoSuchVariable", "1"),
                ("OCPP16", "MeterValueSampleInterval", "30"),
            )
        ]
    }
    answer = await _command(rest, sid, "setVariables", body)
    assert [
        (r["component"]["name"], r["variable"]["name"], r["attributeStatus"])
        for r in answer["setVariableResult"]
    ] == [
        ("OCPPCommCtrlr", "HeartbeatInterval", "Accepted"),
        ("ClockCtrlr", "TimeZone", "UnknownComponent"),
        ("TxCtrlr", "EVConnectionTimeOut", "Accepted"),
        ("OCPPCommCtrlr", "NoSuchVariable", "UnknownVariable"),
        ("OCPP16", "MeterValueSampleInterval", "Accepted"),
    ]
    assert [r.payload for r in station16.calls("ChangeConfiguration")] == [
        {"key": "HeartbeatInterval", "value": "120"},
        {"key": "ConnectionTimeOut", "value": "45"},
        {"key": "MeterValueSampleInterval", "value": "30"},
    ]
    assert station16.configuration["ConnectionTimeOut"] == ("45", False)
    resp = await rest.get(
        f"/v1/chargingStations/{sid}/variables",
        params={"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"},
    )
    assert resp.status_code == 200, resp.text
    [variable] = resp.json()["variables"]
    assert variable["attributes"][0]["value"] == "120"
    body = {
        "getVariableData": [
            {"component": {"name": c}, "variable": {"name": v}}
            for c, v in (
                ("SampledDataCtrlr", "TxUpdatedInterval"),
                ("AuthCtrlr", "AuthorizeRemoteStart"),
                ("LocalAuthListCtrlr", "Enabled"),
                ("ReservationCtrlr", "NoSuchVariable"),
            )
        ]
    }
    answer = await _command(rest, sid, "getVariables", body)
    assert station16.calls("GetConfiguration")[-1].payload == {
        "key": ["MeterValueSampleInterval", "AuthorizeRemoteTxRequests", "LocalAuthListEnabled"]
    }
    assert [
        (r["variable"]["name"], r["attributeStatus"], r.get("attributeValue"))
        for r in answer["getVariableResult"]
    ] == [
        ("TxUpdatedInterval", "Accepted", "30"),
        ("AuthorizeRemoteStart", "UnknownVariable", None),  # the station has no such key
        ("Enabled", "Accepted", "true"),
        ("NoSuchVariable", "UnknownVariable", None),
    ]
    before = len(station16.received)
    body = {
        "getVariableData": [
            {"component": {"name": "DisplayMessageCtrlr"}, "variable": {"name": "Enabled"}}
        ]
    }
    answer = await _command(rest, sid, "getVariables", body)
    assert answer["getVariableResult"][0]["attributeStatus"] == "UnknownComponent"
    await asyncio.sleep(QUIET)
    assert len(station16.received) == before


async def test_tc_061_clear_cache(station16: Station16, rest: httpx.AsyncClient) -> None:
    """OCTT 1.6 TC_061 (clear authorization cache, CSMS side): ClearCache, Accepted back."""
    assert await _command(rest, station16.station_id, "clearCache", {}) == {"status": "Accepted"}
    assert (await station16.wait_for("ClearCache")).payload == {}


@pytest.mark.parametrize(
    ("requested", "sent", "then"),
    [
        pytest.param(
            {"requestedMessage": "BootNotification"},
            {"requestedMessage": "BootNotification"},
            ("BootNotification", {"chargePointVendor": "E2E", "chargePointModel": "E2E-16"}),
            id="boot",
        ),
        pytest.param(
            {"requestedMessage": "Heartbeat"},
            {"requestedMessage": "Heartbeat"},
            ("Heartbeat", {}),
            id="heartbeat",
        ),
        pytest.param(
            {"requestedMessage": "StatusNotification", "evse": {"id": 1}},
            {"requestedMessage": "StatusNotification", "connectorId": 1},
            (
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
            ),
            id="status-of-connector-1",
        ),
        pytest.param(
            {"requestedMessage": "LogStatusNotification"},
            {"requestedMessage": "DiagnosticsStatusNotification"},
            ("DiagnosticsStatusNotification", {"status": "Idle"}),
            id="diagnostics-status",
        ),
        pytest.param(
            {"requestedMessage": "FirmwareStatusNotification"},
            {"requestedMessage": "FirmwareStatusNotification"},
            ("FirmwareStatusNotification", {"status": "Idle"}),
            id="firmware-status",
        ),
        pytest.param(
            {"requestedMessage": "MeterValues", "evse": {"id": 1}},
            {"requestedMessage": "MeterValues", "connectorId": 1},
            None,  # MeterValues themselves: issue 18's transactions part
            id="meter-values",
        ),
    ],
)
async def test_tc_054_trigger_message(
    station16: Station16,
    rest: httpx.AsyncClient,
    requested: JSON,
    sent: JSON,
    then: tuple[str, JSON] | None,
) -> None:
    """OCTT 1.6 TC_054_CSMS Trigger Message (Remote Trigger; TC_055 Rejected is in
    test_ocpp16_octt.py, TC_056/057 are Smart Charging cases): each TriggerMessage reaches the
    station with its 1.6 requestedMessage (2.0.1's LogStatusNotification is 1.6's
    DiagnosticsStatusNotification) and an EVSE as connectorId; the message it then sends is
    answered."""
    assert await _command(rest, station16.station_id, "triggerMessage", requested) == {
        "status": "Accepted"
    }
    assert (await station16.wait_for("TriggerMessage")).payload == sent
    if then is not None:
        answer = await station16.call(*then)
        assert isinstance(answer, dict)


@pytest.mark.parametrize(
    ("command", "body", "why"),
    [
        pytest.param("reset", {"type": "Immediate", "evseId": 1}, "whole station", id="reset-evse"),
        pytest.param(
            "triggerMessage",
            {"requestedMessage": "TransactionEvent"},
            "cannot trigger TransactionEvent",
            id="trigger-without-1.6-counterpart",
        ),
        pytest.param(
            "requestStartTransaction",
            {"idToken": {"idToken": "T" * 21, "type": "Central"}, "remoteStartId": 1},
            "20 characters",
            id="id-tag-too-long",
        ),
        pytest.param(
            "getVariables",
            {
                "getVariableData": [
                    {"component": {"name": "OCPP16"}, "variable": {"name": "X", "instance": "1"}}
                ]
            },
            "no instance",
            id="ocpp16-key-with-instance",
        ),
        pytest.param(
            "unlockConnector", {"evseId": 1, "connectorId": 2}, "one connector", id="connector-2"
        ),
        pytest.param(
            "getTransactionStatus",
            {"transactionId": "1"},
            "no OCPP 1.6 counterpart",
            id="no-1.6-action",
        ),
        pytest.param(
            "dataTransfer", {"vendorId": "v", "data": {"a": 1}}, "string", id="data-not-text"
        ),
        pytest.param("reset", {"type": "Later"}, "Reset", id="invalid-for-2.0.1-too"),
    ],
)
async def test_bad_commands_are_refused_and_nothing_is_sent(
    station16: Station16, rest: httpx.AsyncClient, command: str, body: JSON, why: str
) -> None:
    """A body 1.6 cannot say (or no valid OCPP at all) is a 400 with a message; the station
    receives nothing."""
    await _refused(rest, station16, command, body, why)


async def test_station_callerrors_reach_rest(station16: Station16, rest: httpx.AsyncClient) -> None:
    """A 1.6 station's CALLERROR comes back with its 1.6 code: NotSupported → 501,
    OccurenceConstraintViolation (1.6's spelling) → 400."""
    station16.fail("ClearCache", "NotSupported", "no cache here")
    resp = await rest.post(f"/v1/chargingStations/{station16.station_id}:clearCache", json={})
    assert resp.status_code == 501, resp.text
    assert "NotSupported" in resp.text and "no cache here" in resp.text
    station16.fail("ClearCache", "OccurenceConstraintViolation", "what?")
    resp = await rest.post(f"/v1/chargingStations/{station16.station_id}:clearCache", json={})
    assert resp.status_code == 400, resp.text
    assert "OccurenceConstraintViolation" in resp.text


async def test_data_transfer_both_ways(station16: Station16, rest: httpx.AsyncClient) -> None:
    """DataTransfer from the CSMS reaches the station as it is and its answer comes back; the
    station's own DataTransfer is answered UnknownVendorId (the CSMS has no vendor extension:
    OCTT TC_064_CSMS, Data Transfer to a Central System, wants Rejected, UnknownMessageId or
    UnknownVendorId)."""
    body = {"vendorId": "com.acme", "messageId": "ping", "data": "hello"}
    assert await _command(rest, station16.station_id, "dataTransfer", body) == {
        "status": "Accepted",
        "data": "hello",
    }
    assert (await station16.wait_for("DataTransfer")).payload == body
    answer = await station16.call("DataTransfer", {"vendorId": "com.acme", "data": "x"})
    assert answer == {"status": "UnknownVendorId"}


async def test_local_list(station16: Station16, rest: httpx.AsyncClient) -> None:
    """SendLocalList reaches the station as 1.6's (idToken → idTag, idTokenInfo → idTagInfo, the
    expiry date in UTC with at most 3 fractional digits); GetLocalListVersion tells its
    version."""
    sid = station16.station_id
    body = {
        "versionNumber": 4,
        "updateType": "Full",
        "localAuthorizationList": [
            {
                "idToken": {"idToken": "LOCAL1", "type": "ISO14443"},
                "idTokenInfo": {
                    "status": "Accepted",
                    "cacheExpiryDateTime": "2027-01-01T01:00:00.123456+01:00",
                },
            }
        ],
    }
    assert await _command(rest, sid, "sendLocalList", body) == {"status": "Accepted"}
    sent = (await station16.wait_for("SendLocalList")).payload
    [entry] = sent["localAuthorizationList"]
    assert entry["idTag"] == "LOCAL1" and entry["idTagInfo"]["status"] == "Accepted"
    assert SENT_DATE_TIME.match(entry["idTagInfo"]["expiryDate"]), entry
    assert entry["idTagInfo"]["expiryDate"].startswith("2027-01-01T00:00:00.123")
    assert await _command(rest, sid, "getLocalListVersion", {}) == {"versionNumber": 4}


async def test_other_station_messages_are_stored(
    station16: Station16, rest: httpx.AsyncClient
) -> None:
    """FirmwareStatusNotification, DiagnosticsStatusNotification and the security whitepaper's
    SecurityEventNotification, SignedFirmwareStatusNotification and LogStatusNotification are
    answered in their 1.6 shapes and stored where their 2.0.1 namesakes are."""
    sid = station16.station_id
    assert await station16.call("FirmwareStatusNotification", {"status": "Downloading"}) == {}
    assert await station16.call("SignedFirmwareStatusNotification", {"status": "Installed"}) == {}
    resp = await rest.get(f"/v1/chargingStations/{sid}/firmwareStatus")
    assert resp.status_code == 200, resp.text
    assert "Downloading" in resp.text and "Installed" in resp.text, resp.text
    assert await station16.call("DiagnosticsStatusNotification", {"status": "UploadFailed"}) == {}
    assert (
        await station16.call("LogStatusNotification", {"status": "Uploaded", "requestId": 5}) == {}
    )
    resp = await rest.get(f"/v1/chargingStations/{sid}/logs")
    assert resp.status_code == 200, resp.text
    event = {"type": "FirmwareUpdated", "timestamp": now(), "techInfo": "v2"}
    assert await station16.call("SecurityEventNotification", event) == {}
    resp = await rest.get(f"/v1/chargingStations/{sid}/securityEvents")
    assert resp.status_code == 200, resp.text
    assert "FirmwareUpdated" in resp.text


async def test_sign_certificate_is_answered(station16: Station16) -> None:
    """The whitepaper's SignCertificate is served like 2.0.1's: a CSR that is no CSR is
    Rejected, in 1.6's shape (no statusInfo)."""
    try:
        answer = await station16.call("SignCertificate", {"csr": "not a CSR"})
    except CallErrorAnswer as exc:  # pragma: no cover - shows what came instead
        raise AssertionError(f"CALLERROR {exc.code}: {exc.description}") from None
    assert answer == {"status": "Rejected"}


async def test_smart_charging_reservations_firmware_diagnostics(
    station16: Station16, rest: httpx.AsyncClient
) -> None:
    """The other commands with a 1.6 meaning: SetChargingProfile (checked by transaction_svc
    first, as for 2.0.1), ClearChargingProfile, ReserveNow of any connector, CancelReservation,
    UpdateFirmware (1.6's empty answer is Accepted) and GetLog of the diagnostics
    (GetDiagnostics, its fileName back as filename); each reaches the station as its 1.6
    message."""
    sid = station16.station_id
    profile = {
        "id": 1701,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "startSchedule": "2026-12-05T00:00:00Z",
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
            }
        ],
    }
    body: JSON = {"evseId": 0, "chargingProfile": profile}
    assert await _command(rest, sid, "setChargingProfile", body) == {"status": "Accepted"}
    sent = (await station16.wait_for("SetChargingProfile")).payload
    assert sent["connectorId"] == 0
    assert sent["csChargingProfiles"]["chargingProfileId"] == 1701
    assert sent["csChargingProfiles"]["chargingSchedule"]["startSchedule"] == (
        "2026-12-05T00:00:00Z"
    )
    body = {"chargingProfileId": 1701}
    assert await _command(rest, sid, "clearChargingProfile", body) == {"status": "Accepted"}
    assert (await station16.wait_for("ClearChargingProfile")).payload == {"id": 1701}
    body = {
        "id": 1702,
        "expiryDateTime": "2099-01-01T00:00:00Z",
        "idToken": {"idToken": "RES16", "type": "ISO14443"},
    }
    assert await _command(rest, sid, "reserveNow", body) == {"status": "Accepted"}
    assert (await station16.wait_for("ReserveNow")).payload == {
        "connectorId": 0,
        "expiryDate": "2099-01-01T00:00:00Z",
        "idTag": "RES16",
        "reservationId": 1702,
    }
    assert await _command(rest, sid, "cancelReservation", {"reservationId": 1702}) == {
        "status": "Accepted"
    }
    body = {
        "requestId": 1703,
        "firmware": {
            "location": "https://firmware.example/fw-2.bin",
            "retrieveDateTime": "2026-12-05T00:00:00Z",
        },
    }
    assert await _command(rest, sid, "updateFirmware", body) == {"status": "Accepted"}
    assert (await station16.wait_for("UpdateFirmware")).payload == {
        "location": "https://firmware.example/fw-2.bin",
        "retrieveDate": "2026-12-05T00:00:00Z",
    }
    body = {
        "logType": "DiagnosticsLog",
        "requestId": 1704,
        "log": {"remoteLocation": "https://logs.example/upload"},
    }
    assert await _command(rest, sid, "getLog", body) == {
        "status": "Accepted",
        "filename": "diagnostics.zip",
    }
    assert (await station16.wait_for("GetDiagnostics")).payload == {
        "location": "https://logs.example/upload"
    }
    body = {"duration": 600, "evseId": 1}
    assert await _command(rest, sid, "getCompositeSchedule", body) == {"status": "Rejected"}
    assert (await station16.wait_for("GetCompositeSchedule")).payload == {
        "connectorId": 1,
        "duration": 600,
    }


async def test_local_list_sync_of_user_svc(station16: Station16, rest: httpx.AsyncClient) -> None:
    """user_svc's localList:sync works for a 1.6 station as for a 2.0.1 one: GetLocalListVersion,
    then SendLocalList of the mesh's id tokens as 1.6 idTags; a token longer than an idTag (20
    characters) cannot be presented to a 1.6 station and is left out of its list."""
    sid = station16.station_id
    short = f"L{uuid.uuid4().hex[:10]}".upper()
    long = f"NL-TST-{uuid.uuid4().hex[:16]}".upper()
    for token, kind in ((short, "ISO14443"), (long, "eMAID")):
        resp = await rest.post("/v1/idTokens", json={"idToken": token, "type": kind})
        assert resp.status_code == 200, resp.text
    resp = await rest.post(f"/v1/chargingStations/{sid}/localList:sync", json={})
    assert resp.status_code == 200, resp.text
    synced = resp.json()
    assert synced["updateType"] == "Full"
    assert synced["stationResponse"] == {"status": "Accepted"}
    assert station16.received[0].action == "GetLocalListVersion"
    assert short in station16.id_tags and long not in station16.id_tags
    assert station16.id_tags[short]["status"] == "Accepted"
    assert station16.list_version == synced["version"]
    assert all(len(tag) <= 20 for tag in station16.id_tags)


def _csr(station_id: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "E2E"),
            x509.NameAttribute(NameOID.COMMON_NAME, station_id),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


async def test_whitepaper_certificate_signing(
    station16: Station16, rest: httpx.AsyncClient
) -> None:
    """The 1.6 security whitepaper's certificate renewal, CSMS side: TriggerMessage of
    SignChargingStationCertificate goes as ExtendedTriggerMessage SignChargePointCertificate;
    the station's SignCertificate is Accepted and its chain follows as the whitepaper's
    CertificateSigned (no certificateType: 1.6 has none)."""
    sid = station16.station_id
    body = {"requestedMessage": "SignChargingStationCertificate"}
    assert await _command(rest, sid, "triggerMessage", body) == {"status": "Accepted"}
    assert (await station16.wait_for("ExtendedTriggerMessage")).payload == {
        "requestedMessage": "SignChargePointCertificate"
    }
    assert await station16.call("SignCertificate", {"csr": _csr(sid)}) == {"status": "Accepted"}
    signed = await station16.wait_for("CertificateSigned")
    assert set(signed.payload) == {"certificateChain"}
    assert signed.payload["certificateChain"].startswith("-----BEGIN CERTIFICATE-----")


async def test_whitepaper_commands(station16: Station16, rest: httpx.AsyncClient) -> None:
    """The whitepaper's other commands: a security log is its GetLog (the 2.0.1 shape), signed
    firmware its SignedUpdateFirmware, and the certificate commands its own, the CSMS root
    being 1.6's CentralSystemRootCertificate; a V2G root is refused, nothing sent."""
    sid = station16.station_id
    body: JSON = {
        "logType": "SecurityLog",
        "requestId": 1801,
        "log": {"remoteLocation": "https://logs.example/upload"},
    }
    assert await _command(rest, sid, "getLog", body) == {
        "status": "Accepted",
        "filename": "security.log",
    }
    assert (await station16.wait_for("GetLog")).payload == body
    body = {
        "requestId": 1802,
        "firmware": {
            "location": "https://firmware.example/fw-3.bin",
            "retrieveDateTime": "2026-12-05T00:00:00Z",
            "signingCertificate": "-----BEGIN CERTIFICATE-----",
            "signature": "c2lnbmF0dXJl",
        },
    }
    assert await _command(rest, sid, "updateFirmware", body) == {"status": "Accepted"}
    assert (await station16.wait_for("SignedUpdateFirmware")).payload == body
    body = {"certificateType": "CSMSRootCertificate", "certificate": "-----BEGIN CERTIFICATE-----"}
    assert await _command(rest, sid, "installCertificate", body) == {"status": "Accepted"}
    assert (await station16.wait_for("InstallCertificate")).payload == {
        "certificateType": "CentralSystemRootCertificate",
        "certificate": "-----BEGIN CERTIFICATE-----",
    }
    body = {"certificateType": ["ManufacturerRootCertificate"]}
    assert await _command(rest, sid, "getInstalledCertificateIds", body) == {"status": "NotFound"}
    assert (await station16.wait_for("GetInstalledCertificateIds")).payload == {
        "certificateType": "ManufacturerRootCertificate"
    }
    await _refused(
        rest,
        station16,
        "installCertificate",
        {"certificateType": "V2GRootCertificate", "certificate": "-----BEGIN CERTIFICATE-----"},
        "not V2GRootCertificate",
    )


async def _pending_station(rest: httpx.AsyncClient, **fields: Any) -> str:
    sid = f"P16-{uuid.uuid4().hex[:12]}"
    body = {"id": sid, "model": "M1", "registrationStatus": "Pending", **fields}
    resp = await rest.post("/v1/chargingStations", json=body)
    assert resp.status_code == 200, resp.text
    return sid


async def test_boot_policy_accepts_a_1_6_station_after_its_configuration(
    rest: httpx.AsyncClient, ws_url: Callable[[str], str]
) -> None:
    """The automatic rule for a 1.6 station: Pending boot → the base report as GetConfiguration
    of every key → its keys stored as the report → accepted → TriggerMessage BootNotification →
    its next boot Accepted (OCTT 1.6 TC_002-style pending boot, CSMS side)."""
    sid = await _pending_station(rest, acceptAfterBaseReport=True)
    st = await Station16.connect(ws_url(sid), sid)
    try:
        assert (await st.boot())["status"] == "Pending"
        asked = await st.wait_for("GetConfiguration")
        assert asked.payload == {}
        trigger = await st.wait_for("TriggerMessage")
        assert trigger.payload == {"requestedMessage": "BootNotification"}
        await st.wait_answered(trigger)
        assert (await st.boot())["status"] == "Accepted"
        got = (await rest.get(f"/v1/chargingStations/{sid}")).json()
        assert got["registrationStatus"] == "Accepted"
        resp = await rest.get(
            f"/v1/chargingStations/{sid}/variables", params={"component": "OCPP16"}
        )
        names = {v["variable"]["name"] for v in resp.json()["variables"]}
        assert names == set(st.configuration)
        assert st.violations == []
    finally:
        await st.close()


async def test_pending_1_6_station_accepted_over_rest(
    rest: httpx.AsyncClient, ws_url: Callable[[str], str]
) -> None:
    """Pending at boot, configured while Pending (ChangeConfiguration), :accept → TriggerMessage
    BootNotification reaches the 1.6 station → its next boot Accepted."""
    sid = await _pending_station(rest)
    st = await Station16.connect(ws_url(sid), sid)
    try:
        assert (await st.boot())["status"] == "Pending"
        body = {
            "setVariableData": [
                {
                    "component": {"name": "OCPP16"},
                    "variable": {"name": "HeartbeatInterval"},
                    "attributeValue": "120",
                }
            ]
        }
        answer = await _command(rest, sid, "setVariables", body)
        assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
        resp = await rest.post(f"/v1/chargingStations/{sid}:accept", json={})
        assert resp.status_code == 200, resp.text
        trigger = await st.wait_for("TriggerMessage")
        assert trigger.payload == {"requestedMessage": "BootNotification"}
        await st.wait_answered(trigger)
        assert (await st.boot())["status"] == "Accepted"
        assert st.violations == []
    finally:
        await st.close()


async def test_basic_auth_password_rotation(
    rest: httpx.AsyncClient, ws_url: Callable[[str], str]
) -> None:
    """:updateBasicAuthPassword of a 1.6 station of security profile 1: the new password goes as
    ChangeConfiguration of the whitepaper's AuthorizationKey; Accepted makes it the station's
    (its reconnect with it gets in, the old one no more)."""
    old = "e2e-ocpp16-password-00"
    sid = f"B16-{uuid.uuid4().hex[:12]}"
    body = {"id": sid, "model": "M1", "securityProfile": 1, "basicAuthPassword": old}
    resp = await rest.post("/v1/chargingStations", json=body)
    assert resp.status_code == 200, resp.text

    async def connect_with(password: str) -> Station16:
        token = base64.b64encode(f"{sid}:{password}".encode()).decode()
        ws = await connect(
            ws_url(sid),
            subprotocols=[Subprotocol("ocpp1.6")],
            additional_headers={"Authorization": f"Basic {token}"},
            open_timeout=10,
        )
        return Station16(sid, ws)

    st = await connect_with(old)
    try:
        assert (await st.boot())["status"] == "Accepted"
        resp = await rest.post(f"/v1/chargingStations/{sid}:updateBasicAuthPassword", json={})
        assert resp.status_code == 200, resp.text
        [sent] = st.calls("ChangeConfiguration")
        assert sent.payload["key"] == "AuthorizationKey"
        new = sent.payload["value"]
        assert 16 <= len(new) <= 40 and new not in resp.text
        got = resp.json()
        assert got["passwordChanged"] is True and got["status"] == "Accepted"
    finally:
        await st.close()
    with pytest.raises(InvalidStatus):
        await connect_with(old)
    st = await connect_with(new)
    try:
        assert (await st.boot())["status"] == "Accepted"
    finally:
        await st.close()
