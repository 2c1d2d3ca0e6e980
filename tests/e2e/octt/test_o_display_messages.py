"""Part 6, functional block O (Display messages), CSMS test cases.

The steps and tool validations are those of the public reimplementation tzi-OCTT
(``2.0.1/O/test_tc_o_NN_csms.py``: TC_O_01 to TC_O_14, TC_O_17 to TC_O_19, TC_O_25 to TC_O_28;
the official Part 6 text was not found). Each "Manual Action: request the CSMS to ..." is the
operator's REST call; the OCTT's station answers as each case prescribes and keeps its messages;
the verdicts check what the CSMS sent (the tool validations) and, beyond the cases, what the
CSMS then lists (``GET /v1/chargingStations/{id}/displayMessages``).
"""

from __future__ import annotations

import datetime
import random
from typing import Any

import httpx
import pytest

from tests.e2e.octt.states import booted, energy_transfer_started, ev_disconnected
from tests.e2e.octt.station import OcttStation

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]

# <Configured ...> values of the cases.
PRIORITY = "NormalCycle"
STATE = "Charging"
FORMAT = "UTF8"


def message(id_: int, **fields: Any) -> JSON:
    return {
        "id": id_,
        "priority": PRIORITY,
        "message": {"format": FORMAT, "content": f"OCTT message {id_}"},
        **fields,
    }


def at(minutes: int) -> str:
    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=minutes)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


class Display:
    """The OCTT station's display: what it received, what it answers, what it shows."""

    def __init__(self, cs: OcttStation) -> None:
        self.cs = cs
        self.received: list[tuple[str, JSON]] = []
        self.shown: dict[int, JSON] = {}
        self.set_status = "Accepted"
        for action in ("SetDisplayMessage", "GetDisplayMessages", "ClearDisplayMessage"):
            cs.sim.answer(action, self._answer(action))

    def _answer(self, action: str) -> Any:
        def answer(request: JSON) -> JSON:
            self.received.append((action, request))
            if action == "SetDisplayMessage":
                if self.set_status == "Accepted":
                    self.shown[request["message"]["id"]] = request["message"]
                return {"status": self.set_status}
            if action == "ClearDisplayMessage":
                return {"status": "Accepted" if self.shown.pop(request["id"], None) else "Unknown"}
            return {"status": "Accepted" if self.matching(request) else "Unknown"}

        return answer

    def matching(self, request: JSON) -> list[JSON]:
        return [
            m
            for i, m in sorted(self.shown.items())
            if (not request.get("id") or i in request["id"])
            and request.get("priority", m["priority"]) == m["priority"]
            and request.get("state", m.get("state")) == m.get("state")
        ]

    def last(self, step: str, action: str) -> JSON:
        """The last request of ``action`` the station received (a verdict that it did)."""
        got = [r for a, r in self.received if a == action]
        self.cs.verdicts.expect(step, f"the CSMS sends a {action}Request", bool(got))
        return got[-1] if got else {}


async def operator(
    cs: OcttStation, rest: httpx.AsyncClient, verb: str, body: JSON, step: str
) -> JSON:
    """The manual action: the operator asks the CSMS over REST; the station's answer back."""
    resp = await rest.post(f"/v1/chargingStations/{cs.sim.station_id}:{verb}", json=body)
    cs.verdicts.expect(step, f"REST :{verb} answers 200", resp.status_code == 200, resp.text)
    return dict(resp.json()) if resp.status_code == 200 else {}


async def shown_by_csms(cs: OcttStation, rest: httpx.AsyncClient, step: str) -> list[JSON]:
    body = await cs.verdicts.rest_get(
        rest, step, f"/v1/chargingStations/{cs.sim.station_id}/displayMessages"
    )
    return [m["messageInfo"] for m in body.get("displayMessages", [])]


async def configured(cs: OcttStation, rest: httpx.AsyncClient, display: Display, m: JSON) -> None:
    """Memory State "A display message is configured": set through the CSMS, Accepted."""
    await operator(cs, rest, "setDisplayMessage", {"message": m}, "Memory state")


async def _set_case(
    cs: OcttStation,
    rest: httpx.AsyncClient,
    sent: JSON,
    answer: str,
    validations: JSON,
) -> Display:
    """The Set Display Message cases: 1. the CSMS sends SetDisplayMessageRequest (tool
    validations on ``message``), 2. the station answers ``answer``; the CSMS keeps it only when
    Accepted."""
    await booted(cs)
    display = Display(cs)
    display.set_status = answer
    got = await operator(cs, rest, "setDisplayMessage", {"message": sent}, "Main step 1")
    cs.verdicts.equal(
        "Main step 2", "the station's answer reaches the operator", got, {"status": answer}
    )
    request = display.last("Main step 1", "SetDisplayMessage")
    cs.verdicts.fields("Main step 1 tool validation", request.get("message", {}), validations)
    if "transactionId" not in validations:
        cs.verdicts.expect(
            "Main step 1 tool validation (O01.FR.04)",
            "message.transactionId is omitted for a message of no transaction",
            "transactionId" not in request.get("message", {}),
            request,
        )
    kept = await shown_by_csms(cs, rest, "REST displayMessages")
    wanted = [sent] if answer == "Accepted" else []
    cs.verdicts.equal("REST displayMessages", "the messages the CSMS lists", kept, wanted)
    return display


async def test_tc_o_01_set_display_message_success(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_O_01_CSMS Set Display Message - Success (O01, O01.FR.04): message.id, priority,
    message.format and state as configured; transactionId omitted."""
    m = message(random.randrange(1, 10_000), state=STATE)
    await _set_case(
        cs,
        rest,
        m,
        "Accepted",
        {"id": m["id"], "priority": PRIORITY, "state": STATE, "message": m["message"]},
    )
    cs.assert_passed()


async def test_tc_o_02_get_all_display_messages(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_O_02_CSMS Get all Display Messages - Success (O03): with a message configured, the
    CSMS sends GetDisplayMessagesRequest (requestId, no id), the station answers Accepted and
    sends NotifyDisplayMessagesRequest, which the CSMS answers."""
    await booted(cs)
    display = Display(cs)
    m = message(11)
    await configured(cs, rest, display, m)
    request_id = random.randrange(1, 2**31)
    got = await operator(cs, rest, "getDisplayMessages", {"requestId": request_id}, "Main step 1")
    cs.verdicts.equal("Main step 2", "status", got.get("status"), "Accepted")
    request = display.last("Main step 1", "GetDisplayMessages")
    cs.verdicts.equal(
        "Main step 1 tool validation", "requestId", request.get("requestId"), request_id
    )
    cs.verdicts.expect("Main step 1 tool validation", "id is omitted", "id" not in request, request)
    await cs.send(
        "Main step 3-4",
        "NotifyDisplayMessages",
        {"requestId": request_id, "messageInfo": display.matching(request)},
    )
    cs.verdicts.equal("REST displayMessages", "listed", await shown_by_csms(cs, rest, "REST"), [m])
    cs.assert_passed()


async def test_tc_o_03_get_all_display_messages_none(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_O_03_CSMS Get all Display Messages - No DisplayMessages configured (O03): the station
    answers Unknown; the CSMS lists nothing."""
    await booted(cs)
    display = Display(cs)
    got = await operator(cs, rest, "getDisplayMessages", {"requestId": 31}, "Main step 1")
    cs.verdicts.equal("Main step 2", "status", got.get("status"), "Unknown")
    cs.verdicts.equal(
        "Main step 1 tool validation",
        "requestId",
        display.last("Main step 1", "GetDisplayMessages").get("requestId"),
        31,
    )
    cs.verdicts.equal("REST displayMessages", "listed", await shown_by_csms(cs, rest, "REST"), [])
    cs.assert_passed()


async def test_tc_o_04_clear_display_message(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_O_04_CSMS Clear Display Message - Success (O05): id of the configured message;
    Accepted; the CSMS lists it no more."""
    await booted(cs)
    display = Display(cs)
    m = message(41)
    await configured(cs, rest, display, m)
    got = await operator(cs, rest, "clearDisplayMessage", {"id": 41}, "Main step 1")
    cs.verdicts.equal("Main step 2", "status", got.get("status"), "Accepted")
    cs.verdicts.equal(
        "Main step 1 tool validation",
        "id",
        display.last("Main step 1", "ClearDisplayMessage").get("id"),
        41,
    )
    cs.verdicts.equal("REST displayMessages", "listed", await shown_by_csms(cs, rest, "REST"), [])
    cs.assert_passed()


async def test_tc_o_05_clear_display_message_unknown(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_O_05_CSMS Clear Display Message - Unknown Key (O05): the station answers Unknown."""
    await booted(cs)
    Display(cs)
    got = await operator(cs, rest, "clearDisplayMessage", {"id": 999}, "Main step 1")
    cs.verdicts.equal("Main step 2", "status", got.get("status"), "Unknown")
    cs.assert_passed()


@pytest.mark.parametrize(
    ("case", "extra"),
    [
        ("TC_O_06 Specific transaction - Success", {}),
        ("TC_O_27 Specific transaction - Display message at StartTime", {"startDateTime": at(5)}),
        ("TC_O_28 Specific transaction - Remove message after EndTime", {"endDateTime": at(60)}),
    ],
)
async def test_tc_o_06_27_28_message_of_a_transaction(
    cs: OcttStation, rest: httpx.AsyncClient, case: str, extra: JSON
) -> None:
    """TC_O_06, TC_O_27, TC_O_28 (O02): Before: EnergyTransferStarted. The CSMS sends a
    SetDisplayMessageRequest with the transaction's id (state omitted; TC_O_27 with a
    startDateTime, endDateTime omitted; TC_O_28 with an endDateTime, startDateTime omitted); the
    station answers Accepted; then (TC_O_06) EVDisconnected."""
    await booted(cs)
    await energy_transfer_started(cs)
    display = Display(cs)
    m = message(60, transactionId=cs.transaction_id, **extra)
    got = await operator(cs, rest, "setDisplayMessage", {"message": m}, "Main step 1")
    cs.verdicts.equal("Main step 2", "status", got.get("status"), "Accepted")
    sent = display.last("Main step 1", "SetDisplayMessage").get("message", {})
    cs.verdicts.fields(
        f"{case} tool validation",
        sent,
        {"transactionId": cs.transaction_id, "priority": PRIORITY, **extra},
    )
    for absent in ("state", *({"startDateTime", "endDateTime"} - set(extra))):
        cs.verdicts.expect(
            f"{case} tool validation", f"message.{absent} is omitted", absent not in sent, sent
        )
    if case.startswith("TC_O_06"):
        await ev_disconnected(cs)
    cs.assert_passed()


@pytest.mark.parametrize(
    ("case", "criteria"),
    [
        ("TC_O_07 Id", {"id": [71]}),
        ("TC_O_08 Priority", {"priority": "AlwaysFront"}),
        ("TC_O_09 State", {"state": STATE}),
    ],
)
async def test_tc_o_07_08_09_get_specific_display_messages(
    cs: OcttStation, rest: httpx.AsyncClient, case: str, criteria: JSON
) -> None:
    """TC_O_07/08/09 (O04): with a matching message configured, GetDisplayMessagesRequest with
    only that criterion (the others omitted); Accepted; the NotifyDisplayMessagesRequest
    answered; the CSMS lists what the station reported."""
    await booted(cs)
    display = Display(cs)
    m = message(71, priority="AlwaysFront", state=STATE)
    await configured(cs, rest, display, m)
    got = await operator(
        cs, rest, "getDisplayMessages", {"requestId": 7, **criteria}, "Main step 1"
    )
    cs.verdicts.equal("Main step 2", "status", got.get("status"), "Accepted")
    request = display.last("Main step 1", "GetDisplayMessages")
    cs.verdicts.fields(f"{case} tool validation", request, criteria)
    for absent in {"id", "priority", "state"} - set(criteria):
        cs.verdicts.expect(
            f"{case} tool validation", f"{absent} is omitted", absent not in request, request
        )
    await cs.send(
        "Main step 3-4",
        "NotifyDisplayMessages",
        {"requestId": 7, "messageInfo": display.matching(request)},
    )
    cs.verdicts.equal("REST displayMessages", "listed", await shown_by_csms(cs, rest, "REST"), [m])
    cs.assert_passed()


async def test_tc_o_10_message_of_an_unknown_transaction(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_O_10_CSMS Specific transaction - UnknownTransaction (O02): the station answers
    UnknownTransaction; the CSMS keeps nothing."""
    await booted(cs)
    await energy_transfer_started(cs)
    await _set_case_after_start(cs, rest)
    cs.assert_passed()


async def _set_case_after_start(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    display = Display(cs)
    display.set_status = "UnknownTransaction"
    m = message(100, transactionId="no-such-transaction")
    got = await operator(cs, rest, "setDisplayMessage", {"message": m}, "Main step 1")
    cs.verdicts.equal("Main step 2", "status", got.get("status"), "UnknownTransaction")
    cs.verdicts.equal("REST displayMessages", "listed", await shown_by_csms(cs, rest, "REST"), [])


async def test_tc_o_11_get_unknown_display_message(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_O_11_CSMS Get a Specific Display Message - Unknown parameters (O04): an id other than
    the configured one; Unknown; the configured message stays listed."""
    await booted(cs)
    display = Display(cs)
    m = message(111)
    await configured(cs, rest, display, m)
    got = await operator(
        cs, rest, "getDisplayMessages", {"requestId": 11, "id": [112]}, "Main step 1"
    )
    cs.verdicts.equal("Main step 2", "status", got.get("status"), "Unknown")
    request = display.last("Main step 1", "GetDisplayMessages")
    cs.verdicts.fields("Main step 1 tool validation", request, {"id": [112], "requestId": 11})
    cs.verdicts.equal("REST displayMessages", "listed", await shown_by_csms(cs, rest, "REST"), [m])
    cs.assert_passed()


async def test_tc_o_12_replace_display_message(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_O_12_CSMS Replace DisplayMessage (O06): the same id with new content and parameters;
    Accepted; the CSMS lists only the new one."""
    await booted(cs)
    display = Display(cs)
    await configured(cs, rest, display, message(121))
    new = message(121, priority="InFront", state="Idle")
    new["message"] = {"format": "ASCII", "content": "replaced"}
    got = await operator(cs, rest, "setDisplayMessage", {"message": new}, "Main step 1")
    cs.verdicts.equal("Main step 2", "status", got.get("status"), "Accepted")
    cs.verdicts.fields(
        "Main step 1 tool validation",
        display.last("Main step 1", "SetDisplayMessage"),
        {"message": new},
    )
    cs.verdicts.equal(
        "REST displayMessages", "listed", await shown_by_csms(cs, rest, "REST"), [new]
    )
    cs.assert_passed()


@pytest.mark.parametrize(
    ("case", "fields", "answer"),
    [
        ("TC_O_13 Display message at StartTime", {"startDateTime": at(10)}, "Accepted"),
        ("TC_O_14 Remove message after EndTime", {"endDateTime": at(10)}, "Accepted"),
        ("TC_O_17 NotSupportedPriority", {"priority": "AlwaysFront"}, "NotSupportedPriority"),
        ("TC_O_18 NotSupportedState", {"state": "Faulted"}, "NotSupportedState"),
        (
            "TC_O_19 NotSupportedMessageFormat",
            {"message": {"format": "HTML", "content": "<b>x</b>"}},
            "NotSupportedMessageFormat",
        ),
        ("TC_O_25 Send Specific state", {"state": STATE}, "Accepted"),
        ("TC_O_26 Rejected", {"priority": "NormalCycle"}, "Rejected"),
    ],
)
async def test_tc_o_set_display_message_variants(
    cs: OcttStation, rest: httpx.AsyncClient, case: str, fields: JSON, answer: str
) -> None:
    """TC_O_13, 14, 17, 18, 19, 25, 26 (O01, O01.FR.05): the CSMS sends the message with the
    case's fields; the station answers as the case says; the CSMS keeps it only when
    Accepted."""
    m = message(random.randrange(1, 10_000), **fields)
    await _set_case(cs, rest, m, answer, {"id": m["id"], **fields})
    cs.assert_passed()
