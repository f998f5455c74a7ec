"""More recipients than the limit: the extra ones get 452 and the transaction
goes on with the accepted ones (RFC 5321 4.5.3.1.8); a 452 is the server's limit,
not the client's error, so it never uses up the session's error budget."""

from checks import USER
from harness import wait_for
from protocol.smtpclient import Raw

LIMIT = 100                          # smtpd.max_recipients' default
OTHER = "other@example.test"         # named only past the limit: must get nothing
MSG = b"From: a@sender.test\r\nSubject: many recipients\r\n\r\nhello\r\n"


def test_pipelined_recipients_past_the_limit(mx):
    mx.add_user(OTHER)
    mx.mailctl("alias", "add", "@example.test", USER)
    recipients = [USER] + [f"list{i}@example.test" for i in range(1, LIMIT)] \
        + [OTHER] * 50
    raw = Raw(mx.port("smtp"))
    raw.reply()
    raw.cmd("EHLO client.test")
    raw.send(b"MAIL FROM:<a@sender.test>\r\n"
             + b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in recipients)
             + b"DATA\r\n")
    assert raw.reply()[0] == 250
    replies = [raw.reply()[1][0] for _ in recipients]
    assert all(r.startswith("250 2.1.5") for r in replies[:LIMIT])
    assert all(r.startswith("452 4.5.3") for r in replies[LIMIT:])
    assert raw.reply()[0] == 354
    raw.send(MSG + b".\r\n")
    assert raw.reply()[0] == 250
    assert raw.cmd("QUIT")[0] == 221
    assert wait_for(lambda: mx.inbox_files(USER))
    assert "nrcpt=100" in mx.log("smtpd")
    # deliverd logs "removed" once every recipient of the message is final.
    assert wait_for(lambda: ": removed" in mx.log("deliverd"))
    assert mx.inbox_files(OTHER) == []


def test_452_does_not_count_as_an_error(mx):
    raw = Raw(mx.port("smtp"))
    raw.reply()
    raw.cmd("EHLO client.test")
    raw.cmd("MAIL FROM:<a@sender.test>")
    for _ in range(LIMIT):
        assert raw.cmd(f"RCPT TO:<{USER}>")[0] == 250
    for _ in range(3 * 10):          # three times smtpd.max_errors' default
        assert raw.cmd(f"RCPT TO:<{USER}>")[0] == 452
    assert raw.cmd("NOOP")[0] == 250
    raw.close()
