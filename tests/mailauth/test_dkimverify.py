"""DKIM verification (mailauth.dkimverify): signatures made by dkimpy with RSA
and Ed25519 keys, their keys served by a fake DNS, and every RFC 8601 result."""

import asyncio

import pytest

from fakedns import FakeDns
from keys import ed25519_key, rsa_key
from mailsuite.smtp.mailauth import dkimverify

MESSAGE = (b"From: Alice <alice@signer.test>\r\nTo: bob@example.test\r\n"
           b"Subject: hello\r\n\r\nHello Bob.\r\n")


def zone(**extra):
    records = {("rsa._domainkey.signer.test", "TXT"): [rsa_key().record],
               ("ed._domainkey.signer.test", "TXT"): [ed25519_key().record]}
    records.update({(name, "TXT"): texts for name, texts in extra.items()})
    return FakeDns(records, failing={"down._domainkey.signer.test"})


def verify(message, dns=None):
    return asyncio.run(dkimverify.verify(dns or zone(), message))


def results(message, dns=None):
    return [(r.result, r.selector) for r in verify(message, dns)]


def test_rsa_and_ed25519_signatures_pass_each():
    signed = ed25519_key().sign(rsa_key().sign(MESSAGE, "signer.test", "rsa"),
                                "signer.test", "ed")
    found = verify(signed)
    assert [(r.result, r.domain, r.selector, r.algorithm) for r in found] == [
        ("pass", "signer.test", "ed", "ed25519-sha256"),
        ("pass", "signer.test", "rsa", "rsa-sha256")]


def test_an_unsigned_message_has_no_result():
    assert verify(MESSAGE) == []


def test_a_changed_body_fails():
    signed = rsa_key().sign(MESSAGE, "signer.test", "rsa")
    found = verify(signed.replace(b"Hello Bob", b"Hello Eve"))
    assert [(r.result, r.reason) for r in found] == [("fail", "body hash mismatch")]


def test_a_changed_signed_header_fails():
    signed = ed25519_key().sign(MESSAGE, "signer.test", "ed")
    assert results(signed.replace(b"Subject: hello", b"Subject: pay me")) == [
        ("fail", "ed")]


def test_one_good_signature_among_bad_ones():
    good = rsa_key().sign(MESSAGE, "signer.test", "rsa")
    bad = ed25519_key().sign(MESSAGE.replace(b"Bob", b"Eve"), "signer.test", "ed")
    mixed = bad.partition(b"\r\nFrom:")[0] + b"\r\n" + good
    assert results(mixed) == [("fail", "ed"), ("pass", "rsa")]


@pytest.mark.parametrize("field", [
    b"DKIM-Signature: this is not a tag list",
    b"DKIM-Signature: v=1; a=rsa-sha256; d=signer.test; s=rsa",        # no b=, bh=
    b"DKIM-Signature: v=1; a=rsa-sha256; d=signer.test; s=rsa; h=from; bh=AA==; "
    b"b=AA==; x=1",                                                    # expired
    b"DKIM-Signature: v=1; v=1; a=rsa-sha256; d=signer.test",          # duplicate tag
    b"DKIM-Signature: v=1; a=md5; d=signer.test; s=rsa; h=from; bh=AA==; b=AA==",
    b"DKIM-Signature: " + b"a=" * 5000,
    b"DKIM-Signature:",
])
def test_a_malformed_signature_is_neutral(field):
    # RFC 8601 2.7.1: a signature with syntax errors is "neutral".
    found = verify(field + b"\r\n" + MESSAGE)
    assert [r.result for r in found] == ["neutral"]
    assert found[0].reason.startswith("bad signature")


def test_a_header_line_that_is_no_field_makes_signatures_neutral():
    signed = rsa_key().sign(MESSAGE, "signer.test", "rsa")
    broken = signed.replace(b"Subject:", b"not a field\r\nSubject:")
    assert [r.result for r in verify(broken)] == ["neutral"]
    assert verify(MESSAGE.replace(b"Subject:", b"not a field\r\nSubject:")) == []


def test_a_signature_without_its_key_is_permerror():
    signed = rsa_key().sign(MESSAGE, "signer.test", "gone")
    assert [(r.result, r.reason) for r in verify(signed)] == [
        ("permerror", "no key for signature")]


@pytest.mark.parametrize("record", ["v=DKIM1; k=rsa; p=bm90IGEga2V5",
                                    "v=DKIM1; k=rot13; p=AAAA", "garbage"])
def test_a_broken_key_record_is_permerror(record):
    signed = rsa_key().sign(MESSAGE, "signer.test", "bad")
    found = verify(signed, zone(**{"bad._domainkey.signer.test": [record]}))
    assert [r.result for r in found] == ["permerror"]
    assert found[0].reason.startswith("bad key record")


def test_a_short_rsa_key_is_permerror():
    # RFC 8301 3.2: keys under 1024 bits are not valid.
    short = rsa_key(bits=768)
    signed = short.sign(MESSAGE, "signer.test", "short")
    found = verify(signed, zone(**{"short._domainkey.signer.test": [short.record]}))
    assert [r.result for r in found] == ["permerror"]


def test_a_failing_key_lookup_is_temperror():
    signed = rsa_key().sign(MESSAGE, "signer.test", "down")
    assert results(signed) == [("temperror", "down")]


def test_signatures_past_the_limit_are_not_checked():
    fields = b"".join(rsa_key().sign(MESSAGE, "signer.test", "rsa")
                      .partition(b"\r\nFrom:")[0] + b"\r\n" for _ in range(20))
    dns = zone()
    found = verify(fields + MESSAGE, dns)
    assert len(found) == dkimverify.MAX_SIGNATURES
    assert all(r.result == "pass" for r in found)
    assert len(dns.asked) == 1          # one lookup for the one key
