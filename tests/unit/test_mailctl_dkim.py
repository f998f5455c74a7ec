"""mailctl dkim generate|list|dns|rotate|remove and mailctl dns, run as the real
program: the keys it leaves, the records it prints, its refusals. The records
are loaded into a real DNS server in tests/interop/test_dkim_verify.py."""

import datetime
import os
import re
import stat

import pytest

from mailsuite.core.dkimkeys import KeyStore

OK, ERROR, USAGE = 0, 1, 2
MONTH = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m")
TXT = re.compile(r'(\S+) 3600 IN TXT ((?:"[^"]*" ?)+)$')


@pytest.fixture
def inst(instance):
    instance.mailctl("domain", "add", "example.test")
    return instance


def refused(inst, *args, message):
    proc = inst.mailctl(*args, check=False)
    assert (proc.returncode, proc.stderr) == (ERROR, f"mailctl: {message}\n")


def txt_records(output):
    """{name: joined text} of the TXT lines; each string at most 255 octets."""
    found = {}
    for line in output.splitlines():
        match = TXT.match(line)
        if match:
            strings = re.findall(r'"([^"]*)"', match.group(2))
            assert all(len(s) <= 255 for s in strings)
            found[match.group(1)] = "".join(strings)
    return found


def test_generate_both_and_publish(inst):
    out = inst.mailctl("dkim", "generate", "example.test").stdout
    store = KeyStore(inst.state)
    keys = store.keys("example.test")
    assert [(k.selector, k.algorithm, k.active) for k in keys] == [
        (f"ms{MONTH}", "rsa", True), (f"ms{MONTH}e", "ed25519", True)]
    records = txt_records(out)
    assert records == {f"{k.selector}._domainkey.example.test.": store.txt(k)
                       for k in keys}
    assert len(out.splitlines()) == 2
    # The RSA record is one record of several strings.
    assert out.splitlines()[0].count('" "') == 1
    mode = 0o640 if os.geteuid() == 0 else 0o600
    assert all(stat.S_IMODE(k.path.stat().st_mode) == mode for k in keys)
    assert inst.mailctl("dkim", "dns", "example.test").stdout == out
    assert inst.mailctl("dkim", "list").stdout == (
        f"example.test ms{MONTH} rsa signing\n"
        f"example.test ms{MONTH}e ed25519 signing\n")


def test_generate_one_algorithm_then_the_other(inst):
    inst.mailctl("dkim", "generate", "--algorithm", "ed25519", "example.test")
    assert KeyStore(inst.state).active("example.test") == {"ed25519": f"ms{MONTH}e"}
    refused(inst, "dkim", "generate", "--algorithm", "both", "example.test",
            message=f"example.test has a DKIM ed25519 key (ms{MONTH}e): "
                    "mailctl dkim rotate makes a new one")
    inst.mailctl("dkim", "generate", "--algorithm", "rsa", "example.test")
    assert set(KeyStore(inst.state).active("example.test")) == {"rsa", "ed25519"}


def test_rotate_then_remove_the_old_selector(inst):
    inst.mailctl("dkim", "generate", "example.test")
    out = inst.mailctl("dkim", "rotate", "example.test").stdout
    assert set(txt_records(out)) == {f"ms{MONTH}-2._domainkey.example.test.",
                                     f"ms{MONTH}e-2._domainkey.example.test."}
    assert inst.mailctl("dkim", "list", "example.test").stdout == (
        f"example.test ms{MONTH}-2 rsa signing\n"
        f"example.test ms{MONTH} rsa verifying\n"
        f"example.test ms{MONTH}e-2 ed25519 signing\n"
        f"example.test ms{MONTH}e ed25519 verifying\n")
    assert len(txt_records(inst.mailctl("dkim", "dns", "example.test").stdout)) == 4
    refused(inst, "dkim", "remove", "example.test", f"ms{MONTH}-2",
            message=f"selector ms{MONTH}-2 signs for example.test: "
                    "rotate to a new one first")
    assert inst.mailctl("dkim", "remove", "example.test", f"ms{MONTH}").stdout == ""
    assert set(txt_records(inst.mailctl("dkim", "dns", "example.test").stdout)) == {
        f"ms{MONTH}-2._domainkey.example.test.", f"ms{MONTH}e-2._domainkey.example.test.",
        f"ms{MONTH}e._domainkey.example.test."}


def test_refusals(inst):
    refused(inst, "dkim", "generate", "other.test", message="unknown domain: other.test")
    refused(inst, "dkim", "generate", "../x", message="invalid domain: ../x")
    refused(inst, "dkim", "dns", "example.test",
            message="no DKIM keys for example.test: mailctl dkim generate example.test")
    refused(inst, "dkim", "rotate", "example.test",
            message="no DKIM keys for example.test: mailctl dkim generate example.test")
    refused(inst, "dkim", "remove", "example.test", "ms1",
            message="no DKIM keys for example.test")
    refused(inst, "dns", "other.test", message="unknown domain: other.test")
    assert inst.mailctl("dkim", "list").stdout == ""
    for args in (("dkim", "generate"), ("dkim", "generate", "--algorithm", "dsa",
                                        "example.test"), ("dkim", "remove", "x.test")):
        assert inst.mailctl(*args, check=False).returncode == USAGE


def test_dns_prints_every_record(inst):
    without = inst.mailctl("dns", "example.test").stdout
    assert "; no DKIM key: run `mailctl dkim generate example.test`" in without
    inst.mailctl("dkim", "generate", "example.test")
    lines = inst.mailctl("dns", "example.test").stdout.splitlines()
    records = [line for line in lines if not line.startswith(";")]
    host = "mail.example.test."
    expected = [
        f"example.test. 3600 IN MX 10 {host}",
        'example.test. 3600 IN TXT "v=spf1 mx -all"',
        '_dmarc.example.test. 3600 IN TXT '
        '"v=DMARC1; p=none; rua=mailto:postmaster@example.test"',
        f"mta-sts.example.test. 3600 IN CNAME {host}",
        '_smtp._tls.example.test. 3600 IN TXT '
        '"v=TLSRPTv1; rua=mailto:postmaster@example.test"',
        f"_submissions._tcp.example.test. 3600 IN SRV 0 1 465 {host}",
        f"_submission._tcp.example.test. 3600 IN SRV 10 1 587 {host}",
        f"_imaps._tcp.example.test. 3600 IN SRV 0 1 993 {host}",
        f"_imap._tcp.example.test. 3600 IN SRV 10 1 143 {host}",
        f"_pop3s._tcp.example.test. 3600 IN SRV 0 1 995 {host}",
        f"_pop3._tcp.example.test. 3600 IN SRV 10 1 110 {host}",
        f"autoconfig.example.test. 3600 IN CNAME {host}",
        f"autodiscover.example.test. 3600 IN CNAME {host}",
        f"_autodiscover._tcp.example.test. 3600 IN SRV 0 1 443 {host}"]
    assert [line for line in expected if line not in records] == []
    published = txt_records("\n".join(records))
    assert re.fullmatch(r"v=STSv1; id=[0-9a-f]{20}", published["_mta-sts.example.test."])
    assert set(published) >= {
        f"ms{MONTH}._domainkey.example.test.", f"ms{MONTH}e._domainkey.example.test."}
    assert len(records) == len(expected) + 3
