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
