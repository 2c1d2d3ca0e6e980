"""device_svc.monitoring.monitors.MonitorHooks: what the station's answers to the monitoring
commands make the CSMS forget."""

from __future__ import annotations

from typing import Any

import pytest

from common.ocpp_json import to_proto
from csms.ocpp.v201 import messages_pb2 as ocpp
from device_svc.monitoring.monitors import MonitorHooks


class _Monitors:
    def __init__(self) -> None:
        self.forgotten: list[str] = []

    async def forget_custom(self, station_id: str) -> None:
        self.forgotten.append(station_id)


@pytest.mark.parametrize(
    ("base", "status", "forgets"),
    [
        ("HardWiredOnly", "Accepted", True),
        ("HardWiredOnly", "Rejected", False),
        ("HardWiredOnly", "NotSupported", False),
        ("All", "Accepted", False),
        ("FactoryDefault", "Accepted", False),
    ],
)
async def test_an_accepted_hard_wired_only_forgets_the_custom_monitors(
    base: str, status: str, forgets: bool
) -> None:
    monitors: Any = _Monitors()
    hooks = MonitorHooks(monitors)
    request = to_proto(ocpp.SetMonitoringBaseRequest, {"monitoringBase": base})
    response = to_proto(ocpp.SetMonitoringBaseResponse, {"status": status})
    await hooks.learn["SetMonitoringBase"]("CS1", request, response)
    assert monitors.forgotten == (["CS1"] if forgets else [])
