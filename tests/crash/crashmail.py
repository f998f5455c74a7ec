"""What the crash tests share: marked messages, SMTP clients that try again after
an error, the Maildir and the queue as the test sees them, and starting a daemon
again after a kill.

Every attempt to send a message carries its own marker (its Message-ID), so that
the test can tell an attempt that got 250, which must be delivered exactly once,
from one that got no reply, which may or may not have been queued: SMTP cannot
say (RFC 5321 6.1), and its client sends again under a new marker.
"""

import collections
import os
import re
import smtplib
import threading
import time

from mailsuite import dev
from mailsuite.core.spool import Spool

USER = "demo@example.test"
MARKER = re.compile(rb"^Message-ID: <([a-z]+-[0-9-]+)@test>", re.M)
TRIES = 10              # attempts per message before a client gives up on it
SEND_TIME = 240         # seconds a client may take in all


def message(marker, size=0):
    """A message whose Message-ID is `marker`; `size` adds lines up to about
    that many bytes (past the spool's INLINE_MAX, it gets a file of its own)."""
    lines = "".join(f"line {n} of {marker}\r\n" for n in range(size // 24))
    return (f"From: <sender@remote.test>\r\nTo: <{USER}>\r\n"
            f"Message-ID: <{marker}@test>\r\nSubject: {marker}\r\n\r\n"
            f"body of {marker}\r\n{lines}")


class Sender(threading.Thread):
    """One SMTP client sending `count` messages (fewer if `until`, an Event, is
    set first), each tried until it gets a 250 (at most TRIES times),
    reconnecting after an error. `accepted` lists the markers that got 250,
    `unanswered` those that got anything else or nothing."""

    def __init__(self, port, name, count, large_every=0, until=None):
        super().__init__(name=f"sender-{name}", daemon=True)
        self.port, self.prefix, self.count = port, name, count
        self.large_every = large_every
        self.until = until or threading.Event()
        self.accepted, self.unanswered = [], []

    def run(self):
        smtp = None
        deadline = time.monotonic() + SEND_TIME
        for i in range(self.count):
            if self.until.is_set():
                break
            size = 300 * 1024 if self.large_every and i % self.large_every == 1 else 0
            for attempt in range(TRIES):
                if time.monotonic() > deadline:
                    break
                marker = f"{self.prefix}-{i}-{attempt}"
                try:
                    if smtp is None:
                        smtp = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
                    smtp.sendmail("sender@remote.test", [USER], message(marker, size))
                except (smtplib.SMTPException, OSError):
                    self.unanswered.append(marker)
                    smtp = _closed(smtp)
                    continue
                self.accepted.append(marker)
                break
        _closed(smtp, quit=True)


def _closed(smtp, quit=False):
    """Close a client's connection, politely with QUIT if asked; None."""
    if smtp is None:
        return None
    try:
        if quit:
            smtp.quit()
        smtp.close()
    except (smtplib.SMTPException, OSError):
        pass
    return None


def markers_in_maildir(root):
    """Counter of the markers found in the files of new/ and cur/."""
    found = collections.Counter()
    for sub in ("new", "cur"):
        for name in os.listdir(root / sub):
            match = MARKER.search((root / sub / name).read_bytes())
            found[match.group(1).decode() if match else f"stray:{name}"] += 1
    return found


def check_delivered_once(root, senders, seeded=()):
    """Every attempt that got 250 is in the Maildir exactly once, and so is every
    marker the test `seeded` there itself; one that got no 250 at most once;
    nothing else is there."""
    found = markers_in_maildir(root)
    accepted = {m for s in senders for m in s.accepted} | set(seeded)
    unanswered = {m for s in senders for m in s.unanswered}
    assert {m: n for m, n in found.items() if n != 1} == {}
    assert accepted <= set(found), sorted(accepted - set(found))[:10]
    assert set(found) <= accepted | unanswered, sorted(set(found) - accepted)[:10]


def queue_size(inst):
    with Spool(inst.state) as spool:
        return spool.count()


def respawn(inst, program):
    """Start a killed daemon again on its sockets without Instance.start's wait
    for READY=1, so that the next kill can land while it works through a
    backlog."""
    fd = os.open(inst.logs[program], os.O_WRONLY | os.O_APPEND)
    try:
        inst.pids[program] = dev.spawn(program, inst.sockets[program], inst.config,
                                       stdout=fd, stderr=fd)
    finally:
        os.close(fd)
