"""smtpd over a real socket: the ESMTP dialog, recipients, limits, durability."""

import smtplib

from harness import wait_for
from smtpclient import Raw

MSG = b"From: a@sender.test\r\nTo: demo@example.test\r\nSubject: hi\r\n\r\nhello\r\n"


def test_ehlo_advertises_extensions(mx):
    with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
        code, _ = client.ehlo("client.test")
        assert code == 250
        for ext in ("pipelining", "8bitmime", "smtputf8", "size",
                    "enhancedstatuscodes", "starttls"):
            assert client.has_extn(ext), ext
        assert int(client.esmtp_features["size"]) == 52428800


def test_message_is_queued_and_delivered(mx):
    with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
        client.ehlo("client.test")
        client.mail("a@sender.test")
        client.rcpt("demo@example.test")
        code, text = client.data(MSG)
    assert code == 250 and b"queued as" in text
    qid = text.split()[-1].decode()
    files = wait_for(lambda: mx.inbox_files(), timeout=10)
    assert len(files) == 1
    content = files[0].read_bytes()
    assert content.endswith(MSG)
    assert content.startswith(b"Received: from client.test ([127.0.0.1])")
    assert f"id {qid}".encode() in content
    assert qid in mx.log("smtpd")


def test_alias_delivers_to_target(mx):
    with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
        client.sendmail("a@sender.test", ["INFO@example.test"], MSG)
    assert len(wait_for(lambda: mx.inbox_files())) == 1


def test_unknown_user_refused_with_550(mx):
    with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
        client.ehlo("client.test")
        client.mail("a@sender.test")
        code, text = client.rcpt("nobody@example.test")
    assert (code, text[:5]) == (550, b"5.1.1")


def test_bare_postmaster_is_the_postmaster_of_the_hostnames_domain(mx):
    # The server is mail.example.test: <Postmaster> is postmaster@example.test
    # even when another local domain sorts first; its alias receives the mail.
    mx.mailctl("domain", "add", "aaa.test", "--postmaster", "nobody@remote.test")
    mx.mailctl("alias", "add", "postmaster@example.test", "demo@example.test")
    with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
        client.ehlo("client.test")
        client.mail("a@sender.test")
        assert client.rcpt("<Postmaster>")[0] == 250
        code, text = client.data(MSG)
    assert code == 250
    qid = text.split()[-1].decode()
    assert len(wait_for(lambda: mx.inbox_files())) == 1
    assert wait_for(lambda: f"{qid}: to=<demo@example.test>, orig_to=<postmaster@"
                            f"example.test>" in mx.log("deliverd"))


def test_bare_postmaster_without_a_local_domain_is_unknown(instance):
    instance.start("smtpd")
    with smtplib.SMTP("127.0.0.1", instance.port("smtp")) as client:
        client.ehlo("client.test")
        client.mail("a@sender.test")
        code, text = client.rcpt("<Postmaster>")
    assert (code, text[:5]) == (550, b"5.1.1")


def relay_attempts():
    return [
        "<someone@remote.test>",
        "<demo%remote.test@example.test>",
        "<remote.test!demo@example.test>",
        '<"demo@remote.test"@example.test>',
        "<@example.test:someone@remote.test>",
        "<demo@[127.0.0.1]>",
        "<demo@example.test.>",
    ]


def test_relay_is_denied_whatever_the_trick(mx):
    raw = Raw(mx.port("smtp"))
    assert raw.reply()[0] == 220
    assert raw.cmd("EHLO client.test")[0] == 250
    assert raw.cmd("MAIL FROM:<a@sender.test>")[0] == 250
    for rcpt in relay_attempts():
        code, lines = raw.cmd(f"RCPT TO:{rcpt}")
        assert code in (554, 501), (rcpt, lines)
        if code == 554:
            assert lines[0].startswith("554 5.7.1"), (rcpt, lines)
    assert raw.cmd("DATA")[0] == 554
    raw.close()


def test_source_route_to_local_user_is_accepted(mx):
    raw = Raw(mx.port("smtp"))
    raw.reply()
    raw.cmd("EHLO client.test")
    raw.cmd("MAIL FROM:<>")
    code, _ = raw.cmd("RCPT TO:<@relay.test:demo@example.test>")
    assert code == 250
    raw.close()


def test_sequence_errors(mx):
    raw = Raw(mx.port("smtp"))
    raw.reply()
    assert raw.cmd("MAIL FROM:<a@b.test>")[1][0].startswith("503 5.5.1")
    assert raw.cmd("EHLO client.test")[0] == 250
    assert raw.cmd("RCPT TO:<demo@example.test>")[0] == 503
    assert raw.cmd("DATA")[0] == 503
    assert raw.cmd("MAIL FROM:<a@b.test>")[0] == 250
    assert raw.cmd("MAIL FROM:<a@b.test>")[0] == 503
    assert raw.cmd("RSET")[0] == 250
    assert raw.cmd("FOO")[1][0].startswith("500 5.5.2")
    assert raw.cmd("VRFY demo")[0] == 252
    assert raw.cmd("NOOP")[0] == 250
    assert raw.cmd("QUIT")[0] == 221
    assert raw.closed()


def test_size_limits(mx):
    raw = Raw(mx.port("smtp"))
    raw.reply()
    raw.cmd("EHLO client.test")
    code, lines = raw.cmd("MAIL FROM:<a@b.test> SIZE=999999999999")
    assert lines[0].startswith("552 5.3.4")
    assert raw.cmd("MAIL FROM:<a@b.test> FOO=bar")[0] == 555
    raw.close()


def test_oversized_data_is_refused_and_session_goes_on(instance):
    instance.add_config("[smtpd]\nmax_message_size = 10000\n")
    instance.add_user("demo@example.test")
    instance.start("smtpd")
    raw = Raw(instance.port("smtp"))
    assert raw.begin_data() == 354
    raw.send(b"Subject: big\r\n\r\n" + b"x" * 998 + b"\r\n")
    for _ in range(20):
        raw.send(b"y" * 998 + b"\r\n")
    code, lines = raw.cmd(".")
    assert lines[0].startswith("552 5.3.4")
    assert raw.cmd("NOOP")[0] == 250
    raw.close()


def test_long_command_line_is_refused(mx):
    raw = Raw(mx.port("smtp"))
    raw.reply()
    code, lines = raw.cmd("NOOP " + "x" * 5000)
    assert lines[0].startswith("500 5.5.2")
    assert raw.cmd("NOOP")[0] == 250
    raw.close()


def test_too_many_errors_end_the_session(mx):
    raw = Raw(mx.port("smtp"))
    raw.reply()
    for _ in range(9):
        assert raw.cmd("BOGUS")[0] == 500
    code, lines = raw.cmd("BOGUS")
    assert code == 500 and lines == ["500 5.5.2 command not recognized"]
    assert raw.reply()[0] == 421
    assert raw.closed()


def test_pipelined_transaction(mx):
    raw = Raw(mx.port("smtp"))
    raw.reply()
    raw.cmd("EHLO client.test")
    raw.send(b"MAIL FROM:<a@sender.test>\r\nRCPT TO:<nobody@example.test>\r\n"
             b"RCPT TO:<demo@example.test>\r\nDATA\r\n")
    assert [raw.reply()[0] for _ in range(4)] == [250, 550, 250, 354]
    raw.send(MSG + b".\r\nQUIT\r\n")
    assert raw.reply()[0] == 250
    assert raw.reply()[0] == 221
    assert len(wait_for(lambda: mx.inbox_files())) == 1


def test_smtputf8_address_needs_parameter(mx):
    raw = Raw(mx.port("smtp"))
    raw.reply()
    raw.cmd("EHLO client.test")
    assert raw.cmd("MAIL FROM:<用户@sender.test>")[1][0].startswith("553 5.6.7")
    assert raw.cmd("MAIL FROM:<用户@sender.test> SMTPUTF8")[0] == 250
    raw.close()


def test_starttls_then_send(mx):
    with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
        client.ehlo("client.test")
        ctx = mx.client_tls_context()
        client.starttls(context=ctx)
        client.ehlo("client.test")
        assert not client.has_extn("starttls")
        client.sendmail("a@sender.test", ["demo@example.test"], MSG)
    files = wait_for(lambda: mx.inbox_files())
    assert b"with ESMTPS" in files[0].read_bytes()


def test_starttls_discards_pipelined_plaintext(mx):
    raw = Raw(mx.port("smtp"))
    raw.reply()
    raw.cmd("EHLO client.test")
    # CVE-2011-0411: a command sent in plaintext behind STARTTLS must not be run
    # inside the TLS session.
    raw.send(b"STARTTLS\r\nHELP\r\n")
    assert raw.reply()[0] == 220
    ctx = mx.client_tls_context()
    tls = ctx.wrap_socket(raw.sock, server_hostname="localhost")
    tls.sendall(b"NOOP\r\n")
    data = b""
    while b"\r\n" not in data:
        data += tls.recv(4096)
    assert data.startswith(b"250 2.0.0 Ok") and data.count(b"\r\n") == 1
    tls.close()



def test_oversized_header_section_is_refused(instance):
    instance.add_config("[smtpd]\nmax_header_size = 2000\n")
    instance.add_user("demo@example.test")
    instance.start("smtpd")
    raw = Raw(instance.port("smtp"))
    assert raw.begin_data() == 354
    raw.send(b"".join(b"X-Filler-%d: %s\r\n" % (i, b"y" * 60) for i in range(50))
             + b"\r\nshort body\r\n")
    code, lines = raw.cmd(".")
    assert lines[0] == "552 5.3.4 header section exceeds limit"
    assert raw.cmd("NOOP")[0] == 250
    raw.close()


def test_idle_client_is_disconnected_with_421(instance):
    instance.add_config("[smtpd]\ncommand_timeout = 1\n")
    instance.start("smtpd")
    raw = Raw(instance.port("smtp"))
    raw.sock.settimeout(10)
    assert raw.reply()[0] == 220
    code, lines = raw.reply()           # say nothing: the server gives up
    assert lines[0].startswith("421 4.4.2")
    assert raw.closed()
