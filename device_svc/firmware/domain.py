"""Block L's rules, without I/O: what a firmware status means, and what a rollout does next.

A rollout sends one image to its stations in waves of ``wave_size`` (in the order given). A wave
is *settled* when none of its stations is still to be sent ("waiting") or following its update
("sending", "sent"): each is installed, failed, or offline (an offline station is retried
whenever it is connected again, and does not hold the next wave back). The next wave starts
``wave_pause_seconds`` after the one before settled. A station following its update for longer
than ``station_timeout_seconds`` failed. Once more than ``max_failure_ratio`` of a wave's stations
failed, the rollout halts: nothing more is sent (the updates under way go on). It is completed
when every station is installed or failed.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "FAILED_STATUSES",
    "Plan",
    "RolloutView",
    "StationView",
    "plan",
    "station_state_after",
    "validate_rollout",
]

INSTALLED = "Installed"
# FirmwareStatusEnumType values that end an update in failure; Installed ends it well.
FAILED_STATUSES = frozenset(
    {
        "DownloadFailed",
        "InstallationFailed",
        "InstallVerificationFailed",
        "InvalidSignature",
    }
)

# UpdateFirmwareStatusEnumType: the answers that mean the station took the request.
ACCEPTED_CANCELED = "AcceptedCanceled"
ACCEPTED_ANSWERS = frozenset({"Accepted", ACCEPTED_CANCELED})
# What an update the station dropped for a later one (AcceptedCanceled) is marked with.
CANCELED = "Canceled"
# The statuses of an update after which nothing more of it comes: Installed, a failure, the
# station's refusal of it, or its cancelation.
FINAL_STATUSES = frozenset(
    {
        INSTALLED,
        "DownloadFailed",
        "InstallationFailed",
        "InstallVerificationFailed",
        "InvalidSignature",
        "Rejected",
        "InvalidCertificate",
        "RevokedCertificate",
        CANCELED,
    }
)

# Security events (SecurityEventNotification type) that fail the station's update in a rollout.
FIRMWARE_SECURITY_EVENTS = frozenset(
    {"InvalidFirmwareSignature", "InvalidFirmwareSigningCertificate"}
)

FOLLOWING = frozenset({"sending", "checking", "sent"})
# How long a station asked, after a restart, whether it got its UpdateFirmware
# (TriggerMessage FirmwareStatusNotification) has to say so before it is sent the request again.
CHECK_SECONDS = 30
FINISHED = frozenset({"installed", "failed"})


def station_state_after(state: str, firmware_status: str) -> str:
    """A rollout station's state once it reported ``firmware_status`` of its update."""
    if firmware_status == INSTALLED:
        return "installed"
    if firmware_status in FAILED_STATUSES:
        return "failed"
    # Downloading again after a DownloadFailed (the station's own retries): following again.
    return "sent" if state in ("sent", "failed", "sending", "checking") else state


def validate_rollout(
    station_ids: Sequence[str],
    wave_size: int,
    wave_pause_seconds: int,
    max_failure_ratio: float,
    station_timeout_seconds: int,
    max_stations: int,
) -> str | None:
    """Why the rollout cannot be created, or None."""
    if not station_ids:
        return "stationIds must name at least one station"
    if len(station_ids) > max_stations:
        return f"stationIds: at most {max_stations}"
    if len(set(station_ids)) != len(station_ids):
        return "stationIds: a station is listed twice"
    if wave_size < 0:
        return "waveSize must not be negative"
    if wave_pause_seconds < 0:
        return "wavePauseSeconds must not be negative"
    if not 0.0 <= max_failure_ratio <= 1.0:
        return "maxFailureRatio must be between 0 and 1"
    if station_timeout_seconds < 0:
        return "stationTimeoutSeconds must not be negative"
    return None


@dataclass(frozen=True, slots=True)
class StationView:
    station_id: str
    wave: int
    state: str
    sent_at: datetime.datetime | None


@dataclass(frozen=True, slots=True)
class RolloutView:
    wave_pause_seconds: int
    max_failure_ratio: float
    station_timeout_seconds: int
    wave_done_at: datetime.datetime | None


@dataclass(slots=True)
class Plan:
    """What the rollout does now."""

    # Stations whose update timed out: failed.
    timed_out: list[str] = field(default_factory=list)
    # Stations asked whether they got their request that did not say: to be sent it again.
    unconfirmed: list[str] = field(default_factory=list)
    # Stations to send UpdateFirmware to now (the wave starting, or offline ones retried).
    send: list[str] = field(default_factory=list)
    # The rollout halts (why), or is completed.
    halt: str = ""
    completed: bool = False
    # The wave under way just settled (its time is recorded, the pause starts).
    wave_settled: bool = False
    # ``send`` starts a new wave (the settled time is cleared).
    new_wave: bool = False


def _failed_too_many(failed: int, size: int, ratio: float) -> bool:
    """More than ``ratio`` of a wave of ``size`` failed (certain as soon as it is so: the
    count of failures only grows while the wave goes on)."""
    return size > 0 and failed / size > ratio


def plan(
    rollout: RolloutView,
    stations: Sequence[StationView],
    now: datetime.datetime,
    connected: frozenset[str],
) -> Plan:
    """The next step of a running rollout (``connected``: the stations reachable now)."""
    out = Plan()
    timeout = datetime.timedelta(seconds=rollout.station_timeout_seconds)
    states = {}
    check = datetime.timedelta(seconds=CHECK_SECONDS)
    for s in stations:
        state = s.state
        if state == "checking" and (s.sent_at is None or now - s.sent_at > check):
            out.unconfirmed.append(s.station_id)
            state = "waiting"
        if (
            state == "sent"
            and rollout.station_timeout_seconds
            and s.sent_at is not None
            and now - s.sent_at > timeout
        ):
            out.timed_out.append(s.station_id)
            state = "failed"
        states[s.station_id] = state
    finished = sum(1 for st in states.values() if st in FINISHED)
    waves = sorted({s.wave for s in stations})
    for wave in waves:
        members = [s.station_id for s in stations if s.wave == wave]
        failed = sum(1 for m in members if states[m] == "failed")
        if _failed_too_many(failed, len(members), rollout.max_failure_ratio):
            out.halt = (
                f"{failed} of the {len(members)} stations of wave {wave + 1} failed "
                f"(more than {rollout.max_failure_ratio:.0%})"
            )
            return out
    if finished == len(stations):
        out.completed = True
        return out
    # Offline stations that are back: again.
    out.send.extend(
        s.station_id
        for s in stations
        if states[s.station_id] == "offline" and s.station_id in connected
    )
    for wave in waves:
        wave_stations = [s for s in stations if s.wave == wave]
        waiting = [s.station_id for s in wave_stations if states[s.station_id] == "waiting"]
        started = any(states[s.station_id] != "waiting" for s in wave_stations)
        if started and waiting:
            # Part of the wave went out (the process stopped between sends, or a request is
            # to go again): the rest now.
            out.send.extend(waiting)
            return out
        if any(states[s.station_id] in FOLLOWING for s in wave_stations):
            return out
        if waiting:
            previous_done = rollout.wave_done_at
            if previous_done is None and wave != waves[0]:
                out.wave_settled = True
                return out
            if previous_done is not None and now - previous_done < datetime.timedelta(
                seconds=rollout.wave_pause_seconds
            ):
                return out
            out.send.extend(waiting)
            out.new_wave = True
            return out
    return out
