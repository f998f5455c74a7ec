"""Binary parts of an APPENDed message, stored base64-encoded.

RFC 3516 4.4 lets a client APPEND a message whose parts are binary (a literal8,
"~{n}", may hold NUL and bare CR or LF), and lets the server store such a part in
another content transfer encoding. imapd stores it base64-encoded, as Dovecot
does: the Maildir then holds only line-oriented text, its bare line ends are never
made CRLF (which would change the part's octets), BINARY[n] and BINARY.SIZE[n]
give back exactly the octets appended (section.binary_bytes decodes base64), and
BODY[n], sent as a plain literal, never carries NUL (RFC 9051 4.3: CHAR8).

A leaf part is encoded when it says `Content-Transfer-Encoding: binary` or its
body holds NUL; other parts, and every header, are kept as they came. The
message's structure is found by core.msginfo, whose bounds on nesting and part
count hold here too.

    encode_binary_parts(data) -> bytes             # a message in memory
    encode_binary_file(path, sink)                 # a big one, piece by piece

A big binary literal is kept in a file as it came (core.maildir Incoming, raw);
encode_binary_file reads it a piece at a time and writes the message into
another Incoming, whose line ends are made CRLF, so that neither is ever whole
in memory.
"""

import base64
import re

from ..core import msginfo

_BINARY_CTE = re.compile(rb"(?im)^content-transfer-encoding:[ \t]*binary\b")
# A header field, with its folded continuation lines (RFC 5322 2.2.3).
_CTE_FIELD = re.compile(rb"(?im)^content-transfer-encoding:[^\r\n]*"
                        rb"(?:\r?\n[ \t][^\r\n]*)*")
_BASE64_FIELD = b"Content-Transfer-Encoding: base64"
_LINE = 76                  # RFC 2045 6.8: encoded lines of at most 76 characters
_CHUNK = 57 * 16384         # octets read at a time: whole lines of base64


def encode_binary_parts(data):
    """`data` with its binary leaf parts base64-encoded; `data` itself when it
    has none (the common case, found by two scans in C)."""
    if b"\0" not in data and not _BINARY_CTE.search(data):
        return data
    leaves = list(_binary_leaves(data, msginfo.analyse(data)["body"]))
    out = bytearray(data)
    for entity in sorted(leaves, key=lambda e: e["start"], reverse=True):
        start, body, end = entity["start"], entity["body"], entity["end"]
        out[start:end] = _encoded_header(data[start:body]) + _base64(data[body:end])
    return bytes(out)


def _binary_leaves(data, entity):
    """The leaf entities (core.msginfo) under `entity` to be encoded."""
    if "parts" in entity:
        for part in entity["parts"]:
            yield from _binary_leaves(data, part)
    elif "message" in entity:
        yield from _binary_leaves(data, entity["message"]["body"])
    elif entity["encoding"].lower() == "binary" or \
            data.find(b"\0", entity["body"], entity["end"]) >= 0:
        yield entity


def encode_binary_file(path, sink):
    """Write the message in the file `path` into `sink` (an Incoming), with its
    binary leaf parts base64-encoded."""
    with open(path, "rb") as f:
        data = msginfo.FileData(f)
        leaves = _binary_leaves(data, msginfo.analyse(data)["body"])
        at = 0
        for entity in sorted(leaves, key=lambda e: e["start"]):
            start, body, end = entity["start"], entity["body"], entity["end"]
            _copy(data, at, start, sink)
            sink.write(_encoded_header(data[start:body]))
            for piece in range(body, end, _CHUNK):
                if piece > body:
                    sink.write(b"\r\n")
                sink.write(_base64(data[piece:min(piece + _CHUNK, end)]))
            at = end
        _copy(data, at, len(data), sink)


def _copy(data, start, stop, sink):
    for at in range(start, stop, _CHUNK):
        sink.write(data[at:min(at + _CHUNK, stop)])


def _encoded_header(header):
    """A part's header section (its blank line included) saying base64."""
    field, count = _CTE_FIELD.subn(_BASE64_FIELD, header, count=1)
    if count:
        return field
    # No field (the default, 7bit, yet NUL in the body): one before the blank line.
    blank = len(header) - 2 if header.endswith(b"\r\n") else len(header)
    return header[:blank] + _BASE64_FIELD + b"\r\n" + header[blank:]


def _base64(body):
    """RFC 2045 6.8 lines, CRLF between them; none after the last, as the CRLF
    before a boundary belongs to the boundary (RFC 2046 5.1.1)."""
    text = base64.b64encode(body)
    return b"\r\n".join(text[i:i + _LINE] for i in range(0, len(text), _LINE))
