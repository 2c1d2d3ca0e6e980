"""A mixed fleet under one site load manager (issue 18): OCPP 2.0.1 and OCPP 1.6J stations on
one site, real processes, REST through Envoy.

The 2.0.1 stations are :class:`tests.e2e.test_load_manager.Ev`'s. The 1.6 ones
(:class:`Ev16`) start their transactions with StartTransaction (the CSMS assigns the integer
transactionId), say they charge with StatusNotification Charging, end them with
StopTransaction, and apply a 1.6 SetChargingProfile when they answer Accepted: the TxProfile for
their transaction (1.6's integer ``transactionId``), the TxDefaultProfile for their connector.
Every apply, start and end of both kinds goes to one timeline, replayed by
:func:`tests.e2e.test_load_manager._check_timeline`: the site's draw stays under its limit after
every entry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.station_sim import now
from tests.e2e.station_sim16 import Station16
from tests.e2e.test_load_manager import (
    LIMIT,
    MINIMUM,
    Ev,
    _check_settled,
    _check_timeline,
    _connect,
    _settled,
)

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]


@dataclasses.dataclass
class Ev16:
    """One 1.6 station of one connector: what it holds and what it does (as :class:`Ev`)."""

    station_id: str
    rng: random.Random
    timeline: list[tuple[str, str, Any]]
    id_tag: str
    default: float | None = None
    tx_profile: tuple[str, float] | None = None
    tx_id: str | None = None
    sim: Station16 | None = None
    received: int = 0
    # Every 1.6 csChargingProfiles it was sent, as sent.
    profiles: list[JSON] = dataclasses.field(default_factory=list)
    meter: int = 0

    def draw(self) -> float:
        if (
            self.tx_id is not None
            and self.tx_profile is not None
            and self.tx_profile[0] == self.tx_id
        ):
            return self.tx_profile[1]
        return self.default or 0.0

    async def set_profile(self, request: JSON) -> JSON:
        self.received += 1
        await asyncio.sleep(self.rng.uniform(0, 0.3))
        p = request["csChargingProfiles"]
        self.profiles.append(p)
        assert request["connectorId"] == 1, request
        limit = float(p["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"])
        if p["chargingProfilePurpose"] == "TxProfile":
            # 1.6: the integer the CSMS gave in StartTransaction's answer.
            assert isinstance(p["transactionId"], int), p
            self.tx_profile = (str(p["transactionId"]), limit)
            self.timeline.append(("tx", self.station_id, self.tx_profile))
        elif p["chargingProfilePurpose"] == "TxDefaultProfile":
            self.default = limit
            self.timeline.append(("default", self.station_id, limit))
        return {"status": "Accepted"}

    def clear(self, request: JSON) -> JSON:
        self.default = None
        return {"status": "Accepted"}

    async def event(self, kind: str, **info: Any) -> None:
        """Started: StartTransaction then StatusNotification Charging; Ended: StopTransaction
        then StatusNotification Finishing (``info`` ignored: 1.6 says less)."""
        sim = self.sim
        assert sim is not None
        if kind == "Started":
            # Charging from this moment (at its TxDefaultProfile until it knows its id).
            self.timeline.append(("start", self.station_id, None))
            answer = await sim.call(
                "StartTransaction",
                {
                    "connectorId": 1,
                    "idTag": self.id_tag,
                    "meterStart": self.meter,
                    "timestamp": now(),
                },
            )
            assert answer["idTagInfo"]["status"] == "Accepted", answer
            self.tx_id = str(answer["transactionId"])
            self.timeline.append(("start", self.station_id, self.tx_id))
            await sim.call(
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": "Charging"},
            )
        elif kind == "Ended":
            assert self.tx_id is not None
            self.meter += 1000
            await sim.call(
                "StopTransaction",
                {
                    "transactionId": int(self.tx_id),
                    "meterStop": self.meter,
                    "timestamp": now(),
                    "reason": "EVDisconnected",
                },
            )
            self.tx_id = None
            self.timeline.append(("end", self.station_id, None))
            await sim.call(
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": "Finishing"},
            )


async def _connect16(ev: Ev16, ws_url: Callable[[str], str]) -> None:
    sim = await Station16.connect(ws_url(ev.station_id), ev.station_id, attempts=5)
    sim.answer("SetChargingProfile", ev.set_profile)
    sim.answer("ClearChargingProfile", ev.clear)
    assert (await sim.boot())["status"] == "Accepted"
    await sim.call(
        "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    )
    ev.sim = sim


async def test_a_mixed_fleet_of_16_and_201_stations_stays_under_the_site_limit(
    rest: httpx.AsyncClient, ws_url: Callable[[str], str]
) -> None:
    """4 OCPP 2.0.1 and 4 OCPP 1.6J stations on one 100 A site, 6 A minimum, 16 transactions in
    rounds of starts and ends: the 1.6 stations get the site's limits as 1.6 SetChargingProfile
    (TxDefaultProfile on connector 1, TxProfile with the integer transactionId of their
    StartTransaction), the site lists their transactions beside the 2.0.1 ones, and after every
    apply, start and end the sum of what all eight may draw is at most 100 A; at each settled
    moment the stations hold what the site says and the limit is used."""
    seed = 1812
    rng = random.Random(seed)
    print(f"seed {seed}")
    prefix = f"MX{uuid.uuid4().hex[:6]}"
    timeline: list[tuple[str, str, Any]] = []
    tag = f"MX{uuid.uuid4().hex[:10].upper()}"
    resp = await rest.post(
        "/v1/idTokens", json={"idToken": tag, "type": "ISO14443", "status": "Accepted"}
    )
    assert resp.status_code == 200, resp.text
    evs201: dict[str, Ev] = {}
    evs16: dict[str, Ev16] = {}
    for i in range(4):
        sid = f"{prefix}-20-{i}"
        evs201[sid] = Ev(sid, random.Random(rng.random()), timeline)
        sid16 = f"{prefix}-16-{i}"
        evs16[sid16] = Ev16(sid16, random.Random(rng.random()), timeline, tag)
    for sid in [*evs201, *evs16]:
        assert (await rest.post("/v1/chargingStations", json={"id": sid})).status_code == 200
    await asyncio.gather(
        *(_connect(ev, ws_url) for ev in evs201.values()),
        *(_connect16(ev, ws_url) for ev in evs16.values()),
    )
    evs: dict[str, Any] = {**evs201, **evs16}
    site_id = f"{prefix}-site"
    body = {
        "id": site_id,
        "limit": LIMIT,
        "chargingRateUnit": "A",
        "minLimit": MINIMUM,
        "evses": [{"stationId": sid, "evseId": 1} for sid in evs],
    }
    resp = await rest.post("/v1/sites", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["fallbackLimit"] == LIMIT / len(evs)
    try:
        started = 0
        round_ = 0
        while started < 16 or round_ < 4:
            assert round_ < 12
            idle = [ev for ev in evs.values() if ev.tx_id is None]
            busy = [ev for ev in evs.values() if ev.tx_id is not None]
            starting = rng.sample(idle, min(len(idle), 5, 16 - started))
            ending = rng.sample(busy, min(len(busy), rng.randrange(1, 4)))
            started += len(starting)

            async def later(coro: Any) -> None:
                await asyncio.sleep(rng.uniform(0, 0.5))
                await coro

            await asyncio.gather(
                *(later(ev.event("Started", chargingState="Charging")) for ev in starting),
                *(later(ev.event("Ended", stoppedReason="EVDisconnected")) for ev in ending),
            )
            charging = sum(ev.tx_id is not None for ev in evs.values())
            site = await _settled(rest, site_id, charging)
            _check_settled(site, evs)  # type: ignore[arg-type]
            mine16 = {
                a["transactionId"] for a in site.get("allocations", []) if a["stationId"] in evs16
            }
            assert mine16 == {ev.tx_id for ev in evs16.values() if ev.tx_id is not None}
            round_ += 1
        peak = _check_timeline(evs, timeline)  # type: ignore[arg-type]
        assert peak >= 0.9 * LIMIT
        # The 1.6 stations were given limits: defaults and TxProfiles of their transactions.
        purposes = {p["chargingProfilePurpose"] for ev in evs16.values() for p in ev.profiles}
        assert purposes == {"TxDefaultProfile", "TxProfile"}, purposes
        for ev in evs16.values():
            assert ev.sim is not None and not ev.sim.violations, ev.sim.violations
        for ev201 in evs201.values():
            assert ev201.sim is not None and not ev201.sim.violations, ev201.sim.violations
        # 1.6 transactions charging are counted as charging (StatusNotification Charging).
        fleet = (await rest.get("/v1/fleet")).json()
        assert int(fleet.get("charging", 0)) >= sum(ev.tx_id is not None for ev in evs.values()), (
            fleet
        )
    finally:
        await rest.delete(f"/v1/sites/{site_id}")
        await asyncio.gather(*(ev.sim.close() for ev in evs.values() if ev.sim is not None))


async def test_a_16_transaction_is_charging_as_its_connector_says(
    rest: httpx.AsyncClient, ws_url: Callable[[str], str], station_id: str
) -> None:
    """1.6 has no chargingState: a StartTransaction is Charging, then its connector's
    StatusNotification SuspendedEV, SuspendedEVSE or Charging is its transaction's (REST
    ``chargingState``, the ``chargingState`` filter and the fleet's charging count); Preparing
    or a status of another connector changes nothing; StopTransaction ends it."""
    tag = f"CS{uuid.uuid4().hex[:10].upper()}"
    resp = await rest.post(
        "/v1/idTokens", json={"idToken": tag, "type": "ISO14443", "status": "Accepted"}
    )
    assert resp.status_code == 200, resp.text
    sim = await Station16.connect(ws_url(station_id), station_id)
    try:
        assert (await sim.boot())["status"] == "Accepted"
        started = await sim.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": now()},
        )
        tx_id = started["transactionId"]

        async def state() -> str:
            resp = await rest.get(f"/v1/transactions/{tx_id}", params={"stationId": station_id})
            assert resp.status_code == 200, resp.text
            return str(resp.json().get("chargingState", ""))

        async def status(connector: int, value: str) -> None:
            await sim.call(
                "StatusNotification",
                {"connectorId": connector, "errorCode": "NoError", "status": value,
                 "timestamp": now()},
            )  # fmt: skip

        assert await state() == "Charging"
        await asyncio.sleep(1.1)  # the next status in a later second (its seqNo)
        await status(1, "SuspendedEV")
        assert await state() == "SuspendedEV"
        resp = await rest.get(
            "/v1/transactions",
            params={"stationId": station_id, "state": "active", "chargingState": "SuspendedEV"},
        )
        assert [t["id"] for t in resp.json()["transactions"]] == [str(tx_id)]
        await asyncio.sleep(1.1)
        await status(2, "Charging")  # another connector: not this transaction's
        await status(0, "Available")
        assert await state() == "SuspendedEV"
        await asyncio.sleep(1.1)
        await status(1, "SuspendedEVSE")
        assert await state() == "SuspendedEVSE"
        await asyncio.sleep(1.1)
        await status(1, "Charging")
        assert await state() == "Charging"
        resp = await rest.get(
            "/v1/transactions",
            params={"stationId": station_id, "state": "active", "chargingState": "Charging"},
        )
        assert [t["id"] for t in resp.json()["transactions"]] == [str(tx_id)]
        await sim.call(
            "StopTransaction",
            {"transactionId": tx_id, "meterStop": 500, "timestamp": now(), "reason": "Local"},
        )
        resp = await rest.get(f"/v1/transactions/{tx_id}", params={"stationId": station_id})
        assert resp.json()["active"] is False, resp.text
        assert not sim.violations, sim.violations
    finally:
        await sim.close()
