"""What the brackets of BODY[...] and BINARY[...] name, and its bytes (RFC 9051
6.4.5 and 9: section; RFC 3516: BINARY[section-binary]).

    parse(text, binary=False) -> Section          # Bad if malformed
    extent(info, section) -> bytes of the message the section needs (None: all)
    body_bytes(data, info, section) -> bytes      # BODY[section]
    decodable(info, part) -> bool;  binary_bytes(data, info, part) -> bytes

A part number is looked up in core.msginfo's description of the message (`info`),
whose offsets say where every part's header, body and end are, so a part is a
slice of the message and only the message up to its end is read. Part numbers
follow RFC 9051 6.4.5: the parts of a multipart are 1, 2, ...; a message (the
whole one, or one attached as message/rfc822) that is not multipart has a part 1,
its body; after the number of an attached message, the numbers go on inside it,
and HEADER, TEXT and HEADER.FIELDS name its header and text. A part that does not
exist, or HEADER/TEXT after a part that is not a message, is an empty string, not
an error (as Dovecot answers): the request is well formed, the message just has
nothing there.

BINARY decodes the part's own Content-Transfer-Encoding (base64 and
quoted-printable, leniently: RFC 2045 6.8 says to ignore characters outside the
base64 alphabet); a multipart, BINARY[] (the whole message) and the identity
encodings come as they are. Another encoding is refused with NO [UNKNOWN-CTE]
(RFC 3516 4.2).
"""

import binascii
import re
from typing import NamedTuple

from .errors import Bad, No
from .parser import astring, tokenize
from .response import literal, quoted

_NUMBER = re.compile(r"[1-9]\d{0,9}")    # RFC 9051 9: nz-number
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")
_ATOM = re.compile(r'[^(){%*"\\\]]+')     # a field name without atom-specials
_IDENTITY = {"", "7bit", "8bit", "binary"}    # "": nothing to undo
_KNOWN = _IDENTITY | {"base64", "quoted-printable"}
_BASE64_ALPHABET = (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                    b"0123456789+/")
_NOT_BASE64 = bytes(c for c in range(256) if c not in _BASE64_ALPHABET)
_TRAILING_SPACE = re.compile(rb"[ \t]+(?=\r\n|\Z)")


class Section(NamedTuple):
    part: tuple         # part numbers; () for the message itself
    text: str           # "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT",
                        # "TEXT" or "MIME"
    fields: frozenset   # lowercase header names for HEADER.FIELDS[.NOT]
    label: str          # as the response names it


def parse(text, binary=False):
    """The section between the brackets (RFC 9051 9: section-spec); with
    `binary`, part numbers only (RFC 3516: section-binary)."""
    try:
        tokens = tokenize(text.encode("ascii"))
    except UnicodeEncodeError:
        raise Bad("invalid character in section") from None
    first = tokens[0] if tokens and isinstance(tokens[0], str) else ""
    if tokens and not first:
        raise Bad(f"invalid section [{text[:40]}]")
    part, name = _part_numbers(first.upper())
    label = ".".join([*map(str, part), *([name] if name else [])])
    fields = frozenset()
    if name in ("HEADER.FIELDS", "HEADER.FIELDS.NOT") and len(tokens) == 2 \
            and isinstance(tokens[1], list) and tokens[1]:
        names = [_field_name(t) for t in tokens[1]]
        fields = frozenset(n.lower() for n in names)
        label += " (" + " ".join(n if _ATOM.fullmatch(n) else quoted(n)
                                 for n in names) + ")"
    elif name not in ("", "HEADER", "TEXT", "MIME") or len(tokens) > 1:
        raise Bad(f"unsupported section [{text[:40]}]")
    # RFC 9051 9: MIME only follows a part number; RFC 3516: section-binary is
    # only part numbers.
    if (name == "MIME" and not part) or (binary and name):
        raise Bad(f"invalid section [{text[:40]}]")
    return Section(part, name, fields, label)


def _part_numbers(text):
    """("1.2.HEADER" ->) ((1, 2), "HEADER")."""
    pieces = text.split(".") if text else []
    count = 0
    while count < len(pieces) and pieces[count].isdigit():
        if not _NUMBER.fullmatch(pieces[count]):
            raise Bad("invalid part number")
        count += 1
    rest = pieces[count:]
    if rest and not all(rest):
        raise Bad("invalid section")
    return tuple(map(int, pieces[:count])), ".".join(rest)


def _field_name(token):
    # RFC 5322 3.6.8: a field name is printable ASCII but ":"; it goes back in
    # the response's label, quoted unless it is an atom.
    field = astring(token)
    if not _FIELD_NAME.fullmatch(field):
        raise Bad("invalid header field name")
    return field


# finding a part


def find(entity, part):
    """The entity that part numbers name in core.msginfo's tree, or None."""
    message = True          # `entity` is a message, whose part 1 is itself
    for number in part:
        if not message and "message" in entity:
            entity, message = entity["message"]["body"], True
        if "parts" in entity:
            if number > len(entity["parts"]):
                return None
            entity, message = entity["parts"][number - 1], False
        elif message and number == 1 and entity["type"] != "multipart":
            message = False
        else:
            return None
    return entity


def _inner(entity):
    """The message a message/rfc822 entity holds, or None."""
    return entity["message"]["body"] if entity and "message" in entity else None


def extent(info, section):
    """How many bytes from the start of the message `section` needs."""
    if not section.part:
        return None if section.text in ("", "TEXT") else info["header"]
    entity = find(info["body"], section.part)
    if entity is None:
        return 0
    return entity["body"] if section.text == "MIME" else entity["end"]


# BODY[section]


def body_bytes(data, info, section):
    """The bytes BODY[section] answers; `data` holds the message up to
    extent()."""
    if not section.part:
        return section_bytes(data, section.text, section.fields)
    entity = find(info["body"], section.part)
    if entity is None:
        return b""
    if section.text == "MIME":
        return data[entity["start"]:entity["body"]]
    if section.text == "":
        return data[entity["body"]:entity["end"]]
    message = _inner(entity)
    if message is None:
        return b""
    if section.text == "TEXT":
        return data[message["body"]:message["end"]]
    return _header_section(data[message["start"]:message["body"]], section.text,
                           section.fields)


def section_bytes(data, text, fields=None):
    """The bytes of a section of a whole message (RFC 9051 6.4.5 BODY[])."""
    if text == "":
        return data
    header, body = split_message(data)
    return body if text == "TEXT" else _header_section(header, text, fields)


def _header_section(header, text, fields):
    """HEADER, or the fields HEADER.FIELDS[.NOT] keeps, with the blank line."""
    if text == "HEADER":
        return header
    keep = text == "HEADER.FIELDS"
    chosen = [field for field in header_fields(header)
              if (field.split(b":", 1)[0].strip().decode("latin-1").lower()
                  in fields) == keep]
    return b"".join(chosen) + b"\r\n"


def split_message(data):
    """(header including the blank line, text); a message that starts with a
    blank line has an empty header (core.msginfo splits alike)."""
    match = re.match(rb"\r?\n", data) or re.search(rb"\r?\n\r?\n", data)
    if match is None:
        return data, b""
    return data[:match.end()], data[match.end():]


def header_fields(header):
    """The header's fields, each with its continuation lines and line ends."""
    fields = []
    for line in re.findall(rb"[^\n]*\n|[^\n]+\Z", header):
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    return fields


# BINARY[section-binary]


def _encoding(entity):
    """The entity's Content-Transfer-Encoding, lowercase; "" when it has none
    to undo (a multipart, a part that does not exist)."""
    if entity is None or "encoding" not in entity or "parts" in entity:
        return ""
    return entity["encoding"].lower()


def decodable(info, part):
    """Whether BINARY can undo the encoding of the part (RFC 3516 4.2)."""
    return not part or _encoding(find(info["body"], part)) in _KNOWN


def binary_bytes(data, info, part):
    """BINARY[part]: the part's body with its transfer encoding undone."""
    if not part:
        return data
    entity = find(info["body"], part)
    if entity is None:
        return b""
    raw = data[entity["body"]:entity["end"]]
    encoding = _encoding(entity)
    if encoding == "base64":
        return _base64(raw)
    if encoding == "quoted-printable":
        return _quoted_printable(raw)
    if encoding in _IDENTITY:
        return raw
    # RFC 3516 4.2: a transfer encoding the server does not know.
    raise No("unknown Content-Transfer-Encoding", "UNKNOWN-CTE")


def _base64(raw):
    # RFC 2045 6.8: "=" ends the data; other characters outside the alphabet
    # (line ends, spaces) are ignored; a last incomplete group gives what it can.
    letters = raw.split(b"=", 1)[0].translate(None, _NOT_BASE64)
    letters = letters[:len(letters) - (len(letters) % 4 == 1)]
    return binascii.a2b_base64(letters + b"=" * (-len(letters) % 4))


def _quoted_printable(raw):
    # RFC 2045 6.7: white space at the end of a line is removed (rule 3); "="
    # at the end of a line is a soft line break (rule 5); "=XX" an octet, and
    # an "=" that is neither stays as it is.
    text = _TRAILING_SPACE.sub(b"", raw).replace(b"=\r\n", b"")
    return binascii.a2b_qp(text[:-1] if text.endswith(b"=") else text)


def binary_literal(data):
    """RFC 3516 4.3: literal8 (~{n}) for data with NUL in it; without, a
    literal (errata 3978: the client then knows there is no NUL)."""
    return b"~" + literal(data) if b"\0" in data else literal(data)
