"""Hostile input to pop3d: over-long lines, bytes that are not text, unknown
commands and commands in the wrong state each get -ERR and the session goes on,
within a budget of errors (pop3d.max_errors) that ends an abusive session; the
log stays one short line per event and holds no traceback."""

import pytest

from checks import PASSWORD, USER, assert_clean_log
from harness import wait_for
from mailsuite.core import maildir
from protocol.popclient import RawPop

MAX_ERRORS = 10         # pop3d.max_errors, by default

HOSTILE = [
    b"NOOP " + b"x" * 10_000,                   # over the 8 KiB line limit
    b"USER " + b"\xff\xfe\xc3\x28",             # not UTF-8
    b"\x00\x01\x02\x7f" * 100,
    b"RETR 1",                                  # TRANSACTION only
    b"XTND XMIT",
    b"\x1b[2J\rSTAT",
    b"UIDL " + b"9" * 5000,
    "LIST\u2028forged".encode(),
    b"TOP 1 " + b"1" * 30,
]


@pytest.fixture
def pop3(instance):
    instance.add_user(USER, PASSWORD)
    with maildir.Store(instance.maildir(USER)) as store:
        store.deliver(maildir.unique_base(), b"Subject: hi\r\n\r\nhello\r\n")
    instance.start("pop3d")
    yield instance
    assert_clean_log(instance, "pop3d")


def test_each_hostile_line_is_an_error_and_the_session_goes_on(pop3):
    conn = RawPop(pop3.port("pop3"))
    for line in HOSTILE[:MAX_ERRORS - 1]:
        answer = conn.command(line)
        assert answer.startswith(b"-ERR ") and len(answer) < 200, (line, answer)
    assert conn.login(USER, PASSWORD).startswith(b"+OK maildrop has 1 messages")
    assert conn.command("STAT").startswith(b"+OK 1 ")


def test_the_error_budget_ends_an_abusive_session(pop3):
    conn = RawPop(pop3.port("pop3"))
    conn.send(b"BOGUS\r\n" * (MAX_ERRORS + 5))
    answers = conn.rest().splitlines()
    assert answers == [b"-ERR unknown command"] * MAX_ERRORS + [b"-ERR too many errors"]
    assert wait_for(lambda: "reason=too many errors" in pop3.log("pop3d"))


def test_a_flood_within_one_line_is_discarded_as_it_comes(pop3):
    conn = RawPop(pop3.port("pop3"))
    conn.send(b"A" * (4 << 20) + b"\r\nNOOP\r\n")
    assert conn.line() == b"-ERR line too long\r\n"
    assert conn.line().startswith(b"-ERR NOOP is not allowed")


def test_logged_in_errors_leave_the_mailbox_alone(pop3):
    conn = RawPop(pop3.port("pop3"))
    assert conn.login(USER, PASSWORD).startswith(b"+OK")
    assert conn.command("DELE 1").startswith(b"+OK")
    conn.send(b"\xff\r\n" * (MAX_ERRORS + 1))
    assert conn.rest().endswith(b"-ERR too many errors\r\n")
    # Ended without QUIT: nothing was removed.
    conn = wait_for(lambda: _logged_in(pop3))
    assert conn.command("STAT").startswith(b"+OK 1 ")


def _logged_in(instance):
    conn = RawPop(instance.port("pop3"))
    if conn.login(USER, PASSWORD).startswith(b"+OK"):
        return conn
    conn.close()
    return None


def test_log_lines_stay_short_and_escaped(pop3):
    conn = RawPop(pop3.port("pop3"))
    conn.command(b"USER " + b"\x1b[2J" + "\u2028".encode() * 2000)
    assert conn.command("PASS wrong") == b"-ERR [AUTH] authentication failed\r\n"
    text = pop3.log("pop3d")
    assert "login failed: user=\\x1b[2J\\u2028" in text
    assert all(c.isprintable() for c in text.replace("\n", ""))
