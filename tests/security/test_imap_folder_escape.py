"""A mailbox name can never reach outside the user's Maildir.

Folder names become directory names (Maildir++: ".A.B" below the user's root), so
CREATE, RENAME, DELETE, SUBSCRIBE, STATUS and SELECT are given names made to
climb out or to break the mapping: "..", "/" at either end or doubled, NUL and
other control characters, "~", the escape character, over-long names in bytes and
in characters. Each is refused with NO or BAD, or kept inside as an escaped
directory name; the session goes on; nothing appears anywhere in the instance but
folders directly below the user's root; and the log stays clean (the fixture).
"""

import os

import pytest

from checks import USER
from rawimap import RawImap

NAMES = [b"..", b"../..", b"../../../../etc", b"a/../../b", b"/etc", b"/", b"//",
         b"a//b", b"a/", b".", b"./x", b"~", b"~/x", b"a\\b", b"..\\..",
         b"\x00", b"a\x00b", b"a\r\nb", b"a\tb", b"\x7f",
         b"x" * 300, "é".encode() * 200, b"a/" * 200 + b"a", b"." * 100]
VERBS = [b"CREATE %s", b"RENAME Work %s", b"RENAME %s Elsewhere", b"DELETE %s",
         b"SUBSCRIBE %s", b"UNSUBSCRIBE %s", b"STATUS %s (MESSAGES)", b"SELECT %s",
         b"CREATE %s/child", b"CREATE Work/%s"]


def literal(name):
    return b"{%d+}\r\n" % len(name) + name


def snapshot(root):
    found = set()
    for top, dirs, files in os.walk(root):
        found.update(os.path.join(top, name) for name in dirs + files)
    return found


@pytest.fixture
def raw(imap):
    client = RawImap(imap.port("imap"))
    client.login()
    assert client.command("CREATE Work")[0].startswith(b"t1 OK")
    yield client
    client.close()


@pytest.mark.parametrize("verb", VERBS)
def test_names_stay_inside_the_users_maildir(imap, raw, verb):
    maildir = imap.maildir(USER)
    outside = snapshot(imap.base) - snapshot(maildir)
    for name in NAMES:
        tagged, _ = raw.command(verb.replace(b"%s", literal(name)))
        assert tagged.startswith((b"t1 OK", b"t1 NO", b"t1 BAD")), (name, tagged)
        assert b"SERVERBUG" not in tagged, name
        assert raw.command("NOOP", "t2")[0].startswith(b"t2 OK")
        raw.command("UNSELECT", "t3")
    assert snapshot(imap.base) - snapshot(maildir) <= outside | {
        os.path.join(imap.base, "imapd.log")}
    for entry in os.listdir(maildir):
        path = maildir / entry
        # Only folders (".name", one directory level) and our own files.
        assert entry.startswith((".", "mailsuite.")) or entry in (
            "cur", "new", "tmp", "subscriptions"), entry
        assert ".." not in entry.split(".") or entry == "..", entry
        assert os.path.realpath(path).startswith(os.path.realpath(maildir) + "/")


def test_escaped_names_come_back_as_created(imap, raw):
    for name in (b"..", b"~", b"a\\b", b"v1.2"):
        assert raw.command(b"CREATE " + literal(name))[0].startswith(b"t1 OK"), name
    _, untagged = raw.command('LIST "" "*"')
    names = {line.rsplit(b" ", 1)[1].strip(b"\r\n") for line in untagged}
    assert {b'".."', b'"~"', b'"a\\\\b"', b'"v1.2"'} <= names
    assert sorted(e for e in os.listdir(imap.maildir(USER)) if "\\" in e) == [
        ".\\2e\\2e", ".\\7e", ".a\\5cb", ".v1\\2e2"]
