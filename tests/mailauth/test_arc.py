"""ARC chain validation (mailauth.arc): chains sealed by dkimpy's arc_sign, keys
served by a fake DNS."""

import asyncio

import dkim

from fakedns import FakeDns
from keys import rsa_key
from mailsuite.smtp.mailauth import arc

MESSAGE = (b"Authentication-Results: lists.test; dkim=pass header.d=author.test\r\n"
           b"From: Alice <alice@author.test>\r\nTo: list@lists.test\r\n"
           b"Subject: to the list\r\n\r\nHello all.\r\n")


def sealed(message, selector=b"arc"):
    fields = dkim.arc_sign(message, selector, b"lists.test", rsa_key().private,
                           b"lists.test", include_headers=[b"from", b"to", b"subject"])
    return b"".join(fields) + message


def validate(message, failing=()):
    dns = FakeDns({("arc._domainkey.lists.test", "TXT"): [rsa_key().record]},
                  failing=failing)
    return asyncio.run(arc.validate(dns, message))


def test_a_sealed_chain_passes():
    found = validate(sealed(MESSAGE))
    assert (found.result, found.instances) == ("pass", 1)


def test_a_message_without_arc_sets_has_none():
    assert validate(MESSAGE).result == "none"


def test_a_changed_message_fails():
    assert validate(sealed(MESSAGE).replace(b"Hello all", b"Buy now")).result == "fail"


def test_a_seal_without_its_key_fails():
    assert validate(sealed(MESSAGE, selector=b"gone")).result == "fail"


def test_a_failing_key_lookup_is_temperror():
    assert validate(sealed(MESSAGE), failing={"arc._domainkey.lists.test"}).result \
        == "temperror"


def test_malformed_arc_fields_fail():
    for field in (b"ARC-Seal: garbage\r\n", b"ARC-Seal: i=77; a=rsa-sha256\r\n",
                  b"ARC-Message-Signature: i=1; x\r\n",
                  b"ARC-Seal: i=1; a=rsa-sha256\r\nnot a field\r\n"):
        assert validate(field + MESSAGE).result == "fail", field
