"""core.msgtext: the text of a message as a search sees it."""

import base64

from mailsuite.core.msgtext import (Finder, body_texts, decode_words, fields,
                                    header_value)


def test_encoded_words_are_decoded_and_the_space_between_them_dropped():
    assert decode_words("=?UTF-8?B?Q2Fmw6k=?= au =?ISO-8859-1?Q?cr=E8me?=") == \
        "Café au crème"
    # RFC 2047 6.2: white space between adjacent encoded words is not text.
    assert decode_words("=?UTF-8?Q?a?= \r\n =?UTF-8?Q?b?=") == "ab"
    assert decode_words("=?ISO-8859-1?Q?x_y?=") == "x y"


def test_broken_or_unknown_encoded_words_do_not_fail():
    assert decode_words("=?x-unknown?Q?caf=C3=A9?=") == "café"
    assert decode_words("=?UTF-8?B?###?=") in ("=?UTF-8?B?###?=", "")
    assert decode_words("plain =? text") == "plain =? text"


def test_header_values_are_unfolded_and_read_as_utf8_or_latin1():
    assert header_value(b" a\r\n b ") == "a b"
    assert header_value("Grüße".encode()) == "Grüße"
    assert header_value("Grüße".encode("latin-1")) == "Grüße"


def test_fields_keep_order_and_continuations():
    head = b"Subject: one\r\n two\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
    assert fields(head) == [("subject", b" one\r\n two"), ("x-a", b" 1"),
                            ("x-a", b" 2")]


def _multipart(parts, kind="mixed", boundary="b0"):
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n"
                    for part in parts)
    return (f"Content-Type: multipart/{kind}; boundary=\"{boundary}\"\r\n\r\n"
            .encode() + b"preamble\r\n" + body + b"--" + boundary.encode() + b"--\r\n")


def test_body_parts_are_decoded_from_their_encoding_and_charset():
    qp = (b"Content-Type: text/plain; charset=iso-8859-1\r\n"
          b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
          b"cr=E8me br=\r\nul=E9e")
    b64 = (b"Content-Type: text/html; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes("<p>Grüße</p>".encode()))
    texts = body_texts(_multipart([qp, b64]))
    assert texts == ["crème brulée", "<p>Grüße</p>"]


def test_attachments_are_not_text_and_messages_are_followed_into():
    pdf = (b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(b"hidden words"))
    inner = (b"Content-Type: message/rfc822\r\n\r\n"
             b"Subject: inner\r\n\r\ninner body")
    texts = body_texts(_multipart([pdf, inner]))
    assert texts == ["inner body"]


def test_a_digest_holds_messages_and_nesting_is_followed():
    inner = _multipart([b"\r\nSubject: s\r\n\r\ndeep text"], kind="digest",
                       boundary="b1")
    texts = body_texts(_multipart([inner, b"\r\nplain text"]))
    assert texts == ["deep text", "plain text"]


def test_a_multipart_without_boundary_is_one_text_and_bad_base64_no_error():
    assert body_texts(b"Content-Type: multipart/mixed\r\n\r\nall of it") == ["all of it"]
    broken = (b"Content-Transfer-Encoding: base64\r\n\r\n" + b"!!!not base64")
    assert len(body_texts(broken)) == 1


def test_a_message_without_body_or_header_end():
    assert body_texts(b"Subject: only a header") == [""]
    assert body_texts(b"\r\nbody only") == ["body only"]


def test_finder_looks_where_asked_case_insensitively():
    data = (b"Subject: =?UTF-8?Q?Stra=C3=9Fe?=\r\nX-Tag: Alpha\r\n\r\n"
            b"Beta and GAMMA\r\n")
    finder = Finder(["STRASSE", "alpha", "gamma", "delta"])
    assert finder.search(data, header=True, body=False) == {"strasse", "alpha"}
    assert finder.search(data, header=False, body=True) == {"gamma"}
    assert finder.search(data, header=True, body=True) == {"strasse", "alpha", "gamma"}
