"""bench.load_manager on a small site: its figure comes from real stations on a real mesh."""

from __future__ import annotations

from pathlib import Path

import orjson

from bench.load_manager import main


def test_a_start_lowers_every_charging_station_then_raises_the_new_one(tmp_path: Path) -> None:
    """Six EVSEs, three charging at 2,000 / 3 A: a fourth transaction makes the three lowered
    and the new one raised (four TxProfiles), its end raises the three again."""
    out = tmp_path / "lm.json"
    assert (
        main(
            [
                "--evses",
                "6",
                "--charging",
                "3",
                "--runs",
                "1",
                "--cpus",
                "shared",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    r = orjson.loads(out.read_bytes())
    assert r["start_profiles"] == [4] and r["end_profiles"] == [3]
    assert 0 < r["start_s"][0] < 30 and 0 < r["end_s"][0] < 30
    assert r["allocated"] == 2000.0
    assert r["errors"] == {}
