"""What one client session sees of a folder: the UIDs it has been told about, in
order, so that message sequence number n is always `uids[n - 1]` until the session
is told otherwise (RFC 9051 2.3.1.2), and the changes it has yet to hear about.

    view = View(folder, readonly)      # a snapshot of the folder's UIDs
    view.summary                       # Summary: what SELECT reports
    view.positions(ranges, by_uid)     # [(start, stop)] indexes into view.uids
    view.sync() -> [Expunged | Exists | FlagsChanged]
    view.deleted() -> [uid]            # in view and marked \\Deleted now
    view.own(modseq)                   # a change this session made and reported
    view.expunged_since(modseq)        # UIDs gone since: VANISHED (EARLIER)
    view.changed_since(modseq, upto)   # UIDs in view changed since: CONDSTORE
    view.take_recent(); view.is_recent(uid)    # IMAP4rev1's \\Recent
    view.keywords                      # the folder's, as the session was told
                                       # (mailservice.view reads them at open)

The view keeps one array of UIDs (4 bytes a message) and no per-message objects;
flags are read from the index when they are needed. sync() reads the index's change
log since the last modseq the view has seen, so its cost follows the size of the
change, never the size of the folder. Events come in the order a client must hear
them: expunges from the highest sequence number down (so each number is right when
it is read), then the new message count, then flag changes by number. Each event
carries its UID, and a flag change its record with its modseq, so that a session
may report them as EXPUNGE or VANISHED, with or without MODSEQ (RFC 7162).

`expunged_since` and `changed_since` answer a client that comes back with a modseq
it saw earlier (RFC 7162 CHANGEDSINCE and QRESYNC) from the index's change log,
which keeps every expunged UID with its modseq, in time that follows the size of
the change. What they report of expunges stops at the view's own modseq, so that no
UID the view still holds is ever said to be gone.

\\Recent (RFC 3501 2.3.2) is the messages one session is the first to hear of: the
folder keeps the lowest UID no session has taken yet (FolderState.first_recent); a
read-write view takes what lies above it at SELECT (take_recent) and at each sync
that finds new messages, a read-only one only looks. What a view took is a few UID
ranges, whatever the folder's size.

All of this is blocking work for a worker thread (core.mailservice), never for the
event loop.
"""

import array
import bisect
from dataclasses import dataclass, replace

from .mailrecord import DELETED
from .mailscan import FIRST_LOOK_MODSEQ

_DELETED = bytes(1 if n & DELETED else 0 for n in range(256))


class UidValidityChanged(Exception):
    """The folder was rebuilt under new UIDs: the client must start over."""


@dataclass(frozen=True)
class Summary:
    exists: int
    unseen: int              # how many messages lack \Seen
    first_unseen: int        # sequence number of the first one, 0 if none
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    recent: int = 0          # messages this session reports as \\Recent


@dataclass(frozen=True)
class Expunged:
    seq: int
    uid: int


@dataclass(frozen=True)
class Exists:
    count: int
    recent: int = 0


@dataclass(frozen=True)
class FlagsChanged:
    seq: int
    record: object           # mailrecord.Record: uid, flags, modseq


class View:
    def __init__(self, folder, readonly=False, snapshot=None):
        """`snapshot` is (state, Slots) if the caller has just read them."""
        self.folder = folder
        self.readonly = readonly
        state, slots = snapshot or folder.slots()
        self.uids = slots.uids              # shared with the folder's snapshot:
        self._shared = True                 # copied before it is first changed
        self.uidvalidity = state.uidvalidity
        self.uidnext = state.uidnext
        self.modseq = state.highestmodseq
        self.first_recent = state.first_recent
        self.recent = []                    # [(low, high)]: UIDs low..high-1
        self._own = set()
        self.keywords = []                  # the folder's, as the session told them
        self.summary = Summary(len(self.uids), slots.unseen, slots.first_unseen + 1,
                               state.uidvalidity, state.uidnext, state.highestmodseq)

    def __len__(self):
        return len(self.uids)

    def seq(self, uid):
        """The sequence number of `uid` in the view, or 0."""
        at = bisect.bisect_left(self.uids, uid)
        return at + 1 if at < len(self.uids) and self.uids[at] == uid else 0

    def positions(self, ranges, by_uid):
        """[(start, stop)] slices of `uids` for a sequence set, sorted and merged.
        `ranges` are (low, high) with None for "*", as core parsers give them;
        numbers beyond the last message are dropped (the caller checks them)."""
        spans = []
        count = len(self.uids)
        largest = self.uids[-1] if count else 0
        for low, high in ranges:
            top = largest if by_uid else count
            low = top if low is None else low
            high = top if high is None else high
            low, high = min(low, high), max(low, high)
            if by_uid:
                start = bisect.bisect_left(self.uids, low)
                stop = bisect.bisect_right(self.uids, high)
            else:
                start, stop = max(low, 1) - 1, min(high, count)
            if start < stop:
                spans.append((start, stop))
        return _merge(spans)

    def take_recent(self):
        """At SELECT: the messages no session was told of as recent are this
        session's \\Recent ones; a read-write view takes them for itself."""
        self._take_recent(self.first_recent, self.uidnext)
        self.summary = replace(self.summary, recent=self.recent_count())

    def _take_recent(self, first, upto):
        if not self.readonly:
            first = self.folder.claim_recent(upto)
        if first < upto:
            self.recent.append((first, upto))

    def is_recent(self, uid):
        return any(low <= uid < high for low, high in self.recent)

    def recent_count(self):
        where = bisect.bisect_left
        return sum(where(self.uids, high) - where(self.uids, low)
                   for low, high in self.recent)

    def own(self, modseq):
        """Note a change this session made (and reported) at `modseq`, so that
        sync() does not report it again."""
        self._own.add(modseq)

    def sync(self):
        """Catch up with the folder; the events the client must hear, in order."""
        state, changes, records = self.folder.changes_since(self.modseq)
        if state.uidvalidity != self.uidvalidity:
            raise UidValidityChanged(f"folder {self.folder.name!r} was rebuilt")
        if changes and self._shared:
            self.uids, self._shared = self.uids[:], False
        events = self._expunge([uid for _, uid, gone in changes if gone])
        fresh = sorted(uid for uid in records if not self.seq(uid))
        if fresh:
            if self.uids and fresh[0] < self.uids[-1]:
                # Only a UID kept from another index can come out of order.
                self.uids = array.array("I", sorted(set(self.uids) | set(fresh)))
            else:
                self.uids.extend(fresh)
            self._take_recent(state.first_recent, state.uidnext)
            events.append(Exists(len(self.uids), self.recent_count()))
        fresh = set(fresh)
        changed = sorted((self.seq(uid), records[uid]) for m, uid, gone in changes
                         if not gone and uid not in fresh and m not in self._own)
        events += [FlagsChanged(seq, record) for seq, record in changed if seq]
        self.modseq, self.uidnext = state.highestmodseq, state.uidnext
        self._own = {m for m in self._own if m > self.modseq}
        return events

    def expunged_since(self, modseq):
        """UIDs expunged after `modseq`, up to the view's modseq, ascending."""
        _, changes = self.folder.change_log(modseq)
        return sorted(uid for m, uid, gone in changes if gone and m <= self.modseq)

    def changed_since(self, modseq, upto=None):
        """UIDs in the view of the messages changed after `modseq` (and not after
        `upto`), ascending. A change log read from before a folder's first look
        is incomplete: then every UID of the view, for the caller to sort out by
        the records' modseqs."""
        if modseq < FIRST_LOOK_MODSEQ:
            return list(self.uids)
        _, changes = self.folder.change_log(modseq)
        return sorted(uid for m, uid, gone in changes
                      if not gone and (upto is None or m <= upto) and self.seq(uid))

    def _expunge(self, uids):
        found = sorted((self.seq(uid), uid) for uid in uids)
        found = [(seq, uid) for seq, uid in found if seq]
        for seq, _ in reversed(found):
            del self.uids[seq - 1]
        # Each number as it is once the ones above it are gone: highest first.
        return [Expunged(seq, uid) for seq, uid in reversed(found)]

    def deleted(self):
        """UIDs in the view that are marked \\Deleted now (by anyone)."""
        _, slots = self.folder.slots()
        marks = slots.bits.translate(_DELETED)
        found, at = [], marks.find(1)
        while at >= 0:
            uid = slots.uids[at]
            if self.seq(uid):
                found.append(uid)
            at = marks.find(1, at + 1)
        return found


def _merge(spans):
    merged = []
    for start, stop in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged
