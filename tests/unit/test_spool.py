"""core.spool: queue ids, durable enqueue with group commit, the queue-runner side,
and large messages in files beside their records (core.spoolfiles)."""

import asyncio
import errno
import os
import re
import threading
import time

import pytest

from mailsuite.core import lmdbenv, spool, spoolfiles
from mailsuite.core.spool import Spool, SpoolError, SpoolFull, new_qid


@pytest.fixture
def queue(tmp_path):
    with Spool(tmp_path) as s:
        yield s


def test_qid_shape_and_order():
    qids = [new_qid() for _ in range(1000)]
    assert all(re.fullmatch(r"[0-9A-Z]{14}", q) for q in qids)
    assert len(set(qids)) == 1000
    # The first ten characters are the time: ids made later sort later.
    assert [q[:10] for q in qids] == sorted(q[:10] for q in qids)
    later = new_qid()
    assert later[:10] > qids[0][:10]


def test_enqueue_sync_round_trip(queue):
    qid = new_qid()
    queue.enqueue_sync(qid, "a@remote.test", ["b@example.test", "c@example.test"],
                       b"Subject: x\r\n\r\nbody\r\n", {"client": "127.0.0.1"})
    entry = queue.get(qid)
    assert entry.sender == "a@remote.test"
    assert [r.address for r in entry.recipients] == ["b@example.test", "c@example.test"]
    assert all(r.state == "pending" for r in entry.recipients)
    assert entry.size == 20 and entry.info == {"client": "127.0.0.1"}
    assert queue.load(qid) == b"Subject: x\r\n\r\nbody\r\n"
    assert queue.count() == 1


def test_duplicate_recipients_are_merged(queue):
    qid = new_qid()
    queue.enqueue_sync(qid, "", ["b@x.test", "b@x.test"], b"x")
    assert [r.address for r in queue.get(qid).recipients] == ["b@x.test"]


def test_bad_input_is_refused(queue):
    with pytest.raises(SpoolError):
        queue.enqueue_sync("short", "a@b", ["c@d"], b"x")
    with pytest.raises(SpoolError):
        queue.enqueue_sync(new_qid(), "a@b", [], b"x")
    qid = new_qid()
    queue.enqueue_sync(qid, "a@b", ["c@d"], b"x")
    with pytest.raises(SpoolError, match="already in use"):
        queue.enqueue_sync(qid, "a@b", ["c@d"], b"y")
    assert queue.load(qid) == b"x"


def test_concurrent_enqueue_shares_commits(queue, monkeypatch):
    commits = []
    real = lmdbenv.GroupCommit._commit

    def counting(self, batch):
        commits.append(len(batch))
        real(self, batch)

    monkeypatch.setattr(lmdbenv.GroupCommit, "_commit", counting)

    async def run():
        qids = [new_qid() for _ in range(200)]
        await asyncio.gather(*(queue.enqueue(q, "a@b", ["c@d"], b"m" * 100)
                               for q in qids))
        return qids

    qids = asyncio.run(run())
    assert queue.count() == 200
    assert all(queue.load(q) == b"m" * 100 for q in qids)
    assert sum(commits) == 200
    assert len(commits) < 200          # batched: fewer commits than messages


def test_enqueue_duplicate_fails_only_that_caller(queue):
    qid = new_qid()
    queue.enqueue_sync(qid, "a@b", ["c@d"], b"first")

    async def run():
        other = new_qid()
        results = await asyncio.gather(queue.enqueue(qid, "a@b", ["c@d"], b"again"),
                                       queue.enqueue(other, "a@b", ["c@d"], b"ok"),
                                       return_exceptions=True)
        return other, results

    other, results = asyncio.run(run())
    assert isinstance(results[0], SpoolError) and results[1] is None
    assert queue.load(qid) == b"first" and queue.load(other) == b"ok"


def test_enqueued_message_survives_reopen(tmp_path):
    qid = new_qid()

    async def run(s):
        await s.enqueue(qid, "a@b", ["c@d"], b"kept")

    with Spool(tmp_path) as s:
        asyncio.run(run(s))
    with Spool(tmp_path) as s:
        assert s.load(qid) == b"kept"


def test_due_and_update_done_removes(queue):
    qids = [new_qid() for _ in range(3)]
    for q in qids:
        queue.enqueue_sync(q, "a@b", ["x@d", "y@d"], b"m")
    assert [e.qid for e in queue.due()] == qids
    removed = queue.update({qids[0]: {"x@d": ("done", ""), "y@d": ("failed", "5.1.1")},
                            qids[1]: {"x@d": ("done", "")}})
    assert removed == [qids[0]]
    assert queue.get(qids[0]) is None
    with pytest.raises(KeyError):
        queue.load(qids[0])
    states = {r.address: r.state for r in queue.get(qids[1]).recipients}
    assert states == {"x@d": "done", "y@d": "pending"}
    # Still due: a pending recipient remains and nothing was deferred.
    assert [e.qid for e in queue.due()] == qids[1:]
    assert [r.address for r in queue.get(qids[1]).pending()] == ["y@d"]


def test_deferred_message_waits_with_growing_backoff(queue):
    qid = new_qid()
    queue.enqueue_sync(qid, "a@b", ["x@remote"], b"m")
    now = time.time()
    queue.update({qid: {"x@remote": ("deferred", "no route")}}, now=now)
    entry = queue.get(qid)
    assert entry.attempts == 1
    assert entry.next_try == pytest.approx(now + spool.BACKOFF_MIN)
    assert entry.recipients[0].error == "no route"
    assert queue.due(now=now + 1) == []
    assert queue.next_due() == pytest.approx(entry.next_try, abs=0.01)
    later = entry.next_try + 1
    assert [e.qid for e in queue.due(now=later)] == [qid]
    queue.update({qid: {"x@remote": ("deferred", "no route")}}, now=later)
    assert queue.get(qid).next_try == pytest.approx(later + 2 * spool.BACKOFF_MIN)


def test_backoff_is_capped():
    assert spool.backoff(1) == spool.BACKOFF_MIN
    assert spool.backoff(2) == 2 * spool.BACKOFF_MIN
    assert spool.backoff(50) == spool.BACKOFF_MAX


def test_final_recipient_is_not_reopened(queue):
    qid = new_qid()
    queue.enqueue_sync(qid, "a@b", ["x@d", "y@d"], b"m")
    queue.update({qid: {"x@d": ("done", "")}})
    queue.update({qid: {"x@d": ("deferred", "late"), "y@d": ("deferred", "later")}})
    states = {r.address: r.state for r in queue.get(qid).recipients}
    assert states == {"x@d": "done", "y@d": "deferred"}


def test_due_respects_limit_and_remove(queue):
    qids = [new_qid() for _ in range(5)]
    for q in qids:
        queue.enqueue_sync(q, "a@b", ["x@d"], b"m")
    assert [e.qid for e in queue.due(limit=2)] == qids[:2]
    queue.remove(qids[0])
    assert [e.qid for e in queue.entries()] == qids[1:]
    assert queue.count() == 4


def test_unparseable_record_is_quarantined_not_deleted(queue):
    good, bad = new_qid(), new_qid()
    queue.enqueue_sync(good, "a@b", ["x@d"], b"good")
    queue.enqueue_sync(bad, "a@b", ["x@d"], b"bad data kept")
    with queue._env.begin(write=True) as txn:
        txn.put(bad.encode(), b"{not json", db=queue._db["meta"])
    assert [e.qid for e in queue.due()] == [good]
    assert queue.quarantined() == [bad]
    assert queue.load(bad) == b"bad data kept"
    assert [e.qid for e in queue.due()] == [good]


def test_two_handles_in_one_process_share_the_environment(tmp_path):
    a = Spool(tmp_path)
    b = Spool(tmp_path)
    qid = new_qid()
    a.enqueue_sync(qid, "a@b", ["x@d"], b"m")
    a.close()
    assert b.load(qid) == b"m"        # closing one handle leaves the other working
    b.close()


# messages in files: a large one is written to <spool>/files/<qid> as it arrives

BIG = b"Subject: big\r\n\r\n" + b"x" * (spool.INLINE_MAX + 1000)


def files_dir(tmp_path):
    return tmp_path / "spool" / "files"


async def write_draft(queue, qid, data, piece=64 << 10):
    draft = queue.draft(qid)
    for start in range(0, len(data), piece):
        await draft.write(data[start:start + piece])
    return draft


def test_small_draft_stays_in_the_record(queue, tmp_path):
    qid = new_qid()

    async def run():
        draft = await write_draft(queue, qid, b"Subject: s\r\n\r\nsmall\r\n", piece=5)
        await queue.enqueue(qid, "a@b", ["c@d"], draft)

    asyncio.run(run())
    assert not files_dir(tmp_path).exists()
    assert queue.load(qid) == b"Subject: s\r\n\r\nsmall\r\n"
    assert queue.get(qid).size == 21


def test_large_draft_goes_to_a_file_as_it_arrives(queue, tmp_path):
    qid = new_qid()

    async def run():
        draft = await write_draft(queue, qid, BIG)
        on_disk = (files_dir(tmp_path) / qid).read_bytes()
        await queue.enqueue(qid, "a@b", ["c@d"], draft)
        return on_disk

    assert asyncio.run(run()) == BIG         # all written before the commit
    assert queue.get(qid).size == len(BIG)
    with queue._env.begin() as txn:
        assert txn.get(qid.encode(), db=queue._db["data"]) is None
    with queue.open(qid) as message:
        assert message.read(16) == BIG[:16]
    assert queue.load(qid) == BIG


@pytest.mark.parametrize("sync", [False, True], ids=["group-commit", "own-commit"])
def test_file_and_directory_are_durable_before_the_commit(queue, tmp_path,
                                                          monkeypatch, sync):
    events = []
    real_fsync, real_insert = os.fsync, spool._insert
    qid = new_qid()

    def fsync(fd):
        events.append("fsync " + os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(spool, "_insert",
                        lambda *args: (events.append("record"), real_insert(*args)))

    async def run():
        draft = await write_draft(queue, qid, BIG)
        events.clear()                # creating files/ fsyncs the spool directory
        if sync:
            queue.enqueue_sync(qid, "a@b", ["c@d"], draft)
        else:
            await queue.enqueue(qid, "a@b", ["c@d"], draft)

    asyncio.run(run())
    assert events == [f"fsync {qid}", "fsync files", "record"]
    assert queue.load(qid) == BIG


def test_refused_commit_removes_the_file(queue, tmp_path):
    qid = new_qid()
    queue.enqueue_sync(qid, "a@b", ["c@d"], b"first")

    async def run():
        draft = await write_draft(queue, qid, BIG)
        with pytest.raises(SpoolError, match="already in use"):
            await queue.enqueue(qid, "a@b", ["c@d"], draft)

    asyncio.run(run())
    assert os.listdir(files_dir(tmp_path)) == []
    assert queue.load(qid) == b"first"


def test_discarded_draft_leaves_no_file(queue, tmp_path):
    async def run():
        draft = await write_draft(queue, new_qid(), BIG)
        draft.discard()
        draft.discard()

    asyncio.run(run())
    assert os.listdir(files_dir(tmp_path)) == []


def test_discard_during_a_write_removes_the_file_once_written(queue, tmp_path,
                                                              monkeypatch):
    """A session cancelled while its write runs in a thread: the file is closed
    and removed by that thread, never under its feet."""
    started, release = threading.Event(), threading.Event()
    real_write_all = spoolfiles._write_all

    def slow(fd, data):
        started.set()
        release.wait(10)
        real_write_all(fd, data)

    monkeypatch.setattr(spoolfiles, "_write_all", slow)

    async def run():
        draft = queue.draft(new_qid())
        task = asyncio.create_task(draft.write(BIG))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        task.cancel()
        draft.discard()
        assert os.listdir(files_dir(tmp_path)) == [draft.qid]   # still in use
        release.set()
        return draft

    draft = asyncio.run(run())      # asyncio.run waits for the executor's thread
    assert os.listdir(files_dir(tmp_path)) == []
    assert draft._fd is None


def test_removed_message_loses_its_file_after_the_commit(queue, tmp_path):
    done, deleted = new_qid(), new_qid()

    async def run():
        for qid in (done, deleted):
            await queue.enqueue(qid, "a@b", ["c@d"], await write_draft(queue, qid, BIG))

    asyncio.run(run())
    assert sorted(os.listdir(files_dir(tmp_path))) == sorted([done, deleted])
    assert queue.update({done: {"c@d": ("done", "")}}) == [done]
    queue.remove(deleted)
    assert os.listdir(files_dir(tmp_path)) == []
    for qid in (done, deleted):
        with pytest.raises(KeyError):
            queue.open(qid)


def test_quarantined_message_keeps_its_file(queue, tmp_path):
    qid = new_qid()

    async def run():
        await queue.enqueue(qid, "a@b", ["c@d"], await write_draft(queue, qid, BIG))

    asyncio.run(run())
    with queue._env.begin(write=True) as txn:
        txn.put(qid.encode(), b"{not json", db=queue._db["meta"])
    assert queue.due() == [] and queue.quarantined() == [qid]
    assert queue.remove_orphans(now=time.time() + spool.ORPHAN_AGE + 1) == []
    assert queue.load(qid) == BIG


def test_orphaned_files_are_removed_once_old(queue, tmp_path):
    """A crash between writing a file and the commit leaves a file no record
    refers to: it goes once ORPHAN_AGE old; a file being written, and every file
    a record refers to, stay."""
    kept = new_qid()

    async def run():
        await queue.enqueue(kept, "a@b", ["c@d"], await write_draft(queue, kept, BIG))
        crashed = await write_draft(queue, new_qid(), BIG)    # never committed
        writing = await write_draft(queue, new_qid(), BIG)
        return crashed, writing

    crashed, writing = asyncio.run(run())
    directory = files_dir(tmp_path)
    assert queue.remove_orphans() == []                       # all young
    long_ago = time.time() - spool.ORPHAN_AGE - 60
    for qid in (kept, crashed.qid):
        os.utime(directory / qid, (long_ago, long_ago))
    assert queue.remove_orphans() == [crashed.qid]
    assert sorted(os.listdir(directory)) == sorted([kept, writing.qid])
    assert queue.load(kept) == BIG


def test_full_disk_is_told_apart():
    assert isinstance(spoolfiles.spool_error(OSError(errno.ENOSPC, "full")), SpoolFull)
    assert isinstance(spoolfiles.spool_error(OSError(errno.EDQUOT, "quota")), SpoolFull)
    other = spoolfiles.spool_error(OSError(errno.EACCES, "denied"))
    assert isinstance(other, SpoolError) and not isinstance(other, SpoolFull)


# mailctl queue: hold, release, retry

def test_held_message_is_never_due_until_released(queue):
    held, other = new_qid(), new_qid()
    for qid in (held, other):
        queue.enqueue_sync(qid, "a@b", ["x@remote", "y@d"], b"m")
    assert queue.retry([held], now=1000.0) == [held]
    assert queue.next_due() == 1000.0
    assert queue.hold(held).held
    assert [e.qid for e in queue.due(now=time.time() + 10 ** 6)] == [other]
    assert queue.next_due() == pytest.approx(queue.get(other).next_try, abs=0.01)
    # The runner may record an outcome it had before the hold: still held.
    queue.update({held: {"y@d": ("done", "")}})
    assert queue.get(held).held
    assert [e.qid for e in queue.due(now=time.time() + 10 ** 6)] == [other]
    assert queue.retry([held]) == []
    released = queue.hold(held, held=False)
    assert not released.held and released.next_try == 1000.0
    assert [e.qid for e in queue.due()] == [held, other]
    assert queue.hold(new_qid()) is None


def test_retry_makes_deferred_messages_due_now(queue):
    qids = [new_qid() for _ in range(2)]
    for qid in qids:
        queue.enqueue_sync(qid, "a@b", ["x@remote"], b"m")
    now = time.time()
    queue.update({qid: {"x@remote": ("deferred", "4.4.1 no answer")} for qid in qids},
                 now=now)
    assert queue.due(now=now + 1) == []
    assert queue.retry([qids[1], new_qid()], now=now + 1) == [qids[1]]
    assert [e.qid for e in queue.due(now=now + 1)] == [qids[1]]
    assert queue.get(qids[1]).attempts == 1
    assert queue.retry(qids, now=now + 2) == qids
    assert [e.qid for e in queue.due(now=now + 2)] == qids


def test_records_without_held_load_as_not_held(queue):
    qid = new_qid()
    queue.enqueue_sync(qid, "a@b", ["x@d"], b"m")
    old = (b'{"sender":"a@b","rcpts":[["x@d","pending",""]],"arrival":1.0,'
           b'"size":1,"attempts":0,"next_try":1.0,"info":{}}')
    with queue._env.begin(write=True) as txn:
        txn.put(qid.encode(), old, db=queue._db["meta"])
    assert queue.get(qid).held is False
    assert queue.hold(qid).held is True
