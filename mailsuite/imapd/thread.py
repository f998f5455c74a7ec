"""THREAD and UID THREAD (RFC 5256 4): ORDEREDSUBJECT and REFERENCES.

The messages are those the search keys match; what threading looks at comes from
the index's columns (core.mailcolumns): message-ids, references (In-Reply-To where
References is missing), the base subject and whether it was a reply, and the sent
date. The algorithms are pure functions over `Message` records, written without
recursion (a thread may be thousands of replies deep), so they can be tested alone.
Ties in date go by mailbox order.

    * THREAD (2)(3 6 (4 23)(44 7 96))        # RFC 5256 4 thread-list
"""

import array
import collections
import itertools
import re
from typing import NamedTuple

from ..core import msgkeys
from .errors import Bad
from .searchkeys import Reader, check_charset, parse_keys
from .searchrun import Run

ALGORITHMS = ("ORDEREDSUBJECT", "REFERENCES")


class Message(NamedTuple):
    number: int             # as the answer shows it: sequence number or UID
    order: int              # place in the mailbox
    date: int               # sent date, seconds
    message_id: bytes       # b"" if none
    references: list        # msg-ids (bytes), oldest first
    subject: bytes          # base subject, as SORT compares it
    reply: bool             # the subject was a reply or a forward


class Node:
    """A container of the REFERENCES algorithm; a dummy has no message."""
    __slots__ = ("message", "parent", "children")

    def __init__(self, message=None):
        self.message = message
        self.parent = None
        self.children = []


async def thread(s, cmd):
    # RFC 5256 4: THREAD algorithm charset search-keys.
    if len(cmd.args) < 3:
        raise Bad("expected a threading algorithm, a charset and search keys")
    algorithm = cmd.args[0].upper() if isinstance(cmd.args[0], str) else None
    if algorithm not in ALGORITHMS:
        raise Bad("unknown threading algorithm")
    check_charset(cmd.args[1])
    key = parse_keys(Reader(cmd.args[2:]))
    run = Run(s)
    view = run.view
    found = await run.matching(key)
    uids = await run.call(_uids_of, view, found)
    where = (str(s.store.root), view.folder.name, view.uidvalidity, algorithm)
    answer = kept(where, uids)
    if answer is None:
        columns = [await run.column(code) for code in _COLUMNS]
        answer = await run.call(threads, algorithm, messages(found, *columns))
        keep(where, uids, answer)
    text = await run.call(answer.text, uids if cmd.uid else found)
    s.write(b"* THREAD " + text.encode("ascii") + b"\r\n")


_COLUMNS = (msgkeys.DATE, msgkeys.MESSAGE_ID, msgkeys.REFERENCES, msgkeys.BASE_SUBJECT)


class Answer(NamedTuple):
    """A thread-list whose numbers are to be filled in: the text between them,
    and the place (among the threaded messages) of the message at each."""
    between: list
    places: list

    @classmethod
    def of(cls, text):
        pieces = _NUMBER.split(text)
        return cls(pieces, [int(place) for place in pieces[1::2]])

    def text(self, messages):
        """The thread-list with the messages shown by UID (`messages` is the
        UIDs as array bytes) or by sequence number (`messages` is their view
        indexes); in a worker thread."""
        if isinstance(messages, bytes):
            shown = array.array("I")
            shown.frombytes(messages)
        else:
            shown = [i + 1 for i in messages]
        pieces = list(self.between)
        pieces[1::2] = map(str, map(shown.__getitem__, self.places))
        return "".join(pieces)


# The last answers by folder. A thread-list depends only on which messages it
# threads (what threading reads of a message never changes), so the THREAD a
# client sends on each refresh of an unchanged folder is answered without
# threading again. Read and written on the event loop only.
KEEP = 16
_kept = collections.OrderedDict()   # (root, folder, uidvalidity, algorithm) -> (uids, Answer)


def kept(where, uids):
    entry = _kept.get(where)
    if entry is None or entry[0] != uids:
        return None
    _kept.move_to_end(where)
    return entry[1]


def keep(where, uids, answer):
    _kept[where] = (uids, answer)
    _kept.move_to_end(where)
    while len(_kept) > KEEP:
        _kept.popitem(last=False)


def _uids_of(view, found):
    return array.array("I", [view.uids[i] for i in found]).tobytes()


def messages(found, dates, ids, refs, subjects):
    """The Message records of the view indexes `found` (numbered by their place
    among them), from the columns' values by view index (a generator: it runs
    in the worker thread)."""
    sent_time, subject_key, is_reply = (msgkeys.sent_time, msgkeys.subject_key,
                                        msgkeys.is_reply)
    for place, i in enumerate(found):
        subject = subjects[i]
        yield Message(place, i, sent_time(dates[i]), ids[i], refs[i].split(),
                      subject_key(subject), is_reply(subject))


def threads(algorithm, messages):
    """The Answer for some messages (in a worker thread)."""
    build = ordered_subject if algorithm == "ORDEREDSUBJECT" else references
    return Answer.of(render(build(list(messages))))


_NUMBER = re.compile(r"(\d+)")


# ORDEREDSUBJECT


def ordered_subject(messages):
    """RFC 5256 4: by base subject then sent date; each subject one thread, its
    first message the root and the others its children; threads by the date of
    their first message."""
    by_subject = sorted(messages, key=lambda m: (m.subject, m.date, m.order))
    roots = []
    for _, group in itertools.groupby(by_subject, key=lambda m: m.subject):
        group = list(group)
        root = Node(group[0])
        root.children = [Node(m) for m in group[1:]]
        roots.append(root)
    roots.sort(key=lambda node: (node.message.date, node.message.order))
    return roots


# REFERENCES


def references(messages):
    """RFC 5256 4, REFERENCES (the steps are numbered as there)."""
    table = {}
    for message in messages:
        _link(table, message)
    roots = [node for node in table.values() if node.parent is None]
    roots = _prune(roots)
    roots = _group_by_subject(roots)
    for node in _bottom_up(roots):
        node.children.sort(key=_date_key)
    roots.sort(key=_date_key)
    return roots


def _link(table, message):
    """(1) A-C: the message's container, its references linked in order, and its
    parent the last of them; no link that would make a loop."""
    mid = message.message_id
    node = table.get(mid) if mid else None
    if node is None or node.message is not None:
        # (1)(A): a duplicate or missing Message-ID gets one of its own.
        node = Node()
        table[mid if mid and mid not in table else b"\0%d" % message.order] = node
    node.message = message
    previous = None
    for ref in message.references:
        current = table.get(ref)
        if current is None:
            current = table[ref] = Node()
        if previous is not None and current.parent is None and current is not previous \
                and not _ancestor(current, previous):
            _adopt(previous, current)
        previous = current
    # (1)(C): the last reference is the parent, whatever was presumed before.
    if node.parent is not None:
        node.parent.children.remove(node)
        node.parent = None
    if previous is not None and previous is not node and not _ancestor(node, previous):
        _adopt(previous, node)


def _ancestor(node, of):
    """True if `node` is `of` or one of its ancestors."""
    if not node.children:
        return node is of       # the usual case, without walking up
    while of is not None:
        if of is node:
            return True
        of = of.parent
    return False


def _adopt(parent, child):
    child.parent = parent
    parent.children.append(child)


def _bottom_up(roots):
    """Every node below the roots and the roots, children before parents."""
    order, stack = [], list(roots)
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(node.children)
    return reversed(order)


def _prune(roots):
    """(4) Dummies go: one without children is dropped, one with children gives
    them to its parent; at the top only a single child is promoted."""
    for node in _bottom_up(roots):
        node.children = _pruned(node, node.children, top=False)
    return _pruned(None, roots, top=True)


def _pruned(parent, nodes, top):
    out = []
    for node in nodes:
        if node.message is None and (not top or len(node.children) < 2):
            for child in node.children:
                child.parent = parent
            out.extend(node.children)
        else:
            out.append(node)
    return out


def _subject(node):
    """The thread's subject and whether it was a reply: a dummy's first child's."""
    message = node.message or node.children[0].message
    return message.subject, message.reply


def _group_by_subject(roots):
    """(5) Threads whose roots share a base subject are gathered."""
    table = {}
    for root in roots:
        subject, reply = _subject(root)
        held = table.get(subject)
        if subject and (held is None or (root.message is None and held.message)
                        or (_subject(held)[1] and not reply)):
            table[subject] = root
    # Where each root stands; a root that a new dummy takes in gives it its place.
    out = {id(root): root for root in roots}
    for root in roots:
        subject, reply = _subject(root)
        held = table.get(subject)
        if not subject or held is root:
            continue
        del out[id(root)]
        if held.message is None and root.message is None:
            for child in root.children:
                _adopt(held, child)
        elif held.message is None or (reply and not _subject(held)[1]):
            _adopt(held, root)
        else:
            dummy = Node()
            for node in (held, root):
                _adopt(dummy, node)
            out[id(held)] = dummy
            table[subject] = dummy
    return list(out.values())


def _date_key(node):
    """(6) Siblings by sent date, then mailbox order; a dummy by its first child."""
    message = node.message or node.children[0].message
    return message.date, message.order


# the answer


def render(roots):
    """RFC 5256 4 thread-list: `(1 2)(3 (4)(5))`, a dummy root as `((6)(7))`."""
    out = []
    append = out.append
    stack = []
    for root in reversed(roots):
        stack += [")", root, "("]
    while stack:
        node = stack.pop()
        if node.__class__ is str:
            append(node)
            continue
        # A chain of only children is written inline: "1 2 3".
        while node.message is not None and len(node.children) == 1:
            append(f"{node.message.number} ")
            node = node.children[0]
        if node.message is not None:
            append(str(node.message.number))
            if node.children:
                append(" ")
        for child in reversed(node.children):
            stack += [")", child, "("]
    return "".join(out)
