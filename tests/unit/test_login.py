"""core.login: the plaintext policy, SASL PLAIN and LOGIN, and Login.attempt() with
its limits and auth cache (the limiter itself: test_loginlimit.py)."""

import asyncio
import base64
import logging

import argon2
import pytest

from mailsuite.core import accounts, config, login
from mailsuite.core.accounts import Accounts
from mailsuite.core.login import Credentials, Login

USER = "demo@example.test"
PASSWORD = "secret-password"
IP = "192.0.2.7"


def b64(data):
    return base64.b64encode(data).decode()


def settings(**values):
    """The [login] section with `values`; no delays unless asked."""
    values = {"failure_delay": 0, "failure_delay_max": 0, **values}
    return config.from_dict({"server": {"hostname": "mx.example.test"},
                             "login": values}).login


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


# the plaintext policy

@pytest.mark.parametrize("tls, ip, loopback_allowed, refused", [
    (True, "192.0.2.1", False, False),
    (False, "192.0.2.1", False, True),
    (False, "192.0.2.1", True, True),
    (False, "127.0.0.1", False, True),
    (False, "127.0.0.1", True, False),
    (False, "::1", True, False),
    (False, "", True, True),
])
def test_plaintext_policy(tls, ip, loopback_allowed, refused):
    assert login.plaintext_refused(tls, ip, loopback_allowed) is refused
    if refused:
        with pytest.raises(login.PrivacyRequired):
            login.require_privacy(tls, ip, loopback_allowed)


# SASL

def run_sasl(mechanism, initial, replies=()):
    """The credentials, and the challenges the server sent."""
    asked, replies = [], list(replies)

    async def ask(challenge):
        asked.append(challenge)
        return replies.pop(0)

    result = asyncio.run(login.sasl(mechanism, initial, ask))
    assert not replies, "the exchange ended before the client's last line"
    return result, asked


def test_plain_with_initial_response():
    creds, asked = run_sasl("PLAIN", b64(b"\0demo@example.test\0p\xc3\xa4ss"))
    assert creds == Credentials(USER, "päss", "")
    assert asked == []


def test_plain_with_a_continuation_and_an_authzid():
    response = b64(b"Demo@example.test\0demo@example.test\0pw")
    creds, asked = run_sasl("plain", None, [response])
    assert (creds.user, creds.password, creds.authzid) == (
        USER, "pw", "Demo@example.test")
    assert asked == [""]


def test_login_mechanism_asks_for_each():
    creds, asked = run_sasl("LOGIN", None, [b64(USER.encode()), b64(b"pw")])
    assert (creds.user, creds.password) == (USER, "pw")
    assert [base64.b64decode(c) for c in asked] == [b"Username:", b"Password:"]
    creds, asked = run_sasl("LOGIN", b64(USER.encode()), [b64(b"pw")])
    assert (creds.user, creds.password) == (USER, "pw")
    assert [base64.b64decode(c) for c in asked] == [b"Password:"]


@pytest.mark.parametrize("response, error", [
    ("*", login.Cancelled),
    ("=", login.Malformed),                         # empty
    ("not base64!", login.Malformed),
    ("AGRlbW8", login.Malformed),                   # padding missing
    (b64(b"demo\0pw"), login.Malformed),            # one NUL
    (b64(b"\0demo\0pw\0x"), login.Malformed),       # three
    (b64(b"\0\0pw"), login.Malformed),              # no user
    (b64(b"\0demo\0"), login.Malformed),            # no password
    (b64(b"\0demo\0\xff\xfe"), login.Malformed),    # not UTF-8
    (b64(b"other@example.test\0demo@example.test\0pw"), login.NotAuthorized),
])
def test_bad_plain_responses(response, error):
    with pytest.raises(error):
        run_sasl("PLAIN", response)


def test_login_mechanism_cancelled_at_the_password():
    with pytest.raises(login.Cancelled):
        run_sasl("LOGIN", None, [b64(USER.encode()), "*"])


def test_unsupported_mechanism():
    with pytest.raises(login.UnsupportedMechanism):
        run_sasl("CRAM-MD5", None)


def test_credentials_never_show_the_password():
    assert PASSWORD not in repr(Credentials(USER, PASSWORD))


def test_shown_user_is_escaped_and_bounded():
    assert login.shown(USER) == USER
    assert login.shown("a b\r\nc\x1b") == "a\\x20b\\r\\nc\\x1b"
    assert len(login.shown("\U0001f600" * 10000)) < 1100


# Login.attempt: limits and the cache

class CheapHasher(argon2.PasswordHasher):
    def __init__(self):
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def acc(tmp_path, monkeypatch):
    """Accounts with demo, whose verify() calls are counted in `acc.verified`.
    The production hash parameters cost a sixth of a second each; what is
    tested does not depend on them."""
    monkeypatch.setattr(accounts, "_HASHER", CheapHasher())
    monkeypatch.setattr(accounts, "_dummy_hash", None)
    with Accounts(tmp_path / "state") as opened:
        opened.add_domain("example.test")
        opened.add_user(USER, PASSWORD)
        opened.verified = 0
        verify = opened.verify

        def counting_verify(address, password):
            opened.verified += 1
            return verify(address, password)

        opened.verify = counting_verify
        yield opened


def attempt(lg, user=USER, password=PASSWORD, ip=IP):
    return asyncio.run(lg.attempt(Credentials(user, password), ip, "LOGIN"))


def test_right_password_logs_in_and_a_wrong_one_fails(acc):
    lg = Login(settings(), acc)
    assert attempt(lg, "Demo@Example.TEST") == login.LoggedIn(USER, cached=False)
    with pytest.raises(login.Failed):
        attempt(lg, password="wrong")
    with pytest.raises(login.Failed):
        attempt(lg, user="not an address")


def test_a_cache_hit_skips_the_password_hash(acc):
    lg = Login(settings(), acc)
    assert attempt(lg).cached is False
    assert acc.verified == 1
    assert attempt(lg) == login.LoggedIn(USER, cached=True)
    assert attempt(lg, "DEMO@example.test", ip="198.51.100.1").cached is True
    assert acc.verified == 1
    with pytest.raises(login.Failed):
        attempt(lg, password="wrong")
    assert acc.verified == 2


def test_a_password_change_ends_the_cache_entry_at_once(acc):
    lg = Login(settings(), acc)
    attempt(lg)
    acc.set_password(USER, "new-password")
    with pytest.raises(login.Failed):
        attempt(lg)
    assert acc.verified == 2
    assert attempt(lg, password="new-password").cached is False


def test_setting_the_same_password_again_ends_the_entry_too(acc):
    lg = Login(settings(), acc)
    attempt(lg)
    acc.set_password(USER, PASSWORD)
    assert attempt(lg).cached is False


def test_disabling_the_account_ends_the_cache_entry_at_once(acc):
    lg = Login(settings(), acc)
    attempt(lg)
    acc.set_enabled(USER, False)
    with pytest.raises(login.Failed):
        attempt(lg)
    acc.set_enabled(USER, True)
    assert attempt(lg).cached is False


def test_cache_entries_expire_after_the_ttl(acc):
    clock = Clock()
    lg = Login(settings(cache_ttl=60), acc, clock)
    attempt(lg)
    clock.now += 59
    assert attempt(lg).cached is True
    clock.now += 1
    assert attempt(lg).cached is False
    assert acc.verified == 2


def test_a_ttl_of_zero_turns_the_cache_off(acc):
    lg = Login(settings(cache_ttl=0), acc)
    attempt(lg)
    assert attempt(lg).cached is False
    assert len(lg.cache) == 0


def test_the_cache_is_bounded(acc):
    acc.add_user("two@example.test", "two-password")
    lg = Login(settings(cache_size=1), acc)
    attempt(lg)
    attempt(lg, "two@example.test", "two-password")
    assert len(lg.cache) == 1
    assert attempt(lg).cached is False


def test_the_cache_holds_a_keyed_hash_never_the_password(acc):
    lg = Login(settings(), acc)
    attempt(lg)
    (key, (stamp, _)), = lg.cache._entries.items()
    for secret in (PASSWORD.encode(), USER.encode()):
        assert secret not in key and secret not in stamp
    assert key == lg.cache.key(USER, PASSWORD)
    # The key is HMAC under a random per-process key: another process (another
    # cache) derives another, so a stolen table cannot be checked offline.
    assert key != login.AuthCache(60, 10).key(USER, PASSWORD)


def test_failures_are_delayed_more_and_more(acc, monkeypatch):
    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    lg = Login(settings(failure_delay=0.5, failure_delay_max=3), acc)
    for _ in range(5):
        with pytest.raises(login.Failed):
            attempt(lg, password="wrong")
    assert slept == [0.5, 1, 2, 3, 3]


def test_over_the_limit_attempts_are_refused_without_a_check(acc, caplog):
    caplog.set_level(logging.INFO)
    lg = Login(settings(address_failures=2), acc)
    for _ in range(2):
        with pytest.raises(login.Failed):
            attempt(lg, password="wrong")
    with pytest.raises(login.Throttled):
        attempt(lg)
    assert acc.verified == 2
    assert "login throttled: user=demo@example.test ip=192.0.2.7 method=LOGIN " \
           "limit=address" in caplog.text
    assert caplog.text.count("login failed: user=demo@example.test ip=192.0.2.7") == 2
    assert PASSWORD not in caplog.text and "wrong" not in caplog.text


def test_a_known_address_is_not_locked_out_by_the_account_limit(acc):
    lg = Login(settings(account_failures=2), acc)
    attempt(lg, ip="203.0.113.5")
    for n in range(2):
        with pytest.raises(login.Failed):
            attempt(lg, password="wrong", ip=f"192.0.2.{n}")
    with pytest.raises(login.Throttled):
        attempt(lg, ip="192.0.2.99")
    assert attempt(lg, ip="203.0.113.5").address == USER
