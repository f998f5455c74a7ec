"""The log check of the security fixtures can fail."""

import pytest

from checks import assert_clean_log


class FakeInstance:
    def __init__(self, text):
        self.text = text

    def log(self, program):
        return self.text


def test_clean_log_passes():
    assert_clean_log(FakeInstance("one line\nanother\n"), "smtpd")


@pytest.mark.parametrize("text", ["Traceback (most recent call last):\n",
                                  "x" * 2049 + "\n"])
def test_dirty_log_fails(text):
    with pytest.raises(AssertionError):
        assert_clean_log(FakeInstance(text), "smtpd")
