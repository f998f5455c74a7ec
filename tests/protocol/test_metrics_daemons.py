"""The counters of /metrics move when the real daemons receive, deliver and log
in, added up across processes (prometheus_client's multi-process mode), and
they survive a daemon's restart."""

import imaplib
import io
import smtplib

from prometheus_client.parser import text_string_to_metric_families

from mailsuite.core import config
from mailsuite.status.app import MetricsApp
from tests.harness import wait_for

MESSAGE = b"From: a@example.net\r\nTo: demo@example.test\r\nSubject: m\r\n\r\nhello\r\n"


def scrape(instance):
    app = MetricsApp(config.load(instance.config))
    environ = {"REQUEST_METHOD": "GET", "REMOTE_ADDR": "127.0.0.1",
               "wsgi.input": io.BytesIO(b"")}
    body = b"".join(app(environ, lambda status, headers: None)).decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body)
            for sample in family.samples}


def value(found, name, **labels):
    return found.get((name, tuple(sorted(labels.items()))), 0)


def send(instance):
    with smtplib.SMTP("127.0.0.1", instance.port("smtp"), timeout=10) as smtp:
        smtp.sendmail("a@example.net", ["demo@example.test"], MESSAGE)


def test_counters_move_with_mail_and_logins_and_survive_a_restart(instance):
    password = instance.add_user("demo@example.test")
    instance.start("smtpd", "deliverd", "imapd")
    send(instance)
    assert wait_for(lambda: len(instance.inbox_files()) == 1)
    with smtplib.SMTP("127.0.0.1", instance.port("smtp"), timeout=10) as smtp:
        smtp.ehlo()
        smtp.mail("a@example.net")
        assert smtp.rcpt("nobody@example.test")[0] == 550
    imap = imaplib.IMAP4("127.0.0.1", instance.port("imap"))
    try:
        imap.login("demo@example.test", "wrong password")
    except imaplib.IMAP4.error:
        pass
    imap.login("demo@example.test", password)
    found = wait_for(lambda: (lambda f: value(
        f, "mailsuite_messages_delivered_total", path="local") == 1 and f)(scrape(instance)))
    assert found, scrape(instance)
    assert value(found, "mailsuite_messages_received_total", program="smtpd") == 1
    assert value(found, "mailsuite_messages_rejected_total", program="smtpd") == 1
    assert value(found, "mailsuite_delivery_seconds_count", path="local") == 1
    assert value(found, "mailsuite_logins_total", protocol="imapd", result="failure") == 1
    assert value(found, "mailsuite_logins_total", protocol="imapd", result="success") == 1
    assert value(found, "mailsuite_connections", program="imapd") == 1
    imap.logout()

    instance.stop("smtpd")
    instance.start("smtpd")
    send(instance)
    assert wait_for(lambda: len(instance.inbox_files()) == 2)
    found = wait_for(lambda: (lambda f: value(
        f, "mailsuite_messages_delivered_total", path="local") == 2
        and value(f, "mailsuite_queue_messages") == 0 and f)(scrape(instance)))
    assert found, scrape(instance)
    assert value(found, "mailsuite_messages_received_total", program="smtpd") == 2
    assert value(found, "mailsuite_connections", program="imapd") == 0
