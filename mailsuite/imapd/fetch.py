"""FETCH and UID FETCH (RFC 9051 6.4.5 and 7.5.2; RFC 3501 6.4.5 and 7.4.2).

Data items served: FLAGS, UID, RFC822.SIZE, INTERNALDATE, RFC822, RFC822.HEADER,
RFC822.TEXT, the FAST macro, and BODY[section]<partial> / BODY.PEEK[...] for the
sections "", HEADER, TEXT, HEADER.FIELDS (...) and HEADER.FIELDS.NOT (...). Message
data is sent as a literal, byte for byte as the store holds it. Reading a body
without .PEEK sets \\Seen (unless the mailbox was EXAMINEd) and FLAGS then go out
with the data. ENVELOPE, BODYSTRUCTURE and MIME part numbers are not served yet:
asking for them is a BAD, never a wrong answer.
"""

import re

from ..core import maildir
from .errors import Bad, No
from .parser import astring, sequence_set, tokenize
from .response import flags as format_flags, internaldate, literal, quoted

FLUSH_SIZE = 256 * 1024    # send gathered responses once they pass this
_MACROS = {"FAST": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]}
_SIMPLE = {"FLAGS", "UID", "RFC822.SIZE", "INTERNALDATE"}
# name -> (section, sets \Seen)
_RFC822 = {"RFC822": ("", True), "RFC822.HEADER": ("HEADER", False),
           "RFC822.TEXT": ("TEXT", True)}
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")
_ATOM = re.compile(r'[^(){%*"\\\]]+')     # a field name without atom-specials
# RFC 9051 9: partial = "<" number64 "." nz-number64 ">", at most 19 digits each.
_BODY = re.compile(r"(BODY(?:\.PEEK)?)\[([^\]]*)\](?:<(\d{1,19})\.(\d{1,19})>)?\Z",
                   re.IGNORECASE)


class Item:
    """One requested data item."""

    def __init__(self, label, section=None, fields=None, partial=None, seen=False):
        self.label = label          # as it appears in the response
        self.section = section      # None for non-body items
        self.fields = fields        # header names for HEADER.FIELDS[.NOT]
        self.partial = partial      # (start, count) or None
        self.seen = seen            # reading it sets \Seen


def parse_items(token):
    """The data item, macro, or parenthesized list of items after the set."""
    tokens = token if isinstance(token, list) else [token]
    if not tokens:
        raise Bad("empty FETCH item list")
    items = []
    for tok in tokens:
        if not isinstance(tok, str):
            raise Bad("expected a FETCH data item")
        name = tok.upper()
        if name in _MACROS and not isinstance(token, list):
            items += [Item(n) for n in _MACROS[name]]
        elif name in _SIMPLE:
            items.append(Item(name))
        elif name in _RFC822:
            section, seen = _RFC822[name]
            items.append(Item(name, section, seen=seen))
        else:
            items.append(_body_item(tok))
    return items


def _body_item(text):
    match = _BODY.match(text)
    if not match:
        raise Bad(f"unsupported FETCH data item {text[:40]}")
    section, fields, label = _section(match.group(2))
    partial = None
    label = f"BODY[{label}]"
    if match.group(3) is not None:
        partial = (int(match.group(3)), int(match.group(4)))
        label += f"<{partial[0]}>"
    return Item(label, section, fields, partial, seen=match.group(1).upper() == "BODY")


def _section(text):
    """(section, header names, label) for the part between the brackets."""
    try:
        tokens = tokenize(text.encode("ascii"))
    except UnicodeEncodeError:
        raise Bad("invalid character in section") from None
    name = tokens[0].upper() if tokens and isinstance(tokens[0], str) else ""
    if not tokens or (name in ("HEADER", "TEXT") and len(tokens) == 1):
        return name, None, name
    if name in ("HEADER.FIELDS", "HEADER.FIELDS.NOT") and len(tokens) == 2 \
            and isinstance(tokens[1], list) and tokens[1]:
        fields = [_field_name(t) for t in tokens[1]]
        label = " ".join(f if _ATOM.fullmatch(f) else quoted(f) for f in fields)
        return name, {f.lower() for f in fields}, f"{name} ({label})"
    raise Bad(f"unsupported section [{text[:40]}]")


def _field_name(token):
    # RFC 5322 3.6.8: a field name is printable ASCII but ":"; it goes back in
    # the response's label, quoted unless it is an atom.
    field = astring(token)
    if not _FIELD_NAME.fullmatch(field):
        raise Bad("invalid header field name")
    return field


async def fetch(s, cmd):
    if len(cmd.args) != 2:
        raise Bad("expected a sequence set and data items")
    ranges = sequence_set(cmd.args[0])
    items = parse_items(cmd.args[1])
    if cmd.uid and not any(item.label == "UID" for item in items):
        # RFC 9051 6.4.9: UID FETCH always returns the UID.
        items.insert(0, Item("UID"))
    view = s.selected
    gone = 0
    for seq, uid in view.messages(ranges, cmd.uid):
        try:
            s.write(fetch_one(view, seq, uid, items))
        except maildir.NoSuchMessage:
            gone += 1
            continue
        if len(s.out) > FLUSH_SIZE:
            await s.flush()
    if gone:
        # RFC 9051 7.1: another session expunged some; the client hears at NOOP.
        raise No("some messages were expunged", "EXPUNGEISSUED")


def fetch_one(view, seq, uid, items):
    """The `* n FETCH (...)` response for one message."""
    folder = view.folder
    info = folder.info(uid)
    if not view.readonly and "\\Seen" not in info.flags and any(i.seen for i in items):
        info = folder.store([uid], frozenset({"\\Seen"}), "add")[uid]
        if not any(i.label == "FLAGS" for i in items):
            items = [Item("FLAGS")] + items
    data = folder.read(uid) if any(i.section is not None for i in items) else b""
    parts = [_render(item, info, data) for item in items]
    if any(i.label == "FLAGS" for i in items):
        view.flags[uid] = info.flags
    return b"* %d FETCH (" % seq + b" ".join(parts) + b")\r\n"


def _render(item, info, data):
    label = item.label.encode("ascii")
    if item.label == "FLAGS":
        return label + b" " + format_flags(info.flags).encode("utf-8")
    if item.label == "UID":
        return b"UID %d" % info.uid
    if item.label == "RFC822.SIZE":
        return b"RFC822.SIZE %d" % info.size
    if item.label == "INTERNALDATE":
        return label + b" " + internaldate(info.internaldate).encode("ascii")
    body = section_bytes(data, item.section, item.fields)
    if item.partial:
        start, count = item.partial
        body = body[start:start + count]
    return label + b" " + literal(body)


def section_bytes(data, section, fields=None):
    """The bytes of a section of a whole message (RFC 9051 6.4.5 BODY[])."""
    if section == "":
        return data
    header, text = split_message(data)
    if section == "TEXT":
        return text
    if section == "HEADER":
        return header
    keep = section == "HEADER.FIELDS"
    chosen = [field for field in header_fields(header)
              if (field.split(b":", 1)[0].strip().decode("latin-1").lower()
                  in fields) == keep]
    return b"".join(chosen) + b"\r\n"


def split_message(data):
    """(header including the blank line, text)."""
    match = re.search(rb"\r?\n\r?\n", data)
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
