"""Tests for gateway.ocpp16: each 1.6 message to its 2.0.1 translation and back, as tables."""

from __future__ import annotations

import pathlib
from typing import Any

import ocpp
import orjson
import pytest

from gateway import ocpp16, ocppj

JSON = dict[str, Any]
NOW = "2026-12-05T14:00:00.123Z"


@pytest.mark.parametrize(
    ("action", "payload", "translated_action", "translated"),
    [
        pytest.param(
            "BootNotification",
            {"chargePointVendor": "Acme", "chargePointModel": "W22"},
            "BootNotification",
            {"reason": "Unknown", "chargingStation": {"model": "W22", "vendorName": "Acme"}},
            id="boot-minimal",
        ),
        pytest.param(
            "BootNotification",
            {
                "chargePointVendor": "Acme",
                "chargePointModel": "W22",
                "chargePointSerialNumber": "SN-1",
                "chargeBoxSerialNumber": "BOX-1",
                "firmwareVersion": "1.2.3",
                "iccid": "8931",
                "imsi": "2620",
                "meterType": "M",
                "meterSerialNumber": "MS",
            },
            "BootNotification",
            {
                "reason": "Unknown",
                "chargingStation": {
                    "model": "W22",
                    "vendorName": "Acme",
                    "serialNumber": "SN-1",
                    "firmwareVersion": "1.2.3",
                    "modem": {"iccid": "8931", "imsi": "2620"},
                },
            },
            id="boot-full",
        ),
        pytest.param(
            "BootNotification",
            {"chargePointVendor": "A", "chargePointModel": "M", "chargeBoxSerialNumber": "BOX"},
            "BootNotification",
            {
                "reason": "Unknown",
                "chargingStation": {"model": "M", "vendorName": "A", "serialNumber": "BOX"},
            },
            id="boot-deprecated-serial",
        ),
        pytest.param("Heartbeat", {}, "Heartbeat", {}, id="heartbeat"),
        pytest.param(
            "StatusNotification",
            {
                "connectorId": 2,
                "errorCode": "NoError",
                "status": "Charging",
                "timestamp": "2026-12-05T13:00:00+01:00",
            },
            "StatusNotification",
            {
                "timestamp": "2026-12-05T13:00:00+01:00",
                "connectorStatus": "Occupied",
                "evseId": 2,
                "connectorId": 1,
            },
            id="status-charging",
        ),
        pytest.param(
            "StatusNotification",
            {"connectorId": 0, "errorCode": "GroundFailure", "status": "Faulted"},
            "StatusNotification",
            {"timestamp": NOW, "connectorStatus": "Faulted", "evseId": 0, "connectorId": 0},
            id="status-of-the-station-without-timestamp",
        ),
        pytest.param(
            "Authorize",
            {"idTag": "04A2B3C4"},
            "Authorize",
            {"idToken": {"idToken": "04A2B3C4", "type": "ISO14443"}},
            id="authorize",
        ),
    ],
)
def test_requests(action: str, payload: JSON, translated_action: str, translated: JSON) -> None:
    """Each valid 1.6 request becomes the valid 2.0.1 request of the row that serves it."""
    ocppj.validate(action, "Request", payload, "m1", "ocpp1.6")
    call, _ = ocpp16.request(ocppj.Call("m1", action, payload), NOW)
    assert call == ocppj.Call("m1", translated_action, translated)
    ocppj.validate(call.action, "Request", call.payload, "m1")


@pytest.mark.parametrize(
    ("payload", "extra"),
    [
        (
            {"connectorId": 1, "errorCode": "NoError", "status": "SuspendedEV"},
            {"ocpp16": {"status": "SuspendedEV", "errorCode": "NoError"}},
        ),
        (
            {
                "connectorId": 1,
                "errorCode": "OtherError",
                "status": "Faulted",
                "info": "door open",
                "vendorId": "com.acme",
                "vendorErrorCode": "E42",
            },
            {
                "ocpp16": {
                    "status": "Faulted",
                    "errorCode": "OtherError",
                    "info": "door open",
                    "vendorId": "com.acme",
                    "vendorErrorCode": "E42",
                }
            },
        ),
    ],
)
def test_status_notification_keeps_the_1_6_fields(payload: JSON, extra: JSON) -> None:
    """What 2.0.1 cannot say (the 1.6 status, errorCode, info, vendor fields) goes along as the
    wrapper's ocpp16 field, which the proto accepts as it is."""
    from google.protobuf import json_format

    from csms.device.v1 import device_service_pb2 as device_pb

    _, got = ocpp16.request(ocppj.Call("m1", "StatusNotification", payload), NOW)
    assert got == extra
    wrapper = device_pb.StatusNotificationCall(station_id="CS1")
    json_format.ParseDict(got["ocpp16"], wrapper.ocpp16)
    assert wrapper.ocpp16.status == payload["status"]
    assert wrapper.ocpp16.error_code == payload["errorCode"]


def test_every_1_6_connector_status_has_a_2_0_1_one() -> None:
    """Each 1.6 ChargePointStatus maps to a 2.0.1 ConnectorStatusEnumType value."""
    from ocpp.v16.enums import ChargePointStatus
    from ocpp.v201.enums import ConnectorStatusEnumType

    assert set(ocpp16.CONNECTOR_STATUS_16) == {s.value for s in ChargePointStatus}
    assert set(ocpp16.CONNECTOR_STATUS_16.values()) <= {s.value for s in ConnectorStatusEnumType}


@pytest.mark.parametrize(
    ("action", "response", "answered"),
    [
        pytest.param(
            "BootNotification",
            {"currentTime": NOW, "interval": 300, "status": "Accepted"},
            {"currentTime": NOW, "interval": 300, "status": "Accepted"},
            id="boot-accepted",
        ),
        pytest.param(
            "BootNotification",
            {
                "currentTime": NOW,
                "interval": 60,
                "status": "Pending",
                "statusInfo": {"reasonCode": "Provisioning"},
            },
            {"currentTime": NOW, "interval": 60, "status": "Pending"},
            id="boot-pending-drops-status-info",
        ),
        pytest.param("Heartbeat", {"currentTime": NOW}, {"currentTime": NOW}, id="heartbeat"),
        pytest.param("StatusNotification", {}, {}, id="status"),
        pytest.param(
            "Authorize",
            {
                "idTokenInfo": {
                    "status": "Accepted",
                    "cacheExpiryDateTime": NOW,
                    "groupIdToken": {"idToken": "FLEET", "type": "Central"},
                }
            },
            {"idTagInfo": {"status": "Accepted", "expiryDate": NOW, "parentIdTag": "FLEET"}},
            id="authorize-accepted",
        ),
        pytest.param(
            "Authorize",
            {
                "idTokenInfo": {
                    "status": "Accepted",
                    "groupIdToken": {"idToken": "G" * 21, "type": "Central"},
                }
            },
            {"idTagInfo": {"status": "Accepted"}},
            id="authorize-group-too-long-for-1.6",
        ),
        pytest.param(
            "Authorize",
            {"idTokenInfo": {"status": "Unknown"}},
            {"idTagInfo": {"status": "Invalid"}},
            id="authorize-unknown-is-invalid",
        ),
    ],
)
def test_responses(action: str, response: JSON, answered: JSON) -> None:
    """Each 2.0.1 answer goes back as the 1.6 CALLRESULT of the same message id."""
    ocppj.validate(ocpp16.TRANSLATIONS[action].action, "Response", response)
    frame = ocpp16.answer(action, ocppj.call_result("m1", response))
    assert orjson.loads(frame) == [3, "m1", answered]


def test_every_2_0_1_authorization_status_has_a_1_6_one() -> None:
    """No 2.0.1 status is left without its 1.6 answer, and each is one of 1.6's five."""
    from ocpp.v16.enums import AuthorizationStatus
    from ocpp.v201.enums import AuthorizationStatusEnumType

    assert set(ocpp16.AUTHORIZATION_16) == {s.value for s in AuthorizationStatusEnumType}
    assert set(ocpp16.AUTHORIZATION_16.values()) <= {s.value for s in AuthorizationStatus}


# -- transactions ----------------------------------------------------------------------------

T0 = "2026-12-05T10:00:00Z"
T1 = "2026-12-05T10:05:00.250Z"
T2 = "2026-12-05T10:30:00Z"
# Seconds from 2020-01-01 to T0, plus one (ocpp16.meter_seq_no).
SEQ_T0 = 218_628_000 + 1
ENERGY = "Energy.Active.Import.Register"


def _register(at: str, wh: int, context: str) -> JSON:
    return {
        "timestamp": at,
        "sampledValue": [
            {"value": wh, "context": context, "measurand": ENERGY, "unitOfMeasure": {"unit": "Wh"}}
        ],
    }


@pytest.mark.parametrize(
    ("action", "payload", "transaction_id", "translated_action", "translated"),
    [
        pytest.param(
            "StartTransaction",
            {"connectorId": 2, "idTag": "TAG1", "meterStart": 1200, "timestamp": T0},
            17,
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": T0,
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": "17", "chargingState": "Charging"},
                "idToken": {"idToken": "TAG1", "type": "ISO14443"},
                "evse": {"id": 2, "connectorId": 1},
                "meterValue": [_register(T0, 1200, "Transaction.Begin")],
            },
            id="start",
        ),
        pytest.param(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "TAG1",
                "meterStart": 0,
                "timestamp": T0,
                "reservationId": 5,
            },
            1,
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": T0,
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": "1", "chargingState": "Charging"},
                "idToken": {"idToken": "TAG1", "type": "ISO14443"},
                "evse": {"id": 1, "connectorId": 1},
                "meterValue": [_register(T0, 0, "Transaction.Begin")],
                "reservationId": 5,
            },
            id="start-reservation",
        ),
        pytest.param(
            "StopTransaction",
            {"transactionId": 17, "meterStop": 9200, "timestamp": T2},
            None,
            "TransactionEvent",
            {
                "eventType": "Ended",
                "timestamp": T2,
                "triggerReason": "StopAuthorized",
                "seqNo": 2**31 - 1,
                "transactionInfo": {"transactionId": "17", "stoppedReason": "Local"},
                "meterValue": [_register(T2, 9200, "Transaction.End")],
            },
            id="stop-minimal-reason-local",
        ),
        pytest.param(
            "StopTransaction",
            {
                "transactionId": 17,
                "idTag": "TAG2",
                "meterStop": 9200,
                "timestamp": T2,
                "reason": "EVDisconnected",
                "transactionData": [
                    {
                        "timestamp": T1,
                        "sampledValue": [
                            {"value": "5000", "unit": "Wh"},
                            {"value": "21.5", "measurand": "Temperature", "unit": "Celsius"},
                            {"value": "0A1B", "format": "SignedData"},
                        ],
                    },
                    {"timestamp": T1, "sampledValue": [{"value": "1", "measurand": "RPM"}]},
                ],
            },
            None,
            "TransactionEvent",
            {
                "eventType": "Ended",
                "timestamp": T2,
                "triggerReason": "EVCommunicationLost",
                "seqNo": 2**31 - 1,
                "transactionInfo": {"transactionId": "17", "stoppedReason": "EVDisconnected"},
                "idToken": {"idToken": "TAG2", "type": "ISO14443"},
                "meterValue": [
                    {
                        "timestamp": T1,
                        "sampledValue": [{"value": 5000.0, "unitOfMeasure": {"unit": "Wh"}}],
                    },
                    _register(T2, 9200, "Transaction.End"),
                ],
            },
            id="stop-full",
        ),
        pytest.param(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": 17,
                "meterValue": [
                    {
                        "timestamp": T1,
                        "sampledValue": [
                            {
                                "value": "7.5",
                                "context": "Sample.Periodic",
                                "measurand": ENERGY,
                                "unit": "kWh",
                                "phase": "L1",
                                "location": "Outlet",
                            },
                            {"value": "40", "measurand": "Temperature", "unit": "Celcius"},
                        ],
                    },
                    {
                        "timestamp": T0,
                        "sampledValue": [{"value": "30.5", "measurand": "SoC", "unit": "Percent"}],
                    },
                ],
            },
            None,
            "TransactionEvent",
            {
                "eventType": "Updated",
                "timestamp": T0,
                "triggerReason": "MeterValuePeriodic",
                "seqNo": SEQ_T0,
                "transactionInfo": {"transactionId": "17"},
                "evse": {"id": 1, "connectorId": 1},
                "meterValue": [
                    {
                        "timestamp": T1,
                        "sampledValue": [
                            {
                                "value": 7.5,
                                "context": "Sample.Periodic",
                                "measurand": ENERGY,
                                "phase": "L1",
                                "location": "Outlet",
                                "unitOfMeasure": {"unit": "kWh"},
                            }
                        ],
                    },
                    {
                        "timestamp": T0,
                        "sampledValue": [
                            {
                                "value": 30.5,
                                "measurand": "SoC",
                                "unitOfMeasure": {"unit": "Percent"},
                            }
                        ],
                    },
                ],
            },
            id="meter-values-of-a-transaction",
        ),
        pytest.param(
            "MeterValues",
            {
                "connectorId": 0,
                "transactionId": 17,
                "meterValue": [
                    {
                        "timestamp": T0,
                        "sampledValue": [{"value": "1", "context": "Sample.Clock"}],
                    }
                ],
            },
            None,
            "TransactionEvent",
            {
                "eventType": "Updated",
                "timestamp": T0,
                "triggerReason": "MeterValueClock",
                "seqNo": SEQ_T0,
                "transactionInfo": {"transactionId": "17"},
                "meterValue": [
                    {"timestamp": T0, "sampledValue": [{"value": 1.0, "context": "Sample.Clock"}]}
                ],
            },
            id="meter-values-clock-connector-0",
        ),
        pytest.param(
            "MeterValues",
            {
                "connectorId": 0,
                "meterValue": [
                    {
                        "timestamp": T0,
                        "sampledValue": [
                            {"value": "230.1", "measurand": "Voltage", "unit": "V"},
                            {"value": "50", "measurand": "Frequency", "unit": "Hertz"},
                        ],
                    }
                ],
            },
            None,
            "MeterValues",
            {
                "evseId": 0,
                "meterValue": [
                    {
                        "timestamp": T0,
                        "sampledValue": [
                            {
                                "value": 230.1,
                                "measurand": "Voltage",
                                "unitOfMeasure": {"unit": "V"},
                            },
                            {
                                "value": 50.0,
                                "measurand": "Frequency",
                                "unitOfMeasure": {"unit": "Hertz"},
                            },
                        ],
                    }
                ],
            },
            id="meter-values-of-the-station",
        ),
    ],
)
def test_transaction_requests(
    action: str,
    payload: JSON,
    transaction_id: int | None,
    translated_action: str,
    translated: JSON,
) -> None:
    """Each 1.6 transaction message becomes the valid 2.0.1 request of the row that serves it."""
    ocppj.validate(action, "Request", payload, "m1", "ocpp1.6")
    call, extra = ocpp16.request(ocppj.Call("m1", action, payload), NOW, transaction_id)
    assert call == ocppj.Call("m1", translated_action, translated)
    assert extra == {}
    ocppj.validate(call.action, "Request", call.payload, "m1")


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Charging", "Charging"),
        ("SuspendedEV", "SuspendedEV"),
        ("SuspendedEVSE", "SuspendedEVSE"),
        ("Preparing", None),
        ("Finishing", None),
        ("Available", None),
        ("Faulted", None),
    ],
)
def test_a_connector_status_tells_its_transaction_charging_state(
    status: str, state: str | None
) -> None:
    """1.6 has no chargingState: a connector's Charging, SuspendedEV or SuspendedEVSE is its
    transaction's, an Updated event dated as the status (the gateway's time when undated)."""
    payload = {"connectorId": 2, "errorCode": "NoError", "status": status, "timestamp": T0}
    event = ocpp16.charging_state_event(payload, "17", T1)
    if state is None:
        assert event is None
        return
    assert event == {
        "eventType": "Updated",
        "timestamp": T0,
        "triggerReason": "ChargingStateChanged",
        "seqNo": SEQ_T0,
        "transactionInfo": {"transactionId": "17", "chargingState": state},
        "evse": {"id": 2, "connectorId": 1},
    }
    ocppj.validate("TransactionEvent", "Request", event)
    undated = {k: v for k, v in payload.items() if k != "timestamp"}
    assert ocpp16.charging_state_event(undated, "17", T1)["timestamp"] == T1  # type: ignore[index]
    # Connector 0 is the station: no transaction there.
    assert ocpp16.charging_state_event({**payload, "connectorId": 0}, "17", T1) is None


def test_start_transaction_asks_for_its_id_first() -> None:
    """StartTransaction's natural key goes to AssignTransactionId16; nothing else does."""
    start = {"connectorId": 1, "idTag": "T", "meterStart": 5, "timestamp": T0, "reservationId": 3}
    assert ocpp16.assignment(ocppj.Call("m1", "StartTransaction", start)) == {
        "connectorId": 1,
        "idTag": "T",
        "meterStart": 5,
        "timestamp": T0,
    }
    stop = {"transactionId": 1, "meterStop": 5, "timestamp": T0}
    assert ocpp16.assignment(ocppj.Call("m1", "StopTransaction", stop)) is None
    assert ocpp16.assignment(ocppj.Call("m1", "Heartbeat", {})) is None


@pytest.mark.parametrize(
    ("action", "payload", "why"),
    [
        pytest.param(
            "StartTransaction",
            {"connectorId": 0, "idTag": "T", "meterStart": 0, "timestamp": T0},
            "connectorId",
            id="start-on-connector-0",
        ),
        pytest.param(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": 3,
                "meterValue": [{"timestamp": T0, "sampledValue": [{"value": "lots"}]}],
            },
            "not a number",
            id="meter-value-not-a-number",
        ),
        pytest.param(
            "StopTransaction",
            {
                "transactionId": 3,
                "meterStop": 1,
                "timestamp": T0,
                "transactionData": [{"timestamp": T0, "sampledValue": [{"value": "NaN"}]}],
            },
            "finite",
            id="stop-transaction-data-nan",
        ),
        pytest.param(
            "MeterValues",
            {
                "connectorId": -1,
                "meterValue": [{"timestamp": T0, "sampledValue": [{"value": "1"}]}],
            },
            "negative",
            id="meter-values-negative-connector",
        ),
        pytest.param(
            "MeterValues",
            {
                "connectorId": 1,
                "meterValue": [
                    {"timestamp": T0, "sampledValue": [{"value": "1", "measurand": "RPM"}]}
                ],
            },
            "can be kept",
            id="meter-values-nothing-kept",
        ),
    ],
)
def test_values_the_csms_cannot_take_are_property_constraint_violations(
    action: str, payload: JSON, why: str
) -> None:
    """A 1.6-valid payload with values the CSMS cannot take: PropertyConstraintViolation, with
    the CALL's message id."""
    ocppj.validate(action, "Request", payload, "m9", "ocpp1.6")
    call = ocppj.Call("m9", action, payload)
    with pytest.raises(ocppj.OcppError) as err:
        assigned = ocpp16.assignment(call)
        ocpp16.request(call, NOW, None if assigned is None else 1)
    assert err.value.code == ocppj.Code.PROPERTY_CONSTRAINT_VIOLATION
    assert err.value.message_id == "m9"
    assert why in err.value.description
    assert orjson.loads(err.value.frame("ocpp1.6"))[:3] == [4, "m9", "PropertyConstraintViolation"]


@pytest.mark.parametrize(
    ("action", "response", "transaction_id", "answered"),
    [
        pytest.param(
            "StartTransaction",
            {"idTokenInfo": {"status": "Accepted"}},
            17,
            {"idTagInfo": {"status": "Accepted"}, "transactionId": 17},
            id="start-accepted",
        ),
        pytest.param(
            "StartTransaction",
            {"idTokenInfo": {"status": "Unknown"}, "totalCost": 0},
            18,
            {"idTagInfo": {"status": "Invalid"}, "transactionId": 18},
            id="start-refused-still-has-its-id",
        ),
        pytest.param(
            "StopTransaction",
            {"idTokenInfo": {"status": "Blocked"}, "totalCost": 1.5},
            None,
            {"idTagInfo": {"status": "Blocked"}},
            id="stop-with-id-tag",
        ),
        pytest.param("StopTransaction", {}, None, {}, id="stop-without-id-tag"),
        pytest.param("MeterValues", {}, None, {}, id="meter-values"),
    ],
)
def test_transaction_responses(
    action: str, response: JSON, transaction_id: int | None, answered: JSON
) -> None:
    """Each 2.0.1 answer goes back as 1.6's; StartTransaction's always with idTagInfo and the
    assigned transactionId (both required in 1.6)."""
    frame = ocpp16.answer(action, ocppj.call_result("m1", response), transaction_id)
    assert orjson.loads(frame) == [3, "m1", answered]


def test_every_1_6_stop_reason_has_a_2_0_1_one() -> None:
    """Each 1.6 Reason maps to a 2.0.1 ReasonEnumType and TriggerReasonEnumType value."""
    from ocpp.v16.enums import Reason
    from ocpp.v201.enums import ReasonEnumType, TriggerReasonEnumType

    assert set(ocpp16.STOP_REASONS_16) == {r.value for r in Reason}
    for stopped, trigger in ocpp16.STOP_REASONS_16.values():
        assert stopped in {r.value for r in ReasonEnumType}
        assert trigger in {t.value for t in TriggerReasonEnumType}


def test_every_kept_1_6_measurand_is_a_2_0_1_one() -> None:
    """Only the measurands left out are missing from 2.0.1's MeasurandEnumType."""
    from ocpp.v16.enums import Measurand
    from ocpp.v201.enums import MeasurandEnumType

    kept = {m.value for m in Measurand} - ocpp16.UNKEPT_MEASURANDS_16
    assert kept <= {m.value for m in MeasurandEnumType}


@pytest.mark.parametrize(
    ("timestamps", "seq_no"),
    [
        ([T0], SEQ_T0),
        ([T1, T0], SEQ_T0),
        (["2026-12-05T11:00:00+01:00"], SEQ_T0),  # the same instant
        (["2026-12-05T10:00:00.999Z"], SEQ_T0),  # whole seconds
        (["1970-01-01T00:00:00Z"], 1),  # a clock never set: still after the start
        (["2099-01-01T00:00:00Z"], 2**31 - 2),  # still before the stop
    ],
)
def test_meter_values_seq_no_is_their_earliest_second(timestamps: list[str], seq_no: int) -> None:
    """A re-sent MeterValues gets the same seqNo (its idempotency key), between Start and Stop."""
    values = [{"timestamp": t, "sampledValue": [{"value": "1"}]} for t in timestamps]
    assert ocpp16.meter_seq_no(values) == seq_no


@pytest.mark.parametrize(
    ("code", "spelled"),
    [
        ("FormatViolation", "FormationViolation"),
        ("OccurrenceConstraintViolation", "OccurenceConstraintViolation"),
        ("RpcFrameworkError", "FormationViolation"),
        ("InternalError", "InternalError"),
        ("NotSupported", "NotSupported"),
        ("SecurityError", "SecurityError"),
    ],
)
def test_callerrors_are_spelled_for_1_6(code: str, spelled: str) -> None:
    """A CALLERROR of the translated CALL reaches the 1.6 station in 1.6's spelling."""
    frame = ocpp16.answer("Authorize", ocppj.call_error("m1", code, "why", {"a": 1}))
    assert orjson.loads(frame) == [4, "m1", spelled, "why", {"a": 1}]


def test_an_answer_breaking_the_1_6_schema_is_an_internal_error() -> None:
    """A translated answer 1.6 would refuse is never sent: the station gets InternalError."""
    frame = ocpp16.answer("Heartbeat", ocppj.call_result("m1", {"currentTime": "yesterday"}))
    message = orjson.loads(frame)
    assert message[:3] == [4, "m1", "InternalError"]
    assert "1.6 schema" in message[3]


def test_every_translation_serves_a_1_6_action_through_a_2_0_1_one() -> None:
    """The table names only actions with schemas on both sides."""
    for action, translation in ocpp16.TRANSLATIONS.items():
        assert action in ocppj.ACTIONS_16
        assert translation.action in ocppj.ACTIONS


# -- the other 1.6 station → CSMS messages ------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "payload", "translated_action", "translated", "response", "answered"),
    [
        pytest.param(
            "DataTransfer",
            {"vendorId": "com.acme", "messageId": "m", "data": "x"},
            "DataTransfer",
            {"vendorId": "com.acme", "messageId": "m", "data": "x"},
            {"status": "Accepted", "data": {"a": 1}, "statusInfo": {"reasonCode": "R"}},
            {"status": "Accepted", "data": '{"a":1}'},
            id="data-transfer-json-data-as-text",
        ),
        pytest.param(
            "DataTransfer",
            {"vendorId": "com.acme"},
            "DataTransfer",
            {"vendorId": "com.acme"},
            {"status": "UnknownVendorId"},
            {"status": "UnknownVendorId"},
            id="data-transfer-unknown-vendor",
        ),
        pytest.param(
            "FirmwareStatusNotification",
            {"status": "Installed"},
            "FirmwareStatusNotification",
            {"status": "Installed"},
            {},
            {},
            id="firmware-status",
        ),
        pytest.param(
            "DiagnosticsStatusNotification",
            {"status": "UploadFailed"},
            "LogStatusNotification",
            {"status": "UploadFailure"},
            {},
            {},
            id="diagnostics-upload-failed",
        ),
        pytest.param(
            "SecurityEventNotification",
            {"type": "TamperDetectionActivated", "timestamp": NOW, "techInfo": "lid"},
            "SecurityEventNotification",
            {"type": "TamperDetectionActivated", "timestamp": NOW, "techInfo": "lid"},
            {},
            {},
            id="whitepaper-security-event",
        ),
        pytest.param(
            "SignCertificate",
            {"csr": "-----BEGIN CERTIFICATE REQUEST-----"},
            "SignCertificate",
            {"csr": "-----BEGIN CERTIFICATE REQUEST-----"},
            {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidCSR"}},
            {"status": "Rejected"},
            id="whitepaper-sign-certificate",
        ),
        pytest.param(
            "SignedFirmwareStatusNotification",
            {"status": "InvalidSignature", "requestId": 7},
            "FirmwareStatusNotification",
            {"status": "InvalidSignature", "requestId": 7},
            {},
            {},
            id="whitepaper-signed-firmware-status",
        ),
        pytest.param(
            "LogStatusNotification",
            {"status": "Uploaded", "requestId": 3},
            "LogStatusNotification",
            {"status": "Uploaded", "requestId": 3},
            {},
            {},
            id="whitepaper-log-status",
        ),
    ],
)
def test_other_messages(
    action: str,
    payload: JSON,
    translated_action: str,
    translated: JSON,
    response: JSON,
    answered: JSON,
) -> None:
    """Each valid 1.6 message becomes a valid 2.0.1 one, and its 2.0.1 answer a valid 1.6 one."""
    ocppj.validate(action, "Request", payload, "m1", "ocpp1.6")
    call, extra = ocpp16.request(ocppj.Call("m1", action, payload), NOW)
    assert call == ocppj.Call("m1", translated_action, translated)
    assert extra == {}
    ocppj.validate(call.action, "Request", call.payload, "m1")
    ocppj.validate(call.action, "Response", response)
    frame = ocpp16.answer(action, ocppj.call_result("m1", response))
    assert orjson.loads(frame) == [3, "m1", answered]


def test_every_diagnostics_status_has_a_2_0_1_log_status() -> None:
    """Each 1.6 DiagnosticsStatus is a 2.0.1 UploadLogStatusEnumType value."""
    from ocpp.v16.enums import DiagnosticsStatus
    from ocpp.v201.enums import UploadLogStatusEnumType

    assert set(ocpp16.DIAGNOSTICS_STATUS_16) == {s.value for s in DiagnosticsStatus}
    assert set(ocpp16.DIAGNOSTICS_STATUS_16.values()) <= {s.value for s in UploadLogStatusEnumType}


def test_every_1_6_firmware_status_is_a_2_0_1_one() -> None:
    """1.6 FirmwareStatus values pass as they are: each is a 2.0.1 one, spelled alike."""
    from ocpp.v16.enums import FirmwareStatus
    from ocpp.v201.enums import FirmwareStatusEnumType

    assert {s.value for s in FirmwareStatus} <= {s.value for s in FirmwareStatusEnumType}


# -- CSMS → 1.6 station: the commands -----------------------------------------------------------

PROFILE = {
    "id": 5,
    "stackLevel": 1,
    "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Relative",
    "chargingSchedule": [
        {
            "id": 1,
            "chargingRateUnit": "A",
            "duration": 3600,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}],
        }
    ],
}
CONFIG = {"name": "OCPP16"}
HASH = {
    "hashAlgorithm": "SHA256",
    "issuerNameHash": "a" * 64,
    "issuerKeyHash": "b" * 64,
    "serialNumber": "1f",
}


@pytest.mark.parametrize(
    ("action", "request_201", "action_16", "requests_16"),
    [
        pytest.param("Reset", {"type": "Immediate"}, "Reset", [{"type": "Hard"}], id="reset-hard"),
        pytest.param("Reset", {"type": "OnIdle"}, "Reset", [{"type": "Soft"}], id="reset-soft"),
        pytest.param(
            "UnlockConnector",
            {"evseId": 2, "connectorId": 1},
            "UnlockConnector",
            [{"connectorId": 2}],
            id="unlock",
        ),
        pytest.param(
            "ChangeAvailability",
            {"operationalStatus": "Inoperative"},
            "ChangeAvailability",
            [{"connectorId": 0, "type": "Inoperative"}],
            id="availability-station",
        ),
        pytest.param(
            "ChangeAvailability",
            {"operationalStatus": "Operative", "evse": {"id": 0}},
            "ChangeAvailability",
            [{"connectorId": 0, "type": "Operative"}],
            id="availability-evse-0",
        ),
        pytest.param(
            "ChangeAvailability",
            {"operationalStatus": "Operative", "evse": {"id": 3, "connectorId": 1}},
            "ChangeAvailability",
            [{"connectorId": 3, "type": "Operative"}],
            id="availability-connector",
        ),
        pytest.param(
            "TriggerMessage",
            {"requestedMessage": "StatusNotification", "evse": {"id": 1}},
            "TriggerMessage",
            [{"requestedMessage": "StatusNotification", "connectorId": 1}],
            id="trigger-status-of-connector",
        ),
        pytest.param(
            "TriggerMessage",
            {"requestedMessage": "LogStatusNotification"},
            "TriggerMessage",
            [{"requestedMessage": "DiagnosticsStatusNotification"}],
            id="trigger-diagnostics",
        ),
        pytest.param(
            "TriggerMessage",
            {"requestedMessage": "Heartbeat", "evse": {"id": 0}},
            "TriggerMessage",
            [{"requestedMessage": "Heartbeat"}],
            id="trigger-heartbeat-evse-0",
        ),
        pytest.param(
            "RequestStartTransaction",
            {"remoteStartId": 9, "idToken": {"idToken": "TAG1", "type": "ISO14443"}},
            "RemoteStartTransaction",
            [{"idTag": "TAG1"}],
            id="remote-start",
        ),
        pytest.param(
            "RequestStartTransaction",
            {
                "remoteStartId": 9,
                "evseId": 2,
                "idToken": {"idToken": "TAG1", "type": "Central"},
                "chargingProfile": PROFILE,
            },
            "RemoteStartTransaction",
            [
                {
                    "idTag": "TAG1",
                    "connectorId": 2,
                    "chargingProfile": {
                        "chargingProfileId": 5,
                        "stackLevel": 1,
                        "chargingProfilePurpose": "TxProfile",
                        "chargingProfileKind": "Relative",
                        "chargingSchedule": {
                            "chargingRateUnit": "A",
                            "duration": 3600,
                            "chargingSchedulePeriod": [
                                {"startPeriod": 0, "limit": 16.0, "numberPhases": 3}
                            ],
                        },
                    },
                }
            ],
            id="remote-start-with-profile",
        ),
        pytest.param(
            "RequestStopTransaction",
            {"transactionId": "1234"},
            "RemoteStopTransaction",
            [{"transactionId": 1234}],
            id="remote-stop",
        ),
        pytest.param("ClearCache", {}, "ClearCache", [{}], id="clear-cache"),
        pytest.param(
            "DataTransfer",
            {"vendorId": "com.acme", "messageId": "hello", "data": "{}"},
            "DataTransfer",
            [{"vendorId": "com.acme", "messageId": "hello", "data": "{}"}],
            id="data-transfer",
        ),
        pytest.param(
            "GetVariables",
            {
                "getVariableData": [
                    {"component": CONFIG, "variable": {"name": "HeartbeatInterval"}},
                    {
                        "component": CONFIG,
                        "variable": {"name": "NoSuchKey"},
                        "attributeType": "Actual",
                    },
                ]
            },
            "GetConfiguration",
            [{"key": ["HeartbeatInterval", "NoSuchKey"]}],
            id="get-configuration",
        ),
        pytest.param(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": CONFIG,
                        "variable": {"name": "HeartbeatInterval"},
                        "attributeValue": "60",
                    },
                    {
                        "component": CONFIG,
                        "variable": {"name": "MeterValueSampleInterval"},
                        "attributeValue": "30",
                        "attributeType": "Actual",
                    },
                ]
            },
            "ChangeConfiguration",
            [
                {"key": "HeartbeatInterval", "value": "60"},
                {"key": "MeterValueSampleInterval", "value": "30"},
            ],
            id="change-configuration-one-call-per-key",
        ),
        pytest.param(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                        "attributeValue": "p" * 40,
                    }
                ]
            },
            "ChangeConfiguration",
            [{"key": "AuthorizationKey", "value": "p" * 40}],
            id="basic-auth-password-is-the-whitepaper-authorization-key",
        ),
        pytest.param(
            "GetBaseReport",
            {"requestId": 4, "reportBase": "ConfigurationInventory"},
            "GetConfiguration",
            [{}],
            id="base-report-all-keys",
        ),
        pytest.param(
            "GetLocalListVersion", {}, "GetLocalListVersion", [{}], id="local-list-version"
        ),
        pytest.param(
            "SendLocalList",
            {
                "versionNumber": 3,
                "updateType": "Full",
                "localAuthorizationList": [
                    {"idToken": {"idToken": "A1", "type": "ISO14443"}},
                    # No 1.6 station can be presented it: left out.
                    {"idToken": {"idToken": "NL-TST-C1234567890123", "type": "eMAID"}},
                    {
                        "idToken": {"idToken": "B2", "type": "Central"},
                        "idTokenInfo": {
                            "status": "NoCredit",
                            "cacheExpiryDateTime": NOW,
                            "groupIdToken": {"idToken": "G", "type": "Central"},
                        },
                    },
                ],
            },
            "SendLocalList",
            [
                {
                    "listVersion": 3,
                    "updateType": "Full",
                    "localAuthorizationList": [
                        {"idTag": "A1"},
                        {
                            "idTag": "B2",
                            "idTagInfo": {
                                "status": "Invalid",
                                "expiryDate": NOW,
                                "parentIdTag": "G",
                            },
                        },
                    ],
                }
            ],
            id="send-local-list",
        ),
        pytest.param(
            "CertificateSigned",
            {"certificateChain": "PEM", "certificateType": "ChargingStationCertificate"},
            "CertificateSigned",
            [{"certificateChain": "PEM"}],
            id="certificate-signed",
        ),
        pytest.param(
            "SetChargingProfile",
            {"evseId": 0, "chargingProfile": {**PROFILE, "chargingProfileKind": "Absolute"}},
            "SetChargingProfile",
            [
                {
                    "connectorId": 0,
                    "csChargingProfiles": {
                        "chargingProfileId": 5,
                        "stackLevel": 1,
                        "chargingProfilePurpose": "TxProfile",
                        "chargingProfileKind": "Absolute",
                        "chargingSchedule": {
                            "chargingRateUnit": "A",
                            "duration": 3600,
                            "chargingSchedulePeriod": [
                                {"startPeriod": 0, "limit": 16.0, "numberPhases": 3}
                            ],
                        },
                    },
                }
            ],
            id="set-charging-profile",
        ),
        pytest.param(
            "ClearChargingProfile",
            {
                "chargingProfileId": 5,
                "chargingProfileCriteria": {
                    "evseId": 1,
                    "chargingProfilePurpose": "ChargingStationMaxProfile",
                    "stackLevel": 2,
                },
            },
            "ClearChargingProfile",
            [
                {
                    "id": 5,
                    "connectorId": 1,
                    "chargingProfilePurpose": "ChargePointMaxProfile",
                    "stackLevel": 2,
                }
            ],
            id="clear-charging-profile",
        ),
        pytest.param(
            "GetCompositeSchedule",
            {"duration": 600, "evseId": 1, "chargingRateUnit": "W"},
            "GetCompositeSchedule",
            [{"connectorId": 1, "duration": 600, "chargingRateUnit": "W"}],
            id="composite-schedule",
        ),
        pytest.param(
            "ReserveNow",
            {
                "id": 8,
                "expiryDateTime": NOW,
                "idToken": {"idToken": "R1", "type": "ISO14443"},
                "groupIdToken": {"idToken": "G1", "type": "Central"},
            },
            "ReserveNow",
            [
                {
                    "connectorId": 0,
                    "expiryDate": NOW,
                    "idTag": "R1",
                    "reservationId": 8,
                    "parentIdTag": "G1",
                }
            ],
            id="reserve-any-connector",
        ),
        pytest.param(
            "CancelReservation",
            {"reservationId": 8},
            "CancelReservation",
            [{"reservationId": 8}],
            id="cancel-reservation",
        ),
        pytest.param(
            "UpdateFirmware",
            {
                "requestId": 3,
                "retries": 2,
                "firmware": {"location": "https://fw.example/x.bin", "retrieveDateTime": NOW},
            },
            "UpdateFirmware",
            [{"location": "https://fw.example/x.bin", "retrieveDate": NOW, "retries": 2}],
            id="update-firmware",
        ),
        pytest.param(
            "GetLog",
            {
                "logType": "DiagnosticsLog",
                "requestId": 4,
                "log": {"remoteLocation": "ftp://logs.example/", "oldestTimestamp": NOW},
            },
            "GetDiagnostics",
            [{"location": "ftp://logs.example/", "startTime": NOW}],
            id="get-diagnostics",
        ),
        pytest.param(
            "GetLog",
            {"logType": "SecurityLog", "requestId": 4, "log": {"remoteLocation": "ftp://x/"}},
            "GetLog",
            [{"logType": "SecurityLog", "requestId": 4, "log": {"remoteLocation": "ftp://x/"}}],
            id="whitepaper-security-log",
        ),
        pytest.param(
            "TriggerMessage",
            {"requestedMessage": "SignChargingStationCertificate"},
            "ExtendedTriggerMessage",
            [{"requestedMessage": "SignChargePointCertificate"}],
            id="whitepaper-trigger-sign-certificate",
        ),
        pytest.param(
            "UpdateFirmware",
            {
                "requestId": 5,
                "firmware": {
                    "location": "https://fw.example/x.bin",
                    "retrieveDateTime": NOW,
                    "installDateTime": NOW,
                    "signingCertificate": "PEM",
                    "signature": "c2ln",
                },
            },
            "SignedUpdateFirmware",
            [
                {
                    "requestId": 5,
                    "firmware": {
                        "location": "https://fw.example/x.bin",
                        "retrieveDateTime": NOW,
                        "installDateTime": NOW,
                        "signingCertificate": "PEM",
                        "signature": "c2ln",
                    },
                }
            ],
            id="whitepaper-signed-firmware",
        ),
        pytest.param(
            "InstallCertificate",
            {"certificateType": "CSMSRootCertificate", "certificate": "PEM"},
            "InstallCertificate",
            [{"certificateType": "CentralSystemRootCertificate", "certificate": "PEM"}],
            id="whitepaper-install-certificate",
        ),
        pytest.param(
            "GetInstalledCertificateIds",
            {"certificateType": ["ManufacturerRootCertificate"]},
            "GetInstalledCertificateIds",
            [{"certificateType": "ManufacturerRootCertificate"}],
            id="whitepaper-installed-ids",
        ),
        pytest.param(
            "DeleteCertificate",
            {"certificateHashData": HASH},
            "DeleteCertificate",
            [{"certificateHashData": HASH}],
            id="whitepaper-delete-certificate",
        ),
    ],
)
def test_command_requests(
    action: str, request_201: JSON, action_16: str, requests_16: list[JSON]
) -> None:
    """Each valid 2.0.1 command becomes the valid 1.6 request(s) of its 1.6 action."""
    ocppj.validate(action, "Request", request_201)
    command = ocpp16.command(action, request_201)
    assert command.action == action_16
    got = command.requests(request_201)
    assert got == requests_16
    for request in got:
        ocppj.validate(action_16, "Request", request, version="ocpp1.6")


@pytest.mark.parametrize(
    ("action", "request_201", "why"),
    [
        pytest.param("Reset", {"type": "Immediate", "evseId": 1}, "whole station", id="reset-evse"),
        pytest.param(
            "UnlockConnector", {"evseId": 1, "connectorId": 2}, "one connector", id="unlock-c2"
        ),
        pytest.param("UnlockConnector", {"evseId": 0, "connectorId": 1}, "EVSE 0", id="unlock-0"),
        pytest.param(
            "ChangeAvailability",
            {"operationalStatus": "Operative", "evse": {"id": 1, "connectorId": 2}},
            "one connector",
            id="availability-c2",
        ),
        pytest.param(
            "TriggerMessage",
            {"requestedMessage": "TransactionEvent"},
            "cannot trigger TransactionEvent",
            id="trigger-transaction-event",
        ),
        pytest.param(
            "TriggerMessage",
            {"requestedMessage": "SignV2GCertificate"},
            "cannot trigger",
            id="trigger-v2g-certificate",
        ),
        pytest.param(
            "RequestStartTransaction",
            {"remoteStartId": 1, "idToken": {"idToken": "T" * 21, "type": "Central"}},
            "20 characters",
            id="remote-start-long-id-tag",
        ),
        pytest.param(
            "RequestStartTransaction",
            {
                "remoteStartId": 1,
                "idToken": {"idToken": "T", "type": "Central"},
                "chargingProfile": {
                    **PROFILE,
                    "chargingSchedule": [
                        PROFILE["chargingSchedule"][0],  # type: ignore[index]
                        {**PROFILE["chargingSchedule"][0], "id": 2},  # type: ignore[index, dict-item]
                    ],
                },
            },
            "exactly one chargingSchedule",
            id="remote-start-two-schedules",
        ),
        pytest.param(
            "RequestStopTransaction",
            {"transactionId": "tx-1"},
            "integer",
            id="remote-stop-not-an-integer",
        ),
        pytest.param(
            "RequestStopTransaction", {"transactionId": "007"}, "integer", id="remote-stop-007"
        ),
        pytest.param(
            "RequestStopTransaction",
            {"transactionId": "9999999999"},
            "integer",
            id="remote-stop-beyond-int32",
        ),
        pytest.param(
            "DataTransfer", {"vendorId": "v", "data": {"a": 1}}, "string", id="data-not-text"
        ),
        pytest.param(
            "GetVariables",
            {
                "getVariableData": [
                    {"component": CONFIG, "variable": {"name": "X"}, "attributeType": "Target"}
                ]
            },
            "Actual",
            id="get-target",
        ),
        pytest.param(
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "OCPP16", "evse": {"id": 1}},
                        "variable": {"name": "X"},
                        "attributeValue": "1",
                    }
                ]
            },
            "no EVSE",
            id="set-on-evse",
        ),
        pytest.param(
            "GetBaseReport",
            {"requestId": 1, "reportBase": "SummaryInventory"},
            "summary",
            id="summary-report",
        ),
        pytest.param(
            "CertificateSigned",
            {"certificateChain": "PEM", "certificateType": "V2GCertificate"},
            "V2G",
            id="v2g-certificate",
        ),
        pytest.param(
            "SetChargingProfile",
            {
                "evseId": 0,
                "chargingProfile": {
                    **PROFILE,
                    "chargingProfilePurpose": "ChargingStationExternalConstraints",
                },
            },
            "no ChargingStationExternalConstraints",
            id="external-constraints",
        ),
        pytest.param(
            "ReserveNow",
            {
                "id": 1,
                "expiryDateTime": NOW,
                "idToken": {"idToken": "R", "type": "Central"},
                "connectorType": "cType2",
            },
            "connectorType",
            id="reserve-connector-type",
        ),
        pytest.param(
            "UpdateFirmware",
            {
                "requestId": 1,
                "firmware": {
                    "location": "https://fw.example/x.bin",
                    "retrieveDateTime": NOW,
                    "signature": "c2ln",
                },
            },
            "needs both",
            id="signed-firmware-without-certificate",
        ),
        pytest.param(
            "UpdateFirmware",
            {
                "requestId": 1,
                "firmware": {
                    "location": "https://fw.example/x.bin",
                    "retrieveDateTime": NOW,
                    "installDateTime": NOW,
                },
            },
            "installDateTime",
            id="unsigned-firmware-install-time",
        ),
        pytest.param(
            "InstallCertificate",
            {"certificateType": "V2GRootCertificate", "certificate": "PEM"},
            "not V2GRootCertificate",
            id="install-v2g-root",
        ),
        pytest.param(
            "GetInstalledCertificateIds", {}, "one certificateType", id="installed-ids-all"
        ),
        pytest.param(
            "GetInstalledCertificateIds",
            {"certificateType": ["CSMSRootCertificate", "ManufacturerRootCertificate"]},
            "one certificateType",
            id="installed-ids-two",
        ),
    ],
)
def test_commands_without_a_1_6_meaning_are_refused(
    action: str, request_201: JSON, why: str
) -> None:
    """A valid 2.0.1 command 1.6 cannot say is refused, saying why."""
    ocppj.validate(action, "Request", request_201)
    with pytest.raises(ocpp16.Untranslatable, match=why):
        ocpp16.command(action, request_201).requests(request_201)


@pytest.mark.parametrize(
    ("action", "request_201", "answers_16", "response_201"),
    [
        pytest.param("Reset", {"type": "OnIdle"}, [{"status": "Rejected"}], {"status": "Rejected"}),
        pytest.param(
            "UnlockConnector",
            {"evseId": 1, "connectorId": 1},
            [{"status": "Unlocked"}],
            {"status": "Unlocked"},
            id="unlocked",
        ),
        pytest.param(
            "UnlockConnector",
            {"evseId": 1, "connectorId": 1},
            [{"status": "NotSupported"}],
            {
                "status": "UnlockFailed",
                "statusInfo": {
                    "reasonCode": "NotSupported",
                    "additionalInfo": "the OCPP 1.6 station answered NotSupported",
                },
            },
            id="unlock-not-supported",
        ),
        pytest.param(
            "ChangeAvailability",
            {"operationalStatus": "Inoperative"},
            [{"status": "Scheduled"}],
            {"status": "Scheduled"},
            id="availability-scheduled",
        ),
        pytest.param(
            "TriggerMessage",
            {"requestedMessage": "MeterValues"},
            [{"status": "NotImplemented"}],
            {"status": "NotImplemented"},
            id="trigger-not-implemented",
        ),
        pytest.param(
            "RequestStartTransaction",
            {"remoteStartId": 1, "idToken": {"idToken": "T", "type": "Central"}},
            [{"status": "Accepted"}],
            {"status": "Accepted"},
            id="remote-start",
        ),
        pytest.param(
            "RequestStopTransaction",
            {"transactionId": "5"},
            [{"status": "Rejected"}],
            {"status": "Rejected"},
            id="remote-stop",
        ),
        pytest.param(
            "ClearCache", {}, [{"status": "Accepted"}], {"status": "Accepted"}, id="clear-cache"
        ),
        pytest.param(
            "DataTransfer",
            {"vendorId": "v"},
            [{"status": "Accepted", "data": "pong"}],
            {"status": "Accepted", "data": "pong"},
            id="data-transfer",
        ),
        pytest.param(
            "GetVariables",
            {
                "getVariableData": [
                    {"component": CONFIG, "variable": {"name": "heartbeatinterval"}},
                    {"component": CONFIG, "variable": {"name": "NoSuchKey"}},
                    {"component": CONFIG, "variable": {"name": "AuthorizationKey"}},
                    {"component": CONFIG, "variable": {"name": "Forgotten"}},
                ]
            },
            [
                {
                    "configurationKey": [
                        {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                        {"key": "AuthorizationKey", "readonly": False},
                    ],
                    "unknownKey": ["NoSuchKey"],
                }
            ],
            {
                "getVariableResult": [
                    {
                        "attributeType": "Actual",
                        "attributeStatus": "Accepted",
                        "attributeValue": "300",
                        "component": CONFIG,
                        "variable": {"name": "heartbeatinterval"},
                    },
                    {
                        "attributeType": "Actual",
                        "attributeStatus": "UnknownVariable",
                        "component": CONFIG,
                        "variable": {"name": "NoSuchKey"},
                    },
                    {
                        "attributeType": "Actual",
                        "attributeStatus": "Accepted",
                        "component": CONFIG,
                        "variable": {"name": "AuthorizationKey"},
                    },
                    {
                        "attributeType": "Actual",
                        "attributeStatus": "Rejected",
                        "attributeStatusInfo": {
                            "reasonCode": "NoAnswer",
                            "additionalInfo": (
                                "the OCPP 1.6 station's GetConfiguration answer left it out"
                            ),
                        },
                        "component": CONFIG,
                        "variable": {"name": "Forgotten"},
                    },
                ]
            },
            id="get-configuration",
        ),
        pytest.param(
            "SetVariables",
            {
                "setVariableData": [
                    {"component": CONFIG, "variable": {"name": k}, "attributeValue": "1"}
                    for k in ("A", "B", "C", "D")
                ]
            },
            [
                {"status": "Accepted"},
                {"status": "Rejected"},
                {"status": "RebootRequired"},
                {"status": "NotSupported"},
            ],
            {
                "setVariableResult": [
                    {
                        "attributeType": "Actual",
                        "attributeStatus": "Accepted",
                        "component": CONFIG,
                        "variable": {"name": "A"},
                    },
                    {
                        "attributeType": "Actual",
                        "attributeStatus": "Rejected",
                        "component": CONFIG,
                        "variable": {"name": "B"},
                    },
                    {
                        "attributeType": "Actual",
                        "attributeStatus": "RebootRequired",
                        "component": CONFIG,
                        "variable": {"name": "C"},
                    },
                    {
                        "attributeType": "Actual",
                        "attributeStatus": "UnknownVariable",
                        "attributeStatusInfo": {
                            "reasonCode": "NotSupported",
                            "additionalInfo": "the OCPP 1.6 station answered NotSupported",
                        },
                        "component": CONFIG,
                        "variable": {"name": "D"},
                    },
                ]
            },
            id="change-configuration",
        ),
        pytest.param(
            "GetVariables",
            {
                "getVariableData": [
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                    }
                ]
            },
            [{"configurationKey": [{"key": "AuthorizationKey", "readonly": False}]}],
            {
                "getVariableResult": [
                    {
                        "attributeType": "Actual",
                        "attributeStatus": "Accepted",
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                    }
                ]
            },
            id="authorization-key-answers-for-basic-auth-password",
        ),
        pytest.param(
            "GetBaseReport",
            {"requestId": 1, "reportBase": "FullInventory"},
            [{"configurationKey": [{"key": "K", "readonly": True}]}],
            {"status": "Accepted"},
            id="base-report",
        ),
        pytest.param(
            "GetBaseReport",
            {"requestId": 1, "reportBase": "FullInventory"},
            [{}],
            {"status": "EmptyResultSet"},
            id="base-report-no-keys",
        ),
        pytest.param(
            "GetLocalListVersion",
            {},
            [{"listVersion": 7}],
            {"versionNumber": 7},
            id="local-list-version",
        ),
        pytest.param(
            "SendLocalList",
            {"versionNumber": 1, "updateType": "Differential"},
            [{"status": "VersionMismatch"}],
            {"status": "VersionMismatch"},
            id="local-list-version-mismatch",
        ),
        pytest.param(
            "SendLocalList",
            {"versionNumber": 1, "updateType": "Full"},
            [{"status": "NotSupported"}],
            {
                "status": "Failed",
                "statusInfo": {
                    "reasonCode": "NotSupported",
                    "additionalInfo": "the OCPP 1.6 station answered NotSupported",
                },
            },
            id="local-list-not-supported",
        ),
        pytest.param(
            "CertificateSigned",
            {"certificateChain": "PEM"},
            [{"status": "Rejected"}],
            {"status": "Rejected"},
            id="certificate-signed",
        ),
        pytest.param(
            "SetChargingProfile",
            {"evseId": 1, "chargingProfile": PROFILE},
            [{"status": "NotSupported"}],
            {
                "status": "Rejected",
                "statusInfo": {
                    "reasonCode": "NotSupported",
                    "additionalInfo": "the OCPP 1.6 station answered NotSupported",
                },
            },
            id="set-profile-not-supported",
        ),
        pytest.param(
            "ClearChargingProfile",
            {"chargingProfileId": 5},
            [{"status": "Unknown"}],
            {"status": "Unknown"},
            id="clear-profile-unknown",
        ),
        pytest.param(
            "GetCompositeSchedule",
            {"duration": 600, "evseId": 1},
            [
                {
                    "status": "Accepted",
                    "connectorId": 1,
                    "scheduleStart": NOW,
                    "chargingSchedule": {
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}],
                    },
                }
            ],
            {
                "status": "Accepted",
                "schedule": {
                    "evseId": 1,
                    "duration": 600,
                    "scheduleStart": NOW,
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}],
                },
            },
            id="composite-schedule",
        ),
        pytest.param(
            "GetCompositeSchedule",
            {"duration": 600, "evseId": 1},
            [{"status": "Rejected"}],
            {"status": "Rejected"},
            id="composite-schedule-rejected",
        ),
        pytest.param(
            "ReserveNow",
            {"id": 1, "expiryDateTime": NOW, "idToken": {"idToken": "R", "type": "Central"}},
            [{"status": "Occupied"}],
            {"status": "Occupied"},
            id="reserve-occupied",
        ),
        pytest.param(
            "CancelReservation",
            {"reservationId": 1},
            [{"status": "Rejected"}],
            {"status": "Rejected"},
            id="cancel-rejected",
        ),
        pytest.param(
            "UpdateFirmware",
            {"requestId": 1, "firmware": {"location": "https://x/", "retrieveDateTime": NOW}},
            [{}],
            {"status": "Accepted"},
            id="update-firmware",
        ),
        pytest.param(
            "GetLog",
            {"logType": "DiagnosticsLog", "requestId": 1, "log": {"remoteLocation": "ftp://x/"}},
            [{"fileName": "diag.zip"}],
            {"status": "Accepted", "filename": "diag.zip"},
            id="diagnostics",
        ),
        pytest.param(
            "GetLog",
            {"logType": "DiagnosticsLog", "requestId": 1, "log": {"remoteLocation": "ftp://x/"}},
            [{}],
            {
                "status": "Rejected",
                "statusInfo": {
                    "reasonCode": "NoDiagnostics",
                    "additionalInfo": (
                        "the OCPP 1.6 station answered no fileName: nothing to upload"
                    ),
                },
            },
            id="no-diagnostics",
        ),
        pytest.param(
            "GetInstalledCertificateIds",
            {"certificateType": ["CSMSRootCertificate"]},
            [{"status": "Accepted", "certificateHashData": [HASH]}],
            {
                "status": "Accepted",
                "certificateHashDataChain": [
                    {"certificateType": "CSMSRootCertificate", "certificateHashData": HASH}
                ],
            },
            id="whitepaper-installed-ids",
        ),
        pytest.param(
            "GetInstalledCertificateIds",
            {"certificateType": ["CSMSRootCertificate"]},
            [{"status": "NotFound"}],
            {"status": "NotFound"},
            id="whitepaper-installed-ids-none",
        ),
        pytest.param(
            "InstallCertificate",
            {"certificateType": "CSMSRootCertificate", "certificate": "PEM"},
            [{"status": "Failed"}],
            {"status": "Failed"},
            id="whitepaper-install-failed",
        ),
        pytest.param(
            "DeleteCertificate",
            {"certificateHashData": HASH},
            [{"status": "NotFound"}],
            {"status": "NotFound"},
            id="whitepaper-delete-not-found",
        ),
        pytest.param(
            "UpdateFirmware",
            {
                "requestId": 1,
                "firmware": {
                    "location": "https://x/",
                    "retrieveDateTime": NOW,
                    "signingCertificate": "PEM",
                    "signature": "c2ln",
                },
            },
            [{"status": "InvalidCertificate"}],
            {"status": "InvalidCertificate"},
            id="whitepaper-signed-firmware-invalid-certificate",
        ),
    ],
)
def test_command_responses(
    action: str, request_201: JSON, answers_16: list[JSON], response_201: JSON
) -> None:
    """The station's valid 1.6 answers become the valid 2.0.1 response the services expect."""
    command = ocpp16.command(action, request_201)
    for answer in answers_16:
        ocppj.validate(command.action, "Response", answer, version="ocpp1.6")
    got = command.response(request_201, answers_16)
    assert got == response_201
    ocppj.validate(action, "Response", got)


STANDARD_REQUEST: JSON = {
    "getVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
        {"component": {"name": "TxCtrlr"}, "variable": {"name": "EVConnectionTimeOut"}},
        {"component": {"name": "authctrlr"}, "variable": {"name": "authorizeremotestart"}},
        {
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "MessageAttempts", "instance": "TransactionEvent"},
        },
        {"component": CONFIG, "variable": {"name": "HeartbeatInterval"}},
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "NoSuchVariable"}},
        {"component": {"name": "DisplayMessageCtrlr"}, "variable": {"name": "Enabled"}},
        {"component": {"name": "TxCtrlr", "evse": {"id": 1}}, "variable": {"name": "TxStartPoint"}},
        {
            "component": {"name": "SampledDataCtrlr"},
            "variable": {"name": "TxUpdatedInterval"},
            "attributeType": "Target",
        },
    ]
}


def test_standard_2_0_1_names_are_asked_as_their_1_6_keys() -> None:
    """GetVariables of the 2.0.1 names of 1.6 keys (any case, instance where 2.0.1 has one) is
    GetConfiguration of those keys, once each; what a 1.6 station has no key for is not
    asked."""
    ocppj.validate("GetVariables", "Request", STANDARD_REQUEST)
    command = ocpp16.command("GetVariables", STANDARD_REQUEST)
    assert command.requests(STANDARD_REQUEST) == [
        {
            "key": [
                "HeartbeatInterval",
                "ConnectionTimeOut",
                "AuthorizeRemoteTxRequests",
                "TransactionMessageAttempts",
            ]
        }
    ]


def test_standard_2_0_1_names_are_answered_in_their_names() -> None:
    """The answer keeps the names the operator used; what was not asked is UnknownComponent,
    UnknownVariable or NotSupportedAttributeType per attribute, as a 2.0.1 station without it
    would answer; several GetConfiguration answers are joined."""
    command = ocpp16.command("GetVariables", STANDARD_REQUEST)
    answers: list[JSON] = [
        {
            "configurationKey": [
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                {"key": "ConnectionTimeOut", "readonly": False, "value": "90"},
            ]
        },
        {
            "configurationKey": [
                {"key": "AuthorizeRemoteTxRequests", "readonly": True, "value": "true"}
            ],
            "unknownKey": ["TransactionMessageAttempts"],
        },
    ]
    got = command.response(STANDARD_REQUEST, answers)
    ocppj.validate("GetVariables", "Response", got)
    assert [
        (
            r["component"]["name"],
            r["variable"]["name"],
            r["attributeStatus"],
            r.get("attributeValue"),
        )
        for r in got["getVariableResult"]
    ] == [
        ("OCPPCommCtrlr", "HeartbeatInterval", "Accepted", "300"),
        ("TxCtrlr", "EVConnectionTimeOut", "Accepted", "90"),
        ("authctrlr", "authorizeremotestart", "Accepted", "true"),
        ("OCPPCommCtrlr", "MessageAttempts", "UnknownVariable", None),
        ("OCPP16", "HeartbeatInterval", "Accepted", "300"),
        ("OCPPCommCtrlr", "NoSuchVariable", "UnknownVariable", None),
        ("DisplayMessageCtrlr", "Enabled", "UnknownComponent", None),
        ("TxCtrlr", "TxStartPoint", "UnknownComponent", None),
        ("SampledDataCtrlr", "TxUpdatedInterval", "NotSupportedAttributeType", None),
    ]
    assert got["getVariableResult"][-1]["attributeType"] == "Target"


def test_nothing_a_1_6_station_has_is_asked_for_nothing_sent() -> None:
    """GetVariables / SetVariables of names no 1.6 key has: no 1.6 request at all (an empty
    GetConfiguration would ask for every key), each attribute answered Unknown*."""
    get: JSON = {
        "getVariableData": [
            {"component": {"name": "ClockCtrlr"}, "variable": {"name": "TimeZone"}},
        ]
    }
    assert ocpp16.command("GetVariables", get).requests(get) == []
    assert ocpp16.command("GetVariables", get).response(get, []) == {
        "getVariableResult": [
            {
                "attributeType": "Actual",
                "attributeStatus": "UnknownComponent",
                "component": {"name": "ClockCtrlr"},
                "variable": {"name": "TimeZone"},
            }
        ]
    }
    set_: JSON = {
        "setVariableData": [
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "OfflineThreshold"},
                "attributeValue": "60",
            },
            {
                "component": {"name": "TxCtrlr"},
                "variable": {"name": "EVConnectionTimeOut"},
                "attributeValue": "45",
            },
        ]
    }
    command = ocpp16.command("SetVariables", set_)
    assert command.requests(set_) == [{"key": "ConnectionTimeOut", "value": "45"}]
    got = command.response(set_, [{"status": "Accepted"}])
    ocppj.validate("SetVariables", "Response", got)
    assert [r["attributeStatus"] for r in got["setVariableResult"]] == [
        "UnknownVariable",
        "Accepted",
    ]


def test_the_standard_variables_table_is_one_to_one_and_2_0_1_spelled() -> None:
    """No two 2.0.1 names go to one 1.6 key (an answer tells one value per key), and every
    1.6 key in it is one (1.6 keys are at most 50 characters; the 2.0.1 names, as component and
    variable names, at most 50 too)."""
    keys = [k.lower() for k in ocpp16.STANDARD_VARIABLES_16.values()]
    assert len(keys) == len(set(keys))
    for (component, variable, instance), key in ocpp16.STANDARD_VARIABLES_16.items():
        assert component.endswith("Ctrlr"), component
        assert 0 < len(variable) <= 50 and len(instance) <= 50 and 0 < len(key) <= 50
        request = {
            "getVariableData": [
                {
                    "component": {"name": component},
                    "variable": {"name": variable, **({"instance": instance} if instance else {})},
                }
            ]
        }
        ocppj.validate("GetVariables", "Request", request)
        assert ocpp16.command("GetVariables", request).requests(request) == [{"key": [key]}]


def test_base_report_is_reported_as_a_notify_report() -> None:
    """GetConfiguration's keys become the NotifyReport a 2.0.1 station would send: one variable
    of component OCPP16 per key, readonly → ReadOnly, the value when the station gave one."""
    command = ocpp16.COMMANDS["GetBaseReport"]
    assert command.reports is not None
    request = {"requestId": 12, "reportBase": "ConfigurationInventory"}
    answers = [
        {
            "configurationKey": [
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
                {"key": "AuthorizationKey", "readonly": False},
            ]
        }
    ]
    [(action, report)] = command.reports(request, answers, NOW)
    assert action == "NotifyReport"
    ocppj.validate(action, "Request", report)
    characteristics = {"dataType": "string", "supportsMonitoring": False}
    assert report == {
        "requestId": 12,
        "generatedAt": NOW,
        "seqNo": 0,
        "tbc": False,
        "reportData": [
            {
                "component": CONFIG,
                "variable": {"name": "HeartbeatInterval"},
                "variableAttribute": [
                    {"type": "Actual", "mutability": "ReadWrite", "value": "300"}
                ],
                "variableCharacteristics": characteristics,
            },
            {
                "component": CONFIG,
                "variable": {"name": "NumberOfConnectors"},
                "variableAttribute": [{"type": "Actual", "mutability": "ReadOnly", "value": "2"}],
                "variableCharacteristics": characteristics,
            },
            {
                "component": CONFIG,
                "variable": {"name": "AuthorizationKey"},
                "variableAttribute": [{"type": "Actual", "mutability": "ReadWrite"}],
                "variableCharacteristics": characteristics,
            },
        ],
    }
    assert command.reports(request, [{"configurationKey": []}], NOW) == []


def test_every_2_0_1_trigger_is_sent_or_refused() -> None:
    """Each 2.0.1 requestedMessage either has its 1.6 MessageTrigger or is refused."""
    from ocpp.v201.enums import MessageTriggerEnumType

    # The 1.6 schema's values: the package's v16 MessageTrigger also has the whitepaper's
    # ExtendedTriggerMessage ones.
    schema = orjson.loads(
        (pathlib.Path(ocpp.__file__).parent / "v16/schemas/TriggerMessage.json").read_bytes()
    )
    assert set(ocpp16.TRIGGER_16) <= {s.value for s in MessageTriggerEnumType}
    assert set(ocpp16.TRIGGER_16.values()) == set(schema["properties"]["requestedMessage"]["enum"])
    for value in {s.value for s in MessageTriggerEnumType} - set(ocpp16.TRIGGER_16):
        request = {"requestedMessage": value}
        command = ocpp16.command("TriggerMessage", request)
        if value == "SignChargingStationCertificate":  # the whitepaper's ExtendedTriggerMessage
            assert command.action == "ExtendedTriggerMessage"
            continue
        with pytest.raises(ocpp16.Untranslatable):
            command.requests(request)


def test_status_tables_cover_1_6() -> None:
    """Every 1.6 UnlockStatus and ConfigurationStatus has its 2.0.1 value."""
    from ocpp.v16.enums import ConfigurationStatus, UnlockStatus
    from ocpp.v201.enums import SetVariableStatusEnumType, UnlockStatusEnumType

    assert set(ocpp16.UNLOCK_STATUS_16) == {s.value for s in UnlockStatus}
    assert set(ocpp16.UNLOCK_STATUS_16.values()) <= {s.value for s in UnlockStatusEnumType}
    assert set(ocpp16.CONFIGURATION_STATUS_16) == {s.value for s in ConfigurationStatus}
    assert set(ocpp16.CONFIGURATION_STATUS_16.values()) <= {
        s.value for s in SetVariableStatusEnumType
    }


def test_every_command_is_a_device_command_with_a_1_6_action() -> None:
    """The table names DeviceService's commands, each sent as a CSMS → station 1.6 action."""
    from device_svc.operations import ACTIONS

    commands = [
        *ocpp16.COMMANDS.items(),
        *ocpp16.WHITEPAPER_COMMANDS.items(),
        *((action, command) for action, (_, command) in ocpp16.WHITEPAPER.items()),
    ]
    for action, command in commands:
        assert action in ACTIONS, action
        assert command.action in ocppj.ACTIONS_16, command.action
    assert not set(ocpp16.COMMANDS) & set(ocpp16.WHITEPAPER_COMMANDS)
    with pytest.raises(KeyError):
        ocpp16.command("GetTransactionStatus", {})


def test_a_reported_authorization_key_value_is_not_passed_on() -> None:
    """The whitepaper's AuthorizationKey is write-only: a value a station reports anyway goes
    neither into GetVariables' results nor into the NotifyReport of its configuration."""
    keys = [{"configurationKey": [{"key": "AuthorizationKey", "readonly": False, "value": "pw"}]}]
    command = ocpp16.command("GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"})
    assert command.reports is not None
    [(_, report)] = command.reports({"requestId": 1}, keys, NOW)
    assert report["reportData"][0]["variableAttribute"] == [
        {"type": "Actual", "mutability": "ReadWrite"}
    ]
    item = {"component": CONFIG, "variable": {"name": "AuthorizationKey"}}
    got = ocpp16.COMMANDS["GetVariables"].response({"getVariableData": [item]}, keys)
    assert got["getVariableResult"][0]["attributeStatus"] == "Accepted"
    assert "attributeValue" not in got["getVariableResult"][0]


def test_a_remote_started_transaction_says_so() -> None:
    """Its Started event: triggerReason RemoteStart and the CSMS's remoteStartId."""
    call = ocppj.Call(
        "m1",
        "StartTransaction",
        {"connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": T0},
    )
    translated, _ = ocpp16.request(call, T1, transaction_id=7, remote_start_id=41)
    assert translated.payload["triggerReason"] == "RemoteStart"
    assert translated.payload["transactionInfo"] == {
        "transactionId": "7",
        "chargingState": "Charging",
        "remoteStartId": 41,
    }
    ocppj.validate("TransactionEvent", "Request", translated.payload)


def test_a_transaction_starts_in_the_charging_state_of_its_assignment() -> None:
    """The chargingState transaction_svc fixed at the assignment (the connector's 1.6 status
    before the start) is the Started event's; without one, Charging."""
    call = ocppj.Call(
        "m1",
        "StartTransaction",
        {"connectorId": 2, "idTag": "TAG1", "meterStart": 0, "timestamp": T0},
    )
    translated, _ = ocpp16.request(call, T1, transaction_id=8, charging_state="SuspendedEV")
    assert translated.payload["triggerReason"] == "Authorized"
    assert translated.payload["transactionInfo"] == {
        "transactionId": "8",
        "chargingState": "SuspendedEV",
    }
    ocppj.validate("TransactionEvent", "Request", translated.payload)
    translated, _ = ocpp16.request(call, T1, transaction_id=8)
    assert translated.payload["transactionInfo"]["chargingState"] == "Charging"
