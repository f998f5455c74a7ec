"""The account's quota at SMTP time: deliverd fails a message that does not fit
(5.2.2, recorded as failed), and smtpd refuses a recipient whose mailbox is full
already (552 5.2.2 at RCPT), so that the sender keeps the message."""

import smtplib

from harness import wait_for
from mailsuite.core.maildir import Store
from mailsuite.core.spool import Spool

USER = "demo@example.test"
OTHER = "bob@example.test"
QUOTA = 4096


def message(size):
    head = f"From: <a@sender.test>\r\nTo: <{USER}>\r\nSubject: {size}\r\n\r\n"
    return head.encode() + b"x" * (size - len(head) - 2) + b"\r\n"


def usage(inst, address=USER):
    with Store(inst.maildir(address)) as store:
        return store.usage()


def queue_size(inst):
    with Spool(inst.state) as spool:
        return spool.count()


def send(inst, recipients, data):
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30) as client:
        client.ehlo("client.test")
        client.mail("a@sender.test")
        refused = {}
        for rcpt in recipients:
            code, text = client.rcpt(rcpt)
            if code != 250:
                refused[rcpt] = (code, text)
        if len(refused) < len(recipients):
            assert client.data(data)[0] == 250
        return refused


def test_a_message_that_does_not_fit_fails_and_a_full_mailbox_is_refused(mx):
    mx.add_user(OTHER)
    mx.mailctl("alias", "add", "both@example.test", USER, OTHER)
    mx.mailctl("user", "quota", USER, str(QUOTA))
    assert send(mx, [USER], message(3000)) == {}
    assert wait_for(lambda: usage(mx) >= 3000)
    received = usage(mx) - 3000             # the Received field smtpd adds
    # Not full yet, so accepted; but it does not fit: deliverd fails it, 5.2.2.
    assert send(mx, [USER], message(2000)) == {}
    assert wait_for(lambda: "status=bounced (5.2.2 mailbox full)" in mx.log("deliverd"))
    assert wait_for(lambda: queue_size(mx) == 0)
    assert len(mx.inbox_files()) == 1
    # A message that fits still goes in, and fills the mailbox.
    assert send(mx, [USER], message(QUOTA - usage(mx) - received)) == {}
    assert wait_for(lambda: usage(mx) == QUOTA)
    refused = send(mx, [USER, OTHER], message(500))
    assert list(refused) == [USER]
    code, text = refused[USER]
    assert (code, text[:5]) == (552, b"5.2.2")
    # An alias with a mailbox that has room is still taken.
    assert send(mx, ["both@example.test"], message(500)) == {}
    assert wait_for(lambda: len(mx.inbox_files(OTHER)) == 2)
    assert usage(mx) == QUOTA
    mx.mailctl("user", "quota", USER, "none")
    assert send(mx, [USER], message(500)) == {}
    assert wait_for(lambda: usage(mx) > QUOTA)
    assert "Traceback" not in mx.log("smtpd") + mx.log("deliverd")
