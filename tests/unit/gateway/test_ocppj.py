"""Tests for gateway.ocppj: OCPP-J framing, schema validation and CALLERROR codes."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from ocpp.v201.enums import Action

from gateway import ocppj
from gateway.ocppj import Call, CallError, CallResult, Code, OcppError

ID36 = "0123456789abcdef0123456789abcdef0123"
ID37 = ID36 + "4"

BOOT = {
    "reason": "PowerUp",
    "chargingStation": {"model": "Wallbox 22", "vendorName": "Acme"},
}
TRANSACTION_EVENT = {
    "eventType": "Updated",
    "timestamp": "2024-05-01T12:00:00Z",
    "triggerReason": "MeterValuePeriodic",
    "seqNo": 3,
    "transactionInfo": {"transactionId": "tx-1", "chargingState": "Charging"},
    "evse": {"id": 1, "connectorId": 1},
    "meterValue": [
        {
            "timestamp": "2024-05-01T12:00:00+02:00",
            "sampledValue": [
                {"value": 1234.5, "unitOfMeasure": {"unit": "Wh"}},
                {"value": 16.0, "measurand": "Current.Import", "phase": "L1"},
            ],
        }
    ],
}


def frame(action: str, payload: Any, message_id: str = "a") -> str:
    """Serialize a CALL the way a station would, with a payload of any shape."""
    return orjson.dumps([2, message_id, action, payload]).decode()


def boot(**changes: Any) -> str:
    """A BootNotification CALL with some fields changed; None removes a field."""
    payload = copy.deepcopy(BOOT)
    for key, value in changes.items():
        if value is None:
            del payload[key]
        else:
            payload[key] = value
    return frame("BootNotification", payload)


def station(**changes: Any) -> str:
    """A BootNotification CALL with some chargingStation fields changed."""
    return boot(chargingStation={**BOOT["chargingStation"], **changes})


def transaction(**changes: Any) -> str:
    """A TransactionEvent CALL with some top-level fields changed."""
    return frame("TransactionEvent", {**TRANSACTION_EVENT, **changes})


def handle(raw: str | bytes) -> ocppj.Message:
    """Parse a frame and validate a CALL's payload, as the gateway does."""
    message = ocppj.parse(raw)
    if isinstance(message, Call):
        ocppj.validate(message.action, "Request", message.payload, message.message_id)
    return message


ERRORS = [
    # Unreadable frames.
    ("not-json", '[2,"a",', Code.RPC_FRAMEWORK_ERROR, "-1"),
    ("invalid-utf8", b'[2,"a\xff","Heartbeat",{}]', Code.RPC_FRAMEWORK_ERROR, "-1"),
    ("object", "{}", Code.RPC_FRAMEWORK_ERROR, "-1"),
    ("empty-array", "[]", Code.RPC_FRAMEWORK_ERROR, "-1"),
    ("string", '"x"', Code.RPC_FRAMEWORK_ERROR, "-1"),
    ("call-without-id", "[2]", Code.RPC_FRAMEWORK_ERROR, "-1"),
    ("id-not-string", '[2, 5, "Heartbeat", {}]', Code.RPC_FRAMEWORK_ERROR, "-1"),
    ("id-too-long", frame("Heartbeat", {}, ID37), Code.RPC_FRAMEWORK_ERROR, "-1"),
    ("type-string", '["2","a","Heartbeat",{}]', Code.RPC_FRAMEWORK_ERROR, "a"),
    ("type-bool", '[true,"a","Heartbeat",{}]', Code.RPC_FRAMEWORK_ERROR, "a"),
    ("type-float", '[2.0,"a","Heartbeat",{}]', Code.RPC_FRAMEWORK_ERROR, "a"),
    ("type-7", '[7,"a","Heartbeat",{}]', Code.MESSAGE_TYPE_NOT_SUPPORTED, "a"),
    ("type-5-of-ocpp21", '[5,"a","Heartbeat",{}]', Code.MESSAGE_TYPE_NOT_SUPPORTED, "a"),
    ("type-7-no-id", "[7]", Code.MESSAGE_TYPE_NOT_SUPPORTED, "-1"),
    ("type-7-long-id", f'[7,"{ID37}"]', Code.MESSAGE_TYPE_NOT_SUPPORTED, "-1"),
    # CALL shape, action and payload.
    ("call-too-short", '[2,"a","Heartbeat"]', Code.RPC_FRAMEWORK_ERROR, "a"),
    ("call-too-long", '[2,"a","Heartbeat",{},{}]', Code.RPC_FRAMEWORK_ERROR, "a"),
    ("action-not-string", '[2,"a",5,{}]', Code.RPC_FRAMEWORK_ERROR, "a"),
    ("unknown-action", frame("Hearbeat", {}), Code.NOT_IMPLEMENTED, "a"),
    ("ocpp16-action", frame("StartTransaction", {}), Code.NOT_IMPLEMENTED, "a"),
    ("payload-array", frame("Heartbeat", []), Code.FORMAT_VIOLATION, "a"),
    ("payload-null", frame("Heartbeat", None), Code.FORMAT_VIOLATION, "a"),
    # Payload against its schema.
    ("missing-reason", boot(reason=None), Code.OCCURRENCE_CONSTRAINT_VIOLATION, "a"),
    ("model-null", station(model=None), Code.TYPE_CONSTRAINT_VIOLATION, "a"),
    ("reason-int", boot(reason=5), Code.TYPE_CONSTRAINT_VIOLATION, "a"),
    ("reason-enum", boot(reason="Bogus"), Code.PROPERTY_CONSTRAINT_VIOLATION, "a"),
    ("model-too-long", station(model="m" * 21), Code.PROPERTY_CONSTRAINT_VIOLATION, "a"),
    ("extra-field", boot(colour="red"), Code.FORMAT_VIOLATION, "a"),
    ("nested-extra", station(colour="red"), Code.FORMAT_VIOLATION, "a"),
    ("heartbeat-extra", frame("Heartbeat", {"x": 1}), Code.FORMAT_VIOLATION, "a"),
    ("int32-max+1", transaction(seqNo=2**31), Code.PROPERTY_CONSTRAINT_VIOLATION, "a"),
    (
        "int32-min-1",
        transaction(evse={"id": -(2**31) - 1}),
        Code.PROPERTY_CONSTRAINT_VIOLATION,
        "a",
    ),
    (
        "int-beyond-64-bit",
        transaction(seqNo=7).replace('"seqNo":7', '"seqNo":' + "9" * 21),
        Code.PROPERTY_CONSTRAINT_VIOLATION,
        "a",
    ),
    ("int-fraction", transaction(seqNo=1.5), Code.TYPE_CONSTRAINT_VIOLATION, "a"),
    ("int-bool", transaction(seqNo=True), Code.TYPE_CONSTRAINT_VIOLATION, "a"),
    (
        "no-offset",
        transaction(timestamp="2024-05-01T12:00:00"),
        Code.PROPERTY_CONSTRAINT_VIOLATION,
        "a",
    ),
    (
        "bad-date",
        transaction(timestamp="2024-13-01T12:00:00Z"),
        Code.PROPERTY_CONSTRAINT_VIOLATION,
        "a",
    ),
    ("empty-meter-value", transaction(meterValue=[]), Code.OCCURRENCE_CONSTRAINT_VIOLATION, "a"),
    ("custom-data-no-vendor", boot(customData={}), Code.OCCURRENCE_CONSTRAINT_VIOLATION, "a"),
    # Broken CALLRESULT and CALLERROR frames.
    ("result-too-short", '[3,"a"]', Code.RPC_FRAMEWORK_ERROR, "a"),
    ("result-id-int", "[3,1,{}]", Code.RPC_FRAMEWORK_ERROR, "-1"),
    ("result-payload-array", '[3,"a",[]]', Code.FORMAT_VIOLATION, "a"),
    ("error-too-short", '[4,"a","InternalError"]', Code.RPC_FRAMEWORK_ERROR, "a"),
    ("error-code-int", '[4,"a",5,"x",{}]', Code.RPC_FRAMEWORK_ERROR, "a"),
    ("error-details-null", '[4,"a","InternalError","x",null]', Code.RPC_FRAMEWORK_ERROR, "a"),
]


@pytest.mark.parametrize(
    ("raw", "code", "message_id"), [r[1:] for r in ERRORS], ids=[r[0] for r in ERRORS]
)
def test_error(raw: str | bytes, code: Code, message_id: str) -> None:
    """Each broken frame is answered with the Part 4 code and the right message id."""
    with pytest.raises(OcppError) as info:
        handle(raw)
    assert (info.value.code, info.value.message_id) == (code, message_id)
    assert 0 < len(info.value.description) <= ocppj.MAX_DESCRIPTION_LENGTH
    assert info.value.details == {}


VALID = [
    ("heartbeat", frame("Heartbeat", {}), Call("a", "Heartbeat", {})),
    ("heartbeat-bytes", frame("Heartbeat", {}).encode(), Call("a", "Heartbeat", {})),
    ("id-36", frame("Heartbeat", {}, ID36), Call(ID36, "Heartbeat", {})),
    ("boot", boot(), Call("a", "BootNotification", BOOT)),
    (
        "boot-custom-data",
        boot(customData={"vendorId": "acme", "anything": [1]}),
        Call(
            "a", "BootNotification", {**BOOT, "customData": {"vendorId": "acme", "anything": [1]}}
        ),
    ),
    ("transaction", transaction(), Call("a", "TransactionEvent", TRANSACTION_EVENT)),
    ("int32-max", transaction(seqNo=2**31 - 1), None),
    ("int32-min", transaction(evse={"id": -(2**31)}), None),
    ("negative-current", transaction(cableMaxCurrent=-1), None),
    (
        "result",
        '[3,"a",{"currentTime":"2024-05-01T12:00:00Z"}]',
        CallResult("a", {"currentTime": "2024-05-01T12:00:00Z"}),
    ),
    (
        "error",
        '[4,"a","NotSupported","nope",{"x":1}]',
        CallError("a", "NotSupported", "nope", {"x": 1}),
    ),
    ("error-unknown-code", '[4,"a","Whatever","",{}]', CallError("a", "Whatever", "", {})),
]


@pytest.mark.parametrize(("raw", "expected"), [r[1:] for r in VALID], ids=[r[0] for r in VALID])
def test_valid(raw: str | bytes, expected: ocppj.Message | None) -> None:
    """Good frames parse into their tuples and their payloads validate."""
    message = handle(raw)
    if expected is not None:
        assert message == expected
        assert type(message) is type(expected)


@pytest.mark.parametrize(
    ("raw", "description"),
    [
        (boot(reason=None), "payload must contain ['reason'] properties"),
        (
            station(model="m" * 21),
            "chargingStation.model must be shorter than or equal to 20 characters",
        ),
        (boot(reason=5), "reason must be string"),
        (frame("Heartbeat", []), "Payload is not a JSON object"),
        (transaction(seqNo=2**31), "seqNo must be smaller than or equal to 2147483647"),
    ],
    ids=["required", "max-length", "type", "not-object", "int32"],
)
def test_description_names_the_field(raw: str, description: str) -> None:
    """Descriptions name the payload path instead of fastjsonschema's "data"."""
    with pytest.raises(OcppError) as info:
        handle(raw)
    assert info.value.description == description


@pytest.mark.parametrize(
    "raw",
    [
        boot(**{"x" * 10_000: 1}),
        frame("A" * 10_000, {}),
        transaction(meterValue=[{"timestamp": "y" * 10_000}]),
    ],
    ids=["huge-extra-field", "huge-action", "huge-value"],
)
def test_description_is_cut_to_255(raw: str) -> None:
    """Descriptions stay within Part 4's 255 characters however big the bad value."""
    with pytest.raises(OcppError) as info:
        handle(raw)
    assert len(info.value.description) <= 255
    assert len(orjson.loads(info.value.frame())[3]) <= 255


def test_errors_about_responses_are_not_answered() -> None:
    """Broken CALLRESULT/CALLERROR frames and responses carry reply=False; CALLs don't."""
    for raw in ('[3,"a"]', "[3,1,{}]", '[4,"a",5,"x",{}]'):
        with pytest.raises(OcppError) as info:
            ocppj.parse(raw)
        assert info.value.reply is False
    with pytest.raises(OcppError) as info:
        ocppj.validate("Heartbeat", "Response", {}, "a")
    assert (info.value.code, info.value.reply) == (Code.OCCURRENCE_CONSTRAINT_VIOLATION, False)
    with pytest.raises(OcppError) as info:
        handle(boot(reason=None))
    assert info.value.reply is True


def test_validate_unknown_schema() -> None:
    """Validating an action without an OCPP 2.0.1 schema is NotImplemented, not a crash."""
    with pytest.raises(OcppError) as info:
        ocppj.validate("../../etc/passwd", "Request", {}, "a")
    assert (info.value.code, info.value.message_id) == (Code.NOT_IMPLEMENTED, "a")


def test_validate_does_not_fill_defaults() -> None:
    """Validation leaves the payload as the station sent it (no schema defaults added)."""
    payload = copy.deepcopy(TRANSACTION_EVENT)
    ocppj.validate("TransactionEvent", "Request", payload)
    assert payload == TRANSACTION_EVENT


def test_known_actions_can_be_narrowed() -> None:
    """parse answers NotImplemented for actions outside the known_actions it is given."""
    with pytest.raises(OcppError) as info:
        ocppj.parse(frame("Heartbeat", {}), known_actions={"BootNotification"})
    assert info.value.code is Code.NOT_IMPLEMENTED


def test_serializers_are_compact() -> None:
    """The frame builders produce exactly the compact OCPP-J text."""
    assert ocppj.call_result("a", {}) == '[3,"a",{}]'
    assert ocppj.call("a", "Heartbeat", {}) == '[2,"a","Heartbeat",{}]'
    assert ocppj.call_error("a", Code.NOT_SUPPORTED, "nope") == '[4,"a","NotSupported","nope",{}]'
    assert (
        ocppj.call_result("a", {"status": "Accepted", "n": 1})
        == '[3,"a",{"status":"Accepted","n":1}]'
    )
    assert len(orjson.loads(ocppj.call_error("a", Code.GENERIC_ERROR, "x" * 300))[3]) == 255
    error = OcppError(Code.NOT_IMPLEMENTED, "Unknown action 'X'", "a")
    assert error.frame() == '[4,"a","NotImplemented","Unknown action \'X\'",{}]'


def test_validators_are_compiled_once() -> None:
    """Each (action, kind) compiles its jsonschema-rs validator once, and fastjsonschema's only
    once a payload is refused (for the error), once too."""
    ocppj.accepts.cache_clear()
    ocppj.validator.cache_clear()
    for _ in range(3):
        ocppj.validate("Heartbeat", "Request", {})
    ocppj.validate("Heartbeat", "Response", {"currentTime": "2024-05-01T12:00:00Z"})
    info = ocppj.accepts.cache_info()
    assert (info.misses, info.hits, info.currsize) == (2, 2, 2)
    assert ocppj.validator.cache_info().currsize == 0, "a valid payload needs no error"
    for _ in range(2):
        with pytest.raises(OcppError) as caught:
            ocppj.validate("Heartbeat", "Response", {})
        assert caught.value.code == Code.OCCURRENCE_CONSTRAINT_VIOLATION
    info = ocppj.validator.cache_info()
    assert (info.misses, info.hits, info.currsize) == (1, 1, 1)
    assert ocppj.accepts("Heartbeat", "Request") is ocppj.accepts("Heartbeat", "Request")


def test_every_schema_compiles() -> None:
    """All 128 official schemas compile, both ways, so no action fails on its first frame."""
    for action in ocppj.ACTIONS:
        for kind in ("Request", "Response"):
            assert callable(ocppj.validator(action, kind))
            assert callable(ocppj.accepts(action, kind))


def test_actions_are_ocpp_201() -> None:
    """The default known actions are exactly the 64 values of ocpp.v201.enums.Action."""
    assert ocppj.ACTIONS == {action.value for action in Action}
    assert len(ocppj.ACTIONS) == 64


def test_codes_are_part_4() -> None:
    """Code holds exactly the twelve CALLERROR codes of OCPP 2.0.1 Part 4."""
    assert {code.value for code in Code} == {
        "FormatViolation",
        "GenericError",
        "InternalError",
        "MessageTypeNotSupported",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "PropertyConstraintViolation",
        "ProtocolError",
        "RpcFrameworkError",
        "SecurityError",
        "TypeConstraintViolation",
    }


# -- OCPP 1.6J: the same checks, 1.6's codes ---------------------------------------------------

BOOT_16 = {"chargePointVendor": "Acme", "chargePointModel": "Wallbox 22"}


@pytest.mark.parametrize(
    ("frame", "code", "message_id"),
    [
        pytest.param(b"not json", "FormationViolation", "-1", id="not-json"),
        pytest.param(b"{}", "FormationViolation", "-1", id="not-an-array"),
        pytest.param(b'["2","m1","Heartbeat",{}]', "FormationViolation", "m1", id="type-id-string"),
        pytest.param(b'[7,"m1","Heartbeat",{}]', "ProtocolError", "m1", id="unknown-type-id"),
        pytest.param(b'[2,"m1","Heartbeat"]', "FormationViolation", "m1", id="call-too-short"),
        pytest.param(b'[2,"m1","Heartbeat",[]]', "FormationViolation", "m1", id="payload-array"),
        pytest.param(b'[2,"m1","NoSuchAction",{}]', "NotImplemented", "m1", id="unknown-action"),
        pytest.param(
            b'[2,"m1","TransactionEvent",{}]', "NotImplemented", "m1", id="2.0.1-only-action"
        ),
        pytest.param(
            b'[2,"m1","DataTransfer",{"vendorId":"\\u0000"}]',
            "PropertyConstraintViolation",
            "m1",
            id="nul",
        ),
    ],
)
def test_bad_16_frames_get_16_codes(frame: bytes, code: str, message_id: str) -> None:
    """A 1.6 station's broken frame is refused by the same checks, with OCPP-J 1.6's code."""
    with pytest.raises(OcppError) as caught:
        ocppj.parse(frame, ocppj.ACTIONS_16)
    sent = orjson.loads(caught.value.frame("ocpp1.6"))
    assert sent[:3] == [4, message_id, code]
    assert sent[2] in CODES_OF_16


# OCPP-J 1.6, section 4.2.3: the only codes a 1.6 CALLERROR may carry.
CODES_OF_16 = {
    "NotImplemented",
    "NotSupported",
    "InternalError",
    "ProtocolError",
    "SecurityError",
    "FormationViolation",
    "PropertyConstraintViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "GenericError",
}


def test_every_code_has_a_16_spelling_of_the_16_table() -> None:
    """Whatever the checks raise, a 1.6 station gets a code of its own table."""
    assert {ocppj.spelled(code, "ocpp1.6") for code in Code} <= CODES_OF_16
    # ... and 2.0.1 stations keep theirs, unchanged.
    assert all(ocppj.spelled(code) == code for code in Code)
    assert ocppj.spelled("SomethingElse", "ocpp1.6") == "SomethingElse"


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        pytest.param(
            "BootNotification", {"chargePointVendor": "A"}, "OccurenceConstraintViolation"
        ),
        pytest.param(
            "BootNotification", {**BOOT_16, "chargePointModel": 5}, "TypeConstraintViolation"
        ),
        pytest.param(
            "BootNotification",
            {**BOOT_16, "chargePointVendor": "x" * 21},
            "PropertyConstraintViolation",
            id="vendor-over-20",
        ),
        pytest.param("BootNotification", {**BOOT_16, "extra": 1}, "FormationViolation"),
        pytest.param(
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Plugged"},
            "PropertyConstraintViolation",
            id="bad-status",
        ),
        pytest.param(
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "x"},
            "PropertyConstraintViolation",
            id="bad-date-time",
        ),
        pytest.param("Authorize", {"idTag": "x" * 21}, "PropertyConstraintViolation"),
    ],
)
def test_16_payloads_are_checked_against_16_schemas(
    action: str, payload: dict[str, Any], code: str
) -> None:
    """A payload breaking its 1.6 schema gets the code of the broken rule, spelled as in 1.6."""
    with pytest.raises(OcppError) as caught:
        ocppj.validate(action, "Request", payload, "m1", "ocpp1.6")
    assert orjson.loads(caught.value.frame("ocpp1.6"))[:3] == [4, "m1", code]


def test_valid_16_payloads_pass() -> None:
    """The 1.6 schemas accept what 1.6 allows, also what 2.0.1's would refuse."""
    ocppj.validate("BootNotification", "Request", BOOT_16, "m1", "ocpp1.6")
    ocppj.validate("Authorize", "Request", {"idTag": "04A2B3C4"}, "m1", "ocpp1.6")
    with pytest.raises(OcppError):  # the same payload is no 2.0.1 BootNotification
        ocppj.validate("BootNotification", "Request", BOOT_16, "m1")
