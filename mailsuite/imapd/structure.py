"""ENVELOPE, BODYSTRUCTURE and BODY (RFC 9051 7.5.2; RFC 3501 7.4.2), made from
core.msginfo's description of a message, which the index keeps: no message file is
opened for them.

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

import re

from .response import literal

_PRINTABLE = re.compile(rb"[\x20-\x7e]*")
_EMPTY_TEXT = {"type": "text", "subtype": "plain", "params": [["charset", "us-ascii"]],
               "id": None, "description": None, "encoding": "7bit", "size": 0,
               "lines": 0, "md5": None, "disposition": None, "language": None,
               "location": None}
_EMPTY_MESSAGE = {"envelope": [None] * 10, "body": _EMPTY_TEXT}


def nstring(value):
    """NIL, a quoted string or a literal; `value` is str (header bytes decoded
    as Latin-1, as core.msginfo keeps them) or None."""
    if value is None:
        return b"NIL"
    data = value.encode("latin-1", "replace")
    if _PRINTABLE.fullmatch(data):
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return literal(data.replace(b"\0", b"\x80"))


def envelope(fields):
    """RFC 9051 7.5.2 ENVELOPE: date, subject, from, sender, reply-to, to, cc, bcc,
    in-reply-to, message-id."""
    date, subject, *addresses, in_reply_to, message_id = fields
    return b"(" + b" ".join([nstring(date), nstring(subject),
                             *map(address_list, addresses),
                             nstring(in_reply_to), nstring(message_id)]) + b")"


def address_list(addresses):
    """`((name adl mailbox host)...)` or NIL; a group is its start and end
    markers around its members, as core.msginfo lists them."""
    if not addresses:
        return b"NIL"
    return b"(" + b"".join(b"(" + b" ".join(map(nstring, address)) + b")"
                           for address in addresses) + b")"


def body(entity, extensible=True):
    """BODYSTRUCTURE, or with `extensible` false the BODY item, which leaves
    out the extension data (RFC 9051 7.5.2)."""
    if "parts" in entity or entity["type"] == "multipart":
        return _multipart(entity, extensible)
    return _one_part(entity, extensible)


def _multipart(entity, extensible):
    parts = entity.get("parts") or [_EMPTY_TEXT]
    fields = [b"".join(body(part, extensible) for part in parts),
              nstring(entity["subtype"])]
    if extensible:
        # RFC 9051 9: body-ext-mpart = body-fld-param [SP body-fld-dsp
        # [SP body-fld-lang [SP body-fld-loc]]]
        fields += [_params(entity["params"]), _disposition(entity["disposition"]),
                   _language(entity["language"]), nstring(entity["location"])]
    return b"(" + b" ".join(fields) + b")"


def _one_part(entity, extensible):
    # RFC 9051 9: body-fields = body-fld-param SP body-fld-id SP body-fld-desc
    # SP body-fld-enc SP body-fld-octets
    fields = [nstring(entity["type"]), nstring(entity["subtype"]),
              _params(entity["params"]), nstring(entity["id"]),
              nstring(entity["description"]), nstring(entity["encoding"]),
              b"%d" % entity["size"]]
    if (entity["type"], entity["subtype"]) == ("message", "rfc822"):
        # body-type-msg: the attached message's envelope, body and lines.
        message = entity.get("message", _EMPTY_MESSAGE)
        fields += [envelope(message["envelope"]), body(message["body"], extensible),
                   b"%d" % entity["lines"]]
    elif entity["type"] == "text":
        fields.append(b"%d" % entity["lines"])     # body-type-text
    if extensible:
        # body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang
        # [SP body-fld-loc]]]
        fields += [nstring(entity["md5"]), _disposition(entity["disposition"]),
                   _language(entity["language"]), nstring(entity["location"])]
    return b"(" + b" ".join(fields) + b")"


def _params(params):
    """body-fld-param: ("name" "value" ...) or NIL."""
    if not params:
        return b"NIL"
    return b"(" + b" ".join(nstring(name) + b" " + nstring(value)
                            for name, value in params) + b")"


def _disposition(disposition):
    """body-fld-dsp: ("attachment" ("filename" "x.pdf")) or NIL (RFC 2183)."""
    if disposition is None:
        return b"NIL"
    value, params = disposition
    return b"(" + nstring(value) + b" " + _params(params) + b")"


def _language(tags):
    """body-fld-lang: always a list, as Dovecot sends it."""
    if not tags:
        return b"NIL"
    return b"(" + b" ".join(map(nstring, tags)) + b")"
