"""The start of every service process: logging, migrations, uvloop, run until signalled."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from common import db, metrics
from common import logging as csms_logging
from common.settings import ServiceSettings

__all__ = ["main"]

S = TypeVar("S", bound=ServiceSettings)


def main(package: str, settings: S, run: Callable[[S], Coroutine[Any, Any, None]]) -> None:
    """Configure logging, apply the service's migrations (``--no-migrate`` skips), then run."""
    csms_logging.setup(package, settings.log_level, settings.log_format)
    metrics.serve(settings.metrics_port, settings.metrics_host)
    if "--no-migrate" not in sys.argv:
        db.migrate(package, settings.database_url)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is pinned, but not on Windows
        asyncio.run(run(settings))
    else:
        uvloop.run(run(settings))
