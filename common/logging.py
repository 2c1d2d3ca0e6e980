"""Structured logging: every line carries the station id, message id and request id in context.

The gateway sets ``station_id`` and ``message_id`` for each frame; the request id travels between
processes as gRPC metadata (``x-request-id``) and is set by the server interceptor.

Much of what is logged comes from outside (a station id from an unauthenticated handshake, a
frame's message id, a security event's techInfo), so one filter escapes every control character
of the message, its arguments and the context fields (``\\n``, ``\\r``, ``\\t``, ``\\xNN``):
nothing a client sends can start a line of its own. Tracebacks keep their lines.
"""

from __future__ import annotations

import contextvars
import logging
import sys

__all__ = ["escape", "station_id", "message_id", "request_id", "setup"]

station_id: contextvars.ContextVar[str] = contextvars.ContextVar("station_id", default="-")
message_id: contextvars.ContextVar[str] = contextvars.ContextVar("message_id", default="-")
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


# C0 controls, DEL, C1 controls and the Unicode line/paragraph separators: all can break a line.
_ESCAPES = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)
}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def escape(text: str) -> str:
    """``text`` with its control characters escaped; the common case costs one C-level scan."""
    if text.isprintable():
        return text
    return text.translate(_ESCAPES)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Formatted here once (the formatter would do it anyway), then escaped as a whole: any
        # argument of any type (%s of an exception, %r, a mapping) is covered.
        record.msg = escape(record.getMessage())
        record.args = None
        record.station_id = escape(station_id.get())
        record.message_id = escape(message_id.get())
        record.request_id = escape(request_id.get())
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
