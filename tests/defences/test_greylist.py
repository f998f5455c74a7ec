"""Greylisting: the triplet's first attempt waits (451 4.7.1 at RCPT), its retry
after the delay passes, and a triplet that passed is remembered. The clock is the
test's; the end-to-end test seeds the daemon's LMDB from here."""

import smtplib
import time

import pytest

from defencemx import start_mx
from mailsuite.core.config import from_dict
from mailsuite.smtp.defences.greylist import Greylist, triplet
from security.checks import USER, assert_clean_log

DELAY, WINDOW, EXPIRY = 300, 3600, 86400


class Clock:
    now = 1_000_000.0

    def __call__(self):
        return self.now


def settings(**greylist):
    return from_dict({"greylist": dict(delay=DELAY, retry_window=WINDOW,
                                       expiry=EXPIRY, **greylist)}).greylist


@pytest.fixture
def grey(tmp_path):
    clock = Clock()
    with Greylist(tmp_path, settings(), clock) as greylist:
        yield greylist, clock


def test_the_first_attempt_waits_and_the_retry_passes(grey):
    greylist, clock = grey
    assert greylist.wait("192.0.2.1", "a@s.test", "u@d.test") == DELAY
    clock.now += 100
    assert greylist.wait("192.0.2.1", "a@s.test", "u@d.test") == DELAY - 100
    clock.now += 200
    assert greylist.wait("192.0.2.1", "a@s.test", "u@d.test") == 0
    # Passed: remembered until `expiry` after its last message.
    clock.now += EXPIRY
    assert greylist.wait("192.0.2.1", "a@s.test", "u@d.test") == 0
    clock.now += EXPIRY + 1
    assert greylist.wait("192.0.2.1", "a@s.test", "u@d.test") == DELAY


def test_a_retry_from_the_same_network_counts(grey):
    greylist, clock = grey
    assert greylist.wait("192.0.2.1", "a@s.test", "U@D.test") == DELAY
    assert greylist.wait("2001:db8::1", "a@s.test", "u@d.test") == DELAY
    clock.now += DELAY
    assert greylist.wait("192.0.2.200", "A@s.test", "u@d.test") == 0
    assert greylist.wait("2001:db8::ffff:1", "a@s.test", "u@d.test") == 0
    # Another network, sender or recipient is another triplet.
    assert greylist.wait("192.0.3.1", "a@s.test", "u@d.test") == DELAY
    assert greylist.wait("192.0.2.1", "b@s.test", "u@d.test") == DELAY
    assert greylist.wait("192.0.2.1", "a@s.test", "v@d.test") == DELAY


def test_a_retry_after_the_window_starts_again(grey):
    greylist, clock = grey
    greylist.wait("192.0.2.1", "", "u@d.test")
    clock.now += WINDOW + 1
    assert greylist.wait("192.0.2.1", "", "u@d.test") == DELAY


def test_the_sweep_forgets_old_triplets_only(grey):
    greylist, clock = grey
    greylist.wait("192.0.2.1", "old@s.test", "u@d.test")
    clock.now += EXPIRY
    greylist.wait("192.0.2.1", "new@s.test", "u@d.test")
    greylist.sweep(clock.now + 2)
    with greylist.env.begin(db=greylist.db) as txn:
        assert txn.get(triplet("192.0.2.1", "old@s.test", "u@d.test")) is None
        assert txn.get(triplet("192.0.2.1", "new@s.test", "u@d.test")) is not None


@pytest.fixture(scope="module")
def mx(tmp_path_factory):
    inst = start_mx(tmp_path_factory.mktemp("mx"), f"""
[smtpd]
exempt_networks = ["127.0.0.1/32"]
greet_pause = 0.0
[greylist]
enabled = true
delay = {DELAY}
""", programs=["smtpd"])
    yield inst
    inst.close()
    assert_clean_log(inst, "smtpd")


def rcpt_from(inst, source, sender="a@sender.test"):
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30,
                      source_address=(source, 0)) as client:
        client.ehlo("client.test")
        client.mail(sender)
        return client.rcpt(USER)


def test_smtpd_greylists_at_rcpt(mx):
    code, text = rcpt_from(mx, "127.0.1.1")
    assert (code, text[:5]) == (451, b"4.7.1")
    assert b"greylisted" in text
    # Exempt networks skip it.
    assert rcpt_from(mx, "127.0.0.1")[0] == 250


def test_smtpd_lets_a_retry_after_the_delay_through(mx):
    # The first attempt, made DELAY seconds ago (the daemon shares the LMDB).
    then = time.time() - DELAY
    with Greylist(mx.state, settings(), lambda: then) as greylist:
        assert greylist.wait("127.0.2.1", "late@sender.test", USER) == DELAY
    assert rcpt_from(mx, "127.0.2.1", "late@sender.test")[0] == 250
    assert rcpt_from(mx, "127.0.2.1", "late@sender.test")[0] == 250
    assert rcpt_from(mx, "127.0.2.1", "other@sender.test")[0] == 451
