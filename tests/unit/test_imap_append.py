"""mailsuite.imapd.append's grammar (RFC 9051 9 date-time, RFC 3502 append-message),
and the UID sets of UIDPLUS (RFC 4315)."""

import datetime

import pytest

from mailsuite.imapd import append
from mailsuite.imapd.errors import Bad, No
from mailsuite.imapd.parser import Atom, Literal, String
from mailsuite.imapd.response import sequence


@pytest.mark.parametrize("text,expected", [
    ("17-Jul-1996 02:44:25 -0700", "1996-07-17T09:44:25+00:00"),
    (" 1-Jan-2024 00:00:00 +0000", "2024-01-01T00:00:00+00:00"),
    ("01-jan-2024 05:30:00 +0530", "2024-01-01T00:00:00+00:00"),
    ("1-Feb-2024 00:00:00 +0000", "2024-02-01T00:00:00+00:00"),
])
def test_date_time(text, expected):
    when = append.date_time(String(text.encode()))
    assert datetime.datetime.fromtimestamp(when, datetime.timezone.utc).isoformat() \
        == expected


@pytest.mark.parametrize("text", [
    "", "17-Jul-1996", "32-Jan-2024 00:00:00 +0000", "29-Feb-2023 00:00:00 +0000",
    "17-Jux-1996 02:44:25 -0700", "17-Jul-1996 24:00:00 +0000",
    "17-Jul-1996 02:44:25 0700", "17-Jul-1996 02:44:25 -0700 ", "\xff"])
def test_bad_date_time(text):
    with pytest.raises(Bad):
        append.date_time(String(text.encode("latin-1")))


def test_messages_with_and_without_options():
    messages = append.parse_messages(
        [[Atom("\\Seen"), Atom("$Work")], String(b"17-Jul-1996 02:44:25 -0700"),
         Literal(b"one"), Literal(b"two"), String(b" 1-Jan-2024 00:00:00 +0000"),
         Literal(b"three")], 100)
    assert [m.data for m in messages] == [b"one", b"two", b"three"]
    assert messages[0].flags == {"\\Seen", "$Work"}
    assert messages[0].internaldate == 837596665
    assert messages[1].flags == set() and messages[1].internaldate is None
    assert messages[2].internaldate == 1704067200


@pytest.mark.parametrize("tokens", [
    [],                                          # no message
    [[Atom("\\Seen")]],                          # options without a message
    [String(b"hello")],                          # a quoted string is no literal
    [Literal(b"one"), [Atom("\\Seen")]],
    [[Atom("\\Recent")], Literal(b"x")],         # RFC 9051 2.3.2: not settable
    [Atom("NIL"), Literal(b"x")],
])
def test_bad_messages(tokens):
    with pytest.raises(Bad):
        append.parse_messages(tokens, 100)


def test_a_message_over_the_limit_is_toobig():
    with pytest.raises(No) as info:
        append.parse_messages([Literal(b"x" * 101)], 100)
    assert info.value.code == "TOOBIG"


def test_sequence():
    assert sequence([]) == ""
    assert sequence([5]) == "5"
    assert sequence([1, 2, 3, 7, 9, 10]) == "1:3,7,9:10"
