"""A LIST pattern cannot freeze imapd.

The wildcards of a LIST pattern were matched by a backtracking regex: `LIST ""
"****...a"` with about 100 "*" held the event loop for about 20 s, and every other
session with it; 2,000 "*" for minutes. Matching now takes time linear in the
name's length, and the pattern's length is bounded.
"""

import pytest

from checks import USER
from mailsuite.core import maildir
from rawimap import RawImap

LONG_NAME = "a" * 200


@pytest.fixture
def folders(imap):
    with maildir.Store(imap.maildir(USER)) as store:
        for name in ("Data", "Archive/Java", "Sent", LONG_NAME):
            store.create_folder(name)
    return imap


def listed(untagged):
    return [line.rsplit(b" ", 1)[1].strip(b'"\r\n').decode() for line in untagged]


def test_many_stars_are_answered_and_other_sessions_are_served(folders):
    attacker, other = RawImap(folders.port("imap")), RawImap(folders.port("imap"))
    attacker.login()
    other.login()
    attacker.send(b't1 LIST "" "' + b"*" * 1000 + b'a"\r\n')
    assert other.command("NOOP", "o1")[0].startswith(b"o1 OK")
    tagged, untagged = attacker.until("t1")
    assert tagged.startswith(b"t1 OK")
    assert sorted(listed(untagged)) == sorted(["Data", "Archive/Java", LONG_NAME])


def test_many_alternations_against_a_long_name(folders):
    # The classic worst case of a backtracking matcher: "*a*a*a...*b" on "aaaa...".
    raw = RawImap(folders.port("imap"))
    raw.login()
    tagged, untagged = raw.command(b'LIST "" "' + b"*a" * 100 + b'*b"')
    assert tagged.startswith(b"t1 OK") and untagged == []
    tagged, untagged = raw.command(b'LIST "" "' + b"%a" * 100 + b'%"')
    assert tagged.startswith(b"t1 OK") and listed(untagged) == [LONG_NAME]


def test_percent_stops_at_the_delimiter(folders):
    raw = RawImap(folders.port("imap"))
    raw.login()
    _, untagged = raw.command(b'LIST "" "' + b"%" * 1000 + b'a"')
    assert sorted(listed(untagged)) == sorted(["Data", LONG_NAME])


def test_an_over_long_pattern_is_refused(folders):
    raw = RawImap(folders.port("imap"))
    raw.login()
    pattern = b"*" * 5000
    raw.send(b"t1 LIST \"\" {%d+}\r\n" % len(pattern) + pattern + b"\r\n")
    tagged, untagged = raw.until("t1")
    assert tagged.startswith(b"t1 BAD [TOOBIG]") and untagged == []
    assert raw.command("NOOP")[0].startswith(b"t1 OK")
