"""Block L's rules (device_svc/firmware/domain.py): what a status means, what a rollout does
next."""

from __future__ import annotations

import datetime

import pytest

from device_svc.firmware import domain
from device_svc.firmware.domain import RolloutView, StationView, plan

T0 = datetime.datetime(2026, 12, 5, 10, 0, tzinfo=datetime.UTC)


def _view(
    pause: int = 0, ratio: float = 0.0, timeout: int = 3600, done: datetime.datetime | None = None
) -> RolloutView:
    return RolloutView(pause, ratio, timeout, done)


def _stations(
    *states: str, wave_size: int = 2, sent_at: datetime.datetime | None = T0
) -> list[StationView]:
    return [StationView(f"CS{i}", i // wave_size, s, sent_at) for i, s in enumerate(states)]


ALL = frozenset(f"CS{i}" for i in range(10))


def test_the_first_wave_leaves_at_once() -> None:
    p = plan(_view(), _stations("waiting", "waiting", "waiting"), T0, ALL)
    assert p.send == ["CS0", "CS1"] and p.new_wave and not p.halt


def test_a_wave_under_way_holds_the_next() -> None:
    p = plan(_view(), _stations("installed", "sent", "waiting"), T0, ALL)
    assert p.send == [] and not p.wave_settled


def test_a_settled_wave_starts_the_pause_then_the_next_wave() -> None:
    stations = _stations("installed", "offline", "waiting", "waiting")
    settled = plan(_view(pause=60), stations, T0, frozenset())
    assert settled.wave_settled and settled.send == []
    during = plan(
        _view(pause=60, done=T0), stations, T0 + datetime.timedelta(seconds=30), frozenset()
    )
    assert during.send == []
    after = plan(
        _view(pause=60, done=T0), stations, T0 + datetime.timedelta(seconds=61), frozenset()
    )
    assert after.send == ["CS2", "CS3"] and after.new_wave


def test_an_offline_station_is_sent_again_once_connected_without_holding_the_waves() -> None:
    stations = _stations("installed", "offline", "sent", "sent")
    assert plan(_view(), stations, T0, frozenset()).send == []
    assert plan(_view(), stations, T0, frozenset({"CS1"})).send == ["CS1"]


def test_a_partly_sent_wave_is_finished_first() -> None:
    """The process stopped between sends, or a request is to go again: the rest of the wave
    leaves at once, whatever the others are doing, with no new pause."""
    for first in ("sent", "installed", "checking"):
        p = plan(_view(pause=600), _stations(first, "waiting"), T0, ALL)
        assert p.send == ["CS1"] and not p.new_wave, first


def test_a_station_that_does_not_confirm_its_request_gets_it_again() -> None:
    """Asked after a restart, silent past CHECK_SECONDS: sent again."""
    stations = _stations("checking", "sent", sent_at=T0)
    assert plan(_view(), stations, T0 + datetime.timedelta(seconds=5), ALL).send == []
    late = T0 + datetime.timedelta(seconds=domain.CHECK_SECONDS + 1)
    p = plan(_view(), stations, late, ALL)
    assert p.unconfirmed == ["CS0"] and p.send == ["CS0"]


def test_a_station_silent_past_its_timeout_fails() -> None:
    stations = _stations("sent", "installed", sent_at=T0)
    p = plan(_view(timeout=60, ratio=1.0), stations, T0 + datetime.timedelta(seconds=61), ALL)
    assert p.timed_out == ["CS0"] and p.completed


@pytest.mark.parametrize(
    ("failed", "ratio", "halts"),
    [(0, 0.0, False), (1, 0.0, True), (2, 0.2, False), (3, 0.2, True), (10, 1.0, False)],
)
def test_a_wave_failing_beyond_the_ratio_halts(failed: int, ratio: float, halts: bool) -> None:
    states = ["failed"] * failed + ["installed"] * (10 - failed) + ["waiting"] * 10
    p = plan(_view(ratio=ratio), _stations(*states, wave_size=10), T0, ALL)
    assert bool(p.halt) == halts
    if halts:
        assert p.send == [] and f"{failed} of the 10 stations of wave 1" in p.halt


def test_completed_when_every_station_finished() -> None:
    assert plan(_view(ratio=1.0), _stations("installed", "failed"), T0, ALL).completed
    assert not plan(_view(ratio=1.0), _stations("installed", "offline"), T0, ALL).completed


@pytest.mark.parametrize(
    ("state", "status", "after"),
    [
        ("sent", "Downloading", "sent"),
        ("sending", "Downloading", "sent"),
        ("sent", "Installed", "installed"),
        ("sent", "InstallationFailed", "failed"),
        ("failed", "Downloading", "sent"),  # the station's own retry after DownloadFailed
        ("waiting", "Downloading", "waiting"),
    ],
)
def test_what_a_status_makes_of_a_rollout_station(state: str, status: str, after: str) -> None:
    assert domain.station_state_after(state, status) == after


def test_validation() -> None:
    ok = dict(
        wave_size=0,
        wave_pause_seconds=0,
        max_failure_ratio=0.0,
        station_timeout_seconds=0,
        max_stations=3,
    )
    assert domain.validate_rollout(["a"], **ok) is None  # type: ignore[arg-type]
    assert "at least one" in (domain.validate_rollout([], **ok) or "")  # type: ignore[arg-type]
    assert "twice" in (domain.validate_rollout(["a", "a"], **ok) or "")  # type: ignore[arg-type]
    assert "at most 3" in (domain.validate_rollout(["a", "b", "c", "d"], **ok) or "")  # type: ignore[arg-type]
    bad = {**ok, "max_failure_ratio": 1.5}
    assert "between 0 and 1" in (domain.validate_rollout(["a"], **bad) or "")  # type: ignore[arg-type]
