"""A mailbox name that the file system cannot hold is refused before it gets there.

A name over 255 bytes got `NO [SERVERBUG]` (the file system's ENAMETOOLONG, with a
traceback), and a long literal name was written whole into that traceback: 60 MB
of name, one 60 MB log line. Names are now checked before they reach the file
system (core.maildir.normalize: each on-disk name within 255 bytes), and the
parser bounds a mailbox argument.
"""

from rawimap import RawImap


def selected(raw, name):
    raw.send(b"t1 SELECT {%d+}\r\n" % len(name) + name + b"\r\n")
    return raw.until("t1")[0]


def test_a_name_over_the_file_system_limit_is_no(imap):
    raw = RawImap(imap.port("imap"))
    raw.login()
    for name in (b"x" * 300, "ü".encode() * 128, b"a/" * 127 + b"a"):
        assert selected(raw, name).startswith(b"t1 NO [NONEXISTENT]"), name
    assert raw.command("NOOP")[0].startswith(b"t1 OK")


def test_a_huge_literal_name_is_bad_and_never_logged(imap):
    raw = RawImap(imap.port("imap"))
    raw.login()
    for size in (5000, 2 * 1024 * 1024):
        assert selected(raw, b"n" * size).startswith(b"t1 BAD [TOOBIG]"), size
    tagged, _ = raw.command(b'LIST "" {100000+}\r\n' + b"*" * 100000)
    assert tagged.startswith(b"t1 BAD [TOOBIG]")
    assert raw.command("NOOP")[0].startswith(b"t1 OK")


def test_names_at_the_limit_are_still_served(imap):
    raw = RawImap(imap.port("imap"))
    raw.login()
    # 254 bytes and the leading "." of Maildir++: 255 on disk, a name that exists
    # nowhere, so NONEXISTENT rather than a refusal of its length.
    assert selected(raw, b"y" * 254).startswith(b"t1 NO [NONEXISTENT] no such")
    assert selected(raw, b"INBOX").startswith(b"t1 OK")
