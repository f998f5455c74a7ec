"""core.loginlimit: failures per address and per account in a sliding window,
growing delays, and the exemption that keeps a user from being locked out."""

import pytest

from mailsuite.core import config
from mailsuite.core.loginlimit import Limiter, account_key, address_group

USER = "demo@example.test"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def limiter(clock, **values):
    values = {"failure_window": 600, "address_failures": 3, "account_failures": 5,
              "failure_delay": 1.0, "failure_delay_max": 6.0, **values}
    settings = config.from_dict({"server": {"hostname": "mx.example.test"},
                                 "login": values}).login
    return Limiter(settings, clock)


@pytest.fixture
def clock():
    return Clock()


def fail(lim, group, account=USER, times=1):
    return [lim.failed(group, account) for _ in range(times)]


@pytest.mark.parametrize("ip, group", [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:DB8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("", "-"),
])
def test_address_groups(ip, group):
    assert address_group(ip) == group


def test_account_keys_are_normalized_and_bounded():
    assert account_key("Demo@Example.TEST") == USER
    assert account_key("no address") == "?no address"
    assert len(account_key("x" * 10000)) == 257


def test_delays_double_up_to_the_maximum(clock):
    lim = limiter(clock, address_failures=0)
    assert fail(lim, "192.0.2.7", times=5) == [1, 2, 4, 6, 6]
    # Another address starts again at the first delay.
    assert fail(lim, "192.0.2.8") == [1]


def test_the_address_limit(clock):
    lim = limiter(clock)
    fail(lim, "192.0.2.7", times=2)
    assert lim.refusal("192.0.2.7", USER) is None
    fail(lim, "192.0.2.7", account="other@example.test")
    assert lim.refusal("192.0.2.7", USER) == "address"
    assert lim.refusal("192.0.2.7", "third@example.test") == "address"
    assert lim.refusal("192.0.2.8", USER) is None


def test_an_ipv6_64_is_one_address(clock):
    lim = limiter(clock)
    for n in range(3):
        fail(lim, address_group(f"2001:db8:0:1::{n + 1}"))
    assert lim.refusal(address_group("2001:db8:0:1:ffff::9"), USER) == "address"
    assert lim.refusal(address_group("2001:db8:0:2::1"), USER) is None


def test_the_account_limit_counts_every_address(clock):
    lim = limiter(clock)
    for n in range(5):
        fail(lim, f"192.0.2.{n}")
    assert lim.refusal("198.51.100.1", USER) == "account"
    assert lim.refusal("198.51.100.1", "other@example.test") is None


def test_failures_age_out_of_the_window(clock):
    lim = limiter(clock)
    fail(lim, "192.0.2.7", times=2)
    clock.now += 300
    fail(lim, "192.0.2.7")
    assert lim.refusal("192.0.2.7", USER) == "address"
    clock.now += 300        # the first two are now 600 s old: out
    assert lim.refusal("192.0.2.7", USER) is None
    # With two failures gone, the delay is back to that of a second failure.
    assert fail(lim, "192.0.2.7") == [2]
    assert lim.refusal("192.0.2.7", USER) is None


def test_the_user_is_not_locked_out_by_guesses_from_elsewhere(clock):
    lim = limiter(clock)
    lim.succeeded("203.0.113.5", USER)
    for n in range(5):
        fail(lim, f"192.0.2.{n}")
    assert lim.refusal("198.51.100.1", USER) == "account"
    assert lim.refusal("203.0.113.5", USER) is None
    # The exemption is for that account only, and not from the address limit.
    fail(lim, "203.0.113.5", account="other@example.test", times=3)
    assert lim.refusal("203.0.113.5", USER) == "address"


def test_attempts_being_checked_count_against_the_limits(clock):
    lim = limiter(clock)
    with lim.pending("192.0.2.7", USER), lim.pending("192.0.2.7", USER):
        assert lim.refusal("192.0.2.7", USER) is None
        with lim.pending("192.0.2.7", USER):
            assert lim.refusal("192.0.2.7", USER) == "address"
    assert lim.refusal("192.0.2.7", USER) is None
    assert not lim._pending


def test_a_limit_of_zero_is_off(clock):
    lim = limiter(clock, address_failures=0, account_failures=0)
    fail(lim, "192.0.2.7", times=50)
    assert lim.refusal("192.0.2.7", USER) is None


def test_the_tables_are_bounded(clock, monkeypatch):
    monkeypatch.setattr("mailsuite.core.loginlimit.MAX_TRACKED", 10)
    lim = limiter(clock)
    for n in range(100):
        fail(lim, "192.0.2.7", account=f"user{n}@example.test")
    assert len(lim._failures) <= 10
    # The busiest key, touched last, is kept.
    assert lim.refusal("192.0.2.7", USER) == "address"
