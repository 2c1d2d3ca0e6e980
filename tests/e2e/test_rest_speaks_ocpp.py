"""REST through the real Envoy speaks OCPP: OCPP's spellings in every resource, in bodies and
filters; the old protobuf names still accepted on input; 0 and false printed; gRPC stays typed.

Each test reproduces what issue 13 found refused or misspelt, with a real WebSocket station.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import pytest

from common.ocpp_examples import payload_example
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as tx_pb
from csms.transaction.v1 import transaction_service_pb2_grpc as tx_grpc
from deploy.mesh import Mesh
from device_svc.operations import ACTIONS
from tests.e2e.station_sim import Station, now

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]


async def test_id_token_in_ocpp_words_and_in_the_old_names(rest: httpx.AsyncClient) -> None:
    """POST /v1/idTokens with the spec's words is 200 and answers them; the old names still pass
    (deprecated) and read back in OCPP's words; a word OCPP does not have is 400, naming it."""
    token = f"TAG-{uuid.uuid4().hex[:8]}"
    resp = await rest.post(
        "/v1/idTokens", json={"idToken": token, "type": "ISO14443", "status": "Accepted"}
    )
    assert resp.status_code == 200, resp.text
    assert {k: resp.json()[k] for k in ("idToken", "type", "status")} == {
        "idToken": token,
        "type": "ISO14443",
        "status": "Accepted",
    }
    old = f"OLD-{uuid.uuid4().hex[:8]}"
    resp = await rest.post(
        "/v1/idTokens",
        json={"idToken": old, "type": "ID_TOKEN_EMAID", "status": "AUTHORIZATION_STATUS_BLOCKED"},
    )
    assert resp.status_code == 200, resp.text
    got = (await rest.get(f"/v1/idTokens/{old}")).json()
    assert (got["type"], got["status"]) == ("eMAID", "Blocked")
    for params in (
        {"status": "Blocked", "type": "eMAID"},
        {"status": "AUTHORIZATION_STATUS_BLOCKED", "type": "ID_TOKEN_EMAID"},
    ):
        filtered = await rest.get("/v1/idTokens", params={**params, "pageSize": 1000})
        assert filtered.status_code == 200, filtered.text
        found = {t["idToken"] for t in filtered.json()["idTokens"]}
        assert old in found and token not in found
        assert {t["status"] for t in filtered.json()["idTokens"]} == {"Blocked"}
    bad = await rest.get("/v1/idTokens", params={"status": "Broken"})
    assert bad.status_code == 400 and "Blocked" in bad.json()["message"], bad.text

    resp = await rest.patch(
        f"/v1/idTokens/{token}", params={"updateMask": "status"}, json={"status": "Invalid"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "Invalid"

    bad = await rest.post("/v1/idTokens", json={"idToken": "X1", "type": "RFID"})
    assert bad.status_code == 400, bad.text
    assert "type" in bad.json()["message"] and "ISO14443" in bad.json()["message"]
    listed = (await rest.get("/v1/idTokens", params={"pageSize": 1000})).json()["idTokens"]
    assert "X1" not in {t["idToken"] for t in listed}


async def test_station_resource_in_ocpp_words_zero_and_false_printed(
    rest: httpx.AsyncClient, ws_url: Callable[[str], str]
) -> None:
    """Registration status in OCPP's word both ways; bootReason, connector status spelled as
    OCPP does; EVSE 0 keeps its id; a disconnected station says connected: false."""
    sid = f"CS-{uuid.uuid4().hex[:12]}"
    resp = await rest.post(
        "/v1/chargingStations", json={"id": sid, "model": "M1", "registrationStatus": "Accepted"}
    )
    assert resp.status_code == 200, resp.text
    created = resp.json()
    assert created["registrationStatus"] == "Accepted"
    assert created["connected"] is False and created["securityProfile"] == 0
    assert created["evses"] == []

    station = await Station.connect(ws_url(sid), sid)
    try:
        assert (await station.boot("PowerUp"))["status"] == "Accepted"
        for evse, connector, status in [(0, 0, "Unavailable"), (1, 1, "Occupied")]:
            await station.call(
                "StatusNotification",
                {
                    "timestamp": now(),
                    "connectorStatus": status,
                    "evseId": evse,
                    "connectorId": connector,
                },
            )
        got = (await rest.get(f"/v1/chargingStations/{sid}")).json()
        assert got["connected"] is True and got["bootReason"] == "PowerUp"
        assert [
            (e["id"], [(c["id"], c["status"]) for c in e["connectors"]]) for e in got["evses"]
        ] == [
            (0, [(0, "Unavailable")]),
            (1, [(1, "Occupied")]),
        ]
    finally:
        await station.close()
    for _ in range(50):
        got = (await rest.get(f"/v1/chargingStations/{sid}")).json()
        if got["connected"] is False:
            break
        await asyncio.sleep(0.1)
    assert got["connected"] is False, got

    resp = await rest.patch(
        f"/v1/chargingStations/{sid}",
        params={"updateMask": "registrationStatus"},
        json={"registrationStatus": "REGISTRATION_STATUS_PENDING"},
    )
    assert resp.status_code == 200 and resp.json()["registrationStatus"] == "Pending", resp.text
    bad = await rest.patch(
        f"/v1/chargingStations/{sid}",
        params={"updateMask": "registrationStatus"},
        json={"registrationStatus": "Maybe"},
    )
    assert bad.status_code == 400 and "registrationStatus" in bad.json()["message"], bad.text


def _event(kind: str, seq: int, tx_id: str, trigger: str, **more: Any) -> JSON:
    return {
        "eventType": kind,
        "timestamp": now(),
        "triggerReason": trigger,
        "seqNo": seq,
        "transactionInfo": {"transactionId": tx_id, **more.pop("info", {})},
        **more,
    }


def _energy(wh: float) -> list[JSON]:
    return [
        {
            "timestamp": now(),
            "sampledValue": [
                {
                    "value": wh,
                    "measurand": "Energy.Active.Import.Register",
                    "unitOfMeasure": {"unit": "Wh"},
                }
            ],
        }
    ]


async def test_transaction_in_ocpp_words_and_its_filters(
    rest: httpx.AsyncClient,
    mesh: Mesh,
    operator_key: str,
    ws_url: Callable[[str], str],
    station_id: str,
) -> None:
    """A 0 Wh transaction: seqNo 0 of its Started event, energyWh 0, stoppedReason
    EVDisconnected, measurand Energy.Active.Import.Register; state=active / ended filters (and
    the old STATE_* names), chargingState in OCPP's words, idToken; gRPC through Envoy still
    gets typed enums."""
    tx_id = f"tx-{uuid.uuid4().hex[:10]}"
    token = f"TX-{uuid.uuid4().hex[:8]}"
    station = await Station.connect(ws_url(station_id), station_id)
    try:
        await station.boot()
        await station.call(
            "TransactionEvent",
            _event(
                "Started",
                0,
                tx_id,
                "CablePluggedIn",
                info={"chargingState": "EVConnected"},
                evse={"id": 1, "connectorId": 1},
                idToken={"idToken": token, "type": "ISO14443"},
                meterValue=_energy(0),
            ),
        )
        for params in (
            {"chargingState": "EVConnected"},
            {"chargingState": "CHARGING_STATE_EV_CONNECTED"},
            {"idToken": token},
        ):
            listed = await rest.get("/v1/transactions", params=params)
            assert listed.status_code == 200, listed.text
            assert tx_id in [t["id"] for t in listed.json()["transactions"]], params
        charging = await rest.get(
            "/v1/transactions", params={"stationId": station_id, "chargingState": "Charging"}
        )
        assert charging.json()["transactions"] == []
        for state in ("active", "STATE_ACTIVE"):
            listed = await rest.get(
                "/v1/transactions", params={"stationId": station_id, "state": state}
            )
            assert listed.status_code == 200, listed.text
            assert [t["id"] for t in listed.json()["transactions"]] == [tx_id]
        await station.call(
            "TransactionEvent",
            _event(
                "Ended",
                1,
                tx_id,
                "EVCommunicationLost",
                info={"stoppedReason": "EVDisconnected", "chargingState": "Idle"},
                meterValue=_energy(0),
            ),
        )
    finally:
        await station.close()
    got = (await rest.get(f"/v1/transactions/{tx_id}")).json()
    assert got["active"] is False and got["energyWh"] == 0
    assert got["stoppedReason"] == "EVDisconnected" and got["chargingState"] == "Idle"
    assert got["evseId"] == 1 and got["connectorId"] == 1
    started, ended = got["events"]
    assert (started["seqNo"], started["eventType"], started["triggerReason"]) == (
        0,
        "Started",
        "CablePluggedIn",
    )
    assert started["offline"] is False and ended["eventType"] == "Ended"
    sample = started["meterValues"][0]["sampledValue"][0]
    assert sample == {
        "value": 0,
        "measurand": "Energy.Active.Import.Register",
        "unitOfMeasure": {"unit": "Wh"},
    }
    for state in ("ended", "STATE_ENDED"):
        listed = await rest.get(
            "/v1/transactions", params={"stationId": station_id, "state": state}
        )
        assert [t["id"] for t in listed.json()["transactions"]] == [tx_id]
    assert (
        await rest.get("/v1/transactions", params={"stationId": station_id, "state": "active"})
    ).json()["transactions"] == []
    bad = await rest.get("/v1/transactions", params={"state": "open"})
    assert bad.status_code == 400 and "active" in bad.json()["message"], bad.text
    bad = await rest.get("/v1/transactions", params={"chargingState": "Sleeping"})
    assert bad.status_code == 400 and "SuspendedEV" in bad.json()["message"], bad.text
    idle = await rest.get(
        "/v1/transactions", params={"stationId": station_id, "chargingState": "Idle"}
    )
    assert [t["id"] for t in idle.json()["transactions"]] == [tx_id]

    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh.settings.envoy_port}") as channel:
        typed = await tx_grpc.TransactionServiceStub(channel).GetTransaction(
            tx_pb.GetTransactionRequest(id=tx_id, station_id=station_id),
            metadata=(("authorization", f"Bearer {operator_key}"),),
            timeout=10,
        )
    assert typed.stopped_reason == ocpp.REASON_EV_DISCONNECTED
    assert typed.events[0].meter_values[0].sampled_value[0].measurand == (
        ocpp.MEASURAND_ENERGY_ACTIVE_IMPORT_REGISTER
    )


async def test_api_key_roles_are_words(rest: httpx.AsyncClient) -> None:
    """role: reader / operator, in bodies and answers; the old names still accepted."""
    for role, word in [("reader", "reader"), ("API_KEY_ROLE_OPERATOR", "operator")]:
        resp = await rest.post("/v1/apiKeys", json={"name": f"w-{role}", "role": role})
        assert resp.status_code == 200, resp.text
        created = resp.json()
        assert created["role"] == word and created["secret"].startswith("csms_")
        revoked = await rest.post(f"/v1/apiKeys/{created['id']}:revoke", json={})
        assert revoked.status_code == 200 and "revokeTime" in revoked.json(), revoked.text


def _keeping_rules(action: str, body: JSON) -> JSON:
    """A charging profile must also keep OCPP's K01 rules, which the CSMS checks before sending
    (smart charging): the generated one made to, every property kept but the transactionId a
    RequestStartTransaction's TxProfile may not have (F01.FR.11). SetChargingProfile's is a
    TxProfile of the transaction the test starts first. A display message ends after it
    starts (display messages)."""
    if action == "SetDisplayMessage":
        body["message"]["startDateTime"] = "2026-01-01T00:00:00Z"
        body["message"]["endDateTime"] = "2099-01-01T00:00:00Z"
    profile = body.get("chargingProfile")
    if action not in ("SetChargingProfile", "RequestStartTransaction") or profile is None:
        return body
    profile["chargingProfilePurpose"] = "TxProfile"
    profile["validTo"] = "2099-01-01T00:00:00Z"  # after validFrom
    for schedule in profile["chargingSchedule"]:
        schedule["chargingSchedulePeriod"][0]["startPeriod"] = 0  # K01.FR.31
    if action == "RequestStartTransaction":
        del profile["transactionId"]
    return body


@pytest.mark.parametrize("action", ACTIONS)
async def test_every_command_takes_and_answers_ocpp_json_verbatim(
    rest: httpx.AsyncClient, ws_url: Callable[[str], str], station_id: str, action: str
) -> None:
    """One valid request per CSMS-initiated action, generated from its OCPP schema (every
    property, enums with dots and dashes where they have them, customData): the station gets it
    as sent, and the REST answer is the station's response payload, generated the same way."""
    body = _keeping_rules(action, payload_example(action, "Request"))
    reply = payload_example(action, "Response")
    station = await Station.connect(ws_url(station_id), station_id)
    try:
        await station.boot()
        if action == "SetNetworkProfile":
            # An upgrade to profile 1 or 2 is sent only to a station the CSMS has a password
            # for (it could never let it in again otherwise, A05).
            resp = await rest.patch(
                f"/v1/chargingStations/{station_id}",
                json={"basicAuthPassword": "a-password-of-20-chars"},
            )
            assert resp.status_code == 200, resp.text
        if action == "SetChargingProfile":
            tx_id, evse_id = body["chargingProfile"]["transactionId"], body["evseId"]
            started = {
                "eventType": "Started",
                "timestamp": now(),
                "triggerReason": "CablePluggedIn",
                "seqNo": 0,
                "transactionInfo": {"transactionId": tx_id},
                "evse": {"id": evse_id, "connectorId": 1},
            }
            await station.call("TransactionEvent", started)
        station.answer(action, reply)
        verb = action[0].lower() + action[1:]
        resp = await rest.post(f"/v1/chargingStations/{station_id}:{verb}", json=body)
        assert resp.status_code == 200, resp.text
        assert resp.json() == reply
        [got] = station.calls(action)
        assert got.payload == body
    finally:
        await station.close()
    assert station.violations == []


async def test_notify_event_is_answered_stored_and_listed_in_ocpp_words(
    rest: httpx.AsyncClient, ws_url: Callable[[str], str], station_id: str
) -> None:
    """OCTT's Booted state sends NotifyEvent after its StatusNotifications: answered {}, every
    part stored, listed by REST with OCPP's words and filtered by them."""
    station = await Station.connect(ws_url(station_id), station_id)
    try:
        await station.boot()
        for seq, (trigger, value, tbc) in enumerate(
            [("Delta", "Occupied", True), ("Alerting", "Faulted", False)]
        ):
            answer = await station.call(
                "NotifyEvent",
                {
                    "generatedAt": "2026-12-04T10:00:00.123Z",
                    "seqNo": seq,
                    "tbc": tbc,
                    "eventData": [
                        {
                            "eventId": seq + 1,
                            "timestamp": f"2026-12-04T10:00:0{seq}Z",
                            "trigger": trigger,
                            "actualValue": value,
                            "eventNotificationType": "HardWiredNotification",
                            "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                            "variable": {"name": "AvailabilityState"},
                        }
                    ],
                },
            )
            assert answer == {}
    finally:
        await station.close()
    url = f"/v1/chargingStations/{station_id}/events"
    events = (await rest.get(url)).json()["events"]
    assert [e["eventData"]["actualValue"] for e in events] == ["Faulted", "Occupied"]
    newest = events[0]
    assert newest["eventData"]["trigger"] == "Alerting"
    assert newest["eventData"]["eventNotificationType"] == "HardWiredNotification"
    assert (newest["seqNo"], newest["tbc"]) == (1, False)
    assert (events[1]["seqNo"], events[1]["tbc"]) == (0, True)
    for trigger in ("Delta", "EVENT_TRIGGER_DELTA"):
        delta = (await rest.get(url, params={"trigger": trigger})).json()["events"]
        assert [e["eventData"]["eventId"] for e in delta] == [1]
    since = (await rest.get(url, params={"since": "2026-12-04T10:00:01Z"})).json()["events"]
    assert [e["eventData"]["eventId"] for e in since] == [2]
    bad = await rest.get(url, params={"trigger": "Sometimes"})
    assert bad.status_code == 400 and "Alerting" in bad.json()["message"], bad.text
    bad = await rest.get(url, params={"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.json()["message"], bad.text
