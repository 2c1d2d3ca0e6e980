"""The reusable states themselves, end to end: every CSMS-side state of Part 6 on the mesh.

The test cases (test_b_*, test_e_*, test_j_*) run Booted, Authorized, EVConnectedPreSession and
EnergyTransferStarted; these run the rest: a whole charging session through every state to its
end, and Unavailable (started by the operator through REST). The OCTT's configured idToken, as
the operator enters it in the CSMS, is checked here too.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.octt.rest_checks import ID_TOKEN_TYPE, check_connectors, check_transaction
from tests.e2e.octt.states import booted, energy_transfer_suspended, ev_disconnected, unavailable
from tests.e2e.octt.station import OcttStation

pytestmark = pytest.mark.e2e


async def test_configured_id_token_in_ocpp_words(rest: httpx.AsyncClient) -> None:
    """<Configured valid_idtoken_idtoken>: the operator registers the token as OCPP writes an
    IdToken (``POST /v1/idTokens`` with ``{"idToken", "type": "ISO14443", "status":
    "Accepted"}``), and reads it back in those words."""
    token = f"OCTT-WORDS-{uuid.uuid4().hex[:8].upper()}"
    body = {"idToken": token, "type": ID_TOKEN_TYPE, "status": "Accepted"}
    created = await rest.post("/v1/idTokens", json=body)
    assert created.status_code == 200, created.text
    assert {k: created.json().get(k) for k in body} == body
    got = (await rest.get(f"/v1/idTokens/{token}")).json()
    assert {k: got.get(k) for k in body} == body


async def test_a_charging_session_through_every_reusable_state(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """Booted, then EnergyTransferSuspended, then EVDisconnected, each running its Before.

    EnergyTransferSuspended needs EnergyTransferStarted, which needs Authorized: the driver
    authorizes (Authorized step 2: AuthorizeResponse Accepted; step 4: the Started event's
    TransactionEventResponse Accepted), plugs in (EnergyTransferStarted part 1, steps 1-4),
    charges (steps 5-6), and the EV suspends (EnergyTransferSuspended steps 1-2).
    EVDisconnected needs EVConnectedPostSession, which needs StopAuthorized, which needs
    EnergyTransferStarted: charging resumes (part 2 only, steps 5-6), the driver stops
    (StopAuthorized step 2: TransactionEventResponse idTokenInfo.status Accepted), the power
    path opens (EVConnectedPostSession steps 1-2), the EV leaves (EVDisconnected steps 1-2:
    connector Available, StatusNotification and NotifyEvent answered; steps 3-4: Ended,
    EVCommunicationLost, Idle, EVDisconnected, answered).

    Then REST: the transaction ended: listed under state=ended and no longer active, Idle (the
    state the Ended event gives, never Charging after it), stoppedReason EVDisconnected, every
    event in seqNo order with its meter values, energyWh the Transaction.End reading minus the
    Transaction.Begin one; connector 1 of EVSE 1 Available again.
    """
    await booted(cs)
    await energy_transfer_suspended(cs)
    await ev_disconnected(cs)
    assert cs.history == [
        "Booted",
        "Authorized",
        "EnergyTransferStarted",
        "EnergyTransferSuspended",
        "EnergyTransferStarted",
        "StopAuthorized",
        "EVConnectedPostSession",
        "EVDisconnected",
    ]
    assert cs.register_wh - cs.begin_wh == 5000  # charged twice, WH_PER_STEP each

    await check_transaction(cs, rest, charging_state="Idle", stoppedReason="EVDisconnected")
    await check_connectors(cs, rest, {(1, 1): "Available", (2, 1): "Available"})
    cs.assert_passed()


async def test_unavailable(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """Booted, then Unavailable for EVSE 1.

    - Manual action: the operator asks the CSMS, through REST with the OCPP request as the body
      (``POST /v1/chargingStations/{id}:changeAvailability`` ``{"operationalStatus":
      "Inoperative", "evse": {"id": 1}}``).
    - Unavailable step 1, tool validations: the CSMS sends a ChangeAvailabilityRequest with
      operationalStatus Inoperative, evse.id 1, evse.connectorId omitted.
    - Unavailable steps 3-4: the CSMS responds to the StatusNotificationRequest (Unavailable)
      and the NotifyEventRequest (AvailabilityState "Unavailable") of connector 1 of EVSE 1.
    Then REST: the operator's answer is the station's own ChangeAvailabilityResponse
    (``{"status": "Accepted"}``), and connector 1 of EVSE 1 is Unavailable, EVSE 2's still
    Available.
    """
    await booted(cs)
    resp = await unavailable(cs, rest)

    step = "REST POST /v1/chargingStations/{id}:changeAvailability"
    if cs.verdicts.equal(step, "HTTP status", resp.status_code, 200):
        cs.verdicts.equal(step, "the answer", resp.json(), {"status": "Accepted"})
    await check_connectors(cs, rest, {(1, 1): "Unavailable", (2, 1): "Available"})
    cs.assert_passed()
