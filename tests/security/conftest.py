"""Fixtures for the security regression tests: one test file per defect.

Every fixture checks, when its test is over, the two promises of the log: no
traceback (a traceback means a bug, never a client's doing) and no line longer
than MAX_LOG_LINE bytes, whatever the client sent.
"""

import pytest

from checks import PASSWORD, USER, assert_clean_log


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
