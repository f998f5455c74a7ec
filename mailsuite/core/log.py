"""Logging: journald under systemd, else one line per event on stderr.

Every line about a message starts with its queue id, as in Postfix ("4QJ8K2M3P7XA:
from=<a@b>"), so `journalctl -u mail-smtpd | grep ID` follows a message.
"""

import logging
import os
import sys

from . import activation


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
            handler.setFormatter(logging.Formatter("%(message)s"))
        except ImportError:
            handler = None
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(
            f"%(asctime)s {program}[{os.getpid()}]: %(message)s", "%H:%M:%S"))
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    return logging.getLogger(program)
