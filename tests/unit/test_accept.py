"""core.accept: address groups, session counting, the accept loop's pause, and
the throttled log line."""

import asyncio
import errno
import logging
import socket

import pytest

from mailsuite.core import accept
from mailsuite.core.accept import AcceptLoop, Admission, Limits, LogThrottle


@pytest.mark.parametrize("peer, group", [
    (("192.0.2.7", 25), "192.0.2.7"),
    (("::ffff:192.0.2.7", 25, 0, 0), "192.0.2.7"),
    (("2001:db8:1:2:a:b:c:d", 25, 0, 0), "2001:db8:1:2::/64"),
    (("2001:db8:1:2::1", 25, 0, 0), "2001:db8:1:2::/64"),
    (("2001:db8:1:3::1", 25, 0, 0), "2001:db8:1:3::/64"),
    (("fe80::1%eth0", 25, 0, 2), "fe80::/64"),
    ("/run/mailsuite/socket", None),
])
def test_address_group(peer, group):
    assert accept.address_group(peer) == group


def test_admission_counts_in_all_and_per_address():
    admission = Admission(Limits(sessions=3, per_address=2))
    for group in ("a", "a", "b"):
        assert admission.refusal_reason(group) is None
        admission.enter(group)
    assert admission.refusal_reason("c") == "3 sessions running"
    admission.leave("b")
    assert admission.refusal_reason("a") == "2 sessions from a"
    assert admission.refusal_reason("c") is None
    admission.leave("a")
    admission.leave("a")
    assert admission.running == 0 and not admission.by_group


def test_no_limits_and_unix_clients():
    admission = Admission(Limits(sessions=0, per_address=1))
    for _ in range(5):
        assert admission.refusal_reason(None) is None
        admission.enter(None)
    assert Admission(Limits()).refusal_reason("a") is None


async def turns(predicate, limit=20):
    """Let the loop run until predicate() holds, `limit` turns at most."""
    for _ in range(limit):
        if predicate():
            return True
        await asyncio.sleep(0)
    return predicate()


def messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "mailsuite.core.accept"]


def test_throttle_logs_first_at_once_then_a_count_per_interval(caplog):
    async def main():
        throttle = LogThrottle("failed %d time(s), the last: %s")
        throttle.note("one")
        throttle.note("two")
        assert await turns(lambda: messages(caplog))
        throttle.note("three")
        # The next line is due one interval after the first, not now.
        loop = asyncio.get_running_loop()
        assert throttle.timer.when() - loop.time() > accept.LOG_INTERVAL - 1
        assert len(messages(caplog)) == 1
        throttle.flush()
    caplog.set_level(logging.WARNING)
    asyncio.run(main())
    assert messages(caplog) == ["failed 2 time(s), the last: two",
                                "failed 1 time(s), the last: three"]


class FailingListener:
    """Always readable; every accept() fails as when descriptors are out."""

    def __init__(self):
        self.a, self.b = socket.socketpair()
        self.b.send(b"x")
        self.calls = 0

    def fileno(self):
        return self.a.fileno()

    def accept(self):
        self.calls += 1
        raise OSError(errno.EMFILE, "Too many open files")

    def close(self):
        self.a.close()
        self.b.close()


def test_failed_accept_pauses_then_resumes(caplog):
    listener = FailingListener()

    async def main():
        accepting = AcceptLoop([("smtp", listener)], admit=None)
        accepting.start()
        accepting._accept("smtp", listener)         # as the event loop does
        # One failure, then a pause: no spinning on the readable listener.
        assert listener.calls == 1
        assert accepting.pause is not None
        assert not asyncio.get_running_loop().remove_reader(listener.fileno())
        await asyncio.wait_for(_until(lambda: listener.calls > 1), 10)
        logged = messages(caplog)
        accepting.close()
        return logged
    caplog.set_level(logging.WARNING)
    lines = asyncio.run(main())
    assert len(lines) == 1 and "Too many open files" in lines[0], lines
    # Stopping reports the failures counted since.
    assert f"failed {listener.calls - 1} time(s)" in messages(caplog)[1]


async def _until(predicate):
    while not predicate():
        await asyncio.sleep(accept.ACCEPT_PAUSE / 10)
