"""The Authentication-Results field (mailauth.authresults): its form, values a
client chose that cannot add results, and the removal of fields in our name."""

import authres
import authres.arc
import authres.dmarc

from mailsuite.smtp.mailauth import authresults
from mailsuite.smtp.mailauth.arc import ArcResult
from mailsuite.smtp.mailauth.checks import Verdict
from mailsuite.smtp.mailauth.dkimverify import DkimResult
from mailsuite.smtp.mailauth.dmarc import DmarcResult
from mailsuite.smtp.mailauth.spf import SpfResult

ID = "mx.example.test"
CONTEXT = authres.FeatureContext(authres.dmarc, authres.arc)


def verdict(mailfrom="alice@bank.test", dkim_domain="bank.test", reason=""):
    return Verdict(
        "192.0.2.1", mailfrom, SpfResult("pass", "mailfrom", "bank.test"),
        SpfResult("none", "helo", "mx.bank.test"),
        [DkimResult("fail", dkim_domain, "s1", "rsa-sha256", reason)],
        ArcResult("none"), DmarcResult("pass", "bank.test", "reject"))


def parsed(field):
    assert field.endswith(b"\r\n") and b"\n\t" in field
    text = field.decode().replace("\r\n\t", " ").rstrip("\r\n")
    return CONTEXT.parse(text)


def test_one_field_with_every_method():
    header = parsed(authresults.field(ID, verdict()))
    assert header.authserv_id == ID
    assert [(r.method, r.result) for r in header.results] == [
        ("spf", "pass"), ("spf", "none"), ("dkim", "fail"), ("dmarc", "pass"),
        ("arc", "none")]
    assert str(header.results[0]).endswith("smtp.mailfrom=alice@bank.test")
    assert "header.d=bank.test header.a=rsa-sha256 header.s=s1" in str(header.results[2])
    assert str(header.results[3]) == "dmarc=pass header.from=bank.test policy.dmarc=reject"


def test_client_values_cannot_add_results():
    field = authresults.field(ID, verdict(
        mailfrom='"x; dkim=pass header.d=bank.test"@evil.test',
        dkim_domain="a;dmarc=pass", reason="bad\r\nX-Injected: 1; dkim=pass"))
    header = parsed(field)
    assert [r.method for r in header.results].count("dkim") == 1
    assert b"\r\nX-Injected" not in field
    assert "smtp.mailfrom=bank.test" in str(header.results[0])


def test_fields_claiming_our_id_are_removed():
    head = (b"Received: from a\r\nAuthentication-Results: MX.example.test;\r\n"
            b"\tdkim=pass header.d=bank.test\r\nSubject: s\r\n"
            b"Authentication-Results: (comment) \"mx.example.test\"; spf=pass\r\n"
            b"Authentication-Results: other.test; spf=fail\r\n"
            b"Authentication-Results: mx.example.test.evil; spf=fail\r\n"
            b"\r\nAuthentication-Results: mx.example.test; in the body\r\n")
    assert authresults.strip_ours(head, ID) == (
        b"Received: from a\r\nSubject: s\r\n"
        b"Authentication-Results: other.test; spf=fail\r\n"
        b"Authentication-Results: mx.example.test.evil; spf=fail\r\n"
        b"\r\nAuthentication-Results: mx.example.test; in the body\r\n")


def test_a_header_of_only_our_fields_leaves_an_empty_header():
    head = b"Authentication-Results: mx.example.test; none\r\n\r\nbody\r\n"
    assert authresults.strip_ours(head, ID) == b"\r\nbody\r\n"


def test_a_head_without_its_end_is_kept_whole():
    head = b"Authentication-Results: mx.example.test; none\r\nX: " + b"y" * 100
    assert authresults.strip_ours(head, ID) == head
