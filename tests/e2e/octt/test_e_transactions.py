"""Part 6, functional block E (Transactions), CSMS test cases TC_E_01 to TC_E_04.

Every case starts from a booted station (the OCTT boots its simulated station before anything
else; a station may send nothing before it is Accepted, B01.FR.05), so Booted's checks are part
of each run. After the case, what the CSMS shows over REST of the transaction is checked against
the station's own TransactionEvents (tests/e2e/octt/rest_checks.py): listed as active, its EVSE,
connector, idToken and type, chargingState Charging, every event (seqNo, eventType,
triggerReason) with its meter values, and the Started event's Transaction.Begin reading.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.octt.rest_checks import check_connectors, check_transaction
from tests.e2e.octt.states import (
    authorized,
    booted,
    energy_transfer_started,
    ev_connected_pre_session,
)
from tests.e2e.octt.station import OcttStation

pytestmark = pytest.mark.e2e


async def _authorize_and_plug_in(cs: OcttStation) -> None:
    """Steps 1-4 of TC_E_01 and TC_E_02: the driver authorizes, then plugs the EV in."""
    answer = await cs.send("step 1", "Authorize", {"idToken": dict(cs.id_token)})
    cs.expect_accepted("step 2", "AuthorizeResponse", answer)
    cs.authorized = True
    await cs.notify_connector("steps 3-4", "Occupied", cs.evse_id, cs.connector_id)
    cs.ev_connected = True


async def test_tc_e_01_start_transaction_options_power_path_closed(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_E_01_CSMS Start transaction options - PowerPathClosed (E01(S5), E01.FR.05).

    The station starts its transaction when the power path closes (TxStartPoint
    PowerPathClosed). Steps as public OCTT reimplementations give them (the only CSMS case here
    whose OCA text could not be read; for the CSMS the chargingState values are data):
    - step 1-2: AuthorizeRequest with the valid idToken; tool validation: AuthorizeResponse
      idTokenInfo.status Accepted.
    - steps 3-4: StatusNotificationRequest Occupied and NotifyEventRequest (Delta, Occupied,
      Connector, AvailabilityState); the CSMS responds to both.
    - steps 5-6: TransactionEventRequest eventType Started, triggerReason ChargingStateChanged,
      chargingState SuspendedEVSE, the idToken, evse 1 / connector 1; tool validation:
      TransactionEventResponse idTokenInfo.status Accepted.
    - steps 7-8: TransactionEventRequest eventType Updated, triggerReason ChargingStateChanged,
      chargingState Charging; the CSMS responds.
    Then REST (see the module docstring): the active transaction, Charging, evse 1 / 1, the
    token; connector 1 of EVSE 1 Occupied.
    """
    await booted(cs)
    await _authorize_and_plug_in(cs)
    answer = await cs.transaction_event(
        "steps 5-6",
        "Started",
        "ChargingStateChanged",
        charging_state="SuspendedEVSE",
        id_token=True,
        evse=True,
    )
    cs.expect_accepted("step 6", "TransactionEventResponse", answer)
    await cs.transaction_event(
        "steps 7-8", "Updated", "ChargingStateChanged", charging_state="Charging"
    )

    await check_transaction(cs, rest, charging_state="Charging")
    await check_connectors(cs, rest, {(1, 1): "Occupied", (2, 1): "Available"})
    cs.assert_passed()


async def test_tc_e_02_start_transaction_options_energy_transfer(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_E_02_CSMS Start transaction options - EnergyTransfer (E01(S6), E01.FR.06).

    The station starts its transaction when energy starts to flow (TxStartPoint
    EnergyTransfer). Main (Part 6):
    - step 1-2: AuthorizeRequest with the valid idToken; tool validation (step 2):
      AuthorizeResponse idTokenInfo.status Accepted.
    - steps 3-4: the OCTT notifies the CSMS about the status change of the connector
      (StatusNotificationRequest Occupied; NotifyEventRequest Delta, Occupied, Connector,
      AvailabilityState); the CSMS responds accordingly.
    - steps 5-6: TransactionEventRequest eventType Started, triggerReason ChargingStateChanged,
      the idToken, evse 1 / connector 1, chargingState Charging; tool validation (step 6):
      TransactionEventResponse idTokenInfo.status Accepted.
    Then REST: the active transaction, Charging, evse 1 / 1, the token.
    """
    await booted(cs)
    await _authorize_and_plug_in(cs)
    answer = await cs.transaction_event(
        "steps 5-6",
        "Started",
        "ChargingStateChanged",
        charging_state="Charging",
        id_token=True,
        evse=True,
    )
    cs.expect_accepted("step 6", "TransactionEventResponse", answer)

    await check_transaction(cs, rest, charging_state="Charging")
    cs.assert_passed()


async def test_tc_e_03_local_start_cable_plugin_first(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_E_03_CSMS Local start transaction - Cable plugin first - Success (E02, E02.FR.02).

    Before: State is EVConnectedPreSession (the EV is plugged in first: connector Occupied, then
    TransactionEventRequest Started, CablePluggedIn, EVConnected, evse; the CSMS responds to
    each). Main (Part 6):
    - 1. Execute Reusable State Authorized: Authorized step 2 (AuthorizeResponse
      idTokenInfo.status Accepted) and step 4 (the TransactionEventResponse to the Updated
      event with triggerReason Authorized: idTokenInfo.status Accepted).
    - 2. Execute Reusable State EnergyTransferStarted: the EV is connected, so only part 2
      (steps 5-6: Updated, ChargingStateChanged, Charging; the CSMS responds).
    Tool validations / post scenario validations: N/a.
    Then REST: the transaction started at plug-in (its Started event CablePluggedIn with the
    Transaction.Begin register, E02.FR.02), the idToken learnt from the Authorized event,
    Charging.
    """
    await booted(cs)
    await ev_connected_pre_session(cs)
    await authorized(cs)
    await energy_transfer_started(cs)
    assert cs.history == ["Booted", "EVConnectedPreSession", "Authorized", "EnergyTransferStarted"]

    await check_transaction(cs, rest, charging_state="Charging")
    cs.assert_passed()


async def test_tc_e_04_local_start_authorization_first(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_E_04_CSMS Local start transaction - Authorization first - Success (E03, E03.FR.02).

    Main (Part 6):
    - 1. Execute Reusable State Authorized: Authorized step 2 (AuthorizeResponse
      idTokenInfo.status Accepted) and step 4 (the TransactionEventResponse to the Started
      event with triggerReason Authorized and the idToken: idTokenInfo.status Accepted).
    - 2. Execute Reusable State EnergyTransferStarted: the EV is not connected yet, so part 1
      (steps 1-2: connector Occupied, StatusNotification and NotifyEvent answered; steps 3-4:
      Updated, CablePluggedIn, EVConnected, evse 1 / 1, answered) then part 2 (steps 5-6:
      Updated, ChargingStateChanged, Charging, answered).
    Tool validations / post scenario validations: N/a.
    Then REST: the transaction started at authorization with its idToken, its EVSE learnt from
    the later CablePluggedIn event, Charging; connector 1 of EVSE 1 Occupied.
    """
    await booted(cs)
    await authorized(cs)
    await energy_transfer_started(cs)
    assert cs.history == ["Booted", "Authorized", "EnergyTransferStarted"]

    await check_transaction(cs, rest, charging_state="Charging")
    await check_connectors(cs, rest, {(1, 1): "Occupied", (2, 1): "Available"})
    cs.assert_passed()
