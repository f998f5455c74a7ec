"""Which names LIST and LSUB answer with, and their attributes, and what LIST's and
STATUS's arguments ask: the rules of RFC
9051 6.3.9 (LIST-EXTENDED, RFC 5258, in IMAP4rev2 terms), RFC 3501 6.3.9 (LSUB),
RFC 3348 (CHILDREN) and RFC 6154 (SPECIAL-USE), as plain functions of the folders,
the subscriptions and the request: no I/O, so imapd.folders does the talking.

A name is *selected* when it meets the selection options: it exists (no options),
or it is subscribed (SUBSCRIBED, whether or not it exists), and has a special use
(SPECIAL-USE). A name that matches a pattern is listed when it is selected; with
RECURSIVEMATCH also when a selected descendant is not listed itself, with CHILDINFO
(6.3.9.6); and without selection options, a folder's missing parent stands in for
descendants the pattern does not reach ("%" at the end of "Archive/%": RFC 9051
6.3.9, example 10). Maildir++ has no empty parents, so a missing parent is
\\NonExistent in the extended syntax and \\Noselect in the basic one.
\\HasChildren and \\HasNoChildren are always given (6.3.9.5: a server MAY), and so
are special uses.

Cost: every name is matched once, and descendants are found by bisection in the
sorted names, so a user with thousands of folders costs thousands of steps.
"""

import bisect
from dataclasses import dataclass
from typing import NamedTuple

from ..core.mailnames import DELIMITER, parent_names
from .errors import Bad
from .parser import Atom, atom

# RFC 9051 6.3.11, RFC 3501 6.3.10 (RECENT), RFC 8438 (SIZE), RFC 7162 3.1.6,
# RFC 7889 3.2 (APPENDLIMIT).
STATUS_ITEMS = ("MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE",
                "RECENT", "HIGHESTMODSEQ", "APPENDLIMIT")


@dataclass
class Options:
    """A LIST request's options (RFC 9051 6.3.9.1, 6.3.9.2; RFC 6154 5)."""
    extended: bool = False
    subscribed: bool = False        # selection options
    special_use: bool = False
    recursive: bool = False
    return_subscribed: bool = False
    status: tuple = ()              # STATUS items asked for (RFC 5819)

    def criteria(self):
        """CHILDINFO's names of the selection criteria in use."""
        return tuple(name for name, used in (("SUBSCRIBED", self.subscribed),
                                             ("SPECIAL-USE", self.special_use)) if used)


class Entry(NamedTuple):
    name: str
    attributes: tuple
    childinfo: tuple        # selection criteria a descendant meets (RECURSIVEMATCH)
    status: bool            # a selectable, selected folder: LIST-STATUS applies


class Tree:
    """The folders ({name: special uses}) and subscriptions of one user."""

    def __init__(self, folders, subscribed):
        self.uses = dict(folders)
        self.subscribed = set(subscribed)
        self.parents = {p for name in self.uses for p in parent_names(name)}


def list_entries(tree, matches, options):
    """The entries LIST answers, in order (INBOX first)."""
    names = set(tree.uses) | tree.subscribed
    names |= {p for name in names for p in parent_names(name)}
    ordered = sorted(names)
    matched = {name: matches(name) for name in ordered}
    selected = {name: _selected(tree, name, options) for name in ordered}
    entries = []
    for name in sorted(ordered, key=lambda n: (n != "INBOX", n)):
        if not matched[name]:
            continue
        below = _descendants(ordered, name)
        childinfo = ()
        if options.recursive and any(selected[d] for d in below):
            childinfo = options.criteria()
        if selected[name]:
            entries.append(_entry(tree, name, options, childinfo, status=True))
        elif options.recursive and any(selected[d] and not matched[d] for d in below):
            entries.append(_entry(tree, name, options, childinfo, status=False))
        elif not options.criteria() and name in tree.parents and any(
                d in tree.uses and not matched[d] for d in below):
            entries.append(_entry(tree, name, options, (), status=False))
    return entries


def _selected(tree, name, options):
    if not options.criteria():
        return name in tree.uses
    if options.subscribed and name not in tree.subscribed:
        return False
    return not options.special_use or bool(tree.uses.get(name))


def _descendants(ordered, name):
    """The names below `name`: those that begin with it and the delimiter, a run
    of the sorted names."""
    prefix = name + DELIMITER
    start = bisect.bisect_left(ordered, prefix)
    stop = bisect.bisect_left(ordered, name + chr(ord(DELIMITER) + 1))
    return ordered[start:stop]


def _entry(tree, name, options, childinfo, status):
    attributes = []
    if (options.return_subscribed or options.subscribed) and name in tree.subscribed:
        attributes.append("\\Subscribed")
    exists = name in tree.uses
    if not exists:
        # RFC 9051 6.3.9.4: \NonExistent implies \Noselect, which RFC 3501 says.
        attributes.append("\\NonExistent" if options.extended else "\\Noselect")
    attributes.append("\\HasChildren" if name in tree.parents else "\\HasNoChildren")
    attributes += tree.uses.get(name, ())
    return Entry(name, tuple(attributes), childinfo, status and exists)


def lsub_entries(tree, matches, percent_at_end):
    """The entries LSUB answers (RFC 3501 6.3.9): the subscribed names that
    match; and when the pattern ends with "%", the unsubscribed levels above a
    subscribed name that match, with \\Noselect."""
    names = set(tree.subscribed)
    if percent_at_end:
        names |= {p for name in tree.subscribed for p in parent_names(name)}
    entries = []
    for name in sorted(names, key=lambda n: (n != "INBOX", n)):
        if matches(name):
            attributes = () if name in tree.subscribed else ("\\Noselect",)
            entries.append(Entry(name, attributes, (), False))
    return entries


# parsing the request


def parse_list(args):
    """(Options, reference, [patterns]) of LIST's arguments, the names as sent
    (RFC 9051 9: list; RFC 5258 6)."""
    args, options = list(args), Options()
    if args and isinstance(args[0], list):
        options.extended = True
        _selection(args.pop(0), options)
    if len(args) < 2:
        raise Bad("expected a reference and a mailbox pattern")
    reference, patterns, rest = args[0], args[1], args[2:]
    if isinstance(patterns, list):
        options.extended = True
        if not patterns:
            raise Bad("expected mailbox patterns")
    else:
        patterns = [patterns]
    if rest:
        if len(rest) != 2 or not isinstance(rest[0], Atom) \
                or rest[0].upper() != "RETURN" or not isinstance(rest[1], list):
            raise Bad("expected RETURN (options) after the patterns")
        options.extended = True
        _returns(rest[1], options)
    return options, reference, patterns


def _selection(token, options):
    # RFC 9051 6.3.9.1 and RFC 6154 5: unknown options are BAD; REMOTE is
    # accepted and changes nothing (there are no remote mailboxes).
    for item in token:
        name = atom(item, "a LIST selection option")
        if name == "SUBSCRIBED":
            options.subscribed = True
        elif name == "SPECIAL-USE":
            options.special_use = True
        elif name == "RECURSIVEMATCH":
            options.recursive = True
        elif name != "REMOTE":
            raise Bad(f"unknown LIST selection option {name}")
    if options.recursive and not options.criteria():
        raise Bad("RECURSIVEMATCH needs another selection option")


def _returns(token, options):
    # RFC 9051 6.3.9.2, RFC 5819 (STATUS), RFC 6154 (SPECIAL-USE). CHILDREN and
    # SPECIAL-USE attributes are given whether asked or not.
    items = iter(token)
    for item in items:
        name = atom(item, "a LIST return option")
        if name == "SUBSCRIBED":
            options.return_subscribed = True
        elif name == "STATUS":
            options.status = status_items(next(items, None))
        elif name not in ("CHILDREN", "SPECIAL-USE"):
            raise Bad(f"unknown LIST return option {name}")


def status_items(token):
    """STATUS's items (RFC 9051 6.3.11), once each, in the order asked."""
    if not isinstance(token, list) or not token:
        raise Bad("expected a list of status items")
    wanted = []
    for item in token:
        name = atom(item, "a status item")
        if name not in STATUS_ITEMS:
            raise Bad(f"unknown status item {name}")
        if name not in wanted:
            wanted.append(name)
    return tuple(wanted)
