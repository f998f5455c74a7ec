"""Fixtures for the security regression tests: one test file per defect.

Every fixture checks, when its test is over, the two promises of the log: no
traceback (a traceback means a bug, never a client's doing) and no line longer
than MAX_LOG_LINE bytes, whatever the client sent.
"""

import os

import pytest

from checks import PASSWORD, USER, assert_clean_log
from diskfull import SmallFS
from mailsuite.core.maildir import Store

MESSAGES = 20       # in the INBOX of imap_small_disk, delivered in one commit


@pytest.fixture
def mx(instance):
    """smtpd and deliverd serving demo@example.test."""
    instance.add_user(USER, PASSWORD)
    instance.start("smtpd", "deliverd")
    yield instance
    for program in ("smtpd", "deliverd"):
        assert_clean_log(instance, program)


@pytest.fixture
def imap(instance):
    """imapd serving demo@example.test (the test configuration allows plaintext
    login from loopback)."""
    instance.add_user(USER, PASSWORD)
    instance.start("imapd")
    yield instance
    assert_clean_log(instance, "imapd")


@pytest.fixture
def small_disk(instance):
    """The instance's state dir on a small tmpfs (diskfull.SmallFS), unmounted once
    the daemons are stopped. Mounting needs root, as CI has."""
    if os.geteuid() != 0:
        pytest.skip("the disk-full tests mount a tmpfs, which needs root")
    fs = SmallFS(instance.state)
    try:
        yield fs
    finally:
        instance.close()
        fs.close()


@pytest.fixture
def imap_small_disk(instance, small_disk):
    """imapd serving demo@example.test, whose INBOX holds MESSAGES messages, with
    its state on the small disk (not yet full)."""
    instance.add_user(USER, PASSWORD)
    with Store(instance.maildir(USER)) as store:
        store.deliver_many([(f"{n}.disk-full.test", _message(n))
                            for n in range(MESSAGES)])
    instance.start("imapd")
    yield instance
    assert_clean_log(instance, "imapd")


def _message(n):
    return (f"From: <sender@remote.test>\r\nTo: <{USER}>\r\n"
            f"Subject: message {n}\r\n\r\nbody of message {n}\r\n").encode()
