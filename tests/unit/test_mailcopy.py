"""core.mailcopy (Folder.copy, Folder.move): what a copy carries over, one commit
for both folders, hard links and their fallback, and failures that change
nothing."""

import errno
import os

import pytest

from mailsuite.core import mailcopy, msginfo
from mailsuite.core.maildir import OverQuota, Store

MSG = b"From: a@remote.test\r\nSubject: hello\r\n\r\nbody\r\n"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "user") as s:
        s.deliver_many([(f"{n}.Q{n}.host", MSG + b"%d\r\n" % n) for n in range(1, 4)],
                       internaldate=1600000000.0)
        s.folder("INBOX").store([2], {"\\Seen", "$Work"}, "add")
        s.create_folder("Archive")
        yield s


def listing(folder):
    return sorted(name for sub in ("new", "cur")
                  for name in os.listdir(folder.path / sub))


def test_copy_carries_flags_date_and_content(store):
    inbox, archive = store.folder("INBOX"), store.folder("Archive")
    done = inbox.copy([1, 2, 3], archive)
    assert done.uidvalidity == archive.state().uidvalidity
    assert (done.sources, done.targets) == ([1, 2, 3], [1, 2, 3])
    copies = archive.records([1, 2, 3])
    for source, target in zip(done.sources, done.targets):
        original, copy = inbox.record(source), copies[target]
        assert copy.flags == original.flags
        assert copy.internaldate == original.internaldate == 1600000000.0
        assert (copy.size, copy.wire) == (original.size, original.wire)
        assert archive.read(copy) == inbox.read(original)
        # A hard link: no second copy of the bytes.
        assert os.stat(archive.path / copy.dir / copy.filename).st_ino == \
            os.stat(inbox.path / original.dir / original.filename).st_ino
    assert copies[2].flags == {"\\Seen", "$Work"} and copies[2].dir == "cur"
    assert inbox.uids() == [1, 2, 3]
    # One commit: the copies share one modseq.
    assert len({r.modseq for r in copies.values()}) == 1


def test_a_copy_keeps_what_was_parsed(store, monkeypatch):
    inbox, archive = store.folder("INBOX"), store.folder("Archive")
    info = inbox.message_info(inbox.record(1), structure=True)
    done = inbox.copy([1], archive)
    monkeypatch.setattr(msginfo, "analyse", lambda data: pytest.fail("parsed again"))
    copy = archive.record(done.targets[0])
    assert archive.message_info(copy, structure=True) == info


def test_a_copy_is_a_new_file_where_links_are_refused(store, monkeypatch):
    def refused(source, target):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(mailcopy.os, "link", refused)
    inbox, archive = store.folder("INBOX"), store.folder("Archive")
    done = inbox.copy([2], archive)
    copy, original = archive.record(done.targets[0]), inbox.record(2)
    path = archive.path / copy.dir / copy.filename
    assert path.read_bytes() == inbox.read(original)
    assert os.stat(path).st_ino != os.stat(inbox.path / original.dir /
                                           original.filename).st_ino
    assert os.stat(path).st_mtime == 1600000000.0
    assert os.listdir(archive.path / "tmp") == []


def test_copy_into_the_same_folder_gives_new_uids(store):
    inbox = store.folder("INBOX")
    done = inbox.copy([1, 2], inbox)
    assert done.targets == [4, 5]
    assert inbox.read(4) == inbox.read(1) and inbox.record(5).flags == {"\\Seen",
                                                                        "$Work"}
    assert len(listing(inbox)) == 5


def test_move_is_one_step(store):
    inbox, archive = store.folder("INBOX"), store.folder("Archive")
    modseq = inbox.state().highestmodseq
    before = {uid: inbox.read(uid) for uid in (1, 2)}
    done = inbox.move([1, 2], archive)
    assert (done.sources, done.targets) == ([1, 2], [1, 2])
    assert inbox.uids() == [3] and archive.uids() == [1, 2]
    assert {uid: archive.read(uid) for uid in (1, 2)} == before
    assert archive.record(2).flags == {"\\Seen", "$Work"}
    # The originals are expunged in the same commit, at one modseq.
    _, changes, _ = inbox.changes_since(modseq)
    assert sorted((uid, gone) for _, uid, gone in changes) == [(1, True), (2, True)]
    assert {m for m, _, _ in changes} == {archive.record(1).modseq}
    assert len(listing(inbox)) == 1 and len(listing(archive)) == 2
    assert inbox.scan(force=True) is False and archive.scan(force=True) is False


def test_move_within_a_folder(store):
    inbox = store.folder("INBOX")
    done = inbox.move([1], inbox)
    assert done.targets == [4] and inbox.uids() == [2, 3, 4]
    assert len(listing(inbox)) == 3


def test_a_message_gone_meanwhile_is_left_out(store):
    inbox, archive = store.folder("INBOX"), store.folder("Archive")
    inbox.expunge([2])
    done = inbox.copy([1, 2, 3], archive)
    assert (done.sources, done.targets) == ([1, 3], [1, 2])


@pytest.mark.parametrize("move", [False, True])
def test_a_failed_transfer_changes_nothing(store, monkeypatch, move):
    inbox, archive = store.folder("INBOX"), store.folder("Archive")
    before = listing(inbox), listing(archive)

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(mailcopy, "note_own_change", full)
    with pytest.raises(OSError):
        (inbox.move if move else inbox.copy)([1, 2], archive)
    monkeypatch.undo()
    assert (listing(inbox), listing(archive)) == before
    assert inbox.uids() == [1, 2, 3] and archive.uids() == []
    assert inbox.scan(force=True) is False and archive.scan(force=True) is False


def test_a_copy_over_quota_is_refused_whole(store):
    inbox, archive = store.folder("INBOX"), store.folder("Archive")
    usage = store.usage()
    with pytest.raises(OverQuota):
        inbox.copy([1, 2], archive, quota=usage + inbox.record(1).size)
    assert archive.uids() == [] and listing(archive) == []
    assert inbox.copy([1], archive, quota=usage + inbox.record(1).size).targets == [1]
    # A move takes no more room: no quota to pass.
    assert inbox.move([2, 3], archive).targets == [2, 3]
