"""SPF (mailauth.spf): each RFC 7208 result through pyspf, with its lookups
answered by a fake DNS (fakedns.FakeDns)."""

import asyncio

import pytest

from fakedns import FakeDns
from mailsuite.smtp.dnsquery import DnsTempError
from mailsuite.smtp.mailauth import spf

IP = "192.0.2.10"
RECORDS = {
    ("pass.test", "TXT"): ["v=spf1 ip4:192.0.2.0/24 -all"],
    ("fail.test", "TXT"): ["v=spf1 -all"],
    ("softfail.test", "TXT"): ["v=spf1 ~all"],
    ("neutral.test", "TXT"): ["v=spf1 ?all"],
    ("none.test", "TXT"): ["some other text"],
    ("broken.test", "TXT"): ["v=spf1 ip4:192.0.2.300 -all"],
    ("two.test", "TXT"): ["v=spf1 -all", "v=spf1 +all"],
    ("loop.test", "TXT"): ["v=spf1 include:loop.test -all"],
    ("mx.test", "TXT"): ["v=spf1 mx a:host.mx.test -all"],
    ("mx.test", "MX"): ["10 in.mx.test"],
    ("in.mx.test", "A"): [IP],
    ("helo.test", "TXT"): ["v=spf1 a -all"],
    ("helo.test", "A"): [IP],
    ("down.test", "TXT"): ["v=spf1 include:dead.test -all"],
}


@pytest.fixture(autouse=True)
def fresh_results():
    spf._results.clear()


def check(sender, helo="helo.test", ip=IP, dns=None):
    return asyncio.run(spf.check(dns or FakeDns(RECORDS, failing={"dead.test"}),
                                 ip, helo, sender))


@pytest.mark.parametrize("domain, result", [
    ("pass.test", "pass"), ("fail.test", "fail"), ("softfail.test", "softfail"),
    ("neutral.test", "neutral"), ("none.test", "none"), ("nowhere.test", "none"),
    ("broken.test", "permerror"), ("two.test", "permerror"),
    ("loop.test", "permerror"), ("mx.test", "pass"), ("down.test", "temperror")])
def test_mail_from_results(domain, result):
    mailfrom, _ = check(f"someone@{domain}")
    assert mailfrom.result == result, mailfrom
    assert (mailfrom.identity, mailfrom.domain) == ("mailfrom", domain)


def test_the_helo_identity_is_checked_too():
    mailfrom, helo = check("someone@fail.test")
    assert (helo.result, helo.identity, helo.domain) == ("pass", "helo", "helo.test")
    assert mailfrom.result == "fail"


def test_a_null_sender_is_checked_as_postmaster_at_the_helo_name():
    # RFC 7208 2.4
    mailfrom, helo = check("", helo="helo.test", ip="198.51.100.1")
    assert mailfrom.result == helo.result == "fail"
    assert mailfrom.identity == "mailfrom" and mailfrom.domain == "helo.test"


def test_an_address_literal_helo_has_no_result():
    mailfrom, helo = check("someone@pass.test", helo="[192.0.2.10]")
    assert helo.result == "none" and mailfrom.result == "pass"


def test_a_spent_budget_is_temperror():
    class Spent(FakeDns):
        async def query(self, name, rdtype):
            raise spf.DnsTempError("the message's DNS time budget is spent")
    mailfrom, helo = check("someone@pass.test", dns=Spent({}))
    assert mailfrom.result == helo.result == "temperror"


def test_a_result_is_reused_for_the_same_client_helo_and_sender():
    dns = FakeDns(RECORDS)
    first = check("someone@pass.test", dns=dns)
    asked = len(dns.asked)
    assert check("SOMEONE@pass.test", dns=dns) == first
    assert len(dns.asked) == asked
    check("other@pass.test", dns=dns)
    assert len(dns.asked) > asked


def test_a_temperror_is_not_kept():
    assert check("someone@down.test")[0].result == "temperror"
    # With the server answering, the include names no record: RFC 7208 5.2.
    assert check("someone@down.test", dns=FakeDns(RECORDS))[0].result == "permerror"


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited")
def test_a_lookup_the_stopped_loop_never_runs_ends_with_the_budget():
    # The daemon exiting: its loop no longer runs the lookups pyspf's thread
    # hands it, and the thread must not wait forever (the process could not exit).
    stopped = asyncio.new_event_loop()
    try:
        with pytest.raises(DnsTempError):
            spf._ask(stopped, FakeDns({}, seconds=60), "pass.test", "TXT")
    finally:
        stopped.close()
