"""A folder's slots in the mailbox index: its UIDs in ascending order and one byte
of flag bits per message (core.mailrecord.BITS), in LMDB values of up to SLOT_SIZE
messages keyed by folder id and the first UID they hold.

SELECT reads a whole folder's slots into one array and one bytes object in C;
every change to a message updates its slot within the same transaction. Slots a
transaction changes are decoded once and written once, when it commits: a STORE on
1,000 messages rewrites each slot once, not 1,000 times.
"""

import array
import bisect
import struct
from dataclasses import dataclass

from .mailrecord import SEEN

SLOT_SIZE = 1024
_U32 = struct.Struct(">I")


@dataclass(frozen=True)
class Slots:
    """A folder's UIDs in ascending order and one byte of flag bits for each, with
    what SELECT reports of them: how many lack \\Seen, and the index of the
    first that does (-1 if none)."""
    uids: array.array
    bits: bytes
    unseen: int = 0
    first_unseen: int = -1

    @classmethod
    def of(cls, uids, bits):
        marks = bits.translate(_UNSEEN)
        return cls(uids, bits, marks.count(1), marks.find(1))


_UNSEEN = bytes(0 if n & SEEN else 1 for n in range(256))


def _split(raw):
    count = len(raw) // 5
    uids = array.array("I")
    uids.frombytes(raw[:4 * count])
    return uids, bytearray(raw[4 * count:])


class SlotTable:
    """The slots table within one LMDB transaction."""

    def __init__(self, txn, db):
        self._txn = txn
        self._db = db
        self._dirty = {}            # slot key -> (uids array, flags bytearray)

    def read(self, folder_id):
        """The folder's UIDs and flag bits (Slots), read in C-sized pieces."""
        self.flush()
        prefix = _U32.pack(folder_id)
        uids = array.array("I")
        bits = []
        cursor = self._txn.cursor(db=self._db)
        if cursor.set_range(prefix):
            for key, raw in cursor:
                if key[:4] != prefix:
                    break
                count = len(raw) // 5
                uids.frombytes(raw[:4 * count])
                bits.append(raw[4 * count:])
        return Slots.of(uids, b"".join(bits))

    def _find(self, folder_id, uid):
        """The key and value of the slot that holds `uid` (or would hold it: the
        last one whose first uid is not above it), or (None, None)."""
        prefix = _U32.pack(folder_id)
        cursor = self._txn.cursor(db=self._db)
        if cursor.set_range(prefix + _U32.pack(uid + 1) if uid < 0xFFFFFFFF
                            else _U32.pack(folder_id + 1)):
            found = cursor.prev()
        else:
            found = cursor.last()
        if not found or cursor.key()[:4] != prefix:
            return None, None
        return cursor.key(), cursor.value()

    def _decoded(self, key, raw):
        """(uids, flags) of a slot: the copy changed in this transaction if any."""
        found = self._dirty.get(key)
        return found if found is not None else _split(raw)

    def _put(self, key, uids, bits):
        if key not in self._dirty and uids:
            # A new slot is written at once, so that lookups by cursor find it.
            self._txn.put(key, uids.tobytes() + bytes(bits), db=self._db)
        self._dirty[key] = (uids, bits)

    def flush(self):
        for key, (uids, bits) in self._dirty.items():
            if uids:
                self._txn.put(key, uids.tobytes() + bytes(bits), db=self._db)
            else:
                self._txn.delete(key, db=self._db)
        self._dirty.clear()

    def append(self, folder_id, uid, bits):
        key, raw = self._find(folder_id, uid)
        if key is not None:
            uids, flags = self._decoded(key, raw)
        if key is None or len(uids) >= SLOT_SIZE:
            key, uids, flags = _U32.pack(folder_id) + _U32.pack(uid), array.array("I"), \
                bytearray()
        at = bisect.bisect_left(uids, uid)
        if at < len(uids) and uids[at] == uid:
            flags[at] = bits
        else:
            uids.insert(at, uid)
            flags.insert(at, bits)
        self._put(key, uids, flags)

    def extend(self, folder_id, pairs):
        """Append (uid, bits) pairs, ascending and above every uid of the folder."""
        if not pairs:
            return
        key, raw = self._find(folder_id, pairs[0][0])
        if key is not None:
            uids, flags = self._decoded(key, raw)
        if key is None or len(uids) >= SLOT_SIZE:
            key, uids, flags = None, array.array("I"), bytearray()
        for uid, bits in pairs:
            if len(uids) >= SLOT_SIZE:
                self._put(key, uids, flags)
                key, uids, flags = None, array.array("I"), bytearray()
            if key is None:
                key = _U32.pack(folder_id) + _U32.pack(uid)
            uids.append(uid)
            flags.append(bits)
        self._put(key, uids, flags)

    def set(self, folder_id, uid, bits):
        key, raw = self._find(folder_id, uid)
        if key is None:
            return
        uids, flags = self._decoded(key, raw)
        at = bisect.bisect_left(uids, uid)
        if at < len(uids) and uids[at] == uid:
            flags[at] = bits
            self._put(key, uids, flags)

    def remove(self, folder_id, uid):
        key, raw = self._find(folder_id, uid)
        if key is None:
            return
        uids, flags = self._decoded(key, raw)
        at = bisect.bisect_left(uids, uid)
        if at < len(uids) and uids[at] == uid:
            del uids[at]
            del flags[at]
            self._put(key, uids, flags)
