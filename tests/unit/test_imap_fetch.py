"""mailsuite.imapd.fetch: data items and message sections, without a server."""

import pytest

from mailsuite.imapd import fetch, section
from mailsuite.imapd.errors import Bad
from mailsuite.imapd.parser import Atom, parse_command

MESSAGE = (b"From: a@example.org\r\nSubject: hi\r\n  continued\r\nTo: b@example.test\r\n"
           b"\r\nbody\r\n\r\nmore\r\n")


def items(text):
    return fetch.parse_items(parse_command(b"t FETCH 1 " + text).args[1])


def test_macro_and_simple_items():
    assert [i.label for i in items(b"FAST")] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]
    assert [i.label for i in items(b"(uid flags)")] == ["UID", "FLAGS"]


def test_body_items_and_seen():
    peek, body, rfc822 = items(b"(BODY.PEEK[HEADER] body[]<10.20> RFC822)")
    assert (peek.label, peek.section, peek.seen) == ("BODY[HEADER]", "HEADER", False)
    assert (body.label, body.partial, body.seen) == ("BODY[]<10>", (10, 20), True)
    assert (rfc822.label, rfc822.section, rfc822.seen) == ("RFC822", "", True)


def test_header_fields_item():
    item, = items(b"(BODY.PEEK[HEADER.FIELDS (Subject X-Y)])")
    assert item.label == "BODY[HEADER.FIELDS (Subject X-Y)]"
    assert item.fields == {"subject", "x-y"}


def test_header_field_names_are_checked_and_quoted_in_the_label():
    item, = items(b'BODY.PEEK[HEADER.FIELDS ("a)b" From)]')
    assert item.label == 'BODY[HEADER.FIELDS ("a)b" From)]'
    for bad in (b'"a b"', b'"a:b"', b'""', b"(x)"):
        with pytest.raises(Bad):
            items(b"BODY.PEEK[HEADER.FIELDS (" + bad + b")]")
    with pytest.raises(Bad):
        fetch.parse_items(Atom("BODY[HEADER.FIELDS (\xe9)]"))


@pytest.mark.parametrize("text", [
    b"()", b"(FAST)", b"(ALL)", b"ENVELOPE.PEEK", b"BODY[HEADER.FIELDS]",
    b"BODY[HEADER.FIELDS ()]", b"BODY[TEXT]<1>", b"BODY[MIME]", b"(FLAGS \"x\")",
    b"BODY[]<" + b"9" * 20 + b".1>", b"BODY[]<1." + b"9" * 5000 + b">"])
def test_unsupported_or_malformed_items(text):
    with pytest.raises(Bad):
        items(text)


def test_sections():
    header = (b"From: a@example.org\r\nSubject: hi\r\n  continued\r\n"
              b"To: b@example.test\r\n\r\n")
    assert section.section_bytes(MESSAGE, "") == MESSAGE
    assert section.section_bytes(MESSAGE, "HEADER") == header
    assert section.section_bytes(MESSAGE, "TEXT") == b"body\r\n\r\nmore\r\n"
    assert section.section_bytes(MESSAGE, "HEADER.FIELDS", {"subject"}) == \
        b"Subject: hi\r\n  continued\r\n\r\n"
    assert section.section_bytes(MESSAGE, "HEADER.FIELDS.NOT", {"subject", "from"}) == \
        b"To: b@example.test\r\n\r\n"


def test_sections_of_odd_messages():
    assert section.split_message(b"Subject: no body") == (b"Subject: no body", b"")
    assert section.split_message(b"A: b\n\nbare lf\n") == (b"A: b\n\n", b"bare lf\n")
    # A message that starts with a blank line has an empty header.
    assert section.split_message(b"\r\nA: not a header\r\n\r\nx") == \
        (b"\r\n", b"A: not a header\r\n\r\nx")
