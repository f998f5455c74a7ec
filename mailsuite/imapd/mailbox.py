"""Mailbox verbs: SELECT, EXAMINE, NOOP/CHECK, STORE, EXPUNGE, CLOSE, UNSELECT
(RFC 9051 6.3 and 6.4; RFC 3501 the same; UNSELECT is RFC 3691; UID EXPUNGE is
RFC 4315 2.1), with CONDSTORE and QRESYNC's parts of SELECT, STORE and EXPUNGE
(RFC 7162, see condstore.py).

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
from ..core.mailkeywords import TooManyKeywords
from ..core.mailnames import DELIMITER
from ..core.mailview import Exists, Expunged, FlagsChanged, UidValidityChanged
from . import condstore, context, keywords, names
from .errors import Bad, Logout, No
from .fetch import Builder, Item, check_messages, recent_of
from .parser import atom, expect, flag_list, sequence_set
from .response import sequence


def changes_builder(s):
    """The FETCH lines of flag changes the client did not ask for: with UID, and
    with MODSEQ once CONDSTORE is on (RFC 7162 3.1)."""
    items = [Item("UID"), Item("FLAGS")]
    if condstore.condstore_on(s):
        items.append(Item("MODSEQ"))
    return Builder(items, condstore.condstore_on(s), recent_of(s))


async def report_changes(s):
    """Bring the client up to date with the selected folder (RFC 9051 7.4.1, 7.5.1),
    and have other tools' changes looked for in the background."""
    view = s.selected
    before = view.uids[:] if s.contexts else None
    try:
        events, stale = await s.mail.catch_up(view)
    except (maildir.NoSuchFolder, FileNotFoundError):
        raise Logout("the selected mailbox was removed") from None
    except UidValidityChanged:
        # RFC 9051 2.3.1.1: the client must forget its UIDs; it reconnects.
        raise Logout("mailbox UIDVALIDITY changed") from None
    updates = await context.updates(s, before) if events else context.NONE
    s.write(updates.removed)
    gone = [event for event in events if isinstance(event, Expunged)]
    if gone and condstore.qresync_on(s):
        # RFC 7162 3.2.10: once QRESYNC is on, VANISHED replaces EXPUNGE.
        condstore.report_vanished(s, sorted(event.uid for event in gone))
    else:
        for event in gone:
            s.untagged(f"{event.seq} EXPUNGE")
    await keywords.announce_new(
        s, [event.record for event in events if isinstance(event, FlagsChanged)],
        arrived=any(isinstance(event, Exists) for event in events))
    builder = changes_builder(s)
    for event in events:
        if isinstance(event, Exists):
            s.untagged(f"{event.count} EXISTS")
            if "IMAP4rev2" not in s.enabled:
                # RFC 3501 7.3.2; IMAP4rev2 has no RECENT (RFC 9051 appendix E).
                s.untagged(f"{event.recent} RECENT")
        elif isinstance(event, FlagsChanged):
            s.write(builder.line(event.seq, event.record))
    s.write(updates.added)
    if stale:
        look_for_outside_changes(s, view.folder)


def look_for_outside_changes(s, folder):
    """Another tool changed the folder: take that in, in the background; the
    sessions in IDLE hear of it as soon as it is done."""
    s.mail.scan_soon(folder, lambda: s.ctx.hub.wake(s.user))


# authenticated state


async def select(s, cmd, readonly=False):
    # RFC 9051 6.3.2 and 6.3.3; a failed SELECT leaves no mailbox selected.
    # RFC 7162 3.1.8 and 3.2.5: the parameters (CONDSTORE) and (QRESYNC (...)).
    if not cmd.args:
        raise Bad("expected a mailbox name")
    name = names.decode(s, cmd.args[0])
    condstore_asked, resync = condstore.select_params(s, cmd.args[1:])
    if s.selected is not None:
        # RFC 7162 3.2.11, RFC 9051 7.1: the mailbox selected until now is closed.
        s.untagged("OK [CLOSED] previous mailbox closed")
    s.select(None)
    try:
        view, stale = await s.mail.view(s.store, name, readonly)
    except maildir.NoSuchFolder:
        raise No("no such mailbox", "NONEXISTENT") from None
    if condstore_asked:
        s.enabled.add("CONDSTORE")
    _describe(s, view, name, readonly)
    s.select(view)
    if resync is not None and resync.uidvalidity == view.uidvalidity:
        await _resync(s, view, resync)
    if stale:
        look_for_outside_changes(s, view.folder)
    return f"[{'READ-ONLY' if readonly else 'READ-WRITE'}] {cmd.name} completed"


def _describe(s, view, name, readonly):
    """SELECT's untagged responses (RFC 9051 6.3.2, RFC 3501 6.3.1). IMAP4rev2
    has no \\Recent, and names the mailbox in a LIST response instead of
    pointing at its first unseen message (RFC 9051 6.3.2, appendix E)."""
    summary = view.summary
    rev2 = "IMAP4rev2" in s.enabled
    s.untagged(keywords.flags_response(view))
    s.untagged(f"{summary.exists} EXISTS")
    if rev2:
        s.untagged(f'LIST () "{DELIMITER}" {names.encode(s, name)}')
    else:
        s.untagged(f"{summary.recent} RECENT")
        if summary.first_unseen:
            s.untagged(f"OK [UNSEEN {summary.first_unseen}] first unseen message")
    s.untagged(f"OK [UIDVALIDITY {summary.uidvalidity}] UIDs valid")
    s.untagged(f"OK [UIDNEXT {summary.uidnext}] predicted next UID")
    s.untagged(keywords.permanent_response(view))
    # RFC 7162 3.1.2.1: every message has a modseq, so HIGHESTMODSEQ always.
    s.untagged(f"OK [HIGHESTMODSEQ {summary.highestmodseq}] highest mod-sequence")


async def _resync(s, view, resync):
    """RFC 7162 3.2.5.1: what changed since the client's modseq, in the mailbox
    it knows by this UIDVALIDITY: VANISHED (EARLIER) for the UIDs it knows that
    are gone, then UID, FLAGS and MODSEQ of every message changed."""
    gone, changed = await s.mail.call(condstore.history, view, resync.modseq)
    if resync.known is not None:
        gone = [uid for uid in gone if condstore.within(uid, resync.known)]
    condstore.report_vanished(s, gone, earlier=True)
    builder = changes_builder(s)
    for seq, record in changed:
        s.write(builder.line(seq, record))


async def examine(s, cmd):
    return await select(s, cmd, readonly=True)


# any state; selected state


async def noop(s, cmd):
    # RFC 9051 6.1.2: the moment to report what changed.
    expect(cmd.args, 0, "no arguments")
    if s.selected is not None:
        await report_changes(s)


async def store(s, cmd):
    # RFC 9051 6.4.6; RFC 7162 3.1.3: an optional (UNCHANGEDSINCE n) first.
    args = list(cmd.args)
    unchangedsince = None
    if len(args) > 1 and isinstance(args[1], list):
        unchangedsince = condstore.store_modifiers(args.pop(1))
    if len(args) < 3:
        raise Bad("expected a sequence set, a data item and flags")
    ranges = sequence_set(args[0])
    mode, silent = _store_item(atom(args[1], "FLAGS, +FLAGS or -FLAGS"))
    wanted = frozenset(flag_list(args[2:]))
    view = s.selected
    if view.readonly:
        raise No("mailbox is read-only", "READ-ONLY")
    uids = check_messages(view, ranges, cmd.uid)
    if unchangedsince is not None:
        condstore.enable(s)
    if not uids:
        return None
    try:
        change = await s.mail.call(view.folder.change_flags, uids, wanted, mode,
                                   unchangedsince)
    except TooManyKeywords as exc:
        # RFC 5530 3: a limit of the server's (PERMANENTFLAGS had no \*).
        raise No(str(exc), "LIMIT") from None
    if change.modseq:
        view.own(change.modseq)
        # The user's other sessions in IDLE or with NOTIFY hear of it now.
        s.ctx.hub.wake(s.user)
    await keywords.announce_new(s, change.records.values())
    _report_store(s, cmd, change.records, silent)
    if change.modseq:
        updates = await context.updates(s)
        s.write(updates.removed + updates.added)
    if change.modified:
        # RFC 7162 3.1.3: the messages refused, by number or by UID.
        refused = change.modified if cmd.uid else sorted(
            view.seq(uid) for uid in change.modified)
        return f"[MODIFIED {sequence(refused)}] some messages were changed meanwhile"
    return None


def _report_store(s, cmd, records, silent):
    """The FETCH lines of a STORE: FLAGS unless .SILENT; with CONDSTORE on, UID
    and MODSEQ always, so the client learns each message's new modseq (RFC 7162
    3.1.3)."""
    view = s.selected
    if condstore.condstore_on(s):
        items = [Item("UID")] + ([] if silent else [Item("FLAGS")]) + [Item("MODSEQ")]
    elif silent:
        return
    else:
        items = [Item("UID"), Item("FLAGS")] if cmd.uid else [Item("FLAGS")]
    builder = Builder(items, condstore.condstore_on(s), recent_of(s))
    for uid in sorted(records):
        s.write(builder.line(view.seq(uid), records[uid]))


def _store_item(item):
    match = re.fullmatch(r"([+-]?)FLAGS(\.SILENT)?", item)
    if not match:
        raise Bad(f"unknown STORE data item {item}")
    return {"": "set", "+": "add", "-": "remove"}[match.group(1)], bool(match.group(2))


async def expunge(s, cmd):
    # RFC 9051 6.4.3: one EXPUNGE response per message removed (VANISHED with
    # QRESYNC on).
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
    s.ctx.hub.wake(s.user)
    await report_changes(s)
    return expunged_text(s)


def expunged_text(s):
    """The tagged OK's text after EXPUNGE or UID EXPUNGE: with CONDSTORE on, the
    HIGHESTMODSEQ the client has now heard of everything up to (RFC 7162 3.2.7),
    since expunges carry no MODSEQ of their own."""
    if condstore.condstore_on(s):
        return f"[HIGHESTMODSEQ {s.selected.modseq}] EXPUNGE completed"
    return None


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
