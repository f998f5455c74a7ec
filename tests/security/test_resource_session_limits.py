"""Session limits per daemon and per client address: a client over a limit gets the
protocol's refusal and is disconnected at once; a session that ends frees its slot.

Before the limits, one client could open sessions until the daemon ran out of file
descriptors.
"""

import time

import pytest

from checks import PASSWORD, USER, assert_clean_log
from crowd import connect_from, first_line, hang_up, read_to_end, set_keys
from harness import wait_for

SESSIONS = 3
PER_ADDRESS = 2
# RFC 5321 3.8; RFC 9051 7.1.5.
SMTP_REFUSAL = b"421 4.7.0 mail.example.test too many connections, try again later\r\n"
IMAP_REFUSAL = b"* BYE too many connections\r\n"
# RFC 3206 4.
POP3_REFUSAL = b"-ERR [SYS/TEMP] too many connections, try again later\r\n"


class Protocol:
    def __init__(self, program, port_name, greeting, refusal, goodbye, tls=False):
        self.program = program
        self.port_name = port_name
        self.greeting = greeting
        self.refusal = refusal
        self.goodbye = goodbye
        self.tls = tls


PROTOCOLS = [
    Protocol("smtpd", "smtp", b"220 ", SMTP_REFUSAL, b"QUIT\r\n"),
    Protocol("imapd", "imap", b"* OK ", IMAP_REFUSAL, b"a LOGOUT\r\n"),
    Protocol("imapd", "imaps", b"* OK ", IMAP_REFUSAL, b"a LOGOUT\r\n", tls=True),
    Protocol("pop3d", "pop3", b"+OK ", POP3_REFUSAL, b"QUIT\r\n"),
    Protocol("pop3d", "pop3s", b"+OK ", POP3_REFUSAL, b"QUIT\r\n", tls=True),
]


@pytest.fixture(params=PROTOCOLS, ids=lambda p: p.port_name)
def server(request, instance):
    """The daemon with small limits, and a way to open connections to it."""
    protocol = request.param
    set_keys(instance, protocol.program, max_sessions=SESSIONS,
             max_sessions_per_address=PER_ADDRESS)
    instance.add_user(USER, PASSWORD)
    instance.start(protocol.program)
    yield Server(instance, protocol)
    assert_clean_log(instance, protocol.program)


class Server:
    def __init__(self, instance, protocol):
        self.instance = instance
        self.protocol = protocol
        self.port = instance.port(protocol.port_name)

    def connect(self, source):
        sock = connect_from(source, self.port)
        if self.protocol.tls:
            sock = self.instance.client_tls_context().wrap_socket(sock)
        return sock

    def session(self, source):
        """A connection the server greeted."""
        sock = self.connect(source)
        line = first_line(sock, time.monotonic() + 10)
        assert line.startswith(self.protocol.greeting), line
        return sock

    def assert_refused(self, source):
        with self.connect(source) as sock:
            assert read_to_end(sock) == self.protocol.refusal

    def end(self, sock):
        with sock:
            hang_up(sock, self.protocol.goodbye)

    def refusals_logged(self):
        log = self.instance.log(self.protocol.program)
        return [line for line in log.splitlines() if "refused" in line]


def test_per_address_limit(server):
    first = server.session("127.0.0.1")
    second = server.session("127.0.0.1")
    server.assert_refused("127.0.0.1")
    # Another address is still served (the daemon's limit is not reached).
    other = server.session("127.0.0.2")
    server.end(first)
    again = server.session("127.0.0.1")
    for sock in (second, other, again):
        server.end(sock)
    lines = wait_for(server.refusals_logged)
    assert len(lines) == 1 and "127.0.0.1" in lines[0], lines


def test_daemon_limit(server):
    held = [server.session(f"127.0.0.{n}") for n in range(2, 2 + SESSIONS)]
    server.assert_refused("127.0.0.9")
    server.end(held.pop())
    held.append(server.session("127.0.0.9"))
    for sock in held:
        server.end(sock)
    assert wait_for(server.refusals_logged)
