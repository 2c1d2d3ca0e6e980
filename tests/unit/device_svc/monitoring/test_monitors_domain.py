"""device_svc.monitoring.monitors_domain: what a GetMonitoringReport asks for."""

from __future__ import annotations

import datetime

import pytest

from device_svc.monitoring.monitors_domain import (
    MonitorCriteria,
    StoredMonitor,
    clears_custom_monitors,
    stale_after_report,
)

T0 = datetime.datetime(2026, 12, 5, tzinfo=datetime.UTC)
POWER = StoredMonitor(
    1, {"name": "EVSE", "evse": {"id": 1}}, {"name": "Power"}, "UpperThreshold", T0
)
TEMP = StoredMonitor(2, {"name": "ChargingStation"}, {"name": "Temperature"}, "Delta", T0)
CLOCK = StoredMonitor(
    3, {"name": "EVSE", "evse": {"id": 2}}, {"name": "Power"}, "PeriodicClockAligned", T0
)


@pytest.mark.parametrize(
    ("request_", "ids"),
    [
        ({}, [1, 2, 3]),
        ({"monitoringCriteria": ["ThresholdMonitoring"]}, [1]),
        ({"monitoringCriteria": ["DeltaMonitoring", "PeriodicMonitoring"]}, [2, 3]),
        ({"componentVariable": [{"component": {"name": "EVSE"}}]}, [1, 3]),
        ({"componentVariable": [{"component": {"name": "EVSE", "evse": {"id": 2}}}]}, [3]),
        (
            {
                "componentVariable": [
                    {"component": {"name": "EVSE"}, "variable": {"name": "Voltage"}}
                ]
            },
            [],
        ),
        (
            {
                "componentVariable": [{"component": {"name": "EVSE"}}],
                "monitoringCriteria": ["ThresholdMonitoring"],
            },
            [1],
        ),
    ],
)
def test_criteria(request_: dict[str, object], ids: list[int]) -> None:
    criteria = MonitorCriteria.of_request(request_)
    assert [m.id for m in (POWER, TEMP, CLOCK) if criteria.matches(m)] == ids
    assert MonitorCriteria.of_request(criteria.as_json()) == criteria


def test_a_finished_report_removes_what_it_asked_for_and_did_not_list() -> None:
    later = T0 + datetime.timedelta(seconds=1)
    newer = StoredMonitor(
        4, {"name": "EVSE"}, {"name": "Power"}, "UpperThreshold", later + datetime.timedelta(1)
    )
    listed = StoredMonitor(
        5, {"name": "EVSE"}, {"name": "Power"}, "LowerThreshold", T0, reported_by=9
    )
    stored = [POWER, TEMP, newer, listed]
    criteria = MonitorCriteria(criteria=("ThresholdMonitoring",))
    assert stale_after_report(stored, criteria, 9, later) == [1]
    assert stale_after_report(stored, criteria, 9, later, listed=[1]) == []


@pytest.mark.parametrize(
    ("base", "clears"), [("HardWiredOnly", True), ("All", False), ("FactoryDefault", False)]
)
def test_only_hard_wired_only_clears_custom_monitors(base: str, clears: bool) -> None:
    assert clears_custom_monitors(base) is clears
