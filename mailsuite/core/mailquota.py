"""How much a user's mail takes, and the account's limit on it (RFC 9208 STORAGE).

The index keeps, per folder, the total size of its message files: a counter in
its `meta` table (`size:` and the folder id), moved in the same transaction as
every message added or removed, so that the usage of a whole mailbox is one read
per folder, never a look at each message. A folder whose counter is missing (an
index written before counters existed) is counted once from its records, by the
first write transaction that asks. Files of other tools whose name does not say
their size count from the first look at them (core.mailfolder fills sizes in).

    class OverQuota(Exception)
    check(usage, adding, limit)      # raises OverQuota; a limit of 0 is none
    class SizeTable                  # core.mailindex's counters, per transaction

Failure policy: a counter never goes below zero; a counter that is wrong (a crash
cannot make one: it is written in the transaction of the change) is mended by
deleting it, which makes the next write transaction count the folder again.
"""

import struct

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
PREFIX = b"size:"


class OverQuota(Exception):
    """The mailbox would exceed its storage limit; the message says by how much."""


def check(usage, adding, limit):
    """Refuse `adding` bytes to a mailbox using `usage` under `limit` (0: none).
    RFC 9208 5.1: the STORAGE resource counts what the mailbox takes."""
    if limit and usage + adding > limit:
        raise OverQuota(f"mailbox full: {usage + adding} bytes would exceed "
                        f"the quota of {limit}")


def over(usage, limit):
    """True when a mailbox is already at or past its limit (0: none)."""
    return bool(limit) and usage >= limit


class SizeTable:
    """The folders' size counters within one LMDB transaction: changes gather in
    memory and are written once, when the transaction commits (flush)."""

    def __init__(self, txn, db):
        self._txn = txn
        self._db = db
        self._delta = {}            # folder id -> bytes added (or removed) so far

    def _key(self, folder_id):
        return PREFIX + _U32.pack(folder_id)

    def start(self, folder_id, size=0):
        """Set a folder's counter (a new folder, or one just counted)."""
        self._txn.put(self._key(folder_id), _U64.pack(size), db=self._db)
        self._delta.pop(folder_id, None)

    def add(self, folder_id, size):
        """Count `size` bytes more (less, if negative) in the folder."""
        if size:
            self._delta[folder_id] = self._delta.get(folder_id, 0) + size

    def get(self, folder_id):
        """The folder's size in bytes, or None if it has no counter yet."""
        raw = self._txn.get(self._key(folder_id), db=self._db)
        if raw is None:
            return None
        return max(0, _U64.unpack(raw)[0] + self._delta.get(folder_id, 0))

    def flush(self):
        """Write the counters that changed; a folder without a counter is left
        to be counted whole when next asked."""
        for folder_id in list(self._delta):
            size = self.get(folder_id)
            if size is not None:
                self._txn.put(self._key(folder_id), _U64.pack(size), db=self._db)
        self._delta.clear()
