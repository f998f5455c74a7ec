"""FETCH and UID FETCH (RFC 9051 6.4.5 and 7.5.2; RFC 3501 6.4.5 and 7.4.2).

Data items served: FLAGS, UID, MODSEQ (RFC 7162 3.1.4.2), RFC822.SIZE, INTERNALDATE,
RFC822, RFC822.HEADER, RFC822.TEXT, ENVELOPE, BODYSTRUCTURE, BODY, the macros ALL,
FAST and FULL, BODY[section]<partial> / BODY.PEEK[...] for every section (module
section), and BINARY[part]<partial>, BINARY.PEEK and BINARY.SIZE (RFC 3516); the
modifier (CHANGEDSINCE n [VANISHED]) (RFC 7162 3.1.4.1, 3.2.6). Message data is
sent as a literal in its wire form, every line ending in CRLF (RFC 9051 2.2), which
is also what RFC822.SIZE and partial offsets count. Reading a body without .PEEK
sets \\Seen (unless the mailbox was EXAMINEd) and FLAGS then go out with the data.
ENVELOPE and BODYSTRUCTURE, which the index caches made (core.msginfo,
core.msgimap), BODY and the header fields that the index caches are served
without reading the file; a header is read
without the body, a part without what follows it; FLAGS and UID of many messages
come from the index's compact slots. `Builder` makes every FETCH line, solicited
or not.
"""

import re

from ..core import maildir, msgimap, msginfo
from . import condstore, section
from .flaglines import flag_lines
from .errors import Bad, No
from .parser import sequence_set
from .response import flags as format_flags, internaldate, literal

FLUSH_SIZE = 256 * 1024    # send gathered responses once they pass this
# RFC 9051 6.4.5: the macros.
_MACROS = {"FAST": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
           "ALL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"],
           "FULL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"]}
_SIMPLE = {"FLAGS", "UID", "MODSEQ", "RFC822.SIZE", "INTERNALDATE"}
_STRUCTURE = {"ENVELOPE", "BODYSTRUCTURE", "BODY"}
# name -> (section, sets \Seen)
_RFC822 = {"RFC822": ("", True), "RFC822.HEADER": ("HEADER", False),
           "RFC822.TEXT": ("TEXT", True)}
# RFC 9051 9: partial = "<" number64 "." nz-number64 ">", at most 19 digits each.
_BODY = re.compile(r"(BODY(?:\.PEEK)?|BINARY(?:\.PEEK|\.SIZE)?)\[([^\]]*)\]"
                   r"(?:<(\d{1,19})\.(\d{1,19})>)?\Z", re.IGNORECASE)


class Item:
    """One requested data item."""

    def __init__(self, label, section=None, fields=None, partial=None, seen=False,
                 part=(), kind="BODY"):
        self.label = label          # as it appears in the response
        self.section = section      # None for non-body items
        self.fields = fields        # header names for HEADER.FIELDS[.NOT]
        self.partial = partial      # (start, count) or None
        self.seen = seen            # reading it sets \Seen
        self.part = part            # part numbers, () for the whole message
        self.kind = kind            # BODY, BINARY or BINARY.SIZE

    def spec(self):
        """The section, as module section takes it."""
        return section.Section(self.part, self.section, self.fields, self.label)


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
        elif name in _SIMPLE or name in _STRUCTURE:
            items.append(Item(name))
        elif name in _RFC822:
            text, seen = _RFC822[name]
            items.append(Item(name, text, seen=seen))
        else:
            items.append(_body_item(tok))
    return items


def _body_item(text):
    match = _BODY.match(text)
    if not match:
        raise Bad(f"unsupported FETCH data item {text[:40]}")
    kind = match.group(1).upper()
    spec = section.parse(match.group(2), binary=kind.startswith("BINARY"))
    base = kind.replace(".PEEK", "")
    label = f"{base}[{spec.label}]"
    partial = None
    if match.group(3) is not None:
        # RFC 3516 4.2: BINARY.SIZE takes no partial.
        if base == "BINARY.SIZE":
            raise Bad("BINARY.SIZE takes no partial")
        partial = (int(match.group(3)), int(match.group(4)))
        label += f"<{partial[0]}>"
    return Item(label, spec.text, spec.fields, partial, seen=kind in ("BODY", "BINARY"),
                part=spec.part, kind=base)


async def fetch(s, cmd):
    if len(cmd.args) not in (2, 3):
        raise Bad("expected a sequence set, data items and optional modifiers")
    ranges = sequence_set(cmd.args[0])
    items = parse_items(cmd.args[1])
    since, vanished = None, False
    if len(cmd.args) == 3:
        since, vanished = condstore.fetch_modifiers(s, cmd, cmd.args[2])
    _add_implied(items, cmd.uid, since)
    view = s.selected
    spans = check_spans(view, ranges, cmd.uid)
    if _asks(items, "MODSEQ"):
        condstore.enable(s)
    builder = Builder(items, condstore.condstore_on(s), recent_of(s))
    if vanished:
        # RFC 7162 3.2.6: the UIDs of the set expunged since, before the FETCHes.
        gone = await s.mail.call(view.expunged_since, since)
        condstore.report_vanished(
            s, [uid for uid in gone if condstore.within(uid, ranges)], earlier=True)
    if builder.flags_only:
        for lines in await s.mail.call(flag_lines, view, builder, spans):
            s.write(lines)
            await s.flush()
        return
    uids = [view.uids[i] for start, stop in spans for i in range(start, stop)]
    if since is not None:
        changed = set(await s.mail.call(view.changed_since, since))
        uids = [uid for uid in uids if uid in changed]
    gone = 0
    step = CHUNK_BODIES if builder.source >= PART else CHUNK
    for at in range(0, len(uids), step):
        lines, missing, refusal = await s.mail.call(fetch_lines, view, builder,
                                                    uids[at:at + step], since)
        gone += missing
        s.write(lines)
        if refusal:
            raise refusal
        if len(s.out) > FLUSH_SIZE:
            await s.flush()
    if gone:
        # RFC 9051 7.1: another session expunged some; the client hears at NOOP.
        raise No("some messages were expunged", "EXPUNGEISSUED")


def _add_implied(items, by_uid, since):
    # RFC 9051 6.4.9: UID FETCH always returns the UID.
    if by_uid and not _asks(items, "UID"):
        items.insert(0, Item("UID"))
    # RFC 7162 3.1.4.1: CHANGEDSINCE implies MODSEQ.
    if since is not None and not _asks(items, "MODSEQ"):
        items.append(Item("MODSEQ"))


def _asks(items, label):
    return any(item.label == label for item in items)


def recent_of(s):
    """What says whether a message is \\Recent for the session, for Builder:
    None when no message is, or for an IMAP4rev2 client, which has no \\Recent
    (RFC 9051 appendix E)."""
    view = s.selected
    if view is None or not view.recent or "IMAP4rev2" in s.enabled:
        return None
    return view.is_recent


def check_spans(view, ranges, by_uid):
    """The [(start, stop)] slices of view.uids a sequence set names; RFC 9051 9:
    a sequence number beyond the last message is an error, while "*" in an empty
    mailbox simply matches nothing."""
    if not by_uid:
        for low, high in ranges:
            if len(view) == 0 and None in (low, high):
                continue
            if (low or 0) > len(view) or (high or 0) > len(view):
                raise Bad("no such message")
    return view.positions(ranges, by_uid)


def check_messages(view, ranges, by_uid):
    """The UIDs a sequence set names, ascending (check_spans' rules)."""
    return [view.uids[i] for start, stop in check_spans(view, ranges, by_uid)
            for i in range(start, stop)]


# What a FETCH needs from the store, from least to most: nothing, the cached
# header fields, the header, the message up to the end of some parts, all of it.
NOTHING, CACHE, HEADER, PART, WHOLE = range(5)
CHUNK = 1000            # messages per trip to a worker thread
CHUNK_BODIES = 50       # when whole messages or parts are read


class Builder:
    """The one maker of `* n FETCH (...)` lines, for FETCH, for STORE and for flag
    changes reported unasked, so an item's rule lives in one place. `condstore`
    says the session has CONDSTORE on (RFC 7162 3.1); `recent(uid)`, if given,
    whether FLAGS include \\Recent (RFC 3501 2.3.2)."""

    def __init__(self, items, condstore=False, recent=None):
        self.items = items
        self.condstore = condstore
        self.recent = recent
        self.has_flags = _asks(items, "FLAGS")
        self.has_uid = _asks(items, "UID")
        self.has_modseq = _asks(items, "MODSEQ")
        self.flags_only = all(i.label in ("UID", "FLAGS") for i in items)
        self.sets_seen = any(i.seen for i in items)
        self.source = max((_source(i) for i in items), default=NOTHING)
        # BODY and part numbers need the parsed structure; ENVELOPE and
        # BODYSTRUCTURE are cached made, with the header fields.
        self.structure = any(i.label == "BODY" or i.part for i in items)
        self.described = self.structure or any(i.label in _STRUCTURE for i in items)
        self.decodes = any(i.kind != "BODY" and i.part for i in items)
        if self.flags_only:
            # The same line as line() makes, as one %-format for speed.
            self._template = b"* %d FETCH (" + b" ".join(
                b"UID %d" if i.label == "UID" else b"FLAGS %s" for i in items) \
                + b")\r\n"
            self._uid_first = items[0].label == "UID"

    def flags_line(self, seq, uid, flags):
        """line() for items that are only UID and FLAGS; `flags` is the
        formatted flag list (bytes)."""
        if len(self.items) == 1:
            return self._template % (seq, uid if self._uid_first else flags)
        return self._template % ((seq, uid, flags) if self._uid_first
                                 else (seq, flags, uid))

    def line(self, seq, record, body=None, info=None, seen_set=False):
        """The response for one message. `body` is the message (or its header)
        when the items need it, `info` its core.msginfo description; `seen_set`
        says this fetch just set \\Seen, so FLAGS go out even if not asked for
        (RFC 9051 6.4.5), and with CONDSTORE on, UID and MODSEQ too (RFC 7162
        3.1)."""
        parts = []
        if seen_set:
            wanted = [("UID", not self.has_uid and self.condstore),
                      ("FLAGS", not self.has_flags),
                      ("MODSEQ", not self.has_modseq and self.condstore)]
            parts = [self._render(Item(label), record, None, None)
                     for label, missing in wanted if missing]
        parts += [self._render(item, record, body, info) for item in self.items]
        return b"* %d FETCH (" % seq + b" ".join(parts) + b")\r\n"

    def _render(self, item, record, body, info):
        if item.label == "FLAGS":
            return b"FLAGS " + self.flags(record.uid, record.flags)
        return _render(item, record, body, info)

    def flags(self, uid, flags):
        """The formatted flag list of a message, \\Recent included if it is."""
        if self.recent is not None and self.recent(uid):
            flags = flags | RECENT
        return format_flags(flags).encode("utf-8")

    def extent(self, info):
        """How much of the message the items need, when source is PART."""
        return max((section.extent(info, i.spec()) for i in self.items
                    if _source(i) > NOTHING), default=0)

    def decodable(self, info):
        """Whether BINARY can decode every part the items name (RFC 3516 4.2)."""
        return all(section.decodable(info, i.part) for i in self.items
                   if i.kind != "BODY")


RECENT = frozenset({"\\Recent"})


def _source(item):
    if item.section is None or (item.kind == "BINARY.SIZE" and not item.part):
        return NOTHING
    if item.part:
        return PART
    if item.section in ("", "TEXT"):
        return WHOLE
    if item.section == "HEADER.FIELDS" and item.fields <= set(msginfo.CACHED_FIELDS):
        return CACHE
    return HEADER


def fetch_lines(view, builder, uids, since=None):
    """(response bytes, messages found gone, refusal) for some messages (those
    changed after `since` if given): read what the items need, then set \\Seen
    where a body was read, then build the lines, so that a failure part way sets
    no flag for data that was not sent. `refusal` is the NO that ends the FETCH
    at the first message with a part BINARY cannot decode; the messages before it
    are answered."""
    folder = view.folder
    records = folder.records(uids)
    gone = len(uids) - len(records)
    if since is not None:
        records = {uid: r for uid, r in records.items() if r.modseq > since}
        uids = [uid for uid in uids if uid in records]
    infos = {}
    if builder.source in (CACHE, HEADER, PART) or builder.described:
        infos = folder.message_infos(list(records.values()), builder.structure)
    uids, refusal = _decodable(builder, uids, infos)
    records = {uid: records[uid] for uid in uids if uid in records}
    bodies = {}
    for uid, record in list(records.items()):
        try:
            bodies[uid] = _read(folder, record, builder, infos.get(uid))
        except maildir.NoSuchMessage:
            del records[uid]
            gone += 1
    seen = set()
    if builder.sets_seen and not view.readonly:
        unseen = [uid for uid, r in records.items() if "\\Seen" not in r.flags]
        if unseen:
            change = folder.change_flags(unseen, frozenset({"\\Seen"}), "add")
            if change.modseq:
                view.own(change.modseq)
            for uid, record in change.records.items():
                records[uid] = record
                seen.add(uid)
    lines = [builder.line(view.seq(uid), records[uid], bodies[uid], infos.get(uid),
                          uid in seen) for uid in uids if uid in records]
    return b"".join(lines), gone, refusal


def _decodable(builder, uids, infos):
    """The messages before the first one with a part in an encoding BINARY
    does not know, and the NO for it (RFC 3516 4.2: NO [UNKNOWN-CTE])."""
    if builder.decodes:
        for at, uid in enumerate(uids):
            if uid in infos and not builder.decodable(infos[uid]):
                return uids[:at], No("unknown Content-Transfer-Encoding",
                                     "UNKNOWN-CTE")
    return uids, None


def _read(folder, record, builder, info):
    """The part of the message the items need: all of it, its header, as much
    as the parts asked for need, or nothing (nothing, or fields the index
    caches)."""
    if builder.source == WHOLE:
        return folder.read(record)
    if builder.source == HEADER:
        return folder.read(record, info["header"])
    if builder.source == PART:
        return folder.read(record, builder.extent(info))
    return None


def _render(item, record, body, info):
    label = item.label.encode("ascii")
    if item.section is None:
        return label + b" " + _value(item.label, record, info)
    if item.kind == "BINARY.SIZE":
        # RFC 3516 4.2: the size BINARY would send; BINARY[] is the message.
        size = len(section.binary_bytes(body, info, item.part)) if item.part \
            else record.wire
        return label + b" %d" % size
    data = _section_data(item, body, info)
    if item.partial:
        start, count = item.partial
        data = data[start:start + count]
    if item.kind == "BINARY":
        return label + b" " + section.binary_literal(data)
    return label + b" " + literal(data)


def _value(name, record, info):
    """A data item that is not a section of the message."""
    if name == "FLAGS":
        return format_flags(record.flags).encode("utf-8")
    if name == "UID":
        return b"%d" % record.uid
    if name == "MODSEQ":
        # RFC 7162 3.1.4.2
        return b"(%d)" % record.modseq
    if name == "RFC822.SIZE":
        return b"%d" % record.wire
    if name == "INTERNALDATE":
        return internaldate(record.internaldate).encode("ascii")
    if name == "ENVELOPE":
        return info["imap"][0].encode("latin-1")
    if name == "BODYSTRUCTURE":
        return info["imap"][1].encode("latin-1")
    return msgimap.body(info["body"], extensible=False)


def _section_data(item, body, info):
    if item.kind == "BINARY":
        return section.binary_bytes(body, info, item.part)
    if body is None:
        return _cached_fields(info, item.fields)
    return section.body_bytes(body, info, item.spec())


def _cached_fields(info, fields):
    chosen = [raw for name, raw in info["fields"] if name in fields]
    return "".join(chosen).encode("latin-1") + b"\r\n"
