"""What the index caches about a message, parsed once: at delivery, at APPEND, or the
first time a client asks about a message another tool put in the Maildir.

    wire(data) -> bytes            # the message with CRLF line ends (RFC 9051 2.2)
    wire_size(data) -> int         # len(wire(data)) without building it
    analyse(data) -> dict          # `data` in wire form (bytes or mmap); JSON-able:
        {"v": VERSION, "size": wire size, "header": length of the header section,
         "fields": [[name, raw field], ...]    # CACHED_FIELDS, in message order
         "envelope": [...], "body": entity,    # RFC 9051 7.5.2 ENVELOPE, BODYSTRUCTURE
         "imap": [ENVELOPE, BODYSTRUCTURE]}    # as IMAP sends them (core.msgimap)
    entity: {"type", "subtype" (lowercase), "params": [[name, value], ...],
             "start", "body", "end": where its header, its body and its end are,
             "disposition": [value, params] or None, "location",
             "language": [tag, ...] or None (RFC 3282),
             then "parts": [entity, ...] for a multipart that has parts, else
             "id", "description", "md5", "size", "lines",
             "encoding": the transfer encoding's name, as written ("7bit" if none),
             and for a message/rfc822 also "message": {"envelope", "body"}}

Offsets and sizes count the bytes IMAP sends, so BODY[1.2] and partial fetches can be
served from them. Raw header text is kept as bytes decoded as Latin-1 (so JSON can hold
any byte and the bytes come back exactly); the envelope's strings are the fields'
unfolded raw values, RFC 2047 words left for the client to decode, as IMAP requires.
A description whose "v" is not VERSION is parsed again: VERSION changes with the
shape or the meaning of anything in it.

Failure policy: a malformed message is still described (a missing blank line makes
it all header; a multipart without its boundary is one opaque part); nesting deeper
than MAX_DEPTH or more than MAX_PARTS parts stops the descent there, so a hostile
message costs bounded time and memory.
"""

import os
import re
import urllib.parse
from email.message import Message

from . import mailaddress, msgimap

VERSION = 3
MAX_DEPTH = 20
MAX_PARTS = 500
CACHED_FIELDS = ("from", "to", "cc", "subject", "date", "message-id", "references",
                 "in-reply-to", "list-id", "content-type")
_CHUNK = 1 << 20


def wire(data):
    """`data` with every line end CRLF (files of other tools may use bare LF)."""
    data = bytes(data)
    if data.count(b"\n") == data.count(b"\r\n"):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class FileData:
    """A message in an open file, read piece by piece where analyse() and
    wire_size() need it, so that a large message is never in memory whole (and
    not mapped either: mapped pages would count as the process's memory)."""

    def __init__(self, f):
        self._fd = f.fileno()
        self._size = os.fstat(self._fd).st_size

    def __len__(self):
        return self._size

    def __getitem__(self, part):
        start, stop, _ = part.indices(self._size)
        return os.pread(self._fd, max(stop - start, 0), start)

    def find(self, needle, start=0, end=None):
        end = self._size if end is None else min(end, self._size)
        while start < end:
            stop = min(start + _CHUNK, end)
            at = self[start:min(stop + len(needle) - 1, end)].find(needle)
            if at >= 0:
                return start + at
            start = stop
        return -1


def wire_size(data):
    return len(data) + _count(data, b"\n") - _count(data, b"\r\n")


def _count(data, needle, start=0, end=None):
    """bytes.count for bytes and mmap alike, a chunk at a time."""
    end = len(data) if end is None else end
    if isinstance(data, bytes):
        return data.count(needle, start, end)
    total, keep = 0, len(needle) - 1
    while start < end:
        stop = min(start + _CHUNK, end)
        chunk = data[start:min(stop + keep, end)]
        # The chunk reaches `keep` bytes past `stop`, so a needle across the cut
        # is counted here, and only here.
        total += chunk.count(needle)
        start = stop
    return total


def analyse(data):
    """Describe a message given in wire form (see the module docstring)."""
    _, body_start = _header_end(data, 0, len(data))
    head = bytes(data[:body_start])
    fields = Header(head)
    doc = {"v": VERSION, "size": len(data), "header": body_start,
           "fields": fields.cached, "envelope": envelope(fields),
           "body": _part(data, 0, len(data), "text/plain", 0, [0], fields)}
    doc["imap"] = [msgimap.envelope_text(doc["envelope"]),
                   msgimap.body_text(doc["body"])]
    return doc


def _header_end(data, start, end):
    """(end of the last header line, start of the body) within [start, end)."""
    if data[start:start + 2] == b"\r\n":
        return start, start + 2
    pos = data.find(b"\r\n\r\n", start, end)
    if pos < 0:
        return end, end
    return pos + 2, pos + 4


class Header:
    """The fields of a header section: `values[name]` lists the unfolded values
    (RFC 5322 2.2.3) of each field by lowercase name; `cached` holds the raw fields
    of CACHED_FIELDS, line ends included, as [[name, raw], ...]."""

    def __init__(self, head):
        self.values = {}
        self.cached = []
        raw = []
        for line in head.decode("latin-1").split("\r\n")[:-1]:
            if line[:1] in (" ", "\t") and raw:
                raw[-1] += "\r\n" + line
            elif line:
                raw.append(line)
        for field in raw:
            name, colon, value = field.partition(":")
            if not colon:
                continue
            name = name.strip().lower()
            self.values.setdefault(name, []).append(
                value.replace("\r\n", "").strip(" \t"))
            if name in CACHED_FIELDS:
                self.cached.append([name, field + "\r\n"])

    def get(self, name):
        values = self.values.get(name)
        return values[0] if values else None


def _addresses(header, name):
    """RFC 9051 7.5.2 address lists: [name, adl, mailbox, host] per address, a
    group as [None, None, group, None] ... [None, None, None, None]."""
    out = []
    for raw in header.values.get(name, ()):
        simple = _SIMPLE_ADDRESS.fullmatch(raw)
        if simple:
            display, mailbox, host, bare_mailbox, bare_host = simple.groups()
            out.append([display or None, None, mailbox or bare_mailbox,
                        host or bare_host])
        else:
            out.extend(mailaddress.parse(raw))
    return out or None


# The common shapes, "local@host" and "Name <local@host>", without the full
# parser (core.mailaddress), which gives the same answer for them.
_ATOMS = r'[^\s"<>(),:;@\\\[\]]+'
_SIMPLE_ADDRESS = re.compile(
    rf'(|{_ATOMS}(?: {_ATOMS})*) ?<({_ATOMS})@({_ATOMS})>|({_ATOMS})@({_ATOMS})')


def envelope(header):
    """RFC 9051 7.5.2 ENVELOPE: date, subject, from, sender, reply-to, to, cc, bcc,
    in-reply-to, message-id. Sender and Reply-To default to From."""
    sender = _addresses(header, "from")
    return [header.get("date"), header.get("subject"), sender,
            _addresses(header, "sender") or sender,
            _addresses(header, "reply-to") or sender,
            _addresses(header, "to"), _addresses(header, "cc"), _addresses(header, "bcc"),
            header.get("in-reply-to"), header.get("message-id")]


def _params(header, name):
    """(lowercase value, [[param, value], ...]) of a Content-Type-like field.
    RFC 2231 continuations are joined; a value with a charset stays in its
    encoded form under "name*" (charset'language'%XX), as the client decodes
    encoded words too: IMAP4rev1 strings carry no charset."""
    value = header.get(name)
    if value is None:
        return None, []
    holder = Message()
    holder[name] = value
    params = holder.get_params(header=name, failobj=None, unquote=True)
    if not params:
        return None, []
    pairs = []
    for key, param in params[1:]:
        if not key:
            continue
        key = key.lower()
        if isinstance(param, tuple):
            charset, language, text = param
            if charset is None:
                param = text
            else:
                key += "*"
                param = (f"{charset}'{language or ''}'"
                         + urllib.parse.quote(text.encode("latin-1", "replace"),
                                              safe=_ATTRIBUTE_CHARS))
        pairs.append([key, str(param)])
    return params[0][0].lower(), pairs


# RFC 2231 7: attribute-char, besides letters, digits and "_.-~".
_ATTRIBUTE_CHARS = "!#$&+^`{|}"


def _part(data, start, end, default_type, depth, parts, header=None):
    """BODYSTRUCTURE of the entity in [start, end), with its offsets; `parts`
    counts the entities described so far."""
    parts[0] += 1
    _, body = _header_end(data, start, end)
    if header is None:
        header = Header(bytes(data[start:body]))
    ctype, params = _params(header, "content-type")
    if not ctype or "/" not in ctype:
        ctype, params = default_type, []
    maintype, subtype = ctype.split("/", 1)
    if maintype == "text" and "charset" not in dict(params):
        # RFC 2045 5.2 and RFC 2046 4.1.2: text is US-ASCII unless it says.
        params = [["charset", "us-ascii"], *params]
    disposition, disp_params = _params(header, "content-disposition")
    entity = {"type": maintype, "subtype": subtype, "params": params,
              "start": start, "body": body, "end": end,
              "disposition": [disposition, disp_params] if disposition else None,
              "language": _languages(header.get("content-language")),
              "location": header.get("content-location")}
    boundary = dict(params).get("boundary")
    if maintype == "multipart" and boundary and depth < MAX_DEPTH:
        child_type = "message/rfc822" if subtype == "digest" else "text/plain"
        entity["parts"] = [_part(data, s, e, child_type, depth + 1, parts)
                           for s, e in _split_multipart(data, body, end, boundary, parts)]
        if entity["parts"]:
            return entity
        del entity["parts"]
    entity.update({"id": header.get("content-id"),
                   "description": header.get("content-description"),
                   "encoding": _token(header.get("content-transfer-encoding")),
                   "md5": header.get("content-md5"), "size": end - body,
                   "lines": _lines(data, body, end)})
    if (maintype, subtype) == ("message", "rfc822") and depth < MAX_DEPTH:
        _, inner_body = _header_end(data, body, end)
        inner = Header(bytes(data[body:inner_body]))
        entity["message"] = {"envelope": envelope(inner),
                             "body": _part(data, body, end, "text/plain", depth + 1,
                                           parts, inner)}
    return entity


def _token(value, default="7bit"):
    """The first word of a field such as Content-Transfer-Encoding, without the
    comments around it (RFC 2045 6.1; RFC 5322 3.2.2)."""
    words = _uncommented(value or "").split()
    return words[0] if words else default


def _languages(value):
    """Content-Language's tags (RFC 3282: a comma-separated list)."""
    tags = [tag.strip() for tag in _uncommented(value or "").split(",")]
    return [tag for tag in tags if tag] or None


def _uncommented(value):
    """`value` without its comments, nested ones too (RFC 5322 3.2.2)."""
    out, depth = [], 0
    for c in value:
        if c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif not depth:
            out.append(c)
    return "".join(out)


def _lines(data, start, end):
    """The line ends in the body: a last line without one (as a part before its
    boundary delimiter) is not counted, as Dovecot counts."""
    return _count(data, b"\n", start, end) if end > start else 0


def _split_multipart(data, body, end, boundary, parts):
    """[(start, end)] of the body parts between the boundary delimiters
    (RFC 2046 5.1.1: the CRLF before a delimiter belongs to the delimiter)."""
    marker = b"--" + boundary.encode("latin-1", "replace")
    found = []
    pos = body if data[body:body + len(marker)] == marker else -1
    if pos < 0:
        pos = data.find(b"\r\n" + marker, body, end)
        pos = pos + 2 if pos >= 0 else -1
    while pos >= 0 and len(found) < MAX_PARTS and parts[0] + len(found) < MAX_PARTS:
        after = pos + len(marker)
        closing = data[after:after + 2] == b"--"
        line_end = data.find(b"\r\n", after, end)
        if closing or line_end < 0:
            break
        start = line_end + 2
        nxt = data.find(b"\r\n" + marker, line_end, end)
        stop = nxt if nxt >= 0 else end
        found.append((start, max(start, stop)))
        pos = nxt + 2 if nxt >= 0 else -1
    return found
