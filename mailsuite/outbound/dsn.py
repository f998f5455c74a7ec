"""Delivery status notifications (RFC 3464): the message that tells a sender
that mail to some recipients failed, or is late, or (when the sender asked
with NOTIFY=SUCCESS) was delivered or relayed, built here and queued like any
other message, from the null sender.

    Report(address, status, text, remote=None, orcpt=None)
    wanted(rcpt, kind) -> bool             # RFC 3461 NOTIFY; kind in KINDS
    build(kind, entry, reports, hostname, source, retry_until=None) -> bytes
    queue_notice(spool, kind, entry, reports, hostname, retry_until=None) -> qid | None

Failure policy: a message from the null sender never gets a notice (RFC 5321
6.1 and 4.5.5: notices about notices would loop), so the notices themselves,
sent from the null sender, never cause one. A notice that cannot be queued
raises (SpoolError): the caller leaves the recipients as they were, to be
tried again.
"""

import email.utils
import secrets
import time
from typing import NamedTuple

from ..core import metrics
from ..core.spool import new_qid

FULL_MAX = 10 << 20       # a larger original is returned as its header only
HEADER_MAX = 1 << 20      # the most of a header section returned
KINDS = ("failed", "delayed", "delivered", "relayed")   # RFC 3464 2.3.3's Action
_NOTIFY = {"failed": "FAILURE", "delayed": "DELAY", "delivered": "SUCCESS",
           "relayed": "SUCCESS"}
_SUBJECTS = {"failed": "Undelivered Mail Returned to Sender",
             "delayed": "Delayed Mail (still being retried)",
             "delivered": "Successful Mail Delivery Report",
             "relayed": "Successful Mail Delivery Report"}
_LEADS = {
    "failed": "Your message could not be delivered to one or more recipients. "
              "It is attached below.",
    "delayed": "Your message could not be delivered yet to one or more "
               "recipients. Delivery will be tried again; you do not need to "
               "send it again.",
    "delivered": "Your message was delivered to the mailboxes of the "
                 "recipients listed below.",
    "relayed": "Your message was handed to the mail servers of the recipients "
               "listed below. Their servers do not report deliveries: you will "
               "hear nothing more unless they fail to deliver it.",
}


class Report(NamedTuple):
    address: str
    status: str               # RFC 3463
    text: str                 # the reply or the reason, one line
    remote: str | None = None   # "name[address]" of the host that answered
    orcpt: str | None = None    # RFC 3461 ORCPT, "rfc822;addr"


def wanted(rcpt, kind):
    """Whether the sender asked to hear of this (RFC 3461 4.1: with no NOTIFY,
    failures and delays are reported, successes not; NEVER reports nothing)."""
    notify = tuple(getattr(rcpt, "notify", ()) or ())
    if not notify:
        return kind in ("failed", "delayed")
    return _NOTIFY[kind] in notify


def queue_notice(spool, kind, entry, reports, hostname, retry_until=None):
    """Queue a notice about `reports` to the sender of `entry`; None when none
    is due (a null sender, nothing to report). Blocks: a worker thread's work."""
    if not entry.sender or not reports:
        return None
    try:
        source = spool.open(entry.qid)
    except KeyError:
        source = None
    try:
        data = build(kind, entry, reports, hostname, source, retry_until)
    finally:
        if source is not None:
            source.close()
    qid = new_qid()
    spool.enqueue_sync(qid, "", [entry.sender], data)
    if kind == "failed":
        metrics.bounced()
    return qid


def build(kind, entry, reports, hostname, source, retry_until=None):
    """The notice, as bytes with CRLF line ends. `source` is the original
    message (a binary file) or None when it is gone."""
    boundary = f"{entry.qid}.{secrets.token_hex(8)}/{hostname}"
    now = time.time()
    original, returned = _original(entry, source, kind)
    parts = [
        _headers(kind, entry, hostname, boundary, now),
        f"--{boundary}\r\nContent-Description: Notification\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n".encode()
        + _human(kind, reports, hostname, returned).encode("utf-8"),
        f"--{boundary}\r\nContent-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n\r\n".encode()
        + _machine(kind, entry, reports, hostname, now, retry_until),
    ]
    if original is not None:
        parts.append(f"--{boundary}\r\n".encode() + original)
    return b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode()


def _headers(kind, entry, hostname, boundary, now):
    return (f"From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n"
            f"To: <{entry.sender}>\r\n"
            f"Subject: {_SUBJECTS[kind]}\r\n"
            f"Date: {email.utils.formatdate(now)}\r\n"
            f"Message-ID: <{entry.qid}.{kind}.{int(now)}@{hostname}>\r\n"
            # RFC 3834 5: an automatic message, not to be answered automatically.
            "Auto-Submitted: auto-replied\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status;\r\n"
            f"\tboundary=\"{boundary}\"\r\n\r\n"
            "This is a MIME-encapsulated message.\r\n").encode()


def _human(kind, reports, hostname, returned):
    lines = [f"This is the mail system at host {hostname}.\r\n\r\n"
             f"{_LEADS[kind]}\r\n\r\n"]
    for report in reports:
        lines.append(f"<{report.address}>: {_one_line(report.text or report.status)}"
                     "\r\n")
    if returned == "headers":
        lines.append("\r\nOnly the header of your message is returned.\r\n")
    return "".join(lines)


def _machine(kind, entry, reports, hostname, now, retry_until):
    """RFC 3464 2.2 (per-message fields) and 2.3 (per-recipient fields)."""
    fields = [f"Reporting-MTA: dns; {hostname}"]
    envid = getattr(entry, "envid", None)
    if envid:
        fields.append(f"Original-Envelope-Id: {_one_line(envid)}")
    fields.append(f"Arrival-Date: {email.utils.formatdate(entry.arrival)}")
    blocks = ["\r\n".join(fields)]
    for report in reports:
        blocks.append("\r\n".join(_recipient_fields(kind, report, now, retry_until)))
    return ("\r\n\r\n".join(blocks) + "\r\n").encode("utf-8")


def _recipient_fields(kind, report, now, retry_until):
    fields = []
    if report.orcpt:
        kind_of, _, address = report.orcpt.partition(";")
        fields.append(f"Original-Recipient: {kind_of}; {_one_line(address)}")
    fields += [f"Final-Recipient: rfc822; {report.address}",
               f"Action: {kind}",
               f"Status: {report.status}"]
    if report.remote:
        fields.append(f"Remote-MTA: dns; {report.remote.partition('[')[0]}")
    # RFC 3464 2.3.6: an SMTP reply is an "smtp" diagnostic; any other reason
    # is our own kind; a delivery into a mailbox needs none.
    is_reply = report.text[:3].isdigit()
    if report.text:
        fields.append(f"Diagnostic-Code: {'smtp' if is_reply else 'X-mailsuite'}; "
                      f"{_one_line(report.text)}")
    fields.append(f"Last-Attempt-Date: {email.utils.formatdate(now)}")
    if kind == "delayed" and retry_until:
        fields.append(f"Will-Retry-Until: {email.utils.formatdate(retry_until)}")
    return fields


def _original(entry, source, kind):
    """The third part: the whole message (RET=FULL or no RET, up to FULL_MAX)
    in a failure or delay notice, else its header section (RFC 3462:
    text/rfc822-headers; RFC 3461 4.3: RET asks for the content of failure
    notices). Returns (part, "message" | "headers" | None)."""
    if source is None:
        return None, None
    # RFC 8689 5: a REQUIRETLS message's notice carries its header section
    # only, whatever RET says: the notice may travel without TLS.
    full = kind in ("failed", "delayed") and getattr(entry, "ret", None) != "HDRS" \
        and entry.size <= FULL_MAX and not getattr(entry, "requiretls", False)
    if full:
        return (b"Content-Type: message/rfc822\r\n"
                b"Content-Description: Undelivered Message\r\n\r\n"
                + source.read(), "message")
    head = source.read(HEADER_MAX)
    head = head.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    what = b"Undelivered Message" if kind in ("failed", "delayed") else b"Message"
    return (b"Content-Type: text/rfc822-headers\r\n"
            b"Content-Description: " + what + b" Headers\r\n\r\n" + head, "headers")


def _one_line(text):
    return " ".join(str(text).split())[:900]
