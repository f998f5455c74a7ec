"""mailctl queue: every command, run as the real program against a spool written
as smtpd writes it, the empty queue and bad input included."""

import asyncio
import re
import time

import pytest

from mailsuite.core import notify
from mailsuite.core.spool import INLINE_MAX, Spool, new_qid

OK, ERROR, USAGE = 0, 1, 2
MESSAGE = b"From: Alice <alice@example.test>\r\nSubject: queued\r\n\r\nbody\r\n"


@pytest.fixture
def queued(instance):
    """Three messages: a small one, a deferred one, one in its own file."""
    qids = [new_qid() for _ in range(3)]
    with Spool(instance.state) as spool:
        spool.enqueue_sync(qids[0], "alice@example.test", ["bob@remote.test"], MESSAGE)
        spool.enqueue_sync(qids[1], "alice@example.test",
                           ["carol@remote.test", "dave@example.test"], MESSAGE)
        draft = spool.draft(qids[2])
        asyncio.run(draft.write(MESSAGE + b"x" * (INLINE_MAX + 10)))
        spool.enqueue_sync(qids[2], "", ["erin@remote.test"], draft)
        spool.update({qids[1]: {"carol@remote.test": ("deferred", "4.4.1 no answer"),
                                "dave@example.test": ("done", "")}})
    return instance, qids


@pytest.fixture
def wakeups(instance):
    """deliverd's wake-up socket, bound by the test: what mailctl sends to it."""
    sock = notify.bind(instance.runtime / "deliverd.wakeup")
    sock.settimeout(10)
    yield sock
    sock.close()


def refused(inst, *args, message):
    proc = inst.mailctl(*args, check=False)
    assert (proc.returncode, proc.stderr) == (ERROR, f"mailctl: {message}\n")


def spool_of(inst):
    return Spool(inst.state)


def test_empty_queue(instance):
    assert instance.mailctl("queue", "list").stdout == "queue is empty\n"
    assert instance.mailctl("queue", "stats").stdout == (
        "messages: 0 (0 held), 0\n"
        "recipients: pending 0, deferred 0, done 0, failed 0\n"
        "age: under 1h 0, 1h-1d 0, 1d-5d 0, over 5d 0\n"
        "oldest: none\nquarantined: 0\n")
    assert instance.mailctl("queue", "retry-all").stdout == "0 message(s) due now\n"
    qid = new_qid()
    for command in ("show", "retry", "delete", "hold", "release"):
        refused(instance, "queue", command, qid, message=f"no message {qid} in the queue")
    # The daemons' spool is not created by mailctl (run as root, it would own it).
    assert not (instance.state / "spool").exists()


def test_list(queued):
    inst, qids = queued
    inst.mailctl("queue", "hold", qids[0])
    lines = inst.mailctl("queue", "list").stdout.splitlines()
    assert re.fullmatch(rf"{qids[0]}  +\d+s +\d+  <alice@example.test>  held", lines[0])
    assert lines[1] == "    bob@remote.test  pending"
    assert re.fullmatch(rf"{qids[1]}  +\d+s +\d+  <alice@example.test>", lines[2])
    assert lines[3:5] == ["    carol@remote.test  deferred  4.4.1 no answer",
                          "    dave@example.test  done"]
    assert re.fullmatch(rf"{qids[2]}  +\d+s +256\.\dK  <>", lines[5])
    assert len(lines) == 7


def test_show(queued):
    inst, qids = queued
    out = inst.mailctl("queue", "show", qids[1]).stdout
    record, headers = out.split("\n\n")
    assert f"queue id: {qids[1]}" in record.splitlines()
    assert "sender: <alice@example.test>" in record.splitlines()
    assert "attempts: 1" in record.splitlines()
    assert re.search(r"^next attempt: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", record, re.M)
    assert record.splitlines()[-2:] == [
        "recipient: carol@remote.test deferred 4.4.1 no answer",
        "recipient: dave@example.test done"]
    assert headers == "From: Alice <alice@example.test>\nSubject: queued\n"
    big = inst.mailctl("queue", "show", qids[2]).stdout
    assert big.endswith("\n\nFrom: Alice <alice@example.test>\nSubject: queued\n")


def test_retry_makes_it_due_and_wakes_deliverd(queued, wakeups):
    inst, qids = queued
    with spool_of(inst) as spool:
        assert spool.due() == [spool.get(qids[0]), spool.get(qids[2])]
    assert inst.mailctl("queue", "retry", qids[1]).stdout == ""
    assert wakeups.recv(100)
    with spool_of(inst) as spool:
        assert sorted(e.qid for e in spool.due()) == qids


def test_retry_all_leaves_held_messages(queued, wakeups):
    inst, qids = queued
    inst.mailctl("queue", "hold", qids[1])
    assert inst.mailctl("queue", "retry-all").stdout == "2 message(s) due now\n"
    assert wakeups.recv(100)
    with spool_of(inst) as spool:
        assert sorted(e.qid for e in spool.due()) == [qids[0], qids[2]]


def test_hold_and_release(queued, wakeups):
    inst, qids = queued
    assert inst.mailctl("queue", "hold", qids[0]).stdout == ""
    with spool_of(inst) as spool:
        assert spool.get(qids[0]).held
        assert [e.qid for e in spool.due()] == [qids[2]]
    refused(inst, "queue", "retry", qids[0],
            message=f"{qids[0]} is held: mailctl queue release {qids[0]}")
    assert "next attempt: held" in inst.mailctl("queue", "show", qids[0]).stdout
    assert inst.mailctl("queue", "release", qids[0]).stdout == ""
    assert wakeups.recv(100)
    with spool_of(inst) as spool:
        assert not spool.get(qids[0]).held
        assert [e.qid for e in spool.due()] == [qids[0], qids[2]]


def test_delete_removes_the_message_and_its_file(queued):
    inst, qids = queued
    path = inst.state / "spool" / "files" / qids[2]
    assert path.exists()
    assert inst.mailctl("queue", "delete", qids[2]).stdout == ""
    assert not path.exists()
    inst.mailctl("queue", "delete", qids[0])
    with spool_of(inst) as spool:
        assert [e.qid for e in spool.entries()] == [qids[1]]


def test_stats(queued):
    inst, qids = queued
    inst.mailctl("queue", "hold", qids[2])
    with spool_of(inst) as spool:
        # An old message: arrived six days ago.
        with spool._env.begin(write=True) as txn:
            entry = spool.get(qids[0])
            entry.arrival = time.time() - 6 * 86400
            txn.put(qids[0].encode(), entry.to_json(), db=spool._db["meta"])
    lines = inst.mailctl("queue", "stats").stdout.splitlines()
    assert re.fullmatch(r"messages: 3 \(1 held\), 256\.\dK", lines[0])
    assert lines[1] == "recipients: pending 2, deferred 1, done 1, failed 0"
    assert lines[2] == "age: under 1h 2, 1h-1d 0, 1d-5d 0, over 5d 1"
    assert lines[3] == f"oldest: {qids[0]} 6d00h"
    assert lines[4] == "quarantined: 0"


def test_bad_queue_ids(queued):
    inst, _ = queued
    for command in ("show", "retry", "delete", "hold", "release"):
        refused(inst, "queue", command, "../../etc", message="not a queue id: '../../etc'")
        proc = inst.mailctl("queue", command, check=False)
        assert proc.returncode == USAGE
    proc = inst.mailctl("queue", "frob", check=False)
    assert proc.returncode == USAGE
