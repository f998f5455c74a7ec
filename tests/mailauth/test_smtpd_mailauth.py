"""smtpd's sender checks end to end: the real smtpd and deliverd (harness
Instance) asking Knot (tests/outbound_peers.py) for the records of zones.py;
messages signed by Mail::DKIM (libmail-dkim-perl, independent of us) and by
dkimpy. Each outcome gives its Authentication-Results line and its action:
delivered to the INBOX, to the Junk folder (p=quarantine), or refused with
550 5.7.1 (p=reject) and not queued."""

import re
import smtplib
import subprocess
from pathlib import Path

import pytest

from harness import wait_for
from keys import ed25519_key, rsa_key
from outbound_peers import Knot
from security.checks import assert_clean_log
from zones import HELO, TEMPERROR, zones
from mailsuite.smtp.mailauth.records import DmarcRecords

HERE = Path(__file__).resolve().parent
USER = "demo@example.test"
ID = "mail.example.test"


@pytest.fixture(scope="module")
def mx(tmp_path_factory):
    base = tmp_path_factory.mktemp("mailauth")
    with Knot(base / "knot", zones(rsa_key().record, ed25519_key().record)) as knot:
        from harness import Instance
        inst = Instance(base / "inst")
        try:
            inst.add_config(f'[outbound]\nnameservers = ["{knot.nameserver}"]\n'
                            '[mailauth]\ndns_timeout = 3.0\n')
            inst.add_user(USER)
            (base / "perl.pem").write_bytes(rsa_key().private)
            inst.perl_key = base / "perl.pem"
            inst.start("smtpd", "deliverd")
            yield inst
            for program in ("smtpd", "deliverd"):
                assert_clean_log(inst, program)
        finally:
            inst.close()


def message(sender_domain, subject, extra=b""):
    return extra + (f"From: Sender <someone@{sender_domain}>\r\nTo: {USER}\r\n"
                    f"Subject: {subject}\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000"
                    "\r\n\r\nHello.\r\n").encode()


def perl_signed(mx, data, domain):
    proc = subprocess.run(["perl", str(HERE / "mail_dkim_sign.pl"), domain, "perl",
                           str(mx.perl_key)], input=data, capture_output=True,
                          timeout=60, check=True)
    return proc.stdout


def send(mx, sender, data):
    """The reply to the end of the data: (code, text)."""
    with smtplib.SMTP("127.0.0.1", mx.port("smtp"), HELO, timeout=30) as client:
        client.ehlo(HELO)
        client.mail(sender)
        client.rcpt(USER)
        client.putcmd("data")
        assert client.getreply()[0] == 354
        client.send(data.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        return client.getreply()


def delivered(mx, subject):
    """(folder, message) of the delivered message with `subject`."""
    root = mx.maildir(USER)
    needle = f"Subject: {subject}\r\n".encode()

    def find():
        for path in root.glob("**/new/*"):
            data = path.read_bytes()
            if needle in data:
                folder = path.parent.parent.name
                return ("INBOX" if path.parent.parent == root else folder[1:]), data
        return None
    found = wait_for(find, timeout=20)
    assert found, f"{subject} not delivered"
    return found


def auth_results(data):
    """The results of the one Authentication-Results field, under the Received
    field, without their reasons: ["spf=pass smtp.mailfrom=...", ...]."""
    head = data.partition(b"\r\n\r\n")[0].decode()
    fields = head.replace("\r\n\t", " ").split("\r\n")
    names = [f.split(":")[0] for f in fields]
    assert names[:2] == ["Received", "Authentication-Results"], names
    assert names.count("Authentication-Results") == 1, names
    value = re.sub(r' reason="(?:[^"\\]|\\.)*"', "", fields[1].partition(": ")[2])
    authserv_id, *results = [part.strip() for part in value.split(";")]
    assert authserv_id == ID
    return results


def accept(mx, domain, subject, data=None, sender=None):
    code, text = send(mx, sender or f"someone@{domain}", data or message(domain, subject))
    assert code == 250, text
    return delivered(mx, subject)


def test_pass_signed_by_mail_dkim(mx):
    data = perl_signed(mx, message("pass.test", "pass-perl"), "pass.test")
    folder, got = accept(mx, "pass.test", "pass-perl", data)
    assert auth_results(got) == [
        "spf=pass smtp.mailfrom=someone@pass.test", "spf=none smtp.helo=mx.pass.test",
        "dkim=pass header.d=pass.test header.a=rsa-sha256 header.s=perl",
        "dmarc=pass header.from=pass.test policy.dmarc=reject",
        "arc=none smtp.remote-ip=127.0.0.1"]
    assert folder == "INBOX"


def test_dkim_alone_passes_dmarc_with_dkimpy_and_mail_dkim_signatures(mx):
    data = ed25519_key().sign(perl_signed(mx, message("signed.test", "dkim-only"),
                                          "signed.test"), "signed.test", "ed")
    folder, got = accept(mx, "signed.test", "dkim-only", data)
    results = auth_results(got)
    assert results[0] == "spf=fail smtp.mailfrom=someone@signed.test"
    assert results[2:5] == [
        "dkim=pass header.d=signed.test header.a=ed25519-sha256 header.s=ed",
        "dkim=pass header.d=signed.test header.a=rsa-sha256 header.s=perl",
        "dmarc=pass header.from=signed.test policy.dmarc=reject"]
    assert folder == "INBOX"


def test_dmarc_reject_is_refused_at_the_end_of_data_and_not_queued(mx):
    code, text = send(mx, "someone@reject.test", message("reject.test", "rejected"))
    assert (code, text[:6]) == (550, b"5.7.1 ")
    assert b"DMARC" in text
    records = wait_for(lambda: [r for r in DmarcRecords(mx.state).since()
                                if r.header_from == "reject.test"])
    assert [(r.spf, r.dmarc, r.policy, r.disposition) for r in records] == [
        ("fail", "fail", "reject", "reject")]
    mx.check_alive("smtpd")
    assert not [p for p in mx.maildir(USER).glob("**/new/*")
                if b"Subject: rejected\r\n" in p.read_bytes()]


def test_a_tampered_signature_fails_and_the_policy_applies(mx):
    data = perl_signed(mx, message("signed.test", "tampered"), "signed.test")
    code, text = send(mx, "someone@signed.test", data.replace(b"Hello.", b"Pay now."))
    assert code == 550, text


def test_dmarc_quarantine_goes_to_junk(mx):
    folder, got = accept(mx, "quarantine.test", "quarantined")
    assert "dmarc=fail header.from=quarantine.test policy.dmarc=quarantine" \
        in auth_results(got)
    assert folder == "Junk"


@pytest.mark.parametrize("domain, spf", [
    ("softfail.test", "softfail"), ("neutral.test", "neutral"), ("none.test", "none"),
    ("permerror.test", "permerror"), (TEMPERROR, "temperror")])
def test_spf_outcomes_are_recorded_and_delivered(mx, domain, spf):
    folder, got = accept(mx, domain, f"spf-{spf}")
    results = auth_results(got)
    assert results[0] == f"spf={spf} smtp.mailfrom=someone@{domain}"
    dmarc = {"permerror.test": "permerror", TEMPERROR: "temperror"}.get(domain, "none")
    assert results[3] == f"dmarc={dmarc} header.from={domain}"
    assert folder == "INBOX"


@pytest.mark.parametrize("field", [
    b"DKIM-Signature: v=1; a=rsa-sha256; d=pass.test; s=perl; b=\x01\x02 ;; ==\r\n",
    b"DKIM-Signature: " + b"x=" * 3000 + b"\r\n",
    b"DKIM-Signature: v=1; a=rsa-sha256; d=pass.test; s=gone; h=from; bh=AAAA; "
    b"b=AAAA\r\n",
    b"DKIM-Signature: v=1; a=rsa-sha256; d=pass.test; s=perl; h=from; bh=AAAA; "
    b"b=AAAA\r\nthis line is no header field\r\n"])
def test_malformed_signatures_are_recorded_and_the_message_kept(mx, field):
    subject = f"malformed-{len(field)}"
    folder, got = accept(mx, "pass.test", subject, message("pass.test", subject, field))
    results = auth_results(got)
    assert results[2].split()[0] in ("dkim=neutral", "dkim=permerror")
    assert results[3].startswith("dmarc=pass ")     # SPF is aligned
    assert folder == "INBOX"


def test_fields_in_our_name_are_removed_and_others_kept(mx):
    forged = (f"Authentication-Results: {ID}; dkim=pass header.d=bank.test\r\n"
              "Authentication-Results: elsewhere.test; spf=pass\r\n").encode()
    folder, got = accept(mx, "none.test", "forged-ar",
                         message("none.test", "forged-ar", forged))
    head = got.partition(b"\r\n\r\n")[0]
    assert head.count(f"Authentication-Results: {ID}".encode()) == 1
    assert b"header.d=bank.test" not in head
    assert b"Authentication-Results: elsewhere.test; spf=pass" in head


def test_several_from_domains_are_refused(mx):
    data = message("pass.test", "two-froms", b"From: boss@bank.test\r\n")
    code, text = send(mx, "someone@pass.test", data)
    assert (code, text[:6]) == (550, b"5.7.1 ")
    mx.check_alive("smtpd")


def test_bdat_gets_the_same_checks(mx):
    def bdat(domain, subject):
        data = message(domain, subject)
        with smtplib.SMTP("127.0.0.1", mx.port("smtp"), HELO, timeout=30) as client:
            client.ehlo(HELO)
            client.mail(f"someone@{domain}")
            client.rcpt(USER)
            client.send(b"BDAT %d LAST\r\n" % len(data) + data)
            return client.getreply()
    assert bdat("reject.test", "bdat-rejected")[0] == 550
    assert bdat("softfail.test", "bdat-kept")[0] == 250
    folder, got = delivered(mx, "bdat-kept")
    assert auth_results(got)[0] == "spf=softfail smtp.mailfrom=someone@softfail.test"
