"""Tests for gateway.ocpp16: each 1.6 message to its 2.0.1 translation and back, as tables."""

from __future__ import annotations

from typing import Any

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
                "transactionInfo": {"transactionId": "17"},
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
                "transactionInfo": {"transactionId": "1"},
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
