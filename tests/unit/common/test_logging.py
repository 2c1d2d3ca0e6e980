"""Log lines: values from outside cannot forge lines (control characters are escaped)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from common import logging as log_ctx


def _captured(fmt: str) -> Iterator[io.StringIO]:
    """The root logger set up as a process does (in ``fmt``), writing to a buffer; restored
    after."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    log_ctx.setup("test", fmt=fmt)
    out = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    yield out
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    yield from _captured("text")


def test_crlf_in_args_does_not_start_a_new_line(lines: io.StringIO) -> None:
    """A CR/LF in a %s argument is written escaped, on the same line."""
    forged = "x\r\n2026-12-04 level=ERROR proc=gateway forged"
    logging.getLogger("t").info("bad frame: %s (%r)", forged, forged)
    text = lines.getvalue()
    assert text.count("\n") == 1
    assert "\r" not in text
    assert "bad frame: x\\r\\n2026-12-04 level=ERROR proc=gateway forged" in text


def test_exception_argument_is_escaped(lines: io.StringIO) -> None:
    """An exception whose message came from outside is escaped like a string."""
    logging.getLogger("t").warning("failed: %s", ValueError("a\nlevel=ERROR b"))
    text = lines.getvalue()
    assert text.count("\n") == 1
    assert "failed: a\\nlevel=ERROR b" in text


def test_mapping_argument_is_escaped(lines: io.StringIO) -> None:
    """A single mapping argument (%(name)s) is escaped too."""
    logging.getLogger("t").info("type=%(type)s", {"type": "a\nb"})
    assert lines.getvalue().count("\n") == 1
    assert "type=a\\nb" in lines.getvalue()


def test_numbers_keep_their_format(lines: io.StringIO) -> None:
    """%d and %.1f still take numbers."""
    logging.getLogger("t").info("n=%d t=%.1f", 3, 2.25)
    assert "n=3 t=2.2" in lines.getvalue()


def test_context_fields_are_escaped(lines: io.StringIO) -> None:
    """The station id and message id in context come from outside too."""
    token_s = log_ctx.station_id.set("CS1\nlevel=ERROR")
    token_m = log_ctx.message_id.set("m\r\x00\x1b[31m")
    try:
        logging.getLogger("t").info("hello")
    finally:
        log_ctx.station_id.reset(token_s)
        log_ctx.message_id.reset(token_m)
    text = lines.getvalue()
    assert text.count("\n") == 1
    assert "station=CS1\\nlevel=ERROR" in text
    assert "msg=m\\r\\x00\\x1b[31m" in text


def test_message_itself_is_escaped(lines: io.StringIO) -> None:
    """A message logged without arguments (an f-string somewhere) cannot forge a line either."""
    logging.getLogger("t").info("value\nlevel=ERROR forged")
    assert lines.getvalue().count("\n") == 1


def test_traceback_stays_multiline(lines: io.StringIO) -> None:
    """A traceback is ours: it keeps its lines."""
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("t").exception("it failed")
    assert "Traceback (most recent call last):\n" in lines.getvalue()


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """CSMS_LOG_FORMAT=json."""
    yield from _captured("json")


def test_json_lines_carry_the_text_formats_fields(json_lines: io.StringIO) -> None:
    """One object per line, the same fields as key=value lines; a forged line stays inside."""
    import orjson

    log_ctx.station_id.set("CS\n1")
    log_ctx.request_id.set("r1")
    logging.getLogger("t.x").warning("hello %s", "a\nb")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("t").exception("it failed")
    log_ctx.station_id.set("-")
    log_ctx.request_id.set("-")
    first, second = (orjson.loads(line) for line in json_lines.getvalue().splitlines())
    assert {
        k: first[k] for k in ("level", "proc", "logger", "station", "msg", "req", "message")
    } == {
        "level": "WARNING",
        "proc": "test",
        "logger": "t.x",
        "station": "CS\\n1",
        "msg": "-",
        "req": "r1",
        "message": "hello a\\nb",
    }
    assert first["time"].endswith("+00:00")
    assert "Traceback (most recent call last)" in second["exc"]


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format"):
        log_ctx.setup("test", fmt="xml")
