"""A message's text as a search sees it: header values with their RFC 2047 encoded
words decoded, and the body's text decoded from its transfer encoding (RFC 2045 6:
base64, quoted-printable) and its charset, as Dovecot searches it.

    header_value(raw) -> str        # one raw field value: unfolded, UTF-8 (RFC 6532)
                                    # or else Latin-1, encoded words decoded
    decode_words(text) -> str       # RFC 2047 encoded words decoded
    fields(head) -> [(name, value)] # a header section's fields, names lowercase
    body_texts(data) -> [str]       # the decoded text of every text/* part
    Finder(needles).search(data, header, body) -> set of the needles found

Only text/* and message/* parts are text (Dovecot's rule): an attachment's bytes
are not searched. A search string matches case-insensitively anywhere in a value
or a part (str.casefold on both sides).

Failure policy: malformed mail is searched as far as it makes sense: an unknown
charset is read as UTF-8 with replacement characters, bad base64 gives what it can,
a multipart without its boundary is one text part; MAX_DEPTH and MAX_PARTS bound
the work one message can cost.
"""

import binascii
import codecs
import re

MAX_DEPTH = 20
MAX_PARTS = 500

_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([BbQq])\?([^?\s]*)\?=")
# RFC 2047 6.2: white space between two adjacent encoded words is not displayed.
_BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(?==\?)")
_UNFOLD = re.compile(r"\r?\n(?=[ \t])")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_TYPE = re.compile(rb"^content-type:[ \t]*((?:[^\r\n]|\r?\n[ \t])*)",
                           re.IGNORECASE | re.MULTILINE)
_ENCODING = re.compile(rb"^content-transfer-encoding:[ \t]*([A-Za-z0-9-]+)",
                       re.IGNORECASE | re.MULTILINE)
_PARAM = rb";\s*%s\s*=\s*(?:\"((?:[^\"\\]|\\.)*)\"|([^;\s]+))"
_BOUNDARY = re.compile(_PARAM % rb"boundary", re.IGNORECASE)
_CHARSET = re.compile(_PARAM % rb"charset", re.IGNORECASE)
_TEXT, _MESSAGE = (b"text", b"plain"), (b"message", b"rfc822")
_TYPE = re.compile(rb"\s*([A-Za-z0-9!#$&.+^_`{|}~-]+)/([A-Za-z0-9!#$&.+^_`{|}~-]+)")


def header_value(raw):
    """A field's raw value (bytes) as text: folding undone (RFC 5322 2.2.3), UTF-8
    if it is (RFC 6532), else Latin-1, and its encoded words decoded."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return decode_words(_UNFOLD.sub("", text).strip(" \t\r\n"))


def decode_words(text):
    """`text` with its RFC 2047 encoded words (=?charset?B|Q?...?=) decoded."""
    if "=?" not in text:
        return text
    return _WORD.sub(_decode_word, _BETWEEN_WORDS.sub(r"\1", text))


def _decode_word(match):
    charset, kind, payload = match.groups()
    try:
        if kind in "Bb":
            data = binascii.a2b_base64(payload + "=" * (-len(payload) % 4))
        else:
            # RFC 2047 4.2: "_" is a space in the Q encoding.
            data = binascii.a2b_qp(payload.replace("_", " "))
    except (binascii.Error, ValueError):
        return match.group(0)
    return decode(data, charset)


def decode(data, charset):
    """Bytes in a named charset as text; an unknown charset is read as UTF-8."""
    try:
        return data.decode(codecs.lookup(charset).name, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def split(data):
    """(header section, body) of a message or a MIME part; a message without an
    empty line is all header, one that starts with it has none."""
    if data[:1] == b"\n" or data[:2] == b"\r\n":
        return b"", data[data.index(b"\n") + 1:]
    match = _HEADER_END.search(data)
    if match is None:
        return data, b""
    return data[:match.end()], data[match.end():]


def fields(head):
    """[(lowercase name, raw value bytes)] of a header section, in order."""
    out = []
    for field in re.split(rb"\r?\n(?![ \t])", head):
        name, colon, value = field.partition(b":")
        if colon and name and not name[:1].isspace():
            out.append((name.strip().decode("latin-1").lower(), value))
    return out


def body_texts(data, depth=0, parts=None):
    """The decoded text of each text/* part of a message (message/rfc822 parts
    are followed into, their own header left out), in order."""
    parts = [0] if parts is None else parts
    head, body = split(data)
    found = []
    _entity(head, body, depth, parts, found, _TEXT)
    return found


def _entity(head, body, depth, parts, found, default):
    parts[0] += 1
    match = _CONTENT_TYPE.search(head)
    ctype = match.group(1) if match else b""
    kind = _TYPE.match(ctype)
    main, sub = (kind.group(1).lower(), kind.group(2).lower()) if kind else default
    if main == b"multipart":
        boundary = _param(_BOUNDARY, ctype)
        if boundary and depth < MAX_DEPTH:
            for part in _parts(body, boundary, parts):
                inner_head, inner_body = split(part)
                # RFC 2046 5.1.5: a digest's parts are messages by default.
                child = _MESSAGE if sub == b"digest" else _TEXT
                _entity(inner_head, inner_body, depth + 1, parts, found, child)
            return
        main = b"text"          # without its boundary, one text
    if main not in (b"text", b"message"):
        return
    data = _transfer_decoded(head, body)
    if main == b"message" and sub == b"rfc822" and depth < MAX_DEPTH:
        inner_head, inner_body = split(data)
        _entity(inner_head, inner_body, depth + 1, parts, found, _TEXT)
        return
    found.append(decode(data, (_param(_CHARSET, ctype) or b"utf-8").decode("latin-1")))


def _param(pattern, ctype):
    match = pattern.search(ctype)
    if match is None:
        return None
    return match.group(1) if match.group(1) is not None else match.group(2)


def _transfer_decoded(head, body):
    match = _ENCODING.search(head)
    encoding = match.group(1).lower() if match else b"7bit"
    try:
        if encoding == b"base64":
            return binascii.a2b_base64(body)
        if encoding == b"quoted-printable":
            return binascii.a2b_qp(body)
    except (binascii.Error, ValueError):
        pass
    return body


def _parts(body, boundary, parts):
    """The body parts between the delimiter lines of a multipart (RFC 2046
    5.1.1), at most MAX_PARTS in all."""
    pieces = (b"\n" + body).split(b"\n--" + boundary)
    out = []
    for piece in pieces[1:]:
        if piece[:2] == b"--" or parts[0] + len(out) >= MAX_PARTS:
            break
        start = piece.find(b"\n")
        if start < 0:
            break
        out.append(piece[start + 1:].removesuffix(b"\r"))
    return out


class Finder:
    """Which of some search strings a message holds, case-insensitively."""

    def __init__(self, needles):
        self.needles = [n.casefold() for n in needles]

    def search(self, data, header, body):
        """The needles (casefolded) found in the message's header (every field
        value decoded) and/or its body text."""
        head, rest = split(data)
        found = set()
        if header:
            self._look(found, "\n".join(header_value(v) for _, v in fields(head)))
        if body and len(found) < len(self.needles):
            for text in body_texts(data):
                self._look(found, text)
                if len(found) == len(self.needles):
                    break
        return found

    def _look(self, found, text):
        text = text.casefold()
        for needle in self.needles:
            if needle not in found and needle in text:
                found.add(needle)
