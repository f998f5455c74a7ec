"""deliverd under SIGKILL: every message accepted with a 250 ends up in the Maildir
exactly once, and nothing else does, however often deliverd is killed."""

import collections
import os
import random
import re
import smtplib
import threading
import time

import pytest

from harness import wait_for
from mailsuite import dev
from mailsuite.core.maildir import Store
from mailsuite.core.spool import Spool, new_qid

USER = "demo@example.test"
CLIENTS = 10
PER_CLIENT = 50
KILLS = 6
MARKER = re.compile(rb"^Message-ID: <(crash-[0-9]+-[0-9]+)@test>", re.M)


def message(marker):
    return (f"From: <sender@remote.test>\r\nTo: <{USER}>\r\n"
            f"Message-ID: <{marker}@test>\r\nSubject: {marker}\r\n\r\n"
            f"body of {marker}\r\n")


def send_all(port, client, accepted, refused):
    """One SMTP client: PER_CLIENT messages, reconnecting after an error."""
    smtp = None
    deadline = time.monotonic() + 240
    for i in range(PER_CLIENT):
        if time.monotonic() > deadline:
            break
        marker = f"crash-{client}-{i}"
        try:
            if smtp is None:
                smtp = smtplib.SMTP("127.0.0.1", port, timeout=30)
            smtp.sendmail("sender@remote.test", [USER], message(marker))
            accepted.append(marker)
        except (smtplib.SMTPException, OSError) as exc:
            refused.append((marker, exc))
            smtp = None
    if smtp is not None:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass


def markers_in_maildir(root):
    """Counter of the markers found in the files of new/ and cur/."""
    found = collections.Counter()
    for sub in ("new", "cur"):
        for name in os.listdir(root / sub):
            match = MARKER.search((root / sub / name).read_bytes())
            found[match.group(1).decode() if match else f"stray:{name}"] += 1
    return found


def queue_size(inst):
    with Spool(inst.state) as spool:
        return spool.count()


def respawn(inst):
    """Start deliverd again on its socket without Instance.start's settling wait,
    so that the next kill can land while it works through the backlog."""
    fd = os.open(inst.logs["deliverd"], os.O_WRONLY | os.O_APPEND)
    try:
        inst.pids["deliverd"] = dev.spawn("deliverd", inst.sockets["deliverd"],
                                          inst.config, stdout=fd, stderr=fd)
    finally:
        os.close(fd)


def delivered_files(inst):
    try:
        return len(os.listdir(inst.maildir(USER) / "new"))
    except FileNotFoundError:
        return 0


def kill_and_restart(inst, rng):
    """Kill deliverd a moment after it is seen delivering (files appear in new/),
    so the kill lands inside a pass; then let a backlog build and start it again.
    Returns how many messages were queued at the kill."""
    seen = delivered_files(inst)
    if queue_size(inst):
        wait_for(lambda: delivered_files(inst) > seen, timeout=5, interval=0.002)
    time.sleep(rng.uniform(0.0, 0.02))
    waiting = queue_size(inst)
    inst.kill("deliverd")
    time.sleep(rng.uniform(0.2, 0.6))
    respawn(inst)
    return waiting


@pytest.fixture
def mx(instance):
    instance.add_user(USER)
    instance.start("smtpd", "deliverd")
    return instance


def test_sigkill_during_delivery_loses_and_duplicates_nothing(mx):
    rng = random.Random(1234)
    accepted, refused = [], []
    threads = [threading.Thread(target=send_all,
                                args=(mx.port("smtp"), c, accepted, refused))
               for c in range(CLIENTS)]
    for thread in threads:
        thread.start()
    backlog_at_kill = []
    for _ in range(KILLS):
        backlog_at_kill.append(kill_and_restart(mx, rng))
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    # Two more kills while the backlog left by the last restart is delivered.
    for _ in range(2):
        backlog_at_kill.append(kill_and_restart(mx, rng))
    mx.check_alive("deliverd")
    assert wait_for(lambda: queue_size(mx) == 0, timeout=120), "queue never drained"

    assert len(accepted) == CLIENTS * PER_CLIENT, refused[:5]
    found = markers_in_maildir(mx.maildir(USER))
    duplicates = {m: n for m, n in found.items() if n != 1}
    assert duplicates == {}
    assert set(found) == set(accepted)
    with Store(mx.maildir(USER)) as store:
        assert len(store.folder("INBOX").uids()) == len(accepted)
    # Some kills did land while there was mail to deliver.
    assert any(backlog_at_kill), backlog_at_kill
    assert "Traceback" not in mx.log("deliverd")
