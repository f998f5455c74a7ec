"""core.mailaddress: RFC 5322 address lists in the shape of IMAP's ENVELOPE, with
the examples of RFC 5322 Appendix A, groups, routes, and what is missing named
rather than left NIL (a NIL host means a group, RFC 9051 7.5.2)."""

import pytest

from mailsuite.core.mailaddress import MISSING_DOMAIN, MISSING_MAILBOX, parse

END = [None, None, None, None]


@pytest.mark.parametrize("text, expected", [
    # RFC 5322 A.1.1, A.1.2
    ("John Doe <jdoe@machine.example>", [["John Doe", None, "jdoe", "machine.example"]]),
    ('"Joe Q. Public" <john.q.public@example.com>',
     [["Joe Q. Public", None, "john.q.public", "example.com"]]),
    ("Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
     [["Mary Smith", None, "mary", "x.test"], [None, None, "jdoe", "example.org"],
      ["Who?", None, "one", "y.test"]]),
    ('<boss@nil.test>, "Giant; \\"Big\\" Box" <sysservices@example.net>',
     [[None, None, "boss", "nil.test"],
      ['Giant; "Big" Box', None, "sysservices", "example.net"]]),
    # A.1.3: groups, with their start and end markers
    ("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
     [[None, None, "A Group", None], ["Ed Jones", None, "c", "a.test"],
      [None, None, "joe", "where.test"], ["John", None, "jdoe", "one.test"], END]),
    ("Undisclosed recipients:;", [[None, None, "Undisclosed recipients", None], END]),
    # A.5: comments and white space
    ("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
     [["Pete", None, "pete", "silly.test"]]),
    ("A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,"
     " joe@example.org,  John <jdoe@one.test> (my dear friend); (the end of the group)",
     [[None, None, "A Group", None], ["Chris Jones", None, "c", "public.example"],
      [None, None, "joe", "example.org"], ["John", None, "jdoe", "one.test"], END]),
    # A.6.1: an obsolete route is IMAP's adl
    ("<@r1,@r2:user@domain.test>", [[None, "@r1,@r2", "user", "domain.test"]]),
    # with no display name, the last comment stands in for it
    ("user@domain (Real Name)", [["Real Name", None, "user", "domain"]]),
    ("(comment) reply@example.org (another)", [["another", None, "reply", "example.org"]]),
    # phrases: single spaces, dots kept, quoted local parts unquoted
    ("John  Q.  Public <jqp@x.test>", [["John Q. Public", None, "jqp", "x.test"]]),
    ('"john doe"@example.org, x@[1.2.3.4]',
     [[None, None, "john doe", "example.org"], [None, None, "x", "[1.2.3.4]"]]),
    ("=?utf-8?q?J=C3=A9?= <je@x.test>", [["=?utf-8?q?J=C3=A9?=", None, "je", "x.test"]]),
    ('"" <e@x.test>', [[None, None, "e", "x.test"]]),
])
def test_rfc5322_examples(text, expected):
    assert parse(text) == expected


def test_what_is_missing_is_named():
    assert parse("nodomain, @nolocal.test, <>") == [
        [None, None, "nodomain", MISSING_DOMAIN],
        [None, None, MISSING_MAILBOX, "nolocal.test"],
        [None, None, MISSING_MAILBOX, MISSING_DOMAIN]]


def test_malformed_lists_are_read_as_far_as_they_make_sense():
    # What follows a mailbox up to the next comma is skipped.
    assert parse("a@b@c, Mary <m@x.test>") == [[None, None, "a", "b"],
                                                ["Mary", None, "m", "x.test"]]
    # An unclosed group, angle address, quote or comment ends with the field.
    assert parse("g: a@b.test, c@d.test") == [
        [None, None, "g", None], [None, None, "a", "b.test"],
        [None, None, "c", "d.test"], END]
    assert parse("<a@b") == [[None, None, "a", "b"]]
    assert parse('"unclosed <x@y>') == [[None, None, "unclosed <x@y>", MISSING_DOMAIN]]
    for junk in ("", "  ", "(only a comment", ";;,,>", ":", "[x]"):
        assert parse(junk) == []


def test_hostile_fields_give_bounded_answers():
    # Unclosed comments and quotes run to the end; what cannot start a mailbox
    # is skipped a token at a time; each gives at most one address.
    for text in ("(" * 100000, '"' + "\\" * 100000, "<" * 100000,
                 "a@" * 50000, "@" * 100000):
        assert len(parse(text)) <= 1
    assert len(parse("g:" * 50000)) == 3      # a group of one, and its end
