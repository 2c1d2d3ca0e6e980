"""Tests for transaction_svc.servicer: OCPP TransactionEventRequest ⇄ domain ⇄ Transaction."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from common.errors import InvalidArgument
from common.ocpp_json import to_proto
from csms.ocpp.v201 import messages_pb2 as ocpp
from transaction_svc.domain import Event
from transaction_svc.models import (
    EventConflictRow,
    ImplausibleReadingRow,
    Transaction,
    TransactionEventRow,
)
from transaction_svc.servicer import event_of, transaction_to_proto

T0 = datetime.datetime(2026, 1, 1, 10, 0, tzinfo=datetime.UTC)
BASE = {
    "eventType": "Updated",
    "timestamp": "2026-01-01T10:00:00Z",
    "triggerReason": "MeterValuePeriodic",
    "seqNo": 4,
    "transactionInfo": {"transactionId": "tx-1"},
}
METER = [{"timestamp": "2026-01-01T10:00:00Z", "sampledValue": [{"value": 1.5}]}]


def request(**extra: Any) -> ocpp.TransactionEventRequest:
    return to_proto(ocpp.TransactionEventRequest, {**BASE, **extra})  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {},
            Event(
                seq_no=4,
                event_type="Updated",
                timestamp=T0,
                trigger_reason="MeterValuePeriodic",
                meter_values=[],
            ),
        ),
        (
            {
                "offline": True,
                "meterValue": METER,
                "evse": {"id": 2},
                "idToken": {"idToken": "AB", "type": "eMAID"},
                "transactionInfo": {
                    "transactionId": "tx-1",
                    "chargingState": "SuspendedEVSE",
                    "stoppedReason": "Remote",
                    "remoteStartId": 0,
                },
            },
            Event(
                seq_no=4,
                event_type="Updated",
                timestamp=T0,
                trigger_reason="MeterValuePeriodic",
                offline=True,
                meter_values=METER,
                evse_id=2,
                id_token="AB",
                id_token_type="eMAID",
                charging_state="SuspendedEVSE",
                stopped_reason="Remote",
                remote_start_id=0,
            ),
        ),
        ({"evse": {"id": 1, "connectorId": 0}}, None),
    ],
)
def test_event_of(extra: dict[str, Any], expected: Event | None) -> None:
    """Every field the domain needs is taken over in its OCPP spelling; 0 stays 0, not None."""
    event = event_of(request(**extra))
    if expected is None:
        assert (event.evse_id, event.connector_id) == (1, 0)
    else:
        assert event == expected


@pytest.mark.parametrize("missing", ["event_type", "trigger_reason", "seq_no", "timestamp"])
def test_event_of_requires_fields(missing: str) -> None:
    """An event without a required field is the caller's error."""
    req = request()
    req.ClearField(missing)
    with pytest.raises(InvalidArgument):
        event_of(req)


def test_transaction_to_proto() -> None:
    """A stored transaction comes back with enums as numbers, energy and its events."""
    row = Transaction(
        station_id="CS1",
        id="tx-1",
        active=False,
        evse_id=1,
        connector_id=None,
        id_token="AB",
        id_token_type="ISO14443",
        charging_state="EVConnected",
        stopped_reason="",
        remote_start_id=None,
        started_at=T0,
        ended_at=None,
        energy_first_wh=1000.0,
        energy_last_wh=1500.0,
        updated_at=T0,
    )
    event = TransactionEventRow(
        seq_no=3,
        event_type="Ended",
        trigger_reason="StopAuthorized",
        timestamp=T0,
        offline=True,
        meter_values=METER,
    )
    msg = transaction_to_proto(row, [event])
    assert (msg.id, msg.station_id, msg.evse_id, msg.connector_id) == ("tx-1", "CS1", 1, 0)
    assert msg.id_token_type == ocpp.ID_TOKEN_ISO14443
    assert msg.charging_state == ocpp.CHARGING_STATE_EV_CONNECTED
    assert msg.stopped_reason == ocpp.REASON_UNSPECIFIED and not msg.HasField("remote_start_id")
    assert msg.energy_wh == 500.0 and not msg.HasField("ended_at")
    [ev] = msg.events
    assert ev.event_type == ocpp.TRANSACTION_EVENT_ENDED and ev.offline
    assert ev.meter_values[0].sampled_value[0].value == 1.5


def test_transaction_to_proto_with_conflicts_and_implausible_readings() -> None:
    """GetTransaction shows the conflicting events and the readings left out of the energy."""
    row = Transaction(station_id="CS1", id="tx-1", active=True, updated_at=T0)
    conflict = EventConflictRow(
        seq_no=2,
        event_type="Ended",
        trigger_reason="StopAuthorized",
        timestamp=T0,
        offline=False,
        meter_values=[],
    )
    reading = ImplausibleReadingRow(seq_no=3, at=T0, wh=10.0, reason="backwards")
    msg = transaction_to_proto(row, [], [conflict], [reading])
    [c] = msg.conflicts
    assert (c.seq_no, c.event_type) == (2, ocpp.TRANSACTION_EVENT_ENDED)
    [r] = msg.implausible_readings
    assert (r.seq_no, r.wh, r.reason) == (3, 10.0, "backwards")
    assert r.timestamp.ToJsonString() == "2026-01-01T10:00:00Z"
