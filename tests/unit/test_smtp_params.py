"""smtp.params (DSN's xtext, NOTIFY, ORCPT), smtp.chunking (BDAT arguments, line
ends across chunks) and smtp.headers (the fields added on top)."""

import pytest

from mailsuite.smtp import chunking, headers, params
from mailsuite.smtp.errors import ProtocolError


@pytest.mark.parametrize("raw, text", [
    ("abc", "abc"), ("a+2Bb+3Dc", "a+b=c"), ("", ""), ("+20x", " x"),
])
def test_xtext_decodes(raw, text):
    assert params.xtext(raw, "ENVID") == text


@pytest.mark.parametrize("raw", ["a+2b", "a+2", "a=b", "a b", "é", "a+", True])
def test_xtext_refuses(raw):
    with pytest.raises(ProtocolError) as info:
        params.xtext(raw, "ENVID")
    assert info.value.code == 501


@pytest.mark.parametrize("value, notify", [
    ("NEVER", ("NEVER",)), ("never", ("NEVER",)),
    ("DELAY,SUCCESS", ("SUCCESS", "DELAY")), ("FAILURE", ("FAILURE",)),
])
def test_notify(value, notify):
    assert params._notify(value) == notify


@pytest.mark.parametrize("value", ["NEVER,DELAY", "SUCCESS,SUCCESS", "", "ALWAYS", True])
def test_bad_notify(value):
    with pytest.raises(ProtocolError):
        params._notify(value)


def test_orcpt_keeps_its_type_and_decodes_the_address():
    assert params._orcpt("rfc822;Joe+2BX@example.test") == "rfc822;Joe+X@example.test"
    for bad in ("rfc822", ";a@b", "rfc822;", "x y;a", "rfc822;" + "a" * 500):
        with pytest.raises(ProtocolError):
            params._orcpt(bad)


@pytest.mark.parametrize("arg, chunk", [
    ("0 LAST", (0, True)), ("12", (12, False)), ("7 last", (7, True)),
])
def test_bdat_argument(arg, chunk):
    assert chunking.parse(arg) == chunk


@pytest.mark.parametrize("arg", ["", "-1", "1 2", "x", "1 LASTX", "1" * 21])
def test_bad_bdat_argument(arg):
    with pytest.raises(ProtocolError):
        chunking.parse(arg)


@pytest.mark.parametrize("pieces", [
    [b"a\r", b"\nb\n", b"c\r", b"", b"d\r"],
    [b"a\r\nb", b"\nc", b"\r", b"d\r"],
])
def test_line_ends_are_normalized_across_chunks(pieces):
    normalizer = chunking.Normalizer()
    out = b"".join(normalizer.feed(p) for p in pieces) + normalizer.end()
    assert out == b"".join(pieces).replace(b"\r\n", b"\n").replace(
        b"\r", b"\n").replace(b"\n", b"\r\n")


def test_missing_fields_are_added_once():
    bare = b"From: a@b\r\nSubject: x\r\n\r\nMessage-ID: in the body\r\n"
    added = headers.missing_fields(bare, "QID", "mail.example.test")
    assert added.startswith(b"Message-ID: <QID.") and b"@mail.example.test>\r\n" in added
    assert b"\r\nDate: " in added
    full = b"message-id:<x@y>\r\nDATE: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nbody"
    assert headers.missing_fields(full, "QID", "mail.example.test") == b""
    # A field name inside a folded line is no field.
    folded = b"Subject: x\r\n Date: no\r\n\r\n"
    assert b"Date: " in headers.missing_fields(folded, "QID", "h")


def test_received_without_the_client():
    field = headers.received("mx.test", "QID", "ESMTPSA", None, ("TLSv1.3", "C"),
                             ["a@b.test"])
    assert field.startswith(b"Received: by mx.test (mailsuite) with ESMTPSA id QID\r\n")
    assert b"for <a@b.test>" in field and b"from" not in field
    shown = headers.received("mx.test", "QID", "ESMTP", ("h\x01 x", "192.0.2.1"),
                             None, ["a@b.test", "c@d.test"])
    assert shown.startswith(b"Received: from h??x ([192.0.2.1])\r\n\tby mx.test")
    assert b"for <" not in shown
