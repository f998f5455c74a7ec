"""core.mailview: a session's view of a folder, its SELECT summary, sequence sets,
and the change events in the order a client must hear them."""

import pytest

from mailsuite.core.maildir import Store
from mailsuite.core.mailview import (Exists, Expunged, FlagsChanged,
                                     UidValidityChanged, View)

MSG = b"From: a@remote.test\r\nSubject: hi\r\n\r\nbody\r\n"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "user") as s:
        yield s


def fill(store, count):
    return store.deliver_many([(f"{i}.Q{i}.host", MSG) for i in range(count)])


def test_summary_counts_and_first_unseen(store):
    uids = fill(store, 5)
    inbox = store.folder("INBOX")
    inbox.store(uids[:2] + uids[3:4], ["\\Seen"], "add")
    summary = View(inbox).summary
    assert (summary.exists, summary.unseen, summary.first_unseen) == (5, 2, 3)
    assert summary.uidnext == 6
    inbox.store(uids, ["\\Seen"], "add")
    assert View(inbox).summary.first_unseen == 0


def test_positions_by_number_and_by_uid(store):
    uids = fill(store, 6)
    inbox = store.folder("INBOX")
    inbox.expunge([uids[1], uids[2]])           # uids 1 4 5 6 remain
    view = View(inbox)
    assert view.positions([(1, 2), (4, None)], by_uid=False) == [(0, 2), (3, 4)]
    assert view.positions([(2, 4)], by_uid=True) == [(1, 2)]
    assert view.positions([(None, 5)], by_uid=True) == [(2, 4)]
    assert view.positions([(9, None)], by_uid=True) == [(3, 4)]     # 9:* is 6:9
    assert view.positions([(7, 8)], by_uid=True) == []


def test_sync_reports_expunges_highest_first_then_exists_then_flags(store):
    uids = fill(store, 5)
    inbox = store.folder("INBOX")
    view = View(inbox)
    other = store.folder("INBOX")
    other.expunge([uids[1], uids[3]])
    other.store([uids[4]], ["\\Flagged"], "add")
    new = store.deliver("new.Q.host", MSG)
    events = view.sync()
    assert events[:2] == [Expunged(4, uids[3]), Expunged(2, uids[1])]
    assert events[2] == Exists(4)
    assert [(e.seq, e.record.uid, e.record.flags) for e in events[3:]] == [
        (3, uids[4], {"\\Flagged"})]
    assert list(view.uids) == [uids[0], uids[2], uids[4], new]
    assert view.sync() == []


def test_own_changes_are_not_reported_again_but_later_ones_are(store):
    uids = fill(store, 2)
    inbox = store.folder("INBOX")
    view = View(inbox)
    changed = inbox.store([uids[0]], ["\\Seen"], "add")
    view.own(changed[uids[0]].modseq)
    assert view.sync() == []
    store.folder("INBOX").store([uids[0]], ["\\Flagged"], "add")
    (event,) = view.sync()
    assert isinstance(event, FlagsChanged) and event.seq == 1
    assert event.record.flags == {"\\Seen", "\\Flagged"}


def test_deleted_sees_flags_set_by_others_but_only_in_view(store):
    uids = fill(store, 3)
    view = View(store.folder("INBOX"))
    late = store.deliver("late.Q.host", MSG)
    store.folder("INBOX").store([uids[1], late], ["\\Deleted"], "add")
    assert view.deleted() == [uids[1]]


def test_a_rebuilt_folder_ends_the_view(store, tmp_path):
    fill(store, 1)
    view = View(store.folder("INBOX"))
    with store.index.write() as txn:
        state = txn.folder("INBOX")
        state.uidvalidity += 1
        txn.put_folder(state)
    with pytest.raises(UidValidityChanged):
        view.sync()


def test_a_snapshot_is_shared_until_the_folder_changes_and_never_changed(store):
    uids = fill(store, 3)
    inbox = store.folder("INBOX")
    one, two = View(inbox), View(inbox)
    assert one.uids is two.uids                  # one read for both SELECTs
    snapshot = list(one.uids)
    store.folder("INBOX").expunge([uids[0]])
    store.folder("INBOX").store([uids[1]], ["\\Seen"], "add")
    assert [type(e) for e in one.sync()] == [Expunged, FlagsChanged]
    assert list(two.uids) == snapshot            # the other view is untouched
    three = View(inbox)
    assert list(three.uids) == uids[1:]
    assert three.summary.unseen == 1 and three.summary.first_unseen == 2
