"""device_svc/fleet/domain.py: a station's live status, the fleet's counts."""

from __future__ import annotations

import pytest

from device_svc.fleet.domain import STATUSES, FleetCounts, station_status


@pytest.mark.parametrize(
    ("reachable", "connectors", "expected"),
    [
        (False, ["Faulted"], "offline"),
        (False, [], "offline"),
        (True, [], "unknown"),
        (True, ["Available", "Faulted", "Occupied"], "faulted"),
        (True, ["Available", "Occupied"], "occupied"),
        (True, ["Reserved", "Available"], "reserved"),
        (True, ["Unavailable", "Available"], "unavailable"),
        (True, ["Available", "Available"], "available"),
    ],
)
def test_the_most_telling_connector_status_names_the_station(
    reachable: bool, connectors: list[str], expected: str
) -> None:
    assert station_status(reachable, connectors) == expected
    assert expected in STATUSES


def test_offline_is_what_is_not_connected() -> None:
    assert FleetCounts(stations=10, connected=7, faulted=2, charging=None).offline == 3
