"""mailctl doctor's parts without a DNS server: the record parsers
(mailctl.mailpolicy), the SPF evaluation over a table of answers, the DNS time
budget, the socket checks (systemctl's output, loopback), the certificate, the
state directory, the queue; and the command's usage errors and output. The
checks against a real DNS server are in tests/interop/test_doctor_dns.py."""

import datetime
import json
import os
import re
import socket
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailsuite import dev
from mailsuite.core import tls, units
from mailsuite.core.spool import Spool, new_qid
from mailsuite.mailctl import checks, dnschecks, mailpolicy, socketchecks
from mailsuite.mailctl.mailpolicy import PolicyError

HOST, DOMAIN, ADDRESS = "mail.example.test", "example.test", "192.0.2.10"
NOW = datetime.datetime.now(datetime.timezone.utc)


# the record parsers

def test_tags_take_white_space_and_a_last_semicolon_but_no_tag_twice():
    assert mailpolicy.tags(" v = DMARC1 ;p=none; ") == {"v": "DMARC1", "p": "none"}
    with pytest.raises(PolicyError, match="appears twice"):
        mailpolicy.tags("v=DMARC1; p=none; p=reject")
    with pytest.raises(PolicyError, match="not a tag=value pair"):
        mailpolicy.tags("v=DMARC1; reject")


def test_select_ignores_other_records_and_refuses_two_of_a_kind():
    texts = ["google-site-verification=x", "v=spf1 mx -all", "v=spf10 a"]
    assert mailpolicy.select(texts, "v=spf1") == "v=spf1 mx -all"
    assert mailpolicy.select(["other"], "v=spf1") is None
    with pytest.raises(PolicyError, match="2 records start with v=spf1"):
        mailpolicy.select(["v=spf1 mx -all", "V=SPF1 a -all"], "v=spf1")


@pytest.mark.parametrize("record,error", [
    ("v=DMARC1; p=reject; rua=mailto:d@example.test", None),
    ("v=DMARC1; p=quarantine; pct=50; adkim=s", None),
    ("v=DMARC1", "no p= (policy) tag"),
    ("p=none; v=DMARC1", "must start with v=DMARC1"),
    ("v=DMARC1 p=none", "must start with v=DMARC1"),
    ("v=DMARC1; p=maybe", "p= must be none, quarantine or reject"),
    ("v=DMARC1; p=none; pct=150", "pct= must be from 0 to 100"),
    ("v=DMARC1; p=none; rua=postmaster@example.test", "rua= must list mailto:"),
    ("v=DMARC1; p=none; rua=mailto:nobody", "not a mail address"),
])
def test_dmarc(record, error):
    if error is None:
        assert mailpolicy.dmarc(record)["v"] == "DMARC1"
    else:
        with pytest.raises(PolicyError, match=re.escape(error)):
            mailpolicy.dmarc(record)


def test_mta_sts_and_tls_rpt():
    assert mailpolicy.mta_sts("v=STSv1; id=20240101T0")["id"] == "20240101T0"
    for bad in ("v=STSv1", "v=STSv1; id=not-alnum", "v=STSv1; id=" + "1" * 33):
        with pytest.raises(PolicyError, match="id= must be"):
            mailpolicy.mta_sts(bad)
    assert mailpolicy.tls_rpt("v=TLSRPTv1; rua=mailto:a@b.test,https://r.test/x")
    with pytest.raises(PolicyError, match="no rua="):
        mailpolicy.tls_rpt("v=TLSRPTv1")
    with pytest.raises(PolicyError, match="rua= must list mailto: or https:"):
        mailpolicy.tls_rpt("v=TLSRPTv1; rua=ftp://r.test")


def test_dkim_key():
    assert mailpolicy.dkim_key("v=DKIM1; k=ed25519; p=AAEC Aw==") == \
        mailpolicy.DKIMKey("ed25519", b"\0\1\2\3")
    assert mailpolicy.dkim_key("p=AAECAw==").algorithm == "rsa"     # the default
    with pytest.raises(PolicyError, match="not base64"):
        mailpolicy.dkim_key("v=DKIM1; p=%%%")
    with pytest.raises(PolicyError, match="no p="):
        mailpolicy.dkim_key("v=DKIM1; k=rsa")


def test_spf_terms():
    terms = mailpolicy.spf_terms("v=spf1 mx a:other.test/24 -ip4:192.0.2.0/24 "
                                 "include:_spf.test ~all redirect=x.test")
    assert terms == [("+", "mx", ""), ("+", "a", "other.test/24"),
                     ("-", "ip4", "192.0.2.0/24"), ("+", "include", "_spf.test"),
                     ("~", "all", ""), ("", "redirect", "x.test")]
    assert mailpolicy.spf_terms("v=spf1 a/24")[0] == ("+", "a", "")
    with pytest.raises(PolicyError, match="unknown mechanism"):
        mailpolicy.spf_terms("v=spf1 mxx -all")
    with pytest.raises(PolicyError, match="needs an argument"):
        mailpolicy.spf_terms("v=spf1 ip4 -all")


# SPF, evaluated over a table of answers

class Answers:
    """A Lookup's answers from tables, for checks that need no DNS server."""

    def __init__(self, txt=(), mx=None, addresses=None):
        self._txt = {DOMAIN: list(txt)}
        self._mx = mx or {DOMAIN: [HOST]}
        self._addresses = addresses or {HOST: {ADDRESS}}

    def txt(self, name):
        return self._txt.get(name, [])

    def mx_hosts(self, domain):
        return self._mx.get(domain, [])

    def addresses(self, name):
        return self._addresses.get(name, set())


@pytest.mark.parametrize("record,verdict,words", [
    ("v=spf1 mx -all", "ok", "lets this host send (mx;"),
    ("v=spf1 a:mail.example.test -all", "ok", "(a;"),
    ("v=spf1 ip4:192.0.2.0/24 -all", "ok", "(ip4;"),
    ("v=spf1 -ip4:192.0.2.10 mx -all", "fail", "it matches -ip4"),
    ("v=spf1 ip4:198.51.100.1 ~all", "fail", "it matches ~all"),
    ("v=spf1 ip4:198.51.100.1 ?all", "warn", "it matches ?all"),
    ("v=spf1 ip4:198.51.100.1", "fail", "does not list this host"),
    ("v=spf1 +all", "warn", "every host may send"),
    ("v=spf1 include:_spf.provider.test -all", "warn", "include:_spf.provider.test"),
    ("v=spf1 redirect=_spf.provider.test", "warn", "redirect:_spf.provider.test"),
    ("v=spf1 mx:elsewhere.test -all", "fail", "it matches -all"),
    ("v=spf1 bogus -all", "fail", "unknown mechanism"),
])
def test_spf_evaluation(record, verdict, words):
    found = dnschecks.spf(Answers([record]), DOMAIN, HOST, {ADDRESS})
    assert found.verdict == verdict and words in found.detail, found
    assert bool(found.advice) == (verdict != "ok")


def test_spf_missing_or_twice():
    assert "no SPF record" in dnschecks.spf(Answers([]), DOMAIN, HOST, {ADDRESS}).detail
    twice = dnschecks.spf(Answers(["v=spf1 mx -all", "v=spf1 a -all"]), DOMAIN, HOST,
                          {ADDRESS})
    assert twice.verdict == "fail" and "2 records" in twice.detail


def test_host_addresses_when_the_machine_is_not_in_dns():
    answers = Answers(addresses={HOST: {ADDRESS, "198.51.100.9"}})
    assert dnschecks.host_addresses(answers, HOST, {ADDRESS}).verdict == "warn"
    assert dnschecks.host_addresses(answers, HOST, {"203.0.113.1"}).verdict == "fail"
    assert dnschecks.host_addresses(answers, HOST, set()).verdict == "warn"


# the DNS time budget

def test_lookups_stop_when_the_budget_is_spent():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        lookup = dnschecks.Lookup([silent.getsockname()], timeout=0.2, budget=0.5)
        errors = []
        for name in ("a.test", "b.test", "c.test", "d.test", "e.test"):
            with pytest.raises(dnschecks.DNSError) as raised:
                lookup.records(name, "A")
            errors.append(str(raised.value))
    assert "no answer for a.test A" in errors[0]
    assert "the 0.5 s for all DNS lookups are spent" in errors[-1]
    # A failed lookup is remembered: asked again, it fails at once, the same way.
    with pytest.raises(dnschecks.DNSError, match="no answer for a.test A"):
        lookup.records("a.test", "A")


# sockets

def test_the_units_name_their_sockets():
    sockets = units.parse_unit(units.SOURCE_UNITS / "mail-smtpd.socket")
    assert sockets == [units.Socket("mail-smtpd.socket", "smtp", "25")]
    wakeup = units.parse_unit(units.SOURCE_UNITS / "mail-deliverd.socket")
    assert wakeup[0].listen == "/run/mailsuite/deliverd.wakeup"


def systemctl(unit_files, shown):
    """A stand-in for systemctl: list-unit-files prints `unit_files`, show prints
    shown[unit]."""
    def run(*argv):
        assert argv[0] == "systemctl"
        return unit_files if argv[1] == "list-unit-files" else shown[argv[-1]]
    return run


def test_with_systemd_every_enabled_unit_must_be_active():
    run = systemctl("mail-smtpd.socket enabled enabled\n"
                    "mail-imapd.socket enabled enabled\n"
                    "mail-imapd-tls.socket disabled enabled\n",
                    {"mail-smtpd.socket": "ActiveState=active\nListen=[::]:25 (Stream)\n",
                     "mail-imapd.socket": "ActiveState=failed\nListen=[::]:143 (Stream)\n"})
    found = dict(socketchecks.with_systemd(run))
    assert list(found) == ["socket mail-smtpd.socket", "socket mail-imapd.socket"]
    assert found["socket mail-smtpd.socket"] == checks.ok(
        "mail-smtpd.socket listens on [::]:25 (Stream) (systemd)")
    assert found["socket mail-imapd.socket"].verdict == "fail"
    assert "journalctl -u mail-imapd.socket" in found["socket mail-imapd.socket"].advice


def test_with_systemd_nothing_enabled_or_no_systemctl():
    [(check, found)] = socketchecks.with_systemd(systemctl("", {}))
    assert found.verdict == "fail" and "enable --now mailsuite.target" in found.advice

    def broken(*argv):
        raise OSError("systemctl: Failed to connect to bus")
    [(check, found)] = socketchecks.with_systemd(broken)
    assert found.verdict == "fail" and "Failed to connect to bus" in found.detail


def test_on_loopback_a_port_or_file_where_nothing_listens_fails(tmp_path):
    listening = dev.bind_tcp(0)
    closed = dev.bind_tcp(0)
    closed_port = closed.getsockname()[1]
    closed.close()
    sockets = [units.Socket("mail-smtpd.socket", "smtp", "25"),
               units.Socket("mail-imapd.socket", "imap", "143"),
               units.Socket("mail-deliverd.socket", "wakeup", "/run/x/deliverd.wakeup")]
    with listening:
        found = socketchecks.on_loopback(sockets, tmp_path, {
            "smtp": listening.getsockname()[1], "imap": closed_port}, timeout=2)
    verdicts = [(check, f.verdict) for check, f in found]
    assert verdicts == [("socket mail-smtpd.socket", "ok"),
                        ("socket mail-imapd.socket", "fail"),
                        ("socket mail-deliverd.socket", "fail")]
    assert f"127.0.0.1:{closed_port}" in found[1][1].detail
    assert str(tmp_path / "deliverd.wakeup") in found[2][1].detail


# the certificate

def write_cert(tmp_path, names, days=90, issuer="Test CA", key=None, start=-1):
    """A certificate for `names`, signed by a CA key (not self-signed)."""
    own = ec.generate_private_key(ec.SECP256R1())
    signer = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (x509.CertificateBuilder().subject_name(subject)
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(own.public_key()).serial_number(1)
            .not_valid_before(NOW + datetime.timedelta(days=start))
            .not_valid_after(NOW + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in names]), critical=False)
            .sign(signer, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes((key or own).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.parametrize("names,days,verdict,words", [
    ([HOST], 90, "ok", "valid for mail.example.test, 89 days left"),
    (["*.example.test"], 90, "ok", "valid for mail.example.test"),
    (["*.test"], 90, "fail", "is for *.test, not mail.example.test"),
    (["other.example.test", "example.test"], 90, "fail",
     "is for other.example.test, example.test"),
    ([HOST], 5, "warn", "4 days left"),
    ([HOST], -1, "fail", "expired on"),
])
def test_certificate(tmp_path, names, days, verdict, words):
    found = checks.certificate(*write_cert(tmp_path, names, days), HOST, now=NOW)
    assert found.verdict == verdict and words in found.detail, found


def test_certificate_not_yet_valid_or_not_the_key(tmp_path):
    found = checks.certificate(*write_cert(tmp_path, [HOST], start=2), HOST, now=NOW)
    assert found.verdict == "fail" and "not valid before" in found.detail
    other = ec.generate_private_key(ec.SECP256R1())
    found = checks.certificate(*write_cert(tmp_path, [HOST], key=other), HOST, now=NOW)
    assert found.verdict == "fail" and "is not the key of" in found.detail


def test_certificate_self_signed_or_missing(tmp_path):
    cert, key = tmp_path / "tls/cert.pem", tmp_path / "tls/key.pem"
    assert checks.certificate(cert, key, HOST).verdict == "fail"
    tls.make_self_signed(cert, key, [HOST], days=30)
    found = checks.certificate(cert, key, HOST)
    assert found.verdict == "warn" and found.detail.endswith("self-signed")


# the state directory and the queue

def test_state_dir_environments_must_share_its_owner(tmp_path):
    state = tmp_path / "state"
    (state / "spool").mkdir(parents=True)
    state.chmod(0o750)
    assert checks.state_dir(state).verdict == "ok"
    (state / "spool/lock.mdb").write_bytes(b"")
    os.chown(state / "spool/lock.mdb", 65534, 65534)
    found = checks.state_dir(state)
    assert found.verdict == "fail" and "lock.mdb belongs to" in found.detail
    assert found.advice.startswith("chown -R")
    assert checks.state_dir(tmp_path / "missing").verdict == "fail"


def test_free_space_below_the_limits(tmp_path, monkeypatch):
    def usage(free):
        return lambda path: checks.shutil._ntuple_diskusage(10 << 30, 0, free)
    for free, verdict in ((5 << 30, "ok"), (300 << 20, "warn"), (50 << 20, "fail")):
        monkeypatch.setattr(checks.shutil, "disk_usage", usage(free))
        assert checks.free_space(tmp_path).verdict == verdict


def test_queue_depth_and_oldest(tmp_path):
    assert checks.queue(tmp_path).verdict == "ok"
    with Spool(tmp_path) as spool:
        qid = new_qid()
        spool.enqueue_sync(qid, "a@example.test", ["b@example.net"], b"Subject: x\r\n\r\n")
    found = checks.queue(tmp_path)
    assert found.verdict == "ok" and f"1 messages queued, the oldest ({qid})" in found.detail
    later = checks.queue(tmp_path, now=time.time() + 2 * 86400)
    assert later.verdict == "warn" and "2 d old" in later.detail


# the command

def test_usage_errors(instance):
    for args in (["--address", "mail.example.test"], ["--port", "smtp"],
                 ["--port", "smtp=99999"], ["--domain", "unknown.test"],
                 ["--smtp-probe", "host:port"]):
        proc = instance.mailctl("doctor", *args, check=False)
        assert proc.returncode == 2, (args, proc.stderr)


def test_a_broken_configuration_is_the_only_check(instance):
    instance.config.write_text("[server]\nbogus = 1\n")
    proc = instance.mailctl("doctor", "--json", check=False)
    [result] = json.loads(proc.stdout)
    assert result["check"] == "configuration" and result["verdict"] == "fail"
    assert "server.bogus: unknown key" in result["detail"]
    assert proc.returncode == 1
    text = instance.mailctl("doctor", check=False)
    assert text.stdout.splitlines()[0].startswith("fail configuration: ")
    assert text.stdout.splitlines()[-1] == "1 checks: 0 ok, 0 warn, 1 fail"
