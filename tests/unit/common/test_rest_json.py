"""common.rest_json: REST JSON speaks OCPP; 0 and false are data; old names still parse."""

from __future__ import annotations

import random
from typing import Any

import pytest
from google.protobuf import timestamp_pb2
from google.protobuf.descriptor import EnumDescriptor, FileDescriptor

from common import rest_json
from common.rest_json import RestJsonError, parse, parse_enum, render
from csms.device.v1 import device_service_pb2 as device_pb
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as tx_pb
from csms.user.v1 import user_service_pb2 as user_pb

FILES: tuple[FileDescriptor, ...] = (
    ocpp.DESCRIPTOR,
    device_pb.DESCRIPTOR,
    tx_pb.DESCRIPTOR,
    user_pb.DESCRIPTOR,
)


def _enums() -> list[EnumDescriptor]:
    found: list[EnumDescriptor] = []

    def walk(messages: Any) -> None:
        for message in messages:
            found.extend(message.enum_types)
            walk(message.nested_types)

    for file in FILES:
        found.extend(file.enum_types_by_name.values())
        walk(file.message_types_by_name.values())
    return found


ENUMS = _enums()


@pytest.mark.parametrize(
    ("enum", "number", "word"),
    [
        (ocpp.AuthorizationStatusEnum.DESCRIPTOR, ocpp.AUTHORIZATION_STATUS_ACCEPTED, "Accepted"),
        (ocpp.IdTokenEnum.DESCRIPTOR, ocpp.ID_TOKEN_ISO14443, "ISO14443"),
        (ocpp.ReasonEnum.DESCRIPTOR, ocpp.REASON_EV_DISCONNECTED, "EVDisconnected"),
        (
            ocpp.MeasurandEnum.DESCRIPTOR,
            ocpp.MEASURAND_ENERGY_ACTIVE_IMPORT_REGISTER,
            "Energy.Active.Import.Register",
        ),
        (ocpp.ConnectorEnum.DESCRIPTOR, ocpp.CONNECTOR_S309_1P_16A, "s309-1P-16A"),
        (ocpp.BootReasonEnum.DESCRIPTOR, ocpp.BOOT_REASON_POWER_UP, "PowerUp"),
        (ocpp.RegistrationStatusEnum.DESCRIPTOR, ocpp.REGISTRATION_STATUS_PENDING, "Pending"),
        (ocpp.ConnectorStatusEnum.DESCRIPTOR, ocpp.CONNECTOR_STATUS_OCCUPIED, "Occupied"),
        (user_pb.ApiKeyRole.DESCRIPTOR, user_pb.API_KEY_ROLE_READER, "reader"),
        (user_pb.ApiKeyRole.DESCRIPTOR, user_pb.API_KEY_ROLE_OPERATOR, "operator"),
        (
            tx_pb.ListTransactionsRequest.State.DESCRIPTOR,
            tx_pb.ListTransactionsRequest.STATE_ACTIVE,
            "active",
        ),
    ],
)
def test_enum_words(enum: EnumDescriptor, number: int, word: str) -> None:
    """OCPP's enums as OCPP spells them, ours as words; each parses back, as does the old name."""
    assert rest_json.enum_word(enum, number) == word
    assert parse_enum(enum, word) == number
    assert parse_enum(enum, enum.values_by_number[number].name) == number
    assert parse_enum(enum, number) == number


@pytest.mark.parametrize("enum", ENUMS, ids=lambda e: e.full_name)
def test_every_enum_value_has_one_word_that_parses_back(enum: EnumDescriptor) -> None:
    """No two values of one enum share a word, and every word and identifier parses back."""
    words = rest_json.enum_words(enum)
    assert len(set(words.values())) == len(words)
    assert set(words) == {v.number for v in enum.values if v.number != 0}
    for number, word in words.items():
        assert parse_enum(enum, word) == number
        assert parse_enum(enum, enum.values_by_number[number].name) == number


def test_ocpp_words_are_the_schema_values() -> None:
    """The OCPP words come from the generated ocpp_value table, i.e. from the JSON schemas."""
    from ocpp.v201 import enums as ocpp_enums

    assert set(rest_json.enum_words(ocpp.MeasurandEnum.DESCRIPTOR).values()) == {
        m.value for m in ocpp_enums.MeasurandEnumType
    }


def test_unknown_word_names_the_path_and_the_choices() -> None:
    with pytest.raises(RestJsonError) as err:
        parse(user_pb.IdToken, {"idToken": "T", "type": "RFID"})
    assert err.value.path == "type"
    assert '"ISO14443"' in err.value.reason and "'RFID'" in err.value.reason


@pytest.mark.parametrize("value", [True, 1.5, None, [], {}])
def test_enum_refuses_what_is_no_spelling(value: Any) -> None:
    with pytest.raises(RestJsonError):
        parse_enum(ocpp.IdTokenEnum.DESCRIPTOR, value)


def test_render_resource_speaks_ocpp_and_prints_zero_and_false() -> None:
    station = device_pb.ChargingStation(
        id="CS1",
        connected=False,
        boot_reason=ocpp.BOOT_REASON_POWER_UP,
        registration_status=ocpp.REGISTRATION_STATUS_PENDING,
        security_profile=0,
    )
    station.evses.add(id=0).connectors.add(id=0, status=ocpp.CONNECTOR_STATUS_OCCUPIED)
    assert render(station) == {
        "id": "CS1",
        "connected": False,
        "bootReason": "PowerUp",
        "registrationStatus": "Pending",
        "evses": [{"id": 0, "connectors": [{"id": 0, "status": "Occupied"}]}],
        "acceptAfterBaseReport": False,
        "securityProfile": 0,
        "passwordSet": False,
    }


def test_render_transaction_with_ocpp_messages_inside() -> None:
    """An OCPP message inside a resource is OCPP's JSON: measurand as OCPP spells it."""
    tx = tx_pb.Transaction(
        id="T1",
        stopped_reason=ocpp.REASON_EV_DISCONNECTED,
        charging_state=ocpp.CHARGING_STATE_EV_CONNECTED,
        energy_wh=0.0,
        active=False,
    )
    event = tx.events.add(seq_no=0, event_type=ocpp.TRANSACTION_EVENT_STARTED)
    event.timestamp.FromJsonString("2026-12-04T10:00:00.123Z")
    meter = event.meter_values.add()
    meter.timestamp.FromJsonString("2026-12-04T10:00:00Z")
    meter.sampled_value.add(value=0.0, measurand=ocpp.MEASURAND_ENERGY_ACTIVE_IMPORT_REGISTER)
    got = render(tx)
    assert got["stoppedReason"] == "EVDisconnected"
    assert got["chargingState"] == "EVConnected"
    assert got["energyWh"] == 0.0 and got["active"] is False
    [ev] = got["events"]
    assert ev["seqNo"] == 0 and ev["offline"] is False and ev["eventType"] == "Started"
    assert ev["timestamp"] == "2026-12-04T10:00:00.123Z"
    assert ev["meterValues"][0]["sampledValue"] == [
        {"value": 0.0, "measurand": "Energy.Active.Import.Register"}
    ]
    assert "idTokenType" not in got and "remoteStartId" not in got  # unset: absent


def test_render_optional_fields_follow_presence() -> None:
    tx = tx_pb.Transaction(id="T")
    assert "remoteStartId" not in render(tx)
    tx.remote_start_id = 0
    assert render(tx)["remoteStartId"] == 0


def test_render_our_enums_and_lists() -> None:
    keys = user_pb.ListApiKeysResponse()
    assert render(keys) == {"apiKeys": []}
    keys.api_keys.add(id="k1", name="ci", role=user_pb.API_KEY_ROLE_READER)
    assert render(keys) == {"apiKeys": [{"id": "k1", "name": "ci", "role": "reader"}]}


def test_parse_takes_ocpp_words_and_old_names() -> None:
    new = parse(user_pb.IdToken, {"idToken": "TAG-001", "type": "ISO14443", "status": "Accepted"})
    old = parse(
        user_pb.IdToken,
        {
            "idToken": "TAG-001",
            "type": "ID_TOKEN_ISO14443",
            "status": "AUTHORIZATION_STATUS_ACCEPTED",
        },
    )
    assert (
        new
        == old
        == user_pb.IdToken(
            id_token="TAG-001",
            type=ocpp.ID_TOKEN_ISO14443,
            status=ocpp.AUTHORIZATION_STATUS_ACCEPTED,
        )
    )


def test_parse_nested_ocpp_messages_and_times() -> None:
    station = parse(
        device_pb.ChargingStation,
        {"id": "CS", "registrationStatus": "Pending", "location": {"lat": 1, "lng": 2.5}},
    )
    assert station.registration_status == ocpp.REGISTRATION_STATUS_PENDING
    assert station.location.lat == 1.0
    token = parse(user_pb.IdToken, {"idToken": "T", "expiryDate": "2027-01-01T00:00:00Z"})
    expected = timestamp_pb2.Timestamp()
    expected.FromJsonString("2027-01-01T00:00:00Z")
    assert token.expiry_date == expected


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"idToken": "T", "colour": "red"}, "colour"),
        ({"idToken": 5}, "idToken"),
        ({"idToken": "T", "expiryDate": "tomorrow"}, "expiryDate"),
    ],
)
def test_parse_errors_say_what_is_wrong(body: dict[str, Any], path: str) -> None:
    with pytest.raises(RestJsonError) as err:
        parse(user_pb.IdToken, body)
    assert path in str(err.value)


def test_parse_refuses_what_is_no_object() -> None:
    with pytest.raises(RestJsonError, match="expected a JSON object, got an array"):
        parse(user_pb.IdToken, [])


# -- round trip: render then parse gives the message back -------------------------------------


def _fill(message: Any, rnd: random.Random, depth: int = 0) -> None:
    """Set a random choice of ``message``'s fields to random values (OCPP date-times with the
    milliseconds OCPP allows: more would be cut on the way out, as they are to stations)."""
    from google.protobuf.descriptor import FieldDescriptor as F

    ocpp_message = message.DESCRIPTOR.file.package == "csms.ocpp.v201"
    for fld in message.DESCRIPTOR.fields:
        if rnd.random() < 0.3 or (fld.message_type is not None and depth > 3):
            continue
        if fld.containing_oneof is not None and message.WhichOneof(fld.containing_oneof.name):
            continue
        count = rnd.randint(0, 2) if fld.is_repeated else 1
        for _ in range(count):
            if fld.message_type is not None:
                name = fld.message_type.full_name
                target = getattr(message, fld.name)
                sub = target.add() if fld.is_repeated else target
                if name == "google.protobuf.Timestamp":
                    nanos = (
                        rnd.randrange(1000) * 1_000_000 if ocpp_message else rnd.randrange(10**9)
                    )
                    sub.seconds, sub.nanos = rnd.randrange(0, 4_000_000_000), nanos
                elif name == "google.protobuf.Struct":
                    sub.update({"vendorId": "v", "n": rnd.randint(-5, 5), "ok": True})
                elif name == "google.protobuf.Value":
                    sub.string_value = "any"
                elif name == "google.protobuf.FieldMask":
                    sub.paths.append("model")
                elif not name.startswith("google.protobuf."):
                    _fill(sub, rnd, depth + 1)
                continue
            if fld.enum_type is not None:
                value: Any = rnd.choice([v.number for v in fld.enum_type.values])
            elif fld.type == F.TYPE_BOOL:
                value = rnd.random() < 0.5
            elif fld.type == F.TYPE_STRING:
                value = rnd.choice(["", "x", "Ünïcode ✓", "0"])
            elif fld.type == F.TYPE_DOUBLE:
                value = rnd.choice([0.0, 1.5, -2.25, 1e6])
            elif fld.type == F.TYPE_BYTES:
                value = bytes([rnd.randrange(256)])
            else:
                value = rnd.randint(-(2**31), 2**31 - 1)
            if ocpp_message and fld.enum_type is not None and value == 0:
                value = 1  # an OCPP payload has no unspecified value to send
            if fld.is_repeated:
                getattr(message, fld.name).append(value)
            else:
                setattr(message, fld.name, value)


def _resource_types() -> list[Any]:
    from google.protobuf import message_factory

    types = []
    for file in (device_pb.DESCRIPTOR, tx_pb.DESCRIPTOR, user_pb.DESCRIPTOR):
        for descriptor in file.message_types_by_name.values():
            if descriptor.name.endswith("Json"):
                continue  # the REST requests themselves hold JSON
            types.append(message_factory.GetMessageClass(descriptor))
    return types


@pytest.mark.parametrize("message_type", _resource_types(), ids=lambda t: t.DESCRIPTOR.full_name)
def test_render_then_parse_gives_the_message_back(message_type: Any) -> None:
    """Every message of our services, randomly filled 25 times: what REST prints is read back
    as the same message (nothing is lost or misspelt in either direction)."""
    for seed in range(25):
        rnd = random.Random(f"{message_type.DESCRIPTOR.full_name}/{seed}")
        message = message_type()
        _fill(message, rnd)
        assert parse(message_type, render(message)) == message, (seed, message)
