"""SEARCH and UID SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4), ESEARCH's RETURN options
(RFC 4731), SEARCHRES's saved result `$` (RFC 5182), and CONTEXT=SEARCH's RETURN
(PARTIAL) and (UPDATE) (RFC 5267 4; the live results themselves: context.py).

The keys are parsed by searchkeys.py and evaluated by searchrun.py over the session's
view: sequence numbers are the ones the client knows, and no EXPUNGE is sent during
a SEARCH (RFC 9051 7.5.1). The answer is `* SEARCH n...` or, when the command has
RETURN options, one `* ESEARCH` line; the numbers are written as bytes in one line
however many there are (they are digits only), made in a worker thread.

The RETURN options and the ESEARCH line are shared with SORT (ESORT, RFC 5267 3),
whose numbers come in sort order: ALL's ranges are then only ascending runs, and
MIN and MAX are the first and the last of the sorted result.

`$` is kept as UIDs, so that expunges take their messages out of it with no work
(RFC 5182 2.1); it belongs to the selected mailbox and is empty after another
SELECT. resolve_saved() puts it in place of a sequence set in other commands.

CONDSTORE (RFC 7162 3.1.5) adds its MODSEQ key to searchkeys.KEYS and its
evaluation to searchrun.EVALUATE, which sets `run.report_modseq`; the answer then
ends with the highest MODSEQ of the messages it returns.
"""

import array
import re
from typing import NamedTuple

from . import context
from .errors import Bad
from .parser import Atom, SavedSet
from .response import quoted
from .searchkeys import parse_program
from .searchrun import Run

RETURN_OPTIONS = ("MIN", "MAX", "ALL", "COUNT", "SAVE", "PARTIAL", "UPDATE")
# The commands whose first argument is a sequence set, where `$` may stand.
SEQUENCE_FIRST = {"FETCH", "STORE", "COPY", "MOVE"}


class ReturnOptions(set):
    """RETURN's option names; `partial` is PARTIAL's range of positions in the
    result, (first, last), when asked (RFC 5267 4.4)."""
    partial = None


class SavedResult(NamedTuple):
    """SEARCHRES's result variable: the messages, as UIDs, of one view."""
    view: object
    uids: array.array


async def search(s, cmd):
    # RFC 9051 6.4.4; RFC 4731 3.1: RETURN options come before the program.
    options, program = return_options(cmd.args)
    if options is None and "IMAP4rev2" in getattr(s, "enabled", ()):
        # RFC 9051 6.4.4.1: no RETURN is RETURN (ALL); rev2 has only ESEARCH.
        options = {"ALL"}
    saving = options is not None and "SAVE" in options
    if saving:
        # RFC 5182 2.4: a search that fails leaves the result variable empty.
        s.saved_search = SavedResult(s.selected, array.array("I"))
    key = parse_program(program)
    run = Run(s)
    found = await run.matching(key)
    line, kept = await run.call(answer, run.view, found, cmd, options,
                                run.report_modseq)
    if saving:
        s.saved_search = SavedResult(run.view, kept)
    s.write(line)
    if options is not None and "UPDATE" in options:
        return await context.keep(s, cmd, options, key, run, found)
    return None


def answer(view, found, cmd, options, with_modseq):
    """(the response line, the UIDs SAVE keeps) for the view indexes found (in a
    worker thread)."""
    uids = array.array("I", [view.uids[i] for i in found])
    numbers = uids if cmd.uid else [i + 1 for i in found]
    shown = uids if options is None else returned(options, uids)
    modseq = None
    if with_modseq and shown:
        # RFC 7162 3.1.5: the highest MODSEQ of the messages returned.
        modseq = max((r.modseq for r in view.folder.records(shown).values()),
                     default=None)
    if options is None:
        line = search_line(numbers, modseq)
    elif options == {"SAVE"}:
        line = b""              # RFC 5182 2.1: with SAVE alone, no ESEARCH.
    else:
        line = esearch_line(cmd.tag, cmd.uid, options, numbers, modseq)
    return line, array.array("I", shown)


def return_options(args):
    """(set of RETURN options or None, the search program's tokens)."""
    if not args:
        raise Bad("expected search keys")
    if not (isinstance(args[0], Atom) and args[0].upper() == "RETURN"):
        return None, args
    if len(args) < 3 or not isinstance(args[1], list):
        raise Bad("expected RETURN (options) and search keys")
    options = ReturnOptions()
    tokens = iter(args[1])
    for token in tokens:
        name = token.upper() if isinstance(token, Atom) else None
        if name not in RETURN_OPTIONS:
            raise Bad("unknown RETURN option")
        if name == "PARTIAL":
            options.partial = partial_range(next(tokens, None))
        options.add(name)
    # RFC 4731 3.1: RETURN () means RETURN (ALL).
    if not options:
        options.add("ALL")
    return options, args[2:]


def partial_range(token):
    """PARTIAL's `first:last` positions, 1-based, in either order, never `*`
    (RFC 5267 4.4: partial-range = nz-number ":" nz-number)."""
    match = re.fullmatch(r"(\d{1,10}):(\d{1,10})", token) \
        if isinstance(token, Atom) else None
    ends = sorted(map(int, match.groups())) if match else (0, 0)
    if not 0 < ends[0] <= ends[1] < 2 ** 32:
        raise Bad("PARTIAL takes a range of positions, as 1:100")
    return tuple(ends)


def returned(options, uids):
    """The messages an ESEARCH answer is about: with MIN or MAX but neither ALL
    nor COUNT, only those (RFC 5182 2.4 for what SAVE keeps, RFC 7162 3.1.5
    for whose MODSEQ is reported)."""
    if options & {"ALL", "COUNT"} or not options & {"MIN", "MAX"} or not uids:
        return uids
    kept = {uids[0]} if "MIN" in options else set()
    if "MAX" in options:
        kept.add(uids[-1])
    return sorted(kept)


def search_line(numbers, modseq=None):
    """`* SEARCH 2 3 5` (RFC 9051 7.3.5), `(MODSEQ n)` at the end if given."""
    tail = f" (MODSEQ {modseq})" if modseq is not None else ""
    return (b"* SEARCH" + "".join(f" {n}" for n in numbers).encode("ascii")
            + tail.encode("ascii") + b"\r\n")


def esearch_line(tag, uid, options, numbers, modseq=None):
    """`* ESEARCH (TAG "t") UID MIN 2 MAX 9 ALL 2:4,9 COUNT 4` (RFC 4731 3.1);
    MIN, MAX and ALL are left out when nothing matches, COUNT never is; MODSEQ
    comes last (RFC 7162 3.1.5)."""
    parts = [f"(TAG {quoted(tag)})"] + (["UID"] if uid else [])
    if numbers and "MIN" in options:
        parts.append(f"MIN {numbers[0]}")
    if numbers and "MAX" in options:
        parts.append(f"MAX {numbers[-1]}")
    if numbers and "ALL" in options:
        parts.append(f"ALL {sequence_text(numbers)}")
    if "COUNT" in options:
        parts.append(f"COUNT {len(numbers)}")
    partial = getattr(options, "partial", None)
    if partial is not None:
        # RFC 5267 4.4: the messages at those positions of the result, or NIL.
        picked = numbers[partial[0] - 1:partial[1]]
        parts.append(f"PARTIAL ({partial[0]}:{partial[1]} "
                     f"{sequence_text(picked) if picked else 'NIL'})")
    if modseq is not None:
        parts.append(f"MODSEQ {modseq}")
    return ("* ESEARCH " + " ".join(parts) + "\r\n").encode("ascii")


def sequence_text(numbers):
    """Ascending numbers as a sequence set: [1, 2, 3, 7] -> "1:3,7"."""
    return ",".join(f"{low}:{high}" if low != high else str(low)
                    for low, high in ranges(numbers))


def ranges(numbers):
    """Numbers as [(low, high)] runs of consecutive ascending ones, in their
    order."""
    out = []
    for n in numbers:
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def resolve_saved(s, cmd):
    """RFC 5182 2.1: `$` in place of a command's sequence set stands for the saved
    result: its UIDs for a UID command, their sequence numbers otherwise."""
    name = cmd.name
    if not (name in SEQUENCE_FIRST or (name == "EXPUNGE" and cmd.uid)):
        return
    if not cmd.args or cmd.args[0] != "$" or not isinstance(cmd.args[0], Atom):
        return
    view = s.selected
    result = s.saved_search
    uids = result.uids if result is not None and result.view is view else ()
    if view is None:
        numbers = []
    elif cmd.uid:
        numbers = [uid for uid in sorted(uids) if view.seq(uid)]
    else:
        numbers = sorted(seq for seq in map(view.seq, uids) if seq)
    cmd.args[0] = SavedSet(ranges(numbers))
