"""IMAP's ENVELOPE, BODYSTRUCTURE and BODY (RFC 9051 7.5.2; RFC 3501 7.4.2), made
from core.msginfo's description of a message. core.msginfo keeps ENVELOPE and
BODYSTRUCTURE made, as text, in the half of the description that a FETCH of a
message list reads anyway (as Dovecot's cache keeps them), so such a FETCH neither
opens a message file nor makes them again; BODY, rarely asked for, is made when it
is.

Strings follow RFC 9051 4.3: NIL for what is absent, a quoted string for printable
ASCII, a literal for anything else (8-bit header bytes, tabs and other controls),
since a quoted string holds neither CR, LF nor 8-bit bytes, and a literal no NUL
(a NUL byte goes out as 0x80, as Dovecot sends it). Header text goes out as its
bytes: RFC 2047 encoded words and RFC 2231 parameter values stay encoded, for the
client to decode. Types, subtypes and parameter names are lowercase: they are
case-insensitive (RFC 2045 5.1).

A multipart in which no part was found (no boundary, or the limits of
core.msginfo) is described with one empty text/plain part, since the grammar
wants at least one (RFC 9051 9: body-type-mpart = 1*body ...); an attached
message past core.msginfo's depth limit gets an empty envelope and body.
"""

_EMPTY_TEXT = {"type": "text", "subtype": "plain", "params": [["charset", "us-ascii"]],
               "id": None, "description": None, "encoding": "7bit", "size": 0,
               "lines": 0, "md5": None, "disposition": None, "language": None,
               "location": None}
_EMPTY_MESSAGE = {"envelope": [None] * 10, "body": _EMPTY_TEXT}

# The items are made as text whose characters are the bytes to send (Latin-1,
# as core.msginfo keeps header bytes), and encoded once at the end: a FETCH of
# many messages makes dozens of strings for each.


def envelope(fields):
    """The ENVELOPE item's value (bytes)."""
    return envelope_text(fields).encode("latin-1")


def body(entity, extensible=True):
    """BODYSTRUCTURE, or with `extensible` false the BODY item, which leaves
    out the extension data (RFC 9051 7.5.2); bytes."""
    return body_text(entity, extensible).encode("latin-1")


def nstring(value):
    """NIL, a quoted string or a literal (RFC 9051 4.3), as bytes; `value` is str
    (header bytes decoded as Latin-1, as core.msginfo keeps them) or None."""
    return _nstr(value).encode("latin-1")


def _nstr(value):
    """nstring() as text of Latin-1 characters."""
    if value is None:
        return "NIL"
    if value.isascii() and value.isprintable():
        if '"' in value or "\\" in value:
            value = value.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + value + '"'
    data = value.encode("latin-1", "replace").replace(b"\0", b"\x80")
    return "{%d}\r\n" % len(data) + data.decode("latin-1")


def envelope_text(fields):
    """envelope() as text of Latin-1 characters. RFC 9051 7.5.2 ENVELOPE: date,
    subject, from, sender, reply-to, to, cc, bcc, in-reply-to, message-id."""
    date, subject, *addresses, in_reply_to, message_id = fields
    return "(" + " ".join([_nstr(date), _nstr(subject),
                           *map(_address_list, addresses),
                           _nstr(in_reply_to), _nstr(message_id)]) + ")"


def _address_list(addresses):
    """`((name adl mailbox host)...)` or NIL; a group is its start and end
    markers around its members, as core.msginfo lists them."""
    if not addresses:
        return "NIL"
    return "(" + "".join("(" + " ".join(map(_nstr, address)) + ")"
                         for address in addresses) + ")"


def body_text(entity, extensible=True):
    """body() as text of Latin-1 characters."""
    if "parts" in entity or entity["type"] == "multipart":
        return _multipart(entity, extensible)
    return _one_part(entity, extensible)


def _multipart(entity, extensible):
    parts = entity.get("parts") or [_EMPTY_TEXT]
    fields = ["".join(body_text(part, extensible) for part in parts),
              _nstr(entity["subtype"])]
    if extensible:
        # RFC 9051 9: body-ext-mpart = body-fld-param [SP body-fld-dsp
        # [SP body-fld-lang [SP body-fld-loc]]]
        fields += [_params(entity["params"]), _disposition(entity["disposition"]),
                   _language(entity["language"]), _nstr(entity["location"])]
    return "(" + " ".join(fields) + ")"


def _one_part(entity, extensible):
    # RFC 9051 9: body-fields = body-fld-param SP body-fld-id SP body-fld-desc
    # SP body-fld-enc SP body-fld-octets
    fields = [_nstr(entity["type"]), _nstr(entity["subtype"]),
              _params(entity["params"]), _nstr(entity["id"]),
              _nstr(entity["description"]), _nstr(entity["encoding"]),
              "%d" % entity["size"]]
    if (entity["type"], entity["subtype"]) == ("message", "rfc822"):
        # body-type-msg: the attached message's envelope, body and lines.
        message = entity.get("message", _EMPTY_MESSAGE)
        fields += [envelope_text(message["envelope"]), body_text(message["body"], extensible),
                   "%d" % entity["lines"]]
    elif entity["type"] == "text":
        fields.append("%d" % entity["lines"])     # body-type-text
    if extensible:
        # body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang
        # [SP body-fld-loc]]]
        fields += [_nstr(entity["md5"]), _disposition(entity["disposition"]),
                   _language(entity["language"]), _nstr(entity["location"])]
    return "(" + " ".join(fields) + ")"


def _params(params):
    """body-fld-param: ("name" "value" ...) or NIL."""
    if not params:
        return "NIL"
    return "(" + " ".join(_nstr(name) + " " + _nstr(value)
                          for name, value in params) + ")"


def _disposition(disposition):
    """body-fld-dsp: ("attachment" ("filename" "x.pdf")) or NIL (RFC 2183)."""
    if disposition is None:
        return "NIL"
    value, params = disposition
    return "(" + _nstr(value) + " " + _params(params) + ")"


def _language(tags):
    """body-fld-lang: always a list, as Dovecot sends it."""
    if not tags:
        return "NIL"
    return "(" + " ".join(map(_nstr, tags)) + ")"
