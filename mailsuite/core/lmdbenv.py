"""One LMDB environment per path per process, shared and reference-counted; and
group commit for environments written by many concurrent callers.

LMDB forbids opening the same environment twice in one process: the second handle's
close would drop the POSIX locks the first one relies on. So the spool and the
mailbox indexes open their environments here, and the environment is closed only
when its last user releases it.

Failure policy: an environment that cannot be opened raises lmdb.Error to the
caller; nothing is created beyond the directory. A group commit that fails fails
every caller in its batch, and none of their work is kept.
"""

import os
import queue
import threading

import lmdb

_lock = threading.Lock()
_shared = {}          # real path -> Shared


class Shared:
    """An open environment, its named tables (`db[name]`) and per-env helpers."""

    def __init__(self, path, env, db):
        self.path = path
        self.env = env
        self.db = db
        self.users = 0
        self.helpers = {}     # e.g. the spool's group-commit writer


def acquire(path, tables, **options):
    """The Shared environment at `path` with `tables` opened; create it if missing."""
    path = os.path.realpath(os.fspath(path))
    with _lock:
        shared = _shared.get(path)
        if shared is None:
            shared = _open(path, tables, options)
            _shared[path] = shared
        shared.users += 1
        return shared


def _open(path, tables, options):
    os.makedirs(path, mode=0o700, exist_ok=True)
    options.setdefault("max_dbs", len(tables) + 2)
    env = lmdb.open(path, subdir=True, **options)
    try:
        db = {name: env.open_db(name.encode()) for name in tables}
    except BaseException:
        env.close()
        raise
    return Shared(path, env, db)


def release(shared):
    """Drop one use; the last one stops the helpers and closes the environment."""
    with _lock:
        shared.users -= 1
        if shared.users > 0:
            return
        _shared.pop(shared.path, None)
        # Under the lock: LMDB's close frees every reader slot this process holds
        # in the file's lock table, a newer handle's on the same path included
        # (its next read fails with MDB_BAD_RSLOT), so the path is opened again
        # only once the close is done.
        for helper in shared.helpers.values():
            helper.stop()
        shared.env.close()


class Handle:
    """What a user of a Shared environment (the accounts, the spool, an index)
    has in common: `close()` gives its use back, and it is a context manager."""

    _shared = None

    def close(self):
        if self._shared is not None:
            release(self._shared)
            self._shared = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class GroupCommit:
    """A writer thread: the work submitted while a commit is under way goes into
    the next one, so N concurrent callers cost one fsync instead of N.

    `work(txn)` runs inside the batch's write transaction; if it raises one of the
    `refused` exceptions only its own caller fails. `done(error)` is called from
    the writer thread once the commit is durable (error None) or has failed.
    """

    def __init__(self, env, refused=(), max_batch=512, name="group-commit"):
        self.env = env
        self.refused = tuple(refused)
        self.max_batch = max_batch
        self.queue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def submit(self, work, done):
        self.queue.put((work, done))

    def stop(self):
        self.queue.put(None)
        self.thread.join(timeout=30)

    def _run(self):
        while True:
            item = self.queue.get()
            if item is None:
                return
            batch = [item]
            stopping = self._drain(batch)
            self._commit(batch)
            if stopping:
                return

    def _drain(self, batch):
        """Add whatever else is waiting; True if a stop request was among it."""
        while len(batch) < self.max_batch:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            batch.append(item)
        return False

    def _commit(self, batch):
        errors = [None] * len(batch)
        try:
            with self.env.begin(write=True) as txn:
                for i, (work, _) in enumerate(batch):
                    errors[i] = self._run_one(txn, work)
        except Exception as exc:
            errors = [exc] * len(batch)
        for (_, done), error in zip(batch, errors):
            done(error)

    def _run_one(self, txn, work):
        try:
            work(txn)
        except self.refused as exc:
            return exc
        return None
