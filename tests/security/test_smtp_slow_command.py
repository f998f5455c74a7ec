"""A command line trickled a byte at a time must not hold a session open.

The command timeout is a deadline for the whole line, counted from when the
server started waiting for it (RFC 5321 4.5.3.2.7 asks for at least 5 minutes
of patience, not for a timer that every byte restarts).
"""

import socket

import pytest

from checks import assert_clean_log
from protocol.smtpclient import Raw

TIMEOUT = 2          # smtpd.command_timeout for these tests, in seconds
PACE = 0.25          # the client waits this long for a reply between two bytes
MAX_BYTES = 40       # 10 s of trickling: far beyond the deadline


def trickle(raw, line):
    """Send `line` one byte at a time, waiting up to PACE for a reply after each.
    Returns the first reply, or None if the server never answered."""
    raw.sock.settimeout(PACE)
    for byte in line[:MAX_BYTES]:
        raw.send(bytes([byte]))
        try:
            return raw.reply()
        except socket.timeout:
            continue
    return None


@pytest.fixture
def mx_slow(instance):
    """smtpd with a command timeout short enough to reach in a test."""
    instance.add_config(f"[smtpd]\ncommand_timeout = {TIMEOUT}\n")
    instance.start("smtpd")
    yield instance
    assert_clean_log(instance, "smtpd")


def test_trickled_command_gets_421_and_close(mx_slow):
    raw = Raw(mx_slow.port("smtp"))
    assert raw.reply()[0] == 220
    reply = trickle(raw, b"EHLO " + b"a" * 200 + b"\r\n")
    assert reply is not None, "the server waited for the trickled line forever"
    assert reply[1][0].startswith("421 4.4.2")
    raw.sock.settimeout(10)
    assert raw.closed()


def test_trickled_overlong_line_gets_421(mx_slow):
    raw = Raw(mx_slow.port("smtp"))
    assert raw.reply()[0] == 220
    raw.send(b"NOOP " + b"x" * 3000)         # past the line limit: being discarded
    reply = trickle(raw, b"y" * 100)
    assert reply is not None and reply[1][0].startswith("421 4.4.2")


def test_each_command_has_its_own_deadline(mx_slow):
    """Prompt commands spread over several timeouts are all served."""
    raw = Raw(mx_slow.port("smtp"))
    assert raw.reply()[0] == 220
    for _ in range(int(2 * TIMEOUT / PACE) + 1):
        raw.sock.settimeout(PACE)
        with pytest.raises(socket.timeout):
            raw.reply()                     # the server stays silent meanwhile
        raw.sock.settimeout(10)
        assert raw.cmd("NOOP")[0] == 250
