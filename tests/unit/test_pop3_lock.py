"""mailsuite.pop3.lock: one holder per mailbox, within a process and across
processes, and none left behind by a process that dies."""

import os
import signal
import subprocess
import sys

import pytest

from mailsuite.pop3.lock import LOCK_FILE, InUse, MailboxLock

HOLDER = """
import sys
from mailsuite.pop3.lock import MailboxLock
lock = MailboxLock.acquire(sys.argv[1])
print("held", flush=True)
sys.stdin.read()
"""


def test_a_second_holder_is_refused_even_in_the_same_process(tmp_path):
    lock = MailboxLock.acquire(tmp_path)
    with pytest.raises(InUse):
        MailboxLock.acquire(tmp_path)
    lock.release()
    assert not lock.held
    MailboxLock.acquire(tmp_path).release()
    assert (tmp_path / LOCK_FILE).stat().st_mode & 0o777 == 0o600


def test_a_killed_holder_leaves_no_lock(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    try:
        assert holder.stdout.readline() == b"held\n"
        with pytest.raises(InUse):
            MailboxLock.acquire(tmp_path)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    MailboxLock.acquire(tmp_path).release()
