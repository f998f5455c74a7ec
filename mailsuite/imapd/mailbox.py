"""Mailbox verbs: SELECT, EXAMINE, NOOP/CHECK, STORE, EXPUNGE, CLOSE, UNSELECT
(RFC 9051 6.3 and 6.4; RFC 3501 the same; UNSELECT is RFC 3691; UID EXPUNGE is
RFC 4315 2.1).

A selected mailbox is seen through a core.mailview.View: the UIDs the client has
been told about, in order, so that message sequence number n is always
view.uids[n - 1]. Other sessions and deliverd change the folder underneath;
`report_changes` catches up and tells the client, and is called only where the
client may hear of expunges: NOOP, CHECK, IDLE, EXPUNGE (RFC 9051 7.5.1 forbids
EXPUNGE responses during FETCH, STORE and SEARCH; RFC 9051 5.5). All store work runs
in the mailbox service's threads (core.mailservice), never on the event loop.
"""

import re

from ..core import maildir
from ..core.mailview import Exists, Expunged, FlagsChanged, UidValidityChanged
from .errors import Bad, Logout, No
from .fetch import Builder, Item, check_messages
from .parser import atom, expect, flag_list, mailbox, sequence_set
from .utf7 import decode as utf7_decode

SYSTEM_FLAGS = "(\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
PERMANENT_FLAGS = "(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)"
_CHANGED_FLAGS = Builder([Item("UID"), Item("FLAGS")])


async def report_changes(s):
    """Bring the client up to date with the selected folder (RFC 9051 7.4.1, 7.5.1),
    and have other tools' changes looked for in the background."""
    view = s.selected
    try:
        events, stale = await s.mail.catch_up(view)
    except (maildir.NoSuchFolder, FileNotFoundError):
        raise Logout("the selected mailbox was removed") from None
    except UidValidityChanged:
        # RFC 9051 2.3.1.1: the client must forget its UIDs; it reconnects.
        raise Logout("mailbox UIDVALIDITY changed") from None
    for event in events:
        if isinstance(event, Expunged):
            s.untagged(f"{event.seq} EXPUNGE")
        elif isinstance(event, Exists):
            s.untagged(f"{event.count} EXISTS")
        elif isinstance(event, FlagsChanged):
            s.write(_CHANGED_FLAGS.line(event.seq, event.record))
    if stale:
        look_for_outside_changes(s, view.folder)


def look_for_outside_changes(s, folder):
    """Another tool changed the folder: take that in, in the background; the
    sessions in IDLE hear of it as soon as it is done."""
    s.mail.scan_soon(folder, lambda: s.ctx.hub.wake(s.user))


# authenticated state


async def select(s, cmd, readonly=False):
    # RFC 9051 6.3.2 and 6.3.3; a failed SELECT leaves no mailbox selected.
    name = utf7_decode(mailbox(expect(cmd.args, 1, "a mailbox name")[0]))
    s.select(None)
    try:
        view, stale = await s.mail.view(s.store, name, readonly)
    except maildir.NoSuchFolder:
        raise No("no such mailbox", "NONEXISTENT") from None
    summary = view.summary
    s.untagged(f"FLAGS {SYSTEM_FLAGS}")
    s.untagged(f"{summary.exists} EXISTS")
    s.untagged("0 RECENT")
    if summary.first_unseen:
        s.untagged(f"OK [UNSEEN {summary.first_unseen}] first unseen message")
    s.untagged(f"OK [UIDVALIDITY {summary.uidvalidity}] UIDs valid")
    s.untagged(f"OK [UIDNEXT {summary.uidnext}] predicted next UID")
    s.untagged(f"OK [PERMANENTFLAGS {'()' if readonly else PERMANENT_FLAGS}] "
               "flags that can be changed")
    s.select(view)
    if stale:
        look_for_outside_changes(s, view.folder)
    return f"[{'READ-ONLY' if readonly else 'READ-WRITE'}] {cmd.name} completed"


async def examine(s, cmd):
    return await select(s, cmd, readonly=True)


# any state; selected state


async def noop(s, cmd):
    # RFC 9051 6.1.2: the moment to report what changed.
    expect(cmd.args, 0, "no arguments")
    if s.selected is not None:
        await report_changes(s)


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
    uids = check_messages(view, ranges, cmd.uid)
    if not uids:
        return
    changed = await s.mail.call(view.folder.store, uids, wanted, mode)
    for record in changed.values():
        view.own(record.modseq)
    if silent:
        return
    builder = Builder([Item("UID"), Item("FLAGS")] if cmd.uid else [Item("FLAGS")])
    for uid in uids:
        if uid in changed:
            s.write(builder.line(view.seq(uid), changed[uid]))


def _store_item(item):
    match = re.fullmatch(r"([+-]?)FLAGS(\.SILENT)?", item)
    if not match:
        raise Bad(f"unknown STORE data item {item}")
    return {"": "set", "+": "add", "-": "remove"}[match.group(1)], bool(match.group(2))


async def expunge(s, cmd):
    # RFC 9051 6.4.3: one EXPUNGE response per message removed.
    view = s.selected
    only = None
    if cmd.uid:
        # RFC 4315 2.1: UID EXPUNGE removes only the \Deleted messages of the set.
        ranges = sequence_set(expect(cmd.args, 1, "a UID set")[0])
        only = set(check_messages(view, ranges, True))
    else:
        expect(cmd.args, 0, "no arguments")
    if view.readonly:
        raise No("mailbox is read-only", "READ-ONLY")
    await s.mail.call(_expunge_deleted, view, only)
    await report_changes(s)


async def close(s, cmd):
    # RFC 9051 6.4.1: expunge silently, then leave the mailbox.
    expect(cmd.args, 0, "no arguments")
    if not s.selected.readonly:
        await s.mail.call(_expunge_deleted, s.selected)
    s.select(None)


def _expunge_deleted(view, only=None):
    """Remove the messages in view marked \\Deleted, including by other sessions
    (those of `only`, if given)."""
    deleted = view.deleted()
    if only is not None:
        deleted = [uid for uid in deleted if uid in only]
    if deleted:
        view.folder.expunge(deleted)


async def unselect(s, cmd):
    # RFC 3691 2
    expect(cmd.args, 0, "no arguments")
    s.select(None)
