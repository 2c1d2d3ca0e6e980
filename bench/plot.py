"""The PNG beside each result: answered requests per second and p99 latency over time."""

from __future__ import annotations

import pathlib
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plot_timeline"]


def plot_timeline(result: dict[str, Any], path: pathlib.Path) -> pathlib.Path:
    """Draw ``result['timeline']`` (see :class:`bench.stats.Recorder`) into ``path``."""
    rows = result["timeline"]["rows"]
    seconds = [r[0] for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    top.plot(seconds, [r[1] for r in rows], label="answered/s", color="tab:blue")
    top.plot(seconds, [r[2] for r in rows], label="errors/s", color="tab:red")
    top.set_ylabel("requests / s")
    conn = top.twinx()
    conn.plot(seconds, [r[4] for r in rows], label="connected", color="tab:gray", ls="--")
    conn.set_ylabel("connected stations")
    top.legend(loc="upper left")
    bottom.plot(seconds, [r[3] for r in rows], color="tab:orange")
    bottom.set_ylabel("p99 latency (ms)")
    bottom.set_xlabel("seconds since start")
    fig.suptitle(f"{result.get('label') or result['scenario']} — {result['url']}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
