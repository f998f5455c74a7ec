"""core.msgkeys: what SEARCH, SORT and THREAD compare, from a message's header."""

import email.utils

import pytest

from mailsuite.core import msgkeys
from mailsuite.core.msgkeys import DATE_VALUE, base_subject, keys, sent_date


# RFC 5256 2.1 base subjects: (subject as decoded, base, reply or forward)
SUBJECTS = [
    ("Meeting notes", "Meeting notes", False),
    ("Re: Meeting notes", "Meeting notes", True),
    ("RE:  re: Fwd:Meeting notes", "Meeting notes", True),
    ("[list] Re: [other] fw: notes (fwd) (FWD)  ", "notes", True),
    ("Re: [Fwd: notes]", "notes", True),
    ("[fwd: [fwd: re: plans]]", "plans", True),
    ("[ticket 42]", "[ticket 42]", False),        # a blob alone stays
    ("[ticket 42] notes", "notes", False),
    ("Aw: Re: Aw: notes", "Aw: Re: Aw: notes", False),  # "Aw:" is no leader
    ("notes (a)", "notes (a)", False),
    ("  spaced \t  out  ", "spaced out", False),
    ("", "", False),
    (" ", "", False),
]


@pytest.mark.parametrize("subject,base,reply", SUBJECTS)
def test_base_subject(subject, base, reply):
    assert base_subject(subject) == (base, reply)


def _date(value, internal=0):
    return DATE_VALUE.unpack(sent_date(value, internal))


@pytest.mark.parametrize("value", [
    "Tue, 2 Jan 2024 23:30:00 -0500", "2 Jan 2024 23:30 +0130",
    "Sun, 25 Mar 2007 04:00:00 +0300", "Fri, 29 Feb 2008 12:00:00 GMT",
    "Mon, 1 Jan 24 10:00:00 EST"])
def test_sent_time_agrees_with_the_email_package(value):
    moment, day = _date(value)
    parsed = email.utils.parsedate_tz(value)
    assert moment == email.utils.mktime_tz(parsed)
    assert day == msgkeys.day_number(*parsed[:3])


def test_the_sent_day_is_the_one_written_whatever_the_zone():
    # RFC 9051 6.4.4: SENTON disregards time and timezone.
    assert _date("Tue, 2 Jan 2024 23:30:00 -0500")[1] == msgkeys.day_number(2024, 1, 2)


def test_without_a_usable_date_the_internal_date_stands_in():
    internal = 1_700_000_000                        # 14 Nov 2023 22:13:20 UTC
    for value in (None, "", "garbage", "Mon, 31 Feb 2007 00:00:00 +0000"):
        assert _date(value, internal) == (internal, msgkeys.day_number(2023, 11, 14))


HEADER = (b"From: =?ISO-8859-1?Q?Chlo=E9?= Dubois <chloe@example.fr>\r\n"
          b"To: team: a@example.org, \"Doe, J\" <j@example.org>;, bob@example.net\r\n"
          b"Cc: carol@example.com (Carol C)\r\n"
          b"Bcc: <dave (comment)@ (comment) example.org>\r\n"
          b"Subject: =?UTF-8?B?UmU6IFLDqXVuaW9u?=\r\n"
          b"Date: Tue, 2 Jan 2024 23:30:00 -0500\r\n"
          b"Message-ID: < 1@x >\r\n"
          b"In-Reply-To: <0@x> <other@x>\r\n"
          b"X-Other: ignored\r\n\r\n")


def test_keys_of_a_header():
    found = keys(HEADER, 0)
    assert found[msgkeys.SUBJECT] == "re: réunion".encode()
    assert found[msgkeys.BASE_SUBJECT] == "rRéUNION".encode()
    assert found[msgkeys.FROM] == "chloé dubois <chloe@example.fr>".encode()
    assert found[msgkeys.TO] == (b"team: a@example.org, doe, j <j@example.org>; "
                                 b"bob@example.net")
    assert found[msgkeys.CC] == b"carol c <carol@example.com>"
    assert b"dave@example.org" in found[msgkeys.BCC]
    assert found[msgkeys.SORT_FROM] == b"CHLOE"
    assert found[msgkeys.SORT_TO] == b"TEAM"       # a group: its name
    assert found[msgkeys.SORT_CC] == b"CAROL"
    assert found[msgkeys.DISPLAY_FROM] == "chloé dubois".encode()
    assert found[msgkeys.DISPLAY_TO] == b"team"
    assert found[msgkeys.MESSAGE_ID] == b"<1@x>"
    # RFC 5256 4: without References, the first msg-id of In-Reply-To.
    assert found[msgkeys.REFERENCES] == b"<0@x>"


def test_missing_fields_have_no_keys_and_references_win():
    found = keys(b"References: <a@x>\r\n <b@x>\r\nIn-Reply-To: <c@x>\r\n\r\n", 5)
    assert set(found) == {msgkeys.DATE, msgkeys.BASE_SUBJECT, msgkeys.REFERENCES}
    assert found[msgkeys.REFERENCES] == b"<a@x> <b@x>"
    assert found[msgkeys.BASE_SUBJECT] == b"-"


def test_empty_fields_are_present_and_display_falls_back_to_the_address():
    found = keys(b"Subject:\r\nTo: b@c.d\r\nFrom: d\r\n\r\n", 0)
    assert found[msgkeys.SUBJECT] == b""
    assert found[msgkeys.DISPLAY_TO] == b"b@c.d"
    assert found[msgkeys.DISPLAY_FROM] == b"d"
    assert found[msgkeys.FROM] == b"d"


def test_several_fields_of_a_kind_are_searched_together():
    found = keys(b"To: a@x\r\nTo: b@y\r\n\r\n", 0)
    assert found[msgkeys.TO] == b"a@x, b@y"
    assert found[msgkeys.SORT_TO] == b"A"


@pytest.mark.parametrize("raw", [
    b" " * 5000 + b"x", b'"' * 3000, b"a <" * 3000, b"(" * 3000, b"a@b, " * 900])
def test_hostile_address_fields_still_give_keys(raw):
    found = keys(b"To: " + raw + b"\r\n\r\n", 0)
    assert msgkeys.TO in found


def test_only_the_closest_references_are_kept():
    refs = b" ".join(b"<%d@x>" % n for n in range(500))
    found = keys(b"References: " + refs + b"\r\n\r\n", 0)[msgkeys.REFERENCES]
    assert found.split() == [b"<%d@x>" % n for n in range(400, 500)]
