"""FETCH of nothing but FLAGS and UID, for many messages at once (what a client
asks for every time it opens a big mailbox): answered from the index's compact
slots, one byte of flags per message, rather than one record per message. Only
the messages with keywords, which the slots do not hold, are read as records.
The lines come from fetch.Builder, in pieces of FLAG_LINES, so that the session
sends them as they are made; a message expunged meanwhile by another session is
left out (RFC 9051 7.1: the client hears of it at its next command).
"""

import bisect

from ..core.mailrecord import KEYWORDS_BIT, system_flags

FLAG_LINES = 5000       # lines per piece of a flags-only answer


def flag_lines(view, builder, spans):
    """FLAGS and UID for many messages at once, from the index's compact slots
    rather than one record per message; lines in pieces of FLAG_LINES."""
    _, slots = view.folder.slots()
    uids, bits = view.uids, slots.bits
    where = None if slots.uids == uids else {uid: i for i, uid in enumerate(slots.uids)}
    records = _keyworded(view.folder, slots)
    texts = {}                  # flag bits (+256 if \\Recent) -> formatted flags
    recent = _recent_marks(view, builder)
    pieces, lines = [], []
    for start, stop in spans:
        for i in range(start, stop):
            uid = uids[i]
            j = i if where is None else where.get(uid)
            if j is None:
                continue            # expunged by another session meanwhile
            mark = bits[j]
            if mark & KEYWORDS_BIT and uid in records:
                text = builder.flags(uid, records[uid].flags)
            else:
                key = mark | 256 if recent is not None and recent[i] else mark
                text = texts.get(key)
                if text is None:
                    text = texts[key] = builder.flags(uid, system_flags(mark))
            lines.append(builder.flags_line(i + 1, uid, text))
            if len(lines) >= FLAG_LINES:
                pieces.append(b"".join(lines))
                lines = []
    pieces.append(b"".join(lines))
    return pieces


def _recent_marks(view, builder):
    """One byte per message of the view, 1 where it is \\Recent; None if the
    builder shows no \\Recent."""
    if builder.recent is None:
        return None
    marks = bytearray(len(view.uids))
    for low, high in view.recent:
        start = bisect.bisect_left(view.uids, low)
        stop = bisect.bisect_left(view.uids, high)
        marks[start:stop] = b"\x01" * (stop - start)
    return marks


_HAS_KEYWORDS = bytes(1 if n & KEYWORDS_BIT else 0 for n in range(256))


def _keyworded(folder, slots):
    """{uid: Record} of the messages with keywords, which only records hold."""
    marks = slots.bits.translate(_HAS_KEYWORDS)
    found, at = [], marks.find(1)
    while at >= 0:
        found.append(slots.uids[at])
        at = marks.find(1, at + 1)
    return folder.records(found) if found else {}
