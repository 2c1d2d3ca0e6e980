"""deploy/mesh.py's Mesh.supervise (``make up``): a process that dies is restarted, with a
backoff, and logged; one killed on purpose (Mesh.kill, the chaos tests) is left alone."""

from __future__ import annotations

import logging
import os
import pathlib
import signal
import sys
import time

import pytest

from deploy.mesh import Mesh, Proc

from .conftest import mesh_settings

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
CRASHER = [sys.executable, "-c", "raise SystemExit(3)"]


def _mesh(tmp_path: pathlib.Path, *procs: Proc) -> Mesh:
    mesh = Mesh(mesh_settings(tmp_path), log_dir=tmp_path)
    mesh.procs = list(procs)
    for proc in procs:
        mesh._spawn(proc)
    return mesh


def _dead(proc: Proc) -> bool:
    assert proc.popen is not None
    return proc.popen.poll() is not None


def test_a_process_killed_by_a_crash_is_restarted(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """kill -9 from outside: logged, then started again after the backoff, same argv."""
    proc = Proc("device_svc", SLEEPER, dict(os.environ))
    mesh = _mesh(tmp_path, proc)
    try:
        assert proc.popen is not None
        first = proc.popen
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        caplog.set_level(logging.WARNING, "deploy.mesh")
        now = time.monotonic()
        mesh.supervise(now)
        assert proc.popen is first  # not yet: the backoff
        assert "device_svc exited with -9" in caplog.text
        mesh.supervise(now + 1.0)
        assert proc.popen is not first and not _dead(proc)
        assert "device_svc restarted" in caplog.text
    finally:
        mesh.stop()


def test_a_process_that_keeps_dying_waits_longer_each_time(tmp_path: pathlib.Path) -> None:
    """1 s, 2 s, 4 s ... between restarts while it keeps dying at once."""
    proc = Proc("gateway-1", CRASHER, dict(os.environ))
    mesh = _mesh(tmp_path, proc)
    try:
        delays = []
        for _ in range(4):
            assert proc.popen is not None
            proc.popen.wait()
            now = proc.started_at + 0.1
            mesh.supervise(now)
            assert proc.restart_at is not None
            delays.append(round(proc.restart_at - now, 3))
            mesh.supervise(proc.restart_at)
        assert delays == [1.0, 2.0, 4.0, 8.0]
    finally:
        mesh.stop()


def test_a_process_killed_on_purpose_is_left_to_its_killer(tmp_path: pathlib.Path) -> None:
    """Mesh.kill (chaos) is not a crash: supervise does not restart it; Mesh.restart does."""
    proc = Proc("transaction_svc", SLEEPER, dict(os.environ))
    mesh = _mesh(tmp_path, proc)
    try:
        mesh.kill("transaction_svc")
        mesh.supervise(time.monotonic() + 3600)
        assert _dead(proc)
        mesh.restart("transaction_svc")
        assert not _dead(proc)
    finally:
        mesh.stop()
