"""core.log: whatever a message holds, one event is one line of at most MAX_LINE
bytes; tracebacks keep their lines."""

import io
import logging

import pytest

from mailsuite.core import log as corelog
from mailsuite.core.log import MAX_LINE, one_line


@pytest.fixture
def logged(monkeypatch):
    """Set up logging as a daemon does; returns a function giving what was logged."""
    err = io.StringIO()
    monkeypatch.setattr(corelog.sys, "stderr", err)
    monkeypatch.setattr(corelog.activation, "under_systemd", lambda: False)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    corelog.setup("smtpd")
    yield err.getvalue
    root.handlers[:], root.level = saved


def lines(text):
    return text.split("\n")[:-1]


def test_printable_text_is_unchanged():
    assert one_line("4QJ8K2M3P7XA: from=<ä@b.test>, size=12") == \
        "4QJ8K2M3P7XA: from=<ä@b.test>, size=12"


@pytest.mark.parametrize("char, shown", [
    ("\n", "\\n"), ("\r", "\\r"), ("\x1b", "\\x1b"), ("\x00", "\\x00"),
    ("\x0b", "\\x0b"), ("\x85", "\\x85"), ("\u2028", "\\u2028"),
    ("\udcff", "\\udcff"), ("\x7f", "\\x7f")])
def test_control_characters_are_escaped(char, shown):
    assert one_line(f"a{char}b") == f"a{shown}b"


@pytest.mark.parametrize("text", ["x" * 5000, "é" * 5000, "\x1b" * 5000,
                                  "x" * 2040 + "€" * 10, "\n" * MAX_LINE])
def test_long_text_is_cut_with_a_marker(text):
    shown = one_line(text)
    assert len(shown.encode()) <= MAX_LINE
    assert shown.endswith(f"...[cut, {len(text)} characters]")
    assert "\n" not in shown


def test_text_at_the_limit_is_whole():
    assert one_line("x" * MAX_LINE) == "x" * MAX_LINE


def test_hostile_message_is_one_short_line(logged):
    hostile = "evil\r\nforged line\x1b[2J\udcff" + "h" * 10000
    logging.getLogger("smtpd").info("client=%s[%s]", hostile, "192.0.2.1")
    out = lines(logged())
    assert len(out) == 1
    assert " smtpd[" in out[0] and "client=evil\\r\\nforged line\\x1b[2J\\udcff" in out[0]
    assert len(out[0].encode()) <= MAX_LINE and "...[cut, " in out[0]


def test_traceback_keeps_its_lines_each_cut(logged):
    try:
        raise ValueError("bad input " + "v" * 5000 + "\x1b")
    except ValueError:
        logging.getLogger("smtp").exception("[%s]: %s failed", "192.0.2.1", "MAIL")
    out = lines(logged())
    assert out[0].endswith("[192.0.2.1]: MAIL failed")
    assert out[1] == "Traceback (most recent call last):"
    assert out[-1].startswith("ValueError: bad input vvv")
    assert all(len(line.encode()) <= MAX_LINE for line in out)


def test_journal_fields_get_the_rendered_message():
    record = logging.LogRecord("smtpd", logging.INFO, __file__, 1, "helo=%s",
                               ("a\nb" * 2000,), None)
    corelog.render_message(record)
    assert record.args is None
    assert "\n" not in record.msg and len(record.msg.encode()) <= MAX_LINE


def test_bad_format_string_is_left_to_logging():
    record = logging.LogRecord("smtpd", logging.INFO, __file__, 1, "%d", ("x",), None)
    assert corelog.render_message(record)
    assert record.args == ("x",)
