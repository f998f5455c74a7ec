"""mailctl queue against a running deliverd: a held message stays queued while
others are delivered, and release and retry wake deliverd at once."""

import os

from harness import wait_for
from mailsuite.core.spool import Spool, new_qid

USER = "demo@example.test"


def enqueue(inst, subject, held=False):
    qid = new_qid()
    data = (f"From: <s@remote.test>\r\nTo: <{USER}>\r\nSubject: {subject}\r\n\r\n"
            "body\r\n").encode()
    with Spool(inst.state) as spool:
        spool.enqueue_sync(qid, "s@remote.test", [USER], data)
        if held:
            spool.hold(qid)
    return qid


def delivered(inst):
    """The subjects in the user's INBOX."""
    new = inst.maildir(USER) / "new"
    names = os.listdir(new) if new.is_dir() else []
    return sorted((new / name).read_bytes().split(b"Subject: ")[1].split(b"\r\n")[0]
                  .decode() for name in names)


def queued(inst):
    with Spool(inst.state) as spool:
        return [entry.qid for entry in spool.entries()]


def test_held_message_waits_until_released(instance):
    instance.add_user(USER)
    held = enqueue(instance, "held", held=True)
    instance.start("deliverd")
    enqueue(instance, "free")
    # deliverd's first pass may take it first; if not, this wakes deliverd.
    instance.mailctl("queue", "retry-all")
    assert wait_for(lambda: delivered(instance) == ["free"], timeout=10)
    # The held one was in the queue before the other: it stays there (the
    # other's record goes once deliverd records its outcome, soon after).
    assert wait_for(lambda: queued(instance) == [held], timeout=10)
    assert f"{held}  " in instance.mailctl("queue", "list").stdout
    instance.mailctl("queue", "release", held)
    # scan_interval is 60 s: only the wake-up explains a delivery this soon.
    assert wait_for(lambda: delivered(instance) == ["free", "held"], timeout=10)
    assert wait_for(lambda: queued(instance) == [], timeout=10)
    assert instance.mailctl("queue", "list").stdout == "queue is empty\n"
