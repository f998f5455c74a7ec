"""core.mailcolumns (and core.mailsearch): the index's per-folder columns, written
at delivery, filled on first need for other tools' files, removed at expunge; and
searching the files' text."""

import array
import os

import pytest

from mailsuite.core import mailcolumns, mailfolders, mailsearch, msgkeys
from mailsuite.core.maildir import Store

MSG = (b"From: Alice <alice@example.org>\r\nSubject: =?UTF-8?Q?Caf=C3=A9?= talk\r\n"
       b"Date: Tue, 2 Jan 2024 10:00:00 +0000\r\n\r\nSome body text\r\n")
OTHER = b"From: bob@example.net\r\nSubject: plain\r\n\r\nanother body\r\n"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "user") as s:
        yield s


def column(folder, code):
    uids, values = mailcolumns.values(folder, code)
    return dict(zip(uids, values))


def drop_file(store, name, data, sub="new"):
    """A message written by another Maildir tool, not through the store."""
    path = store.root / sub / name
    path.write_bytes(data)
    os.utime(path, (1_600_000_000, 1_600_000_000))


def test_delivery_writes_the_columns(store):
    store.deliver("1.Qa.host", MSG)
    store.deliver("2.Qb.host", OTHER)
    inbox = store.folder("INBOX")
    assert mailcolumns.pending(inbox) is None
    assert column(inbox, msgkeys.SUBJECT) == {1: "café talk".encode(), 2: b"plain"}
    assert column(inbox, msgkeys.SORT_FROM) == {1: b"ALICE", 2: b"BOB"}
    assert set(column(inbox, msgkeys.DATE)) == {1, 2}


def test_find_matches_within_one_value_only(store):
    store.deliver("1.Qa.host", MSG)
    store.deliver("2.Qb.host", OTHER)
    inbox = store.folder("INBOX")
    assert list(mailcolumns.find(inbox, msgkeys.SUBJECT, "café".encode())) == [1]
    assert list(mailcolumns.find(inbox, msgkeys.SUBJECT, b"talk")) == [1]
    # The end of one value and the start of the next are not one string.
    assert list(mailcolumns.find(inbox, msgkeys.SUBJECT, b"talk\0plain")) == []
    assert list(mailcolumns.find(inbox, msgkeys.SUBJECT, b"lkpl")) == []
    assert list(mailcolumns.find(inbox, msgkeys.SUBJECT, b"a")) == [1, 2]
    # An empty string: the messages that have the field.
    assert list(mailcolumns.find(inbox, msgkeys.CC, b"")) == []
    assert list(mailcolumns.find(inbox, msgkeys.FROM, b"")) == [1, 2]


def test_expunge_removes_a_message_s_values(store):
    store.deliver("1.Qa.host", MSG)
    store.deliver("2.Qb.host", OTHER)
    inbox = store.folder("INBOX")
    inbox.expunge([1])
    for code in msgkeys.CODES:
        assert 1 not in column(inbox, code)
    assert mailcolumns.pending(inbox) is None


def test_a_copy_has_the_original_s_values(store):
    store.deliver("1.Qa.host", MSG)
    store.deliver("2.Qb.host", OTHER)
    store.create_folder("Archive")
    archive = store.folder("Archive")
    store.folder("INBOX").copy([2], archive)
    assert column(archive, msgkeys.SUBJECT) == {1: b"plain"}
    assert mailcolumns.pending(archive) == []       # nothing to read from files


def test_a_deleted_folder_s_values_go_with_it(store):
    store.create_folder("Old")
    store.deliver("1.Qa.host", MSG, folder="Old")
    old_id = store.folder("Old").state().id
    mailfolders.delete(store, "Old")
    with store.index.read() as txn:
        assert txn.columns.walk(old_id, msgkeys.SUBJECT) == (array.array("I"), [])
        assert txn.columns.upto(old_id) == 1


def test_files_of_other_tools_are_filled_on_first_need(store):
    store.deliver("1.Qa.host", MSG)
    drop_file(store, "100.other", OTHER.replace(b"\r\n", b"\n"))
    inbox = store.folder("INBOX")
    inbox.scan(force=True)
    assert mailcolumns.pending(inbox) == [2]
    # Delivered while the other is still without: the folder is still not complete.
    store.deliver("3.Qc.host", MSG)
    assert mailcolumns.pending(inbox) == [2]
    assert mailcolumns.fill(inbox, [2]) == 1
    assert mailcolumns.pending(inbox) is None
    assert column(inbox, msgkeys.SUBJECT)[2] == b"plain"
    # No Date field: the file's time, as its internal date, stands in.
    assert msgkeys.sent_time(column(inbox, msgkeys.DATE)[2]) == 1_600_000_000
    store.deliver("4.Qd.host", OTHER)
    assert mailcolumns.pending(inbox) is None


def test_a_folder_indexed_from_its_files_is_filled_whole(store):
    for n in range(5):
        drop_file(store, f"{n}.other", OTHER)
    inbox = store.folder("INBOX")
    missing = mailcolumns.pending(inbox)
    assert missing == [1, 2, 3, 4, 5]
    assert mailcolumns.fill_at(str(store.root), "INBOX") == 5
    assert mailcolumns.pending(inbox) is None


def test_a_vanished_file_is_left_without_columns(store):
    drop_file(store, "1.other", OTHER)
    inbox = store.folder("INBOX")
    os.unlink(store.root / "new" / "1.other")
    assert mailcolumns.fill(inbox, [1]) == 0
    assert mailcolumns.pending(inbox) == [1]


def test_a_long_header_is_read_piece_by_piece(store):
    long_header = b"X-Pad: " + b"x" * 100_000 + b"\r\nSubject: far down\r\n\r\nbody"
    drop_file(store, "1.other", long_header)
    inbox = store.folder("INBOX")
    mailcolumns.fill(inbox, [1])
    assert column(inbox, msgkeys.SUBJECT) == {1: b"far down"}


# searching files


BODY_PARTS = (b"Subject: parts\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
              b"--b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
              b"soft=\r\nbreak\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n"
              b"binaryword\r\n--b--\r\n")


def test_text_tests_read_the_files(store):
    store.deliver("1.Qa.host", MSG)
    store.deliver("2.Qb.host", BODY_PARTS)
    inbox = store.folder("INBOX")

    def matching(needle, scope):
        return mailsearch.matching(inbox, [1, 2], mailsearch.Test(needle, scope))

    assert matching("softbreak", mailsearch.BODY) == [2]
    assert matching("binaryword", mailsearch.BODY) == []
    assert matching("some body", mailsearch.BODY) == [1]
    assert matching("alice", mailsearch.BODY) == []
    assert matching("alice", mailsearch.TEXT) == [1]
    assert matching("multipart", "content-type") == [2]
    assert matching("", "content-type") == [2]
    assert matching("", "date") == [1]


def test_text_tests_in_the_scanning_process_form(store):
    store.deliver("1.Qa.host", MSG)
    store.deliver("2.Qb.host", OTHER)
    found = mailsearch.matching_at(str(store.root), "INBOX", [2, 1, 7],
                                   mailsearch.Test("body", mailsearch.BODY))
    assert found == [1, 2]
