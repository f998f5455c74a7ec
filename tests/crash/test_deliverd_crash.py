"""deliverd under SIGKILL: every message accepted with a 250 ends up in the Maildir
exactly once, and nothing else does, however often deliverd is killed."""

import os
import random
import time

import pytest

from crashmail import USER, Sender, check_delivered_once, queue_size, respawn
from harness import wait_for
from mailsuite.core.maildir import Store

CLIENTS = 10
PER_CLIENT = 50
KILLS = 6


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
    respawn(inst, "deliverd")
    return waiting


@pytest.fixture
def mx(instance):
    instance.add_user(USER)
    instance.start("smtpd", "deliverd")
    return instance


def test_sigkill_during_delivery_loses_and_duplicates_nothing(mx):
    rng = random.Random(1234)
    senders = [Sender(mx.port("smtp"), f"crash-{c}", PER_CLIENT) for c in range(CLIENTS)]
    for sender in senders:
        sender.start()
    backlog_at_kill = []
    for _ in range(KILLS):
        backlog_at_kill.append(kill_and_restart(mx, rng))
    for sender in senders:
        sender.join(timeout=300)
    assert not any(sender.is_alive() for sender in senders)
    # Two more kills while the backlog left by the last restart is delivered.
    for _ in range(2):
        backlog_at_kill.append(kill_and_restart(mx, rng))
    mx.check_alive("deliverd")
    assert wait_for(lambda: queue_size(mx) == 0, timeout=120), "queue never drained"

    assert [m for s in senders for m in s.unanswered] == []
    assert sum(len(s.accepted) for s in senders) == CLIENTS * PER_CLIENT
    check_delivered_once(mx.maildir(USER), senders)
    with Store(mx.maildir(USER)) as store:
        assert len(store.folder("INBOX").uids()) == CLIENTS * PER_CLIENT
    # Some kills did land while there was mail to deliver.
    assert any(backlog_at_kill), backlog_at_kill
    assert "Traceback" not in mx.log("deliverd")
