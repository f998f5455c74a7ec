"""The parts of MTA-STS that need no peer: the TXT record, the policy text, the
mx patterns (RFC 8461 3.1, 3.2, 4.1), the HTTP response (3.3), and when a
policy is fetched, kept or dropped (3.3, 5.1), with a stand-in resolver and
policy server."""

import asyncio
import time

import pytest

from mailsuite.core import dnsrecords
from mailsuite.outbound.mtasts import (BODY_MAX, MtaSts, PolicyCache, PolicyError,
                                       StsPolicy, _body, parse, record_id)

POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\n" \
         "mx: *.mail.example.test\r\nmax_age: 86400\r\n"


def test_policy_fields():
    policy = parse(POLICY, "abc", 5.0)
    assert policy == StsPolicy("abc", "enforce", ("mx.example.test",
                                                  "*.mail.example.test"), 86400, 5.0)


def test_policy_with_lf_line_ends_and_unknown_fields():
    policy = parse("version: STSv1\nmode: testing\nmx: MX.Example.Test.\n"
                   "max_age: 60\nextension: ignored\n")
    assert policy.mode == "testing" and policy.mx == ("mx.example.test",)


@pytest.mark.parametrize("text, error", [
    (POLICY.replace("STSv1", "STSv2"), "version"),
    (POLICY.replace("enforce", "strict"), "mode"),
    (POLICY.replace("86400", "31557601"), "max_age"),
    (POLICY.replace("max_age: 86400\r\n", ""), "max_age"),
    ("version: STSv1\nmode: enforce\nmax_age: 60\n", "no mx"),
])
def test_bad_policies(text, error):
    with pytest.raises(PolicyError, match=error):
        parse(text)


def test_mode_none_needs_no_mx():
    assert parse("version: STSv1\nmode: none\nmax_age: 60\n").mode == "none"


@pytest.mark.parametrize("host, allowed", [
    ("mx.example.test", True),
    ("MX.example.test.", True),
    ("a.mail.example.test", True),
    ("mail.example.test", False),          # the wildcard needs one label
    ("a.b.mail.example.test", False),      # and only one
    ("mx.example.test.evil", False),
])
def test_mx_patterns(host, allowed):
    assert parse(POLICY).allows(host) is allowed


def test_expiry():
    assert parse(POLICY, "1", time.time() - 86401).expired
    assert not parse(POLICY, "1", time.time()).expired


@pytest.mark.parametrize("texts, found", [
    (["v=STSv1; id=20240101"], "20240101"),
    (["v=STSv1;id=abc;"], "abc"),
    (["v=spf1 -all", "v=STSv1; id=x1"], "x1"),
    (["v=STSv1; id=a", "v=STSv1; id=b"], None),     # RFC 8461 3.1: not one record
    (["v=STSv1; id=not-alnum"], None),
    (["v=STSv1"], None),
    ([], None),
])
def test_record_id(texts, found):
    assert record_id(texts) == found


def response(status="200 OK", content_type="text/plain", body=POLICY.encode()):
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n\r\n").encode() + body


def test_http_body():
    assert _body("mta-sts.example.test", response()) == POLICY
    assert _body("h", response(content_type="text/plain; charset=utf-8")) == POLICY


@pytest.mark.parametrize("answer, error", [
    (response("301 Moved Permanently"), "301"),     # RFC 8461 3.3: no redirects
    (response("404 Not Found"), "404"),
    (response(content_type="text/html"), "content type"),
    (response(body=b"x" * (BODY_MAX + 1)), "larger"),
    (b"garbage", "not an HTTP response"),
])
def test_http_refusals(answer, error):
    with pytest.raises(PolicyError, match=error):
        _body("mta-sts.example.test", answer)


def test_what_mailctl_dns_publishes_is_what_deliverd_enforces():
    """`mailctl dns` prints the _mta-sts record and serves the policy
    (core.dnsrecords): deliverd reads both, and the policy names the host."""
    records = dnsrecords.domain_records("example.org", "mail.example.org", [])
    [txt] = [r for r in records if not isinstance(r, str)
             and r.name == "_mta-sts.example.org."]
    policy_id = record_id([txt.data.strip('"')])
    text = dnsrecords.mta_sts_policy("mail.example.org")
    assert policy_id == dnsrecords.mta_sts_id(text)
    policy = parse(text, policy_id)
    assert policy.mode == "enforce" and policy.allows("mail.example.org")
    assert not policy.allows("other.example.org")


class FakeResolver:
    def __init__(self, texts):
        self.texts = texts

    async def text(self, name):
        assert name == "_mta-sts.example.test"
        return self.texts


def discover(tmp_path, texts, served, cached=None):
    """Run MtaSts.policy once: the TXT strings `texts`, the policy server
    answering `served` (text, or None: unreachable), a `cached` StsPolicy on
    disk before; returns (policy, fetches)."""
    sts = MtaSts(FakeResolver(texts), tmp_path, None, 5)
    fetches = []

    async def fetch(domain):
        fetches.append(domain)
        if served is None:
            raise PolicyError("unreachable")
        return served

    sts._fetch = fetch
    if cached is not None:
        sts.cache._write("example.test", cached)
    return asyncio.run(sts.policy("example.test")), fetches


def test_new_policy_is_fetched_and_cached(tmp_path):
    policy, fetches = discover(tmp_path, ["v=STSv1; id=1"], POLICY)
    assert fetches and policy.id == "1" and policy.mode == "enforce"
    assert PolicyCache(tmp_path)._read("example.test") == policy


def test_same_id_keeps_the_cached_policy_without_a_fetch(tmp_path):
    cached = parse(POLICY, "1", time.time())
    policy, fetches = discover(tmp_path, ["v=STSv1; id=1"], None, cached)
    assert policy == cached and not fetches


def test_new_id_refreshes_the_policy(tmp_path):
    cached = parse(POLICY, "1", time.time())
    policy, fetches = discover(tmp_path, ["v=STSv1; id=2"],
                               POLICY.replace("enforce", "testing"), cached)
    assert fetches and (policy.id, policy.mode) == ("2", "testing")


@pytest.mark.parametrize("texts, served", [
    (["v=STSv1; id=2"], None),       # RFC 8461 5.1: the fetch fails
    ([], POLICY),                    # 3.3: the TXT record is gone
])
def test_cached_policy_stays_while_it_lasts(tmp_path, texts, served):
    cached = parse(POLICY, "1", time.time())
    assert discover(tmp_path, texts, served, cached)[0] == cached


def test_expired_policy_is_dropped(tmp_path):
    cached = parse(POLICY, "1", time.time() - 86401)
    assert discover(tmp_path, [], POLICY, cached)[0] is None


def test_mode_none_is_no_policy(tmp_path):
    text = "version: STSv1\nmode: none\nmax_age: 60\n"
    assert discover(tmp_path, ["v=STSv1; id=3"], text)[0] is None
