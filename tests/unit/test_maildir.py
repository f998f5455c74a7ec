"""core.maildir (with core.mailindex and core.mailscan): delivery, idempotency,
flags mirrored in file names, changes by other Maildir tools, expunge, append."""

import io
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from mailsuite.core import maildir, mailscan
from mailsuite.dev import PYTHON
from mailsuite.core.maildir import FolderError, NoSuchFolder, NoSuchMessage, Store

MSG = b"From: a@remote.test\r\nSubject: hello\r\n\r\nbody\r\n"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "user") as s:
        yield s


def files(store, sub, folder=""):
    return sorted(os.listdir(store.root / folder / sub))


def settle():
    """Wait until directory mtimes are surely past their clock tick."""
    time.sleep(mailscan._SETTLE_NS / 1e9 + 0.05)


# delivery

def test_deliver_writes_new_file_and_indexes_it(store):
    uid = store.deliver("1000.Qa.host", MSG, internaldate=1700000000.5)
    assert uid == 1
    assert files(store, "new") == ["1000.Qa.host"]
    assert files(store, "tmp") == []
    inbox = store.folder("INBOX")
    assert inbox.uids() == [1]
    info = inbox.info(1)
    assert info.size == len(MSG) and info.flags == frozenset()
    assert info.internaldate == 1700000000.5
    assert inbox.read(1) == MSG
    assert os.stat(store.root / "new" / "1000.Qa.host").st_mtime == 1700000000.5


def test_deliver_is_idempotent_on_base(store):
    assert store.deliver("1000.Qa.host", MSG) == 1
    assert store.deliver("1000.Qa.host", b"other bytes") == 1
    assert files(store, "new") == ["1000.Qa.host"]
    assert store.folder("INBOX").read(1) == MSG


def test_deliver_finds_file_present_but_not_indexed(store):
    # As after a crash between the rename into new/ and the index commit.
    (store.root / "new" / "1000.Qa.host").write_bytes(MSG)
    uid = store.deliver("1000.Qa.host", b"second copy")
    assert files(store, "new") == ["1000.Qa.host"]
    assert files(store, "tmp") == []
    assert store.folder("INBOX").read(uid) == MSG
    assert store.deliver("1000.Qa.host", b"third") == uid


def test_deliver_finds_file_moved_to_cur_but_not_indexed(store):
    store.deliver("1.Qa.host", MSG)           # the index exists and has scanned
    settle()
    (store.root / "cur" / "2.Qb.host:2,S").write_bytes(MSG)
    uid = store.deliver("2.Qb.host", b"again")
    assert files(store, "new") == ["1.Qa.host"]
    assert files(store, "cur") == ["2.Qb.host:2,S"]
    assert store.folder("INBOX").info(uid).flags == {"\\Seen"}


def test_crash_between_rename_and_index_commit(store, monkeypatch):
    def crash(*args):
        raise RuntimeError("killed")

    monkeypatch.setattr(maildir, "_index_delivered", crash)
    with pytest.raises(RuntimeError):
        store.deliver("1000.Qa.host", MSG)
    monkeypatch.undo()
    assert files(store, "new") == ["1000.Qa.host"]
    uid = store.deliver("1000.Qa.host", MSG)
    assert files(store, "new") == ["1000.Qa.host"]
    assert store.folder("INBOX").uids() == [uid]


def test_deliver_many_batches_and_deduplicates(store):
    items = [(f"{i}.Q{i}.host", MSG + str(i).encode()) for i in range(10)]
    uids = store.deliver_many(items + [items[3]])
    assert uids == list(range(1, 11)) + [4]
    inbox = store.folder("INBOX")
    assert inbox.uids() == list(range(1, 11))
    assert inbox.read(4) == MSG + b"3"
    # One commit for the batch: every message shares one modseq.
    assert len({inbox.info(u).modseq for u in inbox.uids()}) == 1
    assert store.deliver_many(items[:2]) == [1, 2]


def test_deliver_copies_from_a_path_or_a_file(store, tmp_path):
    big = MSG + b"x" * (3 << 20)          # several copy chunks
    source = tmp_path / "message"
    source.write_bytes(big)
    with open(source, "rb") as message:
        message.seek(100)
        uids = store.deliver_many([("1.Qa.host", source), ("2.Qb.host", message),
                                   ("3.Qc.host", io.BytesIO(MSG))])
        # One open file serves many mailboxes: its position is not moved.
        assert message.tell() == 100
    inbox = store.folder("INBOX")
    assert [inbox.read(uid) for uid in uids] == [big, big, MSG]
    assert [inbox.info(uid).size for uid in uids] == [len(big), len(big), len(MSG)]
    assert files(store, "tmp") == []


def test_deliver_to_missing_folder_is_refused(store):
    with pytest.raises(NoSuchFolder):
        store.deliver("1.Q.host", MSG, folder="Nope")


# flags

def test_flags_are_mirrored_in_file_names(store):
    uid = store.deliver("1000.Qa.host", MSG)
    inbox = store.folder("INBOX")
    result = inbox.store([uid], ["\\Seen", "\\flagged", "$Label1"], "add")
    assert result[uid].flags == {"\\Seen", "\\Flagged", "$Label1"}
    assert files(store, "new") == []
    assert files(store, "cur") == ["1000.Qa.host:2,FS"]
    inbox.store([uid], ["\\Seen"], "remove")
    assert files(store, "cur") == ["1000.Qa.host:2,F"]
    inbox.store([uid], ["\\Answered", "\\Deleted", "\\Draft", "$Forwarded"], "set")
    assert files(store, "cur") == ["1000.Qa.host:2,DPRT"]
    assert inbox.info(uid).flags == {"\\Answered", "\\Deleted", "\\Draft", "$Forwarded"}
    assert inbox.read(uid) == MSG


def test_keyword_only_change_keeps_letters_and_bumps_modseq(store):
    uid = store.deliver("1000.Qa.host", MSG)
    inbox = store.folder("INBOX")
    first = inbox.store([uid], ["\\Seen"], "add")[uid].modseq
    second = inbox.store([uid], ["Work"], "add")[uid]
    assert second.modseq > first
    assert files(store, "cur") == ["1000.Qa.host:2,S"]
    assert inbox.store([uid], ["Work"], "add")[uid].modseq == second.modseq
    assert inbox.store([99], ["\\Seen"], "add") == {}


def test_store_seen_by_another_handle_after_refresh(store, tmp_path):
    uid = store.deliver("1.Qa.host", MSG)
    one, two = store.folder("INBOX"), store.folder("INBOX")
    one.store([uid], ["\\Seen"], "add")
    assert two.info(uid).flags == frozenset()       # a snapshot until refresh
    assert two.refresh() is True
    assert two.info(uid).flags == {"\\Seen"}
    assert two.read(uid) == MSG                     # follows the renamed file


# changes by other Maildir tools

def test_external_new_file_gets_a_new_uid(store):
    store.deliver("1.Qa.host", MSG)
    inbox = store.folder("INBOX")
    (store.root / "new" / "2.other.host").write_bytes(b"from elsewhere")
    (store.root / "cur" / "3.other.host:2,RS").write_bytes(b"already read")
    assert inbox.refresh() is True
    assert inbox.uids() == [1, 2, 3]
    assert inbox.read(2) == b"from elsewhere"
    assert inbox.info(3).flags == {"\\Answered", "\\Seen"}
    assert inbox.info(3).size == len(b"already read")


def test_external_removal_is_an_expunge(store):
    store.deliver_many([("1.Qa.host", MSG), ("2.Qb.host", MSG)])
    inbox = store.folder("INBOX")
    os.unlink(store.root / "new" / "1.Qa.host")
    assert inbox.refresh() is True
    assert inbox.uids() == [2]
    with pytest.raises(NoSuchMessage):
        inbox.info(1)


def test_external_rename_updates_flags_and_keeps_keywords(store):
    uid = store.deliver("1.Qa.host", MSG)
    inbox = store.folder("INBOX")
    inbox.store([uid], ["\\Seen", "Work"], "add")
    settle()
    os.rename(store.root / "cur" / "1.Qa.host:2,S", store.root / "cur" / "1.Qa.host:2,FSa")
    assert inbox.refresh() is True
    assert inbox.info(uid).flags == {"\\Seen", "\\Flagged", "Work"}
    # Letters we do not own (another program's keyword letter) are kept.
    inbox.store([uid], ["\\Flagged"], "remove")
    assert files(store, "cur") == ["1.Qa.host:2,Sa"]


def test_external_change_in_the_same_clock_tick_is_not_missed(store):
    store.deliver("1.Qa.host", MSG)
    inbox = store.folder("INBOX")
    before = os.stat(store.root / "new").st_mtime_ns
    (store.root / "new" / "2.other.host").write_bytes(b"x")
    # Pretend the directory's mtime did not move (a coarse clock tick).
    os.utime(store.root / "new", ns=(before, before))
    assert inbox.refresh() is True
    assert inbox.uids() == [1, 2]


def count_scans(monkeypatch):
    scans = []
    real = mailscan.list_files
    monkeypatch.setattr(mailscan, "list_files", lambda p: scans.append(p) or real(p))
    return scans


def test_own_changes_never_cause_a_scan(store, monkeypatch):
    uid = store.deliver("1.Qa.host", MSG)
    inbox = store.folder("INBOX")
    settle()
    inbox.refresh()             # closes the clock tick of the folder's creation
    scans = count_scans(monkeypatch)
    inbox.store([uid], ["\\Seen"], "add")
    store.deliver_many([("2.Qb.host", MSG), ("3.Qc.host", MSG)])
    inbox.expunge([uid])
    inbox.append(MSG, flags=["\\Flagged"])
    assert inbox.refresh() is True
    assert inbox.uids() == [2, 3, 4]
    assert store.folder("INBOX").uids() == [2, 3, 4]
    assert scans == []


def test_change_hidden_in_our_own_clock_tick_shows_up_at_the_periodic_scan(
        store, monkeypatch):
    store.deliver("1.Qa.host", MSG)
    inbox = store.folder("INBOX")
    settle()
    inbox.refresh()
    store.deliver("2.Qb.host", MSG)
    mtime = os.stat(store.root / "new").st_mtime_ns
    (store.root / "new" / "3.other.host").write_bytes(b"x")
    os.utime(store.root / "new", ns=(mtime, mtime))     # the same clock tick
    inbox.refresh()
    assert inbox.uids() == [1, 2]
    monkeypatch.setattr(mailscan, "RESCAN_INTERVAL", 0)
    assert inbox.refresh() is True
    assert inbox.uids() == [1, 2, 3]


# expunge and UIDs

def test_expunge_removes_file_and_uid_is_never_reused(store, tmp_path):
    uids = store.deliver_many([("1.Qa.host", MSG), ("2.Qb.host", MSG)])
    inbox = store.folder("INBOX")
    inbox.store([uids[1]], ["\\Deleted"], "add")
    assert inbox.expunge([uids[1], 77]) == [uids[1]]
    assert inbox.uids() == [uids[0]]
    assert files(store, "cur") == []
    assert inbox.expunge([uids[0]]) == [uids[0]]
    assert store.deliver("3.Qc.host", MSG) == 3
    store.close()
    with Store(tmp_path / "user") as again:
        assert again.deliver("4.Qd.host", MSG) == 4
        assert again.folder("INBOX").uids() == [3, 4]


def test_expunge_is_seen_by_another_handle(store):
    uids = store.deliver_many([("1.Qa.host", MSG), ("2.Qb.host", MSG)])
    one, two = store.folder("INBOX"), store.folder("INBOX")
    one.expunge([uids[0]])
    assert two.uids() == uids
    assert two.refresh() is True
    assert two.uids() == [uids[1]]


def test_append_with_flags_and_date(store):
    store.create_folder("Sent")
    sent = store.folder("Sent")
    uid = sent.append(MSG, flags=["\\Seen"], internaldate=1600000000.0)
    assert sent.refresh() is True
    assert sent.uids() == [uid]
    assert sent.info(uid).flags == {"\\Seen"}
    assert sent.info(uid).internaldate == 1600000000.0
    (name,) = files(store, "cur", ".Sent")
    assert name.endswith(":2,S")
    assert sent.read(uid) == MSG
    assert sent.append(b"second") == uid + 1


# folders and the index

def test_folders(store):
    assert store.folders() == ["INBOX"]
    store.create_folder("Archive/2024")
    store.create_folder("Sent")
    assert store.folders() == ["INBOX", "Archive/2024", "Sent"]
    assert (store.root / ".Archive.2024" / "maildirfolder").exists()
    assert store.folder("inbox").name == "INBOX"
    with pytest.raises(FolderError, match="exists"):
        store.create_folder("Sent")
    with pytest.raises(FolderError, match="'.'"):
        store.create_folder("v1.2")
    for bad in ("", "a//b", "/a", "a\nb"):
        with pytest.raises(FolderError):
            store.create_folder(bad)
    with pytest.raises(NoSuchFolder):
        store.folder("Missing")


def test_uidvalidity_differs_between_folders(store):
    store.create_folder("A")
    store.create_folder("B")
    values = {store.folder(n).uidvalidity for n in ("INBOX", "A", "B")}
    assert len(values) == 3


def test_index_is_rebuilt_from_the_maildir(store, tmp_path):
    uids = store.deliver_many([("1.Qa.host", MSG), ("2.Qb.host", b"two")])
    inbox = store.folder("INBOX")
    inbox.store([uids[1]], ["\\Seen", "\\Answered"], "add")
    old_validity = inbox.uidvalidity
    store.close()
    shutil.rmtree(tmp_path / "user" / "mailsuite.index")
    # UIDVALIDITY is the creation time in seconds: a rebuild is a later second.
    time.sleep(max(0.0, old_validity + 1 - time.time()))
    with Store(tmp_path / "user") as again:
        rebuilt = again.folder("INBOX")
        assert rebuilt.uidvalidity != old_validity
        assert len(rebuilt.uids()) == 2
        flags = sorted(rebuilt.info(u).flags for u in rebuilt.uids())
        assert flags == [frozenset(), {"\\Answered", "\\Seen"}]


def test_two_processes_deliver_without_sharing_a_uid(tmp_path):
    root = tmp_path / "user"
    Store(root).close()
    code = ("import sys; from mailsuite.core.maildir import Store\n"
            "s = Store(sys.argv[1])\n"
            "for i in range(40):\n"
            "    s.deliver(f'{sys.argv[2]}{i}.host', b'x')\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    procs = [subprocess.Popen([PYTHON, "-c", code, str(root), tag], env=env)
             for tag in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with Store(root) as s:
        inbox = s.folder("INBOX")
        assert inbox.uids() == list(range(1, 81))
        assert len(os.listdir(root / "new")) == 80
