"""Password guessing against pop3d is limited as against imapd (core.login): per
client address and per account, in a sliding window; past a limit, attempts are
answered -ERR [SYS/TEMP] at once (RFC 3206 4) without a password check, and an
address that has logged in to the account before still gets in. A session ends
at its third failed login."""

import pytest

from checks import PASSWORD, USER, assert_clean_log
from protocol.popclient import RawPop

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
FAILED = b"-ERR [AUTH] authentication failed\r\n"
THROTTLED = b"-ERR [SYS/TEMP] too many failed logins, try again later\r\n"
PER_CONNECTION = 2


@pytest.fixture
def pop3(instance):
    instance.add_user(USER, PASSWORD)
    instance.add_config(LOGIN_CONFIG)
    instance.start("pop3d")
    yield instance
    assert_clean_log(instance, "pop3d")


def answers(instance, source, passwords, user=USER):
    """The answers to USER and PASS, one per password, from `source`, two to a
    connection (the third failure ends a session)."""
    out = []
    for start in range(0, len(passwords), PER_CONNECTION):
        conn = RawPop(instance.port("pop3"), source=source)
        for password in passwords[start:start + PER_CONNECTION]:
            answer = conn.login(user, password)
            out.append(b"+OK" if answer.startswith(b"+OK") else answer)
            if answer.startswith(b"+OK"):
                conn.command("QUIT")
                break
        conn.close()
    return out


def test_guesses_from_one_address_end_in_sys_temp(pop3):
    guesses = [f"guess-{n}" for n in range(ADDRESS_FAILURES + 3)]
    assert answers(pop3, "127.0.0.2", guesses) == \
        [FAILED] * ADDRESS_FAILURES + [THROTTLED] * 3
    # Refused without a password check: even the right password.
    assert answers(pop3, "127.0.0.2", [PASSWORD]) == [THROTTLED]
    assert pop3.log("pop3d").count("login failed: ") == ADDRESS_FAILURES
    assert answers(pop3, "127.0.0.3", [PASSWORD]) == [b"+OK"]
    log = pop3.log("pop3d")
    assert PASSWORD not in log and "guess-" not in log


def test_account_limit_spares_the_users_own_address(pop3):
    assert answers(pop3, "127.0.0.9", [PASSWORD]) == [b"+OK"]
    for n in range(ACCOUNT_FAILURES // 2):
        assert answers(pop3, f"127.0.0.{10 + n}", ["wrong-1", "wrong-2"]) == [FAILED] * 2
    assert answers(pop3, "127.0.0.30", [PASSWORD]) == [THROTTLED]
    assert answers(pop3, "127.0.0.9", [PASSWORD]) == [b"+OK"]


def test_three_failures_end_the_session(pop3):
    conn = RawPop(pop3.port("pop3"), source="127.0.0.40")
    assert [conn.login(USER, f"wrong-{n}") for n in range(3)] == [FAILED] * 3
    assert conn.rest() == b"-ERR too many failed logins\r\n"
