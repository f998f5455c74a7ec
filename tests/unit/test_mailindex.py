"""core.mailindex (with core.mailrecord and core.mailslots): packed records, the
compact slots kept in step with every change, and UIDVALIDITY never given twice."""

import json
import struct

import lmdb
import pytest

from mailsuite.core import mailindex, mailslots
from mailsuite.core.mailindex import Index
from mailsuite.core.mailrecord import KEYWORDS_BIT, SEEN, Record, bits_of, name_key


@pytest.fixture
def index(tmp_path):
    with Index(tmp_path) as idx:
        yield idx


def record(uid, flags=(), modseq=2, base=None):
    return Record(uid, base or f"{uid}.Q.host,S=10,W=12", "new", "", 10, 12,
                  1700000000.25, modseq, frozenset(flags))


def folder(index, name="INBOX"):
    with index.write() as txn:
        return txn.create_folder(name)


def slots(index, state):
    with index.read() as txn:
        found = txn.slots(state.id)
    return list(found.uids), found.bits


def test_record_packs_and_unpacks():
    original = Record(7, "1.M2P3.host,S=5,W=6", "cur", ":2,FSa", 5, 6, 1.5, 9,
                      frozenset({"\\Seen", "\\Flagged", "$Label", "Work"}))
    assert Record.unpack(7, original.pack()) == original
    assert not Record(1, "b", "new", "", -1, -1, -1, 1, frozenset()).complete


def test_name_key_drops_the_size_fields():
    assert name_key("1.M2P3.host,S=10,W=12") == "1.M2P3.host"
    assert name_key("1.M2P3.host,S=10") == "1.M2P3.host"
    assert name_key("1.M2P3.host") == "1.M2P3.host"
    assert name_key("1.M2,x.host,S=1") == "1.M2,x.host"


def test_slots_follow_puts_flag_changes_and_deletes(index):
    state = folder(index)
    with index.write() as txn:
        for uid in (1, 2, 3):
            txn.put_message(state.id, record(uid))
    with index.write() as txn:
        old = txn.message(state.id, 2)
        txn.put_message(state.id, record(2, {"\\Seen", "Work"}, modseq=3), old=old)
        txn.delete_message(state.id, txn.message(state.id, 1), modseq=4)
    uids, bits = slots(index, state)
    assert uids == [2, 3]
    assert bits == bytes([SEEN | KEYWORDS_BIT, 0])
    with index.read() as txn:
        assert txn.changes_since(state.id, 2) == [(3, 2, False), (4, 1, True)]


def test_slots_span_many_values(index, monkeypatch):
    monkeypatch.setattr(mailslots, "SLOT_SIZE", 4)
    state = folder(index)
    with index.write() as txn:
        txn.insert_found(state.id, [(uid, f"{uid}.Q.host,S=10,W=12", "new", "")
                                    for uid in range(1, 8)], modseq=2)
        for uid in range(8, 12):
            txn.put_message(state.id, record(uid, {"\\Seen"} if uid % 2 else ()))
    with index.write() as txn:
        for uid in (1, 2, 3, 4, 6):
            txn.delete_message(state.id, txn.message(state.id, uid), modseq=5)
        old = txn.message(state.id, 7)
        txn.put_message(state.id, record(7, {"\\Deleted"}, modseq=6), old=old)
    uids, bits = slots(index, state)
    assert uids == [5, 7, 8, 9, 10, 11]
    assert bits == bytes([0, bits_of({"\\Deleted"}), 0, SEEN, 0, SEEN])
    # A second folder's slots are its own.
    other = folder(index, "Other")
    with index.write() as txn:
        txn.put_message(other.id, record(1))
    assert slots(index, other)[0] == [1]
    assert slots(index, state)[0] == [5, 7, 8, 9, 10, 11]


def test_uidvalidity_is_never_given_twice_even_without_the_index(tmp_path):
    given = set()
    for _ in range(3):
        with Index(tmp_path) as idx:
            with idx.write() as txn:
                given.add(txn.create_folder("INBOX").uidvalidity)
        for path in (tmp_path / mailindex.INDEX_DIR).iterdir():
            path.unlink()
    assert len(given) == 3


def test_an_index_of_mailsuite_0_1_is_upgraded_keeping_uids_and_keywords(tmp_path):
    # The format-1 layout: JSON message records, no slots, no format mark.
    path = tmp_path / mailindex.INDEX_DIR
    env = lmdb.open(str(path), max_dbs=9)
    u32 = struct.Struct(">I").pack
    with env.begin(write=True) as txn:
        folders, messages, names = (env.open_db(n, txn=txn)
                                    for n in (b"folders", b"messages", b"names"))
        txn.put(b"INBOX", json.dumps({"id": 1, "uidvalidity": 77, "uidnext": 9,
                                      "highestmodseq": 5, "scan": {}}).encode(),
                db=folders)
        for uid, base, flags in ((3, "1.Qa.host", ["\\Seen", "Work"]),
                                 (8, "2.M1P1.old,S=4,W=5", [])):
            txn.put(u32(1) + u32(uid), json.dumps({
                "base": base, "dir": "cur", "suffix": ":2,S" if flags else "",
                "size": 4, "date": 1.5, "modseq": 4, "flags": flags}).encode(),
                db=messages)
            txn.put(u32(1) + base.encode(), u32(uid) + b"c", db=names)
    env.close()
    with Index(tmp_path) as idx:
        with idx.read() as txn:
            assert txn.format() == mailindex.FORMAT
            state = txn.folder("INBOX")
            assert (state.uidvalidity, state.uidnext) == (77, 9)
            first = txn.message(1, 3)
            assert first.flags == {"\\Seen", "Work"} and first.internaldate == 1.5
            assert list(txn.slots(1).uids) == [3, 8]
            assert txn.by_base(1, "2.M1P1.old")[0] == 8
            assert txn.by_base(1, "1.Qa.host")[0] == 3
