"""bench.event_cost's boot-storm batching figures, read from a service's metrics text as
prometheus_client writes it."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from bench.event_cost import _storm_batching


def _device_metrics(groups: dict[str, list[int]], calls: dict[str, int]) -> str:
    registry = CollectorRegistry()
    sizes = Histogram("csms_group_commit_size", "items per group", ["name"], registry=registry)
    rpcs = Histogram(
        "csms_rpc_duration_seconds", "gRPC methods", ["method", "code"], registry=registry
    )
    for name, batch_sizes in groups.items():
        for size in batch_sizes:
            sizes.labels(name).observe(size)
    for method, count in calls.items():
        for _ in range(count):
            rpcs.labels(f"/csms.device.v1.DeviceService/{method}", "OK").observe(0.01)
    return generate_latest(registry).decode()


def test_items_per_group_and_per_batch_call() -> None:
    text = _device_metrics(
        {"connect-station": [100, 50, 50], "boot": [120, 80], "status": [3]},
        {"ConnectStations": 4, "BootNotifications": 2, "Heartbeats": 9},
    )
    assert _storm_batching(text) == {
        "connect-station_per_group": 200 / 3,
        "connect-station_groups": 3.0,
        "boot_per_group": 100.0,
        "boot_groups": 2.0,
        "ConnectStations_calls": 4.0,
        "connect-station_per_ConnectStations_call": 50.0,
        "BootNotifications_calls": 2.0,
        "boot_per_BootNotifications_call": 100.0,
    }


def test_nothing_batched_yet_gives_no_figures() -> None:
    assert _storm_batching(_device_metrics({}, {"Heartbeats": 1})) == {}
