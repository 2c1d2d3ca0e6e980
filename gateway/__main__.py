"""``python -m gateway``: serve stations until SIGTERM."""

from common import logging as csms_logging
from common import metrics
from gateway.server import run
from gateway.settings import get_settings


def main() -> None:
    settings = get_settings()
    csms_logging.setup("gateway", settings.log_level, settings.log_format)
    metrics.serve(settings.metrics_port, settings.metrics_host)
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        import asyncio

        asyncio.run(run(settings))
    else:
        uvloop.run(run(settings))


if __name__ == "__main__":
    main()
