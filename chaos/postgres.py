"""A private PostgreSQL server the chaos run owns, so that it can kill -9 and restart it.

The machine's own PostgreSQL is never touched: this one lives in a temporary directory, listens
on 127.0.0.1 only (a free port; its Unix socket in that directory), trusts local connections and
runs as a child process group of ours. ``kill()`` SIGKILLs the whole group (the postmaster and
its backends: a crash of the server, as when its machine dies); ``restart()`` starts it again
on the same directory and port, which makes it replay its WAL (crash recovery).

Run as root, PostgreSQL refuses to start; the processes then run as the ``postgres`` OS user
(``subprocess`` switches user in the child, so no ``runuser`` process sits between us and the
postmaster and the group kill reaches it).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from deploy.mesh import free_port

__all__ = ["PrivatePostgres", "PostgresUnavailable", "BIN"]

BIN = pathlib.Path(os.environ.get("CSMS_CHAOS_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PostgresUnavailable(RuntimeError):
    """No private PostgreSQL could be made here (binaries missing, initdb or start failed)."""


class PrivatePostgres:
    """One throw-away PostgreSQL server: ``start()``, ``kill()``, ``restart()``, ``stop()``."""

    def __init__(self, bin_dir: pathlib.Path = BIN) -> None:
        self.bin = bin_dir
        self.port = free_port()
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="csms-chaos-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None
        # Root may not run PostgreSQL: its files and processes belong to the postgres user.
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user is not None:
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)

    @property
    def url(self) -> str:
        """The server URL the mesh gets (each service adds its database name)."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}"

    def _run(self, argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            user=self.user,
            group=self.user,
            extra_groups=[] if self.user else None,
            cwd=self.dir,
            **kw,
        )

    def start(self, timeout: float = 30.0) -> None:
        """initdb (trust auth, superuser postgres), then start the server and wait for it."""
        initdb = self.bin / "initdb"
        if not initdb.exists():
            raise PostgresUnavailable(f"{initdb} not found")
        with self.log.open("ab") as out:
            if self.user is not None:
                os.chown(self.log, pwd.getpwnam(self.user).pw_uid, -1)
            p = self._run(
                [
                    str(initdb),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",  # a throw-away server; durability is tested on its restarts
                    "-E",
                    "UTF8",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                rc = p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise PostgresUnavailable("initdb took too long") from None
        if rc != 0:
            raise PostgresUnavailable(f"initdb failed ({rc}); see {self.log}")
        self._spawn()
        self.wait_ready(timeout)

    def _spawn(self) -> None:
        out = self.log.open("ab")
        try:
            self.proc = self._run(
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.dir),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "max_connections=200",
                    "-c",
                    "fsync=on",  # a restart after kill -9 must find what was committed
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                # Its own process group: kill() reaches the postmaster and every backend.
                start_new_session=True,
            )
        finally:
            out.close()

    def ready(self) -> bool:
        """The server accepts connections (pg_isready over TCP)."""
        r = subprocess.run(
            [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            timeout=5,
            check=False,
        )
        return r.returncode == 0

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc is not None and self.proc.poll() is not None:
                raise PostgresUnavailable(
                    f"postgres exited with {self.proc.returncode}: {self.tail()}"
                )
            if time.monotonic() > deadline:
                raise PostgresUnavailable(f"postgres not ready after {timeout} s: {self.tail()}")
            time.sleep(0.1)

    def tail(self, chars: int = 1500) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the postmaster and all its backends at once (a crash), and reap them."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        # Backends are in the same group; give the kernel a moment to release the port.
        deadline = time.monotonic() + 10
        while self.ready() and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self, timeout: float = 30.0) -> None:
        """Start the killed server again on the same data and port (it recovers from WAL)."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("postgres is still running; kill it first")
        self._spawn()
        self.wait_ready(timeout)

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then SIGKILL if it lingers; the directory is removed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private server, stopped and removed afterwards."""
    pg = PrivatePostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()
