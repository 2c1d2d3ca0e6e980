"""Structured logging: every line carries the station id, message id and request id in context.

The gateway sets ``station_id`` and ``message_id`` for each frame; the request id travels between
processes as gRPC metadata (``x-request-id``) and is set by the server interceptor.
"""

from __future__ import annotations

import contextvars
import logging
import sys

__all__ = ["station_id", "message_id", "request_id", "setup"]

station_id: contextvars.ContextVar[str] = contextvars.ContextVar("station_id", default="-")
message_id: contextvars.ContextVar[str] = contextvars.ContextVar("message_id", default="-")
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.station_id = station_id.get()
        record.message_id = message_id.get()
        record.request_id = request_id.get()
        return True


def setup(process: str, level: str = "INFO") -> None:
    """Configure the root logger of a process once: key=value lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s level=%(levelname)s proc={process} logger=%(name)s "
            "station=%(station_id)s msg=%(message_id)s req=%(request_id)s %(message)s"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
