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
    "CONNECTOR_STATUS_16",
    "PROTOCOL",
    "START_SEQ_NO",
    "STOP_REASONS_16",
    "STOP_SEQ_NO",
    "TRANSLATIONS",
    "Translation",
    "UNKEPT_MEASURANDS_16",
    "answer",
    "assignment",
    "id_tag_info",
    "meter_seq_no",
    "meter_values",
    "request",
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
#   reservationId kept. Answer: the idTokenInfo as idTagInfo (always there: the idTag is always
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
        "transactionInfo": {"transactionId": _transaction_id(p["transactionId"])},
        "idToken": {"idToken": p["idTag"], "type": _ID_TAG_TYPE},
        "evse": {"id": p["connectorId"], "connectorId": 1},
        "meterValue": [_register(p["timestamp"], p["meterStart"], "Transaction.Begin")],
    }
    if "reservationId" in p:
        event["reservationId"] = p["reservationId"]
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


def _status_extra(p: Payload) -> Payload:
    status = {"status": p["status"], "errorCode": p["errorCode"]}
    for key in ("info", "vendorId", "vendorErrorCode"):
        if key in p:
            status[key] = p[key]
    return {"ocpp16": status}


#: The 1.6 actions a station may send that the CSMS serves, and how.
TRANSLATIONS: Final[Mapping[str, Translation]] = {
    **_TRANSACTION_MESSAGES,  # the section "transactions"
    "BootNotification": Translation("BootNotification", _boot_request, _boot_response),
    "Heartbeat": Translation("Heartbeat", _heartbeat_request, _same),
    "StatusNotification": Translation(
        "StatusNotification", _status_request, _same, extra=_status_extra
    ),
    "Authorize": Translation("Authorize", _authorize_request, _authorize_response),
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
    call: ocppj.Call, now: str, transaction_id: int | None = None
) -> tuple[ocppj.Call, Payload]:
    """The 2.0.1 CALL that serves a 1.6 ``call`` already checked against its 1.6 schema, and
    the wrapper's extra fields (``{}`` when none). ``now``: the gateway's time (UTC, at most 3
    fractional digits), for what 2.0.1 requires and 1.6 may leave out. ``transaction_id``: the
    one the CSMS assigned (see :func:`assignment`).

    Raises KeyError when the action has no translation (the gateway answers NotSupported),
    :class:`ocppj.OcppError` (with the CALL's message id) for values the CSMS cannot take.
    """
    translation = TRANSLATIONS[call.action]
    payload = call.payload
    if transaction_id is not None:
        payload = {**payload, "transactionId": transaction_id}
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
