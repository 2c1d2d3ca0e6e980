"""What a charging station may send in each registration state (OCPP 2.0.1 Part 2, B02, B03).

Until the CSMS has accepted a station's BootNotification, the station may send nothing but
BootNotifications, and, while Pending, the messages the CSMS asked for: those triggered by its
TriggerMessage, GetBaseReport or GetReport. The CSMS answers anything else with a CALLERROR
SecurityError (B02.FR.09, B03.FR.07). A station that never booted has not been accepted either.

The gateway only carries the state (what device_svc answered at the handshake and at each boot,
``registration`` in the services' ``*Call`` messages); each service applies this rule to the
actions it serves (transaction_svc TransactionEvent, user_svc Authorize). Pure code, no I/O.
"""

from __future__ import annotations

from common.errors import PermissionDenied
from csms.ocpp.v201 import messages_pb2 as ocpp

__all__ = ["check"]

_ACCEPTED = ocpp.REGISTRATION_STATUS_ACCEPTED
_PENDING = ocpp.REGISTRATION_STATUS_PENDING
# A TransactionEvent sent because TriggerMessage asked for it carries this triggerReason.
_TRIGGERED = ocpp.TRIGGER_REASON_TRIGGER


def check(registration: int | None, action: str, trigger_reason: int = 0) -> None:
    """PermissionDenied (SecurityError for the station) when a station in ``registration``
    (RegistrationStatusEnum; UNSPECIFIED: never booted; None: not told, nothing checked) may not
    send ``action``; ``trigger_reason``: a TransactionEvent's TriggerReasonEnum."""
    if registration is None or registration == _ACCEPTED:
        return
    if registration == _PENDING and action == "TransactionEvent" and trigger_reason == _TRIGGERED:
        return  # asked for by TriggerMessage: allowed while Pending (B02)
    if registration == _PENDING:
        state = "Pending"
    elif registration == ocpp.REGISTRATION_STATUS_REJECTED:
        state = "Rejected"
    else:
        state = "not booted"
    raise PermissionDenied(
        f"{action} not allowed: the charging station's registration is {state} "
        "(only BootNotification until Accepted, OCPP 2.0.1 B02/B03)"
    )
