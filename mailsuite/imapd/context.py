"""CONTEXT=SEARCH and CONTEXT=SORT's live results (RFC 5267 4), and CANCELUPDATE.

A SEARCH or SORT with RETURN (UPDATE) leaves a Context behind, known by the
command's tag: its search program, SORT's ranker, and the result as the client
knows it, as UIDs in the result's order. Whenever the session tells its client of
changes (mailbox.report_changes: NOOP, IDLE, EXPUNGE, APPEND, NOTIFY; and after
its own STORE), each context is evaluated again over the view, and what changed
goes out as ESEARCH ADDTO and REMOVEFROM (RFC 5267 4.3): the removals before the
EXPUNGE responses, numbered as the client knew the messages until then; the
additions after EXISTS, in the numbering that then holds.

A SEARCH result is in the mailbox's order, so each update is one set, with the
position of its first message (RFC 5267 4.3.2). A SORT result has an order of its
own: each message comes with its position, additions by ascending position (so a
client inserting them one by one builds the server's order, RFC 5267 4.3.3),
removals by descending position (so each is right when it is applied).

Cost: an update evaluates the search again, in time that follows the folder's
size, so it is done only when something changed (a NOOP that finds nothing new
costs nothing), and a session keeps at most MAX_CONTEXTS; a search asking for
one more, or for UPDATE with PARTIAL, is answered all the same, without updates,
and says so with NOUPDATE (RFC 5267 4.3.1). A context ends with CANCELUPDATE (RFC 5267 4.3.5) or when the session
leaves the mailbox.
"""

import bisect
from dataclasses import dataclass
from typing import NamedTuple

from .errors import Bad
from .parser import astring
from .response import quoted, sequence
from .searchrun import Run

MAX_CONTEXTS = 5


@dataclass
class Context:
    tag: str
    uid: bool
    key: object         # the search program (searchkeys)
    ranker: object      # SORT's: async (run, found) -> found in order; None: SEARCH
    uids: list          # the result as the client knows it, in its order


class Updates(NamedTuple):
    """The ESEARCH lines of one round of updates."""
    removed: bytes      # to go before any EXPUNGE response
    added: bytes        # to go after EXISTS


NONE = Updates(b"", b"")


async def keep(s, cmd, options, key, run, found, ranker=None):
    """Keep the result of `cmd` (the view indexes `found`, in order) live; the
    tagged OK's text."""
    full = len(s.contexts) >= MAX_CONTEXTS and cmd.tag not in s.contexts
    if full or options.partial is not None:
        # RFC 5267 4.3.1: the result was given, its updates are refused (also
        # for a PARTIAL one: its updates would be of the whole result).
        return f"[NOUPDATE {quoted(cmd.tag)}] {cmd.name} completed, without updates"
    uids = [run.view.uids[i] for i in found]
    s.contexts[cmd.tag] = Context(cmd.tag, cmd.uid, key, ranker, uids)
    return None


async def updates(s, before=None):
    """What changed in every context of the session. `before`: the view's UIDs as
    the client knew them before the changes being reported (None: as now)."""
    view = s.selected
    if not s.contexts or view is None:
        return NONE
    before = view.uids if before is None else before
    removed, added = bytearray(), bytearray()
    for context in s.contexts.values():
        run = Run(s)
        found = await run.matching(context.key)
        if context.ranker is not None:
            found = await context.ranker(run, found)
        uids = [view.uids[i] for i in found]
        old, context.uids = context.uids, uids
        removed += _removals(context, old, uids, before)
        added += _additions(context, old, uids, view)
    return Updates(bytes(removed), bytes(added))


def _removals(context, old, new, before):
    kept = set(new)
    gone = [(position, uid) for position, uid in enumerate(old, 1) if uid not in kept]
    if not gone:
        return b""

    def number(uid):
        return uid if context.uid else bisect.bisect_left(before, uid) + 1
    return _line(context, "REMOVEFROM", [(p, number(uid)) for p, uid in gone],
                 descending=True)


def _additions(context, old, new, view):
    known = set(old)
    came = [(position, uid) for position, uid in enumerate(new, 1) if uid not in known]
    if not came:
        return b""
    return _line(context, "ADDTO", [(p, uid if context.uid else view.seq(uid))
                                    for p, uid in came])


def _line(context, kind, entries, descending=False):
    """`* ESEARCH (TAG "t") [UID] ADDTO (position set ...)` for [(position,
    number)] in ascending position."""
    if context.ranker is None:
        numbers = sorted(number for _, number in entries)
        pairs = f"{entries[0][0]} {sequence(numbers)}"
    else:
        entries = entries[::-1] if descending else entries
        pairs = " ".join(f"{position} {number}" for position, number in entries)
    uid = " UID" if context.uid else ""
    return f"* ESEARCH (TAG {quoted(context.tag)}){uid} {kind} ({pairs})\r\n".encode()


async def cancelupdate(s, cmd):
    # RFC 5267 4.3.5: CANCELUPDATE "tag" *(SP "tag"): those contexts end.
    if not cmd.args:
        raise Bad("expected the tags of the searches to stop updating")
    tags = [_tag(token) for token in cmd.args]
    unknown = [tag for tag in tags if tag not in s.contexts]
    if unknown:
        raise Bad("no search with updates has that tag")
    for tag in tags:
        del s.contexts[tag]


def _tag(token):
    if isinstance(token, list):
        raise Bad("a tag is a string")
    return astring(token)
