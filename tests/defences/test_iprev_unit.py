"""iprev and the HELO verdict against a DNS that answers from a table, and the
gate's exemptions: the cases a real DNS server cannot easily be made to give."""

import asyncio

import pytest

from mailsuite.core.config import from_dict
from mailsuite.smtp.defences import dnsbl
from mailsuite.smtp.defences.rspamd import strip_verdicts
from mailsuite.smtp.defences.gate import Gate
from mailsuite.smtp.defences.iprev import Iprev, helo_verdict, iprev
from mailsuite.smtp.dnsquery import DnsTempError


class TableDns:
    def __init__(self, records, failing=()):
        self.records, self.failing = records, set(failing)

    async def query(self, name, rdtype):
        if (name, rdtype) in self.failing:
            raise DnsTempError(f"{name} {rdtype}: SERVFAIL")
        return self.records.get((name, rdtype), [])


PTR = "9.2.0.192.in-addr.arpa."


def run(coro):
    return asyncio.run(coro)


def test_iprev_temperror_when_the_ptr_lookup_fails():
    dns = TableDns({}, failing=[(PTR, "PTR")])
    assert run(iprev(dns, "192.0.2.9")) == Iprev("temperror", None)


def test_iprev_skips_names_that_are_no_host_names():
    dns = TableDns({(PTR, "PTR"): ["bad\\032name.test.", "ok.test."],
                    ("ok.test", "A"): ["192.0.2.9"]})
    assert run(iprev(dns, "192.0.2.9")) == Iprev("pass", "ok.test")


def test_iprev_of_an_ipv6_client():
    ip = "2001:db8::9"
    ptr = "9.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
    dns = TableDns({(ptr, "PTR"): ["six.test."], ("six.test", "AAAA"): [ip]})
    assert run(iprev(dns, ip)) == Iprev("pass", "six.test")
    assert Iprev("pass", "six.test").authres(ip) == f"iprev=pass policy.iprev={ip}"


@pytest.mark.parametrize("helo, verdict", [
    ("[192.0.2.9]", "address literal matches"),
    ("[192.0.2.10]", "address literal mismatch"),
    ("[nonsense]", "invalid address literal"),
    ("MX.Example.Test.", "claims to be this server"),
    ("under_score.test", "not a fully qualified host name"),
    ("down.test", "lookup failed (temperror)"),
    ("none.test", "does not resolve"),
])
def test_helo_verdict(helo, verdict):
    dns = TableDns({}, failing=[("down.test", "A")])
    got = run(helo_verdict(dns, helo, "192.0.2.9", Iprev("fail", None),
                           {"mx.example.test"}))
    assert got == verdict


def settings(**smtpd):
    return from_dict({"smtpd": smtpd}).smtpd


def test_gate_exempts_configured_networks_and_their_mapped_addresses():
    gate = Gate(settings(exempt_networks=["192.0.2.0/24"]))
    assert gate.exempt("192.0.2.7") and gate.exempt("::ffff:192.0.2.7")
    assert not gate.exempt("198.51.100.1")
    assert gate.exempt("127.0.0.1") is False
    assert Gate(settings()).exempt("::1")


def test_dnsbl_query_names():
    # RFC 5782 2.1 and 2.4.
    assert dnsbl.query_name("192.0.2.99", "bl.test") == "99.2.0.192.bl.test."
    assert dnsbl.query_name("::ffff:192.0.2.99", "bl.test.") == "99.2.0.192.bl.test."
    assert dnsbl.query_name("2001:db8:1:2:3:4:567:89ab", "bl.test") == (
        "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test.")


def test_dnsbl_a_failed_zone_lists_nobody():
    dns = TableDns({("2.0.0.127.good.test.", "A"): ["127.0.0.2"]},
                   failing=[("2.0.0.127.down.test.", "A")])
    result = run(dnsbl.look_up(dns, "127.0.0.2", ["good.test", "down.test"]))
    assert result == dnsbl.Result([dnsbl.Listing("good.test", "127.0.0.2")],
                                  ["down.test"])


@pytest.mark.parametrize("head, kept", [
    (b"X-Spam: No\r\nSubject: a\r\nx-spam-score :\r\n 1\r\n\r\nX-Spam: body",
     b"Subject: a\r\n\r\nX-Spam: body"),
    (b"X-Spam-Action: no action\r\n\r\nbody", b"\r\nbody"),
    (b"X-Spamassassin: kept\r\nX-Spam-Flag: kept\r\n\r\n",
     b"X-Spamassassin: kept\r\nX-Spam-Flag: kept\r\n\r\n"),
    (b"X-Spam: cut at the header limit", b"X-Spam: cut at the header limit"),
])
def test_strip_verdicts(head, kept):
    assert strip_verdicts(head) == kept
