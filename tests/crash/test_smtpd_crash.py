"""smtpd under SIGKILL while clients send: a message that got 250 was durable
before it, so it is delivered exactly once; one whose client heard nothing may be
in the queue or not, never twice; the clients' connections pile up in the listen
backlog while smtpd is down and are served once it is back."""

import random

import pytest

from crashmail import USER, Sender, check_delivered_once, queue_size
from harness import wait_for
from mailsuite.core.maildir import Store

CLIENTS = 8
PER_CLIENT = 40
KILLS = 6
LARGE_EVERY = 10        # one message in ten has a spool file of its own


@pytest.fixture
def mx(instance):
    instance.add_user(USER)
    instance.start("smtpd", "deliverd")
    return instance


def accepted_count(senders):
    return sum(len(s.accepted) for s in senders)


def kill_during_sends(inst, senders, rng):
    """Kill smtpd once a few more messages got their 250 since the last restart,
    so that the kill lands among sessions in every stage; start it again.
    Returns how many messages were queued at the kill."""
    target = accepted_count(senders) + rng.randint(3, 25)
    wait_for(lambda: accepted_count(senders) >= target, timeout=30, interval=0.002)
    waiting = queue_size(inst)
    inst.kill("smtpd")
    inst.start("smtpd")
    return waiting


def test_sigkill_during_sends_loses_and_duplicates_nothing(mx):
    rng = random.Random(4321)
    senders = [Sender(mx.port("smtp"), f"smtpd-{c}", PER_CLIENT, LARGE_EVERY)
               for c in range(CLIENTS)]
    for sender in senders:
        sender.start()
    backlog_at_kill = [kill_during_sends(mx, senders, rng) for _ in range(KILLS)]
    for sender in senders:
        sender.join(timeout=300)
    assert not any(sender.is_alive() for sender in senders)
    assert wait_for(lambda: queue_size(mx) == 0, timeout=120), "queue never drained"

    # Every message got its 250 in the end, some after tries that got none.
    assert accepted_count(senders) == CLIENTS * PER_CLIENT
    assert any(s.unanswered for s in senders), "no kill met a client"
    check_delivered_once(mx.maildir(USER), senders)
    with Store(mx.maildir(USER)) as store:
        indexed = len(store.folder("INBOX").uids())
    assert indexed == sum(1 for _ in mx.inbox_files(USER))
    assert any(backlog_at_kill), backlog_at_kill
    for program in ("smtpd", "deliverd"):
        assert "Traceback" not in mx.log(program)
