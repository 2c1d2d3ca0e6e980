"""``python -m bench.group_cost``: device_svc's connect and boot group commits in one process.

A :class:`device_svc.service.Devices` on a fresh, migrated database (SQLite, or PostgreSQL with
``--database-url``), no gRPC and no gateway: ``--rounds`` groups of ``--group`` stations, each
connecting together (auto-registered, under one gateway lease) and then booting together, as a
boot storm's handshakes and BootNotifications reach device_svc's group commits. Prints per
station, the first five groups left out (warm-up): the process's CPU time (its threads together:
the event loop's and the driver's), the wall-clock time, and the whole machine's CPU time
(``/proc/stat``: a PostgreSQL server's work too). One figure per run: compare runs of two
trees alternated, on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid

from sqlalchemy.ext.asyncio import async_sessionmaker

from common import db
from device_svc.credentials import Passwords
from device_svc.service import Devices

__all__ = ["main"]

_WARMUP = 5


def _machine_cpu() -> float:
    """Seconds of CPU the whole machine spent so far (user, nice, system, irq, softirq)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return sum(int(x) for x in fields[1:4] + fields[6:8]) / os.sysconf("SC_CLK_TCK")


async def _run(a: argparse.Namespace) -> tuple[float, float, float]:
    name = f"csms_group_cost_{uuid.uuid4().hex[:8]}"
    folder = None  # SQLite's, removed afterwards
    if a.database_url:
        url = f"{a.database_url}/{name}"
    else:
        folder = tempfile.mkdtemp(prefix="group-cost-")
        url = f"sqlite+aiosqlite:///{folder}/{name}.sqlite"
    await asyncio.to_thread(db.migrate, "device_svc", url)
    engine = db.create_engine(url)
    devices = Devices(
        async_sessionmaker(bind=engine, expire_on_commit=False),
        60,
        passwords=Passwords(time_cost=1, memory_cost=8),
    )
    spent = wall = machine = 0.0
    try:
        for n in range(_WARMUP + a.rounds):
            ids = [f"GC{n}-{i}" for i in range(a.group)]
            began, began_wall = time.process_time(), time.perf_counter()
            began_machine = _machine_cpu()
            await asyncio.gather(
                *(
                    devices.connect(s, True, "gw:1", allow_unsecured=True, gateway_lease="gw-1")
                    for s in ids
                )
            )
            await asyncio.gather(
                *(devices.boot(s, "PowerUp", {"model": "M", "vendor_name": "V"}) for s in ids)
            )
            if n >= _WARMUP:
                spent += time.process_time() - began
                wall += time.perf_counter() - began_wall
                machine += _machine_cpu() - began_machine
    finally:
        await devices.drain()
        await engine.dispose()
        if folder is None:
            await db.drop_database(url)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    stations = a.group * a.rounds
    return 1e6 * spent / stations, 1e6 * wall / stations, 1e6 * machine / stations


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.group_cost", description=__doc__.split("\n")[0]
    )
    p.add_argument("--database-url", default="", help="a PostgreSQL server (default: SQLite)")
    p.add_argument("--group", type=int, default=40, help="stations per group")
    p.add_argument("--rounds", type=int, default=60, help="groups measured")
    a = p.parse_args(argv)
    logging.disable(logging.INFO)
    cpu, wall, machine = asyncio.run(_run(a))
    backend = "PostgreSQL" if a.database_url else "SQLite"
    print(
        f"device_svc connect + boot, groups of {a.group}, {backend}, us per station: "
        f"process CPU {cpu:.1f}, wall {wall:.1f}, machine CPU {machine:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
