"""Tests for common.registration: what a station may send in each registration state."""

from __future__ import annotations

import pytest

from common import registration
from common.errors import PermissionDenied
from csms.ocpp.v201 import messages_pb2 as ocpp

ACCEPTED = ocpp.REGISTRATION_STATUS_ACCEPTED
PENDING = ocpp.REGISTRATION_STATUS_PENDING
REJECTED = ocpp.REGISTRATION_STATUS_REJECTED
NOT_BOOTED = ocpp.REGISTRATION_STATUS_UNSPECIFIED
TRIGGER = ocpp.TRIGGER_REASON_TRIGGER
PERIODIC = ocpp.TRIGGER_REASON_METER_VALUE_PERIODIC


@pytest.mark.parametrize(
    ("state", "action", "trigger", "allowed"),
    [
        (None, "TransactionEvent", PERIODIC, True),  # not told: nothing checked
        (None, "Authorize", 0, True),
        (ACCEPTED, "TransactionEvent", PERIODIC, True),
        (ACCEPTED, "Authorize", 0, True),
        (PENDING, "TransactionEvent", PERIODIC, False),
        (PENDING, "TransactionEvent", TRIGGER, True),  # asked for by TriggerMessage (B02)
        (PENDING, "Authorize", 0, False),
        (REJECTED, "TransactionEvent", PERIODIC, False),
        (REJECTED, "TransactionEvent", TRIGGER, False),  # nothing while Rejected (B03)
        (REJECTED, "Authorize", 0, False),
        (NOT_BOOTED, "TransactionEvent", TRIGGER, False),
        (NOT_BOOTED, "Authorize", 0, False),
    ],
)
def test_check(state: int | None, action: str, trigger: int, allowed: bool) -> None:
    """Only an Accepted station transacts; a Pending one only what TriggerMessage asked for."""
    if allowed:
        registration.check(state, action, trigger)
    else:
        with pytest.raises(PermissionDenied, match=action):
            registration.check(state, action, trigger)
