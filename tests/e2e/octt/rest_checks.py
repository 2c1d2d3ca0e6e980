"""What the CSMS shows over REST after a scenario, checked against what its station sent.

Part 6 checks the CSMS's answers to the station; these checks add what a CSMS that took those
messages must then show its operator, in OCPP's words (issue 13: ``"chargingState":
"Charging"``, ``"type": "ISO14443"``, ``"context": "Transaction.Begin"``, 0 and false printed).
The expected values are derived from the frames the station sent, never typed twice. Every check
is a verdict of a step named ``"REST ..."``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from tests.e2e.octt.station import ENERGY, OcttStation

__all__ = [
    "ID_TOKEN_TYPE",
    "check_connectors",
    "check_transaction",
    "register_id_token",
    "sampled_values",
]

JSON = dict[str, Any]

#: An idToken as OCPP writes it (IdTokenType), and as POST /v1/idTokens takes it (issue 13).
ID_TOKEN_TYPE = "ISO14443"


async def register_id_token(rest: httpx.AsyncClient, token: str) -> httpx.Response:
    """Register ``token`` as Accepted through REST, in OCPP's words (as an operator copies them
    from the specification)."""
    return await rest.post(
        "/v1/idTokens", json={"idToken": token, "type": ID_TOKEN_TYPE, "status": "Accepted"}
    )


def sampled_values(meter_values: Any) -> list[tuple[Any, ...]]:
    """(context, measurand, value, unit) of every sampledValue of an OCPP meterValue list."""
    found = []
    for meter_value in meter_values if isinstance(meter_values, list) else []:
        for sampled in meter_value.get("sampledValue", []):
            value = sampled.get("value")
            found.append(
                (
                    sampled.get("context"),
                    sampled.get("measurand"),
                    float(value) if isinstance(value, int | float) else value,
                    (sampled.get("unitOfMeasure") or {}).get("unit"),
                )
            )
    return found


async def check_connectors(
    cs: OcttStation, rest: httpx.AsyncClient, expected: Mapping[tuple[int, int], str]
) -> JSON:
    """GET /v1/chargingStations/{id}: connected, and each (evseId, connectorId)'s status."""
    step = "REST station"
    got = await cs.verdicts.rest_get(rest, step, f"/v1/chargingStations/{cs.sim.station_id}")
    cs.verdicts.equal(step, "connected", got.get("connected"), True)
    statuses = {
        (evse.get("id"), connector.get("id")): connector.get("status")
        for evse in got.get("evses", [])
        for connector in evse.get("connectors", [])
    }
    for key, status in expected.items():
        cs.verdicts.equal(
            step, f"evse {key[0]} connector {key[1]} status", statuses.get(key), status
        )
    return got


async def check_transaction(
    cs: OcttStation, rest: httpx.AsyncClient, *, charging_state: str, **fields: Any
) -> JSON:
    """The station's (last) transaction as REST shows it: listed under its state, and every
    field and event what the station's TransactionEvents said, ``fields`` besides."""
    station = cs.sim.station_id
    tx_id = cs.transaction_id or cs.last_transaction_id
    active = cs.transaction_id is not None
    sent = [e for e in cs.sent_events if e["transactionInfo"]["transactionId"] == tx_id]

    state = "active" if active else "ended"
    step = f"REST GET /v1/transactions?state={state}"
    listed = await cs.verdicts.rest_get(
        rest, step, "/v1/transactions", {"stationId": station, "state": state}
    )
    ids = [t.get("id") for t in listed.get("transactions", [])]
    cs.verdicts.equal(step, f"the station's {state} transactions", ids, [tx_id])

    step = "REST GET /v1/transactions/{id}"
    got = await cs.verdicts.rest_get(
        rest, step, f"/v1/transactions/{tx_id}", {"stationId": station}
    )
    cs.verdicts.fields(
        step,
        got,
        {
            "id": tx_id,
            "stationId": station,
            "evseId": cs.evse_id,
            "connectorId": cs.connector_id,
            "idToken": cs.id_token["idToken"],
            "idTokenType": cs.id_token["type"],
            "chargingState": charging_state,
            "active": active,
            "energyWh": float(cs.register_wh - cs.begin_wh),
            **fields,
        },
    )
    events: list[JSON] = got.get("events") or []
    cs.verdicts.equal(
        step,
        "events (seqNo, eventType, triggerReason)",
        [(e.get("seqNo"), e.get("eventType"), e.get("triggerReason")) for e in events],
        [(e["seqNo"], e["eventType"], e["triggerReason"]) for e in sent],
    )
    for mine, theirs in zip(sent, events, strict=False):
        if "meterValue" in mine:
            cs.verdicts.equal(
                step,
                f"meter values of event {mine['seqNo']} ({mine['eventType']})",
                sampled_values(theirs.get("meterValues")),
                sampled_values(mine["meterValue"]),
            )
    # E02.FR.02: the Started event carries the TxStartedMeasurands (the energy register).
    started = [e for e in events if e.get("eventType") == "Started"]
    cs.verdicts.expect(
        step,
        f"the Started event shows a Transaction.Begin {ENERGY} reading",
        any(
            v[:2] == ("Transaction.Begin", ENERGY)
            for e in started
            for v in sampled_values(e.get("meterValues"))
        ),
        started,
    )
    return got
