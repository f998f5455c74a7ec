"""A number with thousands of digits is a BAD.

Python refuses to convert a string of more than 4,300 digits to an int (CVE-2020-10735
made that a ValueError), and the parser took any run of digits: a sequence set, a
partial fetch `<n.m>` or a literal size inside a command, each one line under the
64 KiB limit, raised ValueError and got `NO [SERVERBUG]` with a traceback. Numbers
are now bounded by their grammar (RFC 9051 9: nz-number, number64) before they
are converted.
"""

import pytest

from mailsuite.core import maildir
from checks import USER
from rawimap import RawImap

DIGITS = b"9" * 5000


@pytest.fixture
def raw(imap):
    with maildir.Store(imap.maildir(USER)) as store:
        store.deliver(maildir.unique_base(), b"Subject: x\r\n\r\nbody\r\n")
    client = RawImap(imap.port("imap"))
    client.login()
    client.command("SELECT INBOX")
    yield client
    client.close()


@pytest.mark.parametrize("command", [
    b"FETCH " + DIGITS + b" FLAGS",
    b"FETCH 1:" + DIGITS + b" FLAGS",
    b"UID STORE " + DIGITS + b" +FLAGS (x)",
    b"FETCH 1 BODY.PEEK[]<" + DIGITS + b".1>",
    b"FETCH 1 BODY.PEEK[]<0." + DIGITS + b">",
], ids=["sequence number", "range end", "uid", "partial start", "partial count"])
def test_a_number_with_thousands_of_digits_is_bad(raw, command):
    tagged, _ = raw.command(command)
    assert tagged.startswith(b"t1 BAD"), tagged[:80]
    assert raw.command("NOOP", "t2")[0].startswith(b"t2 OK")


def test_partial_fetch_at_the_grammar_bounds_is_served(raw):
    tagged, untagged = raw.command(b"FETCH 1 BODY.PEEK[]<9223372036854775807.1>")
    assert tagged.startswith(b"t1 OK")
    assert untagged == [b"* 1 FETCH (BODY[]<9223372036854775807> {0}\r\n)\r\n"]


def test_a_literal_size_with_thousands_of_digits_is_bad(raw):
    # The bracket scan of an atom ran over a literal's announcement and into its
    # bytes, where the tokenizer then found "{99...9}" and read it as a literal.
    inner = b"] {" + DIGITS + b"}\r\nabc"
    raw.send(b"t1 FETCH 1 x[{%d+}\r\n" % len(inner) + inner + b"\r\n")
    assert raw.until("t1")[0].startswith(b"t1 BAD")
    assert raw.command("NOOP", "t2")[0].startswith(b"t2 OK")
