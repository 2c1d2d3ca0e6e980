"""Part 6, functional block B (Provisioning), CSMS test cases."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.octt.rest_checks import check_connectors
from tests.e2e.octt.states import booted
from tests.e2e.octt.station import OcttStation, find_dicts

pytestmark = pytest.mark.e2e


async def test_tc_b_01_cold_boot_accepted(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_B_01_CSMS Cold Boot Charging Station - Accepted (B01, B01.FR.02).

    Main: 1. Execute Reusable State Booted, whose checks are:
    - Booted step 1-2: the CSMS answers the BootNotificationRequest (reason PowerUp) with a
      BootNotificationResponse, and (Booted's tool validation) its status is Accepted.
    - Booted steps 3-4: it answers the StatusNotificationRequest (Available) and the
      NotifyEventRequest (Delta, Connector, AvailabilityState, "Available") of every connector of
      the station (EVSE 1 and EVSE 2, connector 1 each) with their responses.
    Tool validations and post scenario validations of TC_B_01: N/a.

    What the CSMS then shows (REST; B01.FR.02: it accepted the station and what it reported):
    the station connected, bootReason "PowerUp", every connector "Available"; and the stored
    NotifyEvents: GET /v1/chargingStations/{id}/events holds each connector's AvailabilityState
    event.
    """
    await booted(cs)

    got = await check_connectors(cs, rest, {(1, 1): "Available", (2, 1): "Available"})
    cs.verdicts.equal("REST station", "bootReason", got.get("bootReason"), "PowerUp")
    step = "REST GET /v1/chargingStations/{id}/events"
    events = await cs.verdicts.rest_get(
        rest, step, f"/v1/chargingStations/{cs.sim.station_id}/events"
    )
    for evse_id, connectors in cs.evses.items():
        for connector_id in connectors:
            wanted = {
                "trigger": "Delta",
                "actualValue": "Available",
                "component": {
                    "name": "Connector",
                    "evse": {"id": evse_id, "connectorId": connector_id},
                },
                "variable": {"name": "AvailabilityState"},
            }
            cs.verdicts.expect(
                step,
                f"the AvailabilityState event of EVSE {evse_id} connector {connector_id} is stored",
                bool(find_dicts(events, wanted)),
                events,
            )
    cs.assert_passed()
