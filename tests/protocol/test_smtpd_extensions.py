"""smtpd's DSN (RFC 3461), CHUNKING (RFC 3030) and REQUIRETLS (RFC 8689): what
the MX advertises, what it keeps in the queue record, and that a chunk's octets
are never read as commands, whatever the answer to its BDAT."""

import pytest

from harness import wait_for
from mailsuite.core.spool import Spool
from smtpclient import Raw

MSG = b"From: a@sender.test\r\nTo: demo@example.test\r\nSubject: hi\r\n\r\nhello\r\n"


@pytest.fixture
def smtpd(instance):
    """smtpd alone: queued messages stay in the queue for the test to read."""
    instance.add_user("demo@example.test")
    instance.start("smtpd")
    return instance


def greeted(inst):
    raw = Raw(inst.port("smtp"))
    raw.reply()
    return raw


def starttls(inst, raw):
    assert raw.cmd("STARTTLS")[0] == 220
    raw.sock = inst.client_tls_context().wrap_socket(raw.sock,
                                                     server_hostname="localhost")
    raw.buf = b""


def keywords(lines):
    return [line[4:] for line in lines[1:]]


def entry(inst, reply_line):
    with Spool(inst.state) as spool:
        return spool.get(reply_line.split()[-1])


def test_extensions_and_requiretls_only_under_tls(smtpd):
    raw = greeted(smtpd)
    words = keywords(raw.cmd("EHLO client.test")[1])
    assert "DSN" in words and "CHUNKING" in words and "REQUIRETLS" not in words
    assert raw.cmd("MAIL FROM:<a@sender.test> REQUIRETLS")[0] == 555
    starttls(smtpd, raw)
    assert "REQUIRETLS" in keywords(raw.cmd("EHLO client.test")[1])
    assert raw.cmd("MAIL FROM:<a@sender.test> REQUIRETLS RET=FULL ENVID=e1")[0] == 250
    assert raw.cmd("RCPT TO:<demo@example.test> NOTIFY=DELAY "
                   "ORCPT=rfc822;demo@example.test")[0] == 250
    raw.cmd("DATA")
    code, lines = raw.cmd(MSG.decode() + ".")
    assert code == 250
    raw.close()
    queued = entry(smtpd, lines[0])
    assert (queued.requiretls, queued.ret, queued.envid, queued.user) == \
        (True, "FULL", "e1", None)
    assert queued.recipients[0].notify == ("DELAY",)
    assert queued.recipients[0].orcpt == "rfc822;demo@example.test"


def test_bdat_message_is_queued_with_bare_line_ends_fixed(smtpd):
    raw = greeted(smtpd)
    raw.cmd("EHLO client.test")
    raw.cmd("MAIL FROM:<a@sender.test>")
    raw.cmd("RCPT TO:<demo@example.test>")
    body = MSG.replace(b"hello\r\n", b"hel\nlo\r.\r\n")
    raw.send(f"BDAT {len(body)} LAST\r\n".encode() + body)
    code, lines = raw.reply()
    assert code == 250
    raw.close()
    with Spool(smtpd.state) as spool:
        data = spool.load(lines[0].split()[-1])
    assert data.endswith(MSG.replace(b"hello\r\n", b"hel\r\nlo\r\n.\r\n"))
    assert data.startswith(b"Received: from client.test ([127.0.0.1])")


@pytest.mark.parametrize("setup", [[], ["MAIL FROM:<a@sender.test>"]],
                         ids=["no-mail", "no-recipient"])
def test_refused_chunk_is_read_not_run(smtpd, setup):
    raw = greeted(smtpd)
    raw.cmd("EHLO client.test")
    for line in setup:
        raw.cmd(line)
    smuggled = b"RSET\r\nQUIT\r\n"
    raw.send(f"BDAT {len(smuggled)} LAST\r\n".encode() + smuggled)
    assert raw.reply()[0] in (503, 554)
    assert raw.cmd("NOOP") == (250, ["250 2.0.0 Ok"])
    raw.close()


def test_chunks_past_the_size_limit_fail_the_message_and_keep_the_session(instance):
    instance.add_user("demo@example.test")
    instance.add_config("[smtpd]\nmax_message_size = 1000\n")
    instance.start("smtpd")
    raw = greeted(instance)
    raw.cmd("EHLO client.test")
    raw.cmd("MAIL FROM:<a@sender.test>")
    raw.cmd("RCPT TO:<demo@example.test>")
    raw.send(b"BDAT 800\r\n" + b"x" * 800)
    assert raw.reply()[0] == 250
    raw.send(b"BDAT 800 LAST\r\n" + b"QUIT\r\n" * 100 + b"y" * 200)
    assert raw.reply()[1][0].startswith("552 5.3.4")
    # The transaction is over; the chunk's octets were not commands.
    assert raw.cmd("NOOP")[0] == 250
    raw.send(b"BDAT 3 LAST\r\nabc")
    assert raw.reply()[0] == 503
    assert raw.cmd("RSET")[0] == 250
    raw.close()
    with Spool(instance.state) as spool:
        assert spool.count() == 0
    assert wait_for(lambda: "disconnect from" in instance.log("smtpd"))
    assert "Traceback" not in instance.log("smtpd")
