"""Tests for common.ocpp_json: a property round trip over all 128 schemas, then tables."""

from __future__ import annotations

import copy
import datetime
import functools
import json
import pathlib
import re
from typing import Any

import fastjsonschema
import jsonschema
import ocpp
import pytest
from google.protobuf import timestamp_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from common import ocpp_json
from common.ocpp_json import ConversionError, to_ocpp, to_proto
from csms.ocpp.v201 import messages_pb2

SCHEMAS = pathlib.Path(ocpp.__file__).parent / "v201" / "schemas"
SCHEMA_NAMES = sorted(p.stem for p in SCHEMAS.glob("*.json"))
INT32 = (-(2**31), 2**31 - 1)
EXACT = 2**53
DATE_TIME = "test-rfc3339-date-time"  # our own format name, so hypothesis-jsonschema won't warn


# --- the round trip ------------------------------------------------------------------------


def _two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map("{:02d}".format)


# RFC 3339 with every offset form and 0-9 fractional digits. Dates keep a day clear of Timestamp's
# 0001-01-01..9999-12-31 range so that any offset stays representable.
RFC3339 = st.builds(
    "{}T{}:{}:{}{}{}".format,
    st.dates(datetime.date(1, 1, 2), datetime.date(9999, 12, 30)).map(
        lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}"
    ),
    _two(0, 23),
    _two(0, 59),
    _two(0, 59),
    st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,9}", fullmatch=True)),
    st.one_of(
        st.just("Z"), st.builds("{}{}:{}".format, st.sampled_from("+-"), _two(0, 23), _two(0, 59))
    ),
)

# Arbitrary JSON as Struct/Value can carry it: numbers are doubles, so bounded to exact ones.
_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=8),
    st.integers(-EXACT, EXACT),
    st.floats(-EXACT, EXACT, allow_nan=False, allow_infinity=False),
)
ANY_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _bounded(node: dict[str, Any]) -> dict[str, Any]:
    """A leaf schema constrained to what the proto carries exactly: int32, doubles within 2**53."""
    node = dict(node)
    if node.get("type") == "integer":
        node["minimum"] = max(node.get("minimum", INT32[0]), INT32[0])
        node["maximum"] = min(node.get("maximum", INT32[1]), INT32[1])
    if node.get("type") == "number":
        node["minimum"] = max(node.get("minimum", -EXACT), -EXACT)
        node["maximum"] = min(node.get("maximum", EXACT), EXACT)
    if node.get("format") == "date-time":
        node["format"] = DATE_TIME
    return node


def _node_strategy(node: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Objects are composed here, everything else comes from hypothesis-jsonschema's from_schema.

    hypothesis-jsonschema 0.23.1 cannot draw objects with hypothesis 6.170 (its object strategy
    calls the removed ``many.more()``), so objects are built with fixed_dictionaries instead.
    """
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/definitions/")
        if name == "CustomDataType":  # vendorId plus any vendor properties
            extra = st.dictionaries(
                st.text(max_size=6).filter(lambda k: k != "vendorId"), ANY_JSON, max_size=3
            )
            vendor = _node_strategy(defs[name]["properties"]["vendorId"], defs)
            return st.builds(lambda v, e: {"vendorId": v, **e}, vendor, extra)
        return _node_strategy(defs[name], defs)
    if node.get("type") == "object":
        props = {k: _node_strategy(v, defs) for k, v in node.get("properties", {}).items()}
        required = set(node.get("required", ()))
        return st.fixed_dictionaries(
            {k: v for k, v in props.items() if k in required},
            optional={k: v for k, v in props.items() if k not in required},
        )
    if node.get("type") == "array":
        low = node.get("minItems", 0)
        high = node.get("maxItems", low + 2)
        return st.lists(
            _node_strategy(node["items"], defs), min_size=low, max_size=min(high, low + 2)
        )
    if "type" not in node:  # DataTransfer's free-form "data": any JSON value
        return ANY_JSON
    return from_schema(_bounded(node), custom_formats={DATE_TIME: RFC3339})


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))


@functools.cache
def _strategy(name: str) -> st.SearchStrategy[Any]:
    schema = _schema(name)
    return _node_strategy(schema, schema["definitions"])


@functools.cache
def _validator(name: str) -> jsonschema.Draft6Validator:
    return jsonschema.Draft6Validator(_schema(name))


_INSTANT = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|([+-])(\d\d):(\d\d))"
)
_EPOCH = datetime.datetime(1970, 1, 1)


def _instant(text: str) -> tuple[int, int] | None:
    """(UTC seconds, nanos) of an RFC 3339 date-time, without datetime's year-range limits."""
    match = _INSTANT.fullmatch(text)
    if not match:
        return None
    y, mo, d, h, mi, s, frac, zone, sign, oh, om = match.groups()
    local = datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s))
    seconds = (local - _EPOCH) // datetime.timedelta(seconds=1)
    if zone != "Z":
        offset = (int(oh) * 60 + int(om)) * 60
        seconds -= offset if sign == "+" else -offset
    return seconds, int((frac or "").ljust(9, "0"))


def _normal(value: Any, *, millis: bool = False) -> Any:
    """Comparable form: date-times as instants (``millis``: cut to milliseconds, as to_ocpp
    writes them), numbers as floats, bools kept apart."""
    if isinstance(value, dict):
        return {k: _normal(v, millis=millis) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v, millis=millis) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return ("number", float(value))
    if isinstance(value, str):
        instant = _instant(value)
        if instant and millis:
            instant = (instant[0], instant[1] - instant[1] % 1_000_000)
        return ("instant", instant) if instant else value
    raise AssertionError(f"not JSON: {value!r}")


# What the CSMS may send (OCPP 2.0.1 Part 2: at most three decimal places), in UTC.
OCPP_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z")


def _instants(value: Any) -> list[str]:
    """Every string in ``value`` that reads as a date-time."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in _instants(v)]
    if isinstance(value, list):
        return [t for v in value for t in _instants(v)]
    return [value] if isinstance(value, str) and _instant(value) else []


def _message_type(schema_name: str) -> type:
    return getattr(messages_pb2, schema_name)


def test_every_schema_has_a_message() -> None:
    """All 128 OCPP 2.0.1 schemas exist and each has its generated message."""
    assert len(SCHEMA_NAMES) == 128
    missing = [n for n in SCHEMA_NAMES if n not in messages_pb2.DESCRIPTOR.message_types_by_name]
    assert missing == []


@pytest.mark.parametrize("schema_name", SCHEMA_NAMES)
@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_round_trip(schema_name: str, data: st.DataObject) -> None:
    """Valid OCPP JSON -> proto -> OCPP JSON gives the same payload (instants, numbers equal)."""
    payload = data.draw(_strategy(schema_name), label="payload")
    _validator(schema_name).validate(payload)  # the generator itself must stay honest
    original = copy.deepcopy(payload)
    message = to_proto(_message_type(schema_name), payload)
    assert payload == original, "to_proto must not modify its input"
    result = to_ocpp(message)
    _validator(schema_name).validate(result)
    assert _normal(result) == _normal(payload, millis=True)
    assert all(OCPP_DATE_TIME.fullmatch(t) for t in _instants(result)), result
    # The direct path and json_format's agree, both ways.
    assert message == ocpp_json._to_proto_slow(_message_type(schema_name), payload)
    assert result == ocpp_json._to_ocpp_slow(message)


# --- tables --------------------------------------------------------------------------------

ENUMS = [
    (
        messages_pb2.MeasurandEnum,
        "MEASURAND_ENERGY_ACTIVE_IMPORT_REGISTER",
        "Energy.Active.Import.Register",
    ),
    (messages_pb2.AuthorizationStatusEnum, "AUTHORIZATION_STATUS_ACCEPTED", "Accepted"),
    (messages_pb2.ChargingStateEnum, "CHARGING_STATE_EV_CONNECTED", "EVConnected"),
    (messages_pb2.ChargingStateEnum, "CHARGING_STATE_SUSPENDED_EVSE", "SuspendedEVSE"),
    (messages_pb2.ConnectorEnum, "CONNECTOR_S309_1P_16A", "s309-1P-16A"),
    (messages_pb2.ConnectorEnum, "CONNECTOR_C_CCS2", "cCCS2"),
    (messages_pb2.PhaseEnum, "PHASE_L1_N", "L1-N"),
    (messages_pb2.ReadingContextEnum, "READING_CONTEXT_SAMPLE_PERIODIC", "Sample.Periodic"),
    (
        messages_pb2.EnergyTransferModeEnum,
        "ENERGY_TRANSFER_MODE_AC_SINGLE_PHASE",
        "AC_single_phase",
    ),
    (
        messages_pb2.GetCertificateIdUseEnum,
        "GET_CERTIFICATE_ID_USE_V2G_ROOT_CERTIFICATE",
        "V2GRootCertificate",
    ),
    (messages_pb2.VPNEnum, "VPN_IKEV2", "IKEv2"),
    (messages_pb2.IdTokenEnum, "ID_TOKEN_EMAID", "eMAID"),
]


@pytest.mark.parametrize(("enum", "proto_name", "ocpp_value"), ENUMS)
def test_enum_mapping(enum: Any, proto_name: str, ocpp_value: str) -> None:
    """OCPP spellings map to the generated value names and back, via wrapper, descriptor or name."""
    number = enum.Value(proto_name)
    assert ocpp_json.proto_enum_number(enum, ocpp_value) == number
    assert ocpp_json.ocpp_enum_value(enum, number) == ocpp_value
    assert ocpp_json.ocpp_enum_value(enum.DESCRIPTOR, number) == ocpp_value
    assert ocpp_json.proto_enum_number(enum.DESCRIPTOR.name, ocpp_value) == number
    assert ocpp_json.proto_enum_number(enum.DESCRIPTOR.full_name, ocpp_value) == number


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (
            lambda: ocpp_json.proto_enum_number(messages_pb2.MeasurandEnum, "Energy"),
            ConversionError,
        ),
        (
            lambda: ocpp_json.proto_enum_number(
                messages_pb2.MeasurandEnum, "MEASURAND_POWER_FACTOR"
            ),
            ConversionError,
        ),
        (lambda: ocpp_json.ocpp_enum_value(messages_pb2.MeasurandEnum, 0), ConversionError),
        (lambda: ocpp_json.ocpp_enum_value(messages_pb2.MeasurandEnum, 999), ConversionError),
        (lambda: ocpp_json.ocpp_enum_value("NoSuchEnum", 1), TypeError),
        (lambda: ocpp_json.ocpp_enum_value(messages_pb2.BootNotificationRequest, 1), TypeError),
    ],
)
def test_enum_lookup_errors(call: Any, error: type[Exception]) -> None:
    """Unknown spellings, UNSPECIFIED, unknown numbers and non-enums are refused."""
    with pytest.raises(error):
        call()


NOW = "2024-03-01T08:00:00Z"
ROUND_TRIPS = [
    # Zero values of optional scalars are present, not "unset".
    ("BootNotificationResponse", {"currentTime": NOW, "interval": 0, "status": "Accepted"}),
    ("HeartbeatRequest", {}),
    ("HeartbeatResponse", {"currentTime": NOW}),
    (
        "StatusNotificationRequest",
        {"timestamp": NOW, "connectorStatus": "Available", "evseId": 0, "connectorId": 0},
    ),
    ("NotifyReportRequest", {"requestId": 0, "generatedAt": NOW, "seqNo": 0, "tbc": False}),
    # Empty strings and an explicitly empty sub-message ({}), kept as such.
    (
        "BootNotificationRequest",
        {"reason": "PowerUp", "chargingStation": {"model": "", "vendorName": "", "modem": {}}},
    ),
    # Repeated enums and enums in repeated sub-messages.
    (
        "GetCertificateStatusRequest",
        {
            "ocspRequestData": {
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "a",
                "issuerKeyHash": "b",
                "serialNumber": "c",
                "responderURL": "u",
            }
        },
    ),
    ("ClearedChargingLimitRequest", {"chargingLimitSource": "EMS", "evseId": 1}),
    (
        "GetInstalledCertificateIdsRequest",
        {"certificateType": ["V2GRootCertificate", "CSMSRootCertificate"]},
    ),
    (
        "MeterValuesRequest",
        {
            "evseId": 1,
            "meterValue": [
                {
                    "timestamp": NOW,
                    "sampledValue": [
                        {
                            "value": 0.0,
                            "measurand": "Energy.Active.Import.Register",
                            "context": "Sample.Periodic",
                            "phase": "L1-N",
                        },
                        {"value": -1.5, "unitOfMeasure": {"unit": "Wh", "multiplier": 0}},
                    ],
                }
            ],
        },
    ),
    # customData is a Struct: vendor properties pass through, whole numbers stay ints.
    (
        "HeartbeatRequest",
        {"customData": {"vendorId": "acme", "n": 3, "x": 1.25, "l": [1, None, {"b": True}]}},
    ),
    # DataTransfer's free-form data is a Value: any JSON, including null.
    ("DataTransferRequest", {"vendorId": "acme", "data": {"a": [1, "two", None]}}),
    ("DataTransferRequest", {"vendorId": "acme", "data": None}),
    ("DataTransferRequest", {"vendorId": "acme", "data": 7}),
]


@pytest.mark.parametrize(("schema_name", "payload"), ROUND_TRIPS)
def test_round_trip_table(schema_name: str, payload: dict[str, Any]) -> None:
    """Hand-picked payloads come back exactly, types included."""
    result = to_ocpp(to_proto(_message_type(schema_name), payload))
    assert json.dumps(result, sort_keys=True) == json.dumps(payload, sort_keys=True)


def test_zero_values_are_present_in_proto() -> None:
    """An OCPP 0 is an explicitly set field, not an unset one."""
    message = to_proto(
        messages_pb2.BootNotificationResponse,
        {"currentTime": NOW, "interval": 0, "status": "Accepted"},
    )
    assert message.HasField("interval") and message.interval == 0
    assert message.status == messages_pb2.REGISTRATION_STATUS_ACCEPTED


def test_unset_fields_are_omitted() -> None:
    """Unset optional, sub-message and repeated fields never appear as null, {} or []."""
    assert to_ocpp(messages_pb2.BootNotificationResponse()) == {}
    message = messages_pb2.MeterValuesRequest(evse_id=2)
    message.meter_value.add().timestamp.FromSeconds(0)
    assert to_ocpp(message) == {"evseId": 2, "meterValue": [{"timestamp": "1970-01-01T00:00:00Z"}]}


def test_empty_sub_message_is_kept() -> None:
    """A set but empty sub-message comes out as {} and an unset one not at all."""
    message = messages_pb2.BootNotificationRequest()
    message.charging_station.modem.SetInParent()
    assert to_ocpp(message) == {"chargingStation": {"modem": {}}}


@pytest.mark.parametrize(
    ("ocpp_time", "utc"),
    [
        ("2024-03-01T10:00:00+02:00", "2024-03-01T08:00:00Z"),
        ("2024-03-01T00:30:00-05:30", "2024-03-01T06:00:00Z"),
        ("2024-03-01T23:59:59.5-01:00", "2024-03-02T00:59:59.500Z"),
        ("2024-03-01T08:00:00.123+00:00", "2024-03-01T08:00:00.123Z"),
        ("2024-03-01T08:00:00.123456789Z", "2024-03-01T08:00:00.123Z"),
        ("2024-03-01T08:00:00.1Z", "2024-03-01T08:00:00.100Z"),
    ],
)
def test_timestamp_offsets(ocpp_time: str, utc: str) -> None:
    """Date-times with any offset become the same instant, written back in UTC with Z."""
    message = to_proto(messages_pb2.HeartbeatResponse, {"currentTime": ocpp_time})
    assert to_ocpp(message) == {"currentTime": utc}


# --- date-times the schemas accept and protobuf's Timestamp parser does not -----------------


@functools.cache
def _with_formats(name: str) -> Any:
    """The schema as the gateway checks it: fastjsonschema, "date-time" format included."""
    return fastjsonschema.compile(_schema(name), use_default=False)


def _status(timestamp: str) -> dict[str, Any]:
    return {"timestamp": timestamp, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}


@pytest.mark.parametrize(
    ("ocpp_time", "utc"),
    [
        ("2024-05-01t12:00:00z", "2024-05-01T12:00:00Z"),
        ("2024-05-01t12:00:00Z", "2024-05-01T12:00:00Z"),
        ("2024-05-01T12:00:00z", "2024-05-01T12:00:00Z"),
        ("2024-05-01t14:00:00.5+02:00", "2024-05-01T12:00:00.500Z"),
        # A leap second is the last nanosecond before it, whatever its fraction or offset.
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999999999Z"),
        ("2016-12-31T23:59:60.5Z", "2016-12-31T23:59:59.999999999Z"),
        ("2016-12-31T18:59:60-05:00", "2016-12-31T23:59:59.999999999Z"),
        ("9999-12-31T23:59:60Z", "9999-12-31T23:59:59.999999999Z"),
        # More than nine fraction digits: cut to nanoseconds, never rounded into the next second.
        ("2024-05-01T12:00:00.1234567891Z", "2024-05-01T12:00:00.123456789Z"),
        ("2024-05-01T12:00:00.99999999999999Z", "2024-05-01T12:00:00.999999999Z"),
        ("2024-05-01T12:00:00.000000000000Z", "2024-05-01T12:00:00Z"),
        # Offsets: protobuf takes +hh:mm and -00:00 itself; +hhmm (the validator takes it) is fixed.
        ("2024-05-01T17:30:00+05:30", "2024-05-01T12:00:00Z"),
        ("2024-05-01T12:00:00-00:00", "2024-05-01T12:00:00Z"),
        ("2024-05-01T17:30:00+0530", "2024-05-01T12:00:00Z"),
        ("2024-05-01t04:00:60.12345678912-0800", "2024-05-01T12:00:59.999999999Z"),
    ],
)
def test_schema_valid_date_times(ocpp_time: str, utc: str) -> None:
    """Every date-time the schema takes converts, and comes back in UTC, schema-valid."""
    payload = _status(ocpp_time)
    _with_formats("StatusNotificationRequest")(payload)
    original = copy.deepcopy(payload)
    message = to_proto(messages_pb2.StatusNotificationRequest, payload)
    assert payload == original, "to_proto must not modify its input"
    assert message.timestamp.ToJsonString() == utc
    result = to_ocpp(message)
    assert result == {**payload, "timestamp": _cut_to_millis(utc)}
    _with_formats("StatusNotificationRequest")(result)


def _cut_to_millis(utc: str) -> str:
    """protobuf's UTC form of an instant as to_ocpp writes it: at most 3 digits, cut."""
    whole, _, fraction = utc.removesuffix("Z").partition(".")
    millis = fraction[:3].ljust(3, "0")
    return f"{whole}Z" if millis == "000" else f"{whole}.{millis}Z"


def test_nested_date_times_are_repaired() -> None:
    """Date-times in repeated sub-messages are repaired too, next to a top-level one."""
    payload = {
        "eventType": "Updated",
        "timestamp": "2024-05-01t12:00:00z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 1,
        "transactionInfo": {"transactionId": "t1"},
        "meterValue": [
            {"timestamp": "2024-05-01T12:00:00Z", "sampledValue": [{"value": 1}]},
            {"timestamp": "2016-12-31T23:59:60Z", "sampledValue": [{"value": 2}]},
            {"timestamp": "2024-05-01T12:00:00.0000000001Z", "sampledValue": [{"value": 3}]},
        ],
    }
    _with_formats("TransactionEventRequest")(payload)
    original = copy.deepcopy(payload)
    result = to_ocpp(to_proto(messages_pb2.TransactionEventRequest, payload))
    assert payload == original, "to_proto must not modify its input"
    _with_formats("TransactionEventRequest")(result)
    assert result["timestamp"] == "2024-05-01T12:00:00Z"
    assert [v["timestamp"] for v in result["meterValue"]] == [
        "2024-05-01T12:00:00Z",
        "2016-12-31T23:59:59.999Z",
        "2024-05-01T12:00:00Z",
    ]


def test_only_timestamp_fields_are_rewritten() -> None:
    """A string that merely looks like a date-time, in a string or Struct field, is kept as is."""
    looks = "2024-05-01t12:00:00z"
    payload = {
        "eventType": "Started",
        "timestamp": looks,
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": looks},
        "idToken": {"idToken": looks, "type": "Central", "customData": {"vendorId": looks}},
    }
    result = to_ocpp(to_proto(messages_pb2.TransactionEventRequest, payload))
    assert result["timestamp"] == "2024-05-01T12:00:00Z"
    assert result["transactionInfo"]["transactionId"] == looks
    assert result["idToken"] == payload["idToken"]


_SCHEMA_DATE_TIME = st.builds(
    "{}{}{}:{}:{}{}{}".format,
    st.dates(datetime.date(1, 1, 2), datetime.date(9999, 12, 30)).map(
        lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}"
    ),
    st.sampled_from("Tt"),
    _two(0, 23),
    _two(0, 59),
    _two(0, 60),
    st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,20}", fullmatch=True)),
    st.one_of(
        st.sampled_from("Zz"),
        st.builds(
            "{}{}{}{}".format,
            st.sampled_from("+-"),
            _two(0, 23),
            st.sampled_from(["", ":"]),
            _two(0, 59),
        ),
    ),
)
_SCHEMA_INSTANT = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:[Zz]|([+-])(\d\d):?(\d\d))"
)


def _expected(text: str) -> tuple[int, int]:
    """(UTC seconds, nanos) as documented: a leap second clamped, fractions cut to nanoseconds."""
    match = _SCHEMA_INSTANT.fullmatch(text)
    assert match
    y, mo, d, h, mi, s, frac, sign, oh, om = match.groups()
    local = datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), min(int(s), 59))
    seconds = (local - _EPOCH) // datetime.timedelta(seconds=1)
    if sign:
        offset = (int(oh) * 60 + int(om)) * 60
        seconds -= offset if sign == "+" else -offset
    nanos = 999_999_999 if s == "60" else int((frac or "")[:9].ljust(9, "0"))
    return seconds, nanos


@settings(max_examples=300, deadline=None, database=None)
@given(_SCHEMA_DATE_TIME)
def test_every_schema_date_time_converts(ocpp_time: str) -> None:
    """Any date-time the schema takes converts to the documented instant and back, schema-valid."""
    payload = _status(ocpp_time)
    _with_formats("StatusNotificationRequest")(payload)  # the generator itself must stay honest
    message = to_proto(messages_pb2.StatusNotificationRequest, payload)
    assert (message.timestamp.seconds, message.timestamp.nanos) == _expected(ocpp_time)
    _with_formats("StatusNotificationRequest")(to_ocpp(message))


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        (_status("2026-13-01T00:00:00Z"), "timestamp"),
        (_status("2026-13-01t00:00:00z"), "timestamp"),
        (_status("2024-02-30T00:00:00Z"), "timestamp"),
        (_status("2024-02-30t00:00:60z"), "timestamp"),
        (_status("yesterday"), "timestamp"),
        (_status("2024-05-01T12:00:00"), "timestamp"),
        (_status("2024-05-01t12:00:00"), "timestamp"),
        (_status("2024-05-01 12:00:00Z"), "timestamp"),
        (_status("2024-05-01T12:00:00+05"), "timestamp"),
        (_status("0000-01-01T00:00:00Z"), "timestamp"),  # before Timestamp's year 1
        (_status("0001-01-01t00:00:00+01:00"), "timestamp"),
        # A repairable date-time does not hide another field's error.
        ({**_status("2024-05-01t12:00:00z"), "evseId": 2**31}, "evseId"),
        (
            {
                "evseId": 1,
                "meterValue": [
                    {"timestamp": "2016-12-31T23:59:60Z", "sampledValue": [{"value": 1}]},
                    {"timestamp": "2024-13-01t00:00:00z", "sampledValue": [{"value": 2}]},
                ],
            },
            "meterValue[1].timestamp",
        ),
    ],
)
def test_invalid_date_times_are_refused(payload: dict[str, Any], path: str) -> None:
    """Date-times that are no date-time, or no Timestamp, still raise ConversionError."""
    name = "MeterValuesRequest" if "meterValue" in payload else "StatusNotificationRequest"
    with pytest.raises(ConversionError) as caught:
        to_proto(_message_type(name), payload)
    assert caught.value.path == path


@pytest.mark.parametrize(
    ("schema_name", "payload", "path"),
    [
        (
            "BootNotificationRequest",
            {"reason": "Reboot", "chargingStation": {"model": "m", "vendorName": "v"}},
            "reason",
        ),
        (
            "MeterValuesRequest",
            {
                "evseId": 1,
                "meterValue": [
                    {"timestamp": NOW, "sampledValue": [{"value": 1, "measurand": "Energy"}]}
                ],
            },
            "meterValue[0].sampledValue[0].measurand",
        ),
        (
            "GetInstalledCertificateIdsRequest",
            {"certificateType": ["V2GRootCertificate", "Nope"]},
            "certificateType[1]",
        ),
        (
            "BootNotificationRequest",
            {"reason": "PowerUp", "chargingStation": {"model": 5, "vendorName": "v"}},
            "chargingStation.model",
        ),
        (
            "BootNotificationResponse",
            {"currentTime": NOW, "interval": 2**31, "status": "Accepted"},
            "interval",
        ),
        ("HeartbeatResponse", {"currentTime": "2024-03-01T08:00:00"}, "currentTime"),
        ("HeartbeatResponse", {"currentTime": NOW, "surplus": 1}, "HeartbeatResponse"),
    ],
)
def test_conversion_errors(schema_name: str, payload: dict[str, Any], path: str) -> None:
    """Unknown enum strings and unrepresentable values raise ConversionError naming the field."""
    with pytest.raises(ConversionError) as caught:
        to_proto(_message_type(schema_name), payload)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")


def test_unspecified_enum_cannot_be_sent() -> None:
    """An explicitly UNSPECIFIED enum has no OCPP spelling, so to_ocpp refuses it."""
    bad = messages_pb2.BootNotificationResponse(
        interval=1, status=messages_pb2.REGISTRATION_STATUS_UNSPECIFIED
    )
    with pytest.raises(ConversionError, match="^status: "):
        to_ocpp(bad)


def test_action_tables() -> None:
    """Both tables hold the same 64 actions, each with its Request/Response message."""
    assert len(ocpp_json.REQUEST_TYPES) == len(ocpp_json.RESPONSE_TYPES) == 64
    assert ocpp_json.REQUEST_TYPES.keys() == ocpp_json.RESPONSE_TYPES.keys()
    assert ocpp_json.REQUEST_TYPES["BootNotification"] is messages_pb2.BootNotificationRequest
    assert ocpp_json.RESPONSE_TYPES["TransactionEvent"] is messages_pb2.TransactionEventResponse
    names = {f"{a}Request" for a in ocpp_json.REQUEST_TYPES} | {
        f"{a}Response" for a in ocpp_json.RESPONSE_TYPES
    }
    assert names == set(SCHEMA_NAMES)


def test_the_direct_path_takes_a_typical_transaction_event() -> None:
    """The hot path does not fall back to json_format for what stations send all day."""
    payload = {
        "eventType": "Updated",
        "timestamp": "2026-11-25T10:00:00.123Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 3,
        "transactionInfo": {"transactionId": "tx-1", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [
            {
                "timestamp": "2026-11-25T10:00:00+01:00",
                "sampledValue": [{"value": 1234.5, "measurand": "Energy.Active.Import.Register"}],
            }
        ],
    }
    spec = ocpp_json._IN_SPECS[messages_pb2.TransactionEventRequest.DESCRIPTOR.full_name]
    message = messages_pb2.TransactionEventRequest(**ocpp_json._fast_in(spec, payload))
    assert message == ocpp_json._to_proto_slow(messages_pb2.TransactionEventRequest, payload)
    assert message.meter_value[0].timestamp.ToJsonString() == "2026-11-25T09:00:00Z"
    out_spec = ocpp_json._OUT_SPECS[messages_pb2.TransactionEventRequest.DESCRIPTOR.full_name]
    assert ocpp_json._fast_out(out_spec, message) == ocpp_json._to_ocpp_slow(message)


def test_too_deep_custom_data_is_a_conversion_error() -> None:
    """json_format's own limit (100 levels) holds on the direct path too: a clear error."""
    deep: Any = 1
    for _ in range(120):
        deep = {"a": deep}
    with pytest.raises(ConversionError):
        to_proto(messages_pb2.DataTransferRequest, {"vendorId": "v", "data": [deep]})


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999Z",
        "1969-12-31T23:59:59.5Z",
        "1970-01-01T00:00:00+14:00",
        "2024-02-29T23:59:59.000001-12:00",
        "2026-11-25T10:00:00.123Z",
    ],
)
def test_the_direct_timestamp_path_agrees_with_protobuf(text: str) -> None:
    """The direct path's instant is protobuf's own parse of the same text, at the edges too."""
    expected = timestamp_pb2.Timestamp()
    expected.FromJsonString(text)
    assert timestamp_pb2.Timestamp(**ocpp_json._timestamp_in(text)) == expected


# --- date-times that leave: UTC, Z, at most three fraction digits ----------------------------

_MIN_SECONDS, _MAX_SECONDS = -62135596800, 253402300799  # Timestamp's range


def _heartbeat(seconds: int, nanos: int) -> messages_pb2.HeartbeatResponse:
    return messages_pb2.HeartbeatResponse(
        current_time=timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    )


def _both_paths(message: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """to_ocpp's direct path (it must take this message) and its json_format path."""
    spec = ocpp_json._OUT_SPECS[message.DESCRIPTOR.full_name]
    return ocpp_json._fast_out(spec, message), ocpp_json._to_ocpp_slow(message)


@pytest.mark.parametrize(
    ("seconds", "nanos", "text"),
    [
        (0, 0, "1970-01-01T00:00:00Z"),
        (0, 100_000_000, "1970-01-01T00:00:00.100Z"),
        (0, 120_000_000, "1970-01-01T00:00:00.120Z"),
        (0, 123_000_000, "1970-01-01T00:00:00.123Z"),
        (0, 123_400_000, "1970-01-01T00:00:00.123Z"),
        (0, 123_450_000, "1970-01-01T00:00:00.123Z"),
        (0, 123_456_000, "1970-01-01T00:00:00.123Z"),
        (0, 123_456_700, "1970-01-01T00:00:00.123Z"),
        (0, 123_456_780, "1970-01-01T00:00:00.123Z"),
        (0, 123_456_789, "1970-01-01T00:00:00.123Z"),
        # Cut, never rounded: an instant never moves into the next millisecond or second.
        (0, 999_999_999, "1970-01-01T00:00:00.999Z"),
        (0, 1_999_999, "1970-01-01T00:00:00.001Z"),
        # Less than a millisecond past a whole second is that second, written without fraction.
        (0, 1, "1970-01-01T00:00:00Z"),
        (0, 999_999, "1970-01-01T00:00:00Z"),
        (0, 1_000, "1970-01-01T00:00:00Z"),
        # Before 1970 (negative seconds, positive nanos) the cut goes back in time as well.
        (-1, 999_999_999, "1969-12-31T23:59:59.999Z"),
        (-1, 500_000, "1969-12-31T23:59:59Z"),
        # The edges of Timestamp's range.
        (_MIN_SECONDS, 0, "0001-01-01T00:00:00Z"),
        (_MIN_SECONDS, 999_999, "0001-01-01T00:00:00Z"),
        (_MIN_SECONDS, 1_000_000, "0001-01-01T00:00:00.001Z"),
        (_MAX_SECONDS, 0, "9999-12-31T23:59:59Z"),
        (_MAX_SECONDS, 999_999_999, "9999-12-31T23:59:59.999Z"),
        (1_767_225_600, 5_000_000, "2026-01-01T00:00:00.005Z"),
    ],
)
def test_date_times_leave_with_at_most_three_fraction_digits(
    seconds: int, nanos: int, text: str
) -> None:
    """OCPP 2.0.1 Part 2 allows three decimal places: 0-9 digits held, cut to milliseconds."""
    message = _heartbeat(seconds, nanos)
    assert to_ocpp(message) == {"currentTime": text}
    assert _both_paths(message) == ({"currentTime": text}, {"currentTime": text})


@settings(max_examples=300, deadline=None, database=None)
@given(st.integers(_MIN_SECONDS, _MAX_SECONDS), st.integers(0, 999_999_999))
def test_every_instant_leaves_cut_to_milliseconds(seconds: int, nanos: int) -> None:
    """Any Timestamp: both paths write the same text, the instant cut to the millisecond."""
    fast, slow = _both_paths(_heartbeat(seconds, nanos))
    assert fast == slow
    text = fast["currentTime"]
    assert OCPP_DATE_TIME.fullmatch(text), text
    assert _instant(text) == (seconds, nanos - nanos % 1_000_000)


def test_nested_and_repeated_date_times_leave_cut() -> None:
    """Date-times deep in a CSMS call and in a repeated field: cut on both paths, and on the
    json_format path when the direct path gives up on another field of the same message."""
    request = to_proto(
        messages_pb2.SendLocalListRequest,
        {
            "versionNumber": 1,
            "updateType": "Full",
            "localAuthorizationList": [
                {
                    "idToken": {"idToken": "A", "type": "ISO14443"},
                    "idTokenInfo": {
                        "status": "Accepted",
                        "cacheExpiryDateTime": "2030-01-01T00:00:00.123456789Z",
                    },
                }
            ],
        },
    )
    for result in (to_ocpp(request), *_both_paths(request)):
        info = result["localAuthorizationList"][0]["idTokenInfo"]
        assert info["cacheExpiryDateTime"] == "2030-01-01T00:00:00.123Z"
    event = messages_pb2.MeterValuesRequest(evse_id=1)
    for i, nanos in enumerate((1, 123_456_789)):
        value = event.meter_value.add(timestamp=timestamp_pb2.Timestamp(seconds=i, nanos=nanos))
        value.sampled_value.add(value=float("nan") if i else 1.0)  # NaN: the direct path gives up
    result = to_ocpp(event)
    assert result["meterValue"][1]["sampledValue"] == [{"value": "NaN"}]  # json_format's path
    assert [v["timestamp"] for v in result["meterValue"]] == [
        "1970-01-01T00:00:00Z",
        "1970-01-01T00:00:01.123Z",
    ]


@pytest.mark.parametrize(
    ("seconds", "nanos"), [(_MAX_SECONDS + 1, 0), (_MIN_SECONDS - 1, 999_999_999), (0, -1)]
)
def test_an_instant_outside_timestamp_range_is_a_conversion_error(seconds: int, nanos: int) -> None:
    """No date-time can be written for it: ConversionError on both paths, naming the field."""
    message = _heartbeat(seconds, nanos)
    for convert in (to_ocpp, ocpp_json._to_ocpp_slow):
        with pytest.raises(ConversionError, match="currentTime|current_time"):
            convert(message)
