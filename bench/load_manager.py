"""``python -m bench.load_manager``: how long until a site's stations hold their new limits?

A fresh mesh (SQLite unless ``--database-url``; one gateway listening itself) serves ``--evses``
stations of one EVSE each, all on one site (the load manager's, ``--limit`` A) created over
transaction_svc's gRPC. ``--charging`` of them start a transaction and the site settles (every
transaction at its share, the idle EVSEs' defaults at what is left). Then, ``--runs`` times:
one more station starts a transaction (every charging station must be lowered first, then the
new one raised), and after it settled, that transaction ends (every other one raised again).
The figure is the time from the TransactionEvent being sent to the last station receiving the
SetChargingProfile that gives it its new limit (measured at the stations, one process and
clock), with the number of SetChargingProfiles each change took.

On a machine with two cores or more, the mesh is pinned to the first and this process (the
stations) to the second (``--cpus shared``: nothing pinned), as ``make bench`` does.

    python -m bench.load_manager                     # 200 EVSEs, 100 charging, 2,000 A, 5 runs
    python -m bench.load_manager --evses 20 --charging 10 --runs 2
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import orjson

from bench.run import own_mesh
from bench.station import Station
from bench.stats import Recorder
from csms.ocpp.v201 import messages_pb2 as ocpp
from csms.transaction.v1 import transaction_service_pb2 as pb
from csms.transaction.v1 import transaction_service_pb2_grpc as pb_grpc

__all__ = ["main", "run"]


class Watch:
    """The TxProfile limits each station received, with when (perf_counter)."""

    def __init__(self) -> None:
        self.limits: dict[str, float] = {}
        self.times: list[tuple[float, str, float]] = []

    def hook(self, station_id: str) -> Any:
        def on_call(message: list[Any]) -> None:
            if message[2] != "SetChargingProfile":
                return
            profile = message[3]["chargingProfile"]
            if profile["chargingProfilePurpose"] != "TxProfile":
                return
            limit = profile["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]
            self.limits[station_id] = limit
            self.times.append((time.perf_counter(), station_id, limit))

        return on_call


async def _settled(stub: pb_grpc.TransactionServiceStub, site_id: str, active: int) -> None:
    """Until the site shows ``active`` allocations, each held at its target (no raise on its
    way), twice 0.2 s apart."""
    calm = 0
    while calm < 2:
        await asyncio.sleep(0.2)
        site = await stub.GetSite(pb.GetSiteRequest(id=site_id), timeout=30)
        done = len(site.allocations) == active and all(
            a.limit == a.target and not a.pending for a in site.allocations
        )
        calm = calm + 1 if done else 0


async def _change(
    stub: pb_grpc.TransactionServiceStub,
    site_id: str,
    watch: Watch,
    station: Station,
    event: str,
    active: int,
) -> tuple[float, int]:
    """(seconds to the last SetChargingProfile, how many) for one Started or Ended."""
    mark = len(watch.times)
    t0 = time.perf_counter()
    assert await station.transaction_event(event), f"{event} not acknowledged"
    await _settled(stub, site_id, active)
    sent = watch.times[mark:]
    return (max(t for t, _, _ in sent) - t0 if sent else 0.0), len(sent)


async def run(
    url: str, transaction_addr: str, *, evses: int, charging: int, limit: float, runs: int
) -> dict[str, Any]:
    site_id = f"bench-{uuid.uuid4().hex[:6]}"
    rec = Recorder()
    watch = Watch()
    stations = [Station(f"LM{i:04d}-{site_id}", url, rec, 30.0, "BENCH-LM") for i in range(evses)]
    for st in stations:
        st.on_call = watch.hook(st.id)
    for i in range(0, evses, 50):
        batch = stations[i : i + 50]
        assert all(await asyncio.gather(*(st.connect() for st in batch))), "connect failed"
        assert all(await asyncio.gather(*(st.boot() for st in batch))), "boot failed"
    async with grpc.aio.insecure_channel(transaction_addr) as channel:
        stub = pb_grpc.TransactionServiceStub(channel)
        await stub.CreateSite(
            pb.CreateSiteRequest(
                site=pb.Site(
                    id=site_id,
                    limit=limit,
                    charging_rate_unit=ocpp.CHARGING_RATE_UNIT_A,
                    evses=[pb.SiteEvse(station_id=st.id, evse_id=1) for st in stations],
                )
            ),
            timeout=30,
        )
        t0 = time.perf_counter()
        oks = await asyncio.gather(*(st.transaction_event("Started") for st in stations[:charging]))
        assert all(oks), "a Started was not acknowledged"
        await _settled(stub, site_id, charging)
        first = time.perf_counter() - t0
        start: list[tuple[float, int]] = []
        end: list[tuple[float, int]] = []
        for r in range(runs):
            extra = stations[charging + r % (evses - charging)]
            start.append(await _change(stub, site_id, watch, extra, "Started", charging + 1))
            end.append(await _change(stub, site_id, watch, extra, "Ended", charging))
        site = await stub.GetSite(pb.GetSiteRequest(id=site_id), timeout=30)
        for st in stations:
            await st.close()
    return {
        "evses": evses,
        "charging": charging,
        "limit": limit,
        "settle_first_s": first,
        "start_s": [s for s, _ in start],
        "start_profiles": [n for _, n in start],
        "end_s": [s for s, _ in end],
        "end_profiles": [n for _, n in end],
        "allocated": site.allocated,
        "errors": dict(rec.errors),
    }


def render(r: dict[str, Any]) -> str:
    def figure(values: list[float]) -> str:
        ms = sorted(v * 1000 for v in values)
        return f"min {ms[0]:.0f} ms, median {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms"

    return "\n".join(
        [
            f"site of {r['evses']} EVSEs, {r['limit']:g} A, {r['charging']} charging "
            f"(settled in {r['settle_first_s']:.1f} s after they all started)",
            f"  a transaction starts: {figure(r['start_s'])} to the last station's new limit "
            f"({statistics.median(r['start_profiles']):.0f} TxProfiles: the lowerings, the raise)",
            f"  a transaction ends:   {figure(r['end_s'])} "
            f"({statistics.median(r['end_profiles']):.0f} TxProfiles, raises)",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--evses", type=int, default=200)
    parser.add_argument("--charging", type=int, default=100)
    parser.add_argument("--limit", type=float, default=2000.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default="", help="PostgreSQL server URL; empty: SQLite")
    parser.add_argument("--cpus", choices=("split", "shared"), default="split")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    if not 0 < args.charging < args.evses:
        parser.error("--charging must be between 1 and --evses - 1")
    with own_mesh("load-manager", args.database_url, args.cpus) as mesh:
        settings = mesh.settings
        results = asyncio.run(
            run(
                f"ws://127.0.0.1:{settings.gateway_port}/ocpp",
                f"127.0.0.1:{settings.transaction_port}",
                evses=args.evses,
                charging=args.charging,
                limit=args.limit,
                runs=args.runs,
            )
        )
    print(render(results))
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
