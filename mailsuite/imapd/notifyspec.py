"""The NOTIFY command's grammar (RFC 5465 8): what a session asks to hear of.

    notify    = "NOTIFY" SP ("SET" [SP "STATUS"] 1*(SP event-group) / "NONE")
    event-group = "(" filter-mailboxes SP events ")"
    events    = "(" event *(SP event) ")" / "NONE"

parse_notify() turns the arguments into Filters, or None for NONE. Mailbox names
are canonical folder names (the caller's `canonical`), a mailbox that does not
exist being no error (RFC 5465 6). An event the server does not serve is refused
with NO [BADEVENT (the ones it does)] (RFC 5465 3.1); anything malformed is BAD.
"""

from dataclasses import dataclass

from ..core.mailnames import DELIMITER
from .errors import Bad, No
from .fetch import parse_items
from .parser import Atom

SUPPORTED = ("MessageNew", "MessageExpunge", "FlagChange", "MailboxName",
             "SubscriptionChange")
_EVENTS = {name.upper(): name for name in SUPPORTED}
MESSAGE_EVENTS = frozenset({"MessageNew", "MessageExpunge", "FlagChange"})
SELECTED_KINDS = ("SELECTED", "SELECTED-DELAYED")
NAMED_KINDS = ("SUBTREE", "MAILBOXES")
OTHER_KINDS = ("INBOXES", "PERSONAL", "SUBSCRIBED") + NAMED_KINDS
MAX_NAMES = 1000        # mailboxes named in one NOTIFY, in all


@dataclass(frozen=True)
class Filter:
    kind: str                   # one of SELECTED_KINDS or OTHER_KINDS
    events: frozenset
    names: tuple = ()           # SUBTREE's and MAILBOXES' folders
    fetch: tuple = ()           # MessageNew's FETCH items (selected filters)

    @property
    def selected(self):
        return self.kind in SELECTED_KINDS

    @property
    def delayed(self):
        return self.kind == "SELECTED-DELAYED"

    def covers(self, name, subscribed):
        """Whether this (non-selected) filter is about folder `name`; `subscribed`
        the subscribed names, or None to count `name` as one."""
        if self.kind == "PERSONAL":
            return True
        if self.kind == "INBOXES":
            # Mail is delivered to INBOX only (no rules file other folders).
            return name == "INBOX"
        if self.kind == "SUBSCRIBED":
            return subscribed is None or name in subscribed
        if self.kind == "SUBTREE":
            return any(name == n or name.startswith(n + DELIMITER) for n in self.names)
        return name in self.names


def parse_notify(args, canonical):
    """(STATUS asked, [Filter]) for SET, (False, None) for NONE."""
    verb = args[0].upper() if args and isinstance(args[0], Atom) else None
    if verb == "NONE" and len(args) == 1:
        return False, None
    if verb != "SET":
        raise Bad("expected NOTIFY SET or NOTIFY NONE")
    groups = args[1:]
    status = bool(groups) and isinstance(groups[0], Atom) \
        and groups[0].upper() == "STATUS"
    groups = groups[1:] if status else groups
    if not groups:
        raise Bad("expected event groups: (filter (events))")
    filters = [_filter(group, canonical) for group in groups]
    if sum(f.selected for f in filters) > 1:
        raise Bad("the selected mailbox is named in one event group only")
    if sum(len(f.names) for f in filters) > MAX_NAMES:
        raise No(f"NOTIFY names at most {MAX_NAMES} mailboxes")
    return status, filters


def _filter(group, canonical):
    if not isinstance(group, list) or len(group) < 2 or not isinstance(group[0], Atom):
        raise Bad("an event group is (filter (events))")
    kind = group[0].upper()
    if kind not in SELECTED_KINDS + OTHER_KINDS:
        raise Bad("unknown NOTIFY filter")
    rest = group[1:]
    names = ()
    if kind in NAMED_KINDS:
        listed = rest[0] if isinstance(rest[0], list) else [rest[0]]
        if not listed:
            raise Bad(f"{kind} names one or more mailboxes")
        names = tuple(canonical(token) for token in listed)
        rest = rest[1:]
    if len(rest) != 1:
        raise Bad("an event group ends with its events: (events) or NONE")
    events, items = _events(rest[0])
    if items and kind not in SELECTED_KINDS:
        # RFC 5465 5.2: FETCH items only for the selected mailbox.
        raise Bad("MessageNew takes FETCH items only for the selected mailbox")
    return Filter(kind, events, names, items)


def _events(token):
    """(events, MessageNew's FETCH items) of `(events)` or NONE."""
    if isinstance(token, Atom) and token.upper() == "NONE":
        return frozenset(), ()
    if not isinstance(token, list) or not token:
        raise Bad("expected (events) or NONE")
    events, items, unknown = set(), (), []
    for at, event in enumerate(token):
        if isinstance(event, list):
            if at == 0 or token[at - 1].upper() != "MESSAGENEW":
                raise Bad("FETCH items follow MessageNew only")
            items = _fetch_items(event)
            continue
        if not isinstance(event, Atom):
            raise Bad("an event is an atom")
        name = _EVENTS.get(event.upper())
        if name is None:
            unknown.append(event)
        events.add(name)
    if unknown:
        # RFC 5465 3.1: NO [BADEVENT (the events the server supports)].
        raise No("unsupported event", f"BADEVENT ({' '.join(SUPPORTED)})")
    return frozenset(events), items


def _fetch_items(token):
    items = tuple(parse_items(token))
    # A notification does not read the message on the client's behalf.
    if any(item.seen for item in items):
        raise Bad("MessageNew takes BODY.PEEK and BINARY.PEEK, not BODY or BINARY")
    return items
