"""One POP3 session per mailbox at a time (RFC 1939 4: the server acquires an
exclusive-access lock on the maildrop once the client is authenticated), across
every pop3d process: an flock(2) on `<mailbox>/mailsuite.pop3.lock`.

flock, not fcntl: an fcntl lock belongs to the process, so two sessions of one
pop3d would share it; an flock belongs to the open file, so a second session
is refused even within the same process. IMAP sessions do not take it: they may
stay open beside a POP3 session, which sees their changes only at its next start.

Failure policy: a session that ends in any way lets go of the lock with its file
descriptor. A crashed or killed pop3d holds nothing either: the kernel drops an
flock when the last descriptor of its file closes, which a process's exit does,
whatever ends it. So the lock never needs to be broken by hand and has no timeout.
The file itself stays, empty: removing it would let a session lock a file that
another has already unlinked.
"""

import fcntl
import os

LOCK_FILE = "mailsuite.pop3.lock"


class InUse(Exception):
    """Another POP3 session has the mailbox."""


class MailboxLock:
    """The held lock of one mailbox; release() it once."""

    def __init__(self, fd):
        self._fd = fd

    @classmethod
    def acquire(cls, root):
        """Lock the mailbox at `root` or raise InUse, at once: a POP3 client is
        not kept waiting for another session to end. Blocking (it opens a file):
        for a worker thread."""
        fd = os.open(os.path.join(root, LOCK_FILE),
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InUse() from None
        except BaseException:
            os.close(fd)
            raise
        return cls(fd)

    def release(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self):
        return self._fd is not None
