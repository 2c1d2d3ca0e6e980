"""The open-file limit of a process: raised to the most it may have, and what it sizes.

Every connection a process holds is a file descriptor. Distributions start processes with a
soft limit of 1,024 while the hard limit is far higher; a process sized for thousands of
stations raises its own soft limit to the hard one (only a privileged process may raise the hard
limit) and sizes its connection limits from what it got, keeping a reserve for everything else
it opens (gRPC channels, logs, the event loop's own descriptors).
"""

from __future__ import annotations

import logging
import resource

__all__ = ["raise_open_files", "open_files", "connection_budget"]

log = logging.getLogger(__name__)


def open_files() -> int:
    """The process's soft limit of open files now."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def raise_open_files(wanted: int = 0, what: str = "this process") -> int:
    """Raise the soft limit of open files to the hard limit; return the soft limit now.

    ``wanted``: what ``what`` is sized for; a WARNING says so when the limit stays below it.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
    got = open_files()
    if wanted and got < wanted:
        log.warning(
            "open-file limit %d is below the %d %s is sized for (raise the hard limit: "
            "ulimit -Hn, LimitNOFILE=, or the container runtime's nofile)",
            got,
            wanted,
            what,
        )
    else:
        log.info(
            "open-file limit: %d (hard %s)",
            got,
            "unlimited" if hard == resource.RLIM_INFINITY else hard,
        )
    return got


def connection_budget(limit: int, reserve: int = 512, per_connection: int = 1) -> int:
    """Connections a process with ``limit`` open files can hold, keeping ``reserve`` for the
    rest, when each takes ``per_connection`` descriptors (at least 16)."""
    return max((limit - reserve) // per_connection, 16)
