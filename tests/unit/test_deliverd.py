"""deliverd's delivery pass, run in-process against real accounts, spool and Maildirs
(the daemon itself, killed and restarted, is in tests/crash/)."""

import asyncio
import errno
import logging
import os
import time

import pytest

from mailsuite import deliverd, delivery
from mailsuite.core import config, mailscan, notify, spool
from mailsuite.core.accounts import Accounts
from mailsuite.core.maildir import Store
from mailsuite.core.spool import INLINE_MAX, ORPHAN_AGE, SpoolFull, new_qid

MSG = b"Subject: t\r\n\r\nbody\r\n"


@pytest.fixture
def runner(tmp_path):
    cfg = config.from_dict({"server": {"hostname": "mail.example.test",
                                       "state_dir": str(tmp_path / "state"),
                                       "runtime_dir": str(tmp_path / "run")}},
                           tmp_path / "mailsuite.toml")
    with Accounts(cfg.state_dir) as accounts:
        accounts.add_domain("example.test")
        accounts.add_user("demo@example.test", "secret-password")
        accounts.add_user("bob@example.test", "secret-password")
        accounts.add_alias("team@example.test", ["demo@example.test", "bob@example.test"])
        accounts.add_alias("fwd@example.test", ["someone@remote.test"])
    r = deliverd.Runner(cfg)
    yield r
    r.close()


def inbox(runner, address):
    with Store(runner.accounts.mailbox_dir(address)) as store:
        folder = store.folder("INBOX")
        return [folder.read(uid) for uid in folder.uids()]


def enqueue(runner, recipients, data=MSG, sender="a@remote.test"):
    qid = new_qid()
    runner.spool.enqueue_sync(qid, sender, recipients, data)
    return qid


def test_pass_delivers_and_removes(runner, caplog):
    caplog.set_level(logging.INFO, "deliverd")
    qid = enqueue(runner, ["demo@example.test", "team@example.test"])
    assert runner.run_pass() == (False, True)
    assert inbox(runner, "demo@example.test") == [MSG]     # one copy, not two
    assert inbox(runner, "bob@example.test") == [MSG]
    runner.save()
    assert runner.spool.count() == 0
    lines = [r.getMessage() for r in caplog.records]
    assert f"{qid}: to=<bob@example.test>, orig_to=<team@example.test>" in lines[2]
    assert all(line.startswith(f"{qid}: ") for line in lines)
    assert "status=sent (delivered to maildir)" in lines[0]
    assert lines[-1] == f"{qid}: removed"
    assert runner.run_pass() == (False, False)


def test_unknown_recipient_fails_and_is_logged(runner, caplog):
    caplog.set_level(logging.INFO, "deliverd")
    qid = enqueue(runner, ["nobody@example.test", "demo@example.test"])
    runner.run_pass()
    assert runner.spool.get(qid) is None
    assert any(r.getMessage().startswith(f"{qid}: to=<nobody@example.test>")
               and "status=bounced" in r.getMessage() for r in caplog.records)
    # RFC 5321 6.1: the sender hears of it, from the null sender.
    [notice] = runner.spool.entries()
    assert (notice.sender, [r.address for r in notice.recipients]) == \
        ("", ["a@remote.test"])
    data = runner.spool.load(notice.qid)
    assert b"Final-Recipient: rfc822; nobody@example.test" in data
    assert b"Status: 5.1.1" in data
    assert b"demo@example.test\r\nAction" not in data


def test_remote_recipient_goes_to_the_remote_path(runner, caplog):
    caplog.set_level(logging.INFO, "deliverd")
    qid = enqueue(runner, ["demo@example.test", "x@remote.test"])
    runner.run_pass()
    runner.save()
    entry = runner.spool.get(qid)
    states = {r.address: r.state for r in entry.recipients}
    assert states == {"demo@example.test": "done", "x@remote.test": "pending"}
    assert [(e.qid, [r.address for r in rcpts]) for e, rcpts in runner.handoff] \
        == [(qid, ["x@remote.test"])]
    assert inbox(runner, "demo@example.test") == [MSG]


def test_alias_to_another_domain_is_forwarded_with_the_same_envelope(runner, caplog):
    caplog.set_level(logging.INFO, "deliverd")
    qid = enqueue(runner, ["fwd@example.test", "demo@example.test", "x@remote.test"])
    runner.run_pass()
    runner.save()
    entry = runner.spool.get(qid)
    assert entry.sender == "a@remote.test"      # RFC 5321 3.9.1: unchanged
    states = {r.address: r.state for r in entry.recipients}
    assert states == {"fwd@example.test": "done", "demo@example.test": "done",
                      "x@remote.test": "pending", "someone@remote.test": "pending"}
    [(handed, rcpts)] = runner.handoff
    assert handed.qid == qid
    assert [r.address for r in rcpts] == ["x@remote.test", "someone@remote.test"]
    assert rcpts[1].orcpt == "rfc822;fwd@example.test"
    assert f"{qid}: to=<someone@remote.test>, orig_to=<fwd@example.test>" in caplog.text
    assert "status=forwarded" in caplog.text


def test_forwarding_again_adds_no_second_copy(runner):
    # As after a kill between Spool.forward and the record of the alias.
    qid = enqueue(runner, ["fwd@example.test", "someone@remote.test"])
    runner.spool.forward(qid, {"fwd@example.test": ["someone@remote.test"]})
    runner.run_pass()
    entry = runner.spool.get(qid)
    assert [r.address for r in entry.recipients] == ["fwd@example.test",
                                                     "someone@remote.test"]
    [(_, rcpts)] = runner.handoff
    assert [r.address for r in rcpts] == ["someone@remote.test"]


def test_forwarded_target_keeps_the_aliases_dsn_parameters(runner):
    qid = new_qid()
    runner.spool.enqueue_sync(qid, "a@remote.test", [spool.Recipient(
        "fwd@example.test", notify=("SUCCESS", "FAILURE"),
        orcpt="rfc822;old@example.test")], MSG)
    entry = runner.spool.forward(qid, {"fwd@example.test": ["someone@remote.test"]})
    target = entry.recipients[1]
    assert (target.notify, target.orcpt) == (("SUCCESS", "FAILURE"),
                                            "rfc822;old@example.test")


def test_alias_waits_when_its_forwarding_cannot_be_recorded(runner, monkeypatch):
    def full(qid, targets):
        raise SpoolFull("no space left on device")
    monkeypatch.setattr(runner.spool, "forward", full)
    qid = enqueue(runner, ["fwd@example.test"])
    runner.run_pass()
    assert runner.unsaved == {}         # a deferred outcome is saved at once
    [rcpt] = runner.spool.get(qid).recipients
    assert (rcpt.state, rcpt.error) == ("deferred", "4.3.0 could not forward: no "
                                        "space left on device")
    assert runner.handoff == []


def test_messages_of_the_remote_path_are_left_out_of_passes(runner):
    qid = enqueue(runner, ["x@remote.test"])
    runner.run_pass()
    assert len(runner.handoff) == 1
    runner.handoff.clear()
    assert runner.run_pass(skip=frozenset([qid])) == (False, False)
    assert runner.handoff == []


def test_already_delivered_message_is_only_recorded(runner):
    # As after a kill between the Maildir commit and the spool commit.
    qid = enqueue(runner, ["demo@example.test"])
    entry = runner.spool.get(qid)
    with Store(runner.accounts.mailbox_dir("demo@example.test")) as store:
        store.deliver(delivery.maildir_base(entry, "mail.example.test"), MSG)
    runner.run_pass()
    runner.save()
    assert inbox(runner, "demo@example.test") == [MSG]
    assert runner.spool.count() == 0


def test_file_renamed_but_not_indexed_is_not_delivered_twice(runner):
    qid = enqueue(runner, ["demo@example.test"])
    entry = runner.spool.get(qid)
    root = runner.accounts.mailbox_dir("demo@example.test")
    Store(root).close()
    base = delivery.maildir_base(entry, "mail.example.test")
    (root / "new" / base).write_bytes(MSG)
    (root / "tmp" / base).write_bytes(MSG[:5])       # a half-written leftover too
    runner.run_pass()
    runner.save()
    assert os.listdir(root / "new") == [base]
    assert inbox(runner, "demo@example.test") == [MSG]
    assert runner.spool.count() == 0


def test_broken_mailbox_defers_only_its_recipients(runner):
    root = runner.accounts.mailbox_dir("bob@example.test")
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_bytes(b"not a directory")
    qid = enqueue(runner, ["bob@example.test", "demo@example.test"])
    runner.run_pass()
    states = {r.address: r.state for r in runner.spool.get(qid).recipients}
    assert states == {"bob@example.test": "deferred", "demo@example.test": "done"}


def test_a_mailbox_over_quota_fails_what_does_not_fit(runner, caplog):
    caplog.set_level(logging.INFO, "deliverd")
    big = MSG + b"x" * 1000 + b"\r\n"
    runner.accounts.set_quota("demo@example.test", len(big) + len(MSG))
    first = enqueue(runner, ["demo@example.test"], big)
    second = enqueue(runner, ["team@example.test"], big)
    third = enqueue(runner, ["demo@example.test"])
    runner.run_pass()
    runner.save()
    # One pass, one deliver_many refused whole: then message by message.
    assert inbox(runner, "demo@example.test") == [big, MSG]
    assert inbox(runner, "bob@example.test") == [big]
    assert runner.spool.count() == 0        # final for every recipient
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith(f"{second}: to=<demo@example.test>") and
               "status=bounced (5.2.2 mailbox full)" in line for line in lines)
    assert not any(line.startswith((f"{first}: ", f"{third}: ")) and "bounced" in line
                   for line in lines)


def test_imapd_is_told_about_the_delivery(runner):
    sock = notify.bind(runner.notify_path)
    try:
        enqueue(runner, ["demo@example.test"])
        runner.run_pass()
        assert sock.recv(100) == b"demo@example.test"
    finally:
        sock.close()


def test_pass_is_bounded(runner, monkeypatch):
    monkeypatch.setattr(deliverd, "PASS_MESSAGES", 3)
    for _ in range(5):
        enqueue(runner, ["demo@example.test"])
    assert runner.run_pass() == (True, True)
    assert runner.run_pass() == (False, True)
    assert len(inbox(runner, "demo@example.test")) == 5


def test_delivered_outcomes_are_saved_lazily_but_never_redelivered(runner, monkeypatch):
    monkeypatch.setattr(deliverd, "SAVE_DELAY", 0.3)
    enqueue(runner, ["demo@example.test"])
    assert runner.run_pass() == (False, True)
    assert runner.spool.count() == 1             # held: delivered, not yet recorded
    assert runner.run_pass() == (False, False)   # not taken again meanwhile
    assert inbox(runner, "demo@example.test") == [MSG]
    time.sleep(0.35)
    runner.run_pass()                            # an idle pass saves what is due
    assert runner.spool.count() == 0


def test_held_outcomes_lost_in_a_crash_cost_only_a_retry(runner, tmp_path):
    enqueue(runner, ["demo@example.test"])
    runner.run_pass()
    assert runner.spool.count() == 1
    # A new runner, as after kill -9: it finds the message delivered.
    again = deliverd.Runner(runner.cfg)
    try:
        again.run_pass()
        again.save()
        assert again.spool.count() == 0
        assert inbox(again, "demo@example.test") == [MSG]
    finally:
        again.worker.shutdown()


def test_message_in_a_spool_file_is_delivered_and_its_file_removed(runner, tmp_path):
    big = MSG + b"y" * (INLINE_MAX * 4)
    qid = new_qid()

    async def enqueue_large():
        draft = runner.spool.draft(qid)
        for start in range(0, len(big), 100_000):
            await draft.write(big[start:start + 100_000])
        await runner.spool.enqueue(qid, "a@remote.test",
                                   ["demo@example.test", "team@example.test"], draft)

    asyncio.run(enqueue_large())
    spool_file = tmp_path / "state" / "spool" / "files" / qid
    assert spool_file.exists()
    assert runner.run_pass() == (False, True)
    assert inbox(runner, "demo@example.test") == [big]
    assert inbox(runner, "bob@example.test") == [big]
    runner.save()
    assert runner.spool.count() == 0
    assert not spool_file.exists()


def test_first_pass_removes_orphaned_spool_files(runner, tmp_path):
    directory = tmp_path / "state" / "spool" / "files"
    directory.mkdir()
    orphan = directory / new_qid()
    orphan.write_bytes(b"left by a crash before its commit")
    long_ago = time.time() - ORPHAN_AGE - 60
    os.utime(orphan, (long_ago, long_ago))
    assert runner.run_pass() == (False, False)
    assert not orphan.exists()


def no_space(*args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def spool_full(*args):
    raise SpoolFull("queue is full: no space")


def test_no_space_leaves_the_record_as_it_was_and_pauses(runner, monkeypatch, caplog):
    caplog.set_level(logging.INFO, "deliverd")
    monkeypatch.setattr(deliverd, "FULL_RETRY", 3600)
    monkeypatch.setattr(mailscan, "_write_all", no_space)
    qid = enqueue(runner, ["demo@example.test", "team@example.test"])
    before = runner.spool.get(qid)
    assert runner.run_pass() == (False, True)
    assert runner.spool.get(qid) == before       # no deferral, no attempt counted
    assert runner.run_pass() == (False, False)   # paused: nothing is tried
    assert [r.getMessage() for r in caplog.records
            if "no space" in r.getMessage()] == [
        "no space for delivery (demo@example.test: [Errno 28] No space left on "
        "device): the messages wait, tried again every 3600 s"]
    assert not any("status=" in r.getMessage() for r in caplog.records)


def test_deliveries_resume_after_the_pause_for_space(runner, monkeypatch, caplog):
    caplog.set_level(logging.INFO, "deliverd")
    monkeypatch.setattr(deliverd, "FULL_RETRY", 0)
    with monkeypatch.context() as full:
        full.setattr(mailscan, "_write_all", no_space)
        enqueue(runner, ["demo@example.test"])
        runner.run_pass()
    assert runner.run_pass() == (False, True)
    runner.save()
    assert inbox(runner, "demo@example.test") == [MSG]
    assert runner.spool.count() == 0
    assert "deliveries resumed: the disk has room again" in caplog.messages


def test_outcomes_the_spool_has_no_room_for_are_kept(runner, monkeypatch, caplog):
    caplog.set_level(logging.INFO, "deliverd")
    monkeypatch.setattr(deliverd, "FULL_RETRY", 0)
    qid = enqueue(runner, ["nobody@example.test"], sender="")     # no notice
    with monkeypatch.context() as full:
        full.setattr(runner.spool, "update", spool_full)
        assert runner.run_pass() == (False, True)
        assert qid in runner.unsaved
        assert runner.run_pass() == (False, False)   # not taken again meanwhile
    runner.run_pass()                                # and recorded once it can be
    assert runner.spool.count() == 0
    assert "deliveries resumed: the disk has room again" in caplog.messages


def test_held_message_waits_until_released(runner):
    held = enqueue(runner, ["demo@example.test"])
    runner.spool.hold(held)
    assert runner.run_pass() == (False, False)
    assert inbox(runner, "demo@example.test") == []
    runner.spool.hold(held, held=False)
    assert runner.run_pass() == (False, True)
    assert inbox(runner, "demo@example.test") == [MSG]
