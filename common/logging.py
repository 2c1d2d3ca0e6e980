"""Structured logging: every line carries the station id, message id and request id in context.

Two formats, the same fields: key=value lines (the default) or one JSON object per line
(``json``: ``{"time", "level", "proc", "logger", "station", "msg", "req", "message"}`` and
``"exc"`` with a traceback), chosen by each process's ``LOG_FORMAT`` setting
(``CSMS_LOG_FORMAT`` for the whole mesh).

The gateway sets ``station_id`` and ``message_id`` for each frame; the request id travels between
processes as gRPC metadata (``x-request-id``) and is set by the server interceptor.

Much of what is logged comes from outside (a station id from an unauthenticated handshake, a
frame's message id, a security event's techInfo), so one filter escapes every control character
of the message, its arguments and the context fields (``\\n``, ``\\r``, ``\\t``, ``\\xNN``):
nothing a client sends can start a line of its own. Tracebacks keep their lines.
"""

from __future__ import annotations

import contextvars
import datetime
import logging
import sys

import orjson

__all__ = ["FORMATS", "JsonFormatter", "escape", "station_id", "message_id", "request_id", "setup"]

FORMATS = ("text", "json")

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


class JsonFormatter(logging.Formatter):
    """One JSON object per line with the text format's fields (its message already escaped of
    control characters by the filter; JSON escapes what is left)."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "proc": self.process,
            "logger": record.name,
            "station": getattr(record, "station_id", "-"),
            "msg": getattr(record, "message_id", "-"),
            "req": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def setup(process: str, level: str = "INFO", fmt: str = "text") -> None:
    """Configure the root logger of a process once: key=value lines (``fmt`` "text") or JSON
    objects (``fmt`` "json"), one per line, on stderr."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {FORMATS}, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    handler.setFormatter(
        JsonFormatter(process)
        if fmt == "json"
        else logging.Formatter(
            f"%(asctime)s level=%(levelname)s proc={process} logger=%(name)s "
            "station=%(station_id)s msg=%(message_id)s req=%(request_id)s %(message)s"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # What no line shows is not gathered per record either (the standard library's documented
    # optimization knobs): the caller's file and line (a walk up the stack), the thread's and
    # the process's names and ids. A line costs a quarter less.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
