"""The fleet's plan against this machine's kernel: how many stations share a source address."""

from __future__ import annotations

import math
import pathlib

from bench import fleet
from bench.fleet import fleet_plan
from bench.loadgen import STATIONS_PER_SOURCE


def _ephemeral_ports() -> int:
    low, high = pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(high) - int(low) + 1


def test_a_source_address_holds_fewer_stations_than_half_its_ephemeral_ports() -> None:
    # Linux gives bind(address, 0) the ports of one parity first (connect() takes the other):
    # beyond half the range each bind searches the whole of it (1.8 ms a socket measured at
    # 16,000 of 28,232, against 12 us below 14,000), which a generator reconnecting thousands of
    # stations at once pays for every one of them. A storm holds the old connections and the new
    # ones for a moment: a margin below half.
    assert STATIONS_PER_SOURCE <= _ephemeral_ports() // 2 * 0.8
    plan = fleet_plan(quick=False)
    assert plan.per_source <= STATIONS_PER_SOURCE


def test_every_generator_of_the_full_fleet_spreads_over_addresses_of_its_own() -> None:
    plan = fleet_plan(quick=False)
    per_generator = math.ceil(plan.stations / plan.processes)
    addresses = math.ceil(per_generator / plan.per_source)
    assert addresses >= 2  # 16,667 stations a generator: more than one address's share
    # 127.0.0.2 and on, one block per generator, all within 127.0.0.0/8's last octet.
    assert 2 + plan.processes * addresses <= 255


def test_the_hold_ends_where_the_storm_begins() -> None:
    """A killed gateway's CPU starts again from 0 in its new process: the hold's figures stop at
    the storm, not at the idle window (they came out negative, -0.007 core, in a full run)."""
    windows = {
        "hold": (0.0, {"gateway-1": 10.0, "gateway-2": 10.0}),
        "storm": (100.0, {"gateway-1": 15.0, "gateway-2": 15.0}),
        "idle": (200.0, {"gateway-1": 3.0, "gateway-2": 30.0}),  # gateway-1 restarted
        "end": (300.0, {"gateway-1": 4.0, "gateway-2": 31.0}),
    }
    hold, idle = fleet._hold_and_idle(windows)
    assert hold == {"gateway-1": 0.05, "gateway-2": 0.05}
    assert idle == {"gateway-1": 0.01, "gateway-2": 0.01}
    del windows["storm"]  # no storm: the hold lasts until the idle window
    hold, _ = fleet._hold_and_idle(windows)
    assert hold == {"gateway-1": -0.035, "gateway-2": 0.1}
