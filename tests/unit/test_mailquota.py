"""core.mailquota and the size counters of core.mailindex: a mailbox's usage follows
every change without a look at its messages, and the quota check."""

import os

import pytest

from mailsuite.core import mailquota
from mailsuite.core.maildir import Message, OverQuota, Store, usage_of
from mailsuite.core.mailquota import PREFIX

MSG = b"From: a@remote.test\r\nSubject: hello\r\n\r\nbody\r\n"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "user") as s:
        yield s


def test_check_and_over():
    mailquota.check(90, 10, 100)
    mailquota.check(10 ** 12, 1, 0)             # 0 is no limit
    with pytest.raises(OverQuota, match="101 bytes would exceed the quota of 100"):
        mailquota.check(91, 10, 100)
    assert mailquota.over(100, 100) and not mailquota.over(99, 100)
    assert not mailquota.over(10 ** 12, 0)


def test_usage_follows_every_change(store):
    assert store.usage() == 0
    uids = store.deliver_many([("1.Qa.host", MSG), ("2.Qb.host", MSG + b"xx")])
    assert store.usage() == 2 * len(MSG) + 2
    inbox = store.folder("INBOX")
    inbox.store(uids, {"\\Seen", "$Work"}, "add")
    assert store.usage() == 2 * len(MSG) + 2
    store.create_folder("Sent")
    sent = store.folder("Sent")
    inbox.copy([uids[0]], sent)
    assert store.usage() == 3 * len(MSG) + 2
    inbox.move([uids[1]], sent)
    assert store.usage() == 3 * len(MSG) + 2
    sent.expunge(sent.uids())
    assert store.usage() == len(MSG)


def test_files_of_other_tools_count_by_name_or_from_the_first_look(store):
    store.deliver("1.Qa.host", MSG)
    (store.root / "new" / f"2.other,S={len(MSG)}").write_bytes(MSG)
    (store.root / "new" / "3.other").write_bytes(MSG)
    inbox = store.folder("INBOX")
    inbox.scan(force=True)
    assert store.usage() == 2 * len(MSG)        # the third's size is not known yet
    inbox.records(inbox.uids())                 # a client asks about it
    assert store.usage() == 3 * len(MSG)


def test_an_index_without_counters_counts_once(store):
    store.deliver_many([("1.Qa.host", MSG), ("2.Qb.host", MSG)])
    with store.index.write() as txn:
        for key, _ in list(txn._txn.cursor(db=txn._db["meta"])):
            if key.startswith(PREFIX):
                txn._txn.delete(key, db=txn._db["meta"])
    with store.index.read() as txn:
        assert txn.usage() is None              # a reader cannot count
    # A delivery meanwhile leaves the missing counter to the count.
    store.deliver("3.Qc.host", MSG)
    assert store.usage() == 3 * len(MSG)
    store.folder("INBOX").expunge([1])
    assert store.usage() == 2 * len(MSG)


def test_usage_of_reads_an_index_and_creates_nothing(store, tmp_path):
    store.deliver("1.Qa.host", MSG)
    assert usage_of(store.root) == len(MSG)
    assert usage_of(tmp_path / "nobody") == 0
    assert not os.path.exists(tmp_path / "nobody")


def test_a_quota_counts_every_folder(store):
    store.create_folder("Archive")
    store.deliver("1.Qa.host", MSG, folder="Archive")
    with pytest.raises(OverQuota):
        store.add([Message(MSG)], quota=2 * len(MSG) - 1)
    store.add([Message(MSG)], quota=2 * len(MSG))
