"""Before the greeting and at HELO: the connection rate, the early talker, the
client's reverse DNS (iprev) and HELO name, recorded in the log and the Received
field, and the DNSBL looked up from the connection on, answered at RCPT. A real Knot serves the reverse and forward zones on loopback; clients
come from loopback addresses of their own (127.0.0.x), 127.0.0.1 being exempt."""

import smtplib
import socket

import pytest

from defencemx import start_mx
from harness import wait_for
from outbound_peers import Knot
from protocol.smtpclient import Raw
from security.checks import USER, assert_clean_log

PAUSE = 0.5
RATE = 5
ZONES = {
    "0.0.127.in-addr.arpa": """
7 PTR mx.good.test.
8 PTR liar.good.test.
""",
    "good.test": """
mx A 127.0.0.7
liar A 192.0.2.8
""",
    # 127.255.255.254 is a list's error code, not a listing.
    "dnsbl.test": """
40.0.0.127 A 127.0.0.2
40.0.0.127 TXT "listed for testing"
41.0.0.127 A 127.255.255.254
""",
}
MESSAGE = b"From: <a@good.test>\r\nSubject: iprev\r\n\r\nhello\r\n"


@pytest.fixture(scope="module")
def mx(tmp_path_factory):
    with Knot(tmp_path_factory.mktemp("knot"), ZONES) as dns:
        inst = start_mx(tmp_path_factory.mktemp("mx"), f"""
[smtpd]
exempt_networks = ["127.0.0.1/32"]
greet_pause = {PAUSE}
connection_rate = {RATE}
dns_timeout = 5.0
[dnsbl]
zones = ["dnsbl.test"]
[outbound]
nameservers = ["{dns.nameserver}"]
""")
        yield inst
        inst.close()
    assert_clean_log(inst, "smtpd")


def raw_from(inst, source):
    raw = Raw.__new__(Raw)
    raw.sock = socket.create_connection(("127.0.0.1", inst.port("smtp")), timeout=10,
                                        source_address=(source, 0))
    raw.buf = b""
    return raw


def test_early_talker_is_dropped(mx):
    raw = raw_from(mx, "127.0.0.20")
    raw.send(b"EHLO hasty.test\r\n")
    code, lines = raw.reply()
    assert (code, lines[0][4:9]) == (554, "5.5.1")
    assert raw.closed()
    assert wait_for(lambda: "talked before the greeting after CONNECT from "
                    "[127.0.0.20]" in mx.log("smtpd"))


def test_a_patient_client_is_greeted_and_remembered(mx):
    raw = raw_from(mx, "127.0.0.21")
    assert raw.reply()[0] == 220
    raw.cmd("QUIT")
    # Once it has waited, the address is greeted at once: a command sent with
    # the connection is read after the greeting, as pipelining would be.
    raw = raw_from(mx, "127.0.0.21")
    raw.send(b"NOOP\r\n")
    assert raw.reply()[0] == 220
    assert raw.reply()[0] == 250
    raw.close()


def test_connection_rate_per_address(mx):
    for _ in range(RATE):
        raw = raw_from(mx, "127.0.0.30")
        assert raw.reply()[0] == 220
        raw.cmd("QUIT")
    raw = raw_from(mx, "127.0.0.30")
    code, lines = raw.reply()
    assert (code, lines[0][4:9]) == (421, "4.7.0")
    assert raw.closed()
    # Another address is not held back by that one.
    raw = raw_from(mx, "127.0.0.31")
    assert raw.reply()[0] == 220
    raw.close()


def send_from(inst, source, helo):
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30,
                      source_address=(source, 0)) as client:
        client.ehlo(helo)
        client.mail("a@good.test")
        client.rcpt(USER)
        return client.data(MESSAGE)


def received_of(inst, source):
    for path in inst.inbox_files():
        text = path.read_bytes()
        if f"[{source}]".encode() in text:
            return text.split(b"\r\n\r\n")[0].decode()
    return None


@pytest.mark.parametrize("source, helo, tcp_info, line", [
    ("127.0.0.7", "mx.good.test", "(mx.good.test [127.0.0.7])",
     "iprev=pass (mx.good.test), helo=mx.good.test: matches the reverse name"),
    # The PTR name's address is another: not confirmed, no name shown.
    ("127.0.0.8", "liar.good.test", "([127.0.0.8])",
     "iprev=fail, helo=liar.good.test: does not resolve to the client"),
    ("127.0.0.9", "mail.example.test", "([127.0.0.9])",
     "iprev=fail, helo=mail.example.test: claims to be this server"),
    ("127.0.0.10", "[127.0.0.10]", "([127.0.0.10])",
     "iprev=fail, helo=[127.0.0.10]: address literal matches"),
    ("127.0.0.11", "localhost", "([127.0.0.11])",
     "iprev=fail, helo=localhost: not a fully qualified host name"),
])
def test_reverse_dns_and_helo_are_recorded(mx, source, helo, tcp_info, line):
    assert send_from(mx, source, helo)[0] == 250
    assert wait_for(lambda: received_of(mx, source))
    assert f"Received: from {helo} {tcp_info}" in received_of(mx, source)
    assert f"[{source}]: {line}" in mx.log("smtpd")


def rcpts_from(inst, source, recipients):
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30,
                      source_address=(source, 0)) as client:
        client.ehlo("client.test")
        client.mail("a@good.test")
        return [client.rcpt(rcpt) for rcpt in recipients]


def test_a_listed_client_is_refused_but_for_the_postmaster(mx):
    (code, text), postmaster = rcpts_from(mx, "127.0.0.40",
                                          [USER, "postmaster@example.test"])
    assert (code, text) == (554, b"5.7.1 client [127.0.0.40] blocked using dnsbl.test")
    assert postmaster[0] == 250
    assert "[127.0.0.40]: listed in dnsbl.test (127.0.0.2)" in mx.log("smtpd")


def test_an_error_code_is_no_listing(mx):
    assert rcpts_from(mx, "127.0.0.41", [USER])[0][0] == 250
    assert "[127.0.0.41]: listed" not in mx.log("smtpd")
