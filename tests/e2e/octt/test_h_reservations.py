"""Part 6, functional block H (Reservation), CSMS test cases, and the reservation resource.

Steps and tool validations from the public reimplementation tzi-OCTT
(``2.0.1/H/test_tc_h_NN_csms.py``: H_01, H_07, H_08, H_14, H_15, H_17, H_19, H_20, H_22; the
official Part 6 text was not found). "Manual Action: trigger the CSMS to send a
ReserveNowRequest" is the operator's ``POST /v1/reservations``; the verdicts check what the
station received and, beyond the cases, the reservation's state over REST.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.octt.rest_checks import register_id_token
from tests.e2e.octt.states import booted
from tests.e2e.octt.station import OcttStation
from tests.e2e.station_sim import now

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
CONNECTOR_TYPE = "cType2"


def _at(seconds: float) -> str:
    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Desk:
    """The OCTT station's reservations: it answers ReserveNow as told and keeps what it got."""

    def __init__(self, cs: OcttStation) -> None:
        self.cs = cs
        self.received: list[tuple[str, JSON]] = []
        self.status = "Accepted"
        cs.sim.answer("ReserveNow", self._reserve)
        cs.sim.answer("CancelReservation", self._cancel)

    def _reserve(self, request: JSON) -> JSON:
        self.received.append(("ReserveNow", request))
        return {"status": self.status}

    def _cancel(self, request: JSON) -> JSON:
        self.received.append(("CancelReservation", request))
        return {"status": "Accepted"}

    def last(self, step: str, action: str) -> JSON:
        got = [r for a, r in self.received if a == action]
        self.cs.verdicts.expect(step, f"the CSMS sends a {action}Request", bool(got), self.received)
        return got[-1] if got else {}


async def reserve(
    cs: OcttStation, rest: httpx.AsyncClient, step: str, seconds: float = 600, **fields: Any
) -> JSON:
    body = {
        "stationId": cs.sim.station_id,
        "idToken": dict(cs.id_token),
        "expiryDateTime": _at(seconds),
        **fields,
    }
    resp = await rest.post("/v1/reservations", json=body)
    cs.verdicts.expect(
        step, "REST POST /v1/reservations answers 200", resp.status_code == 200, resp.text
    )
    return dict(resp.json()) if resp.status_code == 200 else {}


async def state_of(cs: OcttStation, rest: httpx.AsyncClient, reservation_id: int, step: str) -> str:
    body = await cs.verdicts.rest_get(rest, step, f"/v1/reservations/{reservation_id}")
    return str(body.get("state", ""))


def _validations(cs: OcttStation, step: str, sent: JSON, **expected: Any) -> None:
    """The tool validations of ReserveNowRequest: idToken the configured one, and the case's
    evseId / connectorType (``None``: must be omitted)."""
    cs.verdicts.equal(step, "idToken", sent.get("idToken"), cs.id_token)
    for field, value in expected.items():
        if value is None:
            cs.verdicts.expect(step, f"{field} is omitted", field not in sent, sent)
        else:
            cs.verdicts.equal(step, field, sent.get(field), value)


async def test_tc_h_01_reserve_a_specific_evse(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_H_01 Reserve a specific EVSE - Accepted - Valid idToken (H01 S2, H03): Reusable State
    Reserved (ReserveNowRequest for the EVSE, Accepted, connector Reserved). Beyond the case:
    the reserving driver's transaction with the reservation's id uses it (Used, with the
    transaction), and is answered Accepted."""
    await booted(cs)
    desk = Desk(cs)
    got = await reserve(cs, rest, "Reserved step 1", evseId=cs.evse_id)
    sent = desk.last("Reserved step 1", "ReserveNow")
    _validations(cs, "Reserved step 1 tool validation", sent, evseId=cs.evse_id, connectorType=None)
    cs.verdicts.equal("Reserved step 2", "the reservation's state", got.get("state"), "Accepted")
    cs.verdicts.equal(
        "Reserved step 1", "the id sent is the reservation's", sent.get("id"), got.get("id")
    )
    await cs.notify_connector("Reserved steps 3-4", "Reserved", cs.evse_id, cs.connector_id)
    tx = str(uuid.uuid4())
    answer = await cs.send(
        "Use",
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": now(),
            "triggerReason": "Authorized",
            "seqNo": 0,
            "transactionInfo": {"transactionId": tx},
            "idToken": dict(cs.id_token),
            "evse": {"id": cs.evse_id, "connectorId": cs.connector_id},
            "reservationId": got.get("id", 0),
        },
    )
    cs.verdicts.equal(
        "Use", "idTokenInfo.status", (answer or {}).get("idTokenInfo", {}).get("status"), "Accepted"
    )
    body = await cs.verdicts.rest_get(rest, "REST", f"/v1/reservations/{got.get('id')}")
    cs.verdicts.equal("REST", "state", body.get("state"), "Used")
    cs.verdicts.equal("REST", "transactionId", body.get("transactionId"), tx)
    cs.assert_passed()


async def test_tc_h_07_reservation_expires(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_H_07 Reservation Ended / not used (H01 S2, H04): 1-2. ReserveNowRequest (the EVSE, no
    connectorType, expiry soon), Accepted; 3-6. connector Reserved, then Available; after the
    expiry 7-8. ReservationStatusUpdate Expired, answered. The CSMS shows it Expired (its own
    sweep may get there first)."""
    await booted(cs)
    desk = Desk(cs)
    got = await reserve(cs, rest, "Main step 1", seconds=2, evseId=cs.evse_id)
    _validations(
        cs,
        "Main step 1 tool validation",
        desk.last("Main step 1", "ReserveNow"),
        evseId=cs.evse_id,
        connectorType=None,
    )
    await cs.notify_connector("Main steps 3-4", "Reserved", cs.evse_id, cs.connector_id)
    await cs.notify_connector("Main steps 5-6", "Available", cs.evse_id, cs.connector_id)
    await asyncio.sleep(2.5)
    answer = await cs.send(
        "Main steps 7-8",
        "ReservationStatusUpdate",
        {"reservationId": got.get("id", 0), "reservationUpdateStatus": "Expired"},
    )
    cs.verdicts.equal("Main step 8", "the answer", answer, {})
    cs.verdicts.equal(
        "REST", "state", await state_of(cs, rest, got.get("id", 0), "REST"), "Expired"
    )
    cs.assert_passed()


@pytest.mark.parametrize(
    ("case", "fields", "expected"),
    [
        ("TC_H_08 unspecified EVSE", {}, {"evseId": None, "connectorType": None}),
        (
            "TC_H_15 connector type",
            {"connectorType": CONNECTOR_TYPE},
            {"evseId": None, "connectorType": CONNECTOR_TYPE},
        ),
    ],
)
async def test_tc_h_08_15_reserve_without_an_evse(
    cs: OcttStation, rest: httpx.AsyncClient, case: str, fields: JSON, expected: JSON
) -> None:
    """TC_H_08 (H01 S1, H03) and TC_H_15 (H01 S3): 1-2. ReserveNowRequest without evseId (with
    the configured connectorType for H_15), Accepted; 3-4. connector Reserved."""
    await booted(cs)
    desk = Desk(cs)
    got = await reserve(cs, rest, "Main step 1", **fields)
    _validations(cs, f"{case} tool validation", desk.last("Main step 1", "ReserveNow"), **expected)
    cs.verdicts.equal("Main step 2", "state", got.get("state"), "Accepted")
    await cs.notify_connector("Main steps 3-4", "Reserved", cs.evse_id, cs.connector_id)
    cs.assert_passed()


async def test_tc_h_14_as_many_reservations_as_evses(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_H_14 Amount of EVSEs available equals the amount of reservations (H01 S1): one
    ReserveNowRequest without evseId per EVSE (2), each Accepted; then the connectors Reserved."""
    await booted(cs)
    desk = Desk(cs)
    ids = []
    for i in range(len(cs.evses)):
        got = await reserve(cs, rest, f"Main step 1 ({i + 1})")
        ids.append(got.get("id"))
        cs.verdicts.equal(f"Main step 2 ({i + 1})", "state", got.get("state"), "Accepted")
    for _, sent in desk.received:
        _validations(cs, "Main step 1 tool validation", sent, evseId=None, connectorType=None)
    cs.verdicts.expect("Main step 1", "each reservation its own id", len(set(ids)) == len(ids), ids)
    for evse, connectors in cs.evses.items():
        await cs.notify_connector("Main steps 3-4", "Reserved", evse, connectors[0])
    cs.assert_passed()


async def test_tc_h_17_cancel_a_reservation(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_H_17 Cancel reservation of an EVSE - Success (H02): 1-4. ReserveNowRequest for the
    EVSE, Accepted, Reserved; 5-6. CancelReservationRequest with the same id, Accepted; 7-8.
    connector Available. The CSMS shows it Cancelled; cancelling again is 400, nothing sent."""
    await booted(cs)
    desk = Desk(cs)
    got = await reserve(cs, rest, "Main step 1", evseId=cs.evse_id)
    await cs.notify_connector("Main steps 3-4", "Reserved", cs.evse_id, cs.connector_id)
    resp = await rest.post(f"/v1/reservations/{got.get('id')}:cancel", json={})
    cs.verdicts.equal("Main step 5", "REST status", resp.status_code, 200)
    cs.verdicts.equal("Main step 6", "state", resp.json().get("state"), "Cancelled")
    sent = desk.last("Main step 5", "CancelReservation")
    cs.verdicts.equal(
        "Main step 5 tool validation", "reservationId", sent.get("reservationId"), got.get("id")
    )
    await cs.notify_connector("Main steps 7-8", "Available", cs.evse_id, cs.connector_id)
    again = await rest.post(f"/v1/reservations/{got.get('id')}:cancel", json={})
    cs.verdicts.equal("Beyond", "cancelling again", again.status_code, 400)
    cs.verdicts.equal(
        "Beyond",
        "CancelReservations sent",
        sum(a == "CancelReservation" for a, _ in desk.received),
        1,
    )
    cs.assert_passed()


async def test_tc_h_19_reserve_with_a_group(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_H_19 Use a reserved EVSE with GroupId (H01, H03): 1-4. ReserveNowRequest for the EVSE
    with a groupIdToken, Accepted, Reserved. Beyond the case: another driver's token on the
    reserved EVSE is answered NotAtThisTime; a token of the group is answered as user_svc
    answers it (Accepted)."""
    await booted(cs)
    desk = Desk(cs)
    group = f"GRP-{uuid.uuid4().hex[:8].upper()}"
    got = await reserve(
        cs,
        rest,
        "Main step 1",
        evseId=cs.evse_id,
        groupIdToken={"idToken": group, "type": "Central"},
    )
    sent = desk.last("Main step 1", "ReserveNow")
    _validations(cs, "Main step 1 tool validation", sent, evseId=cs.evse_id, connectorType=None)
    cs.verdicts.expect(
        "Main step 1 tool validation", "groupIdToken provided", "groupIdToken" in sent, sent
    )
    cs.verdicts.equal("Main step 2", "state", got.get("state"), "Accepted")
    await cs.notify_connector("Main steps 3-4", "Reserved", cs.evse_id, cs.connector_id)

    async def start(token: str) -> str | None:
        answer = await cs.send(
            f"Beyond: {token}",
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": now(),
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": str(uuid.uuid4())},
                "idToken": {"idToken": token, "type": "ISO14443"},
                "evse": {"id": cs.evse_id, "connectorId": cs.connector_id},
            },
        )
        return (answer or {}).get("idTokenInfo", {}).get("status")

    stranger = f"OTHER-{uuid.uuid4().hex[:8].upper()}"
    member = f"MEMBER-{uuid.uuid4().hex[:8].upper()}"
    assert (await register_id_token(rest, stranger)).status_code == 200
    resp = await rest.post(
        "/v1/idTokens", json={"idToken": member, "type": "ISO14443", "groupIdToken": group}
    )
    assert resp.status_code == 200, resp.text
    cs.verdicts.equal("Beyond", "another driver", await start(stranger), "NotAtThisTime")
    cs.verdicts.equal("Beyond", "a driver of the group", await start(member), "Accepted")
    cs.assert_passed()


async def test_tc_h_20_station_removes_a_reservation_when_faulted(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_H_20 Charging Station cancels reservation when Faulted (H01): 1-4. ReserveNowRequest
    for the EVSE, Accepted, Reserved; 5-6. connector Faulted; 7-8. ReservationStatusUpdate
    Removed, answered. The CSMS shows it Removed."""
    await booted(cs)
    Desk(cs)
    got = await reserve(cs, rest, "Main step 1", evseId=cs.evse_id)
    await cs.notify_connector("Main steps 3-4", "Reserved", cs.evse_id, cs.connector_id)
    await cs.notify_connector("Main steps 5-6", "Faulted", cs.evse_id, cs.connector_id)
    answer = await cs.send(
        "Main steps 7-8",
        "ReservationStatusUpdate",
        {"reservationId": got.get("id", 0), "reservationUpdateStatus": "Removed"},
    )
    cs.verdicts.equal("Main step 8", "the answer", answer, {})
    cs.verdicts.equal(
        "REST", "state", await state_of(cs, rest, got.get("id", 0), "REST"), "Removed"
    )
    cs.assert_passed()


async def test_tc_h_22_station_rejects(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_H_22 Reserve a specific EVSE - Configured to Reject (H01): 1. ReserveNowRequest, 2.
    Rejected. The CSMS keeps it Rejected (not live): the EVSE can be reserved again."""
    await booted(cs)
    desk = Desk(cs)
    desk.status = "Rejected"
    got = await reserve(cs, rest, "Main step 1", evseId=cs.evse_id)
    cs.verdicts.equal("Main step 2", "state", got.get("state"), "Rejected")
    desk.status = "Accepted"
    again = await reserve(cs, rest, "Beyond", evseId=cs.evse_id)
    cs.verdicts.equal("Beyond", "a new reservation of the EVSE", again.get("state"), "Accepted")
    cs.assert_passed()


async def test_the_reservation_resource(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """One live reservation per EVSE (409, nothing sent); an expiry in the past and a missing
    idToken are 400; the list filters by station and state; a station not connected is 503 and
    leaves nothing live."""
    await booted(cs)
    desk = Desk(cs)
    first = await reserve(cs, rest, "create", evseId=cs.evse_id)
    body = {
        "stationId": cs.sim.station_id,
        "idToken": dict(cs.id_token),
        "expiryDateTime": _at(600),
        "evseId": cs.evse_id,
    }
    resp = await rest.post("/v1/reservations", json=body)
    cs.verdicts.equal("409", "status", resp.status_code, 409)
    cs.verdicts.equal("409", "ReserveNows sent", len(desk.received), 1)
    resp = await rest.post(
        "/v1/reservations", json={**body, "evseId": 2, "expiryDateTime": _at(-60)}
    )
    cs.verdicts.expect(
        "400", "past expiry", resp.status_code == 400 and "expiryDateTime" in resp.text, resp.text
    )
    resp = await rest.post(
        "/v1/reservations", json={k: v for k, v in body.items() if k != "idToken"} | {"evseId": 2}
    )
    cs.verdicts.equal("400", "no idToken", resp.status_code, 400)
    listed = await cs.verdicts.rest_get(
        rest,
        "list",
        "/v1/reservations",
        params={"stationId": cs.sim.station_id, "state": "Accepted"},
    )
    cs.verdicts.equal(
        "list", "ids", [r["id"] for r in listed.get("reservations", [])], [first.get("id")]
    )
    resp = await rest.post(
        "/v1/reservations", json={**body, "stationId": f"NOPE-{uuid.uuid4().hex[:6]}", "evseId": 1}
    )
    cs.verdicts.expect(
        "offline",
        "an unknown or unconnected station is refused",
        resp.status_code in (404, 503),
        resp.text,
    )
    cs.assert_passed()
