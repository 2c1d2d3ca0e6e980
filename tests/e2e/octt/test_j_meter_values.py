"""Part 6, functional block J (MeterValues), CSMS test case TC_J_01."""

from __future__ import annotations

import datetime

import httpx
import pytest

from tests.e2e.octt.rest_checks import sampled_values
from tests.e2e.octt.states import booted
from tests.e2e.octt.station import OcttStation, find_dicts, wait_until_aligned

pytestmark = pytest.mark.e2e

#: <Configured clock-aligned Meter Values interval> (AlignedDataInterval), in seconds: the
#: shortest there is, since the OCTT sends a round every interval, in real time.
ALIGNED_INTERVAL = 1
#: "The OCTT will end the testcase after it has send three Meter Value messages."
ROUNDS = 3
#: The register of each meter: evseId 0 is the station's main meter. No transaction is ongoing,
#: so they do not move.
REGISTERS = {0: 250_000, 1: 12_000, 2: 31_500}


def _at(value: object) -> str | None:
    """A date-time as one spelling (REST may write the same instant otherwise than we sent it)."""
    if not isinstance(value, str):
        return None
    return datetime.datetime.fromisoformat(value).astimezone(datetime.UTC).isoformat()


async def test_tc_j_01_clock_aligned_meter_values_no_transaction(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_J_01_CSMS Clock-aligned Meter Values - No transaction ongoing (J01, J01.FR.18).

    Before: Reusable State(s) N/a (the station is booted first: Booted's checks). Main
    (Part 6), executed every interval, for evseId 0 and every configured EVSE (1 and 2), three
    times:
    - step 1: MeterValuesRequest whose timestamp is the clock-aligned instant and whose
      sampledValue.context is Sample.Clock (here the Energy.Active.Import.Register of that
      meter); NotifyEventRequest with the same timestamp, trigger Periodic, component.name
      FiscalMetering (variable EnergyImportRegister, the register's value).
    - step 2: the CSMS responds accordingly: a MeterValuesResponse and a NotifyEventResponse
      to each (J01.FR.18: the CSMS SHALL respond to a MeterValuesRequest).
    Tool validations / post scenario validations: N/a.
    Then REST: GET /v1/chargingStations/{id}/meterValues shows the nine readings, each under
    its evseId (0 included), at its timestamp, with context Sample.Clock, the measurand and
    the value; GET /v1/chargingStations/{id}/events holds the nine Periodic FiscalMetering
    events.
    """
    await booted(cs)
    sent: list[tuple[int, str | None, list[tuple[object, ...]]]] = []
    for round_no in range(1, ROUNDS + 1):
        at = await wait_until_aligned(ALIGNED_INTERVAL)
        for evse_id in (0, *cs.evses):
            step = f"round {round_no} evseId {evse_id} steps 1-2"
            meter_value = cs.meter_value("Sample.Clock", REGISTERS[evse_id], at)
            await cs.send(step, "MeterValues", {"evseId": evse_id, "meterValue": [meter_value]})
            component: dict[str, object] = {"name": "FiscalMetering"}
            if evse_id:
                component["evse"] = {"id": evse_id}
            await cs.notify_event(
                step,
                {
                    "timestamp": at,
                    "trigger": "Periodic",
                    "actualValue": str(REGISTERS[evse_id]),
                    "eventNotificationType": "PreconfiguredMonitor",
                    "component": component,
                    "variable": {"name": "EnergyImportRegister"},
                },
            )
            sent.append((evse_id, _at(at), sampled_values([meter_value])))

    step = "REST GET /v1/chargingStations/{id}/meterValues"
    got = await cs.verdicts.rest_get(
        rest, step, f"/v1/chargingStations/{cs.sim.station_id}/meterValues"
    )
    shown = [
        (entry.get("evseId"), _at(mv.get("timestamp")), sampled_values([mv]))
        for entry in got.get("meterValues", [])
        for mv in entry.get("meterValues", [])
    ]
    cs.verdicts.equal(
        step,
        "the readings' (evseId, timestamp)",
        sorted(((evse, at) for evse, at, _ in shown), key=repr),
        sorted(((evse, at) for evse, at, _ in sent), key=repr),
    )
    cs.verdicts.equal(
        step,
        "the readings' (context, measurand, value, unit)",
        sorted((v for _, _, values in shown for v in values), key=repr),
        sorted((v for _, _, values in sent for v in values), key=repr),
    )
    step = "REST GET /v1/chargingStations/{id}/events"
    events = await cs.verdicts.rest_get(
        rest, step, f"/v1/chargingStations/{cs.sim.station_id}/events"
    )
    periodic = find_dicts(events, {"trigger": "Periodic", "component": {"name": "FiscalMetering"}})
    cs.verdicts.equal(step, "the Periodic FiscalMetering events stored", len(periodic), len(sent))
    cs.assert_passed()
