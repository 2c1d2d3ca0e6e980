"""Part 6, functional block I (Tariff and cost), CSMS test cases.

Steps and tool validations from the public reimplementation tzi-OCTT
(``2.0.1/I/test_tc_i_01_csms.py``, ``test_tc_i_02_csms.py``; the official Part 6 text was not
found). "Memory State: CSMS is configured with a tariff" is a tariff of the test's station,
created over REST (energy only: 0.25 EUR/kWh, no VAT, so that the expected cost is plain).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.e2e.octt.states import (
    authorized,
    booted,
    energy_transfer_started,
    ev_connected_post_session,
    ev_connected_pre_session,
)
from tests.e2e.octt.station import OcttStation
from tests.e2e.station_sim import now

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]


@pytest.fixture
async def tariff(rest: httpx.AsyncClient, cs: OcttStation) -> AsyncIterator[JSON]:
    body = {
        "id": f"octt-{uuid.uuid4().hex[:8]}",
        "currency": "EUR",
        "pricePerKwh": "0.25",
        "stationIds": [cs.sim.station_id],
        "costUpdateInterval": 0,
    }
    resp = await rest.post("/v1/tariffs", json=body)
    assert resp.status_code == 200, resp.text
    yield dict(resp.json())
    await rest.delete(f"/v1/tariffs/{body['id']}")


async def test_tc_i_01_running_cost_with_cost_updated(cs: OcttStation, tariff: JSON) -> None:
    """TC_I_01_CSMS Show EV Driver running total cost during charging - costUpdatedRequest (I02,
    I02.FR.01: a CostUpdatedRequest at a relevant moment, or the running cost in the
    TransactionEventResponse). Main: Authorized; EVConnectedPreSession; EnergyTransferStarted
    (part 2); twice: 7. TransactionEventRequest (MeterValuePeriodic, Updated, Sample.Periodic),
    8. its response, 9. with no totalCost in it the CSMS sends CostUpdatedRequest (tool
    validation: transactionId of the transaction), 10. the station answers. Beyond the case: the
    totalCost is the running cost (0.25 per kWh delivered so far)."""
    received: list[JSON] = []
    cs.sim.answer("CostUpdated", lambda request: received.append(request) or {})
    await booted(cs)
    await authorized(cs)
    await ev_connected_pre_session(cs)
    await energy_transfer_started(cs)
    for i in (1, 2):
        step = f"Main steps 7-10 (iteration {i})"
        cs.register_wh += 2000
        payload = {
            "eventType": "Updated",
            "timestamp": now(),
            "triggerReason": "MeterValuePeriodic",
            "seqNo": cs.seq_no,
            "transactionInfo": {"transactionId": cs.transaction_id},
            "meterValue": [cs.meter_value("Sample.Periodic")],
        }
        cs.seq_no += 1
        answer = await cs.send(step, "TransactionEvent", payload)
        cs.verdicts.expect(
            step,
            "no totalCost in the response",
            answer is not None and "totalCost" not in answer,
            answer,
        )
        for _ in range(50):  # Sent after the answer, in the background.
            if len(received) >= i:
                break
            await asyncio.sleep(0.1)
        ok = cs.verdicts.expect(
            step, "the CSMS sends a CostUpdatedRequest", len(received) >= i, received
        )
        if ok:
            cost = received[i - 1]
            cs.verdicts.equal(
                f"{step} tool validation",
                "transactionId",
                cost.get("transactionId"),
                cs.transaction_id,
            )
            delivered = Decimal(cs.register_wh - cs.begin_wh) / 1000
            cs.verdicts.equal(
                step,
                "totalCost (running)",
                Decimal(str(cost.get("totalCost"))),
                delivered * Decimal("0.25"),
            )
    cs.assert_passed()


async def test_tc_i_02_final_total_cost_after_charging(cs: OcttStation, tariff: JSON) -> None:
    """TC_I_02_CSMS Show EV Driver Final Total Cost After Charging (I03, I03.FR.02). Before: a
    tariff on energy. Main: 1. EVConnectedPreSession with Transaction.Begin 1000 Wh, 2.
    Authorized, 3. EnergyTransferStarted, 4. StopAuthorized, 5. EVConnectedPostSession, 6.
    connector Available (StatusNotification + NotifyEvent), 7. TransactionEventRequest Ended
    (EVCommunicationLost, Idle, EVDisconnected, Transaction.End 6000 Wh), 8. its response. Tool
    validation: totalCost is not omitted (here: 5 kWh x 0.25 = 1.25)."""
    await booted(cs)
    cs.register_wh = 1000
    await ev_connected_pre_session(cs)
    await authorized(cs)
    await energy_transfer_started(cs)
    await ev_connected_post_session(cs)
    await cs.notify_connector("Main step 6", "Available", cs.evse_id, cs.connector_id)
    cs.energy_flowing = False
    cs.register_wh = 6000
    answer = await cs.transaction_event(
        "Main steps 7-8",
        "Ended",
        "EVCommunicationLost",
        charging_state="Idle",
        stopped_reason="EVDisconnected",
    )
    got = (answer or {}).get("totalCost")
    cs.verdicts.expect(
        "Main step 8 tool validation", "totalCost is not omitted", got is not None, answer
    )
    cs.verdicts.equal("Main step 8", "totalCost", got, 1.25)
    cs.assert_passed()
