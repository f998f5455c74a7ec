"""A client that goes away, or that does not speak TLS after STARTTLS, is
ordinary client behaviour: one short log line, never a traceback."""

from checks import assert_clean_log
from harness import wait_for
from protocol.smtpclient import Raw


def logged(instance, text):
    return wait_for(lambda: text in instance.log("smtpd"))


def test_drop_during_data(mx):
    raw = Raw(mx.port("smtp"))
    assert raw.begin_data() == 354
    raw.send(b"Subject: cut short\r\n\r\nthe first half of a mess")
    raw.close()
    assert logged(mx, "lost connection after DATA from [127.0.0.1]"), mx.log("smtpd")
    assert_clean_log(mx, "smtpd")


def test_drop_between_commands(mx):
    raw = Raw(mx.port("smtp"))
    raw.reply()
    raw.cmd("EHLO client.test")
    raw.close()
    assert logged(mx, "lost connection after EHLO from [127.0.0.1]"), mx.log("smtpd")
    assert_clean_log(mx, "smtpd")


def test_plaintext_after_starttls(mx):
    raw = Raw(mx.port("smtp"))
    raw.reply()
    raw.cmd("EHLO client.test")
    assert raw.cmd("STARTTLS")[0] == 220
    raw.send(b"EHLO still-plaintext.test\r\n")
    assert raw.closed()
    assert logged(mx, "TLS handshake failed from [127.0.0.1]: "), mx.log("smtpd")
    assert_clean_log(mx, "smtpd")


def test_client_hangs_up_after_starttls(mx):
    raw = Raw(mx.port("smtp"))
    raw.reply()
    raw.cmd("EHLO client.test")
    assert raw.cmd("STARTTLS")[0] == 220
    raw.close()
    assert logged(mx, "TLS handshake failed from [127.0.0.1]: connection closed"), \
        mx.log("smtpd")
    assert_clean_log(mx, "smtpd")
