"""OCPP 1.6J ⇄ the OCPP 2.0.1 messages the services speak: the one translation layer, sans I/O.

A station that negotiated ``ocpp1.6`` is served by the same action → RPC table
(:mod:`gateway.routes`) as a 2.0.1 one. Its CALL is checked against the 1.6 JSON schema
(:func:`gateway.ocppj.validate` with ``"ocpp1.6"``), turned by its :class:`Translation` into the
2.0.1 payload of the row that serves it, and from then on handled as a 2.0.1 CALL (schema, proto,
RPC). The 2.0.1 frame that answers it is turned back by :func:`answer`: a CALLRESULT's payload
into the 1.6 response (checked against the 1.6 response schema), a CALLERROR's code into 1.6's
spelling (:func:`gateway.ocppj.spelled`). Nothing here knows about sockets or gRPC; every table
is tested in ``tests/unit/gateway/test_ocpp16.py``.

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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from gateway import ocppj

__all__ = [
    "AUTHORIZATION_16",
    "CONNECTOR_STATUS_16",
    "PROTOCOL",
    "TRANSLATIONS",
    "Translation",
    "answer",
    "id_tag_info",
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
    "BootNotification": Translation("BootNotification", _boot_request, _boot_response),
    "Heartbeat": Translation("Heartbeat", _heartbeat_request, _same),
    "StatusNotification": Translation(
        "StatusNotification", _status_request, _same, extra=_status_extra
    ),
    "Authorize": Translation("Authorize", _authorize_request, _authorize_response),
}


def request(call: ocppj.Call, now: str) -> tuple[ocppj.Call, Payload]:
    """The 2.0.1 CALL that serves a 1.6 ``call`` already checked against its 1.6 schema, and
    the wrapper's extra fields (``{}`` when none). ``now``: the gateway's time (UTC, at most 3
    fractional digits), for what 2.0.1 requires and 1.6 may leave out.

    Raises KeyError when the action has no translation (the gateway answers NotSupported).
    """
    translation = TRANSLATIONS[call.action]
    translated = ocppj.Call(
        call.message_id, translation.action, translation.request(call.payload, now)
    )
    extra = translation.extra(call.payload) if translation.extra is not None else {}
    return translated, extra


def answer(action: str, frame: str) -> str:
    """The 1.6 frame answering the 1.6 CALL of ``action``, from the 2.0.1 ``frame`` the gateway
    made for its translation (a CALLRESULT or a CALLERROR, both well-formed: the gateway's own).

    A translated response that breaks the 1.6 response schema is the CSMS's bug: InternalError,
    not a frame the station would refuse.
    """
    message = orjson.loads(frame)
    message_id: str = message[1]
    if message[0] == ocppj.MessageType.CALL_ERROR:
        _, _, code, description, details = message
        return ocppj.call_error(message_id, ocppj.spelled(code, PROTOCOL), description, details)
    payload = TRANSLATIONS[action].response(message[2])
    try:
        ocppj.validate(action, "Response", payload, message_id, PROTOCOL)
    except ocppj.OcppError as exc:
        return ocppj.call_error(
            message_id,
            ocppj.Code.INTERNAL_ERROR,
            f"the CSMS's {action} answer breaks the OCPP 1.6 schema: {exc.description}",
        )
    return ocppj.call_result(message_id, payload)
