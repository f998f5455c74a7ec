"""core.lmdbenv: one environment per path per process."""

import threading

from mailsuite.core import lmdbenv


class WatchedClose:
    """An environment whose close asks, from another thread, whether the same
    path could be opened meanwhile (lmdbenv.acquire would get its lock)."""

    def __init__(self, env):
        self.env = env
        self.open_was_possible = None

    def close(self):
        answer = []
        probe = threading.Thread(target=lambda: answer.append(_try_lock()))
        probe.start()
        probe.join(timeout=30)
        self.open_was_possible = answer[0]
        self.env.close()


def _try_lock():
    if lmdbenv._lock.acquire(blocking=False):
        lmdbenv._lock.release()
        return True
    return False


def test_a_path_is_opened_again_only_after_its_last_close(tmp_path):
    # LMDB's close frees every reader slot the process holds on the file: a
    # handle opened on the path during the close lost its own (MDB_BAD_RSLOT on
    # its next read; imaptest's quick logout and login again met it).
    shared = lmdbenv.acquire(tmp_path / "env", ["t"])
    watched = shared.env = WatchedClose(shared.env)
    lmdbenv.release(shared)
    assert watched.open_was_possible is False
    again = lmdbenv.acquire(tmp_path / "env", ["t"])
    with again.env.begin() as txn:
        assert txn.get(b"missing", db=again.db["t"]) is None
    lmdbenv.release(again)
