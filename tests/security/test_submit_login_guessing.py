"""Password guessing against submitd is limited per client address and per account,
by the same core.login policy as imapd's: past a budget of failures, AUTH is
answered 454 4.7.0 at once, without a password check (RFC 4954 6), while an address
that has logged in to the account before still gets in. A session ends at its
third failure. Hostile AUTH input gets a clear refusal and a short log line.
"""

import base64
import socket

import pytest

from checks import PASSWORD, USER, assert_clean_log

ADDRESS_FAILURES = 4
ACCOUNT_FAILURES = 6
LOGIN_CONFIG = f"""
[login]
failure_delay = 0.01
failure_delay_max = 0.04
failure_window = 3600
address_failures = {ADDRESS_FAILURES}
account_failures = {ACCOUNT_FAILURES}
"""
PER_CONNECTION = 2


@pytest.fixture
def submit(instance):
    instance.add_user(USER, PASSWORD)
    instance.add_config(LOGIN_CONFIG)
    instance.start("submitd")
    yield instance
    assert_clean_log(instance, "submitd")


class Client:
    """An SMTP client on the submission port, from a chosen loopback address,
    under STARTTLS."""

    def __init__(self, inst, source):
        sock = socket.create_connection(("127.0.0.1", inst.port("submission")),
                                        timeout=10, source_address=(source, 0))
        self.file = sock.makefile("rb")
        self.sock = sock
        assert self.reply().startswith(b"220")
        self.cmd(b"EHLO client.test")
        assert self.cmd(b"STARTTLS").startswith(b"220")
        self.file.close()
        self.sock = inst.client_tls_context().wrap_socket(
            sock, server_hostname="localhost")
        self.file = self.sock.makefile("rb")
        self.cmd(b"EHLO client.test")

    def reply(self):
        """The last line of one reply."""
        line = self.file.readline()
        while line[3:4] == b"-":
            line = self.file.readline()
        return line.rstrip()

    def cmd(self, line):
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def auth(self, user, password):
        """The reply code of AUTH PLAIN."""
        plain = base64.b64encode(f"\0{user}\0{password}".encode())
        return int(self.cmd(b"AUTH PLAIN " + plain)[:3])

    def close(self):
        self.file.close()
        self.sock.close()


def codes(inst, source, passwords, user=USER):
    out = []
    for start in range(0, len(passwords), PER_CONNECTION):
        client = Client(inst, source)
        out += [client.auth(user, p) for p in passwords[start:start + PER_CONNECTION]]
        client.close()
    return out


def test_guesses_from_one_address_end_in_454(submit):
    guesses = [f"guess-{n}" for n in range(ADDRESS_FAILURES + 2)]
    assert codes(submit, "127.0.0.2", guesses) == [535] * ADDRESS_FAILURES + [454] * 2
    # No password check past the limit: even the right one is refused.
    assert codes(submit, "127.0.0.2", [PASSWORD]) == [454]
    log = submit.log("submitd")
    assert log.count("login failed: ") == ADDRESS_FAILURES
    assert "login throttled: user=demo@example.test ip=127.0.0.2" in log
    assert codes(submit, "127.0.0.3", [PASSWORD]) == [235]
    log = submit.log("submitd")
    assert PASSWORD not in log and "guess-" not in log


def test_account_limit_spares_the_address_its_user_logged_in_from(submit):
    assert codes(submit, "127.0.0.9", [PASSWORD]) == [235]
    for n in range(ACCOUNT_FAILURES // 2):
        assert codes(submit, f"127.0.0.{10 + n}", ["wrong-1", "wrong-2"]) == [535, 535]
    assert codes(submit, "127.0.0.30", [PASSWORD]) == [454]
    assert codes(submit, "127.0.0.9", [PASSWORD]) == [235]


def test_third_failure_ends_the_session(submit):
    client = Client(submit, "127.0.0.40")
    assert [client.auth(USER, f"w{n}") for n in range(3)] == [535, 535, 535]
    assert client.file.readline() == b""
    client.close()


def test_hostile_auth_input_is_refused_cleanly(submit):
    client = Client(submit, "127.0.0.50")
    assert client.cmd(b"AUTH PLAIN " + b"A" * 3000).startswith(b"500 5.5.2")
    assert client.cmd(b"AUTH PLAIN " + base64.b64encode(b"\xff\0\xfe\0x")
                      ).startswith(b"501 5.5.2")
    assert client.cmd(b"AUTH PLAIN " + base64.b64encode(b"only-one-part")
                      ).startswith(b"501 5.5.2")
    assert client.cmd(b"AUTH LOGIN").startswith(b"334")
    assert client.cmd(b"x" * 20000).startswith(b"501 5.5.2")
    assert client.cmd(b"AUTH PLAIN " + base64.b64encode(
        b"\0" + b"\x1b[31m" * 300 + b"@example.test\0pw")).startswith(b"535")
    assert client.cmd(b"NOOP").startswith(b"250")
    client.close()
