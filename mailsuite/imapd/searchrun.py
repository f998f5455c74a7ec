"""Evaluating search keys (searchkeys.py) over a session's view of a folder, for
SEARCH, SORT and THREAD (RFC 9051 6.4.4, RFC 5256).

    indexes = await matching(s, key)    # array of view indexes, ascending

A set of messages is a Python int used as a bit set over the view: message index i
is bit n-1-i, so that int(b"0101...", 2) turns a mask into a set in C, and AND, OR
and NOT of whole sets cost microseconds at 100,000 messages. Each key is evaluated
only on the messages still in question (`within`): AND narrows from the cheapest
key to the dearest, OR tries its right side only where its left failed, so that
`UNSEEN BODY x` reads the files of unseen messages alone.

Where each kind of key is answered: flags from the folder's slots (one byte per
message, translated in C); keywords from the records of the messages whose slot
says they have some; sizes and internal dates from the records, without building
them; the sent date, subject and address fields from the index's columns
(core.mailcolumns), filled first for messages that lack them; BODY, TEXT and other
header fields from the files (core.mailsearch), in the scanning process when many
files are to be read. Every store access runs off the event loop.

Messages expunged by another session since this one last heard match nothing.
"""

import itertools

from ..core import mailcolumns, mailsearch, msgkeys
from ..core.mailrecord import BITS, KEYWORDS_BIT
from .searchkeys import (All, And, Column, Date, Flag, Keyword, Not, Or, Recent,
                         Saved, Sequence, Size, Text)

# Files read for a text key above which the scanning process reads them.
IN_PROCESS = 300
_TO_DIGITS = bytes.maketrans(b"\0\1", b"01")
_FROM_DIGITS = bytes.maketrans(b"01", b"\0\1")
_FLAG_NAMES = {name.lower(): bit for name, bit in BITS.items()}
_EPOCH_DAY = msgkeys.day_number(1970, 1, 1)


async def matching(s, key):
    """The view indexes (ascending) of the messages that match `key`."""
    return await Run(s).matching(key)


def indexes(bits, n):
    """The view indexes in a bit set, ascending."""
    if not bits:
        return []
    mask = format(bits, f"0{n}b").encode("ascii").translate(_FROM_DIGITS)
    return list(itertools.compress(range(n), mask))


def from_mask(mask):
    """A bit set from a mask of one byte (0 or 1) per view index."""
    return int(mask.translate(_TO_DIGITS), 2) if mask else 0


def from_uids(view_uids, uids):
    """A bit set of the view's messages among `uids` (in the thread)."""
    wanted = set(uids)
    return from_mask(bytes(map(wanted.__contains__, view_uids)))


def from_spans(spans, n):
    bits = 0
    for start, stop in spans:
        bits |= ((1 << (stop - start)) - 1) << (n - stop)
    return bits


class Run:
    """One evaluation: what keys need is loaded once, off the event loop."""

    def __init__(self, s):
        self.s = s
        self.view = s.selected
        self.folder = self.view.folder
        self.n = len(self.view)
        self.all = (1 << self.n) - 1
        self._flags = None          # (flag byte per view index, alive bit set)
        self._numbers = None        # ([wire size], [internal date]) per view index
        self._columns = False
        self.report_modseq = False  # a key asks for MODSEQ in the answer (CONDSTORE)

    async def matching(self, key):
        """The view indexes (ascending) of the messages that match `key`."""
        found = await evaluate(self, key, self.all)
        return indexes(found & await self.alive(), self.n)

    async def call(self, fn, *args):
        return await self.s.mail.call(fn, *args)

    async def flags(self):
        if self._flags is None:
            self._flags = await self.call(_view_flags, self.view)
        return self._flags[0]

    async def alive(self):
        await self.flags()
        return self._flags[1]

    async def numbers(self):
        if self._numbers is None:
            self._numbers = await self.call(_view_numbers, self.view)
        return self._numbers

    async def column(self, code, default=b"", convert=None):
        """One column's value per view index (`default` where it has none),
        through `convert` if given."""
        await self.columns()
        return await self.call(_view_column, self.view, code, default, convert)

    async def columns(self):
        """Make sure every message has its columns (core.mailcolumns)."""
        if self._columns:
            return
        missing = await self.call(mailcolumns.pending, self.folder)
        if missing is not None and len(missing) > IN_PROCESS:
            await self.s.mail.in_process(mailcolumns.fill_at, str(self.folder.owner.root),
                                         self.folder.name)
        elif missing is not None:
            await self.call(mailcolumns.fill, self.folder, missing)
        self._columns = True


async def evaluate(run, key, within):
    """The bit set of the messages in `within` that match `key`."""
    if not within:
        return 0
    return await EVALUATE[type(key)](run, key, within)


async def _and(run, key, within):
    for part in sorted(key.keys, key=cost):
        within = await evaluate(run, part, within)
    return within


async def _or(run, key, within):
    left = await evaluate(run, key.left, within)
    return left | await evaluate(run, key.right, within & ~left)


async def _not(run, key, within):
    return within & ~await evaluate(run, key.key, within)


async def _all(run, key, within):
    return within


async def _sequence(run, key, within):
    spans = run.view.positions(key.ranges, key.uid)
    return within & from_spans(spans, run.n)


async def _saved(run, key, within):
    saved = run.s.saved_search
    if saved is None or saved.view is not run.view:
        return 0
    return within & await run.call(from_uids, run.view.uids, saved.uids)


async def _flag(run, key, within):
    flags = await run.flags()
    table = bytes(int(bool(v & key.bit) == key.present) for v in range(256))
    return within & from_mask(flags.translate(table))


async def _keyword(run, key, within):
    bit = _FLAG_NAMES.get(key.name.lower())
    if bit is not None:
        return await _flag(run, Flag(bit, key.present), within)
    flags = await run.flags()
    found = await run.call(_keyworded, run.view, flags, key.name.lower())
    return within & (found if key.present else ~found)


async def _recent(run, key, within):
    # RFC 3501 2.3.2: \Recent is the session's; a view that keeps it (IMAP4rev1)
    # holds the UID ranges [low, high) it took.
    ranges = [(low, high - 1) for low, high in getattr(run.view, "recent", ())
              if high > low]
    found = from_spans(run.view.positions(ranges, True), run.n) if ranges else 0
    return within & (found if key.present else ~found)


async def _size(run, key, within):
    wires, _ = await run.numbers()
    return within & await run.call(_size_set, wires, key)


async def _date(run, key, within):
    if key.sent:
        await run.columns()
        days = await run.call(_sent_days, run.view)
    else:
        _, dates = await run.numbers()
        days = await run.call(_days, dates)
    return within & await run.call(_date_set, days, key)


async def _column(run, key, within):
    await run.columns()
    found = await run.call(_column_find, run.view, key.code, key.needle)
    return within & found


async def _text(run, key, within):
    view = run.view
    uids = [view.uids[i] for i in indexes(within, run.n)]
    test = mailsearch.Test(key.needle, key.scope)
    if len(uids) > IN_PROCESS:
        found = await run.s.mail.in_process(mailsearch.matching_at,
                                            str(run.folder.owner.root),
                                            run.folder.name, uids, test)
    else:
        found = await run.call(mailsearch.matching, run.folder, uids, test)
    return within & await run.call(from_uids, view.uids, found)


EVALUATE = {All: _all, And: _and, Or: _or, Not: _not, Sequence: _sequence,
            Saved: _saved, Flag: _flag, Keyword: _keyword, Recent: _recent,
            Size: _size, Date: _date, Column: _column, Text: _text}
# What a key costs to evaluate, roughly: AND evaluates the cheap ones first.
COSTS = {All: 0, Sequence: 0, Saved: 1, Flag: 1, Recent: 1, Keyword: 2, Size: 3,
         Date: 4, Column: 4, Text: 9}


def cost(key):
    if isinstance(key, And):
        return max(map(cost, key.keys))
    if isinstance(key, Or):
        return max(cost(key.left), cost(key.right))
    if isinstance(key, Not):
        return cost(key.key)
    return COSTS.get(type(key), 5)


# in a worker thread


def _view_flags(view):
    """(flag byte per view index, bit set of those still in the folder)."""
    _, slots = view.folder.slots()
    n = len(view)
    if slots.uids == view.uids:
        return slots.bits, (1 << n) - 1
    where = dict(zip(slots.uids, slots.bits))
    flags = bytes(where.get(uid, 0) for uid in view.uids)
    return flags, from_mask(bytes(map(where.__contains__, view.uids)))


def _view_numbers(view):
    """([wire size], [internal date]) per view index; -1 for a message gone. A
    file of another tool that nobody looked at yet is looked at now."""
    folder = view.folder
    with folder.index.read() as txn:
        state = txn.folder(folder.name)
        uids, wires, dates = txn.sizes_and_dates(state.id) if state else ([], [], [])
    unknown = [uid for uid, w, d in zip(uids, wires, dates) if w < 0 or d < 0]
    known = dict(zip(uids, zip(wires, dates)))
    for uid, record in folder.records(unknown).items() if unknown else ():
        known[uid] = (record.wire, record.internaldate)
    pairs = [known.get(uid, (-1, -1)) for uid in view.uids]
    return [w for w, _ in pairs], [d for _, d in pairs]


def _keyworded(view, flags, name):
    """A bit set of the view's messages that have keyword `name`."""
    marked = [view.uids[i] for i, v in enumerate(flags) if v & KEYWORDS_BIT]
    records = view.folder.records(marked) if marked else {}
    having = [uid for uid, r in records.items()
              if any(f.lower() == name for f in r.flags)]
    return from_uids(view.uids, having)


def _size_set(wires, key):
    size = key.size
    if key.larger:
        return from_mask(bytes(w > size for w in wires))
    return from_mask(bytes(0 <= w < size for w in wires))


def _days(dates):
    """Internal dates as day numbers: the day in UTC, as INTERNALDATE shows them."""
    return [int(d // 86400) + _EPOCH_DAY if d >= 0 else -1 for d in dates]


def _date_set(days, key):
    # RFC 9051 6.4.4: dates disregard time and timezone; -1 (unknown) never matches.
    day = key.day
    if key.relation == "before":
        return from_mask(bytes(0 <= d < day for d in days))
    if key.relation == "on":
        return from_mask(bytes(d == day for d in days))
    return from_mask(bytes(d >= day for d in days))


def _view_column(view, code, default, convert=None):
    uids, values = mailcolumns.values(view.folder, code)
    if convert is not None:
        values, default = list(map(convert, values)), convert(default)
    if uids == view.uids:
        return values
    found = dict(zip(uids, values))
    return [found.get(uid, default) for uid in view.uids]


def _sent_days(view):
    """The sent day per view index, -1 if unknown."""
    return _view_column(view, msgkeys.DATE, b"", msgkeys.sent_day)


def _column_find(view, code, needle):
    return from_uids(view.uids, mailcolumns.find(view.folder, code, needle))
