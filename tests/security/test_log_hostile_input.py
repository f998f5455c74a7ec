"""Whatever a client sends, every log event stays one line of at most 2 KiB:
control characters and line breaks a client puts in a HELO name or an address
are escaped, so nobody can forge log lines or scramble a terminal."""

import re

from checks import USER, assert_clean_log
from harness import wait_for
from protocol.smtpclient import Raw

# Line breaks for a terminal or for str.splitlines (CR, VT, FS, NEL, LS), ESC.
HOSTILE_HELO = "evil\rforged:line\x0b\x1c\x1b[2J\u0085\u2028end".encode()
HOSTILE_SENDER = '<"x\u2028forged\u0085line"@sender.test> SMTPUTF8'.encode()


def commands():
    yield b"EHLO " + b"h" * 2000
    yield b"MAIL FROM:<" + b"m" * 2000 + b"@sender.test>"
    yield b"NOOP \xff\xfe invalid \xc3\x28 UTF-8"
    yield b"\x00\x01\x02\x7f" * 100
    yield b"EHLO " + HOSTILE_HELO
    yield b"MAIL FROM:" + HOSTILE_SENDER
    yield b"RCPT TO:<" + USER.encode() + b">"
    yield b"DATA"


def one_event_per_line(text, program):
    """Every line starts as the log's events do (the log has no traceback)."""
    prefix = re.compile(rf"\d\d:\d\d:\d\d {program}\[\d+\]: ")
    return all(prefix.match(line) for line in text.splitlines())


def test_hostile_commands_leave_a_clean_log(mx):
    raw = Raw(mx.port("smtp"))
    raw.reply()
    for line in commands():
        raw.send(line + b"\r\n")
        raw.reply()
    raw.send(b"Subject: hostile\r\n\r\nbody\r\n.\r\n")
    assert raw.reply()[0] == 250
    assert raw.cmd("QUIT")[0] == 221
    assert wait_for(lambda: "removed" in mx.log("deliverd"))
    assert wait_for(lambda: "disconnect from" in mx.log("smtpd"))
    for program in ("smtpd", "deliverd"):
        text = mx.log(program)
        assert_clean_log(mx, program)
        assert all(c.isprintable() for c in text.replace("\n", "")), text
        assert one_event_per_line(text, program), text
