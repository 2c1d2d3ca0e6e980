"""Tariffs, cost and charge detail records end to end: REST through Envoy, a real WebSocket
station's transaction, its final cost in the Ended event's answer, the record in JSON and CSV.

Each test prices only its own station (a station tariff), so that the other tests' transactions
in the shared mesh stay unpriced."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.e2e.station_sim import Station, now

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]


@pytest.fixture
async def tariff(rest: httpx.AsyncClient, station_id: str) -> AsyncIterator[JSON]:
    body = {
        "id": f"t-{uuid.uuid4().hex[:8]}",
        "currency": "EUR",
        "pricePerKwh": "0.39",
        "sessionFee": "0.50",
        "vatPercent": "19",
        "stationIds": [station_id],
    }
    resp = await rest.post("/v1/tariffs", json=body)
    assert resp.status_code == 200, resp.text
    yield dict(resp.json())
    await rest.delete(f"/v1/tariffs/{body['id']}")


def event(kind: str, tx: str, seq: int, wh: float, **info: Any) -> JSON:
    return {
        "eventType": kind,
        "timestamp": now(),
        "triggerReason": {"Started": "CablePluggedIn", "Ended": "EVCommunicationLost"}.get(
            kind, "MeterValuePeriodic"
        ),
        "seqNo": seq,
        "transactionInfo": {"transactionId": tx, **info},
        "meterValue": [
            {
                "timestamp": now(),
                "sampledValue": [{"value": wh, "measurand": "Energy.Active.Import.Register"}],
            }
        ],
        **({"evse": {"id": 1, "connectorId": 1}} if kind == "Started" else {}),
    }


async def test_the_tariff_resource(rest: httpx.AsyncClient, tariff: JSON, station_id: str) -> None:
    """Create answers the tariff (prices as decimal strings, exactly as given); the same id is
    409; a bad price, currency or a second default is 400 naming the field; PATCH changes the
    named field; DELETE, then 404."""
    assert tariff["pricePerKwh"] == "0.39" and tariff["stationIds"] == [station_id]
    assert tariff["createTime"]
    again = await rest.post("/v1/tariffs", json={"id": tariff["id"], "currency": "EUR"})
    assert again.status_code == 409
    for bad, word in (
        ({"pricePerKwh": "0,39"}, "pricePerKwh"),
        ({"pricePerKwh": "-1"}, "pricePerKwh"),
        ({"currency": "euro"}, "currency"),
        ({"vatPercent": "150"}, "vatPercent"),
    ):
        body = {"id": f"bad-{uuid.uuid4().hex[:6]}", "currency": "EUR", **bad}
        resp = await rest.post("/v1/tariffs", json=body)
        assert resp.status_code == 400 and word in resp.text, (bad, resp.text)
    resp = await rest.patch(
        f"/v1/tariffs/{tariff['id']}",
        params={"update_mask": "pricePerKwh"},
        json={"pricePerKwh": "0.42"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["pricePerKwh"] == "0.42" and resp.json()["sessionFee"] == "0.50"
    got = await rest.get(f"/v1/tariffs/{tariff['id']}")
    assert got.json()["pricePerKwh"] == "0.42"
    listed = await rest.get("/v1/tariffs", params={"pageSize": 1000})
    assert tariff["id"] in [t["id"] for t in listed.json()["tariffs"]]
    assert (await rest.delete(f"/v1/tariffs/{tariff['id']}")).status_code == 200
    assert (await rest.get(f"/v1/tariffs/{tariff['id']}")).status_code == 404


async def test_a_transaction_s_final_cost_and_its_record(
    rest: httpx.AsyncClient, station: Station, station_id: str, tariff: JSON
) -> None:
    """12,345.6 Wh at 0.39 (4.814784) + 0.50, + 19 % VAT = 6.32459... -> 6.32: in the Ended event's
    answer (only there), the same again for a re-sent Ended, and in the record (JSON and CSV)."""
    tx = f"TX-{uuid.uuid4().hex[:10]}"
    answers = [
        await station.call(
            "TransactionEvent", event("Started", tx, 0, 1000.0, chargingState="Charging")
        ),
        await station.call("TransactionEvent", event("Updated", tx, 1, 7000.0)),
    ]
    assert all("totalCost" not in a for a in answers), answers
    ended = event("Ended", tx, 2, 13345.6, chargingState="Idle", stoppedReason="EVDisconnected")
    answer = await station.call("TransactionEvent", ended)
    assert answer["totalCost"] == 6.32, answer
    assert (await station.call("TransactionEvent", ended))["totalCost"] == 6.32
    resp = await rest.get("/v1/chargeDetailRecords", params={"stationId": station_id})
    assert resp.status_code == 200, resp.text
    [record] = resp.json()["chargeDetailRecords"]
    assert record["transactionId"] == tx and record["total"] == "6.32"
    assert record["energyWh"] == "12345.6" and record["tariffId"] == tariff["id"]
    assert [(line["kind"], line["amount"]) for line in record["lines"]] == [
        ("energy", "4.814784"),
        ("sessionFee", "0.50"),
    ]
    resp = await rest.get("/v1/chargeDetailRecords:csv", params={"stationId": station_id})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert [(r["transactionId"], r["total"], r["energyWh"]) for r in rows] == [
        (tx, "6.32", "12345.6")
    ]


async def test_the_driver_is_shown_the_tariff(
    rest: httpx.AsyncClient, station: Station, station_id: str
) -> None:
    """I01: the tariff's message (a token of no language gets the first one) in the answer to
    each event that carries the driver's idToken, as updatedPersonalMessage; not in the others;
    the tariff keeps its messages as given."""
    token = f"TAG-{uuid.uuid4().hex[:8].upper()}"
    resp = await rest.post("/v1/idTokens", json={"idToken": token, "type": "ISO14443"})
    assert resp.status_code == 200, resp.text
    messages = [
        {"format": "UTF8", "language": "en", "content": "0.39 EUR/kWh"},
        {"format": "UTF8", "language": "de", "content": "0,39 EUR/kWh"},
    ]
    body = {
        "id": f"t-{uuid.uuid4().hex[:8]}",
        "currency": "EUR",
        "pricePerKwh": "0.39",
        "stationIds": [station_id],
        "personalMessages": messages,
    }
    resp = await rest.post("/v1/tariffs", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["personalMessages"] == messages
    try:
        tx = f"TX-{uuid.uuid4().hex[:10]}"
        started = event("Started", tx, 0, 100.0)
        started["idToken"] = {"idToken": token, "type": "ISO14443"}
        answer = await station.call("TransactionEvent", started)
        assert answer["idTokenInfo"]["status"] == "Accepted"
        assert answer["updatedPersonalMessage"] == messages[0]
        answer = await station.call("TransactionEvent", event("Updated", tx, 1, 200.0))
        assert "updatedPersonalMessage" not in answer
    finally:
        await rest.delete(f"/v1/tariffs/{body['id']}")
