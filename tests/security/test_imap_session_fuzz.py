"""Fuzzing the real imapd session over a socket, before and after login.

Each generated command is sent with a NOOP pipelined behind it. The command must
get exactly one completion: its tagged OK, NO or BAD, or an untagged BAD when it
has no valid tag; never NO [SERVERBUG]; and the NOOP behind it must get its OK,
so the session still serves. The `imap` fixture then checks the log: no
traceback, no line over 2 KiB. Bounded: a fixed number of examples, and a time
budget after which the remaining examples send nothing.
"""

import re
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings

from checks import USER
from imapfuzz import commands
from mailsuite.core import maildir
from rawimap import RawImap

EXAMPLES = 300
BUDGET = 60             # seconds of sending per test
SENTINEL = "zz9"
COMPLETION = re.compile(rb"(\S+) (OK|NO|BAD)( |\r\n)")
MESSAGE = b"From: a@example.org\r\nSubject: fuzz\r\n\r\nbody\r\n"


@pytest.fixture
def mailbox(imap):
    with maildir.Store(imap.maildir(USER)) as store:
        store.create_folder("Archive/2024")
        for flags in ((), ("\\Seen",)):
            store.deliver(maildir.unique_base(), MESSAGE, flags=flags)
    return imap


def check(raw, tag, line):
    """Send one command and the sentinel; check the replies to both."""
    raw.send(line + b"\r\n" + SENTINEL.encode() + b" NOOP\r\n")
    replies = []
    while not (replies and replies[-1].startswith(SENTINEL.encode() + b" ")):
        reply = raw.response()
        assert reply, f"connection closed after {line[:200]!r}: {replies}"
        replies.append(reply)
    *answers, last = replies
    context = (line[:200], answers)
    assert last.startswith(SENTINEL.encode() + b" OK"), (line[:200], replies)
    assert not any(b"SERVERBUG" in answer for answer in answers), context
    completions = [answer for answer in answers if COMPLETION.match(answer)
                   and answer.startswith((tag or "*").encode() + b" ")]
    assert completions and completions == answers[-1:], context
    if tag is None:
        # RFC 9051 7.1.3: a BAD that cannot name the command is untagged.
        assert completions[0].startswith(b"* BAD"), context
    else:
        assert not any(answer.startswith(b"* BAD") for answer in answers), context


def fuzz(raw, before=lambda: None):
    """Check generated commands, calling before() ahead of each."""
    stop = time.monotonic() + BUDGET

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(commands())
    def run(command):
        tag, line = command
        assume(not line.startswith((b"zz8 ", SENTINEL.encode() + b" ")))
        if time.monotonic() < stop:
            before()
            check(raw, tag, line)
    run()


def test_fuzz_before_login(mailbox):
    raw = RawImap(mailbox.port("imap"))
    fuzz(raw)
    raw.login()


def test_fuzz_logged_in_with_a_mailbox_selected(mailbox):
    raw = RawImap(mailbox.port("imap"))
    raw.login()

    def select():
        # Commands may deselect (CLOSE, UNSELECT, a failed SELECT): select again.
        assert raw.command("SELECT INBOX", "zz8")[0].startswith(b"zz8 OK")
    fuzz(raw, select)
    select()
    assert raw.command("FETCH 1:* (FLAGS)")[0].startswith(b"t1 OK")
