"""The reusable states of OCPP 2.0.1 Part 6 whose system under test is the CSMS.

Each state is a coroutine on an :class:`~tests.e2e.octt.station.OcttStation`: it first runs its
"Before" (the states it needs, only when the station is not there yet), then its steps, recording
the tool validations as verdicts of steps named ``"<State> step <n>"``; at the end the station is
in the state's post condition. So states compose as Part 6 composes them: ``ev_disconnected(cs)``
on a booted station runs Authorized, EnergyTransferStarted, StopAuthorized and
EVConnectedPostSession first.

Steps (the OCTT's side; "the CSMS responds" is checked by :meth:`OcttStation.send` on each):

- Booted: 1. BootNotificationRequest reason PowerUp. 2. BootNotificationResponse; tool validation:
  status Accepted. 3. The OCTT notifies the CSMS about the current state of all connectors
  (StatusNotificationRequest connectorStatus Available; NotifyEventRequest trigger Delta,
  actualValue "Available", component.name "Connector", variable.name "AvailabilityState").
  4. The CSMS responds accordingly.
- Authorized: 1. AuthorizeRequest with the configured idToken. 2. AuthorizeResponse; tool
  validation: idTokenInfo.status Accepted. 3. TransactionEventRequest triggerReason Authorized
  with the idToken; eventType Updated if the state is EVConnectedPreSession, else Started.
  4. TransactionEventResponse; tool validation: idTokenInfo.status Accepted.
- EVConnectedPreSession: 1. The OCTT notifies the CSMS about the status change of the connector
  (StatusNotificationRequest Occupied; NotifyEventRequest Delta, Occupied, Connector,
  AvailabilityState). 2. The CSMS responds accordingly. 3. TransactionEventRequest triggerReason
  CablePluggedIn, chargingState EVConnected, evse <configured evseId/connectorId>; eventType
  Updated if the state is Authorized, else Started. 4. TransactionEventResponse.
- EnergyTransferStarted: Before: Authorized unless authorized; part 1 unless the EV is
  connected: 1. connector Occupied (StatusNotification + NotifyEvent), 2. the CSMS responds,
  3. TransactionEventRequest triggerReason CablePluggedIn, chargingState EVConnected, evse,
  eventType Updated, 4. TransactionEventResponse. Part 2: 5. TransactionEventRequest triggerReason
  ChargingStateChanged, chargingState Charging, eventType Updated. 6. TransactionEventResponse.
- EnergyTransferSuspended: Before: EnergyTransferStarted. 1. TransactionEventRequest
  triggerReason ChargingStateChanged, chargingState SuspendedEV. 2. TransactionEventResponse.
- StopAuthorized: Before: EnergyTransferStarted. 1. TransactionEventRequest triggerReason
  StopAuthorized, eventType Updated (with the idToken presented to stop). 2.
  TransactionEventResponse; tool validation: idTokenInfo.status Accepted. (The OCTT first waits
  <Configured Transaction Duration>: configured 0 s here.)
- EVConnectedPostSession: Before: StopAuthorized. 1. TransactionEventRequest triggerReason
  ChargingStateChanged, chargingState EVConnected, eventType Updated. 2. TransactionEventResponse.
- EVDisconnected: Before: EVConnectedPostSession. 1. connector Available (StatusNotification +
  NotifyEvent). 2. The CSMS responds accordingly. 3. TransactionEventRequest triggerReason
  EVCommunicationLost, chargingState Idle, stoppedReason EVDisconnected, eventType Ended.
  4. TransactionEventResponse.
- Unavailable: Manual action: request the CSMS to change the availability of the EVSE to
  Inoperative (here: REST ``:changeAvailability``). 1. The CSMS sends a ChangeAvailabilityRequest;
  tool validation: operationalStatus Inoperative, evse <specified evseId>, connectorId omitted.
  2. The OCTT responds Accepted. 3. The OCTT notifies the CSMS about the state of the EVSE's
  connectors (StatusNotification Unavailable; NotifyEvent Delta, "Unavailable", Connector,
  AvailabilityState). 4. The CSMS responds accordingly.
"""

from __future__ import annotations

import httpx

from tests.e2e.octt.station import OcttStation

__all__ = [
    "authorized",
    "booted",
    "energy_transfer_started",
    "energy_transfer_suspended",
    "ev_connected_post_session",
    "ev_connected_pre_session",
    "ev_disconnected",
    "stop_authorized",
    "unavailable",
]


async def booted(cs: OcttStation) -> None:
    """Reusable State Booted (see the module docstring for its steps)."""
    answer = await cs.send(
        "Booted step 1",
        "BootNotification",
        {"reason": "PowerUp", "chargingStation": {"model": cs.model, "vendorName": cs.vendor_name}},
    )
    status = (answer or {}).get("status")
    # A station that is not Accepted may send nothing else (B01.FR.05): the run ends here.
    cs.verdicts.stop_unless(
        "Booted step 2",
        "BootNotificationResponse status is 'Accepted'",
        status == "Accepted",
        status,
    )
    for evse_id, connectors in cs.evses.items():
        for connector_id in connectors:
            await cs.notify_connector("Booted steps 3-4", "Available", evse_id, connector_id)
    cs.entered("Booted")


async def authorized(cs: OcttStation) -> None:
    """Reusable State Authorized."""
    answer = await cs.send("Authorized step 1", "Authorize", {"idToken": dict(cs.id_token)})
    cs.expect_accepted("Authorized step 2", "AuthorizeResponse", answer)
    event_type = "Updated" if cs.state == "EVConnectedPreSession" else "Started"
    answer = await cs.transaction_event(
        "Authorized step 3", event_type, "Authorized", id_token=True
    )
    cs.expect_accepted("Authorized step 4", "TransactionEventResponse", answer)
    cs.authorized = True
    cs.entered("Authorized")


async def ev_connected_pre_session(cs: OcttStation) -> None:
    """Reusable State EVConnectedPreSession (the CSMS's side: the OCTT plugs the EV in)."""
    await cs.notify_connector(
        "EVConnectedPreSession steps 1-2", "Occupied", cs.evse_id, cs.connector_id
    )
    event_type = "Updated" if cs.state == "Authorized" else "Started"
    await cs.transaction_event(
        "EVConnectedPreSession steps 3-4",
        event_type,
        "CablePluggedIn",
        charging_state="EVConnected",
        evse=True,
    )
    cs.ev_connected = True
    cs.entered("EVConnectedPreSession")


async def energy_transfer_started(cs: OcttStation) -> None:
    """Reusable State EnergyTransferStarted."""
    if not cs.authorized:
        await authorized(cs)
    if not cs.ev_connected:
        await cs.notify_connector(
            "EnergyTransferStarted steps 1-2", "Occupied", cs.evse_id, cs.connector_id
        )
        await cs.transaction_event(
            "EnergyTransferStarted steps 3-4",
            "Updated",
            "CablePluggedIn",
            charging_state="EVConnected",
            evse=True,
        )
        cs.ev_connected = True
    await cs.transaction_event(
        "EnergyTransferStarted steps 5-6",
        "Updated",
        "ChargingStateChanged",
        charging_state="Charging",
    )
    cs.entered("EnergyTransferStarted")


async def energy_transfer_suspended(cs: OcttStation) -> None:
    """Reusable State EnergyTransferSuspended (suspended by the EV)."""
    if cs.state != "EnergyTransferStarted":
        await energy_transfer_started(cs)
    await cs.transaction_event(
        "EnergyTransferSuspended steps 1-2",
        "Updated",
        "ChargingStateChanged",
        charging_state="SuspendedEV",
    )
    cs.entered("EnergyTransferSuspended")


async def stop_authorized(cs: OcttStation) -> None:
    """Reusable State StopAuthorized."""
    if cs.state != "EnergyTransferStarted":
        await energy_transfer_started(cs)
    answer = await cs.transaction_event(
        "StopAuthorized step 1", "Updated", "StopAuthorized", id_token=True
    )
    cs.expect_accepted("StopAuthorized step 2", "TransactionEventResponse", answer)
    cs.energy_flowing = False  # the station opens the power path once stopping is authorized
    cs.authorized = False
    cs.entered("StopAuthorized")


async def ev_connected_post_session(cs: OcttStation) -> None:
    """Reusable State EVConnectedPostSession."""
    if cs.state != "StopAuthorized":
        await stop_authorized(cs)
    await cs.transaction_event(
        "EVConnectedPostSession steps 1-2",
        "Updated",
        "ChargingStateChanged",
        charging_state="EVConnected",
    )
    cs.entered("EVConnectedPostSession")


async def ev_disconnected(cs: OcttStation) -> None:
    """Reusable State EVDisconnected: the transaction ends."""
    if cs.state != "EVConnectedPostSession":
        await ev_connected_post_session(cs)
    await cs.notify_connector("EVDisconnected steps 1-2", "Available", cs.evse_id, cs.connector_id)
    await cs.transaction_event(
        "EVDisconnected steps 3-4",
        "Ended",
        "EVCommunicationLost",
        charging_state="Idle",
        stopped_reason="EVDisconnected",
    )
    cs.ev_connected = False
    cs.entered("EVDisconnected")


async def unavailable(cs: OcttStation, rest: httpx.AsyncClient) -> httpx.Response:
    """Reusable State Unavailable for the configured EVSE; the management API's answer to the
    operator who asked for it (the manual action)."""
    before = len(cs.sim.calls("ChangeAvailability"))
    resp = await rest.post(
        f"/v1/chargingStations/{cs.sim.station_id}:changeAvailability",
        json={"operationalStatus": "Inoperative", "evse": {"id": cs.evse_id}},
    )
    # The answer comes back once the station answered: its request has arrived by now.
    sent = cs.sim.calls("ChangeAvailability")[before:]
    step = "Unavailable step 1"
    if cs.verdicts.expect(
        step, "the CSMS sends a ChangeAvailabilityRequest", bool(sent), resp.text
    ):
        request = sent[0].payload
        evse = request.get("evse") or {}
        cs.verdicts.equal(
            step, "operationalStatus", request.get("operationalStatus"), "Inoperative"
        )
        cs.verdicts.equal(step, "evse.id", evse.get("id"), cs.evse_id)
        cs.verdicts.expect(step, "evse.connectorId is omitted", "connectorId" not in evse, evse)
        # Step 2: the station answers Accepted (station_sim's default answer).
        for connector_id in cs.evses[cs.evse_id]:
            await cs.notify_connector(
                "Unavailable steps 3-4", "Unavailable", cs.evse_id, connector_id
            )
    cs.entered("Unavailable")
    return resp
