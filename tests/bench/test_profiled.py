"""bench.profiled's stack sampler: where the main thread spends its CPU, by share, and the
stacks collapsed for flame graph tools; the mode a mesh process is profiled in."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from bench.profiled import StackSampler

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _spin(seconds: float) -> int:
    """Burn ``seconds`` of this thread's CPU."""
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        n += 1
    return n


def _hot() -> int:
    return _spin(0.6)


def _cold() -> int:
    return _spin(0.2)


def _work() -> None:
    _hot()
    _cold()


def test_shares_follow_where_the_cpu_went(tmp_path: pathlib.Path) -> None:
    sampler = StackSampler(interval=0.001)
    sampler.start()
    try:
        _work()
    finally:
        sampler.stop()
    # 0.8 s of CPU: one sample a millisecond, or a tick of the kernel's (250 Hz here: 200).
    assert sampler.samples >= 100
    inclusive = sampler.inclusive()
    me = "tests/bench/test_profiled.py"
    hot, cold, work = (inclusive[f"{me}:{name}"] for name in ("_hot", "_cold", "_work"))
    # _hot burnt three times _cold's CPU; _work holds both (and every sample of _spin's loop).
    assert hot > 2 * cold > 0
    assert work >= hot + cold
    assert inclusive[f"{me}:_spin"] >= hot + cold
    exclusive = sampler.exclusive()
    top_line, _ = exclusive.most_common(1)[0]
    assert top_line.startswith(f"{me}:_spin:")  # the loop's own lines, not its callers'

    report = sampler.report()
    assert report.startswith(f"samples {sampler.samples}\n")
    assert f"{me}:_hot" in report and "--- exclusive" in report

    folded = sampler.folded().splitlines()
    counts = [int(line.rsplit(" ", 1)[1]) for line in folded]
    assert sum(counts) == sampler.samples
    hottest = folded[0].rsplit(" ", 1)[0].split(";")
    assert hottest[-3:] == [f"{me}:_work", f"{me}:_hot", f"{me}:_spin"]  # outermost first

    sampler.dump(str(tmp_path / "p.samples.txt"))
    assert (tmp_path / "p.samples.txt").read_text() == report
    assert (tmp_path / "p.samples.folded").read_text() == sampler.folded()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.samples.folded", "p.samples.txt"]


def test_a_stopped_sampler_takes_no_more_samples() -> None:
    sampler = StackSampler(interval=0.001)
    sampler.start()
    _spin(0.05)
    sampler.stop()
    taken = sampler.samples
    _spin(0.05)  # a SIGPROF still on its way is ignored, not fatal (its default action)
    assert sampler.samples == taken


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        StackSampler(interval=0)


@pytest.mark.parametrize("mode", ["sample", "cprofile"])
def test_a_process_profiled_between_the_signals(tmp_path: pathlib.Path, mode: str) -> None:
    """What bench.idle and bench.event_cost do to a mesh process: run it under bench.profiled,
    SIGUSR1 to start, SIGUSR2 to write."""
    script = tmp_path / "busy.py"
    script.write_text(
        "import sys, time\n"
        "def burn():\n"
        "    end = time.thread_time() + 60\n"
        "    while time.thread_time() < end:\n"
        "        pass\n"
        "print('ready', flush=True)\n"
        "burn()\n"
    )
    out = tmp_path / ("busy.samples.txt" if mode == "sample" else "busy.prof")
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
        "CSMS_PROFILE_OUT": str(out),
        "CSMS_PROFILE_MODE": mode,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.profiled", "busy"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
        proc.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while not out.exists() and time.monotonic() < deadline:  # renamed into place whole
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    if mode == "sample":
        text = out.read_text()
        assert "busy.py:burn" in text  # a file outside the repository keeps its full path
        assert out.with_suffix(".folded").read_text().count(";") > 0
    else:
        import pstats

        # cProfile sees the calls made once it is on: burn's own frame was entered before.
        stats = pstats.Stats(str(out))
        assert any("thread_time" in func[2] for func in stats.stats)  # type: ignore[attr-defined]


def test_an_unknown_mode_is_refused(tmp_path: pathlib.Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CSMS_PROFILE_MODE": "perf"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.profiled", "json.tool", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "cprofile or sample" in done.stderr


@pytest.mark.parametrize("tool", ["bench.event_cost", "bench.idle"])
def test_sample_without_a_process_to_profile_is_refused(tool: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", tool, "--sample"],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "gen")])},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--sample goes with --profile" in done.stderr
