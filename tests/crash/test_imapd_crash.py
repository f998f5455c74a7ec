"""imapd under SIGKILL while clients set flags: every STORE that got its tagged OK
is there after the restart, in the index and in the Maildir file names, while
mail keeps arriving in the same mailbox.

A STORE renames a file inside the index's write transaction: a kill between the
rename and the commit leaves a file name ahead of the index, which the next
change or scan takes in. A STORE whose client heard nothing is sent again (+FLAGS
is idempotent) until it gets its OK.
"""

import imaplib
import random
import re
import threading
import time

import pytest

from crashmail import TRIES, USER, Sender, check_delivered_once, message, queue_size
from harness import wait_for
from mailsuite.core.maildir import Store

PASSWORD = "secret-password"
MESSAGES = 240          # in the INBOX before the clients start, UIDs 1..MESSAGES
CLIENTS = 4             # client c sets the flags of the UIDs n with n % CLIENTS == c
KILLS = 6
ARRIVING = 3000         # at most, sent meanwhile and delivered into the same INBOX
STORE_TIME = 120        # seconds a client may take in all
# The flag a message gets, by UID, and the letter that mirrors it in file names.
FLAGS = [("\\Seen", "S"), ("\\Flagged", "F"), ("\\Answered", "R"), ("\\Draft", "D"),
         ("\\Deleted", "T")]


def flag(uid):
    return FLAGS[uid % len(FLAGS)]


class Flagger(threading.Thread):
    """One IMAP client: `UID STORE uid +FLAGS (flag)` for each of its UIDs, each
    sent again after a connection lost before its answer; `acked` holds the UIDs
    whose STORE got its tagged OK, `unanswered` those of STOREs that got none."""

    def __init__(self, port, uids):
        super().__init__(daemon=True)
        self.port, self.uids = port, uids
        self.acked, self.unanswered, self.refused = set(), [], []

    def run(self):
        client = None
        deadline = time.monotonic() + STORE_TIME
        for uid in self.uids:
            for _ in range(TRIES):
                if time.monotonic() > deadline:
                    return
                try:
                    client = client or _session(self.port)
                    status, _ = client.uid("STORE", str(uid), "+FLAGS",
                                           f"({flag(uid)[0]})")
                except (OSError, imaplib.IMAP4.error):
                    self.unanswered.append(uid)
                    client = None       # killed: connect again and send it again
                    continue
                if status == "OK":
                    self.acked.add(uid)
                else:
                    self.refused.append((uid, status))
                break


def _session(port):
    client = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    client.login(USER, PASSWORD)
    client.select("INBOX")
    return client


@pytest.fixture
def imap(instance):
    instance.add_user(USER, PASSWORD)
    with Store(instance.maildir(USER)) as store:
        store.deliver_many([(f"{n}.crash.test", message(f"seed-{n}").encode())
                            for n in range(MESSAGES)])
    instance.start("smtpd", "deliverd", "imapd")
    return instance


def acked_count(flaggers):
    return sum(len(f.acked) for f in flaggers)


def kill_during_stores(inst, flaggers, rng):
    """Kill imapd once a few more STOREs got their OK since the last restart;
    start it again. Returns how many messages were queued at the kill."""
    target = acked_count(flaggers) + rng.randint(5, 30)
    wait_for(lambda: acked_count(flaggers) >= target, timeout=30, interval=0.002)
    waiting = queue_size(inst)
    inst.kill("imapd")
    inst.start("imapd")
    return waiting


def test_sigkill_during_stores_loses_no_acknowledged_flag(imap):
    rng = random.Random(2718)
    flaggers = [Flagger(imap.port("imap"), range(1 + c, MESSAGES + 1, CLIENTS))
                for c in range(CLIENTS)]
    done = threading.Event()
    sender = Sender(imap.port("smtp"), "arriving", ARRIVING, until=done)
    for client in [sender, *flaggers]:
        client.start()
    backlog_at_kill = [kill_during_stores(imap, flaggers, rng) for _ in range(KILLS)]
    for client in flaggers:
        client.join(timeout=300)
    done.set()
    sender.join(timeout=300)
    assert not any(client.is_alive() for client in [sender, *flaggers])

    assert [r for f in flaggers for r in f.refused] == []
    assert acked_count(flaggers) == MESSAGES
    assert any(f.unanswered for f in flaggers), "no kill met a STORE"
    assert any(backlog_at_kill), backlog_at_kill
    assert wait_for(lambda: queue_size(imap) == 0, timeout=60), "queue never drained"
    check_delivered_once(imap.maildir(USER), [sender],
                         seeded=[f"seed-{n}" for n in range(MESSAGES)])
    check_flags(imap)
    assert "Traceback" not in imap.log("imapd")


def check_flags(inst):
    """Each seed message has its flag and no other, in the index (read as it is,
    without a scan), in the file name, and as a new session FETCHes it."""
    expected = {uid: flag(uid) for uid in range(1, MESSAGES + 1)}
    with Store(inst.maildir(USER)) as store:
        records = store.folder("INBOX", build=False).records(list(expected))
    assert {uid: sorted(r.flags) for uid, r in records.items()} == \
        {uid: [name] for uid, (name, _) in expected.items()}
    letters = {r.uid: _letters(inst, r) for r in records.values()}
    assert letters == {uid: letter for uid, (_, letter) in expected.items()}
    client = _session(inst.port("imap"))
    status, lines = client.uid("FETCH", f"1:{MESSAGES}", "(FLAGS)")
    assert status == "OK"
    fetched = {int(m.group(1)): m.group(2).decode()
               for m in map(_FETCHED.search, lines)}
    assert fetched == {uid: name for uid, (name, _) in expected.items()}
    client.logout()


_FETCHED = re.compile(rb"UID (\d+) FLAGS \(([^)]*)\)")


def _letters(inst, record):
    """The flag letters of the message's file name (after ':2,')."""
    path = inst.maildir(USER) / record.dir / record.filename
    assert path.exists(), path
    return path.name.partition(":2,")[2]
