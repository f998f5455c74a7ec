"""CONDSTORE and QRESYNC (RFC 7162): mod-sequences, the conditional STORE, and the
resynchronization of a client that comes back with the modseq it last saw.

Every message has a MODSEQ in the index (core.mailindex), raised by every change of
its flags; the folder's HIGHESTMODSEQ is the largest, and the change log keeps every
expunged UID with its own, so what changed since any modseq is known exactly
(core.mailview.expunged_since, changed_since). A session turns CONDSTORE on with its
first "CONDSTORE enabling command" (RFC 7162 3.1): ENABLE, SELECT/EXAMINE
(CONDSTORE), FETCH of MODSEQ or with CHANGEDSINCE, STORE with UNCHANGEDSINCE, and,
in the verbs of search and folders, SEARCH MODSEQ and STATUS HIGHESTMODSEQ: each
calls `enable(s)`. From then on every FETCH the client hears unasked carries UID and
MODSEQ (fetch.Builder). QRESYNC, turned on only by ENABLE, adds VANISHED in place of
EXPUNGE and the SELECT/EXAMINE parameter that brings a client up to date in the
same round trip.

This module reads the modifiers and parameters (anything malformed is a BAD) and
says what the session has enabled; the verbs use them in mailbox.py and fetch.py.
"""

from dataclasses import dataclass
from typing import NamedTuple

from . import searchkeys, searchrun
from .errors import Bad
from .parser import Atom, String, atom, number, resolve_range, sequence_set
from .response import sequence

# RFC 7162 7: a mod-sequence is a positive 63-bit number (0 where "valzer").
MAX_MODSEQ = 2 ** 63 - 1
MAX_UID = 2 ** 32 - 1
VANISHED_RANGES = 1000      # ranges per VANISHED line: lines of bounded length


@dataclass(frozen=True)
class Resync:
    """SELECT's QRESYNC parameter (RFC 7162 3.2.5): the UIDVALIDITY and modseq
    the client last saw, and the ranges of UIDs it knows (None: all of them)."""
    uidvalidity: int
    modseq: int
    known: list = None


def condstore_on(s):
    return "CONDSTORE" in s.enabled


def qresync_on(s):
    return "QRESYNC" in s.enabled


def enable(s):
    """Turn CONDSTORE on for the rest of the session. RFC 7162 3.1: a client that
    does so with a mailbox selected is told its HIGHESTMODSEQ at once, the one
    up to which it has heard of every change."""
    if condstore_on(s):
        return
    s.enabled.add("CONDSTORE")
    if s.selected is not None:
        s.untagged(f"OK [HIGHESTMODSEQ {s.selected.modseq}] highest mod-sequence")


def mod_sequence(token):
    # RFC 7162 7: mod-sequence-valzer; digits bounded before int() sees them.
    if not isinstance(token, Atom) or not token.isdigit() or len(token) > 19 \
            or int(token) > MAX_MODSEQ:
        raise Bad("expected a mod-sequence")
    return int(token)


def select_params(s, args):
    """(CONDSTORE asked for, Resync or None) from SELECT/EXAMINE's optional
    parameter list (RFC 4466 2.2; RFC 7162 3.1.8 and 3.2.5)."""
    if not args:
        return False, None
    if len(args) != 1 or not isinstance(args[0], list) or not args[0]:
        raise Bad("expected a mailbox name and a list of SELECT parameters")
    params, condstore, resync = args[0], False, None
    at = 0
    while at < len(params):
        name = atom(params[at], "a SELECT parameter")
        if name == "CONDSTORE" and not condstore:
            condstore, at = True, at + 1
        elif name == "QRESYNC" and resync is None and at + 1 < len(params) \
                and isinstance(params[at + 1], list):
            # RFC 7162 3.2.5: only for a client that has ENABLEd QRESYNC.
            if not qresync_on(s):
                raise Bad("QRESYNC is not enabled")
            resync, at = _resync_param(params[at + 1]), at + 2
        else:
            raise Bad(f"unknown SELECT parameter {name}")
    return condstore or resync is not None, resync


def _resync_param(tokens):
    # RFC 7162 7: "(" uidvalidity SP mod-sequence-value [SP known-uids]
    # [SP seq-match-data] ")".
    usage = "QRESYNC (uidvalidity modseq [known-uids] [(sequences uids)])"
    if not 2 <= len(tokens) <= 4:
        raise Bad(f"expected {usage}")
    uidvalidity, modseq = number(tokens[0]), mod_sequence(tokens[1])
    if not uidvalidity or not modseq:
        raise Bad(f"expected {usage}")
    known = None
    rest = tokens[2:]
    if rest and not isinstance(rest[0], list):
        known = sequence_set(rest.pop(0))
    if rest:
        # The sequence-to-UID sample helps a server that forgets expunges;
        # ours keeps them all (RFC 7162 3.2.5.2 lets it ignore the sample).
        sample = rest.pop(0)
        if not isinstance(sample, list) or len(sample) != 2 or rest:
            raise Bad(f"expected {usage}")
        sequence_set(sample[0])
        sequence_set(sample[1])
    return Resync(uidvalidity, modseq, known)


def fetch_modifiers(s, cmd, token):
    """(changedsince, vanished) from FETCH's modifier list (RFC 4466 2.4;
    RFC 7162 3.1.4.1 and 3.2.6)."""
    if not isinstance(token, list) or not token:
        raise Bad("expected a list of FETCH modifiers")
    since, vanished = None, False
    at = 0
    while at < len(token):
        name = atom(token[at], "a FETCH modifier")
        if name == "CHANGEDSINCE" and since is None and at + 1 < len(token):
            since, at = mod_sequence(token[at + 1]), at + 2
        elif name == "VANISHED" and not vanished:
            vanished, at = True, at + 1
        else:
            raise Bad(f"unknown FETCH modifier {name}")
    # RFC 7162 3.2.6: VANISHED goes with CHANGEDSINCE, in UID FETCH, and only
    # once QRESYNC is enabled.
    if since is None:
        raise Bad("expected CHANGEDSINCE")
    if vanished and not (cmd.uid and qresync_on(s)):
        raise Bad("VANISHED needs UID FETCH and ENABLE QRESYNC")
    return since, vanished


def store_modifiers(token):
    """UNCHANGEDSINCE from STORE's modifier list (RFC 7162 3.1.3)."""
    if not isinstance(token, list) or len(token) != 2 \
            or atom(token[0], "UNCHANGEDSINCE") != "UNCHANGEDSINCE":
        raise Bad("expected (UNCHANGEDSINCE mod-sequence)")
    return mod_sequence(token[1])


def within(uid, ranges):
    """True if `uid` is in a set of UID ranges. "*" is the largest UID in use
    (RFC 9051 9); a UID expunged above it is beyond it, so "n:*" reaches every
    UID from n, in either order (RFC 9051 9: 4:2 is 2:4)."""
    for low, high in ranges:
        low, high = resolve_range(low, high, MAX_UID)
        if low <= uid <= high:
            return True
    return False


def report_vanished(s, uids, earlier=False):
    """RFC 7162 3.2.10: `* VANISHED [(EARLIER)] uid-set`, in lines of bounded
    length; `uids` ascending."""
    label = "VANISHED (EARLIER) " if earlier else "VANISHED "
    ranges = sequence(uids).split(",") if uids else []
    for at in range(0, len(ranges), VANISHED_RANGES):
        s.untagged(label + ",".join(ranges[at:at + VANISHED_RANGES]))


def history(view, modseq):
    """In a worker thread: (UIDs expunged, [(seq, Record)] of the messages
    changed) after `modseq`, as far as the view has seen (RFC 7162 3.2.5.1)."""
    uids = view.changed_since(modseq, upto=view.modseq)
    records = view.folder.records(uids) if uids else {}
    changed = [(view.seq(uid), records[uid]) for uid in uids if uid in records
               and modseq < records[uid].modseq <= view.modseq]
    return view.expunged_since(modseq), changed


# SEARCH MODSEQ (RFC 7162 3.1.5)


class ModSeq(NamedTuple):
    least: int          # messages whose MODSEQ is at least this


def _modseq_key(reader):
    # RFC 7162 7: "MODSEQ" [SP entry-name SP entry-type-req] SP
    # mod-sequence-valzer. Flags have no modseqs of their own here, so the entry
    # is read and ignored, as 3.1.5 asks of such a server.
    token = reader.next("a mod-sequence")
    if isinstance(token, String):
        if atom(reader.next("an entry type"), "an entry type") not in (
                "PRIV", "SHARED", "ALL"):
            raise Bad("expected priv, shared or all")
        token = reader.next("a mod-sequence")
    return ModSeq(mod_sequence(token))


async def _modseq_search(run, key, within):
    # RFC 7162 3.1: a CONDSTORE enabling command; 3.1.5: the answer then ends
    # with the highest MODSEQ of the messages found.
    enable(run.s)
    run.report_modseq = True
    found = await run.call(_changed_from, run.view, key.least)
    return within & await run.call(searchrun.from_uids, run.view.uids, found)


def _changed_from(view, least):
    """In a worker thread: the UIDs in view whose MODSEQ is at least `least`,
    from the change log (cost: the size of the change, not of the folder)."""
    uids = view.changed_since(max(least - 1, 0))
    records = view.folder.records(uids) if uids else {}
    return [uid for uid, record in records.items() if record.modseq >= least]


searchkeys.KEYS["MODSEQ"] = _modseq_key
searchrun.EVALUATE[ModSeq] = _modseq_search
searchrun.COSTS[ModSeq] = 3
