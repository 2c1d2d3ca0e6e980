"""``python -m chaos [--quick]``: the fault run; exits non-zero when anything acknowledged was
lost, anything was stored twice or wrong, or the faults never reached the stations.

Prints, per backend, ``sent: N``, ``acknowledged: N``, ``stored: N``, ``duplicated: N``,
``lost: N`` and the details (faults, failed sends by kind, the offline burst).
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys
from collections.abc import Sequence

from bench.loadgen import raise_fd_limit
from chaos.runner import FULL, QUICK, run_chaos


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    p.add_argument(
        "--quick",
        action="store_true",
        help="10 stations, short pauses; PostgreSQL only if a private server starts here",
    )
    p.add_argument("--backends", help="comma-separated: sqlite,postgresql (default: both)")
    p.add_argument("--stations", type=int, help="stations in the load")
    p.add_argument("--json", type=pathlib.Path, help="write the results here as JSON")
    p.add_argument("--keep", action="store_true", help="keep the logs even when all is OK")
    a = p.parse_args(argv)
    opts = QUICK if a.quick else FULL
    if a.backends:
        opts = dataclasses.replace(opts, backends=tuple(a.backends.split(",")))
    if a.stations:
        opts = dataclasses.replace(opts, stations=a.stations)
    raise_fd_limit()
    status, _ = run_chaos(opts, a.json, a.keep)
    return status


if __name__ == "__main__":
    sys.exit(main())
