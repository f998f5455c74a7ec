"""pop3d and imapd serve the same mailboxes and must agree on what exists: what
POP3 deletes is expunged for IMAP, a UIDL is the IMAP UID and never changes, one
POP3 session per mailbox while IMAP sessions stay open, and the POP3 session's
view of the mailbox is the one it had at login."""

import imaplib
import poplib
import re
import signal

import pytest

from harness import wait_for
from mailsuite.core import maildir
from mailsuite.pop3.lock import MailboxLock
from protocol.popclient import RawPop

USER = "demo@example.test"
PASSWORD = "secret-password"


def message(n):
    return f"From: <sender@example.org>\r\nSubject: message {n}\r\n\r\nbody {n}\r\n".encode()


def deliver(instance, *numbers):
    with maildir.Store(instance.maildir(USER)) as store:
        return [store.deliver(maildir.unique_base(), message(n)) for n in numbers]


@pytest.fixture
def both(instance):
    """imapd and pop3d on the same instance, three messages in the INBOX."""
    instance.add_user(USER, PASSWORD)
    deliver(instance, 1, 2, 3)
    instance.start("pop3d", "imapd")
    yield instance
    for program in ("pop3d", "imapd"):
        assert "Traceback" not in instance.log(program)


def pop(instance):
    box = poplib.POP3("127.0.0.1", instance.port("pop3"), timeout=10)
    box.user(USER)
    box.pass_(PASSWORD)
    return box


def imap(instance):
    client = imaplib.IMAP4("127.0.0.1", instance.port("imap"), timeout=10)
    client.login(USER, PASSWORD)
    client.select("INBOX")
    return client


def imap_uids(client):
    _, data = client.uid("FETCH", "1:*", "(UID)")
    return [int(re.search(rb"UID (\d+)", item).group(1)) for item in data if item]


def uidls(box):
    return [line.split()[1].decode() for line in box.uidl()[1]]


def refused_in_use(instance):
    box = poplib.POP3("127.0.0.1", instance.port("pop3"), timeout=10)
    box.user(USER)
    with pytest.raises(poplib.error_proto) as info:
        box.pass_(PASSWORD)
    box.close()
    return info.value.args[0]


def test_uidl_is_the_imap_uid_and_uidvalidity(both):
    client = imap(both)
    uidvalidity = int(client.response("UIDVALIDITY")[1][0])
    box = pop(both)
    assert uidls(box) == [f"{uid:08X}{uidvalidity:08X}" for uid in imap_uids(client)]


def test_uidl_stays_after_an_imap_flag_change_and_across_sessions(both):
    box = pop(both)
    before = uidls(box)
    box.quit()
    client = imap(both)
    # The file moves from new/ to cur/ and takes a new name: the UIDL stays.
    client.uid("STORE", "1:*", "+FLAGS", "(\\Seen \\Flagged)")
    client.logout()
    box = pop(both)
    assert uidls(box) == before
    box.quit()
    assert uidls(pop(both)) == before


def test_delete_over_pop3_is_gone_over_imap(both):
    client = imap(both)
    uids = imap_uids(client)
    box = pop(both)
    box.dele(2)
    # Marked only: IMAP sees nothing until the POP3 session's UPDATE state.
    client.noop()
    assert imap_uids(client) == uids
    box.quit()
    client.noop()
    assert client.response("EXPUNGE") == ("EXPUNGE", [b"2"])
    assert imap_uids(client) == [uids[0], uids[2]]
    assert len(both.inbox_files(USER)) == 2
    client.logout()
    assert imap_uids(imap(both)) == [uids[0], uids[2]]


def test_imap_expunge_during_a_pop3_session(both):
    box = pop(both)
    client = imap(both)
    client.store("1", "+FLAGS", "(\\Deleted)")
    client.expunge()
    # The POP3 session keeps its numbers; the message is no longer there to send.
    assert box.stat()[0] == 3
    with pytest.raises(poplib.error_proto, match="message 1 was removed by another"):
        box.retr(1)
    assert box.retr(2)[1][1] == b"Subject: message 2"
    box.dele(1)
    box.dele(3)
    assert box.quit().startswith(b"+OK")
    assert len(imap_uids(imap(both))) == 1
    assert pop(both).list()[1] == [b"1 %d" % len(message(2))]


def test_mail_arriving_during_a_session_waits_for_the_next(both):
    box = pop(both)
    deliver(both, 4)
    assert box.stat()[0] == 3
    assert len(box.uidl()[1]) == 3
    box.quit()
    box = pop(both)
    assert box.stat()[0] == 4
    assert box.top(4, 0)[1][1] == b"Subject: message 4"


def test_one_pop3_session_per_mailbox_while_imap_stays(both):
    client = imap(both)
    box = pop(both)
    assert refused_in_use(both) == \
        b"-ERR [IN-USE] another POP3 session has this mailbox"
    client.noop()
    box.quit()
    second = pop(both)
    assert second.stat()[0] == 3
    client.logout()


def test_the_lock_holds_across_processes(both):
    lock = MailboxLock.acquire(both.maildir(USER))
    try:
        assert refused_in_use(both).startswith(b"-ERR [IN-USE]")
    finally:
        lock.release()
    assert pop(both).stat()[0] == 3


def test_a_killed_pop3d_leaves_no_lock(both):
    conn = RawPop(both.port("pop3"))
    assert conn.login(USER, PASSWORD).startswith(b"+OK")
    assert conn.command("DELE 1").startswith(b"+OK")
    both.kill("pop3d", signal.SIGKILL)
    assert conn.rest() == b""
    both.start("pop3d")
    # The kernel dropped the flock with the process: no IN-USE, nothing deleted.
    assert pop(both).stat()[0] == 3


def test_a_client_that_hangs_up_frees_the_mailbox(both):
    conn = RawPop(both.port("pop3"))
    assert conn.login(USER, PASSWORD).startswith(b"+OK")
    conn.close()
    assert wait_for(lambda: "reason=disconnected" in both.log("pop3d"))
    assert pop(both).stat()[0] == 3
