"""The bad-input battery against smtpd: over-long lines, NUL bytes, invalid UTF-8
in headers, 8-bit data without 8BITMIME, a missing or duplicated From field, huge
header sections. Each gets a clear reply (a code and an enhanced status), the
message taken before it in the same session is delivered, the session or the
next one goes on, and the log stays clean (checked when the module ends).

What is refused: a command line over 2048 octets (500 5.5.2), an address with a
NUL (501), a header section over smtpd.max_header_size (552 5.3.4). The rest is
taken as sent (RFC 5321 is liberal there, as Postfix is), byte for byte; only
sender authentication, where it runs, may refuse a message without a single
From field (RFC 7489 6.6.1: 550 5.7.1)."""

import re

import pytest

from defencemx import start_mx
from harness import wait_for
from mailsuite.core.spool import Spool
from protocol.smtpclient import Raw
from security.checks import USER, assert_clean_log

MAX_HEADER = 65536
CLEAR = re.compile(r"\d{3} \d\.\d{1,3}\.\d{1,3} \S")


@pytest.fixture(scope="module")
def mx(tmp_path_factory):
    inst = start_mx(tmp_path_factory.mktemp("mx"), f"""
[smtpd]
max_header_size = {MAX_HEADER}
""")
    yield inst
    inst.close()
    for program in ("smtpd", "deliverd"):
        assert_clean_log(inst, program)


def session(inst):
    raw = Raw(inst.port("smtp"))
    assert raw.reply()[0] == 220
    assert raw.cmd("EHLO client.test")[0] == 250
    return raw


def message(subject, body=b"body\r\n", head=b""):
    return (b"From: <a@sender.test>\r\nTo: <" + USER.encode() + b">\r\nSubject: "
            + subject + b"\r\n" + head + b"\r\n" + body)


def send(raw, data, mail="MAIL FROM:<a@sender.test>"):
    """The reply to the end of `data`, sent with its envelope (dot-stuffed)."""
    assert raw.cmd(mail)[0] == 250
    assert raw.cmd(f"RCPT TO:<{USER}>")[0] == 250
    assert raw.cmd("DATA")[0] == 354
    raw.send(data.replace(b"\r\n.", b"\r\n..") + b".\r\n")
    return raw.reply()


def clear(reply, code, enhanced):
    got, lines = reply
    assert CLEAR.match(lines[0]), lines
    assert (got, lines[0][4:].split()[0]) == (code, enhanced), lines


def stored(inst, subject):
    """The delivered message whose Subject is `subject`, or None."""
    for path in inst.inbox_files():
        data = path.read_bytes()
        if b"\r\nSubject: " + subject + b"\r\n" in data:
            return data
    return None


def good_then(inst, name):
    """A session that has had a good message taken; its subject."""
    raw = session(inst)
    subject = f"before {name}".encode()
    clear(send(raw, message(subject)), 250, "2.0.0")
    return raw, subject


def after(inst, raw, subject, name):
    """The message before was delivered, and the session still takes mail."""
    later = f"after {name}".encode()
    clear(send(raw, message(later)), 250, "2.0.0")
    raw.cmd("QUIT")
    assert wait_for(lambda: stored(inst, subject) and stored(inst, later))


def test_an_overlong_command_line(mx):
    raw, subject = good_then(mx, "long command")
    raw.send(b"NOOP " + b"x" * 5000 + b"\r\n")
    clear(raw.reply(), 500, "5.5.2")
    after(mx, raw, subject, "long command")


def test_an_overlong_data_line_is_kept_whole(mx):
    raw, subject = good_then(mx, "long line")
    line = b"y" * 20000 + b"\r\n"
    clear(send(raw, message(b"long line", line)), 250, "2.0.0")
    after(mx, raw, subject, "long line")
    assert wait_for(lambda: stored(mx, b"long line")).endswith(line)


def test_nul_bytes(mx):
    raw, subject = good_then(mx, "nul")
    assert raw.cmd("MAIL FROM:<a@sender.test>")[0] == 250
    code, lines = raw.cmd("RCPT TO:<de\x00mo@example.test>")
    assert code == 501 and CLEAR.match(lines[0]), lines
    assert raw.cmd("RSET")[0] == 250
    data = message(b"nul", b"a\x00b\r\n", head=b"X-Nul: c\x00d\r\n")
    clear(send(raw, data), 250, "2.0.0")
    after(mx, raw, subject, "nul")
    assert b"X-Nul: c\x00d\r\n" in wait_for(lambda: stored(mx, b"nul"))


def test_invalid_utf8_in_headers(mx):
    raw, subject = good_then(mx, "utf8")
    data = message(b"bad \xff\xfe\xc3\x28", head=b"X-Name: \xe2\x82\r\n")
    clear(send(raw, data, "MAIL FROM:<a@sender.test> BODY=8BITMIME"), 250, "2.0.0")
    after(mx, raw, subject, "utf8")
    assert wait_for(lambda: stored(mx, b"bad \xff\xfe\xc3\x28"))


def test_8bit_data_without_8bitmime(mx):
    raw, subject = good_then(mx, "8bit")
    clear(send(raw, message(b"eight", "caf\u00e9\r\n".encode("latin-1"))), 250,
          "2.0.0")
    after(mx, raw, subject, "8bit")
    # A HELO client (no extensions at all) sending 8-bit data, too.
    raw = Raw(mx.port("smtp"))
    raw.reply()
    assert raw.cmd("HELO old.test")[0] == 250
    clear(send(raw, message(b"helo eight", b"\xe9t\xe9\r\n")), 250, "2.0.0")
    raw.cmd("QUIT")
    assert wait_for(lambda: stored(mx, b"helo eight"))


@pytest.mark.parametrize("name, data", [
    ("no from", b"To: <" + USER.encode() + b">\r\nSubject: no from\r\n\r\nbody\r\n"),
    ("two froms", message(b"two froms", head=b"From: <b@other.test>\r\n")),
], ids=["no from", "two froms"])
def test_missing_or_duplicated_from(mx, name, data):
    raw, subject = good_then(mx, name)
    code, lines = send(raw, data)
    assert CLEAR.match(lines[0]), lines
    assert (code, lines[0][4:9]) in ((250, "2.0.0"), (550, "5.7.1")), lines
    after(mx, raw, subject, name)


@pytest.mark.parametrize("name, head", [
    ("many fields", b"".join(b"X-F%d: %s\r\n" % (n, b"v" * 60)
                             for n in range(MAX_HEADER // 60))),
    ("one endless field", b"X-Long: " + b"w" * (MAX_HEADER * 2) + b"\r\n"),
], ids=["many fields", "one endless field"])
def test_huge_header_sections_are_refused(mx, name, head):
    raw, subject = good_then(mx, name)
    with Spool(mx.state) as spool:
        before = spool.count()
    clear(send(raw, message(name.encode(), head=head)), 552, "5.3.4")
    with Spool(mx.state) as spool:
        assert spool.count() <= before     # deliverd may have taken one meanwhile
    after(mx, raw, subject, name)
    assert stored(mx, name.encode()) is None
