"""Deeply nested parentheses are a BAD, with the command's tag.

`NOOP (((...` with about 1,000 parentheses, sent before login, made the parser
recurse past Python's limit: the client got an untagged `* NO [SERVERBUG]` and
never its tagged reply, and each 1 KB command wrote about 136 KB of traceback to
the log. The parser now bounds the nesting.
"""

import pytest

from rawimap import RawImap


@pytest.mark.parametrize("depth", [1000, 30000])
def test_deep_nesting_before_login_is_bad_with_its_tag(imap, depth):
    raw = RawImap(imap.port("imap"))
    tagged, untagged = raw.command(b"NOOP " + b"(" * depth)
    assert tagged.startswith(b"t1 BAD") and untagged == []
    assert raw.command("NOOP", "t2")[0].startswith(b"t2 OK")


def test_deep_nesting_inside_a_fetch_section_is_bad(imap):
    raw = RawImap(imap.port("imap"))
    raw.login()
    raw.command("SELECT INBOX")
    tagged, _ = raw.command(b"FETCH 1 BODY[HEADER.FIELDS " + b"(" * 1000 + b"]")
    assert tagged.startswith(b"t1 BAD")
    assert raw.command("NOOP", "t2")[0].startswith(b"t2 OK")


def test_balanced_nesting_within_the_bound_still_parses(imap):
    raw = RawImap(imap.port("imap"))
    raw.login()
    tagged, _ = raw.command(b"NOOP " + b"(" * 8 + b")" * 8)
    # NOOP takes no arguments: a BAD about that, not about the parentheses.
    assert tagged.startswith(b"t1 BAD expected no arguments")
