"""mailsuite.pop3.maildrop and replies: the session's snapshot, message numbers,
unique-ids, TOP's reading, and message data as POP3 carries it."""

import array

import pytest

from mailsuite.core import maildir
from mailsuite.pop3 import maildrop
from mailsuite.pop3.replies import Bad, Err, err, multiline, stuffed

MESSAGE = b"Subject: s\r\nX: y\r\n\r\none\r\ntwo\r\nthree\r\n"
LONG_LF = b"Subject: lf\n\n" + b"body line\n" * 2000


def drop(count=3):
    return maildrop.Maildrop(None, 0x5F3A1B2C, array.array("I", range(1, count + 1)),
                             array.array("q", [100 * n for n in range(1, count + 1)]))


def test_stuffing():
    assert stuffed(b"") == b".\r\n"
    assert stuffed(b".first\r\nmid\r\n.\r\n..two\r\n") == \
        b"..first\r\nmid\r\n..\r\n...two\r\n.\r\n"
    assert stuffed(b"no end") == b"no end\r\n.\r\n"


def test_answers():
    assert err("no such message") == b"-ERR no such message\r\n"
    assert err("busy", "IN-USE") == b"-ERR [IN-USE] busy\r\n"
    assert multiline("2 messages", ["1 10", "2 20"]) == \
        b"+OK 2 messages\r\n1 10\r\n2 20\r\n.\r\n"


def test_numbers_are_checked():
    box = drop()
    assert box.number("2") == 2
    assert box.number("002") == 2
    for text in ("", "x", "-1", "1.0", "\u0662", "12345678901"):
        with pytest.raises(Bad):
            box.number(text)
    for text in ("0", "4"):
        with pytest.raises(Err, match="no such message"):
            box.number(text)
    box.deleted.add(2)
    with pytest.raises(Err, match="message 2 already deleted"):
        box.number("2")


def test_stat_and_listing_leave_out_the_deleted():
    box = drop()
    assert box.stat() == (3, 600)
    box.deleted.update({1, 3})
    assert box.stat() == (1, 200)
    assert box.listing() == ["2 200"]
    assert box.unique_ids() == ["2 000000025F3A1B2C"]
    assert box.marked() == [1, 3]


def test_unique_id_is_dovecots_default_format():
    # %08Xu%08Xv: the UID, then the UIDVALIDITY.
    assert drop().unique_id(2) == "000000025F3A1B2C"


def test_after_lines():
    data = b"H: 1\r\n\r\na\r\nb\r\nc"
    assert maildrop._after_lines(data, 8, 0) == 8
    assert maildrop._after_lines(data, 8, 2) == 14
    assert maildrop._after_lines(data, 8, 3) is None


class Reading:
    """A folder that records how much of each message is read."""

    def __init__(self, folder):
        self.folder = folder
        self.reads = []

    def __getattr__(self, name):
        return getattr(self.folder, name)

    def read(self, record, length=None):
        self.reads.append(length)
        return self.folder.read(record, length)


@pytest.fixture
def store(tmp_path):
    with maildir.Store(tmp_path / "mail") as store:
        store.deliver("1.a", MESSAGE)
        store.deliver("2.b", LONG_LF)
        yield store


@pytest.fixture
def folder(store):
    return store.folder("INBOX")


def test_top_zero_reads_the_header_only(folder):
    reading = Reading(folder)
    assert maildrop.top(reading, 1, 0) == b"Subject: s\r\nX: y\r\n\r\n.\r\n"
    assert reading.reads == [len(b"Subject: s\r\nX: y\r\n\r\n")]


def test_top_lines(folder):
    assert maildrop.top(folder, 1, 2) == b"Subject: s\r\nX: y\r\n\r\none\r\ntwo\r\n.\r\n"
    assert maildrop.top(folder, 1, 10) == stuffed(MESSAGE)
    # Far into a large message with bare LF line ends: read in growing pieces.
    assert maildrop.top(folder, 2, 1500) == \
        b"Subject: lf\r\n\r\n" + b"body line\r\n" * 1500 + b".\r\n"


def test_snapshot_and_retrieve(store, folder):
    box, _ = maildrop.snapshot(store)
    assert list(box.uids) == [1, 2]
    assert list(box.sizes) == [len(MESSAGE), len(LONG_LF.replace(b"\n", b"\r\n"))]
    assert box.uidvalidity == folder.state().uidvalidity
    assert maildrop.retrieve(folder, 1) == stuffed(MESSAGE)


def test_snapshot_learns_the_sizes_of_other_tools_files(tmp_path):
    root = tmp_path / "mail"
    with maildir.Store(root) as store:
        store.folder("INBOX")
    for name, data in (("1.other", b"A: b\n\nlf body\n"), ("2.other", MESSAGE)):
        (root / "new" / name).write_bytes(data)
    with maildir.Store(tmp_path / "fresh") as fresh:
        with pytest.raises(maildrop.NotIndexed):
            maildrop.snapshot(fresh)
    with maildir.Store(root) as store:
        box, stale = maildrop.snapshot(store)
        assert stale and len(box) == 0
        store.folder("INBOX").scan()
        box, _ = maildrop.snapshot(store)
        assert list(box.sizes) == [len(b"A: b\r\n\r\nlf body\r\n"), len(MESSAGE)]
    with maildir.Store(root) as store:
        # Learnt once, kept in the index.
        _, _, sizes = store.folder("INBOX").wire_sizes()
        assert list(sizes) == list(box.sizes)


def test_wire_sizes_are_the_folders_own(store):
    store.create_folder("Sub")
    store.deliver("3.c", b"S: sub\r\n\r\nin a folder after the INBOX\r\n", folder="Sub")
    _, uids, sizes = store.folder("INBOX").wire_sizes()
    assert list(uids) == [1, 2] and sizes[0] == len(MESSAGE)
    _, uids, sizes = store.folder("Sub").wire_sizes()
    assert list(uids) == [1] and list(sizes) == [len(b"S: sub\r\n\r\nin a folder after "
                                                     b"the INBOX\r\n")]
