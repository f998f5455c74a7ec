"""imapd's NOTIFY (RFC 5465) on real sockets: one session asks to hear of events,
another session (or a delivery from another process) makes them, and the first
reads the notifications without sending a command. One server for the module,
each test with mailboxes of its own."""

import itertools

import pytest

import rawsession
from mailsuite.core import maildir, notify

USER = "notify@example.test"
PASSWORD = "secret-password"
NUMBERS = itertools.count()


def message(n):
    return f"From: a@example.org\r\nSubject: note {n}\r\n\r\nBody {n}.\r\n"


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    yield from rawsession.serve_imapd(tmp_path_factory.mktemp("notify") / "inst",
                                      USER, PASSWORD)


class Raw(rawsession.Raw):
    def __init__(self, instance):
        super().__init__(instance, USER, PASSWORD)

    def append(self, mailbox, n, flags=""):
        data = message(n)
        return self.ok(f"APPEND {mailbox} {flags}{{{len(data)}+}}\r\n{data}")


def uidvalidity(raw, mailbox):
    untagged = raw.ok(f"STATUS {mailbox} (UIDVALIDITY)")
    return int(untagged[0].rsplit(b" ", 1)[1].rstrip(b")"))


def test_other_mailboxes_are_told_as_status(inst):
    watcher, other = Raw(inst), Raw(inst)
    other.ok("CREATE news")
    other.ok("CREATE quiet")
    validity = uidvalidity(other, "news")
    watcher.ok("NOTIFY SET (mailboxes news (MessageNew MessageExpunge))")
    # An unwatched mailbox changes first: the watched one's STATUS comes alone.
    other.append("quiet", 1)
    other.append("news", 1)
    assert watcher.line() == \
        b'* STATUS "news" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY %d)' % validity
    other.ok("SELECT news")
    other.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")
    assert watcher.line() == \
        b'* STATUS "news" (MESSAGES 0 UIDNEXT 2 UIDVALIDITY %d)' % validity
    # NOTIFY NONE: no more notifications, the watch is gone at once.
    watcher.ok("NOTIFY NONE")
    other.append("news", 2)
    assert watcher.ok("NOOP") == []
    watcher.close()
    other.close()


def test_a_new_notify_set_replaces_the_last_one(inst):
    watcher, other, leaving = Raw(inst), Raw(inst), Raw(inst)
    other.ok("CREATE again")
    for _ in range(50):
        watcher.ok("NOTIFY SET (mailboxes again (MessageNew MessageExpunge))")
    # A session that goes away with its watch set leaves nothing behind.
    leaving.ok("NOTIFY SET (personal (MessageNew MessageExpunge))")
    leaving.close()
    other.append("again", 1)
    other.append("again", 2)
    # One watch, so each change is told once (a second watch would tell 1 twice).
    first = watcher.line()
    assert first.startswith(b'* STATUS "again" (MESSAGES ')
    if b"(MESSAGES 1 " in first:
        assert watcher.line().startswith(b'* STATUS "again" (MESSAGES 2 ')
    assert other.ok("NOOP") == []
    watcher.close()
    other.close()


def test_initial_status_and_flag_changes(inst):
    watcher, other = Raw(inst), Raw(inst)
    other.ok("CREATE flags")
    other.append("flags", 1)
    validity = uidvalidity(other, "flags")
    # RFC 5465 3.1: STATUS asks for where each mailbox stands now.
    untagged = watcher.ok("NOTIFY SET STATUS (subtree flags (FlagChange))")
    assert untagged == [b'* STATUS "flags" (UIDVALIDITY %d HIGHESTMODSEQ 2)' % validity]
    other.ok("SELECT flags")
    other.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    assert watcher.line() == \
        b'* STATUS "flags" (UIDVALIDITY %d HIGHESTMODSEQ 3)' % validity
    watcher.close()
    other.close()


def test_the_selected_mailbox_is_told_between_commands(inst):
    watcher, other = Raw(inst), Raw(inst)
    other.ok("CREATE live")
    watcher.ok("SELECT live")
    watcher.ok("NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange))")
    other.append("live", 1, "(\\Seen) ")
    assert watcher.line() == b"* 1 EXISTS"
    assert watcher.line() == b"* 1 RECENT"
    # RFC 5465 5.2: MessageNew's FETCH items come with the new message.
    assert watcher.line() == b"* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))"
    other.ok("SELECT live")
    other.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert watcher.line() == b"* 1 FETCH (UID 1 FLAGS (\\Deleted \\Seen \\Recent))"
    other.ok("EXPUNGE")
    assert watcher.line() == b"* 1 EXPUNGE"
    watcher.close()
    other.close()


def test_selected_delayed_holds_expunges_for_a_command(inst):
    watcher, other = Raw(inst), Raw(inst)
    other.ok("CREATE delayed")
    other.ok("CREATE later")
    other.append("delayed", 1)
    watcher.ok("SELECT delayed")
    watcher.ok("NOTIFY SET (selected-delayed (MessageNew MessageExpunge)) "
               "(mailboxes later (MessageNew MessageExpunge))")
    other.ok("SELECT delayed")
    other.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")
    other.append("later", 1)
    # RFC 5465 5.1: no EXPUNGE between commands; the other mailbox's news comes.
    assert watcher.line().startswith(b'* STATUS "later" (MESSAGES 1 ')
    assert watcher.ok("NOOP") == [b"* 1 EXPUNGE"]
    watcher.close()
    other.close()


def test_delivery_by_another_process_reaches_a_session_in_idle(inst):
    watcher = Raw(inst)
    watcher.ok("CREATE elsewhere")
    watcher.ok("SELECT elsewhere")
    watcher.ok("NOTIFY SET (inboxes (MessageNew MessageExpunge))")
    count = int(watcher.ok("STATUS INBOX (MESSAGES)")[0].rsplit(b" ", 1)[1][:-1])
    watcher.sock.sendall(b"i IDLE\r\n")
    assert watcher.line().startswith(b"+ ")
    with maildir.Store(inst.maildir(USER)) as store:
        store.deliver(maildir.unique_base(), message(1).encode())
    notify.send(inst.runtime / "imapd.notify", USER.encode())
    assert watcher.line().startswith(b'* STATUS "INBOX" (MESSAGES %d ' % (count + 1))
    watcher.sock.sendall(b"DONE\r\n")
    assert watcher.line().startswith(b"i OK")
    watcher.close()


def test_mailbox_names_and_subscriptions(inst):
    watcher, other = Raw(inst), Raw(inst)
    watcher.ok("NOTIFY SET (personal (MailboxName SubscriptionChange))")
    other.ok("CREATE fresh")
    assert watcher.line() == b'* LIST () "/" "fresh"'
    other.ok("RENAME fresh renamed")
    # RFC 5465 5.5, RFC 5258 3.5: a rename names the old name.
    assert watcher.line() == b'* LIST () "/" "renamed" ("OLDNAME" ("fresh"))'
    other.ok("SUBSCRIBE renamed")
    assert watcher.line() == b'* LIST (\\Subscribed) "/" "renamed"'
    other.ok("UNSUBSCRIBE renamed")
    assert watcher.line() == b'* LIST () "/" "renamed"'
    other.ok("DELETE renamed")
    assert watcher.line() == b'* LIST (\\NonExistent) "/" "renamed"'
    watcher.close()
    other.close()


@pytest.mark.parametrize("command, answer", [
    ("NOTIFY SET (personal (AnnotationChange))",
     b"NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName "
     b"SubscriptionChange)]"),
    ("NOTIFY SET (personal (MessageNew) extra)", b"BAD"),
    ("NOTIFY SET (nowhere (MessageNew))", b"BAD"),
    ("NOTIFY SET", b"BAD"),
    ("NOTIFY SET STATUS", b"BAD"),
    ("NOTIFY", b"BAD"),
    ("NOTIFY SET (mailboxes () (MessageNew))", b"BAD"),
    ("NOTIFY SET (personal (MessageNew (UID)))", b"BAD"),
    ("NOTIFY SET (selected (MessageNew (BODY[])))", b"BAD"),
    ("NOTIFY SET (selected (FlagChange)) (selected-delayed (FlagChange))", b"BAD"),
])
def test_malformed_notify_is_refused_and_changes_nothing(inst, command, answer):
    watcher, other = Raw(inst), Raw(inst)
    name = f"kept{next(NUMBERS)}"
    other.ok(f"CREATE {name}")
    watcher.ok(f"NOTIFY SET (mailboxes {name} (MessageNew MessageExpunge))")
    tagged, _ = watcher.command(command)
    assert tagged.split(b" ", 1)[1].startswith(answer), tagged
    # The watch set before is still in force.
    other.append(name, 1)
    assert watcher.line().startswith(b'* STATUS "%s" (MESSAGES 1 ' % name.encode())
    watcher.close()
    other.close()
