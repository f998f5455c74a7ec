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
    assert events[2].count == 4
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


def test_files_another_tool_puts_into_an_empty_folder_reach_an_open_view(store):
    inbox = store.folder("INBOX")
    view = View(inbox)
    (store.root / "new" / "1700000000.other-tool.host").write_bytes(MSG)
    assert inbox.scan(force=True)
    (event,) = view.sync()
    assert event == Exists(1, recent=1)


def test_expunged_since_keeps_every_expunge_up_to_the_view(store):
    uids = fill(store, 5)
    inbox = store.folder("INBOX")
    before = inbox.state().highestmodseq
    inbox.expunge([uids[1]])
    inbox.expunge([uids[3]])
    view = View(inbox)
    inbox.expunge([uids[0]])            # after the view's look: not reported yet
    assert view.expunged_since(before) == [uids[1], uids[3]]
    assert view.expunged_since(view.modseq) == []
    view.sync()
    assert view.expunged_since(before) == [uids[0], uids[1], uids[3]]


def test_changed_since_names_the_messages_changed_after_a_modseq(store):
    uids = fill(store, 4)
    inbox = store.folder("INBOX")
    before = inbox.state().highestmodseq
    change = inbox.change_flags([uids[2]], ["\\Seen"], "add")
    view = View(inbox)
    later = inbox.change_flags([uids[0]], ["\\Flagged"], "add")
    assert view.changed_since(before) == [uids[0], uids[2]]
    assert view.changed_since(before, upto=view.modseq) == [uids[2]]
    assert view.changed_since(change.modseq) == [uids[0]]
    assert later.modseq > change.modseq > before


def test_changed_since_before_a_first_look_is_every_message(store, tmp_path):
    root = tmp_path / "other"
    Store(root).close()
    for n in range(3):
        (root / "new" / f"17000000{n:02d}.other-tool.host").write_bytes(MSG)
    with Store(root) as fresh:
        folder = fresh.folder("INBOX")          # indexed by its first look
        view = View(folder)
        assert len(view) == 3 and view.modseq == 2
        assert view.changed_since(1) == list(view.uids)
        assert view.changed_since(2) == []


def test_a_conditional_change_leaves_messages_changed_since_alone(store):
    uids = fill(store, 3)
    inbox = store.folder("INBOX")
    known = inbox.state().highestmodseq
    inbox.store([uids[1]], ["\\Answered"], "add")
    change = inbox.change_flags(uids, ["\\Deleted"], "add", unchangedsince=known)
    assert change.modified == [uids[1]]
    assert sorted(change.records) == [uids[0], uids[2]]
    assert "\\Deleted" not in inbox.record(uids[1]).flags
    assert all(r.modseq == change.modseq for r in change.records.values())
    again = inbox.change_flags([uids[0]], ["\\Deleted"], "add")
    assert again.modseq == 0 and again.modified == []


def test_recent_goes_to_one_read_write_session_and_read_only_ones_only_look(store):
    fill(store, 3)
    first = View(store.folder("INBOX"))
    first.take_recent()
    assert first.summary.recent == 3 and first.is_recent(1)
    second = View(store.folder("INBOX"))
    second.take_recent()
    assert second.summary.recent == 0 and not second.is_recent(1)
    new = store.deliver("new.Q.host", MSG)
    assert second.sync() == [Exists(4, recent=1)]
    assert first.sync() == [Exists(4, recent=3)]
    looker = View(store.folder("INBOX"), readonly=True)
    looker.take_recent()
    assert looker.summary.recent == 0
    newer = store.deliver("newer.Q.host", MSG)
    assert looker.sync() == [Exists(5, recent=1)]
    assert first.sync() == [Exists(5, recent=4)]
    assert looker.is_recent(newer) and first.is_recent(newer)
    assert second.is_recent(new) and not first.is_recent(new)
    store.folder("INBOX").expunge([1])
    first.sync()
    assert first.recent_count() == 3
