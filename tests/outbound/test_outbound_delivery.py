"""deliverd sending to the world: MX records served by Knot, a Postfix as the
remote MX, retries, expiry and the notices the sender gets back (RFC 3464),
read with the email package."""

import email
import email.policy

import pytest

from conftest import SENDER
from harness import wait_for
from mailsuite.core import notify
from mailsuite.core.spool import Spool, new_qid

WAIT = 30             # seconds for an event that needs a retry or two


def message(marker, to="someone@remote.test", body="body"):
    return (f"From: <{SENDER}>\r\nTo: <{to}>\r\nMessage-ID: <{marker}@example.test>\r\n"
            f"Subject: {marker}\r\n\r\n{body}\r\n").encode()


def send(inst, recipients, marker, sender=SENDER, data=None):
    """Queue a message as submitd would, and wake deliverd."""
    qid = new_qid()
    with Spool(inst.state) as spool:
        spool.enqueue_sync(qid, sender, list(recipients),
                           data or message(marker, recipients[0]))
    if (inst.runtime / "deliverd.wakeup").exists():
        notify.send(inst.runtime / "deliverd.wakeup")
    return qid


def queue_size(inst):
    with Spool(inst.state) as spool:
        return spool.count()


def arrived(mx, address, marker):
    return [m for m in mx.messages(address) if f"Subject: {marker}\n".encode() in m]


def notices(inst):
    """The notices in the sender's INBOX, parsed."""
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in inst.inbox_files(SENDER)]


def report(notice):
    """(per-message fields, [per-recipient fields]) of a notice's
    message/delivery-status part."""
    assert notice.get_content_type() == "multipart/report"
    assert notice.get_param("report-type") == "delivery-status"
    status = [p for p in notice.iter_parts()
              if p.get_content_type() == "message/delivery-status"]
    assert len(status) == 1
    blocks = status[0].get_payload()
    return blocks[0], blocks[1:]


def test_message_goes_to_the_mx_over_tls(sender_instance, remote_mx):
    sender_instance.start("deliverd")
    send(sender_instance, ["first@remote.test"], "first")
    assert wait_for(lambda: arrived(remote_mx, "first@remote.test", "first"), WAIT)
    got = arrived(remote_mx, "first@remote.test", "first")[0]
    assert b"with ESMTPS" in got and b"using TLS" in got      # STARTTLS taken
    assert wait_for(lambda: "to=<first@remote.test>, relay=mx.remote.test[127.0.0.2]"
                    in sender_instance.log("deliverd"), WAIT)
    assert "status=sent (250 2.0.0 Ok" in sender_instance.log("deliverd")
    assert queue_size(sender_instance) == 0


def test_domain_without_mx_gets_mail_at_its_address(sender_instance, remote_mx):
    sender_instance.start("deliverd")
    send(sender_instance, ["someone@a-only.test"], "a-only")
    assert wait_for(lambda: arrived(remote_mx, "someone@a-only.test", "a-only"), WAIT)
    assert wait_for(lambda: "relay=a-only.test[127.0.0.2]"
                    in sender_instance.log("deliverd"), WAIT)


def test_next_mx_takes_the_mail_when_the_first_is_down(sender_instance, remote_mx):
    sender_instance.start("deliverd")
    send(sender_instance, ["someone@second.test"], "second")
    assert wait_for(lambda: arrived(remote_mx, "someone@second.test", "second"), WAIT)
    assert wait_for(lambda: "to=<someone@second.test>, relay=mx.remote.test[127.0.0.2]"
                    in sender_instance.log("deliverd"), WAIT)
    assert "connect to dead.second.test[127.0.0.3]" in sender_instance.log("deliverd")


def test_several_messages_to_one_domain_share_a_session(sender_instance, remote_mx):
    sender_instance.add_config("max_per_destination = 1\n")
    markers = [f"batch-{i}" for i in range(5)]
    for marker in markers:
        send(sender_instance, [f"{marker}@remote.test"], marker)
    sender_instance.start("deliverd")
    assert wait_for(lambda: all(arrived(remote_mx, f"{m}@remote.test", m)
                                for m in markers), WAIT)
    assert wait_for(lambda: " mail=5 rcpt=5 " in remote_mx.log(), WAIT), \
        remote_mx.log()[-2000:]


def test_deferred_by_the_peer_then_accepted(sender_instance, remote_mx):
    remote_mx.answer({"later@remote.test": "450 4.2.0 come back later"})
    sender_instance.start("deliverd")
    send(sender_instance, ["later@remote.test"], "later")
    assert wait_for(lambda: "status=deferred (450 4.2.0" in
                    sender_instance.log("deliverd"), WAIT)
    assert queue_size(sender_instance) == 1
    remote_mx.answer({})
    assert wait_for(lambda: arrived(remote_mx, "later@remote.test", "later"), WAIT)
    assert wait_for(lambda: queue_size(sender_instance) == 0, WAIT)
    assert len(arrived(remote_mx, "later@remote.test", "later")) == 1
    assert notices(sender_instance) == []


def test_refused_recipient_is_reported_to_the_sender(sender_instance, remote_mx):
    remote_mx.answer({"nobody@remote.test": "550 5.1.1 no such user here"})
    sender_instance.start("deliverd")
    qid = send(sender_instance, ["nobody@remote.test", "taker@remote.test"], "refused")
    assert wait_for(lambda: notices(sender_instance), WAIT)
    assert arrived(remote_mx, "taker@remote.test", "refused")
    [notice] = notices(sender_instance)
    assert notice["From"].addresses[0].username == "MAILER-DAEMON"
    assert notice["Auto-Submitted"] == "auto-replied"
    fields, recipients = report(notice)
    assert fields["Reporting-MTA"] == "dns; mail.example.test"
    assert fields["Arrival-Date"]
    [rcpt] = recipients          # only the recipient that failed
    assert rcpt["Final-Recipient"] == "rfc822; nobody@remote.test"
    assert rcpt["Action"] == "failed"
    assert rcpt["Status"] == "5.1.1"
    assert rcpt["Remote-MTA"] == "dns; mx.remote.test"
    assert rcpt["Diagnostic-Code"].startswith("smtp; 550 5.1.1")
    [original] = [p for p in notice.iter_parts()
                  if p.get_content_type() == "message/rfc822"]
    assert original.get_payload()[0]["Subject"] == "refused"
    assert f"{qid}: sender non-delivery notification" in sender_instance.log("deliverd")
    assert wait_for(lambda: queue_size(sender_instance) == 0, WAIT)


def test_null_sender_gets_no_notice(sender_instance, remote_mx):
    remote_mx.answer({"nobody@remote.test": "550 5.1.1 no such user here"})
    sender_instance.start("deliverd")
    qid = send(sender_instance, ["nobody@remote.test"], "null", sender="")
    assert wait_for(lambda: f"{qid}: removed" in sender_instance.log("deliverd"), WAIT)
    log = sender_instance.log("deliverd")
    assert f"{qid}: to=<nobody@remote.test>" in log and "status=bounced" in log
    assert "notification" not in log
    assert notices(sender_instance) == []


def test_null_mx_fails_at_once(sender_instance, remote_mx):
    sender_instance.start("deliverd")
    send(sender_instance, ["someone@nullmx.test"], "nullmx")
    assert wait_for(lambda: notices(sender_instance), WAIT)
    _, [rcpt] = report(notices(sender_instance)[0])
    assert rcpt["Status"] == "5.1.10"
    assert rcpt["Action"] == "failed"
    assert "Remote-MTA" not in rcpt


def test_expired_message_is_returned(sender_instance, remote_mx):
    remote_mx.answer({"expire@remote.test": "451 4.3.0 not now"})
    sender_instance.add_config("[deliverd]\nretry_max = 2\n")
    sender_instance.start("deliverd")
    send(sender_instance, ["expire@remote.test"], "expire")
    assert wait_for(lambda: notices(sender_instance), WAIT)
    _, [rcpt] = report(notices(sender_instance)[0])
    assert rcpt["Action"] == "failed"
    assert rcpt["Status"] == "4.4.7"
    assert "expired" in rcpt["Diagnostic-Code"]
    assert "451 4.3.0 <expire@remote.test>" in rcpt["Diagnostic-Code"]
    assert wait_for(lambda: queue_size(sender_instance) == 0, WAIT)


def test_delay_notice_once_then_delivery(sender_instance, remote_mx):
    remote_mx.answer({"slow@remote.test": "450 4.2.0 come back later"})
    sender_instance.add_config("delay_warning = 1\n")
    sender_instance.start("deliverd")
    send(sender_instance, ["slow@remote.test"], "slow")
    assert wait_for(lambda: notices(sender_instance), WAIT)
    [notice] = notices(sender_instance)
    assert notice["Subject"].startswith("Delayed Mail")
    _, [rcpt] = report(notice)
    assert rcpt["Action"] == "delayed"
    assert rcpt["Status"] == "4.2.0"
    assert rcpt["Will-Retry-Until"]
    # Later attempts send no second notice.
    log = sender_instance.log
    assert wait_for(lambda: log("deliverd").count("to=<slow@remote.test>") >= 3, WAIT)
    remote_mx.answer({})
    assert wait_for(lambda: arrived(remote_mx, "slow@remote.test", "slow"), WAIT)
    assert wait_for(lambda: queue_size(sender_instance) == 0, WAIT)
    assert len(notices(sender_instance)) == 1


@pytest.mark.parametrize("recipient, status", [
    ("nobody@nohost.test", "5.4.4"),
    ("someone@[127.0.0.3]", "4.4.1"),
])
def test_unreachable_destinations(sender_instance, remote_mx, recipient, status):
    sender_instance.start("deliverd")
    send(sender_instance, [recipient], "unreachable")
    assert wait_for(lambda: f"to=<{recipient}>" in sender_instance.log("deliverd"),
                    WAIT)
    assert f"dsn={status}" in sender_instance.log("deliverd")
