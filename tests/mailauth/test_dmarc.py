"""DMARC (mailauth.dmarc, orgdomain): the author domain, policy discovery,
alignment, p/sp/pct, and the results when lookups fail."""

import asyncio

import pytest

from fakedns import FakeDns
from mailsuite.smtp.dnsquery import DnsTempError
from mailsuite.smtp.mailauth import dmarc, orgdomain
from mailsuite.smtp.mailauth.dkimverify import DkimResult
from mailsuite.smtp.mailauth.spf import SpfResult

ZONE = FakeDns({
    ("_dmarc.bank.test", "TXT"): ["v=DMARC1; p=reject; sp=quarantine; adkim=s"],
    ("_dmarc.example.co.uk", "TXT"): ["v=DMARC1; p=quarantine; pct=50"],
    ("_dmarc.norua.test", "TXT"): ["v=DMARC1; p=bogus"],
    ("_dmarc.rua.test", "TXT"): ["v=DMARC1; p=bogus; rua=mailto:r@rua.test"],
    ("_dmarc.two.test", "TXT"): ["v=DMARC1; p=reject", "v=DMARC1; p=none"],
    ("_dmarc.other.test", "TXT"): ["v=spf1 -all"],
}, failing={"_dmarc.down.test"})


def policy(domain):
    return asyncio.run(dmarc.find_policy(ZONE, domain))


@pytest.mark.parametrize("domain, organizational", [
    ("mail.example.co.uk", "example.co.uk"), ("a.b.example.com", "example.com"),
    ("example.com", "example.com"), ("x.y.github.io", "y.github.io"),
    ("www.city.kawasaki.jp", "city.kawasaki.jp"), ("a.b.bank.test", "bank.test")])
def test_organizational_domains_from_the_public_suffix_list(domain, organizational):
    assert orgdomain.organizational(domain) == organizational


def test_the_policy_of_the_domain_itself():
    assert policy("bank.test") == dmarc.Policy("bank.test", "reject", "quarantine",
                                               100, "s", "r")


def test_a_subdomain_falls_back_to_its_organizational_domain():
    assert policy("mail.shop.example.co.uk") == dmarc.Policy(
        "example.co.uk", "quarantine", "quarantine", 50, "r", "r")


def test_no_record_or_several_records_is_no_policy():
    assert policy("nowhere.test") is None
    assert policy("two.test") is None          # RFC 7489 6.6.3
    assert policy("other.test") is None


def test_a_record_without_a_valid_p_is_broken_unless_it_has_rua():
    with pytest.raises(dmarc.BadPolicy):
        policy("norua.test")
    assert policy("rua.test").p == "none"


def test_a_failing_lookup_raises_dns_temp_error():
    with pytest.raises(DnsTempError):
        policy("down.test")


@pytest.mark.parametrize("header, domain", [
    (b"From: Alice <alice@Bank.Test>\r\n", "bank.test"),
    (b"From: a@x.test, b@x.test\r\n", "x.test"),
    (b"To: nobody@x.test\r\n", None),
    (b"From: undisclosed\r\n", None)])
def test_the_author_domain(header, domain):
    assert dmarc.from_domain(header) == domain


@pytest.mark.parametrize("header", [
    b"From: a@bank.test\r\nFrom: a@evil.test\r\n",
    b"From: a@bank.test, b@evil.test\r\n"])
def test_several_author_domains_are_refused(header):
    with pytest.raises(dmarc.NoSingleFrom):
        dmarc.from_domain(header)


BANK = dmarc.Policy("bank.test", "reject", "quarantine", 100, "s", "r")


def spf(result, domain="bank.test"):
    return SpfResult(result, "mailfrom", domain)


def dkim(result, domain="bank.test"):
    return DkimResult(result, domain, "s1", "rsa-sha256")


@pytest.mark.parametrize("spf_result, dkims, outcome", [
    (spf("pass"), [], "pass"),
    (spf("pass", "mail.bank.test"), [], "pass"),           # aspf=r
    (spf("fail"), [dkim("pass")], "pass"),
    (spf("fail"), [dkim("pass", "mail.bank.test")], "fail"),   # adkim=s
    (spf("pass", "evil.test"), [dkim("fail")], "fail"),
    (spf("softfail"), [], "fail"),
    (spf("temperror"), [], "temperror"),
    (spf("fail"), [dkim("temperror")], "temperror")])
def test_alignment_and_results(spf_result, dkims, outcome):
    found = dmarc.evaluate("bank.test", BANK, spf_result, dkims, roll=0)
    assert found.result == outcome
    assert found.disposition == ("reject" if outcome == "fail" else "none")


def test_sp_applies_to_subdomains():
    found = dmarc.evaluate("shop.bank.test", BANK, spf("fail"), [], roll=0)
    assert (found.result, found.policy, found.disposition) == \
        ("fail", "quarantine", "quarantine")


def test_pct_leaves_the_others_the_next_weaker_disposition():
    # RFC 7489 6.6.4: reject -> quarantine, quarantine -> none.
    half = BANK._replace(pct=50)
    assert dmarc.evaluate("bank.test", half, spf("fail"), [], 49).disposition == "reject"
    assert dmarc.evaluate("bank.test", half, spf("fail"), [], 50).disposition \
        == "quarantine"
    none = BANK._replace(p="quarantine", pct=0)
    assert dmarc.evaluate("bank.test", none, spf("fail"), [], 0).disposition == "none"


def test_no_policy_is_none():
    assert dmarc.evaluate("x.test", None, spf("fail"), [], 0) == \
        dmarc.DmarcResult("none", "x.test")
