"""submitd over real sockets: TLS before AUTH and MAIL, AUTH PLAIN and LOGIN, sender
ownership, the rate limit, relay networks, the header fields added, BDAT, and the
DSN and REQUIRETLS parameters kept in the queue record."""

import base64
import smtplib

import pytest

from harness import wait_for
from mailsuite.core.spool import Spool
from smtpclient import Raw

DEMO = "demo@example.test"
PASSWORD = "submit-password"
MSG = (b"From: Demo <demo@example.test>\r\nTo: bob@example.test\r\n"
       b"Subject: submitted\r\n\r\nhello\r\n")


@pytest.fixture
def submit(instance):
    """submitd and deliverd, with demo, bob and the alias info -> demo."""
    instance.add_user(DEMO, PASSWORD)
    instance.add_user("bob@example.test", "bob-password")
    instance.mailctl("alias", "add", "info@example.test", DEMO)
    return instance


def started(inst, *programs, config=""):
    if config:
        inst.add_config(config)
    inst.start("submitd", *programs)
    return inst


def client(inst, login=True):
    """An smtplib client over STARTTLS on the submission port, logged in as demo."""
    smtp = smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=15)
    smtp.starttls(context=inst.client_tls_context())
    smtp.ehlo("client.test")
    if login:
        smtp.login(DEMO, PASSWORD)
    return smtp


class TLSRaw(Raw):
    """A raw dialog that can STARTTLS."""

    def starttls(self, inst):
        assert self.cmd("STARTTLS")[0] == 220
        self.sock = inst.client_tls_context().wrap_socket(
            self.sock, server_hostname="localhost")
        self.buf = b""

    def login(self, inst):
        self.reply()
        self.cmd("EHLO client.test")
        self.starttls(inst)
        self.cmd("EHLO client.test")
        plain = base64.b64encode(f"\0{DEMO}\0{PASSWORD}".encode()).decode()
        assert self.cmd(f"AUTH PLAIN {plain}")[0] == 235


def queued(inst, qid):
    with Spool(inst.state) as spool:
        return spool.get(qid)


def delivered(inst, address=DEMO, count=1):
    files = wait_for(lambda: len(inst.inbox_files(address)) >= count
                     and inst.inbox_files(address))
    assert files, inst.log("deliverd")
    return sorted(path.read_bytes() for path in files)


# TLS, then AUTH, then MAIL

def test_credentials_and_mail_wait_for_tls(submit):
    started(submit)
    raw = Raw(submit.port("submission"))
    assert raw.reply()[0] == 220
    code, lines = raw.cmd("EHLO client.test")
    keywords = [line[4:] for line in lines[1:]]
    assert "STARTTLS" in keywords and not any("AUTH" in k for k in keywords)
    plain = base64.b64encode(f"\0{DEMO}\0{PASSWORD}".encode()).decode()
    assert raw.cmd(f"AUTH PLAIN {plain}")[1][0].startswith("538 5.7.11")
    assert raw.cmd(f"MAIL FROM:<{DEMO}>")[1][0].startswith("530 5.7.0")
    raw.close()
    assert "login failed" not in submit.log("submitd")


def test_mail_needs_auth_after_tls(submit):
    started(submit)
    with client(submit, login=False) as smtp:
        for mechanism in ("PLAIN", "LOGIN"):
            assert mechanism in smtp.esmtp_features["auth"].split()
        for keyword in ("chunking", "dsn", "requiretls", "8bitmime", "smtputf8"):
            assert smtp.has_extn(keyword), keyword
        code, text = smtp.mail(DEMO)
        assert (code, text[:5]) == (530, b"5.7.0")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_login_and_submit_to_a_local_user(submit, mechanism):
    started(submit, "deliverd")
    with client(submit, login=False) as smtp:
        smtp.user, smtp.password = DEMO, PASSWORD
        code, _ = smtp.auth(mechanism, getattr(smtp, "auth_" + mechanism.lower()),
                            initial_response_ok=mechanism == "PLAIN")
        assert code == 235
        smtp.sendmail(DEMO, ["bob@example.test"], MSG)
    [message] = delivered(submit, "bob@example.test")
    assert message.endswith(MSG)
    assert "login: user=demo@example.test" in submit.log("submitd")


def test_login_challenge_and_cancel_in_a_raw_dialog(submit):
    started(submit)
    raw = TLSRaw(submit.port("submission"))
    raw.reply()
    raw.cmd("EHLO client.test")
    raw.starttls(submit)
    raw.cmd("EHLO client.test")
    assert raw.cmd("AUTH LOGIN") == (334, ["334 VXNlcm5hbWU6"])
    assert raw.cmd("*")[1][0].startswith("501 5.7.0")
    assert raw.cmd("AUTH PLAIN") == (334, ["334 "])
    assert raw.cmd("not base64!")[1][0].startswith("501 5.5.2")
    assert raw.cmd("AUTH CRAM-MD5")[1][0].startswith("504 5.5.4")
    assert raw.cmd("AUTH LOGIN " + base64.b64encode(DEMO.encode()).decode())[0] == 334
    assert raw.cmd(base64.b64encode(PASSWORD.encode()).decode())[0] == 235
    assert raw.cmd("AUTH PLAIN")[1][0].startswith("503 5.5.1")
    raw.close()


def test_wrong_password_is_535_and_the_third_ends_the_session(submit):
    started(submit)
    raw = TLSRaw(submit.port("submission"))
    raw.reply()
    raw.cmd("EHLO client.test")
    raw.starttls(submit)
    raw.cmd("EHLO client.test")
    # A password no path or other log text holds by chance.
    wrong = base64.b64encode(f"\0{DEMO}\0Zq9-not-it".encode()).decode()
    for _ in range(2):
        assert raw.cmd(f"AUTH PLAIN {wrong}")[1][0].startswith("535 5.7.8")
    assert raw.cmd(f"AUTH PLAIN {wrong}")[1][0].startswith("535 5.7.8")
    assert raw.closed()
    log = submit.log("submitd")
    assert log.count("login failed: user=demo@example.test") == 3
    assert "Zq9-not-it" not in log


def test_submissions_port_is_implicit_tls(submit):
    started(submit, "deliverd")
    with smtplib.SMTP_SSL("127.0.0.1", submit.port("submissions"), timeout=15,
                          context=submit.client_tls_context()) as smtp:
        smtp.ehlo("client.test")
        assert not smtp.has_extn("starttls")
        smtp.login(DEMO, PASSWORD)
        smtp.sendmail(DEMO, ["bob@example.test"], MSG)
    assert delivered(submit, "bob@example.test")[0].endswith(MSG)


# who may send as whom

def test_sender_must_be_owned_by_the_user(submit):
    started(submit)
    with client(submit) as smtp:
        for sender in ("bob@example.test", "demo@elsewhere.test", "demo@[127.0.0.1]"):
            code, text = smtp.mail(sender)
            assert (code, text[:5]) == (553, b"5.7.1"), sender
        for sender in (DEMO, "Info@Example.test", ""):
            code, _ = smtp.mail(sender)
            assert code == 250, sender
            smtp.rset()


def test_unknown_local_recipient_is_refused_and_remote_taken(submit):
    started(submit)
    with client(submit) as smtp:
        smtp.mail(DEMO)
        assert smtp.rcpt("nobody@example.test")[0] == 550
        assert smtp.rcpt("someone@remote.test")[0] == 250
        assert smtp.rcpt("bob@example.test")[0] == 250


def test_rate_limit_per_user(submit):
    started(submit, config="[submitd]\nrate_limit = 2\n")
    with client(submit) as smtp:
        for _ in range(2):
            smtp.sendmail(DEMO, ["someone@remote.test"], MSG)
        code, text = smtp.mail(DEMO)
        assert (code, text[:5]) == (450, b"4.7.1")
    # Another user has their own count.
    with smtplib.SMTP("127.0.0.1", submit.port("submission"), timeout=15) as smtp:
        smtp.starttls(context=submit.client_tls_context())
        smtp.login("bob@example.test", "bob-password")
        assert smtp.mail("bob@example.test")[0] == 250


def test_relay_network_submits_without_tls_or_auth(submit):
    started(submit, "deliverd", config='[submitd]\nrelay_networks = ["127.0.0.0/8"]\n')
    with smtplib.SMTP("127.0.0.1", submit.port("submission"), timeout=15) as smtp:
        smtp.ehlo("printer.test")
        smtp.sendmail("scanner@office.test", ["bob@example.test"], MSG)
    assert delivered(submit, "bob@example.test")[0].endswith(MSG)


# what goes on top of the message

def test_received_hides_the_client_and_missing_fields_are_added(submit):
    started(submit, "deliverd")
    with client(submit) as smtp:
        smtp.sendmail(DEMO, ["bob@example.test"], MSG)
        dated = b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <x@y>\r\n" + MSG
        smtp.sendmail(DEMO, ["bob@example.test"], dated)
    messages = delivered(submit, "bob@example.test", 2)
    bare = next(m for m in messages if b"<x@y>" not in m)
    head = bare.split(b"\r\n\r\n")[0]
    assert head.startswith(b"Received: by mail.example.test (mailsuite) with ESMTPSA id ")
    assert b"127.0.0.1" not in bare and b"client.test" not in bare
    assert head.count(b"\r\nMessage-ID: <") == 1 and head.count(b"\r\nDate: ") == 1
    assert b"@mail.example.test>" in head
    kept = next(m for m in messages if b"<x@y>" in m)
    assert kept.count(b"Message-ID:") == 1 and kept.count(b"Date:") == 1


def test_received_shows_the_client_when_configured(submit):
    started(submit, "deliverd", config="[submitd]\nreceived_client_address = true\n")
    with client(submit) as smtp:
        smtp.sendmail(DEMO, ["bob@example.test"], MSG)
    [message] = delivered(submit, "bob@example.test")
    assert message.startswith(b"Received: from client.test ([127.0.0.1])\r\n"
                              b"\tby mail.example.test (mailsuite) with ESMTPSA id ")


# BDAT, DSN, REQUIRETLS

def test_bdat_chunks_make_one_message(submit):
    started(submit, "deliverd")
    raw = TLSRaw(submit.port("submission"))
    raw.login(submit)
    assert raw.cmd(f"MAIL FROM:<{DEMO}> BODY=8BITMIME")[0] == 250
    assert raw.cmd("RCPT TO:<bob@example.test>")[0] == 250
    # The CRLF before "hello" is split between the chunks; "bare\n" is normalized.
    first, second = MSG[:-8], MSG[-8:] + b"bare\n"
    assert first.endswith(b"\r") and second.startswith(b"\n")
    raw.send(f"BDAT {len(first)}\r\n".encode() + first)
    assert raw.reply() == (250, [f"250 2.0.0 {len(first)} octets received"])
    raw.send(f"BDAT {len(second)} LAST\r\n".encode() + second)
    code, lines = raw.reply()
    assert code == 250 and "queued as" in lines[0]
    # DATA after BDAT in one transaction is refused (RFC 3030 3).
    raw.cmd(f"MAIL FROM:<{DEMO}>")
    raw.cmd("RCPT TO:<bob@example.test>")
    raw.send(b"BDAT 3\r\nabc")
    assert raw.reply()[0] == 250
    assert raw.cmd("DATA")[0] == 503
    assert raw.cmd("RSET")[0] == 250
    raw.close()
    [message] = delivered(submit, "bob@example.test")
    assert message.endswith(MSG + b"bare\r\n")


def test_dsn_and_requiretls_are_kept_in_the_queue(submit):
    started(submit)     # no deliverd: the record stays as submitd wrote it
    raw = TLSRaw(submit.port("submission"))
    raw.login(submit)
    assert raw.cmd(f"MAIL FROM:<{DEMO}> RET=HDRS ENVID=QQ+2B1 REQUIRETLS")[0] == 250
    assert raw.cmd("RCPT TO:<far@remote.test> NOTIFY=SUCCESS,FAILURE "
                   "ORCPT=rfc822;Far+40remote.test")[0] == 250
    assert raw.cmd("RCPT TO:<bob@example.test> NOTIFY=NEVER")[0] == 250
    assert raw.cmd("RCPT TO:<x@remote.test> NOTIFY=NEVER,DELAY")[1][0].startswith("501")
    assert raw.cmd("DATA")[0] == 354
    code, lines = raw.cmd(MSG.decode() + ".")
    assert code == 250
    raw.close()
    entry = queued(submit, lines[0].split()[-1])
    assert (entry.envid, entry.ret, entry.requiretls, entry.user) == \
        ("QQ+1", "HDRS", True, DEMO)
    far, bob = entry.recipients
    assert (far.address, far.notify, far.orcpt) == \
        ("far@remote.test", ("SUCCESS", "FAILURE"), "rfc822;Far@remote.test")
    assert (bob.notify, bob.orcpt) == (("NEVER",), None)


def test_bad_dsn_parameters_are_refused(submit):
    started(submit)
    raw = TLSRaw(submit.port("submission"))
    raw.login(submit)
    for params in ("RET=ALL", "ENVID=a=b", "ENVID=" + "x" * 101, "RET=FULL RET=HDRS",
                   "REQUIRETLS=yes"):
        code, lines = raw.cmd(f"MAIL FROM:<{DEMO}> {params}")
        assert code == 501, (params, lines)
    raw.cmd(f"MAIL FROM:<{DEMO}>")
    for params in ("NOTIFY=SOMETIMES", "ORCPT=rfc822", "ORCPT=rfc822;a+4"):
        code, lines = raw.cmd(f"RCPT TO:<bob@example.test> {params}")
        assert code == 501, (params, lines)
    raw.close()
