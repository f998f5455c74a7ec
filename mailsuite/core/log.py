"""Logging: journald under systemd, else one line per event on stderr.

Every line about a message starts with its queue id, as in Postfix ("4QJ8K2M3P7XA:
from=<a@b>"), so `journalctl -u mail-smtpd | grep ID` follows a message.

Whatever a client sends, one event is one line of at most MAX_LINE bytes: control
characters and line breaks in a message are escaped (so nobody can forge a log line
or drive a terminal), and a longer line is cut with a visible marker. A traceback,
the sign of a bug, keeps its lines, each escaped and cut the same way.
"""

import logging
import os
import sys

from . import activation

MAX_LINE = 2048     # bytes
PREFIX_ROOM = 128   # bytes of a line before its message: time, program, pid


def setup(program, level="info"):
    """Configure the root logger for `program`; returns the program's logger."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = None
    if activation.under_systemd():
        try:
            from systemd.journal import JournalHandler
            handler = JournalHandler(SYSLOG_IDENTIFIER=program)
            handler.setFormatter(Formatter("%(message)s"))
        except ImportError:
            handler = None
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(Formatter(
            f"%(asctime)s {program}[{os.getpid()}]: %(message)s", "%H:%M:%S"))
    # JournalHandler sends a record's msg and args as fields of their own.
    handler.addFilter(render_message)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    return logging.getLogger(program)


def render_message(record):
    """Put the arguments into the message, escaped and cut, once for every place
    a handler copies them to; room is left for the line's prefix."""
    try:
        message = record.getMessage()
    except Exception:
        return True     # a bad format string: the handler reports it as logging does
    record.msg = one_line(message, MAX_LINE - PREFIX_ROOM)
    record.args = None
    return True


class Formatter(logging.Formatter):
    """logging.Formatter whose every line is escaped and at most MAX_LINE bytes."""

    def formatMessage(self, record):
        return one_line(super().formatMessage(record))

    def formatException(self, ei):
        return _each_line(super().formatException(ei))

    def formatStack(self, stack_info):
        return _each_line(super().formatStack(stack_info))


def one_line(text, limit=MAX_LINE):
    """`text` with every non-printable character escaped as Python does ("\\n",
    "\\x1b", "\\u2028", "\\udcff" for an undecodable byte), cut to at most `limit`
    UTF-8 bytes with a marker that says so."""
    # A character takes at least one byte: the first `limit` ones are enough.
    shown = text[:limit]
    if not shown.isprintable():
        shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in shown)
    data = shown.encode()
    if len(text) <= limit and len(data) <= limit:
        return shown
    marker = f"...[cut, {len(text)} characters]"
    return data[:limit - len(marker)].decode(errors="ignore") + marker


def _each_line(text):
    return "\n".join(one_line(line) for line in text.split("\n"))
