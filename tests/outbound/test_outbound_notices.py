"""Notices from deliverd, read with the email package. Success (RFC 3461
NOTIFY=SUCCESS): a peer without DSN gets the message and the sender a notice
from us, Action: relayed (RFC 3461 5.2.2); a peer with DSN gets the NOTIFY and
reports the delivery itself, and we send nothing; a local delivery is
reported as Action: delivered. Failure: a peer without 8BITMIME or SMTPUTF8
that a message needs."""

import email
import email.policy

import pytest

from harness import wait_for
from mailsuite.core.spool import Recipient
from test_outbound_delivery import (WAIT, arrived, message, notices, queue_size,
                                    report, send)


def asking(address):
    return Recipient(address, notify=("SUCCESS", "FAILURE"),
                     orcpt=f"rfc822;{address}")


def test_peer_without_dsn_relayed_notice(sender_instance, remote_mx):
    remote_mx.configure(smtpd_discard_ehlo_keywords="dsn")
    try:
        sender_instance.start("deliverd")
        send(sender_instance, [asking("relayed@remote.test")], "relayed",
             data=message("relayed", "relayed@remote.test"))
        assert wait_for(lambda: notices(sender_instance), WAIT), \
            sender_instance.log("deliverd")[-2000:]
    finally:
        remote_mx.configure(smtpd_discard_ehlo_keywords="")
    assert arrived(remote_mx, "relayed@remote.test", "relayed")
    [notice] = notices(sender_instance)
    assert notice["Subject"] == "Successful Mail Delivery Report"
    fields, [rcpt] = report(notice)
    assert fields["Reporting-MTA"] == "dns; mail.example.test"
    assert rcpt["Final-Recipient"] == "rfc822; relayed@remote.test"
    assert rcpt["Original-Recipient"] == "rfc822; relayed@remote.test"
    assert (rcpt["Action"], rcpt["Status"]) == ("relayed", "2.0.0")
    assert rcpt["Remote-MTA"] == "dns; mx.remote.test"
    assert rcpt["Diagnostic-Code"].startswith("smtp; 250 2.0.0")
    assert wait_for(lambda: queue_size(sender_instance) == 0, WAIT)


def test_peer_with_dsn_is_asked_and_we_send_nothing(sender_instance, remote_mx):
    remote_sender = "dsn-asker@remote.test"        # Postfix delivers its notice
    sender_instance.start("deliverd")
    qid = send(sender_instance, [asking("passed@remote.test")], "passed",
               sender=remote_sender, data=message("passed", "passed@remote.test"))
    assert wait_for(lambda: remote_mx.messages(remote_sender), WAIT)
    _, [rcpt] = report(notice_of(remote_mx.messages(remote_sender)[0]))
    assert rcpt["Action"] == "delivered"
    assert rcpt["Original-Recipient"] == "rfc822;passed@remote.test"
    assert wait_for(lambda: f"{qid}: removed" in sender_instance.log("deliverd"), WAIT)
    assert "delivery status notification" not in sender_instance.log("deliverd")
    assert queue_size(sender_instance) == 0


def test_local_delivery_delivered_notice(sender_instance):
    sender_instance.add_user("local@example.test")
    sender_instance.start("deliverd")
    send(sender_instance, [asking("local@example.test")], "local",
         data=message("local", "local@example.test"))
    assert wait_for(lambda: notices(sender_instance), WAIT)
    assert len(sender_instance.inbox_files("local@example.test")) == 1
    [notice] = notices(sender_instance)
    _, [rcpt] = report(notice)
    assert rcpt["Final-Recipient"] == "rfc822; local@example.test"
    assert (rcpt["Action"], rcpt["Status"]) == ("delivered", "2.0.0")
    assert "Remote-MTA" not in rcpt


def notice_of(data):
    return email.message_from_bytes(data, policy=email.policy.default)


@pytest.mark.parametrize("hidden, recipient, body, status, reason", [
    ("8bitmime", "eight@remote.test", "caf\u00e9", "5.6.3", "no 8BITMIME"),
    ("smtputf8", "j\u00f6rg@remote.test", "ascii", "5.6.7", "no SMTPUTF8"),
])
def test_peer_lacking_a_capability_returns_the_message(sender_instance, remote_mx,
                                                       hidden, recipient, body,
                                                       status, reason):
    """RFC 6152 3, RFC 6531 3.2: not sent, not converted; a clear bounce."""
    remote_mx.configure(smtpd_discard_ehlo_keywords=hidden)
    try:
        sender_instance.start("deliverd")
        send(sender_instance, [recipient], "lacking",
             data=message("lacking", "someone@remote.test", body))
        assert wait_for(lambda: notices(sender_instance), WAIT), \
            sender_instance.log("deliverd")[-2000:]
    finally:
        remote_mx.configure(smtpd_discard_ehlo_keywords="")
    [notice] = notices(sender_instance)
    _, [rcpt] = report(notice)
    assert (rcpt["Action"], rcpt["Status"]) == ("failed", status)
    assert rcpt["Final-Recipient"] == f"rfc822; {recipient}"
    assert reason in rcpt["Diagnostic-Code"]
    assert not [m for m in remote_mx.all_messages() if b"Subject: lacking" in m]
    assert wait_for(lambda: queue_size(sender_instance) == 0, WAIT)
