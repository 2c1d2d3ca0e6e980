"""Billing end to end inside transaction_svc: 500 simulated sessions through its real gRPC
TransactionEvent on a real database, every record checked against a recomputation here, to the
cent.

The sessions (seeded): 40 stations; meter registers starting anywhere up to 5 MWh; charging at
3.7 to 22 kW with random readings; some Started events sent offline (flagged, late); some events
repeated (a station's retry) and some sent after a later one (an offline backlog); some EVs
stop drawing (SuspendedEV) and idle past the grace period before they leave. Half-way through,
the default tariff's prices change: a session whose first event came before the change is
priced at the old tariff to its end (the documented rule), one that begins after at the new.
Sixteen sessions are delivered at once, each session's events in order.

The recomputation uses nothing of transaction_svc.tariffs: its own energy (last register
reading minus first, both as sent), its own charging and idle time from the chargingStates it
sent, the tariff in force at the session's first event, and exact decimals rounded half up to
the cent once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from google.protobuf import field_mask_pb2

from common.ocpp_json import to_proto
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as pb

SEED = 20261205
SESSIONS = 500
T0 = datetime.datetime.now(datetime.UTC).replace(microsecond=0) - datetime.timedelta(days=3)

OLD = {
    "pricePerKwh": "0.39",
    "pricePerHour": "0.60",
    "idlePricePerHour": "3.00",
    "sessionFee": "0.35",
}
NEW = {
    "pricePerKwh": "0.45",
    "pricePerHour": "0.00",
    "idlePricePerHour": "6.00",
    "sessionFee": "0.00",
}
GRACE = datetime.timedelta(minutes=10)
VAT = Decimal("19")


@dataclasses.dataclass
class Session:
    station_id: str
    tx_id: str
    events: list[dict[str, Any]]
    # What the recomputation needs, as generated.
    start: datetime.datetime
    end: datetime.datetime
    first_wh: Decimal
    last_wh: Decimal
    suspended_at: datetime.datetime | None


def _ts(at: datetime.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _session(rng: random.Random, i: int) -> Session:
    station_id = f"BILL-{i % 40:02d}"
    tx_id = f"T{i:04d}"
    start = T0 + datetime.timedelta(minutes=rng.randrange(0, 60 * 60))
    register = Decimal(rng.randrange(0, 5_000_000)) + Decimal(rng.randrange(0, 10)) / 10
    first = register
    kw = Decimal(rng.choice([3.7, 7.4, 11, 22])).quantize(Decimal("0.1"))
    now = start
    events: list[dict[str, Any]] = []

    def event(kind: str, state: str | None, wh: Decimal | None, **extra: Any) -> None:
        info: dict[str, Any] = {"transactionId": tx_id}
        if state is not None:
            info["chargingState"] = state
        e: dict[str, Any] = {
            "eventType": kind,
            "timestamp": _ts(now),
            "triggerReason": {"Started": "CablePluggedIn", "Ended": "EVCommunicationLost"}.get(
                kind, "MeterValuePeriodic"
            ),
            "seqNo": len(events),
            "transactionInfo": info,
            **extra,
        }
        if wh is not None:
            e["meterValue"] = [
                {
                    "timestamp": _ts(now),
                    "sampledValue": [
                        {"value": float(wh), "measurand": "Energy.Active.Import.Register"}
                    ],
                }
            ]
        events.append(e)

    event(
        "Started",
        "Charging",
        register,
        evse={"id": 1, "connectorId": 1},
        **({"offline": True} if rng.random() < 0.2 else {}),
    )
    suspended_at = None
    for _ in range(rng.randrange(1, 6)):
        minutes = rng.randrange(5, 40)
        now += datetime.timedelta(minutes=minutes)
        delivered = (
            kw * Decimal(minutes) / Decimal(60) * 1000 * Decimal(rng.uniform(0.5, 1.0))
        ).quantize(Decimal("0.1"))
        register += delivered
        event("Updated", None, register)
    if rng.random() < 0.4:  # The EV stops drawing and stays plugged.
        now += datetime.timedelta(minutes=rng.randrange(1, 5))
        suspended_at = now
        event("Updated", "SuspendedEV", register)
        now += datetime.timedelta(minutes=rng.randrange(1, 90))
    else:
        now += datetime.timedelta(minutes=rng.randrange(1, 10))
    event("Ended", "Idle", register, **{})
    events[-1]["transactionInfo"]["stoppedReason"] = "EVDisconnected"
    return Session(station_id, tx_id, events, start, now, first, register, suspended_at)


def _order(rng: random.Random, s: Session) -> list[dict[str, Any]]:
    """As the station delivers them: mostly in order; some Updated repeated, some swapped
    (an offline backlog); Started first and Ended last, as a station with a queue does."""
    body = list(s.events[1:-1])
    if len(body) > 1 and rng.random() < 0.3:
        j = rng.randrange(len(body) - 1)
        body[j], body[j + 1] = body[j + 1], body[j]
    if body and rng.random() < 0.3:
        body.insert(rng.randrange(len(body) + 1), dict(rng.choice(body)))
    return [s.events[0], *body, s.events[-1]]


def _expected(s: Session, prices: dict[str, str]) -> tuple[Decimal, Decimal]:
    """(energy Wh, total) recomputed independently."""
    energy = s.last_wh - s.first_wh
    if s.suspended_at is not None:
        charging, idle = s.suspended_at - s.start, s.end - s.suspended_at
    else:
        charging, idle = s.end - s.start, datetime.timedelta(0)
    billed_idle = max(idle - GRACE, datetime.timedelta(0))
    net = (
        energy / 1000 * Decimal(prices["pricePerKwh"])
        + Decimal(int(charging.total_seconds())) / 3600 * Decimal(prices["pricePerHour"])
        + Decimal(int(billed_idle.total_seconds())) / 3600 * Decimal(prices["idlePricePerHour"])
        + Decimal(prices["sessionFee"])
    )
    total = (net * (1 + VAT / 100)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return energy, total


def _tariff(prices: dict[str, str]) -> pb.Tariff:
    return pb.Tariff(
        id="standard",
        currency="EUR",
        price_per_kwh=prices["pricePerKwh"],
        price_per_hour=prices["pricePerHour"],
        idle_price_per_hour=prices["idlePricePerHour"],
        idle_grace_minutes=int(GRACE.total_seconds() // 60),
        session_fee=prices["sessionFee"],
        vat_percent=str(VAT),
        is_default=True,
    )


async def _send(stub: Any, station_id: str, event: dict[str, Any]) -> ocpp.TransactionEventResponse:
    return await stub.TransactionEvent(
        pb.TransactionEventCall(
            station_id=station_id, request=to_proto(ocpp.TransactionEventRequest, event)
        )
    )


async def test_500_sessions_are_billed_to_the_cent(start_transaction_svc) -> None:  # type: ignore[no-untyped-def]
    stub = await start_transaction_svc()
    rng = random.Random(SEED)
    await stub.CreateTariff(pb.CreateTariffRequest(tariff=_tariff(OLD)))
    sessions = [_session(rng, i) for i in range(SESSIONS)]
    plans = {s.tx_id: _order(rng, s) for s in sessions}
    totals: dict[str, float] = {}

    async def deliver(s: Session, events: list[dict[str, Any]]) -> None:
        for event in events:  # One session's events one after the other, as a station does.
            answer = await _send(stub, s.station_id, event)
            if event["eventType"] == "Ended":
                assert answer.HasField("total_cost"), s.tx_id
                totals[s.tx_id] = answer.total_cost
                again = await _send(stub, s.station_id, event)  # A lost answer: same total.
                assert again.total_cost == answer.total_cost
            else:
                assert not answer.HasField("total_cost"), (s.tx_id, event)  # Only at the end.

    async def run(work: list[tuple[Session, list[dict[str, Any]]]]) -> None:
        gate = asyncio.Semaphore(16)  # Sessions at once; each in order within.

        async def one(s: Session, events: list[dict[str, Any]]) -> None:
            async with gate:
                await deliver(s, events)

        await asyncio.gather(*(one(s, e) for s, e in work))

    # Sessions 250-299 begin before the tariff changes and end after it.
    crossing = sessions[250:300]
    halves = {s.tx_id: len(plans[s.tx_id]) // 2 for s in crossing}
    await run([(s, plans[s.tx_id]) for s in sessions[:250]])
    await run([(s, plans[s.tx_id][: halves[s.tx_id]]) for s in crossing])
    await stub.UpdateTariff(
        pb.UpdateTariffRequest(
            tariff=_tariff(NEW),
            update_mask=field_mask_pb2.FieldMask(
                paths=["price_per_kwh", "price_per_hour", "idle_price_per_hour", "session_fee"]
            ),
        )
    )
    await run(
        [(s, plans[s.tx_id][halves[s.tx_id] :]) for s in crossing]
        + [(s, plans[s.tx_id]) for s in sessions[300:]]
    )
    prices = {s.tx_id: OLD if i < 300 else NEW for i, s in enumerate(sessions)}

    records: dict[str, pb.ChargeDetailRecord] = {}
    token = ""
    while True:
        page = await stub.ListChargeDetailRecords(
            pb.ListChargeDetailRecordsRequest(page_size=200, page_token=token)
        )
        for r in page.charge_detail_records:
            assert r.transaction_id not in records
            records[r.transaction_id] = r
        token = page.next_page_token
        if not token:
            break
    assert len(records) == SESSIONS
    for s in sessions:
        energy, total = _expected(s, prices[s.tx_id])
        r = records[s.tx_id]
        assert Decimal(r.energy_wh) == energy, s.tx_id
        assert Decimal(r.total) == total, (s.tx_id, r.total, total, r)
        assert Decimal(str(totals[s.tx_id])) == total, s.tx_id
        assert r.currency == "EUR" and r.tariff_id == "standard"
