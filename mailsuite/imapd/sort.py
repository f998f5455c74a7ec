"""SORT and UID SORT (RFC 5256 3), with SORT=DISPLAY's DISPLAYFROM and DISPLAYTO
(RFC 5957).

The messages are those the search keys match (searchrun.py); their sort keys come
from the index: the internal date and size from the records, the sent date, base
subject and address keys from the columns (core.mailcolumns), in the form their
comparison needs (core.msgkeys), so that sorting compares numbers and bytes.
Criteria apply from first to last; messages equal under all of them keep the
mailbox's order (RFC 5256 3: sequence order), REVERSE included.

ESORT (RFC 5267 3): with RETURN options first, the answer is one ESEARCH line,
built as SEARCH's (search.esearch_line) from the numbers in sort order; RETURN
(PARTIAL) and (UPDATE) are CONTEXT=SORT's (RFC 5267 4), the live result being kept
by context.py with `rank` to put it in order again.
"""

import functools

from ..core import msgkeys
from . import context
from .errors import Bad
from .search import esearch_line, return_options
from .searchkeys import Reader, check_charset, parse_keys
from .searchrun import Run

# RFC 5256 3 and RFC 5957 2: sort key -> its column, or a record field.
CRITERIA = {"ARRIVAL": "arrival", "SIZE": "size", "DATE": msgkeys.DATE,
            "SUBJECT": msgkeys.BASE_SUBJECT, "FROM": msgkeys.SORT_FROM,
            "TO": msgkeys.SORT_TO, "CC": msgkeys.SORT_CC,
            "DISPLAYFROM": msgkeys.DISPLAY_FROM, "DISPLAYTO": msgkeys.DISPLAY_TO}


async def sort(s, cmd):
    # RFC 5267 3: SORT RETURN (options) (criteria) charset search-keys.
    options, args = (None, cmd.args) if not cmd.args else return_options(cmd.args)
    if options is not None and "SAVE" in options:
        raise Bad("SORT has no RETURN (SAVE)")
    # RFC 5256 3: SORT (criteria) charset search-keys; the charset is required.
    if len(args) < 3:
        raise Bad("expected sort criteria, a charset and search keys")
    criteria = parse_criteria(args[0])
    check_charset(args[1])
    key = parse_keys(Reader(args[2:]))
    run = Run(s)
    ranker = functools.partial(rank, criteria)
    found = await ranker(run, await run.matching(key))
    view = s.selected
    numbers = [view.uids[i] for i in found] if cmd.uid else [i + 1 for i in found]
    if options is None:
        s.write(b"* SORT" + "".join(f" {n}" for n in numbers).encode("ascii")
                + b"\r\n")
        return None
    s.write(esearch_line(cmd.tag, cmd.uid, options, numbers))
    if "UPDATE" in options:
        return await context.keep(s, cmd, options, key, run, found, ranker)
    return None


async def rank(criteria, run, found):
    """The view indexes `found` in the order of `criteria`."""
    keys = [(await sort_values(run, name), reverse) for name, reverse in criteria]
    return await run.call(ordered, found, keys)


def parse_criteria(token):
    """`(REVERSE DATE SUBJECT)` -> [("DATE", True), ("SUBJECT", False)]."""
    if not isinstance(token, list) or not token:
        raise Bad("expected a parenthesized list of sort criteria")
    criteria, reverse = [], False
    for item in token:
        name = item.upper() if isinstance(item, str) else None
        if name == "REVERSE" and not reverse:
            reverse = True
        elif name in CRITERIA:
            criteria.append((name, reverse))
            reverse = False
        else:
            raise Bad("unknown sort criterion")
    if reverse:
        raise Bad("REVERSE must come before a sort criterion")
    return criteria


async def sort_values(run, name):
    """The sort key of each message of the view, by view index."""
    source = CRITERIA[name]
    if source in ("arrival", "size"):
        wires, dates = await run.numbers()
        return dates if source == "arrival" else wires
    if source == msgkeys.DATE:
        return await run.column(source, convert=msgkeys.sent_time)
    if source == msgkeys.BASE_SUBJECT:
        return await run.column(source, convert=msgkeys.subject_key)
    return await run.column(source)


def ordered(found, keys):
    """View indexes sorted by [(key by view index, reverse)], first key first
    (in a worker thread). Sorting by the last key first, stably (reverse
    included), leaves equal messages in the mailbox's order."""
    found = list(found)
    for values, reverse in reversed(keys):
        found.sort(key=values.__getitem__, reverse=reverse)
    return found
