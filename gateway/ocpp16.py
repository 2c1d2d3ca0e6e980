"""OCPP 1.6J ⇄ the OCPP 2.0.1 messages the services speak: the one translation layer, sans I/O.

A station that negotiated ``ocpp1.6`` is served by the same action → RPC table
(:mod:`gateway.routes`) as a 2.0.1 one. Its CALL is checked against the 1.6 JSON schema
(:func:`gateway.ocppj.validate` with ``"ocpp1.6"``), turned by its :class:`Translation` into the
2.0.1 payload of the row that serves it, and from then on handled as a 2.0.1 CALL (schema, proto,
RPC). The 2.0.1 frame that answers it is turned back by :func:`answer`: a CALLRESULT's payload
into the 1.6 response (checked against the 1.6 response schema), a CALLERROR's code into 1.6's
spelling (:func:`gateway.ocppj.spelled`). Nothing here knows about sockets or gRPC; every table
is tested in ``tests/unit/gateway/test_ocpp16.py``.

Transactions (StartTransaction, StopTransaction, MeterValues) are TransactionEvents once
translated, the integer transactionId assigned by transaction_svc first (:func:`assignment`):
see the section "transactions" below.

What maps to what (an action not in :data:`TRANSLATIONS` is answered NotSupported):

* BootNotification → BootNotification: chargePointVendor → chargingStation.vendorName,
  chargePointModel → model, chargePointSerialNumber (else the deprecated chargeBoxSerialNumber)
  → serialNumber, firmwareVersion, iccid/imsi → modem; reason "Unknown" (1.6 gives none).
  meterType and meterSerialNumber have no place in the station resource and are not kept.
  The answer's status, currentTime and interval go back as they are (statusInfo is dropped).
* Heartbeat → Heartbeat, answered by the gateway like 2.0.1's (:mod:`gateway.heartbeats`).
* StatusNotification → StatusNotification: connectorId N → EVSE N connector 1, connectorId 0
  (the station itself) → EVSE 0 connector 0; status → connectorStatus by
  :data:`CONNECTOR_STATUS_16`; timestamp (optional in 1.6) → timestamp, else the gateway's time
  of receipt. The 1.6 status, errorCode, info, vendorId and vendorErrorCode go along in
  StatusNotificationCall.ocpp16 and are stored on the connector (REST: the connector's
  ``ocpp16``). The answer is empty in both.
* Authorize → Authorize: idTag → idToken. A 1.6 idTag has no type, so the AuthorizeCall says
  ``protocol: "ocpp1.6"`` and user_svc matches the stored token of that value whatever its type
  (the ``type`` written here, ISO14443, is a placeholder the schema needs and user_svc ignores
  for 1.6). The answer's idTokenInfo becomes idTagInfo: status (see :data:`AUTHORIZATION_16`),
  cacheExpiryDateTime → expiryDate, groupIdToken.idToken → parentIdTag when it fits 1.6's
  20 characters (a longer group id is left out: 1.6 cannot carry it).
* DataTransfer → DataTransfer (the answer's data, any JSON in 2.0.1, goes as its JSON text when
  it is no string); FirmwareStatusNotification → FirmwareStatusNotification (every 1.6 status is
  a 2.0.1 one, spelled alike); DiagnosticsStatusNotification → LogStatusNotification
  (:data:`DIAGNOSTICS_STATUS_16`: UploadFailed is 2.0.1's UploadFailure). The 1.6 security
  whitepaper's SecurityEventNotification, SignCertificate, SignedFirmwareStatusNotification and
  LogStatusNotification → their 2.0.1 namesakes, whose fields they share (the ``ocpp`` package
  ships their 1.6 schemas, so they are checked like the rest); statusInfo is dropped from the
  answers.

The other way, the CSMS's commands (:data:`COMMANDS`): the services send a 2.0.1 request, and
:class:`gateway.control.StationControl` sends a 1.6 station the 1.6 request(s) of its
:class:`Command`, checked against the 1.6 schema, and returns the 2.0.1 response made of the
station's 1.6 answers. A command 1.6 cannot say (no 1.6 action, or a field or value 1.6 lacks)
raises :class:`Untranslatable` and is refused before anything is sent. A 1.6 station's
configuration is the device model's component :data:`CONFIGURATION_COMPONENT`, one variable per
key: GetVariables ⇄ GetConfiguration, SetVariables ⇄ ChangeConfiguration (one per key),
GetBaseReport ⇄ GetConfiguration of every key, stored as the NotifyReport a 2.0.1 station would
have sent. The OCPP 2.0.1 names of the settings 1.6 has (:data:`STANDARD_VARIABLES_16`) are
those keys too; other 2.0.1 names are answered UnknownComponent / UnknownVariable per attribute
and not sent. (device_svc splits a GetVariables longer than the station's
GetConfigurationMaxKeys into several commands, as it splits a 2.0.1 station's by ItemsPerMessage;
the answers of one command's GetConfiguration calls are joined here all the same.)
:func:`command` picks the 1.6 message: some requests go as the security whitepaper's
(:data:`WHITEPAPER`), and some commands exist in 1.6 only there (:data:`WHITEPAPER_COMMANDS`).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from gateway import ocppj

__all__ = [
    "AUTHORIZATION_16",
    "CERTIFICATE_USE_16",
    "CHARGING_STATE_16",
    "COMMANDS",
    "CONFIGURATION_COMPONENT",
    "CONFIGURATION_STATUS_16",
    "CONNECTOR_STATUS_16",
    "DIAGNOSTICS_STATUS_16",
    "PROFILE_PURPOSE_16",
    "SECRET_KEYS_16",
    "STANDARD_VARIABLES_16",
    "PROTOCOL",
    "START_SEQ_NO",
    "STOP_REASONS_16",
    "STOP_SEQ_NO",
    "TRANSLATIONS",
    "TRIGGER_16",
    "UNLOCK_STATUS_16",
    "WHITEPAPER",
    "WHITEPAPER_COMMANDS",
    "Command",
    "Translation",
    "UNKEPT_MEASURANDS_16",
    "Untranslatable",
    "answer",
    "assignment",
    "charging_state_event",
    "charging_profile_16",
    "command",
    "id_tag_info",
    "meter_seq_no",
    "meter_values",
    "request",
    "transaction_id_16",
]

#: The subprotocol (Sec-WebSocket-Protocol) of OCPP 1.6J.
PROTOCOL: Final = "ocpp1.6"

# 1.6's CiString20Type: idTag and parentIdTag.
_ID_TAG_LENGTH: Final = 20

Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Translation:
    """How one 1.6 action is served: the 2.0.1 action whose row serves it, and both payloads'
    conversions (1.6 request and the gateway's time now → 2.0.1 request, 2.0.1 response → 1.6
    response). ``extra``: what the 1.6 request says that 2.0.1 cannot, as fields of the RPC's
    <Action>Call wrapper (proto JSON, by field name)."""

    action: str
    request: Callable[[Payload, str], Payload]
    response: Callable[[Payload], Payload]
    extra: Callable[[Payload], Payload] | None = None
    # The 2.0.1 action when it depends on the payload (MeterValues: with a transactionId a
    # TransactionEvent, else MeterValues); None: always ``action``.
    route: Callable[[Payload], str] | None = None
    # The CSMS assigns this CALL a transactionId first (StartTransaction): the
    # AssignTransactionId16Request (proto JSON, without station_id) that asks for it. The id is
    # then given to ``request`` as the payload's "transactionId", and put in the answer.
    assign: Callable[[Payload], Payload] | None = None


def _boot_request(p: Payload, now: str) -> Payload:
    station: Payload = {"model": p["chargePointModel"], "vendorName": p["chargePointVendor"]}
    serial = p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber")
    if serial:
        station["serialNumber"] = serial
    if "firmwareVersion" in p:
        station["firmwareVersion"] = p["firmwareVersion"]
    modem = {k: p[k] for k in ("iccid", "imsi") if k in p}
    if modem:
        station["modem"] = modem
    return {"reason": "Unknown", "chargingStation": station}


def _boot_response(r: Payload) -> Payload:
    return {"status": r["status"], "currentTime": r["currentTime"], "interval": r["interval"]}


def _same(p: Payload) -> Payload:
    return p


def _heartbeat_request(p: Payload, now: str) -> Payload:
    return p


def _authorize_request(p: Payload, now: str) -> Payload:
    return {"idToken": {"idToken": p["idTag"], "type": "ISO14443"}}


#: 2.0.1 AuthorizationStatusEnumType → 1.6 AuthorizationStatus. 1.6 has five values; the 2.0.1
#: refusals it lacks are Invalid ("not valid for this station"), Unknown too (1.6 has no Unknown:
#: an idTag the CSMS does not know is Invalid there).
AUTHORIZATION_16: Final[Mapping[str, str]] = {
    "Accepted": "Accepted",
    "Blocked": "Blocked",
    "ConcurrentTx": "ConcurrentTx",
    "Expired": "Expired",
    "Invalid": "Invalid",
    "NoCredit": "Invalid",
    "NotAllowedTypeEVSE": "Invalid",
    "NotAtThisLocation": "Invalid",
    "NotAtThisTime": "Invalid",
    "Unknown": "Invalid",
}


def id_tag_info(info: Payload) -> Payload:
    """A 2.0.1 idTokenInfo as 1.6's idTagInfo."""
    out: Payload = {"status": AUTHORIZATION_16[info["status"]]}
    if "cacheExpiryDateTime" in info:
        out["expiryDate"] = info["cacheExpiryDateTime"]
    group = info.get("groupIdToken", {}).get("idToken")
    if group and len(group) <= _ID_TAG_LENGTH:
        out["parentIdTag"] = group
    return out


def _authorize_response(r: Payload) -> Payload:
    return {"idTagInfo": id_tag_info(r["idTokenInfo"])}


# -- transactions: StartTransaction, StopTransaction, MeterValues ----------------------------------
#
# A 1.6 transaction is recorded as the TransactionEvents a 2.0.1 station would send for it, under
# the integer transactionId the CSMS assigned (its decimal digits: 2.0.1's id is a string):
#
# * StartTransaction → AssignTransactionId16 (transaction_svc: the id, committed, the same one
#   for a re-sent request), then TransactionEvent Started, seqNo 0, triggerReason Authorized,
#   idTag → idToken, connectorId N → EVSE N connector 1, meterStart → an
#   Energy.Active.Import.Register reading (Wh, context Transaction.Begin) at its timestamp,
#   reservationId kept; chargingState and remoteStartId (triggerReason RemoteStart) as the
#   assignment answered them (transaction_svc links the remote start the CSMS sent before, and
#   fixes the chargingState the connector's last status said: see _connector_charging_state16 in
#   gateway/server.py). Answer: the idTokenInfo as idTagInfo (always there: the idTag is always
#   authorized; a refused one is still a transaction, the station decides) and the id.
# * StopTransaction → TransactionEvent Ended, seqNo STOP_SEQ_NO (the last there can be), reason
#   (default Local) → stoppedReason and triggerReason by STOP_REASONS_16, idTag → idToken when
#   given, transactionData and meterStop (context Transaction.End) → meterValue. Answer: idTagInfo
#   when an idTag was given, else nothing. A transactionId the CSMS never assigned is recorded
#   all the same (a transaction without start).
# * MeterValues with a transactionId → TransactionEvent Updated, seqNo from its earliest
#   timestamp (meter_seq_no), connectorId N > 0 → EVSE N; without → MeterValues, connectorId →
#   evseId (0: the station). Answer: nothing.
#
# The seqNos are the idempotency keys: a message re-sent after a lost answer gets the same seqNo
# (the same content, so transaction_svc stores it once: a retry, not a conflict), and the fold
# orders the events as 2.0.1's are. Two different MeterValues of one transaction dated in the
# same second share a seqNo: the second is kept as a conflict and counted all the same.
#
# Sampled values: value (a string in 1.6) → a number; unit → unitOfMeasure.unit ("Celcius", 1.6's
# misspelling, → "Celsius"); context, measurand, phase, location alike. What 2.0.1 cannot hold
# is left out: the measurands Temperature and RPM, and SignedData values (a signed blob without
# the signing metadata 2.0.1 asks for). A Raw value that is not a number is refused
# (PropertyConstraintViolation).

#: seqNo of the Started event of a 1.6 transaction.
START_SEQ_NO: Final = 0
#: seqNo of the Ended event of a 1.6 transaction: after every MeterValues' (2.0.1 int32).
STOP_SEQ_NO: Final = 2**31 - 1
# A MeterValues' seqNo counts seconds from here (until 2088 within int32).
_SEQ_EPOCH: Final = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
_ENERGY: Final = "Energy.Active.Import.Register"
# The type 2.0.1's schema wants for an idToken; transaction_svc does not keep it for 1.6.
_ID_TAG_TYPE: Final = "ISO14443"

#: 1.6 Reason (StopTransaction) → 2.0.1 (stoppedReason, triggerReason). The resets become
#: ImmediateReset (2.0.1 has no soft/hard), UnlockCommand Other (no such reason, but the trigger
#: says it); EVDisconnected's trigger is EVCommunicationLost, as 2.0.1's cable-unplug flow sends.
STOP_REASONS_16: Final[Mapping[str, tuple[str, str]]] = {
    "DeAuthorized": ("DeAuthorized", "Deauthorized"),
    "EmergencyStop": ("EmergencyStop", "AbnormalCondition"),
    "EVDisconnected": ("EVDisconnected", "EVCommunicationLost"),
    "HardReset": ("ImmediateReset", "ResetCommand"),
    "Local": ("Local", "StopAuthorized"),
    "Other": ("Other", "AbnormalCondition"),
    "PowerLoss": ("PowerLoss", "AbnormalCondition"),
    "Reboot": ("Reboot", "ResetCommand"),
    "Remote": ("Remote", "RemoteStop"),
    "SoftReset": ("ImmediateReset", "ResetCommand"),
    "UnlockCommand": ("Other", "UnlockCommand"),
}

#: 1.6 measurands 2.0.1 has no place for (MeasurandEnumType lacks them): left out.
UNKEPT_MEASURANDS_16: Final = frozenset({"Temperature", "RPM"})
_UNITS_16: Final[Mapping[str, str]] = {"Celcius": "Celsius"}
# A sampled value's context → the trigger of the Updated event that carries it.
_METER_TRIGGERS: Final[Mapping[str, str]] = {
    "Sample.Clock": "MeterValueClock",
    "Trigger": "Trigger",
}


def _refused(description: str) -> ocppj.OcppError:
    """A valid 1.6 payload whose values the CSMS cannot take (PropertyConstraintViolation);
    :func:`request` gives it the CALL's message id."""
    return ocppj.OcppError(ocppj.Code.PROPERTY_CONSTRAINT_VIOLATION, description)


def _time(value: str, field: str) -> datetime.datetime:
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise _refused(f"{field} is not an RFC 3339 date-time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when


def _sampled_value(sampled: Payload) -> Payload | None:
    """One 1.6 SampledValue as 2.0.1's, None when 2.0.1 cannot hold it."""
    if sampled.get("measurand") in UNKEPT_MEASURANDS_16 or sampled.get("format") == "SignedData":
        return None
    try:
        value = float(sampled["value"])
    except ValueError:
        raise _refused(f"sampled value {sampled['value']!r} is not a number") from None
    if not math.isfinite(value):
        raise _refused(f"sampled value {sampled['value']!r} is not a finite number")
    out: Payload = {"value": value}
    for key in ("context", "measurand", "phase", "location"):
        if key in sampled:
            out[key] = sampled[key]
    if "unit" in sampled:
        out["unitOfMeasure"] = {"unit": _UNITS_16.get(sampled["unit"], sampled["unit"])}
    return out


def meter_values(values: list[Payload]) -> list[Payload]:
    """1.6 MeterValue objects as 2.0.1's; one left with no sampled value is left out."""
    out = []
    for meter_value in values:
        sampled = [s for s in map(_sampled_value, meter_value["sampledValue"]) if s is not None]
        if sampled:
            out.append({"timestamp": meter_value["timestamp"], "sampledValue": sampled})
    return out


def _register(timestamp: str, wh: int, context: str) -> Payload:
    """meterStart or meterStop as the register reading it is."""
    return {
        "timestamp": timestamp,
        "sampledValue": [
            {
                "value": wh,
                "context": context,
                "measurand": _ENERGY,
                "unitOfMeasure": {"unit": "Wh"},
            }
        ],
    }


def meter_seq_no(values: list[Payload]) -> int:
    """The seqNo of a MeterValues' Updated event: 1 + whole seconds from 2020-01-01 UTC to its
    earliest timestamp, within (START_SEQ_NO, STOP_SEQ_NO)."""
    earliest = min(_time(v["timestamp"], "meterValue.timestamp") for v in values)
    seconds = int((earliest - _SEQ_EPOCH).total_seconds())
    return min(max(seconds + 1, START_SEQ_NO + 1), STOP_SEQ_NO - 1)


def _transaction_id(value: int) -> str:
    return str(value)


def _start_assign(p: Payload) -> Payload:
    if p["connectorId"] < 1:
        raise _refused("StartTransaction.connectorId must be at least 1 (0 is the station)")
    _time(p["timestamp"], "timestamp")
    return {k: p[k] for k in ("connectorId", "idTag", "timestamp", "meterStart")}


def _start_request(p: Payload, now: str) -> Payload:
    event: Payload = {
        "eventType": "Started",
        "timestamp": p["timestamp"],
        "triggerReason": "Authorized",
        "seqNo": START_SEQ_NO,
        # A 1.6 transaction starts when energy may flow: Charging, unless the status of its
        # connector before the start said otherwise (the assignment's chargingState) and until
        # a StatusNotification after it does (charging_state_event).
        "transactionInfo": {
            "transactionId": _transaction_id(p["transactionId"]),
            "chargingState": "Charging",
        },
        "idToken": {"idToken": p["idTag"], "type": _ID_TAG_TYPE},
        "evse": {"id": p["connectorId"], "connectorId": 1},
        "meterValue": [_register(p["timestamp"], p["meterStart"], "Transaction.Begin")],
    }
    if "reservationId" in p:
        event["reservationId"] = p["reservationId"]
    if "chargingState" in p:  # the CSMS's: the connector's status before the start
        event["transactionInfo"]["chargingState"] = p["chargingState"]
    if "remoteStartId" in p:  # the CSMS's, not the station's (AssignTransactionId16)
        event["triggerReason"] = "RemoteStart"
        event["transactionInfo"]["remoteStartId"] = p["remoteStartId"]
    return event


def _start_response(r: Payload) -> Payload:
    # transactionId: added by answer(), which has it from the assignment.
    return {"idTagInfo": id_tag_info(r["idTokenInfo"])}


def _stop_request(p: Payload, now: str) -> Payload:
    stopped, trigger = STOP_REASONS_16[p.get("reason", "Local")]
    event: Payload = {
        "eventType": "Ended",
        "timestamp": p["timestamp"],
        "triggerReason": trigger,
        "seqNo": STOP_SEQ_NO,
        "transactionInfo": {
            "transactionId": _transaction_id(p["transactionId"]),
            "stoppedReason": stopped,
        },
        "meterValue": [
            *meter_values(p.get("transactionData", [])),
            _register(p["timestamp"], p["meterStop"], "Transaction.End"),
        ],
    }
    if "idTag" in p:
        event["idToken"] = {"idToken": p["idTag"], "type": _ID_TAG_TYPE}
    return event


def _stop_response(r: Payload) -> Payload:
    return {"idTagInfo": id_tag_info(r["idTokenInfo"])} if "idTokenInfo" in r else {}


def _meter_route(p: Payload) -> str:
    return "TransactionEvent" if "transactionId" in p else "MeterValues"


def _meter_request(p: Payload, now: str) -> Payload:
    connector = p["connectorId"]
    if connector < 0:
        raise _refused("MeterValues.connectorId must not be negative")
    values = meter_values(p["meterValue"])
    if "transactionId" not in p:
        if not values:
            raise _refused(
                "no sampled value of this MeterValues can be kept (Temperature, RPM and "
                "SignedData values have no place in the CSMS)"
            )
        return {"evseId": connector, "meterValue": values}
    contexts = {s.get("context") for v in p["meterValue"] for s in v["sampledValue"]}
    trigger = "MeterValuePeriodic"
    if len(contexts) == 1:
        trigger = _METER_TRIGGERS.get(contexts.pop() or "", trigger)
    event: Payload = {
        "eventType": "Updated",
        "timestamp": min(
            (v["timestamp"] for v in p["meterValue"]),
            key=lambda t: _time(t, "meterValue.timestamp"),
        ),
        "triggerReason": trigger,
        "seqNo": meter_seq_no(p["meterValue"]),
        "transactionInfo": {"transactionId": _transaction_id(p["transactionId"])},
    }
    if connector:
        event["evse"] = {"id": connector, "connectorId": 1}
    if values:
        event["meterValue"] = values
    return event


def _empty(r: Payload) -> Payload:
    return {}


_TRANSACTION_MESSAGES: Final[Mapping[str, Translation]] = {
    "StartTransaction": Translation(
        "TransactionEvent", _start_request, _start_response, assign=_start_assign
    ),
    "StopTransaction": Translation("TransactionEvent", _stop_request, _stop_response),
    "MeterValues": Translation("MeterValues", _meter_request, _empty, route=_meter_route),
}


#: 1.6 ChargePointStatus → 2.0.1 ConnectorStatusEnumType: every state of a session under way
#: (Preparing, Charging, SuspendedEV, SuspendedEVSE, Finishing) is Occupied; 1.6's own value is
#: kept beside it (StatusNotificationCall.ocpp16).
CONNECTOR_STATUS_16: Final[Mapping[str, str]] = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}


def _status_request(p: Payload, now: str) -> Payload:
    connector = p["connectorId"]
    return {
        # 1.6 timestamp is optional, 2.0.1's required: the CSMS's time of receipt stands in.
        "timestamp": p.get("timestamp", now),
        "connectorStatus": CONNECTOR_STATUS_16[p["status"]],
        # connectorId N is EVSE N (1.6 has one connector per connectorId); 0 is the station:
        # EVSE 0, connector 0.
        "evseId": connector,
        "connectorId": 1 if connector else 0,
    }


#: 1.6 ChargePointStatus of a connector in a transaction → 2.0.1 ChargingStateEnumType: 1.6 has
#: no chargingState; its StatusNotification says it (:func:`charging_state_event`).
CHARGING_STATE_16: Final[Mapping[str, str]] = {
    "Charging": "Charging",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
}


def charging_state_event(status: Payload, transaction_id: str, now: str) -> Payload | None:
    """The TransactionEvent Updated that tells a 1.6 transaction's chargingState, from the 1.6
    StatusNotification ``status`` of its connector (None when the status says none: see
    :data:`CHARGING_STATE_16`). triggerReason ChargingStateChanged, seqNo from the status's
    timestamp as a MeterValues' (:func:`meter_seq_no`; so one dated in the same second as a
    MeterValues of the transaction is kept as a conflict, and folded all the same)."""
    state = CHARGING_STATE_16.get(status["status"])
    if state is None or status["connectorId"] < 1:
        return None
    timestamp = status.get("timestamp", now)
    return {
        "eventType": "Updated",
        "timestamp": timestamp,
        "triggerReason": "ChargingStateChanged",
        "seqNo": meter_seq_no([{"timestamp": timestamp}]),
        "transactionInfo": {"transactionId": transaction_id, "chargingState": state},
        "evse": {"id": status["connectorId"], "connectorId": 1},
    }


def _status_extra(p: Payload) -> Payload:
    status = {"status": p["status"], "errorCode": p["errorCode"]}
    for key in ("info", "vendorId", "vendorErrorCode"):
        if key in p:
            status[key] = p[key]
    return {"ocpp16": status}


# -- the other 1.6 station → CSMS messages -------------------------------------------------------


def _data_transfer_response(r: Payload) -> Payload:
    out: Payload = {"status": r["status"]}
    if "data" in r:
        # 2.0.1's data is any JSON, 1.6's a string: anything else goes as its JSON text.
        data = r["data"]
        out["data"] = data if isinstance(data, str) else orjson.dumps(data).decode()
    return out


#: 1.6 DiagnosticsStatus → 2.0.1 UploadLogStatusEnumType (served as LogStatusNotification):
#: only UploadFailed is spelled otherwise in 2.0.1 (UploadFailure).
DIAGNOSTICS_STATUS_16: Final[Mapping[str, str]] = {
    "Idle": "Idle",
    "Uploaded": "Uploaded",
    "UploadFailed": "UploadFailure",
    "Uploading": "Uploading",
}


def _diagnostics_status_request(p: Payload, now: str) -> Payload:
    return {"status": DIAGNOSTICS_STATUS_16[p["status"]]}


def _as_is(p: Payload, now: str) -> Payload:
    """A 1.6 request whose fields and values 2.0.1's serving request has, spelled the same."""
    return p


def _status_only(r: Payload) -> Payload:
    """The answer's status (statusInfo dropped: 1.6 has none)."""
    return {"status": r["status"]}


# 1.6 DataTransfer, FirmwareStatusNotification and the 1.6 security whitepaper's messages (the
# `ocpp` package ships their 1.6 schemas) say what their 2.0.1 namesakes say: every 1.6
# FirmwareStatus (and whitepaper FirmwareStatusEnumType) value is a 2.0.1 one, spelled alike.
_OTHER_MESSAGES: Final[Mapping[str, Translation]] = {
    "DataTransfer": Translation("DataTransfer", _as_is, _data_transfer_response),
    "FirmwareStatusNotification": Translation("FirmwareStatusNotification", _as_is, _empty),
    "DiagnosticsStatusNotification": Translation(
        "LogStatusNotification", _diagnostics_status_request, _empty
    ),
    # The 1.6 security whitepaper (edition 3).
    "SecurityEventNotification": Translation("SecurityEventNotification", _as_is, _empty),
    "SignCertificate": Translation("SignCertificate", _as_is, _status_only),
    "SignedFirmwareStatusNotification": Translation("FirmwareStatusNotification", _as_is, _empty),
    "LogStatusNotification": Translation("LogStatusNotification", _as_is, _empty),
}


#: The 1.6 actions a station may send that the CSMS serves, and how.
TRANSLATIONS: Final[Mapping[str, Translation]] = {
    **_TRANSACTION_MESSAGES,  # the section "transactions"
    "BootNotification": Translation("BootNotification", _boot_request, _boot_response),
    "Heartbeat": Translation("Heartbeat", _heartbeat_request, _same),
    "StatusNotification": Translation(
        "StatusNotification", _status_request, _same, extra=_status_extra
    ),
    "Authorize": Translation("Authorize", _authorize_request, _authorize_response),
    **_OTHER_MESSAGES,
}


def assignment(call: ocppj.Call) -> Payload | None:
    """The AssignTransactionId16Request (proto JSON, without station_id) to send before the
    1.6 ``call`` is translated, None when it needs no transactionId assigned.

    Raises :class:`ocppj.OcppError` for values the CSMS cannot take, KeyError as
    :func:`request`.
    """
    assign = TRANSLATIONS[call.action].assign
    if assign is None:
        return None
    try:
        return assign(call.payload)
    except ocppj.OcppError as exc:
        exc.message_id = call.message_id
        raise


def request(
    call: ocppj.Call,
    now: str,
    transaction_id: int | None = None,
    remote_start_id: int | None = None,
    charging_state: str | None = None,
) -> tuple[ocppj.Call, Payload]:
    """The 2.0.1 CALL that serves a 1.6 ``call`` already checked against its 1.6 schema, and
    the wrapper's extra fields (``{}`` when none). ``now``: the gateway's time (UTC, at most 3
    fractional digits), for what 2.0.1 requires and 1.6 may leave out. ``transaction_id``: the
    one the CSMS assigned (see :func:`assignment`). ``remote_start_id``: the CSMS's remote start
    this StartTransaction follows, and ``charging_state`` its transaction's chargingState at the
    start (both from the assignment: 1.6's StartTransaction says neither).

    Raises KeyError when the action has no translation (the gateway answers NotSupported),
    :class:`ocppj.OcppError` (with the CALL's message id) for values the CSMS cannot take.
    """
    translation = TRANSLATIONS[call.action]
    payload = call.payload
    if transaction_id is not None:
        payload = {**payload, "transactionId": transaction_id}
    if remote_start_id is not None:
        payload = {**payload, "remoteStartId": remote_start_id}
    if charging_state is not None:
        payload = {**payload, "chargingState": charging_state}
    action = translation.action if translation.route is None else translation.route(payload)
    try:
        translated = ocppj.Call(call.message_id, action, translation.request(payload, now))
    except ocppj.OcppError as exc:
        exc.message_id = call.message_id
        raise
    extra = translation.extra(call.payload) if translation.extra is not None else {}
    return translated, extra


def answer(action: str, frame: str, transaction_id: int | None = None) -> str:
    """The 1.6 frame answering the 1.6 CALL of ``action``, from the 2.0.1 ``frame`` the gateway
    made for its translation (a CALLRESULT or a CALLERROR, both well-formed: the gateway's own).
    ``transaction_id``: the one the CSMS assigned the CALL, answered with it.

    A translated response that breaks the 1.6 response schema is the CSMS's bug: InternalError,
    not a frame the station would refuse.
    """
    message = orjson.loads(frame)
    message_id: str = message[1]
    if message[0] == ocppj.MessageType.CALL_ERROR:
        _, _, code, description, details = message
        return ocppj.call_error(message_id, ocppj.spelled(code, PROTOCOL), description, details)
    payload = TRANSLATIONS[action].response(message[2])
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    try:
        ocppj.validate(action, "Response", payload, message_id, PROTOCOL)
    except ocppj.OcppError as exc:
        return ocppj.call_error(
            message_id,
            ocppj.Code.INTERNAL_ERROR,
            f"the CSMS's {action} answer breaks the OCPP 1.6 schema: {exc.description}",
        )
    return ocppj.call_result(message_id, payload)


# -- CSMS → 1.6 station: the commands ---------------------------------------------------------


class Untranslatable(Exception):
    """A 2.0.1 command (or this request of it) that has no OCPP 1.6 meaning: refused, nothing
    sent. Its text says why, for the caller."""


@dataclass(frozen=True, slots=True)
class Command:
    """How one 2.0.1 command reaches a 1.6 station: the 1.6 action it goes as, the 1.6 requests
    of a 2.0.1 request (one, or one per item when 1.6 takes a single item: SetVariables), and the
    2.0.1 response the services expect, from the 2.0.1 request and the station's 1.6 answers.
    ``reports``: 2.0.1 CALLs the CSMS serves as if the station had sent them, made of its answers
    and the gateway's time (GetBaseReport's NotifyReport: 1.6 answers with the keys at once)."""

    action: str
    requests: Callable[[Payload], list[Payload]]
    response: Callable[[Payload, list[Payload]], Payload]
    reports: Callable[[Payload, list[Payload], str], list[tuple[str, Payload]]] | None = None


def _one(
    request: Callable[[Payload], Payload], response: Callable[[Payload], Payload]
) -> tuple[Callable[[Payload], list[Payload]], Callable[[Payload, list[Payload]], Payload]]:
    """A command that goes as one 1.6 request, its answer translated alone."""
    return (lambda p: [request(p)]), (lambda p, answers: response(answers[0]))


def _reset(p: Payload) -> Payload:
    if "evseId" in p:
        raise Untranslatable("OCPP 1.6 resets the whole station only: leave evseId out")
    # Immediate: at once, whatever runs (1.6 Hard); OnIdle: once no transaction runs (1.6 Soft,
    # which ends the transactions gracefully first).
    return {"type": "Hard" if p["type"] == "Immediate" else "Soft"}


def _connector(evse: int, connector: int | None, what: str) -> int:
    """The 1.6 connectorId of a 2.0.1 EVSE (and connector): N ⇄ EVSE N connector 1."""
    if connector is not None and connector != 1 and evse != 0:
        raise Untranslatable(
            f"{what}: an OCPP 1.6 station has one connector per EVSE (1.6 connectorId N is "
            f"EVSE N connector 1), not connector {connector}"
        )
    return evse


def _unlock_request(p: Payload) -> Payload:
    if p["evseId"] == 0:
        raise Untranslatable("UnlockConnector: EVSE 0 is the station itself, it has no connector")
    return {"connectorId": _connector(p["evseId"], p["connectorId"], "UnlockConnector")}


#: 1.6 UnlockStatus → 2.0.1 UnlockStatusEnumType. NotSupported (the station has no lock) has no
#: 2.0.1 value: UnlockFailed, its statusInfo saying NotSupported.
UNLOCK_STATUS_16: Final[Mapping[str, str]] = {
    "Unlocked": "Unlocked",
    "UnlockFailed": "UnlockFailed",
    "NotSupported": "UnlockFailed",
}


def _with_reason(status: str, answered: str) -> Payload:
    """A 2.0.1 status; when it is not the 1.6 one, statusInfo names the 1.6 one."""
    out: Payload = {"status": status}
    if status != answered:
        out["statusInfo"] = {
            "reasonCode": answered,
            "additionalInfo": f"the OCPP 1.6 station answered {answered}",
        }
    return out


def _unlock_response(r: Payload) -> Payload:
    return _with_reason(UNLOCK_STATUS_16[r["status"]], r["status"])


def _availability_request(p: Payload) -> Payload:
    evse = p.get("evse", {})
    connector = _connector(evse.get("id", 0), evse.get("connectorId"), "ChangeAvailability")
    return {"connectorId": connector, "type": p["operationalStatus"]}


#: 2.0.1 MessageTriggerEnumType → 1.6 MessageTrigger; a value not here has no 1.6 counterpart.
#: 2.0.1's LogStatusNotification reports the upload of a log, as 1.6's
#: DiagnosticsStatusNotification reports the upload of the diagnostics.
TRIGGER_16: Final[Mapping[str, str]] = {
    "BootNotification": "BootNotification",
    "LogStatusNotification": "DiagnosticsStatusNotification",
    "FirmwareStatusNotification": "FirmwareStatusNotification",
    "Heartbeat": "Heartbeat",
    "MeterValues": "MeterValues",
    "StatusNotification": "StatusNotification",
}


def _trigger_request(p: Payload) -> Payload:
    requested = TRIGGER_16.get(p["requestedMessage"])
    if requested is None:
        raise Untranslatable(
            f"TriggerMessage: OCPP 1.6 cannot trigger {p['requestedMessage']} (it triggers "
            f"{', '.join(sorted(TRIGGER_16))})"
        )
    out: Payload = {"requestedMessage": requested}
    evse = p.get("evse")
    if evse is not None and evse["id"] != 0:
        out["connectorId"] = _connector(evse["id"], evse.get("connectorId"), "TriggerMessage")
    return out


def _id_tag(token: Payload, what: str) -> str:
    value: str = token["idToken"]
    if len(value) > _ID_TAG_LENGTH:
        raise Untranslatable(f"{what}: an OCPP 1.6 idTag has at most 20 characters, not {value!r}")
    return value


#: 2.0.1 ChargingProfilePurposeEnumType → 1.6 ChargingProfilePurposeType.
PROFILE_PURPOSE_16: Final[Mapping[str, str]] = {
    "ChargingStationMaxProfile": "ChargePointMaxProfile",
    "TxDefaultProfile": "TxDefaultProfile",
    "TxProfile": "TxProfile",
}


def charging_profile_16(profile: Payload) -> Payload:
    """A 2.0.1 chargingProfile as 1.6's csChargingProfiles, when 1.6 can say it: one schedule,
    no sales tariff, no phase to use, a purpose 1.6 has."""
    schedules = profile["chargingSchedule"]
    purpose = PROFILE_PURPOSE_16.get(profile["chargingProfilePurpose"])
    if purpose is None:
        raise Untranslatable(f"OCPP 1.6 has no {profile['chargingProfilePurpose']} profiles")
    if len(schedules) != 1:
        raise Untranslatable("an OCPP 1.6 charging profile has exactly one chargingSchedule")
    schedule = schedules[0]
    if "salesTariff" in schedule:
        raise Untranslatable("an OCPP 1.6 charging schedule has no salesTariff")
    periods = []
    for period in schedule["chargingSchedulePeriod"]:
        if "phaseToUse" in period:
            raise Untranslatable("an OCPP 1.6 charging schedule period has no phaseToUse")
        periods.append(period)
    out: Payload = {
        "chargingProfileId": profile["id"],
        "stackLevel": profile["stackLevel"],
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": profile["chargingProfileKind"],
    }
    for key in ("recurrencyKind", "validFrom", "validTo"):
        if key in profile:
            out[key] = profile[key]
    if "transactionId" in profile:
        out["transactionId"] = transaction_id_16(profile["transactionId"])
    out_schedule: Payload = {
        "chargingRateUnit": schedule["chargingRateUnit"],
        "chargingSchedulePeriod": periods,
    }
    for key in ("duration", "startSchedule", "minChargingRate"):
        if key in schedule:
            out_schedule[key] = schedule[key]
    out["chargingSchedule"] = out_schedule
    return out


def transaction_id_16(transaction_id: str) -> int:
    """A 2.0.1 transactionId (a string) as 1.6's integer: only the text of one is."""
    try:
        number = int(transaction_id)
    except ValueError:
        number = None
    if number is None or str(number) != transaction_id or not -(2**31) <= number < 2**31:
        raise Untranslatable(
            f"an OCPP 1.6 transactionId is an integer, not {transaction_id!r}"
        ) from None
    return number


def _remote_start_request(p: Payload) -> Payload:
    out: Payload = {"idTag": _id_tag(p["idToken"], "RequestStartTransaction")}
    if "evseId" in p:
        if p["evseId"] == 0:
            raise Untranslatable("RequestStartTransaction: EVSE 0 is the station itself")
        out["connectorId"] = p["evseId"]
    if "chargingProfile" in p:
        out["chargingProfile"] = charging_profile_16(p["chargingProfile"])
    # remoteStartId and groupIdToken have no place in 1.6: not sent.
    return out


def _remote_stop_request(p: Payload) -> Payload:
    return {"transactionId": transaction_id_16(p["transactionId"])}


def _data_transfer_request(p: Payload) -> Payload:
    if "data" in p and not isinstance(p["data"], str):
        raise Untranslatable("DataTransfer: OCPP 1.6's data is a string (send JSON as its text)")
    return p


def _list_version_response(r: Payload) -> Payload:
    return {"versionNumber": r["listVersion"]}


def _local_list_request(p: Payload) -> Payload:
    entries = []
    for entry in p.get("localAuthorizationList", []):
        if len(entry["idToken"]["idToken"]) > _ID_TAG_LENGTH:
            # No 1.6 station can be presented an id token longer than an idTag: left out of
            # its list (so that user_svc's list of every token, eMAIDs among them, still syncs).
            continue
        item: Payload = {"idTag": entry["idToken"]["idToken"]}
        if "idTokenInfo" in entry:
            item["idTagInfo"] = id_tag_info(entry["idTokenInfo"])
        entries.append(item)
    out: Payload = {"listVersion": p["versionNumber"], "updateType": p["updateType"]}
    if entries:
        out["localAuthorizationList"] = entries
    return out


def _local_list_response(r: Payload) -> Payload:
    # 1.6's NotSupported (no local list on this station) has no 2.0.1 value.
    return _with_reason("Failed" if r["status"] == "NotSupported" else r["status"], r["status"])


def _certificate_signed_request(p: Payload) -> Payload:
    if p.get("certificateType", "ChargingStationCertificate") != "ChargingStationCertificate":
        raise Untranslatable("an OCPP 1.6 station takes only its own certificate (no V2G)")
    return {"certificateChain": p["certificateChain"]}


#: The component of a 1.6 station's configuration in the device model: each 1.6 key is a
#: variable of it (GetVariables ⇄ GetConfiguration, SetVariables ⇄ ChangeConfiguration).
CONFIGURATION_COMPONENT: Final = "OCPP16"


#: The OCPP 2.0.1 standard variables (Part 2, appendix "Referenced Components and Variables")
#: that are a 1.6 configuration key (1.6 edition 2 section 9, and the security whitepaper
#: edition 3's keys) of the same meaning and the same value format: (component, variable,
#: variable instance or "") → the 1.6 key. An operator may name a 1.6 station's setting either
#: way: GetVariables / SetVariables of these names go as GetConfiguration / ChangeConfiguration of
#: the key, their results keep the 2.0.1 names (and are stored under them). Matched by meaning:
#: no pair is here whose values differ in format (1.6's ChargingScheduleAllowedChargingRateUnit
#: says "Current,Power", 2.0.1's SmartChargingCtrlr.RateUnit "A,W": left out) or whose 2.0.1
#: variable counts what is there rather than the most there may be (LocalAuthListCtrlr.Entries is
#: not LocalAuthListMaxLength). 1.6 has nothing of ClockCtrlr (no time zone, no NTP keys).
STANDARD_VARIABLES_16: Final[Mapping[tuple[str, str, str], str]] = {
    # Core
    ("AuthCacheCtrlr", "Enabled", ""): "AuthorizationCacheEnabled",
    ("AuthCtrlr", "AuthorizeRemoteStart", ""): "AuthorizeRemoteTxRequests",
    ("AuthCtrlr", "LocalAuthorizeOffline", ""): "LocalAuthorizeOffline",
    ("AuthCtrlr", "LocalPreAuthorize", ""): "LocalPreAuthorize",
    ("AuthCtrlr", "OfflineTxForUnknownIdEnabled", ""): "AllowOfflineTxForUnknownId",
    ("AlignedDataCtrlr", "Interval", ""): "ClockAlignedDataInterval",
    ("AlignedDataCtrlr", "Measurands", ""): "MeterValuesAlignedData",
    ("AlignedDataCtrlr", "TxEndedMeasurands", ""): "StopTxnAlignedData",
    ("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables"): "GetConfigurationMaxKeys",
    ("OCPPCommCtrlr", "HeartbeatInterval", ""): "HeartbeatInterval",
    ("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent"): (
        "TransactionMessageRetryInterval"
    ),
    ("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent"): "TransactionMessageAttempts",
    ("OCPPCommCtrlr", "ResetRetries", ""): "ResetRetries",
    ("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", ""): "UnlockConnectorOnEVSideDisconnect",
    ("OCPPCommCtrlr", "WebSocketPingInterval", ""): "WebSocketPingInterval",
    ("SampledDataCtrlr", "TxEndedMeasurands", ""): "StopTxnSampledData",
    ("SampledDataCtrlr", "TxUpdatedInterval", ""): "MeterValueSampleInterval",
    ("SampledDataCtrlr", "TxUpdatedMeasurands", ""): "MeterValuesSampledData",
    ("TxCtrlr", "EVConnectionTimeOut", ""): "ConnectionTimeOut",
    ("TxCtrlr", "MaxEnergyOnInvalidId", ""): "MaxEnergyOnInvalidId",
    ("TxCtrlr", "StopTxOnEVSideDisconnect", ""): "StopTransactionOnEVSideDisconnect",
    ("TxCtrlr", "StopTxOnInvalidId", ""): "StopTransactionOnInvalidId",
    # Local Auth List Management
    ("LocalAuthListCtrlr", "Enabled", ""): "LocalAuthListEnabled",
    ("LocalAuthListCtrlr", "ItemsPerMessage", ""): "SendLocalListMaxLength",
    # Reservation
    ("ReservationCtrlr", "NonEvseSpecific", ""): "ReserveConnectorZeroSupported",
    # Smart Charging
    ("SmartChargingCtrlr", "PeriodsPerSchedule", ""): "ChargingScheduleMaxPeriods",
    ("SmartChargingCtrlr", "Phases3to1", ""): "ConnectorSwitch3to1PhaseSupported",
    ("SmartChargingCtrlr", "ProfileStackLevel", ""): "ChargeProfileMaxStackLevel",
    # The security whitepaper's keys. AuthorizationKey is the Basic auth password of security
    # profiles 1 and 2 (so the CSMS's own password rotation, ``:updateBasicAuthPassword``, works
    # for 1.6 stations); CpoName is what the station puts in its certificate's O. Not its
    # SecurityProfile: 2.0.1's is ReadOnly (an upgrade goes by SetNetworkProfile, which the CSMS
    # follows), the whitepaper's is written to upgrade, which the CSMS would not follow (the
    # station would come back with a profile the CSMS does not expect it to have).
    ("SecurityCtrlr", "AdditionalRootCertificateCheck", ""): "AdditionalRootCertificateCheck",
    ("SecurityCtrlr", "BasicAuthPassword", ""): "AuthorizationKey",
    ("SecurityCtrlr", "MaxCertificateChainSize", ""): "CertificateSignedMaxChainSize",
    ("SecurityCtrlr", "OrganizationName", ""): "CpoName",
}

# 2.0.1 component and variable names are case-insensitive (CiString), as 1.6's keys are.
_STANDARD_16: Final = {
    (c.lower(), v.lower(), i.lower()): key for (c, v, i), key in STANDARD_VARIABLES_16.items()
}
_STANDARD_COMPONENTS_16: Final = frozenset(c for c, _, _ in _STANDARD_16)


#: 1.6 keys whose value is a secret (the whitepaper's AuthorizationKey is write-only): a value a
#: station reports anyway is not passed on (device model, REST).
SECRET_KEYS_16: Final = frozenset({"authorizationkey"})


def _key(item: Payload, what: str) -> tuple[str | None, str]:
    """The 1.6 configuration key a GetVariableData / SetVariableData item names, or (None, the
    attribute status it gets without being sent): a standard 2.0.1 name the 1.6 station has no
    key for (:data:`STANDARD_VARIABLES_16`) is UnknownComponent or UnknownVariable, as a 2.0.1
    station without it would answer; its other attribute types NotSupportedAttributeType.

    Raises :class:`Untranslatable` for component ``OCPP16`` used as 1.6 keys are not (an
    instance, an EVSE, another attribute type than Actual): a request made wrongly.
    """
    component, variable = item["component"], item["variable"]
    if component["name"] == CONFIGURATION_COMPONENT:
        if set(component) != {"name"}:
            raise Untranslatable(
                f"{what}: an OCPP 1.6 station's configuration is component "
                f"{CONFIGURATION_COMPONENT!r} (no instance, no EVSE), one variable per key; "
                f"not {component}"
            )
        if "instance" in variable:
            raise Untranslatable(f"{what}: OCPP 1.6 configuration keys have no instance")
        if item.get("attributeType", "Actual") != "Actual":
            raise Untranslatable(f"{what}: OCPP 1.6 configuration keys have an Actual value only")
        name: str = variable["name"]
        return name, ""
    # A 1.6 station is one component of each: no instance, no EVSE.
    if set(component) != {"name"} or component["name"].lower() not in _STANDARD_COMPONENTS_16:
        return None, "UnknownComponent"
    key = _STANDARD_16.get(
        (component["name"].lower(), variable["name"].lower(), variable.get("instance", "").lower())
    )
    if key is None:
        return None, "UnknownVariable"
    if item.get("attributeType", "Actual") != "Actual":
        return None, "NotSupportedAttributeType"
    return key, ""


def _get_configuration_requests(p: Payload) -> list[Payload]:
    keys: dict[str, str] = {}  # lower case → as first named (1.6 keys are case-insensitive)
    for item in p["getVariableData"]:
        key, _ = _key(item, "GetVariables")
        if key is not None:
            keys.setdefault(key.lower(), key)
    # None to ask about: nothing sent (GetConfiguration without keys would ask for all of them).
    return [{"key": list(keys.values())}] if keys else []


def _not_sent(item: Payload, status: str) -> Payload:
    return {
        "attributeType": item.get("attributeType", "Actual"),
        "attributeStatus": status,
        "component": item["component"],
        "variable": item["variable"],
    }


def _get_variables_response(p: Payload, answers: list[Payload]) -> Payload:
    # The answers of every GetConfiguration sent, joined; 1.6 keys are case-insensitive.
    known = {k["key"].lower(): k for a in answers for k in a.get("configurationKey", [])}
    unknown = {k.lower() for a in answers for k in a.get("unknownKey", [])}
    results = []
    for item in p["getVariableData"]:
        key, status = _key(item, "GetVariables")
        if key is None:
            results.append(_not_sent(item, status))
            continue
        name = key.lower()
        result: Payload = {
            "attributeType": "Actual",
            "component": item["component"],
            "variable": item["variable"],
        }
        if name in known:
            result["attributeStatus"] = "Accepted"
            if "value" in known[name] and name not in SECRET_KEYS_16:
                result["attributeValue"] = known[name]["value"]
        elif name in unknown:
            result["attributeStatus"] = "UnknownVariable"
        else:  # the station's answer leaves it out: it told nothing about it
            result["attributeStatus"] = "Rejected"
            result["attributeStatusInfo"] = {
                "reasonCode": "NoAnswer",
                "additionalInfo": "the OCPP 1.6 station's GetConfiguration answer left it out",
            }
        results.append(result)
    return {"getVariableResult": results}


def _change_configuration_requests(p: Payload) -> list[Payload]:
    requests = []
    for item in p["setVariableData"]:
        key, _ = _key(item, "SetVariables")
        if key is not None:
            requests.append({"key": key, "value": item["attributeValue"]})
    return requests


#: 1.6 ConfigurationStatus → 2.0.1 SetVariableStatusEnumType: NotSupported (the key is not
#: supported) is 2.0.1's UnknownVariable, its statusInfo saying NotSupported.
CONFIGURATION_STATUS_16: Final[Mapping[str, str]] = {
    "Accepted": "Accepted",
    "Rejected": "Rejected",
    "RebootRequired": "RebootRequired",
    "NotSupported": "UnknownVariable",
}


def _set_variables_response(p: Payload, answers: list[Payload]) -> Payload:
    answered = iter(answers)  # one ChangeConfiguration per key sent, in order
    results = []
    for item in p["setVariableData"]:
        key, unsent = _key(item, "SetVariables")
        if key is None:
            results.append(_not_sent(item, unsent))
            continue
        answer = next(answered)
        status = _with_reason(CONFIGURATION_STATUS_16[answer["status"]], answer["status"])
        result: Payload = {
            "attributeType": "Actual",
            "attributeStatus": status["status"],
            "component": item["component"],
            "variable": item["variable"],
        }
        if "statusInfo" in status:
            result["attributeStatusInfo"] = status["statusInfo"]
        results.append(result)
    return {"setVariableResult": results}


def _base_report_requests(p: Payload) -> list[Payload]:
    if p["reportBase"] == "SummaryInventory":
        raise Untranslatable(
            "GetBaseReport: OCPP 1.6 has no summary inventory (ask for ConfigurationInventory "
            "or FullInventory: every configuration key)"
        )
    return [{}]  # no key: every key the station has


def _base_report_response(p: Payload, answers: list[Payload]) -> Payload:
    return {"status": "Accepted" if answers[0].get("configurationKey") else "EmptyResultSet"}


def _base_report_notify(p: Payload, answers: list[Payload], now: str) -> list[tuple[str, Payload]]:
    """The NotifyReport a 2.0.1 station would send after GetBaseReport, of the keys the 1.6
    station answered: one variable of :data:`CONFIGURATION_COMPONENT` per key, readonly →
    mutability ReadOnly, else ReadWrite."""
    data = []
    for key in answers[0].get("configurationKey", []):
        attribute: Payload = {
            "type": "Actual",
            "mutability": "ReadOnly" if key["readonly"] else "ReadWrite",
        }
        if "value" in key and key["key"].lower() not in SECRET_KEYS_16:
            attribute["value"] = key["value"]
        data.append(
            {
                "component": {"name": CONFIGURATION_COMPONENT},
                "variable": {"name": key["key"]},
                "variableAttribute": [attribute],
                "variableCharacteristics": {"dataType": "string", "supportsMonitoring": False},
            }
        )
    if not data:
        return []
    report = {"requestId": p["requestId"], "generatedAt": now, "seqNo": 0, "tbc": False}
    return [("NotifyReport", {**report, "reportData": data})]


def _set_profile_request(p: Payload) -> Payload:
    return {
        "connectorId": p["evseId"],
        "csChargingProfiles": charging_profile_16(p["chargingProfile"]),
    }


def _set_profile_response(r: Payload) -> Payload:
    # 1.6's NotSupported (no smart charging on this station) has no 2.0.1 value.
    return _with_reason("Rejected" if r["status"] == "NotSupported" else r["status"], r["status"])


def _clear_profile_request(p: Payload) -> Payload:
    out: Payload = {}
    if "chargingProfileId" in p:
        out["id"] = p["chargingProfileId"]
    criteria = p.get("chargingProfileCriteria", {})
    if "evseId" in criteria:
        out["connectorId"] = criteria["evseId"]
    if "chargingProfilePurpose" in criteria:
        purpose = PROFILE_PURPOSE_16.get(criteria["chargingProfilePurpose"])
        if purpose is None:
            raise Untranslatable(f"OCPP 1.6 has no {criteria['chargingProfilePurpose']} profiles")
        out["chargingProfilePurpose"] = purpose
    if "stackLevel" in criteria:
        out["stackLevel"] = criteria["stackLevel"]
    return out


def _composite_request(p: Payload) -> Payload:
    out: Payload = {"connectorId": p["evseId"], "duration": p["duration"]}
    if "chargingRateUnit" in p:
        out["chargingRateUnit"] = p["chargingRateUnit"]
    return out


def _composite_response(p: Payload, answers: list[Payload]) -> Payload:
    r = answers[0]
    out: Payload = {"status": r["status"]}
    schedule = r.get("chargingSchedule")
    start = r.get("scheduleStart") or (schedule or {}).get("startSchedule")
    if schedule is not None and start is not None:
        out["schedule"] = {
            "evseId": r.get("connectorId", p["evseId"]),
            "duration": schedule.get("duration", p["duration"]),
            "scheduleStart": start,
            "chargingRateUnit": schedule["chargingRateUnit"],
            "chargingSchedulePeriod": schedule["chargingSchedulePeriod"],
        }
    return out


def _reserve_request(p: Payload) -> Payload:
    if "connectorType" in p:
        raise Untranslatable("ReserveNow: OCPP 1.6 reserves a connector, not a connectorType")
    out: Payload = {
        "connectorId": p.get("evseId", 0),  # 0: any connector of the station
        "expiryDate": p["expiryDateTime"],
        "idTag": _id_tag(p["idToken"], "ReserveNow"),
        "reservationId": p["id"],
    }
    if "groupIdToken" in p:
        out["parentIdTag"] = _id_tag(p["groupIdToken"], "ReserveNow")
    return out


def _update_firmware_request(p: Payload) -> Payload:
    firmware = p["firmware"]
    if "installDateTime" in firmware:
        raise Untranslatable(
            "UpdateFirmware: OCPP 1.6 installs unsigned firmware once downloaded (leave "
            "installDateTime out, or send signed firmware: signature and signingCertificate)"
        )
    out: Payload = {"location": firmware["location"], "retrieveDate": firmware["retrieveDateTime"]}
    for key in ("retries", "retryInterval"):
        if key in p:
            out[key] = p[key]
    return out


def _accepted(r: Payload) -> Payload:
    """1.6's answer has no status: answering is accepting."""
    return {"status": "Accepted"}


def _get_log_request(p: Payload) -> Payload:
    log = p["log"]
    out: Payload = {"location": log["remoteLocation"]}
    for ours, theirs in (("oldestTimestamp", "startTime"), ("latestTimestamp", "stopTime")):
        if ours in log:
            out[theirs] = log[ours]
    for key in ("retries", "retryInterval"):
        if key in p:
            out[key] = p[key]
    return out


def _get_log_response(r: Payload) -> Payload:
    # No fileName: the station has no diagnostics to upload (1.6 says no more).
    if "fileName" not in r:
        return {
            "status": "Rejected",
            "statusInfo": {
                "reasonCode": "NoDiagnostics",
                "additionalInfo": "the OCPP 1.6 station answered no fileName: nothing to upload",
            },
        }
    return {"status": "Accepted", "filename": r["fileName"]}


def _same_command(action: str) -> Command:
    """A command whose 1.6 namesake has the same request and the same answer."""
    return Command(action, *_one(lambda p: p, lambda r: r))


#: The 2.0.1 commands a 1.6 station is sent, and how; any other is refused (FAILED_PRECONDITION).
COMMANDS: Final[Mapping[str, Command]] = {
    "Reset": Command("Reset", *_one(_reset, lambda r: r)),
    "UnlockConnector": Command("UnlockConnector", *_one(_unlock_request, _unlock_response)),
    "ChangeAvailability": Command("ChangeAvailability", *_one(_availability_request, _same)),
    "TriggerMessage": Command("TriggerMessage", *_one(_trigger_request, _same)),
    "RequestStartTransaction": Command(
        "RemoteStartTransaction", *_one(_remote_start_request, _same)
    ),
    "RequestStopTransaction": Command("RemoteStopTransaction", *_one(_remote_stop_request, _same)),
    "ClearCache": _same_command("ClearCache"),
    "DataTransfer": Command("DataTransfer", *_one(_data_transfer_request, _same)),
    "GetVariables": Command(
        "GetConfiguration", _get_configuration_requests, _get_variables_response
    ),
    "SetVariables": Command(
        "ChangeConfiguration", _change_configuration_requests, _set_variables_response
    ),
    "GetBaseReport": Command(
        "GetConfiguration", _base_report_requests, _base_report_response, _base_report_notify
    ),
    "GetLocalListVersion": Command("GetLocalListVersion", *_one(_same, _list_version_response)),
    "SendLocalList": Command("SendLocalList", *_one(_local_list_request, _local_list_response)),
    "CertificateSigned": Command("CertificateSigned", *_one(_certificate_signed_request, _same)),
    "SetChargingProfile": Command(
        "SetChargingProfile", *_one(_set_profile_request, _set_profile_response)
    ),
    "ClearChargingProfile": Command("ClearChargingProfile", *_one(_clear_profile_request, _same)),
    "GetCompositeSchedule": Command(
        "GetCompositeSchedule", lambda p: [_composite_request(p)], _composite_response
    ),
    "ReserveNow": Command("ReserveNow", *_one(_reserve_request, _same)),
    "CancelReservation": _same_command("CancelReservation"),
    "UpdateFirmware": Command("UpdateFirmware", *_one(_update_firmware_request, _accepted)),
    "GetLog": Command("GetDiagnostics", *_one(_get_log_request, _get_log_response)),
}


# -- the 1.6 security whitepaper's commands --------------------------------------------------------
# A station without them answers NotImplemented or NotSupported, which reaches the caller as such.

#: 2.0.1 certificate uses → the whitepaper's CertificateUseEnumType (a station holds no V2G or
#: MO roots in 1.6).
CERTIFICATE_USE_16: Final[Mapping[str, str]] = {
    "CSMSRootCertificate": "CentralSystemRootCertificate",
    "ManufacturerRootCertificate": "ManufacturerRootCertificate",
}


def _certificate_use(use: str, what: str) -> str:
    found = CERTIFICATE_USE_16.get(use)
    if found is None:
        raise Untranslatable(
            f"{what}: an OCPP 1.6 station holds {' and '.join(CERTIFICATE_USE_16)} only, not {use}"
        )
    return found


def _install_certificate_request(p: Payload) -> Payload:
    return {
        "certificateType": _certificate_use(p["certificateType"], "InstallCertificate"),
        "certificate": p["certificate"],
    }


def _installed_ids_request(p: Payload) -> Payload:
    uses = p.get("certificateType", [])
    if len(uses) != 1:
        raise Untranslatable(
            "GetInstalledCertificateIds: OCPP 1.6 asks for one certificateType at a time "
            f"({' or '.join(CERTIFICATE_USE_16)})"
        )
    return {"certificateType": _certificate_use(uses[0], "GetInstalledCertificateIds")}


def _installed_ids_response(p: Payload, answers: list[Payload]) -> Payload:
    answer = answers[0]
    out: Payload = {"status": answer["status"]}
    hashes = answer.get("certificateHashData", [])
    if hashes:
        use = p["certificateType"][0]
        out["certificateHashDataChain"] = [
            {"certificateType": use, "certificateHashData": h} for h in hashes
        ]
    return out


def _extended_trigger_request(p: Payload) -> Payload:
    out: Payload = {"requestedMessage": "SignChargePointCertificate"}
    evse = p.get("evse")
    if evse is not None and evse["id"] != 0:
        out["connectorId"] = _connector(evse["id"], evse.get("connectorId"), "TriggerMessage")
    return out


def _signed_update_request(p: Payload) -> Payload:
    firmware = p["firmware"]
    if "signature" not in firmware or "signingCertificate" not in firmware:
        raise Untranslatable(
            "UpdateFirmware: signed firmware to an OCPP 1.6 station (the whitepaper's "
            "SignedUpdateFirmware) needs both signature and signingCertificate"
        )
    return p


#: The 2.0.1 requests that go as one of the whitepaper's messages rather than the row of
#: :data:`COMMANDS`: a trigger of the station's certificate signing (ExtendedTriggerMessage), a
#: security log (its GetLog, the 2.0.1 shape), signed firmware (SignedUpdateFirmware).
WHITEPAPER: Final[Mapping[str, tuple[Callable[[Payload], bool], Command]]] = {
    "TriggerMessage": (
        lambda p: p["requestedMessage"] == "SignChargingStationCertificate",
        Command("ExtendedTriggerMessage", *_one(_extended_trigger_request, _same)),
    ),
    "GetLog": (
        lambda p: p["logType"] == "SecurityLog",
        Command("GetLog", *_one(_same, _same)),
    ),
    "UpdateFirmware": (
        lambda p: "signature" in p["firmware"] or "signingCertificate" in p["firmware"],
        Command("SignedUpdateFirmware", *_one(_signed_update_request, _same)),
    ),
}

#: The whitepaper's commands that have no plain 1.6 counterpart.
WHITEPAPER_COMMANDS: Final[Mapping[str, Command]] = {
    "InstallCertificate": Command("InstallCertificate", *_one(_install_certificate_request, _same)),
    "GetInstalledCertificateIds": Command(
        "GetInstalledCertificateIds",
        lambda p: [_installed_ids_request(p)],
        _installed_ids_response,
    ),
    "DeleteCertificate": _same_command("DeleteCertificate"),
}


def command(action: str, payload: Payload) -> Command:
    """The :class:`Command` that sends the 2.0.1 ``payload`` of ``action`` to a 1.6 station.

    Raises KeyError when the action has no 1.6 counterpart.
    """
    whitepaper = WHITEPAPER.get(action)
    if whitepaper is not None and whitepaper[0](payload):
        return whitepaper[1]
    found = COMMANDS.get(action) or WHITEPAPER_COMMANDS.get(action)
    if found is None:
        raise KeyError(action)
    return found
