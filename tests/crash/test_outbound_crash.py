"""deliverd killed with SIGKILL while it sends to a Postfix MX: every message
arrives, and none is sent again once deliverd has recorded the peer's 250.

A message can arrive again only when the kill falls between the peer's 250
and deliverd's record of it (SMTP cannot avoid that: RFC 5321 6.1): at most
one message per open connection at each kill. A message recorded as sent
leaves the queue, so it is never sent again.
"""

import collections
import random
import re
import time

from crashmail import queue_size, respawn
from harness import wait_for
from mailsuite.core.spool import Spool, new_qid
from outbound_fixtures import (SENDER, knot, outbound_config, postfix,  # noqa: F401
                               remote_mx)

MESSAGES = 150
KILLS = 5
CONNECTIONS = 3           # max_per_destination
SUBJECT = re.compile(rb"^Subject: (crash-[0-9]+)$", re.M)
SENT = re.compile(r"\]: ([0-9A-Z]{14}): to=<[^>]*>, relay=.*status=sent")


def sent_lines(inst):
    return inst.log("deliverd").count("status=sent")


def kill_while_sending(inst, rng):
    """Kill deliverd a moment after it records a message sent, then start it
    again; returns how many messages were queued at the kill."""
    seen = sent_lines(inst)
    wait_for(lambda: sent_lines(inst) > seen, timeout=20, interval=0.002)
    time.sleep(rng.uniform(0.0, 0.02))
    waiting = queue_size(inst)
    inst.kill("deliverd")
    respawn(inst, "deliverd")
    return waiting


def postfix_settled(mx):
    """Postfix has delivered every message it accepted."""
    log = mx.log()
    return log.count("status=sent (delivered to maildir)") == log.count(": message-id=")


def test_sigkill_while_sending_loses_nothing(instance, knot, remote_mx):  # noqa: F811
    rng = random.Random(4321)
    instance.add_user(SENDER)
    instance.add_config(outbound_config(knot, remote_mx,
                                        max_per_destination=CONNECTIONS))
    qids = {}
    with Spool(instance.state) as spool:
        for i in range(MESSAGES):
            qid = qids[f"crash-{i}"] = new_qid()
            spool.enqueue_sync(qid, SENDER, [f"crash-{i}@remote.test"],
                               f"Subject: crash-{i}\r\n\r\nbody {i}\r\n".encode())
    instance.start("deliverd")
    backlog_at_kill = [kill_while_sending(instance, rng) for _ in range(KILLS)]
    assert all(backlog_at_kill), backlog_at_kill     # every kill hit a busy deliverd
    assert wait_for(lambda: queue_size(instance) == 0, timeout=120), "never drained"
    assert wait_for(lambda: postfix_settled(remote_mx), timeout=60)

    arrived = collections.Counter(
        m.group(1).decode() for m in map(SUBJECT.search, remote_mx.all_messages()) if m)
    crash = {marker: n for marker, n in arrived.items() if marker.startswith("crash-")}
    assert set(crash) == set(qids), sorted(set(qids) - set(crash))[:10]
    again = {marker: n - 1 for marker, n in crash.items() if n > 1}
    assert sum(again.values()) <= KILLS * CONNECTIONS, again
    # Never sent after its 250 was recorded: at most one "sent" line per message
    # (a kill after the record's commit but before its log line leaves none).
    log = instance.log("deliverd")
    sent = collections.Counter(SENT.findall(log))
    assert {qid for qid, n in sent.items() if n > 1} == set()
    assert set(sent) <= set(qids.values())
    assert len(sent) >= MESSAGES - KILLS * CONNECTIONS
    assert "Traceback" not in log
