"""A charging station that follows OCPP 2.0.1 as the OCTT simulates one, and the verdicts of a run.

:class:`OcttStation` sits on :class:`tests.e2e.station_sim.Station` (a real WebSocket, one CALL
of ours outstanding at a time, every frame checked against the official JSON schemas) and keeps
what a real station keeps between messages: its configuration (the EVSEs and connectors, the
configured evseId/connectorId, the valid idToken), where it is (authorized, EV connected,
energy flowing), its transaction (transactionId, seqNo) and its energy meter.

:class:`Verdicts` records every check of a run the way the OCTT reports one: a verdict per step,
and the run fails with the list of every step that failed. A CSMS that answers one step with a
CALLERROR (today NotifyEvent's NotSupported) still gets the rest of the scenario, so one red run
says everything that is wrong, not only the first thing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import itertools
import uuid
from collections.abc import Mapping
from typing import Any

import httpx

from tests.e2e.station_sim import CallErrorAnswer, Station, now

__all__ = ["ENERGY", "OcttStation", "Verdicts", "find_dicts", "wait_until_aligned"]

JSON = dict[str, Any]

#: The measurand of the station's energy register (SampledDataCtrlr.TxStartedMeasurands etc.).
ENERGY = "Energy.Active.Import.Register"
#: What the meter's register grows by between two transaction events while energy flows, in Wh.
WH_PER_STEP = 2500
_ABSENT = "<absent>"


def find_dicts(value: Any, wanted: Mapping[str, Any]) -> list[JSON]:
    """Every dict anywhere inside ``value`` whose items include ``wanted``'s (nested dicts in
    ``wanted`` match recursively): for answers whose envelope a check should not depend on."""

    def matches(candidate: Any, pattern: Any) -> bool:
        if isinstance(pattern, Mapping):
            return isinstance(candidate, Mapping) and all(
                key in candidate and matches(candidate[key], sub) for key, sub in pattern.items()
            )
        return bool(candidate == pattern)

    found: list[JSON] = []
    if isinstance(value, Mapping):
        if matches(value, wanted):
            found.append(dict(value))
        for item in value.values():
            found.extend(find_dicts(item, wanted))
    elif isinstance(value, list):
        for item in value:
            found.extend(find_dicts(item, wanted))
    return found


@dataclasses.dataclass
class _Check:
    step: str
    expectation: str
    problem: str | None  # None: passed


class Verdicts:
    """The checks of one run, in order; :meth:`assert_passed` fails with every failed one."""

    def __init__(self, case: str) -> None:
        self.case = case
        self.checks: list[_Check] = []
        self.reported = False

    def expect(self, step: str, expectation: str, ok: bool, actual: object = None) -> bool:
        """Record whether ``expectation`` held at ``step`` (``actual`` explains a failure)."""
        self.checks.append(_Check(step, expectation, None if ok else f"got {actual!r}"))
        return ok

    def equal(self, step: str, what: str, actual: object, expected: object) -> bool:
        return self.expect(step, f"{what} is {expected!r}", actual == expected, actual)

    def fields(self, step: str, actual: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
        """One check per expected field of a JSON object."""
        for key, value in expected.items():
            self.equal(step, key, actual.get(key, _ABSENT), value)

    def fail(self, step: str, expectation: str, problem: str) -> None:
        self.checks.append(_Check(step, expectation, problem))

    @property
    def failures(self) -> list[_Check]:
        return [c for c in self.checks if c.problem is not None]

    def report(self) -> str:
        failed = self.failures
        lines = [f"{self.case}: {len(failed)} of {len(self.checks)} checks failed"]
        lines += [f"  FAIL {c.step}: {c.expectation}: {c.problem}" for c in failed]
        return "\n".join(lines)

    def assert_passed(self) -> None:
        self.reported = True
        assert self.checks, f"{self.case}: nothing was checked"
        assert not self.failures, self.report()

    def stop_unless(self, step: str, expectation: str, ok: bool, actual: object = None) -> None:
        """A check the rest of the scenario cannot do without (the OCTT stops there too)."""
        if not self.expect(step, expectation, ok, actual):
            self.reported = True
            raise AssertionError(self.report() + f"\n(the scenario cannot go on after {step})")

    async def rest_get(
        self, rest: httpx.AsyncClient, step: str, path: str, params: Mapping[str, Any] | None = None
    ) -> JSON:
        """``GET path`` through Envoy; a failed check (and {}) unless it answers 200 with JSON."""
        resp = await rest.get(path, params=params)
        if not self.expect(step, f"GET {path} answers 200", resp.status_code == 200, resp.text):
            return {}
        body = resp.json()
        return body if isinstance(body, dict) else {}


@dataclasses.dataclass
class OcttStation:
    """A spec-following station, its configuration and where it is (see the module docstring)."""

    sim: Station
    verdicts: Verdicts
    # <Configured valid_idtoken_idtoken> / <Configured valid_idtoken_type>.
    id_token: JSON
    # Every EVSE and its connectors (ids), as the station's device model would say.
    evses: Mapping[int, tuple[int, ...]] = dataclasses.field(
        default_factory=lambda: {1: (1,), 2: (1,)}
    )
    # <Configured evseId> / <Configured connectorId>: where the test cases charge.
    evse_id: int = 1
    connector_id: int = 1
    model: str = "OCTT-E2E"
    vendor_name: str = "E2E"

    # Where the station is: the reusable states executed, in order, and their post conditions.
    history: list[str] = dataclasses.field(default_factory=list)
    authorized: bool = False
    ev_connected: bool = False
    energy_flowing: bool = False
    # The ongoing transaction (None outside one) and the last one, once ended.
    transaction_id: str | None = None
    last_transaction_id: str | None = None
    seq_no: int = 0
    # The energy meter of the configured EVSE: its register, and its reading at Transaction.Begin.
    register_wh: int = 12_000
    begin_wh: int = 0
    # Every TransactionEventRequest sent, in order.
    sent_events: list[JSON] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self._event_ids = itertools.count(1)

    @property
    def state(self) -> str | None:
        """The reusable state the station is in (the last one executed)."""
        return self.history[-1] if self.history else None

    def entered(self, state: str) -> None:
        self.history.append(state)

    # -- sending -------------------------------------------------------------------------------

    async def send(self, step: str, action: str, payload: JSON) -> JSON | None:
        """One CALL; a check that the CSMS answers it with a CALLRESULT (None if it does not)."""
        expectation = f"the CSMS responds with a {action}Response"
        try:
            answer = await self.sim.call(action, payload)
        except CallErrorAnswer as exc:
            self.verdicts.fail(step, expectation, f"CALLERROR {exc.code}: {exc.description}")
            return None
        except TimeoutError:
            self.verdicts.fail(step, expectation, "no answer within 10 s")
            return None
        self.verdicts.expect(step, expectation, True)
        return answer

    async def notify_connector(
        self, step: str, status: str, evse_id: int, connector_id: int
    ) -> None:
        """Part 6's "the OCTT notifies the CSMS about the status change of the connector":
        StatusNotificationRequest connectorStatus ``status``, then NotifyEventRequest trigger
        Delta, actualValue ``status``, component Connector (of that EVSE), variable
        AvailabilityState."""
        at = now()
        await self.send(
            step,
            "StatusNotification",
            {
                "timestamp": at,
                "connectorStatus": status,
                "evseId": evse_id,
                "connectorId": connector_id,
            },
        )
        await self.notify_event(
            step,
            {
                "timestamp": at,
                "trigger": "Delta",
                "actualValue": status,
                "eventNotificationType": "HardWiredNotification",
                "component": {
                    "name": "Connector",
                    "evse": {"id": evse_id, "connectorId": connector_id},
                },
                "variable": {"name": "AvailabilityState"},
            },
        )

    async def notify_event(self, step: str, *event_data: JSON) -> JSON | None:
        """One NotifyEventRequest (a single part: seqNo 0, tbc false) carrying ``event_data``."""
        return await self.send(
            step,
            "NotifyEvent",
            {
                "generatedAt": now(),
                "seqNo": 0,
                "eventData": [{"eventId": next(self._event_ids), **e} for e in event_data],
            },
        )

    def meter_value(self, context: str, wh: int | None = None, at: str | None = None) -> JSON:
        """One meterValue: the energy register (``wh``, else the configured EVSE's meter)."""
        return {
            "timestamp": at or now(),
            "sampledValue": [
                {
                    "value": self.register_wh if wh is None else wh,
                    "context": context,
                    "measurand": ENERGY,
                    "unitOfMeasure": {"unit": "Wh"},
                }
            ],
        }

    async def transaction_event(
        self,
        step: str,
        event_type: str,
        trigger_reason: str,
        *,
        charging_state: str | None = None,
        stopped_reason: str | None = None,
        id_token: bool = False,
        evse: bool = False,
    ) -> JSON | None:
        """One TransactionEventRequest of the station's transaction (a new one for Started).

        A Started event carries the register as Transaction.Begin (E02.FR.02: the measurands of
        SampledDataCtrlr.TxStartedMeasurands), an Ended event as Transaction.End. While energy
        flows the register grows by WH_PER_STEP from one event to the next.
        """
        if event_type == "Started":
            self.transaction_id = str(uuid.uuid4())
            self.seq_no = 0
        assert self.transaction_id is not None, f"{step}: {event_type} outside a transaction"
        if self.energy_flowing:
            self.register_wh += WH_PER_STEP
        info: JSON = {"transactionId": self.transaction_id}
        if charging_state is not None:
            info["chargingState"] = charging_state
        if stopped_reason is not None:
            info["stoppedReason"] = stopped_reason
        payload: JSON = {
            "eventType": event_type,
            "timestamp": now(),
            "triggerReason": trigger_reason,
            "seqNo": self.seq_no,
            "transactionInfo": info,
        }
        if id_token:
            payload["idToken"] = dict(self.id_token)
        if evse:
            payload["evse"] = {"id": self.evse_id, "connectorId": self.connector_id}
        if event_type == "Started":
            self.begin_wh = self.register_wh
            payload["meterValue"] = [self.meter_value("Transaction.Begin")]
        elif event_type == "Ended":
            payload["meterValue"] = [self.meter_value("Transaction.End")]
        self.seq_no += 1
        self.sent_events.append(payload)
        if charging_state is not None:
            self.energy_flowing = charging_state == "Charging"
        if event_type == "Ended":
            self.last_transaction_id, self.transaction_id = self.transaction_id, None
            self.energy_flowing = False
        return await self.send(step, "TransactionEvent", payload)

    def expect_accepted(self, step: str, response: str, answer: JSON | None) -> None:
        """Tool validation "<response> - idTokenInfo.status must be Accepted"."""
        if answer is None:
            return  # the CALLERROR is already a failed check of this step
        status = (answer.get("idTokenInfo") or {}).get("status", _ABSENT)
        self.verdicts.equal(step, f"{response} idTokenInfo.status", status, "Accepted")

    # -- the end of a run ----------------------------------------------------------------------

    def assert_passed(self) -> None:
        """Every check passed, and the CSMS broke no schema (its answers, its CALLs)."""
        for problem in self.sim.violations:
            self.verdicts.fail("any step", "the CSMS's frames follow the OCPP schemas", problem)
        self.verdicts.assert_passed()


async def wait_until_aligned(interval: int) -> str:
    """Sleep until the next multiple of ``interval`` seconds of UTC (a clock-aligned instant,
    as AlignedDataInterval defines them); that instant in OCPP's form."""
    current = datetime.datetime.now(datetime.UTC).timestamp()
    target = (int(current) // interval + 1) * interval
    await asyncio.sleep(target - current)
    aligned = datetime.datetime.fromtimestamp(target, datetime.UTC)
    return aligned.isoformat().replace("+00:00", "Z")
