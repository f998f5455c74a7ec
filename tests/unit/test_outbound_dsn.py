"""outbound.dsn: the notices of RFC 3464, parsed back with the email package."""

import email
import email.policy
import io

from mailsuite.core.spool import Entry, Recipient
from mailsuite.outbound import dsn
from mailsuite.outbound.message import Rcpt

ORIGINAL = b"From: <a@example.test>\r\nSubject: the original\r\n\r\nthe body\r\n"


def entry(**fields):
    e = Entry("HONA0000000000", "a@example.test", [Recipient("x@remote.test")],
              1700000000.0, len(ORIGINAL))
    for key, value in fields.items():
        setattr(e, key, value)
    return e


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def status_part(notice):
    [part] = [p for p in notice.iter_parts()
              if p.get_content_type() == "message/delivery-status"]
    return part.get_payload()


def test_failure_notice_fields():
    reports = [dsn.Report("x@remote.test", "5.1.1", "550 5.1.1 no such user",
                          "mx.remote.test[192.0.2.1]", "rfc822;alias@example.test")]
    data = dsn.build("failed", entry(envid="env-1"), reports, "mail.example.test",
                     io.BytesIO(ORIGINAL))
    assert b"\n" not in data.replace(b"\r\n", b"")      # CRLF line ends only
    notice = parse(data)
    assert notice["To"].addresses[0].addr_spec == "a@example.test"
    assert notice["Subject"] == "Undelivered Mail Returned to Sender"
    assert notice["Auto-Submitted"] == "auto-replied"
    fields, rcpt = status_part(notice)
    assert fields["Reporting-MTA"] == "dns; mail.example.test"
    assert fields["Original-Envelope-Id"] == "env-1"
    assert "2023" in fields["Arrival-Date"]
    assert rcpt["Original-Recipient"] == "rfc822; alias@example.test"
    assert rcpt["Final-Recipient"] == "rfc822; x@remote.test"
    assert (rcpt["Action"], rcpt["Status"]) == ("failed", "5.1.1")
    assert rcpt["Remote-MTA"] == "dns; mx.remote.test"
    assert rcpt["Diagnostic-Code"] == "smtp; 550 5.1.1 no such user"
    [original] = [p for p in notice.iter_parts()
                  if p.get_content_type() == "message/rfc822"]
    assert original.get_payload()[0]["Subject"] == "the original"
    assert "<x@remote.test>: 550 5.1.1 no such user" in \
        next(notice.iter_parts()).get_content()


def test_ret_hdrs_returns_the_header_only():
    reports = [dsn.Report("x@remote.test", "5.1.10", "null MX")]
    notice = parse(dsn.build("failed", entry(ret="HDRS"), reports, "mail.example.test",
                             io.BytesIO(ORIGINAL)))
    [headers] = [p for p in notice.iter_parts()
                 if p.get_content_type() == "text/rfc822-headers"]
    assert b"Subject: the original" in headers.get_payload(decode=True)
    assert b"the body" not in notice.as_bytes()
    _, rcpt = status_part(notice)
    assert rcpt["Diagnostic-Code"] == "X-mailsuite; null MX"
    assert "Remote-MTA" not in rcpt


def test_delay_notice_says_until_when():
    reports = [dsn.Report("x@remote.test", "4.2.0", "450 4.2.0 later")]
    notice = parse(dsn.build("delayed", entry(), reports, "mail.example.test",
                             io.BytesIO(ORIGINAL), retry_until=1700432000.0))
    assert notice["Subject"].startswith("Delayed Mail")
    _, rcpt = status_part(notice)
    assert rcpt["Action"] == "delayed"
    assert rcpt["Will-Retry-Until"]


def test_notify_decides_who_is_reported():
    assert dsn.wanted(Rcpt("x@remote.test"), "failed")
    assert dsn.wanted(Rcpt("x@remote.test"), "delayed")
    assert not dsn.wanted(Rcpt("x@remote.test", ("NEVER",)), "failed")
    assert dsn.wanted(Rcpt("x@remote.test", ("FAILURE",)), "failed")
    assert not dsn.wanted(Rcpt("x@remote.test", ("FAILURE",)), "delayed")
    assert not dsn.wanted(Rcpt("x@remote.test", ("SUCCESS",)), "failed")


def test_hostile_reply_text_stays_on_one_line():
    reports = [dsn.Report("x@remote.test", "5.0.0", "550 a\r\nInjected: yes\r\n\r\nb")]
    notice = parse(dsn.build("failed", entry(), reports, "mail.example.test", None))
    _, rcpt = status_part(notice)
    assert "Injected" not in rcpt
    assert rcpt["Diagnostic-Code"] == "smtp; 550 a Injected: yes b"


def test_success_is_reported_only_when_asked():
    # RFC 3461 4.1: without NOTIFY, no success notice.
    assert not dsn.wanted(Rcpt("x@remote.test"), "relayed")
    assert not dsn.wanted(Rcpt("x@remote.test"), "delivered")
    assert not dsn.wanted(Rcpt("x@remote.test", ("FAILURE", "DELAY")), "relayed")
    assert dsn.wanted(Rcpt("x@remote.test", ("SUCCESS",)), "relayed")
    assert dsn.wanted(Rcpt("x@remote.test", ("SUCCESS",)), "delivered")
    assert not dsn.wanted(Rcpt("x@remote.test", ("NEVER",)), "delivered")


def test_relayed_notice_fields():
    reports = [dsn.Report("x@remote.test", "2.0.0", "250 2.0.0 Ok: queued as ABC",
                          "mx.remote.test[192.0.2.1]")]
    notice = parse(dsn.build("relayed", entry(), reports, "mail.example.test",
                             io.BytesIO(ORIGINAL)))
    assert notice["Subject"] == "Successful Mail Delivery Report"
    _, rcpt = status_part(notice)
    assert (rcpt["Action"], rcpt["Status"]) == ("relayed", "2.0.0")
    assert rcpt["Final-Recipient"] == "rfc822; x@remote.test"
    assert rcpt["Remote-MTA"] == "dns; mx.remote.test"
    assert rcpt["Diagnostic-Code"] == "smtp; 250 2.0.0 Ok: queued as ABC"
    # A success returns the header only, whatever RET says (RFC 3461 4.3).
    types = [p.get_content_type() for p in notice.iter_parts()]
    assert types[-1] == "text/rfc822-headers"
    assert "message/rfc822" not in types


def test_delivered_notice_fields():
    reports = [dsn.Report("x@example.test", "2.0.0", "", None,
                          "rfc822;alias@example.test")]
    notice = parse(dsn.build("delivered", entry(envid="env-2"), reports,
                             "mail.example.test", io.BytesIO(ORIGINAL)))
    fields, rcpt = status_part(notice)
    assert fields["Original-Envelope-Id"] == "env-2"
    assert (rcpt["Action"], rcpt["Status"]) == ("delivered", "2.0.0")
    assert rcpt["Original-Recipient"] == "rfc822; alias@example.test"
    assert "Remote-MTA" not in rcpt and "Diagnostic-Code" not in rcpt
