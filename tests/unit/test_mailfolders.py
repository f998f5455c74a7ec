"""core.mailfolders: create, delete and rename as single steps, INBOX's rename,
special uses, STATUS from the index, the special folders, repair after a crash."""

import os

import lmdb
import pytest

from mailsuite.core import mailfolders
from mailsuite.core.maildir import NoSuchFolder, Store
from mailsuite.core.mailfolder import FolderError
from mailsuite.core.mailfolders import FolderExists, FolderStatus, status

MSG = b"From: a@remote.test\nSubject: hello\n\nbody\n"       # 41 bytes, 45 on the wire


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "user") as s:
        yield s


def entries(store):
    return sorted(os.listdir(store.root))


def deliver(store, folder, count=1):
    return [store.deliver(f"{n}.Q{len(folder)}.host", MSG, folder=folder)
            for n in range(count)]


def state(store, name):
    return store.folder(name).state()


def test_create_with_uses_and_refusals(store):
    mailfolders.create(store, "Sent Items", ["\\Sent"])
    mailfolders.create(store, "a/b/c")
    assert mailfolders.listing(store) == [
        ("INBOX", ()), ("Sent Items", ("\\Sent",)), ("a/b/c", ())]
    for name in ("INBOX", "inbox", "Sent Items"):
        with pytest.raises(FolderExists):
            mailfolders.create(store, name)
    with pytest.raises(FolderError, match="empty level"):
        mailfolders.create(store, "/etc")
    assert not any(e.startswith("mailsuite.creating") for e in entries(store))


def test_delete_keeps_subfolders_and_never_reuses_a_uidvalidity(store):
    mailfolders.create(store, "a/b")
    mailfolders.create(store, "a")
    deliver(store, "a", 2)
    before = state(store, "a")
    mailfolders.delete(store, "a")
    assert store.folders() == ["INBOX", "a/b"]
    assert not any(e.startswith("mailsuite.") and e != "mailsuite.index"
                   and e != "mailsuite.uidvalidity" for e in entries(store))
    with pytest.raises(NoSuchFolder):
        mailfolders.delete(store, "a")
    with pytest.raises(FolderError, match="INBOX"):
        mailfolders.delete(store, "inbox")
    mailfolders.create(store, "a")
    again = state(store, "a")
    assert again.uidvalidity != before.uidvalidity
    assert store.folder("a").uids() == []


def test_rename_moves_the_tree_and_keeps_uids(store):
    mailfolders.create(store, "a/x")
    mailfolders.create(store, "a", ["\\Archive"])
    uids = deliver(store, "a/x", 2)
    before = state(store, "a/x")
    mailfolders.rename(store, "a", "b/c")
    assert store.folders() == ["INBOX", "b/c", "b/c/x"]
    moved = store.folder("b/c/x")
    assert moved.state().uidvalidity == before.uidvalidity
    assert moved.uids() == uids and moved.read(uids[0]).startswith(b"From:")
    assert mailfolders.listing(store)[1] == ("b/c", ("\\Archive",))
    mailfolders.create(store, "a/x")                 # the old name is free again
    assert state(store, "a/x").uidvalidity != before.uidvalidity


def test_rename_refusals_change_nothing(store):
    mailfolders.create(store, "a")
    mailfolders.create(store, "a/x")
    mailfolders.create(store, "b/x")
    with pytest.raises(FolderExists):
        mailfolders.rename(store, "a", "b")          # b/x is in the way of a/x
    with pytest.raises(FolderExists):
        mailfolders.rename(store, "a", "INBOX")
    with pytest.raises(FolderError, match="into itself"):
        mailfolders.rename(store, "a", "a/y")
    with pytest.raises(NoSuchFolder):
        mailfolders.rename(store, "missing", "z")
    assert store.folders() == ["INBOX", "a", "a/x", "b/x"]


def test_a_parent_that_is_no_folder_renames_its_children(store):
    mailfolders.create(store, "p/q")
    mailfolders.rename(store, "p", "r")             # RFC 9051 6.3.6, "foo" example
    assert store.folders() == ["INBOX", "r/q"]


def test_rename_undone_when_the_index_commit_fails(store, monkeypatch):
    mailfolders.create(store, "a/x")
    mailfolders.create(store, "a")

    def fail(*args):
        raise lmdb.DiskError("full")
    monkeypatch.setattr(type(store.index.write()), "rename_folder", fail)
    with pytest.raises(lmdb.DiskError):
        mailfolders.rename(store, "a", "b")
    assert store.folders() == ["INBOX", "a", "a/x"]
    assert store.folder("a").state().name == "a"


def test_renaming_inbox_moves_its_messages_and_leaves_it_empty(store):
    uids = deliver(store, "INBOX", 3)
    store.folder("INBOX").store(uids[:1], ["\\Seen"], "add")
    mailfolders.create(store, "INBOX/kept")
    before = state(store, "INBOX")
    mailfolders.rename(store, "INBOX", "Old")
    old = store.folder("Old")
    assert old.state().uidvalidity == before.uidvalidity
    assert old.uids() == uids and old.record(uids[0]).flags == {"\\Seen"}
    inbox = store.folder("INBOX")
    assert inbox.uids() == [] and inbox.state().uidvalidity != before.uidvalidity
    assert os.listdir(store.root / "cur") == os.listdir(store.root / "new") == []
    assert "INBOX/kept" in store.folders()          # RFC 9051 6.3.6
    assert store.deliver("9.Qnew.host", MSG) == 1


def test_a_failed_inbox_rename_puts_every_message_back(store, monkeypatch):
    uids = deliver(store, "INBOX", 3)

    def fail(*args):
        raise lmdb.DiskError("full")
    monkeypatch.setattr(type(store.index.write()), "create_folder", fail)
    with pytest.raises(lmdb.DiskError):
        mailfolders.rename(store, "INBOX", "Old")
    assert store.folders() == ["INBOX"]
    assert store.folder("INBOX").uids() == uids
    assert len(os.listdir(store.root / "new")) == 3


def test_status_from_the_index(store):
    uids = deliver(store, "INBOX", 3)
    inbox = store.folder("INBOX")
    inbox.store(uids[:1], ["\\Seen"], "add")
    inbox.store(uids[1:], ["\\Deleted"], "add")
    found = status(inbox, size=True)
    assert found == FolderStatus(messages=3, unseen=2, deleted=2, uidnext=4,
                                 uidvalidity=inbox.state().uidvalidity,
                                 highestmodseq=inbox.state().highestmodseq,
                                 size=3 * 45, recent=3)
    assert status(inbox).size is None
    # \Recent: a session that takes the first two leaves one for STATUS.
    inbox.claim_recent(uids[2])
    assert status(inbox).recent == 1


def test_size_counts_other_tools_files_once_learnt(store):
    (store.root / "new" / "1.other.host").write_bytes(MSG)      # no S= or W=
    inbox = store.folder("INBOX")
    assert status(inbox, size=True).size == 45
    assert inbox.record(1).wire == 45               # learnt, and kept


def test_a_folder_never_indexed_has_no_status_yet(store):
    (store.root / ".Other" / "cur").mkdir(parents=True)
    (store.root / ".Other" / "new").mkdir()
    (store.root / ".Other" / "tmp").mkdir()
    assert status(store.folder("Other", build=False)) is None


def test_prepare_makes_the_special_folders_once(store):
    mailfolders.create(store, "Sent")
    mailfolders.create(store, "Old Trash", ["\\Trash"])
    mailfolders.prepare(store)
    assert mailfolders.listing(store) == [
        ("INBOX", ()), ("Archive", ("\\Archive",)), ("Drafts", ("\\Drafts",)),
        ("Junk", ("\\Junk",)), ("Old Trash", ("\\Trash",)), ("Sent", ("\\Sent",))]
    assert mailfolders.subscribed(store) == [
        "INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"]
    mailfolders.delete(store, "Junk")
    mailfolders.prepare(store)
    assert "Junk" not in store.folders()            # the user's choice stands


def test_prepare_repairs_what_a_crash_left_aside(store):
    uids = deliver(store, "INBOX", 2)
    mailfolders.prepare(store)
    aside = store.root / "mailsuite.renaming.1.crash"
    for sub in ("cur", "new", "tmp"):
        (aside / sub).mkdir(parents=True)
    for name in os.listdir(store.root / "new"):
        os.rename(store.root / "new" / name, aside / "new" / name)
    (store.root / "mailsuite.deleted.2.crash" / "cur").mkdir(parents=True)
    mailfolders.prepare(store)
    assert not any(e.startswith(("mailsuite.renaming", "mailsuite.deleted"))
                   for e in entries(store))
    assert len(os.listdir(store.root / "new")) == 2
    assert store.folder("INBOX").uids() == uids


def test_subscriptions_outlive_their_folder(store):
    mailfolders.create(store, "a")
    mailfolders.subscribe(store, "a")
    mailfolders.subscribe(store, "never/made")
    mailfolders.delete(store, "a")
    assert mailfolders.subscribed(store) == ["a", "never/made"]
    mailfolders.subscribe(store, "a", False)
    assert mailfolders.subscribed(store) == ["never/made"]
