"""core.msginfo: wire form and size, the cached header fields, ENVELOPE and
BODYSTRUCTURE with part offsets, bounds on hostile nesting, and a message read
from a file piece by piece giving the same answers as in memory."""

import tempfile

import pytest

from mailsuite.core import mailaddress, msginfo

MULTIPART = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: bob@example.test, \"Carol, C\" <carol@x.test>\r\n"
    b"Cc: undisclosed-recipients:;\r\n"
    b"Subject: =?utf-8?q?caf=C3=A9?=\r\n long\r\n"
    b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <1@x>\r\n"
    b"X-Other: not cached\r\n"
    b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
    b"\r\n"
    b"preamble\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"hello\r\nworld\r\n"
    b"--b1\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\n"
    b"From: inner@example.org\r\n"
    b"\r\n"
    b"inner body\r\n"
    b"--b1\r\n"
    b"Content-Type: application/pdf; name=x.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment; filename=x.pdf\r\n"
    b"\r\n"
    b"AAAA\r\n"
    b"--b1--\r\n"
    b"epilogue\r\n")


def body_of(data, part):
    return data[part["body"]:part["body"] + part["size"]]


def test_wire_form_and_size():
    assert msginfo.wire(b"a\nb\r\nc\n") == b"a\r\nb\r\nc\r\n"
    assert msginfo.wire_size(b"a\nb\r\nc\n") == 9
    crlf = b"a\r\nb\r\n"
    assert msginfo.wire(crlf) == crlf


def test_header_fields_and_envelope():
    info = msginfo.analyse(MULTIPART)
    assert info["header"] == MULTIPART.index(b"\r\n\r\n") + 4
    names = [name for name, _ in info["fields"]]
    assert names == ["from", "to", "cc", "subject", "date", "message-id",
                     "content-type"]
    assert info["fields"][3][1] == "Subject: =?utf-8?q?caf=C3=A9?=\r\n long\r\n"
    date, subject, from_, sender, reply_to, to, cc, bcc, in_reply_to, msgid = \
        info["envelope"]
    assert subject == "=?utf-8?q?caf=C3=A9?= long"       # RFC 2047: the client decodes
    assert from_ == sender == reply_to == [["Alice", None, "alice", "example.org"]]
    assert to == [[None, None, "bob", "example.test"], ["Carol, C", None, "carol",
                                                         "x.test"]]
    # RFC 9051 7.5.2: a group is its name, then its members, then a NIL mailbox.
    assert cc == [[None, None, "undisclosed-recipients", None], [None] * 4]
    assert (bcc, in_reply_to, msgid) == (None, None, "<1@x>")


def test_bodystructure_with_offsets_and_an_attached_message():
    body = msginfo.analyse(MULTIPART)["body"]
    assert (body["type"], body["subtype"]) == ("multipart", "mixed")
    text, attached, pdf = body["parts"]
    assert body_of(MULTIPART, text) == b"hello\r\nworld"
    # The CRLF before a delimiter is the delimiter's (RFC 2046 5.1.1), and a
    # last line without its line end is not counted (as Dovecot counts).
    assert (text["lines"], text["params"]) == (1, [["charset", "utf-8"]])
    assert attached["message"]["envelope"][1] == "inner"
    assert body_of(MULTIPART, attached["message"]["body"]) == b"inner body"
    assert body_of(MULTIPART, pdf) == b"AAAA"
    assert pdf["encoding"] == "base64"
    assert pdf["disposition"] == ["attachment", [["filename", "x.pdf"]]]


def test_malformed_messages_are_still_described():
    assert msginfo.analyse(b"no blank line at all")["header"] == 20
    info = msginfo.analyse(b"\r\nbody only")
    assert info["header"] == 2 and info["body"]["size"] == len(b"body only")
    opaque = b"Content-Type: multipart/mixed; boundary=zz\r\n\r\nno boundary here\r\n"
    assert "parts" not in msginfo.analyse(opaque)["body"]


def test_hostile_nesting_is_bounded():
    nested = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n"
                      % (i, i) for i in range(200)) + b"\r\nleaf\r\n"
    depth, part = 0, msginfo.analyse(nested)["body"]
    while "parts" in part:
        part, depth = part["parts"][0], depth + 1
    assert depth <= msginfo.MAX_DEPTH
    many = (b"Content-Type: multipart/mixed; boundary=m\r\n\r\n"
            + b"--m\r\n\r\nx\r\n" * 5000 + b"--m--\r\n")
    assert len(msginfo.analyse(many)["body"]["parts"]) <= msginfo.MAX_PARTS


@pytest.mark.parametrize("chunk", [3, 7, 64, 1 << 20])
def test_a_message_in_a_file_gives_the_same_answers(monkeypatch, chunk):
    monkeypatch.setattr(msginfo, "_CHUNK", chunk)
    with tempfile.TemporaryFile() as f:
        f.write(MULTIPART)
        f.flush()
        data = msginfo.FileData(f)
        assert len(data) == len(MULTIPART)
        assert msginfo.wire_size(data) == len(MULTIPART)
        assert msginfo.analyse(data) == msginfo.analyse(MULTIPART)
        assert data.find(b"--b1--") == MULTIPART.find(b"--b1--")
        assert data.find(b"absent") == -1


def test_parameters_keep_rfc2231_values_encoded():
    message = (b"Content-Type: text/plain; name*0=\"long \"; name*1=\"name.txt\"\r\n"
               b"Content-Disposition: attachment; filename*0*=utf-8''caf%C3;\r\n"
               b" filename*1*=%A9.txt; size=3\r\n"
               b"\r\nabc")
    body = msginfo.analyse(message)["body"]
    # Continuations are joined; a value with a charset stays encoded, since
    # IMAP4rev1 strings have no charset: the client decodes it.
    assert body["params"] == [["charset", "us-ascii"], ["name", "long name.txt"]]
    assert body["disposition"] == ["attachment", [["size", "3"],
                                                  ["filename*", "utf-8''caf%C3%A9.txt"]]]


def test_text_is_us_ascii_unless_it_says():
    # RFC 2045 5.2, RFC 2046 4.1.2: for every text subtype.
    html = msginfo.analyse(b"Content-Type: text/html; name=x\r\n\r\n<p>")["body"]
    assert html["params"] == [["charset", "us-ascii"], ["name", "x"]]
    latin = msginfo.analyse(b"Content-Type: text/plain; charset=latin1\r\n\r\nx")["body"]
    assert latin["params"] == [["charset", "latin1"]]
    image = msginfo.analyse(b"Content-Type: image/png\r\n\r\nx")["body"]
    assert image["params"] == []


@pytest.mark.parametrize("field", [
    "a@example.org", "Alice <a@example.org>", "Alice B. Cooper <a@example.org>",
    "<a@example.org>", "x@[1.2.3.4]", "Alice  B <a@example.org>", '"A" <a@b.c>'])
def test_the_address_fast_path_agrees_with_the_parser(field):
    info = msginfo.analyse(b"From: " + field.encode() + b"\r\n\r\n")
    assert info["envelope"][2] == mailaddress.parse(field)


def test_addresses_in_the_envelope():
    info = msginfo.analyse(b"To: nodomain, <@route:u@h.test>\r\n"
                           b"Cc: group: a@b.test;\r\n\r\n")
    assert info["envelope"][5] == [[None, None, "nodomain", "MISSING_DOMAIN"],
                                   [None, "@route", "u", "h.test"]]
    assert info["envelope"][6] == [[None, None, "group", None],
                                   [None, None, "a", "b.test"], [None] * 4]


def test_fields_are_read_without_their_comments():
    body = msginfo.analyse(b"Content-Type: text\r\n"
                           b"Content-Transfer-Encoding: Base64 (a comment)\r\n"
                           b"Content-Language: en-GB (British), de\r\n\r\nx")["body"]
    # RFC 2045 5.2: an invalid Content-Type is the default one.
    assert (body["type"], body["subtype"]) == ("text", "plain")
    assert body["encoding"] == "Base64"
    assert body["language"] == ["en-GB", "de"]
    assert msginfo.analyse(b"\r\nx")["body"]["encoding"] == "7bit"
