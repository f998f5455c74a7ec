"""core.maildir (with core.mailfolder, core.mailindex and core.mailscan): delivery,
idempotency, flags mirrored in file names, changes by other Maildir tools, expunge,
append, and changes that fail leaving everything as it was."""

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
SIZES = ",S=45,W=45"           # what a delivered file's name says of MSG


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
    assert files(store, "new") == ["1000.Qa.host" + SIZES]
    assert files(store, "tmp") == []
    inbox = store.folder("INBOX")
    assert inbox.uids() == [1]
    record = inbox.record(1)
    assert record.wire == len(MSG) and record.flags == frozenset()
    assert record.internaldate == 1700000000.5
    assert inbox.read(1) == MSG
    assert os.stat(store.root / "new" / ("1000.Qa.host" + SIZES)).st_mtime \
        == 1700000000.5


def test_deliver_is_idempotent_on_base(store):
    assert store.deliver("1000.Qa.host", MSG) == 1
    assert store.deliver("1000.Qa.host", b"other bytes") == 1
    assert files(store, "new") == ["1000.Qa.host" + SIZES]
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
    assert files(store, "new") == ["1.Qa.host" + SIZES]
    assert files(store, "cur") == ["2.Qb.host:2,S"]
    assert store.folder("INBOX").record(uid).flags == {"\\Seen"}


def test_crash_between_rename_and_index_commit(store, monkeypatch):
    def crash(*args):
        raise RuntimeError("killed")

    monkeypatch.setattr(maildir, "_index_delivered", crash)
    # A killed process undoes nothing.
    monkeypatch.setattr(maildir, "_undo", lambda renamed: None)
    with pytest.raises(RuntimeError):
        store.deliver("1000.Qa.host", MSG)
    monkeypatch.undo()
    assert files(store, "new") == ["1000.Qa.host" + SIZES]
    uid = store.deliver("1000.Qa.host", MSG)
    assert files(store, "new") == ["1000.Qa.host" + SIZES]
    assert store.folder("INBOX").uids() == [uid]


def test_deliver_many_batches_and_deduplicates(store):
    items = [(f"{i}.Q{i}.host", MSG + str(i).encode()) for i in range(10)]
    uids = store.deliver_many(items + [items[3]])
    assert uids == list(range(1, 11)) + [4]
    inbox = store.folder("INBOX")
    assert inbox.uids() == list(range(1, 11))
    assert inbox.read(4) == MSG + b"3"
    # One commit for the batch: every message shares one modseq.
    assert len({r.modseq for r in inbox.records(inbox.uids()).values()}) == 1
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
    records = inbox.records(uids)
    assert [records[uid].wire for uid in uids] == [len(big), len(big), len(MSG)]
    assert inbox.message_info(records[uids[1]], structure=True)["body"]["size"] == len(big) - 39
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
    assert files(store, "cur") == ["1000.Qa.host" + SIZES + ":2,FS"]
    inbox.store([uid], ["\\Seen"], "remove")
    assert files(store, "cur") == ["1000.Qa.host" + SIZES + ":2,F"]
    inbox.store([uid], ["\\Answered", "\\Deleted", "\\Draft", "$Forwarded"], "set")
    assert files(store, "cur") == ["1000.Qa.host" + SIZES + ":2,DPRT"]
    assert inbox.record(uid).flags == {"\\Answered", "\\Deleted", "\\Draft", "$Forwarded"}
    assert inbox.read(uid) == MSG


def test_keyword_only_change_keeps_letters_and_bumps_modseq(store):
    uid = store.deliver("1000.Qa.host", MSG)
    inbox = store.folder("INBOX")
    first = inbox.store([uid], ["\\Seen"], "add")[uid].modseq
    second = inbox.store([uid], ["Work"], "add")[uid]
    assert second.modseq > first
    assert files(store, "cur") == ["1000.Qa.host" + SIZES + ":2,S"]
    assert inbox.store([uid], ["Work"], "add")[uid].modseq == second.modseq
    assert inbox.store([99], ["\\Seen"], "add") == {}


def test_store_is_seen_by_another_handle(store):
    uid = store.deliver("1.Qa.host", MSG)
    one, two = store.folder("INBOX"), store.folder("INBOX")
    old = two.record(uid)
    one.store([uid], ["\\Seen"], "add")
    assert two.record(uid).flags == {"\\Seen"}
    assert two.read(old) == MSG                     # follows the renamed file


# changes by other Maildir tools

def test_external_new_file_gets_a_new_uid(store):
    store.deliver("1.Qa.host", MSG)
    inbox = store.folder("INBOX")
    (store.root / "new" / "2.other.host").write_bytes(b"from elsewhere")
    (store.root / "cur" / "3.other.host:2,RS").write_bytes(b"already\nread\n")
    assert inbox.needs_scan()
    assert inbox.scan() is True
    assert inbox.uids() == [1, 2, 3]
    assert inbox.read(2) == b"from elsewhere"
    record = inbox.record(3)
    assert record.flags == {"\\Answered", "\\Seen"}
    # Sizes count the message as IMAP sends it, with CRLF line ends.
    assert record.wire == len(b"already\r\nread\r\n")
    assert inbox.read(3) == b"already\r\nread\r\n"


def test_external_removal_is_an_expunge(store):
    store.deliver_many([("1.Qa.host", MSG), ("2.Qb.host", MSG)])
    inbox = store.folder("INBOX")
    os.unlink(store.root / "new" / ("1.Qa.host" + SIZES))
    assert inbox.scan() is True
    assert inbox.uids() == [2]
    with pytest.raises(NoSuchMessage):
        inbox.record(1)


def test_external_rename_updates_flags_and_keeps_keywords(store):
    uid = store.deliver("1.Qa.host", MSG)
    inbox = store.folder("INBOX")
    inbox.store([uid], ["\\Seen", "Work"], "add")
    settle()
    name = "1.Qa.host" + SIZES
    os.rename(store.root / "cur" / (name + ":2,S"), store.root / "cur" / (name + ":2,FSa"))
    assert inbox.scan() is True
    assert inbox.record(uid).flags == {"\\Seen", "\\Flagged", "Work"}
    # Letters we do not own (another program's keyword letter) are kept.
    inbox.store([uid], ["\\Flagged"], "remove")
    assert files(store, "cur") == [name + ":2,Sa"]


def test_external_change_in_the_same_clock_tick_is_not_missed(store, monkeypatch):
    # Every mtime counts as "its clock tick may not be over yet".
    monkeypatch.setattr(mailscan, "_SETTLE_NS", 10 ** 15)
    store.deliver("1.Qa.host", MSG)
    inbox = store.folder("INBOX")
    (store.root / "new" / "2.other.host").write_bytes(b"x")
    assert inbox.scan() is True
    before = os.stat(store.root / "new").st_mtime_ns
    (store.root / "new" / "3.other.host").write_bytes(b"x")
    # Pretend the directory's mtime did not move (a coarse clock tick).
    os.utime(store.root / "new", ns=(before, before))
    # The last scan found an mtime whose tick was not surely over: look again.
    assert inbox.needs_scan()
    assert inbox.scan() is True
    assert inbox.uids() == [1, 2, 3]


def count_scans(monkeypatch):
    scans = []
    real = mailscan.list_files
    monkeypatch.setattr(mailscan, "list_files", lambda p: scans.append(p) or real(p))
    return scans


def test_own_changes_never_cause_a_scan(store, monkeypatch):
    uid = store.deliver("1.Qa.host", MSG)
    inbox = store.folder("INBOX")
    settle()
    inbox.scan()                # closes the clock tick of the folder's creation
    scans = count_scans(monkeypatch)
    inbox.store([uid], ["\\Seen"], "add")
    store.deliver_many([("2.Qb.host", MSG), ("3.Qc.host", MSG)])
    inbox.expunge([uid])
    inbox.append(MSG, flags=["\\Flagged"])
    assert not inbox.needs_scan()
    assert inbox.uids() == [2, 3, 4]
    assert store.folder("INBOX").uids() == [2, 3, 4]
    assert scans == []


def test_change_hidden_in_our_own_clock_tick_shows_up_at_the_periodic_scan(
        store, monkeypatch):
    store.deliver("1.Qa.host", MSG)
    inbox = store.folder("INBOX")
    settle()
    inbox.scan()
    store.deliver("2.Qb.host", MSG)
    mtime = os.stat(store.root / "new").st_mtime_ns
    (store.root / "new" / "3.other.host").write_bytes(b"x")
    os.utime(store.root / "new", ns=(mtime, mtime))     # the same clock tick
    assert not inbox.needs_scan()
    assert inbox.uids() == [1, 2]
    monkeypatch.setattr(mailscan, "RESCAN_INTERVAL", 0)
    assert inbox.needs_scan()
    assert inbox.scan() is True
    assert inbox.uids() == [1, 2, 3]


# expunge and UIDs

def test_expunge_removes_file_and_uid_is_never_reused(store, tmp_path):
    uids = store.deliver_many([("1.Qa.host", MSG), ("2.Qb.host", MSG)])
    inbox = store.folder("INBOX")
    inbox.store([uids[1]], ["\\Deleted"], "add")
    assert inbox.expunge([uids[1], 77]) == [uids[1]]
    assert inbox.uids() == [uids[0]]
    assert files(store, "cur") == [] and files(store, "tmp") == []
    assert inbox.expunge([uids[0]]) == [uids[0]]
    assert store.deliver("3.Qc.host", MSG) == 3
    store.close()
    with Store(tmp_path / "user") as again:
        assert again.deliver("4.Qd.host", MSG) == 4
        assert again.folder("INBOX").uids() == [3, 4]


def test_expunge_is_seen_by_another_handle(store):
    uids = store.deliver_many([("1.Qa.host", MSG), ("2.Qb.host", MSG)])
    one, two = store.folder("INBOX"), store.folder("INBOX")
    modseq = two.state().highestmodseq
    one.expunge([uids[0]])
    assert two.uids() == [uids[1]]
    state, changes, records = two.changes_since(modseq)
    assert changes == [(modseq + 1, uids[0], True)] and records == {}


def test_append_with_flags_and_date(store):
    store.create_folder("Sent")
    sent = store.folder("Sent")
    uid = sent.append(MSG, flags=["\\Seen"], internaldate=1600000000.0)
    assert sent.uids() == [uid]
    assert sent.record(uid).flags == {"\\Seen"}
    assert sent.record(uid).internaldate == 1600000000.0
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
    store.create_folder("v1.2")             # "." escaped on disk (core.mailnames)
    assert (store.root / ".v1\\2e2" / "maildirfolder").exists()
    assert "v1.2" in store.folders()
    for bad in ("", "a//b", "/a", "a\nb"):
        with pytest.raises(FolderError):
            store.create_folder(bad)
    with pytest.raises(NoSuchFolder):
        store.folder("Missing")


def test_uidvalidity_differs_between_folders(store):
    store.create_folder("A")
    store.create_folder("B")
    values = {store.folder(n).state().uidvalidity for n in ("INBOX", "A", "B")}
    assert len(values) == 3


def test_index_is_rebuilt_from_the_maildir(store, tmp_path):
    uids = store.deliver_many([("1.Qa.host", MSG), ("2.Qb.host", b"two")])
    inbox = store.folder("INBOX")
    inbox.store([uids[1]], ["\\Seen", "\\Answered"], "add")
    old_validity = inbox.state().uidvalidity
    store.close()
    # Rebuilt twice within the same second, never with a UIDVALIDITY given before.
    seen = {old_validity}
    for _ in range(2):
        shutil.rmtree(tmp_path / "user" / "mailsuite.index")
        with Store(tmp_path / "user") as again:
            rebuilt = again.folder("INBOX")
            assert rebuilt.state().uidvalidity not in seen
            seen.add(rebuilt.state().uidvalidity)
            assert len(rebuilt.uids()) == 2
            records = rebuilt.records(rebuilt.uids()).values()
            assert sorted(r.flags for r in records) == [frozenset(),
                                                        {"\\Answered", "\\Seen"}]
            assert sorted(r.wire for r in records) == [3, len(MSG)]


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


# a change that fails changes nothing

def fail_commits(store, monkeypatch):
    """Make the next index commits fail, as a full disk would."""
    real = store.index.write

    class Failing:
        def __init__(self):
            self.txn = real()

        def __enter__(self):
            return self.txn.__enter__()

        def __exit__(self, exc_type, exc, tb):
            if exc_type is None:
                self.txn.__exit__(OSError, OSError(28, "No space left on device"), None)
                raise OSError(28, "No space left on device")
            return self.txn.__exit__(exc_type, exc, tb)

    monkeypatch.setattr(store.index, "write", Failing)


def test_failed_store_renames_nothing(store, monkeypatch):
    uid = store.deliver("1.Qa.host", MSG)
    inbox = store.folder("INBOX")
    inbox.store([uid], ["\\Seen"], "add")
    before = files(store, "cur")
    fail_commits(store, monkeypatch)
    with pytest.raises(OSError):
        inbox.store([uid], ["\\Deleted"], "add")
    monkeypatch.undo()
    assert files(store, "cur") == before
    assert inbox.record(uid).flags == {"\\Seen"}
    # The Maildir agrees with the index: a scan finds nothing to take in.
    assert inbox.scan(force=True) is False


def test_failed_expunge_removes_nothing(store, monkeypatch):
    uids = store.deliver_many([("1.Qa.host", MSG), ("2.Qb.host", MSG)])
    inbox = store.folder("INBOX")
    before = files(store, "new")
    fail_commits(store, monkeypatch)
    with pytest.raises(OSError):
        inbox.expunge(uids)
    monkeypatch.undo()
    assert files(store, "new") == before and files(store, "tmp") == []
    assert inbox.uids() == uids
    assert [inbox.read(uid) for uid in uids] == [MSG, MSG]
    assert inbox.scan(force=True) is False


# moving in from other servers

def test_a_dovecot_uidlist_keeps_uids_and_uidvalidity(tmp_path):
    root = tmp_path / "user"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    (root / "cur" / "100.M1P1.old,S=3,W=4:2,S").write_bytes(b"a\nb")
    (root / "cur" / "101.M2P1.old,S=1,W=1:2,").write_bytes(b"c")
    (root / "new" / "102.M3P1.old").write_bytes(b"unlisted")
    (root / "dovecot-uidlist").write_text(
        "3 V1234567 N60 Gabc\n"
        "17 :100.M1P1.old,S=3,W=4\n"
        "42 W1 :101.M2P1.old,S=1,W=1\n")
    with Store(root) as store:
        inbox = store.folder("INBOX")
        state = inbox.state()
        assert state.uidvalidity == 1234567
        assert inbox.uids() == [17, 42, 60]
        assert state.uidnext == 61
        records = inbox.records([17, 42, 60])
        assert records[17].flags == {"\\Seen"} and records[17].wire == 4
        assert inbox.read(17) == b"a\r\nb"
        assert records[60].wire == len(b"unlisted")


# what the index caches

def test_delivery_caches_the_parsed_message(store, monkeypatch):
    uid = store.deliver("1.Qa.host", MSG)
    inbox = store.folder("INBOX")
    monkeypatch.setattr(inbox, "read", lambda *a: pytest.fail("file read"))
    info = inbox.message_info(inbox.record(uid), structure=True)
    assert info["header"] == MSG.index(b"\r\n\r\n") + 4
    assert info["envelope"][1] == "hello"
    assert ["subject", "Subject: hello\r\n"] in info["fields"]


def test_lf_and_crlf_messages_report_the_same_wire_size(store):
    crlf = b"Subject: x\r\n\r\nline one\r\nline two\r\n"
    lf = crlf.replace(b"\r\n", b"\n")
    (store.root / "new" / "9.other.host").write_bytes(lf)
    store.deliver("1.Qa.host", crlf)
    inbox = store.folder("INBOX")
    inbox.scan()
    records = inbox.records(inbox.uids())
    assert [r.wire for r in records.values()] == [len(crlf), len(crlf)]
    assert [inbox.read(r) for r in records.values()] == [crlf, crlf]
    infos = [inbox.message_info(r, structure=True) for r in records.values()]
    assert infos[0] == infos[1]


# adding messages with their own flags and dates; big ones received in pieces

def test_add_gives_each_message_its_flags_and_date(store):
    uids = store.add([maildir.Message(MSG, {"\\Seen", "$Work"}, 1600000000.0),
                      maildir.Message(MSG + b"2")])
    inbox = store.folder("INBOX")
    first, second = (inbox.record(uid) for uid in uids)
    assert first.flags == {"\\Seen", "$Work"} and first.internaldate == 1600000000.0
    assert second.flags == set() and second.dir == "new"
    assert [p.endswith(":2,S") for p in files(store, "cur")] == [True]
    assert os.stat(store.root / "cur" / files(store, "cur")[0]).st_mtime == 1600000000.0
    # One commit: one modseq.
    assert first.modseq == second.modseq


def test_an_incoming_message_is_renamed_into_place(store):
    incoming = store.incoming("INBOX")
    for piece in (b"Subject: x\n", b"\n", b"line\r", b"\nlast\n"):
        incoming.write(piece)
    incoming.close()
    [uid] = store.add([maildir.Message(incoming, ("\\Flagged",))])
    # Line ends made CRLF on the way, a CR and its LF split across pieces too.
    data = b"Subject: x\r\n\r\nline\r\nlast\r\n"
    record = store.folder("INBOX").record(uid)
    assert record.size == record.wire == len(data)
    assert (store.root / "cur" / record.filename).read_bytes() == data
    assert files(store, "tmp") == []
    incoming.discard()                  # harmless once added
    assert store.folder("INBOX").read(uid) == data


def test_a_discarded_incoming_message_leaves_nothing(store):
    incoming = store.incoming("INBOX")
    incoming.write(MSG)
    assert files(store, "tmp") != []
    incoming.discard()
    assert files(store, "tmp") == [] and store.folder("INBOX").uids() == []
    with pytest.raises(NoSuchFolder):
        store.incoming("Nowhere")


def test_a_failed_commit_takes_every_message_back(store, monkeypatch):
    store.deliver("1.Qa.host", MSG)
    before = files(store, "new")
    incoming = store.incoming("INBOX")
    incoming.write(MSG)
    fail_commits(store, monkeypatch)
    with pytest.raises(OSError):
        store.add([maildir.Message(MSG, {"\\Seen"}), maildir.Message(incoming)])
    monkeypatch.undo()
    assert files(store, "new") == before and files(store, "cur") == []
    assert files(store, "tmp") == []
    assert store.folder("INBOX").scan(force=True) is False


def test_a_quota_refuses_the_whole_batch(store):
    store.deliver("1.Qa.host", MSG)
    with pytest.raises(maildir.OverQuota):
        store.add([maildir.Message(MSG), maildir.Message(MSG)], quota=2 * len(MSG))
    assert files(store, "new") == ["1.Qa.host" + SIZES] and files(store, "tmp") == []
    assert store.add([maildir.Message(MSG)], quota=2 * len(MSG)) == [2]
