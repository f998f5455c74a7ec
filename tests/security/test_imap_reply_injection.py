"""A reply never echoes raw client bytes.

BAD and NO texts quoted the client's input as it came: a mailbox name sent as a
literal could carry CR LF and so forge whole response lines (`* BYE`, `* 1
EXISTS`), non-ASCII and control bytes went out raw, and a text could end in `{3}`,
which the client reads as the announcement of a literal and so swallows the next
response. The status builder (imapd.response) now makes any text printable ASCII,
one line, bounded, and never ending in a literal's announcement.
"""

import re

import pytest

from mailsuite.imapd.response import MAX_TEXT
from rawimap import RawImap

LITERAL_AT_END = re.compile(rb"\{\d+\+?\}\r?\n?\Z")


@pytest.fixture
def raw(imap):
    client = RawImap(imap.port("imap"))
    client.login()
    yield client
    client.close()


def reply_to(raw, data):
    """Send one command; return the very next line, read as a line only."""
    raw.send(b"t1 " + data + b"\r\n")
    return raw.line()


def assert_safe(line):
    assert line.startswith((b"t1 BAD ", b"t1 NO ")), line
    assert line.endswith(b"\r\n") and line.count(b"\r") == 1 and b"\n" not in line[:-1]
    assert all(0x20 <= c <= 0x7e for c in line[:-2]), line
    assert not LITERAL_AT_END.search(line), line
    assert len(line) <= len(b"t1 BAD [TOOBIG] ") + MAX_TEXT + 2


def assert_next_reply_is_ours(raw):
    line = reply_to(raw, b"NOOP")
    assert line == b"t1 OK NOOP completed\r\n", line


def test_a_name_with_crlf_cannot_forge_responses(raw):
    name = b"&\r\n* BYE forged\r\n* 9 EXISTS"
    assert_safe(reply_to(raw, b"SELECT {%d+}\r\n" % len(name) + name))
    assert_next_reply_is_ours(raw)


@pytest.mark.parametrize("command", [
    b'SELECT "a&{3}"',
    b'SELECT "&{12345+}"',
    b"FETCH 1 " + b"A" * 36 + b"[{3}]",
], ids=["utf7 name", "utf7 name, literal+", "fetch item cut at 40"])
def test_a_reply_never_ends_in_a_literal_announcement(raw, command):
    raw.command("SELECT INBOX", "s")
    assert_safe(reply_to(raw, command))
    assert_next_reply_is_ours(raw)


def test_non_ascii_and_control_bytes_are_not_echoed(raw):
    assert_safe(reply_to(raw, 'SELECT "&\x1b[2J\x07é"'.encode()))
    assert_next_reply_is_ours(raw)


def test_an_echo_is_bounded(raw):
    assert_safe(reply_to(raw, b'SELECT "&' + b"x" * 1000 + b'"'))
    assert_next_reply_is_ours(raw)
