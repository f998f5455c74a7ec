"""NOTIFY (RFC 5465): the events a session hears of without asking, and when.

`NOTIFY SET [STATUS] (filter events) ...` replaces the session's Watch; `NOTIFY
NONE` ends it. The filters are SELECTED and SELECTED-DELAYED (the selected
mailbox), INBOXES, PERSONAL, SUBSCRIBED, SUBTREE and MAILBOXES (the others); the
events served are MessageNew (with FETCH items for the selected mailbox),
MessageExpunge, FlagChange, MailboxName and SubscriptionChange, and any other is
refused with BADEVENT (RFC 5465 3.1).

How the events come: a change to a user's messages wakes the user's sessions
through the Hub (idle.py): imapd's own sessions after APPEND, COPY, STORE and
EXPUNGE, deliverd by its datagram. A session with a Watch has a task that, once
woken, waits for the session to be between commands (`s.busy`), then reports:
the selected mailbox's changes as a NOOP would (mailbox.report_changes), and for
each other mailbox a filter covers, a STATUS response (RFC 5465 5.2-5.4) when the
values its events ask for differ from those last told; a newly created mailbox
is told at its first change. Folder names and subscriptions change only through
imapd's sessions: those tell the other sessions of the user directly
(folder_changed), which report them as LIST responses (RFC 5465 5.5, 5.6). In
IDLE the session reports the same at each wake-up (idle.py).

Costs and limits: a wake-up reads the user's folder list and the status of each
watched folder (small index reads); with SELECTED-DELAYED, nothing is reported
for the selected mailbox while an expunge is pending, so that no EXPUNGE reaches
a client between commands that may still be in flight (RFC 5465 5.1); the next
command that allows EXPUNGE reports it. Folder changes waiting for a session that
does not read are kept up to MAX_PENDING; past that its watch ends with
NOTIFICATIONOVERFLOW (RFC 5465 5.8). A failing store costs one log line, and the
next wake-up tries again.
"""

import asyncio
import bisect
import logging
import ssl
from dataclasses import dataclass, field

from ..core import mailfolders
from ..core.mailservice import StoreError
from ..core.stream import StreamClosed
from . import condstore, fetch, folders, names
from .errors import Logout
from .mailbox import report_changes
from .notifyspec import MESSAGE_EVENTS, parse_notify

log = logging.getLogger("imapd")

# Folder and subscription changes waiting for a session that does not get to
# hear them (a client that stopped reading); past it, NOTIFICATIONOVERFLOW.
MAX_PENDING = 1000


@dataclass
class Watch:
    filters: list
    told: dict = field(default_factory=dict)        # folder -> values last told
    pending: list = field(default_factory=list)     # (kind, name, old name)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task = None

    @property
    def selected(self):
        """The SELECTED or SELECTED-DELAYED filter, if any."""
        return next((f for f in self.filters if f.selected), None)

    def events(self, name, subscribed):
        """The events the other-mailbox filters ask for about `name`, given the
        subscribed names (None: as if `name` were one)."""
        found = set()
        for f in self.filters:
            if not f.selected and f.covers(name, subscribed):
                found |= f.events
        return found


async def notify(s, cmd):
    # RFC 5465 3: NOTIFY NONE, or NOTIFY SET [STATUS] event-groups.
    status, filters = parse_notify(cmd.args, lambda token: folders.canonical(s, token))
    if filters is None:
        stop(s)
        return None
    watch = Watch(filters)
    # RFC 5465 3.1: with STATUS, where every watched mailbox stands now. What
    # the others stand at is what later changes are told against.
    await _report_statuses(s, watch, send=status)
    stop(s)
    s.watch = watch
    s.ctx.hub.register(s.user, watch.wake)
    watch.task = asyncio.ensure_future(_watching(s, watch))
    return None


def stop(s):
    """End the session's Watch, if it has one."""
    watch, s.watch = s.watch, None
    if watch is None:
        return
    s.ctx.hub.unregister(s.user, watch.wake)
    if watch.task is not None:
        watch.task.cancel()


async def _watching(s, watch):
    while True:
        await watch.wake.wait()
        watch.wake.clear()
        async with s.busy:
            if s.watch is not watch:
                return
            try:
                await report_selected(s, watch)
                await report(s)
                await s.flush()
            except Logout as exc:
                _end(s, str(exc))
                return
            except StoreError as exc:
                # The disk or the index failed: the next wake-up tries again.
                log.error("%s: notification failed: %s", s.who(), exc)
            except (StreamClosed, ConnectionError, ssl.SSLError):
                return
            except Exception:
                # A bug: logged with its traceback; the commands still work.
                log.exception("%s: notification failed", s.who())


def _end(s, reason):
    """The selected mailbox went away under a notification: BYE, as a command
    would have had it (RFC 9051 7.1.5)."""
    s.end_reason = reason
    s.untagged(f"BYE {reason}")
    s.push()
    s.stream.close()
    s.task.cancel()


async def report_selected(s, watch):
    """The selected mailbox's changes, when a SELECTED filter asks for one of the
    kinds pending, with MessageNew's FETCH items for the new messages (RFC 5465
    5.1, 5.2). What is reported is all that is pending, as at NOOP."""
    view, wanted = s.selected, watch.selected
    if view is None or wanted is None:
        return
    pending = await s.mail.call(_pending, view)
    if wanted.delayed and "MessageExpunge" in pending:
        return
    if not pending & wanted.events:
        return
    last = view.uids[-1] if len(view) else 0
    await report_changes(s)
    fresh = list(view.uids[bisect.bisect_right(view.uids, last):])
    if wanted.fetch and fresh:
        builder = fetch.Builder(wanted.fetch, condstore.condstore_on(s),
                                fetch.recent_of(s))
        lines, _, _ = await s.mail.call(fetch.fetch_lines, view, builder, fresh)
        s.write(lines)


def _pending(view):
    """The kinds of event waiting in the folder's change log for the view."""
    _, changes = view.folder.change_log(view.modseq)
    kinds = set()
    for _, uid, gone in changes:
        kinds.add("MessageExpunge" if gone else
                  "FlagChange" if view.seq(uid) else "MessageNew")
    return kinds


async def report(s):
    """What the session's Watch has to tell about mailboxes other than the
    selected one: LIST for names and subscriptions, STATUS for messages."""
    watch = s.watch
    if watch is None:
        return
    pending, watch.pending = watch.pending, []
    if len(pending) > MAX_PENDING:
        # RFC 5465 5.8: the server gives up, as after NOTIFY NONE.
        stop(s)
        s.untagged("OK [NOTIFICATIONOVERFLOW] too many changes to tell")
        return
    for kind, name, old in pending:
        s.untagged(_list_line(s, kind, name, old))
    await _report_statuses(s, watch)


async def _report_statuses(s, watch, send=True):
    listing, subscribed = await s.mail.call(_folder_names, s.store)
    selected = s.selected.folder.name if s.selected is not None else None
    wanted = {}
    for name in listing:
        events = watch.events(name, subscribed) & MESSAGE_EVENTS
        if events and name != selected:
            wanted[name] = status_items(events)
    found = await folders.folder_statuses(s, list(wanted))
    for name, result in found.items():
        values = tuple(getattr(result, item.lower()) for item in wanted[name])
        if watch.told.get(name) != values:
            watch.told[name] = values
            if send:
                s.untagged(folders.status_line(s, name, wanted[name], result))


def _folder_names(store):
    return list(store.folders()), set(mailfolders.subscribed(store))


def status_items(events):
    """What a STATUS notification holds for these events (RFC 5465 5.2-5.4):
    the message count for new and expunged messages, UIDNEXT and UIDVALIDITY for
    new ones, UIDVALIDITY and HIGHESTMODSEQ for flag changes (every message has a
    modseq here, CONDSTORE enabled or not; Dovecot answers the same)."""
    items = []
    if events & {"MessageNew", "MessageExpunge"}:
        items.append("MESSAGES")
    if "MessageNew" in events:
        items += ["UIDNEXT", "UIDVALIDITY"]
    if "FlagChange" in events:
        if "UIDVALIDITY" not in items:
            items.append("UIDVALIDITY")
        items.append("HIGHESTMODSEQ")
    return items


# folder names and subscriptions


def folder_changed(s, kind, name, old=None):
    """Tell the user's other sessions whose Watch covers it that a folder was
    created, deleted or renamed (MailboxName) or (un)subscribed
    (SubscriptionChange). `kind`: create, delete, rename, subscribe,
    unsubscribe."""
    event = "SubscriptionChange" if kind.endswith("subscribe") else "MailboxName"
    for other in list(s.ctx.sessions):
        watch = other.watch
        if other is s or watch is None or other.store is not s.store:
            continue
        # The subscriptions are not read for this: SUBSCRIBED covers any name.
        if any(event in watch.events(n, None) for n in filter(None, (name, old))) \
                and len(watch.pending) <= MAX_PENDING:
            watch.pending.append((kind, name, old))
            watch.wake.set()


def _list_line(s, kind, name, old):
    # RFC 5465 5.5: a deleted mailbox is \NonExistent, a renamed one names its
    # old name (RFC 5258 3.5: OLDNAME); RFC 5465 5.6: \Subscribed or not.
    attributes = {"delete": "\\NonExistent", "subscribe": "\\Subscribed"}.get(kind, "")
    line = f'LIST ({attributes}) "{folders.DELIMITER}" {names.encode(s, name)}'
    if kind == "rename":
        line += f' ("OLDNAME" ({names.encode(s, old)}))'
    return line
