"""Mailbox verbs: LIST, SELECT, EXAMINE, NOOP/CHECK, STORE, EXPUNGE, CLOSE, UNSELECT
(RFC 9051 6.3 and 6.4; RFC 3501 the same; UNSELECT is RFC 3691).

A selected mailbox is seen through `View`: the UIDs the client has been told about,
in order, so that message sequence number n is always view.uids[n - 1], and the
flags it was last told. Other sessions and deliverd change the folder underneath;
`View.sync()` catches up and reports the difference, and is called only where the
client may hear of expunges: NOOP, CHECK, IDLE, EXPUNGE (RFC 9051 7.5.1 forbids
EXPUNGE responses during FETCH, STORE and SEARCH; RFC 9051 5.5).
"""

import bisect
import re

from ..core import maildir
from .errors import Bad, Logout, No
from .parser import (atom, expect, flag_list, list_mailbox, mailbox, resolve_range,
                     sequence_set)
from .pattern import compile_pattern
from .response import flags as format_flags, quoted
from .utf7 import decode as utf7_decode, encode as utf7_encode

DELIMITER = "/"
SYSTEM_FLAGS = "(\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
PERMANENT_FLAGS = "(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)"


class View:
    """The client's view of one selected folder."""

    def __init__(self, folder, readonly):
        self.folder = folder
        self.readonly = readonly
        self.uidvalidity = folder.uidvalidity
        self.uids = list(folder.uids())     # ours: the folder's changes under it
        self.flags = {uid: folder.info(uid).flags for uid in self.uids}
        self.modseq = folder.highestmodseq

    def messages(self, ranges, by_uid):
        """[(sequence number, uid)] for a sequence set, in ascending order."""
        indexes = set()
        for low, high in ranges:
            if by_uid:
                largest = self.uids[-1] if self.uids else 0
                low, high = resolve_range(low, high, largest)
                start = bisect.bisect_left(self.uids, low)
                indexes.update(range(start, bisect.bisect_right(self.uids, high)))
            elif self.uids or (low is not None and high is not None):
                # RFC 9051 9: a sequence number beyond the last message is an error;
                # "*" in an empty mailbox simply matches nothing.
                low, high = resolve_range(low, high, len(self.uids))
                if high > len(self.uids):
                    raise Bad("no such message")
                indexes.update(range(low - 1, high))
        return [(i + 1, self.uids[i]) for i in sorted(indexes)]

    def refresh(self):
        """Take in other processes' changes (the client hears of them at sync)."""
        try:
            self.folder.refresh()
        except maildir.NoSuchFolder:
            raise Logout("the selected mailbox was removed") from None
        if self.folder.uidvalidity != self.uidvalidity:
            # RFC 9051 2.3.1.1: the client must forget its UIDs; it reconnects.
            raise Logout("mailbox UIDVALIDITY changed")

    def sync(self):
        """Refresh the folder; return the untagged responses that bring the client
        up to date: EXPUNGEs (highest number first, so each number is right when it
        is read), then EXISTS, then FETCH FLAGS for flags changed by others."""
        self.refresh()
        current = self.folder.uids()
        present = set(current)
        lines = []
        for index in range(len(self.uids) - 1, -1, -1):
            if self.uids[index] not in present:
                lines.append(f"{index + 1} EXPUNGE")
                del self.flags[self.uids[index]]
        known = set(self.flags)
        self.uids = [uid for uid in self.uids if uid in present]
        new = [uid for uid in current if uid not in known]
        for uid in new:
            self.flags[uid] = self.folder.info(uid).flags
        if new:
            self.uids = sorted(self.uids + new)
            lines.append(f"{len(self.uids)} EXISTS")
        return lines + self._flag_changes(known & present)

    def _flag_changes(self, old):
        if self.folder.highestmodseq == self.modseq:
            return []
        self.modseq = self.folder.highestmodseq
        lines = []
        for seq, uid in enumerate(self.uids, 1):
            if uid not in old:
                continue
            now = self.folder.info(uid).flags
            if now != self.flags[uid]:
                self.flags[uid] = now
                lines.append(f"{seq} FETCH (UID {uid} FLAGS {format_flags(now)})")
        return lines

    def deleted(self):
        """UIDs in view marked \\Deleted, by the folder's current flags."""
        present = set(self.folder.uids())
        return [uid for uid in self.uids
                if uid in present and "\\Deleted" in self.folder.info(uid).flags]


# authenticated state


async def list_mailboxes(s, cmd):
    # RFC 9051 6.3.9; "%" stops at the hierarchy delimiter, "*" does not.
    # \HasChildren and \HasNoChildren are RFC 3348 (CHILDREN).
    reference, pattern = expect(cmd.args, 2, "a reference and a mailbox pattern")
    reference, pattern = utf7_decode(mailbox(reference)), utf7_decode(
        list_mailbox(pattern))
    if not pattern:
        # RFC 9051 6.3.9: an empty pattern asks for the delimiter and root.
        s.untagged(f'LIST (\\Noselect) "{DELIMITER}" ""')
        return None
    matcher = compile_pattern(reference + pattern, DELIMITER)
    names = set(s.store.folders()) | {"INBOX"}
    parents = {n.rsplit(DELIMITER, i)[0] for n in names
               for i in range(1, n.count(DELIMITER) + 1)}
    for name in sorted(names | parents, key=lambda n: (n != "INBOX", n)):
        if matcher.matches(name):
            s.untagged(f'LIST ({_attributes(name, names, parents)}) "{DELIMITER}" '
                       f'{quoted(utf7_encode(name))}')
    return None


def _attributes(name, names, parents):
    attrs = [] if name in names else ["\\Noselect"]
    attrs.append("\\HasChildren" if name in parents else "\\HasNoChildren")
    return " ".join(attrs)


async def select(s, cmd, readonly=False):
    # RFC 9051 6.3.2 and 6.3.3; a failed SELECT leaves no mailbox selected.
    name = utf7_decode(mailbox(expect(cmd.args, 1, "a mailbox name")[0]))
    s.select(None)
    try:
        view = View(s.store.folder(name), readonly)
    except maildir.NoSuchFolder:
        raise No("no such mailbox", "NONEXISTENT") from None
    s.untagged(f"FLAGS {SYSTEM_FLAGS}")
    s.untagged(f"{len(view.uids)} EXISTS")
    s.untagged("0 RECENT")
    unseen = next((n for n, uid in enumerate(view.uids, 1)
                   if "\\Seen" not in view.flags[uid]), None)
    if unseen:
        s.untagged(f"OK [UNSEEN {unseen}] first unseen message")
    s.untagged(f"OK [UIDVALIDITY {view.uidvalidity}] UIDs valid")
    s.untagged(f"OK [UIDNEXT {view.folder.uidnext}] predicted next UID")
    s.untagged(f"OK [PERMANENTFLAGS {'()' if readonly else PERMANENT_FLAGS}] "
               "flags that can be changed")
    s.select(view)
    return f"[{'READ-ONLY' if readonly else 'READ-WRITE'}] {cmd.name} completed"


async def examine(s, cmd):
    return await select(s, cmd, readonly=True)


# any state; selected state


async def noop(s, cmd):
    # RFC 9051 6.1.2: the moment to report what changed.
    expect(cmd.args, 0, "no arguments")
    if s.selected:
        for line in s.selected.sync():
            s.untagged(line)


async def store(s, cmd):
    # RFC 9051 6.4.6
    if len(cmd.args) < 3:
        raise Bad("expected a sequence set, a data item and flags")
    ranges = sequence_set(cmd.args[0])
    mode, silent = _store_item(atom(cmd.args[1], "FLAGS, +FLAGS or -FLAGS"))
    wanted = frozenset(flag_list(cmd.args[2:]))
    view = s.selected
    if view.readonly:
        raise No("mailbox is read-only", "READ-ONLY")
    messages = view.messages(ranges, cmd.uid)
    changed = view.folder.store([uid for _, uid in messages], wanted, mode) \
        if messages else {}
    for seq, uid in messages:
        if uid not in changed:
            continue
        flags = view.flags[uid] = changed[uid].flags
        if not silent:
            uid_item = f"UID {uid} " if cmd.uid else ""
            s.untagged(f"{seq} FETCH ({uid_item}FLAGS {format_flags(flags)})")


def _store_item(item):
    match = re.fullmatch(r"([+-]?)FLAGS(\.SILENT)?", item)
    if not match:
        raise Bad(f"unknown STORE data item {item}")
    return {"": "set", "+": "add", "-": "remove"}[match.group(1)], bool(match.group(2))


async def expunge(s, cmd):
    # RFC 9051 6.4.3: one EXPUNGE response per message removed.
    expect(cmd.args, 0, "no arguments")
    view = s.selected
    if view.readonly:
        raise No("mailbox is read-only", "READ-ONLY")
    _expunge_deleted(view)
    for line in view.sync():
        s.untagged(line)


async def close(s, cmd):
    # RFC 9051 6.4.1: expunge silently, then leave the mailbox.
    expect(cmd.args, 0, "no arguments")
    if not s.selected.readonly:
        _expunge_deleted(s.selected)
    s.select(None)


def _expunge_deleted(view):
    """Remove the messages marked \\Deleted, including by other sessions."""
    view.refresh()
    deleted = view.deleted()
    if deleted:
        view.folder.expunge(deleted)


async def unselect(s, cmd):
    # RFC 3691 2
    expect(cmd.args, 0, "no arguments")
    s.select(None)
