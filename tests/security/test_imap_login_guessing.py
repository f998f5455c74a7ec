"""Password guessing against imapd is limited per client address and per account.

Before core.login, nothing counted failures beyond one session: 100 guesses took
13 s over 20 connections. Now a client address (an IPv6 /64) and an account each
have a budget of failures in a sliding window; past it, attempts are answered
NO [UNAVAILABLE] at once, without checking the password (RFC 5530), while an
address that has logged in to the account before still gets in.
"""

import concurrent.futures
import re
import socket

import pytest

from checks import PASSWORD, USER, assert_clean_log

ADDRESS_FAILURES = 5
ACCOUNT_FAILURES = 8
LOGIN_CONFIG = f"""
[login]
failure_delay = 0.01
failure_delay_max = 0.04
failure_window = 3600
address_failures = {ADDRESS_FAILURES}
account_failures = {ACCOUNT_FAILURES}
"""
FAILED = b"NO [AUTHENTICATIONFAILED]"
THROTTLED = b"NO [UNAVAILABLE]"
OK = b"OK"
PER_CONNECTION = 2


@pytest.fixture
def imap(instance):
    """imapd with small login limits and short delays, and the user demo."""
    instance.add_user(USER, PASSWORD)
    instance.add_config(LOGIN_CONFIG)
    instance.start("imapd")
    yield instance
    assert_clean_log(instance, "imapd")


class Client:
    """A plaintext IMAP client from a chosen loopback address (the test
    configuration allows plaintext login from loopback)."""

    def __init__(self, port, source):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                             source_address=(source, 0))
        self.file = self.sock.makefile("rb")
        assert self.file.readline().startswith(b"* OK")

    def login(self, user, password):
        """The tagged answer to LOGIN."""
        self.sock.sendall(f'a LOGIN "{user}" "{password}"\r\n'.encode())
        while (line := self.file.readline()).startswith(b"* "):
            assert not line.startswith(b"* BYE"), line
        return line.removeprefix(b"a ").rstrip()

    def close(self):
        self.file.close()
        self.sock.close()


def answers(instance, source, passwords, user=USER):
    """The answers to one LOGIN per password, from `source`, two to a connection
    (imapd ends a session at the third failure, with BYE instead of an answer)."""
    out = []
    for start in range(0, len(passwords), PER_CONNECTION):
        client = Client(instance.port("imap"), source)
        out += [client.login(user, p) for p in passwords[start:start + PER_CONNECTION]]
        client.close()
    return out


def statuses(answers):
    """Each answer's status and response code: b"OK", b"NO [UNAVAILABLE]"."""
    return [a.split(b"]")[0] + b"]" if a.startswith(b"NO [") else a.split()[0]
            for a in answers]


def failed_lines(instance):
    return re.findall(r"login failed: ", instance.log("imapd"))


def test_guesses_from_one_address_end_in_unavailable(imap):
    guesses = [f"guess-{n}" for n in range(ADDRESS_FAILURES + 4)]
    got = statuses(answers(imap, "127.0.0.2", guesses))
    assert got == [FAILED] * ADDRESS_FAILURES + [THROTTLED] * 4
    # Refused without a password check: even the right password is refused, and
    # no failure past the limit was checked and logged.
    assert statuses(answers(imap, "127.0.0.2", [PASSWORD])) == [THROTTLED]
    assert len(failed_lines(imap)) == ADDRESS_FAILURES
    assert "login throttled: user=demo@example.test ip=127.0.0.2" in imap.log("imapd")
    # Another address is untouched by that address's limit.
    assert statuses(answers(imap, "127.0.0.3", [PASSWORD])) == [OK]
    log = imap.log("imapd")
    assert PASSWORD not in log and "guess-" not in log


def test_account_limit_holds_across_addresses_but_not_for_its_user(imap):
    # The user logs in from home first: that address stays welcome.
    assert statuses(answers(imap, "127.0.0.9", [PASSWORD])) == [OK]
    sources = [f"127.0.0.{n}" for n in range(10, 10 + ACCOUNT_FAILURES // 2)]
    for source in sources:
        assert statuses(answers(imap, source, ["wrong-1", "wrong-2"])) == [FAILED] * 2
    assert statuses(answers(imap, "127.0.0.30", ["wrong-3"])) == [THROTTLED]
    assert statuses(answers(imap, "127.0.0.31", [PASSWORD])) == [THROTTLED]
    assert len(failed_lines(imap)) == ACCOUNT_FAILURES
    assert statuses(answers(imap, "127.0.0.9", [PASSWORD])) == [OK]
    # Another account is not limited by this one's failures.
    imap.add_user("other@example.test", "other-password")
    assert statuses(answers(imap, "127.0.0.30", ["other-password"],
                            user="other@example.test")) == [OK]


def test_parallel_guesses_do_not_overrun_the_address_limit(imap):
    """Attempts still being checked count against the limit, so guesses sent
    at once on many connections cannot all slip in before the first failure."""
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        got = list(pool.map(lambda n: answers(imap, "127.0.0.40", [f"guess-{n}"])[0],
                            range(12)))
    got = statuses(got)
    assert got.count(FAILED) <= ADDRESS_FAILURES
    assert got.count(FAILED) + got.count(THROTTLED) == 12
