"""core.msgimap and imapd.section: ENVELOPE, BODYSTRUCTURE, BODY, the sections of
nested parts and BINARY, from core.msginfo's description, without a server.

The expected strings were checked against Dovecot 2.3.19 answering the same
messages (a private instance as in tests/bench/imapservers.py). They agree but for
the choice between a quoted string and a literal, and where noted:
- white space: Dovecot collapses it in subjects and names ("and<TAB>more" becomes
  "and more"); we send the unfolded field (RFC 5322 2.2.3) as it is;
- a part that ends with a nested multipart's close delimiter: Dovecot counts the
  CRLF after it in the part (286 octets here, 288 there); RFC 2046 5.1.1 gives it
  to the delimiter that follows;
- "Content-Type: text" (no subtype) is the default type here (RFC 2045 5.2),
  "text" "" there; types, subtypes and parameter names are lowercase here, as
  sent there;
- a parameter without a name (";=x") is dropped here, kept there;
- "a@b@c, Mary <m@x.test>": Dovecot stops at the error, we skip to the next address;
- BODY[1.1] of a part that is neither multipart nor a message is empty here (RFC
  9051 6.4.5: it has no part 1.1); Dovecot answers the part itself;
- BINARY[] is the message as it is here; Dovecot decodes every part in it and
  rewrites their Content-Transfer-Encoding fields.
"""

import pytest

from mailsuite.core import msgimap as structure, msginfo
from mailsuite.imapd import fetch, section
from mailsuite.imapd.errors import Bad, No
from mailsuite.imapd.parser import parse_command

MESSAGES = {
    "plain": (
        b"From: \"Doe, Jane\" <jane@example.org>\r\n"
        b"To: bob@example.test, \"Q \\\"quoted\\\" \\\\ name\" <q@example.test>\r\n"
        b"Cc: friends: ann@a.test, Bob <bob@b.test>;, solo@c.test\r\n"
        b"Subject: =?utf-8?q?caf=C3=A9?= and\r\n\tmore\r\n"
        b"Date: Tue, 2 Jan 2024 10:00:00 +0100\r\n"
        b"Message-ID: <abc@example.org>\r\n"
        b"In-Reply-To: <prev@example.org>\r\n"
        b"\r\n"
        b"Hello\r\nworld\r\n"),
    "eightbit": (
        b"From: J\xc3\xa9r\xc3\xb4me <jerome@example.org>\r\n"
        b"To: undisclosed-recipients:;\r\n"
        b"Bcc: nodomain, @nolocal.test, <>\r\n"
        b"Reply-To: (comment) reply@example.org (another)\r\n"
        b"Sender: sender@example.org\r\n"
        b"Subject: Caf\xc3\xa9 \"quotes\" \\ back\r\n"
        b"Content-Type: text/plain; charset=\"UTF-8\"; format=flowed\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b"Caf\xc3\xa9\r\n"),
    "nested": (
        b"From: a@example.org\r\n"
        b"Content-Type: multipart/mixed;\r\n boundary=\"outer\"\r\n"
        b"Content-Language: en, de\r\n"
        b"\r\n"
        b"--outer\r\n"
        b"Content-Type: multipart/alternative; boundary=inner\r\n"
        b"\r\n"
        b"--inner\r\n"
        b"Content-Type: text/plain\r\n"
        b"\r\n"
        b"plain text\r\n"
        b"--inner\r\n"
        b"Content-Type: text/html; charset=us-ascii\r\n"
        b"Content-ID: <html@x>\r\n"
        b"Content-Description: the html\r\n"
        b"Content-Language: fr (French)\r\n"
        b"Content-Location: http://example.org/x.html\r\n"
        b"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
        b"\r\n"
        b"<p>hi</p>\r\n"
        b"--inner--\r\n"
        b"--outer\r\n"
        b"Content-Type: application/pdf\r\n"
        b"Content-Transfer-Encoding: BASE64\r\n"
        b"Content-Disposition: attachment;\r\n filename*=utf-8''caf%C3%A9.pdf; size=4\r\n"
        b"\r\n"
        b"AAEC\r\n"
        b"AwQ=\r\n"
        b"--outer--\r\n"
        b"epilogue\r\n"),
    "attached": (
        b"Subject: fwd\r\n"
        b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
        b"\r\n"
        b"--b1\r\n"
        b"Content-Type: message/rfc822\r\n"
        b"Content-Description: forwarded\r\n"
        b"\r\n"
        b"From: Inner <inner@example.org>\r\n"
        b"Subject: inner one\r\n"
        b"Content-Type: multipart/mixed; boundary=\"b2\"\r\n"
        b"\r\n"
        b"--b2\r\n"
        b"\r\n"
        b"inner text\r\n"
        b"--b2--\r\n"
        b"--b1\r\n"
        b"Content-Type: message/rfc822\r\n"
        b"\r\n"
        b"Subject: simple inner\r\n"
        b"\r\n"
        b"just text\r\n"
        b"--b1--\r\n"),
    "no boundary": (
        b"Content-Type: multipart/mixed\r\n"
        b"\r\n"
        b"--nothing\r\n"),
    "digest": (
        b"Content-Type: multipart/digest; boundary=d\r\n"
        b"\r\n"
        b"--d\r\n"
        b"\r\n"
        b"Subject: first\r\n"
        b"\r\n"
        b"one\r\n"
        b"--d\r\n"
        b"Content-Type: text/plain\r\n"
        b"\r\n"
        b"explicit\r\n"
        b"--d--\r\n"),
    "odd params": (
        b"Content-Type: TEXT/Plain; CHARSET=US-ASCII; Name=\"caf\xc3\xa9.txt\";;=x\r\n"
        b"Content-Disposition: INLINE\r\n"
        b"Content-Language: en-GB (British)\r\n"
        b"\r\n"
        b"line1\r\nline2"),
}

EXPECTED = {
    "plain": (
        b'("Tue, 2 Jan 2024 10:00:00 +0100" {30}\r\n=?utf-8?q?caf=C3=A9?= and\tmore'
        b' (("Doe, Jane" NIL "jane" "example.org")) (("Doe, Jane" NIL "jane"'
        b' "example.org")) (("Doe, Jane" NIL "jane" "example.org")) ((NIL NIL "bob"'
        b' "example.test")("Q \\"quoted\\" \\\\ name" NIL "q" "example.test"))'
        b' ((NIL NIL "friends" NIL)(NIL NIL "ann" "a.test")("Bob" NIL "bob" "b.test")'
        b'(NIL NIL NIL NIL)(NIL NIL "solo" "c.test")) NIL "<prev@example.org>"'
        b' "<abc@example.org>")',
        b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 14 2 NIL NIL NIL NIL)'),
    "eightbit": (
        b'(NIL {21}\r\nCaf\xc3\xa9 "quotes" \\ back (({8}\r\nJ\xc3\xa9r\xc3\xb4me NIL'
        b' "jerome" "example.org")) ((NIL NIL "sender" "example.org")) (("another" NIL'
        b' "reply" "example.org")) ((NIL NIL "undisclosed-recipients" NIL)'
        b'(NIL NIL NIL NIL)) NIL ((NIL NIL "nodomain" "MISSING_DOMAIN")'
        b'(NIL NIL "MISSING_MAILBOX" "nolocal.test")'
        b'(NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN")) NIL NIL)',
        b'("text" "plain" ("charset" "UTF-8" "format" "flowed") NIL NIL "8bit" 7 1'
        b' NIL NIL NIL NIL)'),
    "nested": (
        b'(NIL NIL ((NIL NIL "a" "example.org")) ((NIL NIL "a" "example.org"))'
        b' ((NIL NIL "a" "example.org")) NIL NIL NIL NIL NIL)',
        b'((("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 0 NIL NIL NIL NIL)'
        b'("text" "html" ("charset" "us-ascii") "<html@x>" "the html" "7bit" 9 0'
        b' "Q2hlY2sgSW50ZWdyaXR5IQ==" NIL ("fr") "http://example.org/x.html")'
        b' "alternative" ("boundary" "inner") NIL NIL NIL)'
        b'("application" "pdf" NIL NIL NIL "BASE64" 10 NIL ("attachment" ("size" "4"'
        b' "filename*" "utf-8\'\'caf%C3%A9.pdf")) NIL NIL)'
        b' "mixed" ("boundary" "outer") NIL ("en" "de") NIL)'),
    "attached": (
        b'(NIL "fwd" NIL NIL NIL NIL NIL NIL NIL NIL)',
        b'(("message" "rfc822" NIL NIL "forwarded" "7bit" 127 (NIL "inner one"'
        b' (("Inner" NIL "inner" "example.org")) (("Inner" NIL "inner" "example.org"))'
        b' (("Inner" NIL "inner" "example.org")) NIL NIL NIL NIL NIL)'
        b' (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 0 NIL NIL NIL NIL)'
        b' "mixed" ("boundary" "b2") NIL NIL NIL) 7 NIL NIL NIL NIL)'
        b'("message" "rfc822" NIL NIL NIL "7bit" 34 (NIL "simple inner" NIL NIL NIL'
        b' NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit"'
        b' 9 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL) "mixed" ("boundary" "b1") NIL NIL'
        b' NIL)'),
    # A multipart without parts is shown with one empty part, as Dovecot does.
    "no boundary": (
        b'(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)',
        b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)'
        b' "mixed" NIL NIL NIL NIL)'),
    # In a digest, a part is a message unless it says (RFC 2046 5.1.5).
    "digest": (
        b'(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)',
        b'(("message" "rfc822" NIL NIL NIL "7bit" 21 (NIL "first" NIL NIL NIL NIL NIL'
        b' NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 0 NIL'
        b' NIL NIL NIL) 2 NIL NIL NIL NIL)("text" "plain" ("charset" "us-ascii") NIL'
        b' NIL "7bit" 8 0 NIL NIL NIL NIL) "digest" ("boundary" "d") NIL NIL NIL)'),
    "odd params": (
        b'(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)',
        b'("text" "plain" ("charset" "US-ASCII" "name" {9}\r\ncaf\xc3\xa9.txt) NIL NIL'
        b' "7bit" 12 1 NIL ("inline" NIL) ("en-GB") NIL)'),
}


def info_of(name):
    return msginfo.analyse(MESSAGES[name])


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_envelope_and_bodystructure(name):
    info = info_of(name)
    envelope, bodystructure = EXPECTED[name]
    assert structure.envelope(info["envelope"]) == envelope
    assert structure.body(info["body"]) == bodystructure
    # The index keeps both made, as FETCH sends them.
    assert [form.encode("latin-1") for form in info["imap"]] == [envelope, bodystructure]


def test_body_leaves_out_the_extension_data():
    info = info_of("attached")
    assert structure.body(info["body"], extensible=False) == (
        b'(("message" "rfc822" NIL NIL "forwarded" "7bit" 127 (NIL "inner one"'
        b' (("Inner" NIL "inner" "example.org")) (("Inner" NIL "inner" "example.org"))'
        b' (("Inner" NIL "inner" "example.org")) NIL NIL NIL NIL NIL)'
        b' (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 0) "mixed") 7)'
        b'("message" "rfc822" NIL NIL NIL "7bit" 34 (NIL "simple inner" NIL NIL NIL'
        b' NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit"'
        b' 9 0) 2) "mixed")')


def test_string_rules():
    assert structure.nstring(None) == b"NIL"
    assert structure.nstring("plain text") == b'"plain text"'
    assert structure.nstring('a "b" \\') == b'"a \\"b\\" \\\\"'
    # 8-bit header bytes (kept as Latin-1 text), tabs, CR/LF: a literal.
    assert structure.nstring("caf\xc3\xa9") == b"{5}\r\ncaf\xc3\xa9"
    assert structure.nstring("a\tb") == b"{3}\r\na\tb"
    assert structure.nstring("a\r\nb") == b"{4}\r\na\r\nb"
    # A literal cannot hold NUL (RFC 9051 9: CHAR8).
    assert structure.nstring("a\0b") == b"{3}\r\na\x80b"


def test_a_message_attached_past_the_depth_limit_is_still_valid():
    entity = dict(info_of("attached")["body"]["parts"][0])
    del entity["message"]
    assert structure.body(entity, extensible=False) == (
        b'("message" "rfc822" NIL NIL "forwarded" "7bit" 127 (NIL NIL NIL NIL NIL NIL'
        b' NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0)'
        b' 7)')


# sections

# The example of RFC 9051 6.4.5, each leaf's body naming its part.
RFC_EXAMPLE = (
    b"Subject: top\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n"
    b"--a\r\nContent-Type: text/plain\r\n\r\npart 1\r\n"
    b"--a\r\nContent-Type: application/octet-stream\r\n\r\npart 2\r\n"
    b"--a\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Subject: three\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: text/plain\r\n\r\npart 3.1\r\n"
    b"--b\r\nContent-Type: application/octet-stream\r\n\r\npart 3.2\r\n"
    b"--b--\r\n"
    b"--a\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n"
    b"--c\r\nContent-Type: image/gif\r\n\r\npart 4.1\r\n"
    b"--c\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Subject: four-two\r\nContent-Type: multipart/mixed; boundary=d\r\n\r\n"
    b"--d\r\nContent-Type: text/plain\r\n\r\npart 4.2.1\r\n"
    b"--d\r\nContent-Type: multipart/alternative; boundary=e\r\n\r\n"
    b"--e\r\nContent-Type: text/plain\r\n\r\npart 4.2.2.1\r\n"
    b"--e\r\nContent-Type: text/richtext\r\n\r\npart 4.2.2.2\r\n"
    b"--e--\r\n"
    b"--d--\r\n"
    b"--c--\r\n"
    b"--a--\r\n")


def body_section(data, text):
    return section.body_bytes(data, msginfo.analyse(data), section.parse(text))


@pytest.mark.parametrize("text", ["1", "2", "3.1", "3.2", "4.1", "4.2.1", "4.2.2.1",
                                  "4.2.2.2"])
def test_part_numbers_of_the_rfc_example(text):
    assert body_section(RFC_EXAMPLE, text) == b"part " + text.encode()


def test_header_text_and_mime_of_nested_parts():
    assert body_section(RFC_EXAMPLE, "3.HEADER") == (
        b"Subject: three\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
    assert body_section(RFC_EXAMPLE, "3.TEXT").startswith(b"--b\r\n")
    assert body_section(RFC_EXAMPLE, "3.TEXT").endswith(b"part 3.2\r\n--b--")
    assert body_section(RFC_EXAMPLE, "3").startswith(b"Subject: three\r\n")
    assert body_section(RFC_EXAMPLE, "4.1.MIME") == b"Content-Type: image/gif\r\n\r\n"
    assert body_section(RFC_EXAMPLE, "4.2.HEADER.FIELDS (subject)") == \
        b"Subject: four-two\r\n\r\n"
    assert body_section(RFC_EXAMPLE, "4.2.HEADER.FIELDS.NOT (subject)") == \
        b"Content-Type: multipart/mixed; boundary=d\r\n\r\n"
    assert body_section(RFC_EXAMPLE, "4.2.TEXT").endswith(b"--e--\r\n--d--")
    assert body_section(RFC_EXAMPLE, "4.2.2.MIME") == \
        b"Content-Type: multipart/alternative; boundary=e\r\n\r\n"
    assert body_section(RFC_EXAMPLE, "4").startswith(b"--c\r\n")


def test_a_message_that_is_not_multipart_has_a_part_1():
    plain = MESSAGES["plain"]
    assert body_section(plain, "1") == b"Hello\r\nworld\r\n"
    assert body_section(plain, "1.MIME") == plain[:plain.index(b"\r\n\r\n") + 4]
    # An attached message that is not multipart: its part 1 is its body.
    attached = MESSAGES["attached"]
    assert body_section(attached, "2.1") == b"just text"
    assert body_section(attached, "2.1.MIME") == b"Subject: simple inner\r\n\r\n"
    # A message whose body is a message (RFC 9051 6.4.5: 1 is the body).
    wrapped = (b"Content-Type: message/rfc822\r\n\r\n"
               b"Subject: in\r\n\r\ninner body\r\n")
    assert body_section(wrapped, "1") == b"Subject: in\r\n\r\ninner body\r\n"
    assert body_section(wrapped, "1.1") == b"inner body\r\n"
    assert body_section(wrapped, "1.HEADER") == b"Subject: in\r\n\r\n"


@pytest.mark.parametrize("text", ["5", "1.1", "2.2", "4.3", "4.2.3", "1.HEADER",
                                  "4.TEXT", "4.2.2.1.1", "9999999999"])
def test_parts_that_do_not_exist_are_empty(text):
    # Including HEADER and TEXT of a part that is no message, and the part 1 of
    # a leaf part.
    assert body_section(RFC_EXAMPLE, text) == b""


def test_a_multipart_without_parts_has_an_empty_part_1():
    assert body_section(MESSAGES["no boundary"], "1") == b""
    assert body_section(MESSAGES["no boundary"], "TEXT") == b"--nothing\r\n"


@pytest.mark.parametrize("text, expected", [
    ("", ((), "", "")), ("TEXT", ((), "TEXT", "TEXT")),
    ("1", ((1,), "", "1")), ("1.2.3", ((1, 2, 3), "", "1.2.3")),
    ("2.mime", ((2,), "MIME", "2.MIME")), ("3.header", ((3,), "HEADER", "3.HEADER")),
    ("1.HEADER.FIELDS (From x-Y)", ((1,), "HEADER.FIELDS",
                                   "1.HEADER.FIELDS (From x-Y)")),
])
def test_section_specs(text, expected):
    spec = section.parse(text)
    assert (spec.part, spec.text, spec.label) == expected


@pytest.mark.parametrize("text", [
    "MIME", "0", "01", "1.0", "1.", ".1", "1..2", "1.X", "1.TEXT.1", "HEADER 1",
    "1.HEADER.FIELDS", "1.MIME (x)", "12345678901", '"1"', "(1)"])
def test_malformed_section_specs(text):
    with pytest.raises(Bad):
        section.parse(text)


def test_binary_sections_are_part_numbers_only():
    # RFC 3516: section-binary = "[" [section-part] "]".
    assert section.parse("1.2", binary=True).part == (1, 2)
    for text in ("HEADER", "1.MIME", "TEXT", "1.TEXT"):
        with pytest.raises(Bad):
            section.parse(text, binary=True)


# BINARY

BINARY = (
    b"Content-Type: multipart/mixed; boundary=q\r\n\r\n"
    b"--q\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"  aGVs    \r\n bG8g  \r\n   d29y  \t \r\n    bGQ= \r\n\r\n"
    b"--q\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"hello  \r\nbar=\r\n\r\nfoo\t=\r\nbar\r\nfoo\t \t= \r\n=62\r\nfoo = \t\r\n"
    b"bar\r\nfoo =\r\n=62\r\nfoo  \r\nbar=\r\n\r\nfoo_bar\r\n\r\n"
    b"--q\r\nContent-Transfer-Encoding: Base64 (with a comment)\r\n\r\n"
    b"AAECAwD/\r\n"
    b"--q\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9\r\n"
    b"--q\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n"
    b"--q\r\nContent-Transfer-Encoding: base64\r\n\r\nYWJj\r\nZA\r\n"
    b"--q--\r\n")


def binary(part):
    return section.binary_bytes(BINARY, msginfo.analyse(BINARY), part)


def test_binary_decodes_base64_and_quoted_printable():
    # imaptest's fetch-binary-mime-base64 and -qp cases: white space around
    # base64 is ignored (RFC 2045 6.8); in quoted-printable, white space at the
    # end of a line goes and "=" at the end of a line joins it to the next
    # (RFC 2045 6.7).
    assert binary((1,)) == b"hello world"
    assert binary((2,)) == (b"hello\r\nbar\r\nfoo\tbar\r\nfoo\t \tb\r\nfoo bar\r\n"
                            b"foo b\r\nfoo\r\nbar\r\nfoo_bar\r\n")
    assert len(binary((2,))) == 65
    assert binary((3,)) == b"\x00\x01\x02\x03\x00\xff"
    assert binary((4,)) == b"caf\xc3\xa9"
    assert binary((6,)) == b"abcd"          # an unpadded last group
    assert binary(()) == BINARY             # BINARY[]: the message as it is
    assert binary((9,)) == b""


def test_an_unknown_encoding_is_refused():
    info = msginfo.analyse(BINARY)
    assert section.decodable(info, (4,)) and section.decodable(info, (9,))
    assert not section.decodable(info, (5,))
    with pytest.raises(No) as refused:
        binary((5,))
    assert refused.value.code == "UNKNOWN-CTE"


def test_literal8_only_for_data_with_nul():
    # RFC 3516 4.3 (errata 3978): a string when there is no NUL.
    assert section.binary_literal(b"caf\xc3\xa9") == b"{5}\r\ncaf\xc3\xa9"
    assert section.binary_literal(b"a\0b") == b"~{3}\r\na\0b"


# FETCH items


def items(text):
    return fetch.parse_items(parse_command(b"t FETCH 1 " + text).args[1])


def test_macros():
    assert [i.label for i in items(b"ALL")] == [
        "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]
    assert [i.label for i in items(b"full")] == [
        "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"]


def test_part_and_binary_items():
    body, peek, size, whole = items(
        b"(BODY[1.2.mime]<0.10> BINARY.PEEK[3] BINARY.SIZE[3] BINARY[])")
    assert (body.label, body.part, body.section, body.seen) == \
        ("BODY[1.2.MIME]<0>", (1, 2), "MIME", True)
    assert (peek.label, peek.kind, peek.seen) == ("BINARY[3]", "BINARY", False)
    assert (size.label, size.kind, size.seen) == ("BINARY.SIZE[3]", "BINARY.SIZE", False)
    assert (whole.label, whole.part, whole.seen) == ("BINARY[]", (), True)
    with pytest.raises(Bad):
        items(b"BINARY.SIZE[1]<0.10>")      # RFC 3516 4.2: no partial


def test_only_the_message_up_to_the_parts_is_read():
    info = msginfo.analyse(RFC_EXAMPLE)
    builder = fetch.Builder(items(b"(BODY.PEEK[1] BODY.PEEK[3.1.MIME])"))
    assert builder.source == fetch.PART and builder.structure
    three_one = section.find(info["body"], (3, 1))
    assert builder.extent(info) == three_one["body"] < len(RFC_EXAMPLE)
    assert fetch.Builder(items(b"(BODY.PEEK[9])")).extent(info) == 0
    # ENVELOPE and BODYSTRUCTURE need the description only; BINARY.SIZE[] the size.
    assert fetch.Builder(items(b"(ENVELOPE BODYSTRUCTURE)")).source == fetch.NOTHING
    assert fetch.Builder(items(b"(BINARY.SIZE[])")).source == fetch.NOTHING
