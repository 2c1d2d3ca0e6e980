"""Part 6, functional block N (Diagnostics: monitoring), CSMS test cases.

The steps and tool validations are those of the public reimplementation tzi-OCTT
(``2.0.1/N/test_tc_n_NN_csms.py``: TC_N_01 to TC_N_03, TC_N_05, TC_N_08, TC_N_09, TC_N_16 to
TC_N_18, TC_N_21, TC_N_24, TC_N_44, TC_N_47 to TC_N_50, TC_N_60; the official Part 6 text was not
found). Each "the CSMS sends ..." is the operator's REST call (``:getMonitoringReport``,
``:setVariableMonitoring``, ``:clearVariableMonitoring``, ``:setMonitoringBase``,
``:setMonitoringLevel``, ``:getVariables``), whose answer is the station's own. The OCTT's
station (:class:`MonitoringStation`) keeps its monitors as Part 2 chapter N asks a station to and
answers from them; the verdicts check what the CSMS sent (the tool validations), that the
station's answers reach the operator, and, beyond the cases, what the CSMS then lists: the
monitors it knows the station holds (``GET /v1/chargingStations/{id}/monitors``), the events it
stored (``GET /v1/events``) and the alerts it raised (``GET /v1/alerts``: events of a monitor of
severity 2 or more severe).
"""

from __future__ import annotations

import datetime
import itertools
import random
from collections.abc import Iterable
from typing import Any

import httpx
import pytest

from tests.e2e.octt.states import booted
from tests.e2e.octt.station import OcttStation
from tests.e2e.station_sim import now

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]

# The components and variables of the cases (<Configured evseId> is the station's evse_id, 1).
CS_POWER = {"component": {"name": "ChargingStation"}, "variable": {"name": "Power"}}
CS_AVAILABILITY = {
    "component": {"name": "ChargingStation"},
    "variable": {"name": "AvailabilityState"},
}
EVSE_AVAILABILITY = {
    "component": {"name": "EVSE", "evse": {"id": 1}},
    "variable": {"name": "AvailabilityState"},
}
EVSE_POWER = {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}}
CS_TEMPERATURE = {"component": {"name": "ChargingStation"}, "variable": {"name": "Temperature"}}

# Which monitor types a monitoringCriterion asks for (MonitoringCriterionEnumType).
CRITERION_TYPES = {
    "ThresholdMonitoring": {"UpperThreshold", "LowerThreshold"},
    "DeltaMonitoring": {"Delta"},
    "PeriodicMonitoring": {"Periodic", "PeriodicClockAligned"},
}


def monitor(place: JSON, type_: str, value: float, severity: int, **extra: Any) -> JSON:
    """A SetMonitoringData entry (without id: the station gives one)."""
    return {"value": value, "type": type_, "severity": severity, **place, **extra}


def own(id_: int, place: JSON, type_: str, value: float, severity: int, kind: str) -> JSON:
    """A monitor of the station's own: ``kind`` HardWired or Preconfigured."""
    return {"id": id_, "transaction": False, **monitor(place, type_, value, severity), "kind": kind}


class MonitoringStation:
    """The OCTT station's monitors (Part 2, chapter N), kept by id, and what it received.

    - SetVariableMonitoring: each entry Accepted as a custom monitor, with a new id (or the one
      given: a replacement), unless the case makes it answer otherwise.
    - ClearVariableMonitoring: a custom monitor is cleared (Accepted), one of its own is not
      (Rejected), an unknown id is NotFound.
    - GetMonitoringReport: Accepted when some active monitor matches (componentVariable: the
      component by name and EVSE, the variable by name, every variable when none is given;
      monitoringCriteria: the types they stand for), else EmptyResultSet; :meth:`report_parts`
      are then its NotifyMonitoringReport parts.
    - SetMonitoringBase: All and FactoryDefault activate its preconfigured monitors, HardWiredOnly
      clears the custom monitors and disables the preconfigured ones (MonitoringBaseEnumType).
    - SetMonitoringLevel: Accepted for a severity 0 to 9.
    """

    def __init__(self, cs: OcttStation, owned: Iterable[JSON] = ()) -> None:
        self.cs = cs
        self.held: dict[int, JSON] = {m["id"]: dict(m) for m in owned}
        self.disabled: dict[int, JSON] = {}
        self.ids = itertools.count(100)
        self.received: list[tuple[str, JSON]] = []
        # A status the case makes the station answer instead of its own, by action.
        self.forced: dict[str, str] = {}
        self.level = 9
        handlers = {
            "SetVariableMonitoring": self._set,
            "ClearVariableMonitoring": self._clear,
            "GetMonitoringReport": self._report,
            "SetMonitoringBase": self._base,
            "SetMonitoringLevel": self._level,
        }
        for action, handler in handlers.items():
            cs.sim.answer(action, self._logged(action, handler))

    def _logged(self, action: str, handler: Any) -> Any:
        def answer(request: JSON) -> JSON:
            self.received.append((action, request))
            return dict(handler(request))

        return answer

    def _set(self, request: JSON) -> JSON:
        results = []
        for data in request["setMonitoringData"]:
            status = self.forced.get("SetVariableMonitoring", "Accepted")
            result: JSON = {
                "status": status,
                "type": data["type"],
                "severity": data["severity"],
                "component": data["component"],
                "variable": data["variable"],
            }
            if status == "Accepted":
                id_ = data.get("id", next(self.ids))
                self.held[id_] = {
                    "id": id_,
                    "transaction": data.get("transaction", False),
                    **{k: data[k] for k in ("value", "type", "severity", "component", "variable")},
                    "kind": "Custom",
                }
                result["id"] = id_
            results.append(result)
        return {"setMonitoringResult": results}

    def _clear(self, request: JSON) -> JSON:
        results = []
        for id_ in request["id"]:
            held = self.held.get(id_)
            if "ClearVariableMonitoring" in self.forced:
                status = self.forced["ClearVariableMonitoring"]
            elif held is None:
                status = "NotFound"
            elif held["kind"] != "Custom":
                status = "Rejected"
            else:
                status = "Accepted"
            if status == "Accepted":
                del self.held[id_]
            results.append({"id": id_, "status": status})
        return {"clearMonitoringResult": results}

    def matching(self, request: JSON) -> list[JSON]:
        """The active monitors a GetMonitoringReportRequest asks for, by id."""
        wanted = request.get("componentVariable")
        criteria = request.get("monitoringCriteria")
        types = set().union(*(CRITERION_TYPES[c] for c in criteria)) if criteria else None

        def asked(m: JSON) -> bool:
            if types is not None and m["type"] not in types:
                return False
            if not wanted:
                return True
            for cv in wanted:
                component, have = cv["component"], m["component"]
                if component["name"] != have["name"]:
                    continue
                if "evse" in component and component["evse"] != have.get("evse"):
                    continue
                variable = cv.get("variable")
                if variable is None or variable["name"] == m["variable"]["name"]:
                    return True
            return False

        return [m for _, m in sorted(self.held.items()) if asked(m)]

    def _report(self, request: JSON) -> JSON:
        return {"status": "Accepted" if self.matching(request) else "EmptyResultSet"}

    def report_parts(self, request: JSON, per_part: int = 10) -> list[JSON]:
        """The NotifyMonitoringReport parts of an Accepted GetMonitoringReport: the matching
        monitors, ``per_part`` at a time, grouped by component and variable; tbc on all but the
        last."""
        monitors = self.matching(request)
        chunks = [monitors[i : i + per_part] for i in range(0, len(monitors), per_part)]
        parts = []
        for seq_no, chunk in enumerate(chunks):
            grouped: list[JSON] = []
            for m in chunk:
                entry = {
                    "id": m["id"],
                    "transaction": m["transaction"],
                    "value": m["value"],
                    "type": m["type"],
                    "severity": m["severity"],
                }
                same = [
                    g
                    for g in grouped
                    if (g["component"], g["variable"]) == (m["component"], m["variable"])
                ]
                if same:
                    same[0]["variableMonitoring"].append(entry)
                else:
                    grouped.append(
                        {
                            "component": m["component"],
                            "variable": m["variable"],
                            "variableMonitoring": [entry],
                        }
                    )
            parts.append(
                {
                    "requestId": request["requestId"],
                    "seqNo": seq_no,
                    "generatedAt": now(),
                    "tbc": seq_no < len(chunks) - 1,
                    "monitor": grouped,
                }
            )
        return parts

    def _base(self, request: JSON) -> JSON:
        status = self.forced.get("SetMonitoringBase", "Accepted")
        if status == "Accepted":
            base = request["monitoringBase"]
            if base == "HardWiredOnly":
                for id_, m in list(self.held.items()):
                    if m["kind"] == "Custom":
                        del self.held[id_]
                    elif m["kind"] == "Preconfigured":
                        self.disabled[id_] = self.held.pop(id_)
            else:
                self.held.update(self.disabled)
                self.disabled.clear()
        return {"status": status}

    def _level(self, request: JSON) -> JSON:
        status = self.forced.get(
            "SetMonitoringLevel", "Accepted" if 0 <= request["severity"] <= 9 else "Rejected"
        )
        if status == "Accepted":
            self.level = request["severity"]
        return {"status": status}

    def lose(self, id_: int) -> None:
        """The station no longer holds this monitor (its custom monitors were lost, e.g. at a
        reset that did not keep them), without the CSMS being told."""
        del self.held[id_]

    def requests(self, action: str) -> list[JSON]:
        return [r for a, r in self.received if a == action]

    def last(self, step: str, action: str) -> JSON:
        """The last request of ``action`` the station received (a verdict that it did)."""
        got = self.requests(action)
        self.cs.verdicts.expect(step, f"the CSMS sends a {action}Request", bool(got))
        return got[-1] if got else {}

    def as_listed(self, source: dict[int, str]) -> list[JSON]:
        """What the CSMS should list of the held monitors named in ``source`` (id → source)."""
        return [
            listing(self.held[id_], src) for id_, src in sorted(source.items()) if id_ in self.held
        ]


def listing(m: JSON, source: str) -> JSON:
    """A monitor as compared with ``GET .../monitors``."""
    return {
        "component": m["component"],
        "variable": m["variable"],
        "id": m["id"],
        "type": m["type"],
        "value": m["value"],
        "severity": m["severity"],
        "transaction": m["transaction"],
        "source": source,
    }


async def operator(
    cs: OcttStation, rest: httpx.AsyncClient, verb: str, body: JSON, step: str
) -> JSON:
    """The CSMS is asked over REST; the station's answer back."""
    resp = await rest.post(f"/v1/chargingStations/{cs.sim.station_id}:{verb}", json=body)
    cs.verdicts.expect(step, f"REST :{verb} answers 200", resp.status_code == 200, resp.text)
    return dict(resp.json()) if resp.status_code == 200 else {}


async def listed(cs: OcttStation, rest: httpx.AsyncClient, step: str) -> list[JSON]:
    """The monitors the CSMS lists for the station, by id."""
    body = await cs.verdicts.rest_get(
        rest, f"REST monitors ({step})", f"/v1/chargingStations/{cs.sim.station_id}/monitors"
    )
    return [
        {
            "component": m.get("component"),
            "variable": m.get("variable"),
            **m.get("variableMonitoring", {}),
            "source": m.get("source"),
        }
        for m in body.get("monitors", [])
    ]


async def check_listed(
    cs: OcttStation, rest: httpx.AsyncClient, step: str, expected: list[JSON]
) -> None:
    got = await listed(cs, rest, step)
    cs.verdicts.equal(f"REST monitors ({step})", "the monitors the CSMS lists", got, expected)


async def events(cs: OcttStation, rest: httpx.AsyncClient, step: str, **filters: Any) -> list[JSON]:
    """The station's events the CSMS lists (newest first), their eventData."""
    body = await cs.verdicts.rest_get(
        rest, f"REST events ({step})", "/v1/events", {"stationId": cs.sim.station_id, **filters}
    )
    return [e.get("eventData", {}) for e in body.get("events", [])]


async def alerts(cs: OcttStation, rest: httpx.AsyncClient, step: str) -> list[JSON]:
    body = await cs.verdicts.rest_get(
        rest, f"REST alerts ({step})", "/v1/alerts", {"stationId": cs.sim.station_id}
    )
    return list(body.get("alerts", []))


async def set_monitors(
    cs: OcttStation, rest: httpx.AsyncClient, step: str, *entries: JSON
) -> list[int]:
    """Memory state "monitors set through the CSMS": their ids (the station accepts them)."""
    got = await operator(
        cs, rest, "setVariableMonitoring", {"setMonitoringData": list(entries)}, step
    )
    results = got.get("setMonitoringResult", [])
    cs.verdicts.equal(
        step, "the statuses", [r.get("status") for r in results], ["Accepted"] * len(entries)
    )
    return [r.get("id", -1) for r in results]


async def learn_all(cs: OcttStation, rest: httpx.AsyncClient, station: MonitoringStation) -> None:
    """Memory state "the CSMS knows the station's monitors": a GetMonitoringReport of all, the
    station's report sent."""
    request = {"requestId": random.randrange(1, 2**30)}
    got = await operator(cs, rest, "getMonitoringReport", request, "Memory state")
    cs.verdicts.equal("Memory state", "GetMonitoringReportResponse", got, {"status": "Accepted"})
    for part in station.report_parts(request):
        await cs.send("Memory state", "NotifyMonitoringReport", part)


def validate_criteria(cs: OcttStation, step: str, sent: JSON, asked: JSON) -> None:
    """The tool validation of a GetMonitoringReportRequest: the criteria asked, the others
    omitted."""
    cs.verdicts.fields(f"{step} tool validation", sent, asked)
    for absent in {"monitoringCriteria", "componentVariable"} - set(asked):
        cs.verdicts.expect(
            f"{step} tool validation", f"{absent} is omitted", absent not in sent, sent
        )


# -- N02: Get Monitoring Report ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "empty", "accepted", "lost", "aside", "owned"),
    [
        (
            "TC_N_01 with monitoringCriteria",
            {"monitoringCriteria": ["DeltaMonitoring"]},
            {"monitoringCriteria": ["ThresholdMonitoring"]},
            monitor(CS_AVAILABILITY, "Delta", 1, 8),
            monitor(EVSE_POWER, "Periodic", 300, 8),
            own(1, CS_POWER, "UpperThreshold", 100_000, 5, "Preconfigured"),
        ),
        (
            "TC_N_02 with component/variable",
            {"componentVariable": [CS_POWER]},
            {"componentVariable": [EVSE_AVAILABILITY]},
            monitor(CS_POWER, "UpperThreshold", 50_000, 4),
            monitor(CS_AVAILABILITY, "Delta", 1, 8),
            own(1, EVSE_AVAILABILITY, "Delta", 1, 5, "HardWired"),
        ),
        (
            "TC_N_03 with component criteria and component/variable",
            {"monitoringCriteria": ["DeltaMonitoring"], "componentVariable": [EVSE_AVAILABILITY]},
            {"monitoringCriteria": ["ThresholdMonitoring"], "componentVariable": [CS_POWER]},
            monitor(EVSE_AVAILABILITY, "Delta", 1, 8),
            monitor(CS_AVAILABILITY, "Delta", 1, 8),
            own(1, CS_POWER, "UpperThreshold", 100_000, 5, "Preconfigured"),
        ),
        (
            "TC_N_60 with component criteria and list of components/variables",
            {
                "monitoringCriteria": ["DeltaMonitoring"],
                "componentVariable": [CS_AVAILABILITY, EVSE_AVAILABILITY],
            },
            {
                "monitoringCriteria": ["ThresholdMonitoring"],
                "componentVariable": [CS_AVAILABILITY, EVSE_AVAILABILITY],
            },
            monitor(CS_AVAILABILITY, "Delta", 1, 8),
            monitor(CS_POWER, "UpperThreshold", 50_000, 4),
            own(1, EVSE_AVAILABILITY, "UpperThreshold", 1, 5, "Preconfigured"),
        ),
    ],
    ids=["TC_N_01", "TC_N_02", "TC_N_03", "TC_N_60"],
)
async def test_tc_n_01_02_03_60_get_monitoring_report_with_criteria(
    cs: OcttStation,
    rest: httpx.AsyncClient,
    case: str,
    empty: JSON,
    accepted: JSON,
    lost: JSON,
    aside: JSON,
    owned: JSON,
) -> None:
    """TC_N_01, TC_N_02, TC_N_03, TC_N_60 (N02, N02.FR.05, N02.FR.10): 1. the CSMS sends a
    GetMonitoringReportRequest with the first criteria (tool validation: those, the other one
    omitted), 2. the station answers EmptyResultSet, 3. a GetMonitoringReportRequest with the
    second criteria (tool validation likewise), 4. Accepted, 5. the station sends its
    NotifyMonitoringReportRequest, 6. the CSMS answers it.

    The station holds a monitor of its own that only the second request asks for; the CSMS had
    set a monitor the first request asks for, which the station has since lost, and one neither
    asks for, which it keeps. The CSMS then forgets the lost one once the station answered
    EmptyResultSet, keeps the other, and lists the reported one as the station's. (For TC_N_60
    the station's own monitor is a threshold on the EVSE's AvailabilityState, so that the second
    request is Accepted as the OCTT answers it.)"""
    await booted(cs)
    station = MonitoringStation(cs, [owned])
    lost_id, aside_id = await set_monitors(cs, rest, "Memory state", lost, aside)
    station.lose(lost_id)

    request = {"requestId": random.randrange(1, 2**30), **empty}
    got = await operator(cs, rest, "getMonitoringReport", request, "Main step 1")
    cs.verdicts.equal("Main step 2", "the station's answer", got, {"status": "EmptyResultSet"})
    sent = station.last("Main step 1", "GetMonitoringReport")
    validate_criteria(cs, "Main step 1", sent, {"requestId": request["requestId"], **empty})
    await check_listed(cs, rest, "after EmptyResultSet", station.as_listed({aside_id: "CSMS"}))

    request = {"requestId": request["requestId"] + 1, **accepted}
    got = await operator(cs, rest, "getMonitoringReport", request, "Main step 3")
    cs.verdicts.equal("Main step 4", "the station's answer", got, {"status": "Accepted"})
    sent = station.last("Main step 3", "GetMonitoringReport")
    validate_criteria(cs, "Main step 3", sent, {"requestId": request["requestId"], **accepted})
    parts = station.report_parts(request)
    cs.verdicts.stop_unless("Main step 5", "the station has a report to send", bool(parts))
    for part in parts:
        answer = await cs.send("Main steps 5-6", "NotifyMonitoringReport", part)
        cs.verdicts.equal("Main step 6", "NotifyMonitoringReportResponse", answer, {})
    await check_listed(
        cs,
        rest,
        "after the report",
        station.as_listed({owned["id"]: "Station", aside_id: "CSMS"}),
    )
    cs.assert_passed()


async def test_tc_n_47_get_monitoring_report_all(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_N_47_CSMS Get Monitoring report - Report all (N02): 1. the CSMS sends a
    GetMonitoringReportRequest (tool validation: monitoringCriteria and componentVariable
    omitted), 2. Accepted, 3-4. the station's NotifyMonitoringReportRequest parts (tbc true but
    the last), each answered.

    The station holds two monitors of its own, and one the CSMS set; another the CSMS set it has
    lost. The CSMS lists what the station reported (as the station's), and forgets the lost one
    once the last part came, not before."""
    await booted(cs)
    station = MonitoringStation(
        cs,
        [
            own(1, CS_POWER, "UpperThreshold", 100_000, 2, "HardWired"),
            own(2, EVSE_AVAILABILITY, "Delta", 1, 5, "Preconfigured"),
        ],
    )
    lost_id, kept_id = await set_monitors(
        cs,
        rest,
        "Memory state",
        monitor(CS_AVAILABILITY, "Delta", 1, 8),
        monitor(CS_TEMPERATURE, "UpperThreshold", 60, 4),
    )
    station.lose(lost_id)
    request = {"requestId": random.randrange(1, 2**30)}
    got = await operator(cs, rest, "getMonitoringReport", request, "Main step 1")
    cs.verdicts.equal("Main step 2", "the station's answer", got, {"status": "Accepted"})
    validate_criteria(cs, "Main step 1", station.last("Main step 1", "GetMonitoringReport"), {})
    parts = station.report_parts(request, per_part=2)
    cs.verdicts.equal("Main step 3", "the station's parts", len(parts), 2)
    for i, part in enumerate(parts):
        answer = await cs.send("Main steps 3-4", "NotifyMonitoringReport", part)
        cs.verdicts.equal("Main step 4", "NotifyMonitoringReportResponse", answer, {})
        if part["tbc"]:
            ids = [m["id"] for m in await listed(cs, rest, f"after part {i}")]
            cs.verdicts.expect(
                "REST monitors (tbc)",
                "the lost monitor is listed until the report ends",
                lost_id in ids,
                ids,
            )
    await check_listed(
        cs,
        rest,
        "after the report",
        station.as_listed({1: "Station", 2: "Station", kept_id: "Station"}),
    )
    cs.assert_passed()


# -- N03: Set Monitoring Base --------------------------------------------------------------------


async def test_tc_n_05_set_monitoring_base(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_N_05_CSMS Set Monitoring Base - success (N03, N03.FR.03 to N03.FR.05): the CSMS sends
    SetMonitoringBaseRequest monitoringBase All (1), FactoryDefault (3), HardWiredOnly (5); the
    station answers each Accepted (2, 4, 6); tool validations: the monitoringBase of each.

    Beyond the case: the CSMS knows the station's hard-wired monitor (from a report) and a
    custom one it set afterwards. All and FactoryDefault leave the custom monitor; HardWiredOnly
    clears every custom monitor (MonitoringBaseEnumType: "Clears all custom monitors and
    disables all pre-configured monitors"), so the CSMS then lists only the hard-wired one."""
    await booted(cs)
    station = MonitoringStation(cs, [own(1, CS_POWER, "UpperThreshold", 100_000, 2, "HardWired")])
    await learn_all(cs, rest, station)
    (custom_id,) = await set_monitors(
        cs, rest, "Memory state", monitor(CS_TEMPERATURE, "UpperThreshold", 60, 4)
    )
    sources = {1: "Station", custom_id: "CSMS"}
    for step, base in ((1, "All"), (3, "FactoryDefault"), (5, "HardWiredOnly")):
        got = await operator(
            cs, rest, "setMonitoringBase", {"monitoringBase": base}, f"Step {step}"
        )
        cs.verdicts.equal(f"Step {step + 1}", "the station's answer", got, {"status": "Accepted"})
        sent = station.last(f"Step {step}", "SetMonitoringBase")
        cs.verdicts.fields(f"Step {step} tool validation", sent, {"monitoringBase": base})
        await check_listed(cs, rest, f"after {base}", station.as_listed(sources))
    cs.verdicts.equal("Step 6", "the station's monitors", sorted(station.held), [1])
    cs.assert_passed()


# -- N04: Set Variable Monitoring ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "entries"),
    [
        ("TC_N_08 One SetMonitoringData element", [monitor(EVSE_AVAILABILITY, "Delta", 1, 8)]),
        (
            "TC_N_09 Multiple elements on different component and variable",
            [monitor(EVSE_AVAILABILITY, "Delta", 1, 8), monitor(CS_AVAILABILITY, "Delta", 1, 8)],
        ),
    ],
    ids=["TC_N_08", "TC_N_09"],
)
async def test_tc_n_08_09_set_variable_monitoring(
    cs: OcttStation, rest: httpx.AsyncClient, case: str, entries: list[JSON]
) -> None:
    """TC_N_08, TC_N_09 (N04, N04.FR.01, N04.FR.02, N04.FR.17): 1. the CSMS sends a
    SetVariableMonitoringRequest (tool validations: each setMonitoringData's value 1, type Delta,
    severity 8, component and variable as configured: EVSE <configured evseId> and, for N_09,
    ChargingStation, variable AvailabilityState), 2. the station answers Accepted for each. The
    results (one per entry, same component and variable) reach the operator; the CSMS lists the
    monitors with the station's ids as its own (source CSMS)."""
    await booted(cs)
    station = MonitoringStation(cs)
    got = await operator(
        cs, rest, "setVariableMonitoring", {"setMonitoringData": entries}, "Main step 1"
    )
    sent = station.last("Main step 1", "SetVariableMonitoring").get("setMonitoringData", [])
    cs.verdicts.equal(
        "Main step 1 tool validation", "setMonitoringData count", len(sent), len(entries)
    )
    for i, (data, entry) in enumerate(zip(sent, entries, strict=False)):
        cs.verdicts.fields(f"Main step 1 tool validation [{i}]", data, entry)
    results = got.get("setMonitoringResult", [])
    cs.verdicts.equal(
        "Main step 2",
        "the results reaching the operator (status, component, variable)",
        [(r.get("status"), r.get("component"), r.get("variable")) for r in results],
        [("Accepted", e["component"], e["variable"]) for e in entries],
    )
    ids = [r.get("id") for r in results]
    cs.verdicts.equal("Main step 2", "the ids given", sorted(ids), sorted(station.held))
    await check_listed(cs, rest, "after the set", station.as_listed(dict.fromkeys(ids, "CSMS")))
    cs.assert_passed()


# -- N05: Set Monitoring Level -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "answer"),
    [("TC_N_16 Success", None), ("TC_N_17 Out of range", "Rejected")],
    ids=["TC_N_16", "TC_N_17"],
)
async def test_tc_n_16_17_set_monitoring_level(
    cs: OcttStation, rest: httpx.AsyncClient, case: str, answer: str | None
) -> None:
    """TC_N_16 (N05.FR.01), TC_N_17 (N05.FR.02): 1. the CSMS sends SetMonitoringLevelRequest
    severity 4 (tool validation), 2. the station answers Accepted (TC_N_16), or Rejected
    (TC_N_17: the OCTT always rejects it); the station's answer reaches the operator."""
    await booted(cs)
    station = MonitoringStation(cs)
    if answer is not None:
        station.forced["SetMonitoringLevel"] = answer
    got = await operator(cs, rest, "setMonitoringLevel", {"severity": 4}, "Main step 1")
    cs.verdicts.equal("Main step 2", "the station's answer", got, {"status": answer or "Accepted"})
    cs.verdicts.fields(
        "Main step 1 tool validation",
        station.last("Main step 1", "SetMonitoringLevel"),
        {"severity": 4},
    )
    cs.verdicts.equal("Main step 2", "the station's level", station.level, 9 if answer else 4)
    cs.assert_passed()


# -- N06: Clear Variable Monitoring --------------------------------------------------------------

ITEMS_PER_CLEAR = 3


async def test_tc_n_18_clear_monitoring_too_many_elements(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_N_18_CSMS Clear Monitoring - Too many elements (N06.FR.04): 1. the CSMS sends
    GetVariablesRequest MonitoringCtrlr.ItemsPerMessage, instance ClearVariableMonitoring, 2. the
    station answers 3; the CSMS is then asked to clear more monitors than that (5), 3. it sends
    two or more ClearVariableMonitoringRequests, none with more than 3 ids (tool validation),
    4. the station answers each. Beyond: every monitor's result reaches the operator, and the
    CSMS lists none of them any more."""
    await booted(cs)
    station = MonitoringStation(cs)
    cs.sim.variables[("MonitoringCtrlr", "ItemsPerMessage", "Actual")] = str(ITEMS_PER_CLEAR)
    ids = await set_monitors(
        cs,
        rest,
        "Memory state",
        *(monitor(CS_TEMPERATURE, "UpperThreshold", 60 + i, 4) for i in range(5)),
    )
    item = {
        "component": {"name": "MonitoringCtrlr"},
        "variable": {"name": "ItemsPerMessage", "instance": "ClearVariableMonitoring"},
        "attributeType": "Actual",
    }
    got = await operator(cs, rest, "getVariables", {"getVariableData": [item]}, "Main step 1")
    cs.verdicts.equal(
        "Main step 2",
        "the station's ItemsPerMessage",
        [r.get("attributeValue") for r in got.get("getVariableResult", [])],
        [str(ITEMS_PER_CLEAR)],
    )
    got = await operator(cs, rest, "clearVariableMonitoring", {"id": ids}, "Main step 3")
    sent = station.requests("ClearVariableMonitoring")
    cs.verdicts.expect(
        "Main step 3 tool validation",
        "two or more ClearVariableMonitoringRequests",
        len(sent) >= 2,
        sent,
    )
    cs.verdicts.expect(
        "Main step 3 tool validation",
        f"no request has more than {ITEMS_PER_CLEAR} ids",
        all(len(r["id"]) <= ITEMS_PER_CLEAR for r in sent),
        sent,
    )
    cs.verdicts.equal(
        "Main step 3", "the ids sent, together", sorted(i for r in sent for i in r["id"]), ids
    )
    cs.verdicts.equal(
        "Main step 4",
        "the results reaching the operator",
        sorted((r.get("id"), r.get("status")) for r in got.get("clearMonitoringResult", [])),
        [(i, "Accepted") for i in ids],
    )
    await check_listed(cs, rest, "after the clear", [])
    cs.assert_passed()


async def test_tc_n_44_clear_monitoring_rejected(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_N_44_CSMS Clear Monitoring - Rejected (N06): 1. the CSMS sends a
    ClearVariableMonitoringRequest (with the id of a monitor it set), 2. the station answers
    clearMonitoringResult[0].status Rejected. The answer reaches the operator; the CSMS still
    lists the monitor (the station keeps it)."""
    await booted(cs)
    station = MonitoringStation(cs)
    (id_,) = await set_monitors(cs, rest, "Memory state", monitor(EVSE_AVAILABILITY, "Delta", 1, 8))
    station.forced["ClearVariableMonitoring"] = "Rejected"
    got = await operator(cs, rest, "clearVariableMonitoring", {"id": [id_]}, "Main step 1")
    cs.verdicts.equal(
        "Main step 1", "id", station.last("Main step 1", "ClearVariableMonitoring").get("id"), [id_]
    )
    cs.verdicts.equal(
        "Main step 2",
        "the station's answer",
        got,
        {"clearMonitoringResult": [{"id": id_, "status": "Rejected"}]},
    )
    await check_listed(cs, rest, "after the refusal", station.as_listed({id_: "CSMS"}))
    cs.assert_passed()


# -- N07 / N08: events ---------------------------------------------------------------------------


def event(place: JSON, trigger: str, value: str, kind: str, **extra: Any) -> JSON:
    """One eventData of the station (its NotifyEventRequest numbers it), stamped to the
    millisecond as OCPP's dateTimes are."""
    moment = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
    return {
        "timestamp": moment.replace("+00:00", "Z"),
        "trigger": trigger,
        "actualValue": value,
        "eventNotificationType": kind,
        **place,
        **extra,
    }


async def notify(cs: OcttStation, step: str, *data: JSON) -> None:
    """The station's NotifyEventRequest; tool validation: an empty NotifyEventResponse."""
    answer = await cs.notify_event(step, *data)
    if answer is not None:
        cs.verdicts.equal(f"{step} tool validation", "NotifyEventResponse", answer, {})


def stored(got: list[JSON], sent: JSON) -> bool:
    """The event the station sent is among those the CSMS lists, as sent."""
    return any(all(e.get(k) == v for k, v in sent.items()) for e in got)


async def test_tc_n_21_alert_event_hard_wired_monitor(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_N_21_CSMS Alert Event - HardWiredMonitor (N07.FR.03): 1. the station sends a
    NotifyEventRequest, eventNotificationType HardWiredMonitor, 2. the CSMS answers with an empty
    NotifyEventResponse (tool validation).

    Beyond: the CSMS learnt the station's hard-wired monitor (severity 2, System Failure) from a
    report; it stores the event and raises one alert of that monitor."""
    await booted(cs)
    station = MonitoringStation(cs, [own(1, EVSE_AVAILABILITY, "Delta", 1, 2, "HardWired")])
    await learn_all(cs, rest, station)
    sent = event(EVSE_AVAILABILITY, "Delta", "Faulted", "HardWiredMonitor", variableMonitoringId=1)
    await notify(cs, "Main steps 1-2", sent)
    got = await events(cs, rest, "after the event", component="EVSE")
    cs.verdicts.expect("REST events", "the event is stored as sent", stored(got, sent), got)
    raised = [
        (a.get("monitorId"), a.get("severity"), a.get("actualValue"), a.get("trigger"))
        for a in await alerts(cs, rest, "after the event")
    ]
    cs.verdicts.equal("REST alerts", "the alerts raised", raised, [(1, 2, "Faulted", "Delta")])
    cs.assert_passed()


async def test_tc_n_24_periodic_event(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_N_24_CSMS Set Variable Monitoring - Periodic event (N08.FR.02): 1. the station sends a
    NotifyEventRequest (trigger Periodic), 2. the CSMS answers with an empty NotifyEventResponse
    (tool validation); repeated (3 times here).

    Beyond: the events come from a Periodic monitor the CSMS set (severity 8); it stores all
    three, newest first, and raises no alert (severity 8 is no alert)."""
    await booted(cs)
    MonitoringStation(cs)
    (id_,) = await set_monitors(cs, rest, "Memory state", monitor(EVSE_POWER, "Periodic", 60, 8))
    sent = [
        event(EVSE_POWER, "Periodic", str(7000 + i), "CustomMonitor", variableMonitoringId=id_)
        for i in range(3)
    ]
    for i, data in enumerate(sent):
        await notify(cs, f"Main steps 1-2 ({i + 1})", data)
    got = await events(cs, rest, "after the events", trigger="Periodic", component="EVSE")
    cs.verdicts.equal(
        "REST events",
        "the periodic values, newest first",
        [e.get("actualValue") for e in got],
        [d["actualValue"] for d in reversed(sent)],
    )
    cs.verdicts.equal("REST alerts", "the alerts raised", await alerts(cs, rest, "after"), [])
    cs.assert_passed()


async def test_tc_n_48_event_of_write_only_variable(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_N_48_CSMS Alert Event - Variable monitoring on write only (N07): 1. the station sends
    a NotifyEventRequest whose actualValue is empty (a write-only variable's value is not
    reported), 2. the CSMS answers. Beyond: it stores the event, with its empty actualValue."""
    await booted(cs)
    sent = event(EVSE_AVAILABILITY, "Alerting", "", "HardWiredMonitor")
    await notify(cs, "Main steps 1-2", sent)
    got = await events(cs, rest, "after the event", component="EVSE", trigger="Alerting")
    cs.verdicts.expect("REST events", "the event is stored as sent", stored(got, sent), got)
    cs.assert_passed()


async def test_tc_n_49_threshold_cleared_after_reboot(
    cs: OcttStation, rest: httpx.AsyncClient
) -> None:
    """TC_N_49_CSMS Alert Event - LowerThreshold/UpperThreshold cleared after reboot (N07): 1. the
    station sends a NotifyEventRequest with cleared true, 2. the CSMS answers.

    Here the threshold is an UpperThreshold monitor the CSMS set (severity 4); it was exceeded,
    the station rebooted (Booted again) and reports the condition cleared. The CSMS stores both
    events, the second with cleared true; neither is an alert (severity 4)."""
    await booted(cs)
    MonitoringStation(cs)
    (id_,) = await set_monitors(
        cs, rest, "Memory state", monitor(CS_TEMPERATURE, "UpperThreshold", 60, 4)
    )
    exceeded = event(CS_TEMPERATURE, "Alerting", "71", "CustomMonitor", variableMonitoringId=id_)
    await notify(cs, "Memory state", exceeded)
    await booted(cs)
    cleared = event(
        CS_TEMPERATURE,
        "Alerting",
        "55",
        "CustomMonitor",
        variableMonitoringId=id_,
        cleared=True,
    )
    await notify(cs, "Main steps 1-2", cleared)
    got = await events(cs, rest, "after the events", variable="Temperature")
    cs.verdicts.expect("REST events", "the cleared event is stored", stored(got, cleared), got)
    cs.verdicts.expect("REST events", "the exceeding event is stored", stored(got, exceeded), got)
    cs.verdicts.equal("REST alerts", "the alerts raised", await alerts(cs, rest, "after"), [])
    cs.assert_passed()


async def test_tc_n_50_periodic_triggered_event(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_N_50_CSMS Alert Event - Periodic Triggered (N07): 1. the station sends a
    NotifyEventRequest with trigger Periodic (of a hard-wired monitor), 2. the CSMS answers.
    Beyond: it stores the event."""
    await booted(cs)
    sent = event(EVSE_AVAILABILITY, "Periodic", "42", "HardWiredMonitor")
    await notify(cs, "Main steps 1-2", sent)
    got = await events(cs, rest, "after the event", trigger="Periodic")
    cs.verdicts.expect("REST events", "the event is stored as sent", stored(got, sent), got)
    cs.assert_passed()
