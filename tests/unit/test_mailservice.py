"""core.mailservice: store work off the event loop; a big folder's indexing in
another process never holds up other users."""

import asyncio
import os
import threading

import pytest

from mailsuite.core import mailservice
from mailsuite.core.maildir import Store
from mailsuite.core.mailservice import MailService, StoreError
from mailsuite.core.mailview import View

MSG = b"From: a@remote.test\r\nSubject: hi\r\n\r\nbody\r\n"
BIG = 100_000


def make_big_maildir(root, count):
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    new = os.fspath(root / "new")
    for i in range(count):
        os.close(os.open(f"{new}/{1600000000 + i}.M{i}P1.old,S=2,W=2",
                         os.O_CREAT | os.O_WRONLY, 0o600))


class WriterLock:
    """Holds an index's write transaction (LMDB's one writer) in a thread until
    released: whoever wants to write that index waits meanwhile."""

    def __init__(self, store):
        self.taken = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(store,))
        self.thread.start()
        self.taken.wait(10)

    def _hold(self, store):
        with store.index.write():
            self.taken.set()
            self.release.wait(120)

    def open(self):
        self.release.set()
        self.thread.join()


def test_a_big_rebuild_never_holds_up_another_users_commands(tmp_path):
    make_big_maildir(tmp_path / "big", BIG)
    with Store(tmp_path / "small") as small:
        small.deliver_many([(f"{i}.Q.host", MSG) for i in range(3)])

    async def scenario():
        service = MailService()
        try:
            big = await service.open(tmp_path / "big")
            lock = WriterLock(big)
            rebuild = asyncio.create_task(service.folder(big, "INBOX"))
            # Another user logs in, selects, reads and flags while the big
            # folder's index cannot be written, let alone finished.
            store = await service.open(tmp_path / "small")
            folder = await service.folder(store, "INBOX")
            view = await service.call(View, folder)
            record = await service.call(folder.record, view.uids[0])
            assert await service.call(folder.read, record) == MSG
            await service.call(folder.store, list(view.uids), ["\\Seen"], "add")
            assert (await service.call(View, folder)).summary.unseen == 0
            assert not rebuild.done()
            lock.open()
            folder = await asyncio.wait_for(rebuild, 300)
            view = await service.call(View, folder)
            assert len(view) == BIG
            assert view.uids[0] == 1 and view.uids[-1] == BIG
        finally:
            service.close()

    asyncio.run(scenario())


def test_big_folders_are_scanned_in_another_process(tmp_path, monkeypatch):
    monkeypatch.setattr(mailservice, "BIG_DIRECTORY", 0)
    make_big_maildir(tmp_path / "user", 10)
    pids = []

    async def scenario():
        service = MailService()
        try:
            store = await service.open(tmp_path / "user")
            folder = await service.folder(store, "INBOX")
            pids.append(await service._in_process(os.getpid))
            return await service.call(folder.uids)
        finally:
            service.close()

    assert asyncio.run(scenario()) == list(range(1, 11))
    assert pids and pids[0] != os.getpid()


def test_a_failing_disk_comes_back_as_store_error(tmp_path):
    async def scenario():
        service = MailService()
        try:
            def full():
                raise OSError(28, "No space left on device")
            with pytest.raises(StoreError, match="No space left"):
                await service.call(full)
        finally:
            service.close()

    asyncio.run(scenario())


def test_stores_are_shared_and_closed_with_their_last_user(tmp_path):
    async def scenario():
        service = MailService()
        try:
            one = await service.open(tmp_path / "user")
            two = await service.open(tmp_path / "user")
            assert one is two
            await service.release(one)
            assert one.index._shared is not None
            await service.release(two)
            assert one.index._shared is None
        finally:
            service.close()

    asyncio.run(scenario())


def test_a_store_stays_open_while_a_background_scan_uses_it(tmp_path, monkeypatch):
    make_big_maildir(tmp_path / "user", 3)
    started, finish = threading.Event(), threading.Event()

    async def scenario():
        service = MailService()
        try:
            store = await service.open(tmp_path / "user")
            folder = await service.folder(store, "INBOX")
            real = folder.scan

            def slow_scan(force=False):
                started.set()
                finish.wait(30)
                return real(force)
            monkeypatch.setattr(folder, "scan", slow_scan)
            service.scan_soon(folder)
            await asyncio.get_running_loop().run_in_executor(None, started.wait, 30)
            await service.release(store)            # the session logs out
            assert store.index._shared is not None   # the scan still holds it
            finish.set()
            await asyncio.wait_for(asyncio.gather(*service._scans.values()), 30)
            assert store.index._shared is None
        finally:
            finish.set()
            service.close()

    asyncio.run(scenario())


def test_a_cancelled_caller_waits_for_its_thread(tmp_path):
    done = threading.Event()

    async def scenario():
        service = MailService()
        try:
            def work():
                done.wait(0.2)
                done.set()
            task = asyncio.create_task(service.call(work))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The caller only learns of its cancellation once the thread is done.
            assert done.is_set()
        finally:
            service.close()

    asyncio.run(scenario())
