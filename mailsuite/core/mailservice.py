"""The mailbox service: how the daemons that serve mailboxes (imapd, pop3d) use the
store without ever making the event loop wait on a disk or a big folder.

    service = MailService(threads=8)
    service.warm_up()                         # start the scanning process early
    store = await service.open(root)          # a Store, shared by the user's sessions
    await service.release(store)
    result = await service.call(fn, *args)    # blocking store work, in a thread
    folder = await service.folder(store, name)  # indexed first if it never was
    view, stale = await service.view(store, name, readonly)   # a session's View
    events, stale = await service.catch_up(view)              # View.sync()
    service.scan_soon(folder, on_change)      # other tools' changes, in the background
    result = await service.in_process(fn, *args)  # Python work over many files
    service.close()

Threads serve the ordinary work: LMDB transactions, file reads, fsync. They release
the interpreter while they wait on the disk, so other sessions go on meanwhile.
Indexing a whole folder from its directory (a folder that was never indexed, or
another tool's changes to a big one) is CPU work in Python for every file, which in a
thread would hold the interpreter and slow every session of the process: it runs in a
separate process (one, started on first need), which writes the index through LMDB
like any other writer. A client's command waits for such a scan only when the folder
was never indexed; otherwise it is answered from the index as it stands, and the scan
runs in the background, its result reaching the sessions at their next NOOP or IDLE
poll (`on_change` lets the daemon wake them at once).

Failure policy: an exception in the work is raised to the awaiting caller (a
failure of the disk or the index as StoreError, which a protocol answers as a
temporary failure: core.mailfolder's changes are undone when they fail); a
background scan that fails is logged (one line) and tried again at the next look; if
the scanning process dies, a new one is started.
"""

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import signal

import lmdb

from .maildir import NoSuchFolder, Store
from .mailview import View

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The disk or the index failed the work (disk full, I/O error); nothing was
    changed. The message says why, briefly."""

# A directory file past this size holds some thousands of entries (ext4 grows it
# with the entries; ~50 bytes each): listing it is worth another process.
BIG_DIRECTORY = 256 * 1024


class MailService:
    def __init__(self, threads=8):
        self._threads = concurrent.futures.ThreadPoolExecutor(threads, "mailstore")
        self._process = None
        self._stores = {}           # root -> [Store, users]
        self._scans = {}            # (root, folder name) -> asyncio.Task

    def warm_up(self):
        """Start the scanning process now, in the background, so that the first
        folder that needs it does not wait for a new interpreter."""
        task = asyncio.get_running_loop().create_task(self._in_process(_ready))
        task.add_done_callback(_ignore_result)

    async def call(self, fn, *args):
        """Run `fn(*args)` in a worker thread and return its result. A failure of
        the disk or the index (a full disk, say) comes back as StoreError."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._threads, fn, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # The thread runs on whatever happens to the caller: let it finish
            # before the caller goes on to release (and close) what it uses.
            await asyncio.wait([future])
            raise
        except (OSError, lmdb.Error) as exc:
            raise StoreError(_reason(exc)) from exc

    async def open(self, root):
        """The Store at `root`, opened once per process and shared."""
        root = os.fspath(root)
        entry = self._stores.get(root)
        if entry is None:
            store = await self.call(Store, root)
            entry = self._stores.setdefault(root, [store, 0])
            if entry[0] is not store:
                store.close()
        entry[1] += 1
        return entry[0]

    async def release(self, store):
        entry = self._stores.get(os.fspath(store.root))
        if entry is None or entry[0] is not store:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del self._stores[os.fspath(store.root)]
            await self.call(store.close)

    async def folder(self, store, name):
        """The Folder `name` (NoSuchFolder if missing), indexed from its directory
        first if the index does not know it yet."""
        folder = await self.call(store.folder, name, False)
        if not await self.call(folder.indexed):
            await self.scan(folder, force=True)
        return folder

    async def view(self, store, name, readonly=False):
        """(View, stale) of the folder `name`, indexed first if the index does not
        know it yet; `stale` says other tools may have changed it since its last
        scan (scan_soon takes that in). One trip to a thread in the usual case."""
        view, stale, folder = await self.call(_open_view, store, name, readonly)
        if view is None:
            await self.scan(folder, force=True)
            view, stale, folder = await self.call(_open_view, store, name, readonly)
        return view, stale

    async def catch_up(self, view):
        """(events, stale): View.sync() and whether a scan is wanted, at once."""
        return await self.call(_catch_up, view)

    async def scan(self, folder, force=False):
        """Scan a folder now (in the scanning process if it is big); True if
        anything changed."""
        if await self.call(_big, folder.path):
            return await self._in_process(_scan, os.fspath(folder.owner.root),
                                          folder.name, force)
        return await self.call(folder.scan, force)

    def scan_soon(self, folder, on_change=None):
        """Start a background scan of the folder unless one is under way. The
        scan holds its Store open until it is done, whoever else lets it go."""
        key = (os.fspath(folder.owner.root), folder.name)
        if key in self._scans:
            return
        entry = self._stores.get(key[0])
        held = entry is not None and entry[0] is folder.owner
        if held:
            entry[1] += 1
        task = asyncio.get_running_loop().create_task(
            self._background(folder, on_change, held))
        self._scans[key] = task
        task.add_done_callback(lambda _: self._scans.pop(key, None))

    async def _background(self, folder, on_change, held):
        try:
            changed = await self.scan(folder)
        except Exception as exc:
            # A folder deleted or renamed meanwhile has nothing left to scan.
            if not _vanished(exc):
                log.error("%s: scan of %s failed: %s", folder.owner.root, folder.name,
                          exc)
            return
        finally:
            if held:
                await self.release(folder.owner)
        if changed and on_change is not None:
            on_change()

    async def in_process(self, fn, *args):
        """Run `fn(*args)` in the scanning process: Python work over many files
        (a search of their text, say) that would hold the interpreter in a
        thread. `fn` opens what it needs itself; it and `args` must pickle."""
        try:
            return await self._in_process(fn, *args)
        except (OSError, lmdb.Error) as exc:
            raise StoreError(_reason(exc)) from exc

    async def _in_process(self, fn, *args):
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            if self._process is None:
                # spawn, not fork: a forked child would inherit open LMDB handles.
                self._process = concurrent.futures.ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_scanning_process)
            try:
                return await loop.run_in_executor(self._process, fn, *args)
            except concurrent.futures.process.BrokenProcessPool:
                log.error("the scanning process died; starting another")
                self._process.shutdown(wait=False)
                self._process = None
                if attempt == 2:
                    raise
        return None

    def close(self):
        """Stop: the work running in threads finishes first (a thread must never
        find its LMDB environment closed under it), then the stores close."""
        for task in self._scans.values():
            task.cancel()
        self._threads.shutdown(wait=True, cancel_futures=True)
        for store, _ in self._stores.values():
            store.close()
        self._stores.clear()
        if self._process is not None:
            self._process.shutdown(wait=False, cancel_futures=True)


def _reason(exc):
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)[:200]


def _vanished(exc):
    return isinstance(exc, (NoSuchFolder, FileNotFoundError)) or isinstance(
        exc.__cause__, FileNotFoundError)


def _big(path):
    try:
        return sum(os.stat(path / sub).st_size for sub in ("new", "cur")) > BIG_DIRECTORY
    except OSError:
        return False


def _open_view(store, name, readonly):
    """(View, stale, folder), or (None, None, folder) if it was never indexed."""
    folder = store.folder(name, build=False)
    opening = folder.opening()
    if opening is None:
        return None, None, folder
    state, slots, stale = opening
    view = View(folder, readonly, (state, slots))
    view.take_recent()
    view.keywords = folder.keywords()
    return view, stale, folder


def _catch_up(view):
    return view.sync(), view.folder.needs_scan()


def _scanning_process():
    """The scanning process's set-up: Ctrl-C reaches a whole process group, but
    this process is stopped by the daemon that started it, so it ignores SIGINT;
    and it yields the processor to the daemons' sessions (a confined service may
    not be allowed to; then nothing changes)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(5)
    except OSError:
        pass


def _ready():
    """In the scanning process: nothing; its imports are done."""


def _ignore_result(task):
    if not task.cancelled() and task.exception() is not None:
        log.error("the scanning process did not start: %s", task.exception())


def _scan(root, name, force):
    """In the scanning process: scan one folder; True if anything changed."""
    with Store(root) as store:
        return store.folder(name, build=False).scan(force)
