"""One LMDB environment per path per process, shared and reference-counted.

LMDB forbids opening the same environment twice in one process: the second handle's
close would drop the POSIX locks the first one relies on. So the spool and the
mailbox indexes open their environments here, and the environment is closed only
when its last user releases it. Failure policy: an environment that cannot be
opened raises lmdb.Error to the caller; nothing is created beyond the directory.
"""

import os
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
    for helper in shared.helpers.values():
        helper.stop()
    shared.env.close()
