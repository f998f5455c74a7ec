"""NOTIFY's grammar and filters (imapd.notifyspec, RFC 5465 8) and what its STATUS
notifications hold (imapd.notify)."""

import asyncio
from types import SimpleNamespace

import pytest

from mailsuite.imapd import notify
from mailsuite.imapd.errors import Bad, No
from mailsuite.imapd.notifyspec import Filter, parse_notify
from mailsuite.imapd.parser import astring, tokenize


def parse(text):
    return parse_notify(tokenize(text), astring)


def test_set_none_and_status():
    assert parse(b"NONE") == (False, None)
    status, filters = parse(b"SET STATUS (selected (MessageNew (UID FLAGS) "
                            b"MessageExpunge)) (subtree (Lists Work) (FlagChange)) "
                            b"(inboxes NONE)")
    assert status is True
    selected, subtree, inboxes = filters
    assert selected.selected and not selected.delayed
    assert selected.events == {"MessageNew", "MessageExpunge"}
    assert [item.label for item in selected.fetch] == ["UID", "FLAGS"]
    assert subtree.names == ("Lists", "Work") and subtree.events == {"FlagChange"}
    assert inboxes.events == frozenset()
    # Events and filters in any case; one mailbox needs no parentheses.
    _, (one,) = parse(b"set (MAILBOXES Sent (messagenew mailboxname))")
    assert one.kind == "MAILBOXES" and one.names == ("Sent",)
    assert one.events == {"MessageNew", "MailboxName"}


@pytest.mark.parametrize("text", [
    b"", b"SET", b"SET STATUS", b"CLEAR", b"NONE (personal (MessageNew))",
    b"SET personal", b"SET (personal)", b"SET (personal MessageNew)",
    b"SET (elsewhere (MessageNew))", b"SET (mailboxes (MessageNew))",
    b"SET (mailboxes () (MessageNew))", b"SET (subtree a b (MessageNew))",
    b"SET (personal ((MessageNew)))", b"SET (personal ((UID) MessageNew))",
    b"SET (inboxes (MessageNew (UID)))", b"SET (personal ())",
    b"SET (selected (MessageNew (BODY[TEXT])))",
    b"SET (selected (FlagChange)) (selected-delayed (FlagChange))",
])
def test_malformed_is_bad(text):
    with pytest.raises(Bad):
        parse(text)


def test_events_not_served_are_named_in_badevent():
    # RFC 5465 3.1: NO [BADEVENT (the events the server supports)].
    with pytest.raises(No) as refused:
        parse(b"SET (personal (MessageNew AnnotationChange))")
    assert refused.value.code == ("BADEVENT (MessageNew MessageExpunge FlagChange "
                                  "MailboxName SubscriptionChange)")


def test_what_each_filter_covers():
    events = frozenset({"MessageNew"})
    assert Filter("PERSONAL", events).covers("a/b", set())
    assert Filter("INBOXES", events).covers("INBOX", set())
    assert not Filter("INBOXES", events).covers("Lists", set())
    assert Filter("SUBSCRIBED", events).covers("Lists", {"Lists"})
    assert not Filter("SUBSCRIBED", events).covers("Work", {"Lists"})
    assert Filter("SUBSCRIBED", events).covers("Work", None)
    subtree = Filter("SUBTREE", events, ("Lists",))
    assert subtree.covers("Lists", set()) and subtree.covers("Lists/python", set())
    assert not subtree.covers("Listserv", set())
    named = Filter("MAILBOXES", events, ("Lists",))
    assert named.covers("Lists", set()) and not named.covers("Lists/python", set())


def test_what_a_status_notification_holds():
    # RFC 5465 5.2-5.4, as Dovecot answers them.
    assert notify.status_items({"MessageExpunge"}) == ["MESSAGES"]
    assert notify.status_items({"MessageNew"}) == ["MESSAGES", "UIDNEXT", "UIDVALIDITY"]
    assert notify.status_items({"FlagChange"}) == ["UIDVALIDITY", "HIGHESTMODSEQ"]
    assert notify.status_items({"MessageNew", "MessageExpunge", "FlagChange"}) == \
        ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "HIGHESTMODSEQ"]


def test_a_watch_joins_the_events_of_the_filters_that_cover_a_folder():
    watch = notify.Watch([Filter("SELECTED", frozenset({"FlagChange"})),
                          Filter("PERSONAL", frozenset({"MailboxName"})),
                          Filter("MAILBOXES", frozenset({"MessageNew"}), ("Lists",))])
    assert watch.selected.kind == "SELECTED"
    assert watch.events("Lists", set()) == {"MailboxName", "MessageNew"}
    assert watch.events("Work", set()) == {"MailboxName"}


def test_too_many_pending_changes_end_the_watch():
    lines, unregistered = [], []
    watch = notify.Watch([Filter("PERSONAL", frozenset({"MailboxName"}))])
    watch.pending = [("create", f"f{n}", None) for n in range(notify.MAX_PENDING + 1)]
    hub = SimpleNamespace(unregister=lambda user, event: unregistered.append(user))
    s = SimpleNamespace(watch=watch, user="u@example.test", untagged=lines.append,
                        ctx=SimpleNamespace(hub=hub))
    asyncio.run(notify.report(s))
    # RFC 5465 5.8: told once, and no more notifications.
    assert lines == ["OK [NOTIFICATIONOVERFLOW] too many changes to tell"]
    assert s.watch is None and unregistered == ["u@example.test"]
