"""Per-folder columns of the mailbox index: the keys core.msgkeys takes from each
message's header (sent date, subject, base subject, address texts and sort keys,
message-ids), so that SEARCH, SORT and THREAD over 100,000 messages walk a few
small values per message in key order instead of parsing headers or decoding
100,000 cached documents.

    columns  folder id (u32) + code (1 byte) + uid (u32) -> value (core.msgkeys)
    meta     b"columns-upto:" + folder id -> u32: every message of the folder
             below this uid has its columns (absent: 1)

One column of a folder is one run of keys, read by a cursor walk. A message has a
DATE value once its columns are written; the other codes only when the message has
something to say (no Cc field, no Cc values). Values are written at delivery, from
the header the delivery parses anyway (core.maildir), and for the other messages
(other tools' files, mail indexed before columns existed) on first need:

    pending(folder) -> None | [uid]     # None: all there (one read)
    fill(folder, uids) -> count         # read their headers, store their keys:
                                        # in a thread, or for many the scanning
                                        # process (fill_at(root, name))
    values(folder, code) -> (uids, [value])      # ascending uids
    find(folder, code, needle) -> array of uids  # values holding `needle`

Failure policy: a message whose file is gone is left without columns (the next
scan expunges it); a value is never trusted over the message: the index is a cache
and every column can be rebuilt from the files.
"""

import array
import bisect
import itertools
import operator
import os
import struct
import sys

from . import msginfo, msgkeys
from .mailfolder import NoSuchFolder
from .mailrecord import UNKNOWN

_U32 = struct.Struct(">I")
_UPTO = b"columns-upto:"
HEADER_LIMIT = 1 << 20      # bytes of a header section read; more is not a header
_CHUNK = 4096


class ColumnTable:
    """The columns table within one LMDB transaction (mailindex.Txn.columns)."""

    def __init__(self, txn, db, meta):
        self._txn = txn
        self._db = db
        self._meta = meta

    def put(self, folder_id, uid, keys):
        prefix, tail = _U32.pack(folder_id), _U32.pack(uid)
        for code, value in keys.items():
            if code != msgkeys.DATE:
                # NUL separates the values of a column when find() searches it.
                value = value.replace(b"\0", b"")
            self._txn.put(prefix + code + tail, value, db=self._db)

    def remove(self, folder_id, uid):
        prefix, tail = _U32.pack(folder_id), _U32.pack(uid)
        for code in msgkeys.CODES:
            self._txn.delete(prefix + code + tail, db=self._db)

    def copy(self, folder_id, uid, to_folder, to_uid):
        """A copy of a message has the original's values (core.mailcopy)."""
        source = (_U32.pack(folder_id), _U32.pack(uid))
        target = (_U32.pack(to_folder), _U32.pack(to_uid))
        for code in msgkeys.CODES:
            value = self._txn.get(source[0] + code + source[1], db=self._db)
            if value is not None:
                self._txn.put(target[0] + code + target[1], value, db=self._db)

    def upto(self, folder_id):
        raw = self._txn.get(_UPTO + _U32.pack(folder_id), db=self._meta)
        return 1 if raw is None else _U32.unpack(raw)[0]

    def forget(self, folder_id):
        """The folder is dropped (its values go with the other tables' rows)."""
        self._txn.delete(_UPTO + _U32.pack(folder_id), db=self._meta)

    def set_upto(self, folder_id, uid):
        self._txn.put(_UPTO + _U32.pack(folder_id), _U32.pack(uid), db=self._meta)

    def delivered(self, folder_id, before, after):
        """Messages [before, after) were just delivered with their columns: if
        every message before them has its columns, so does every one before
        `after`."""
        if self.upto(folder_id) == before:
            self.set_upto(folder_id, after)

    def walk(self, folder_id, code, first=0):
        """(uids array, [value]) of one column, ascending, from uid `first`."""
        prefix = _U32.pack(folder_id) + code
        cursor = self._txn.cursor(db=self._db)
        keys, values = [], []
        if cursor.set_range(prefix + _U32.pack(first)):
            for key, value in cursor:
                if key[:5] != prefix:
                    break
                keys.append(key[5:])
                values.append(value)
        uids = array.array("I")
        uids.frombytes(b"".join(keys))
        if sys.byteorder == "little":
            uids.byteswap()
        return uids, values

    def missing(self, folder_id, uids, first):
        """The uids from `first` on (of `uids`, ascending) without columns."""
        have, _ = self.walk(folder_id, msgkeys.DATE, first)
        start = bisect.bisect_left(uids, first)
        if uids[start:] == have:
            return []
        have = set(have)
        return [uid for uid in uids[start:] if uid not in have]


def pending(folder):
    """None if every message of the folder has its columns, else the uids of
    those that have not (perhaps none: fill() then notes that they all have)."""
    with folder.index.read() as txn:
        state = _state(folder, txn)
        first = txn.columns.upto(state.id)
        if first >= state.uidnext:
            return None
        uids = txn.slots(state.id).uids
        return txn.columns.missing(state.id, uids, first)


def fill(folder, uids):
    """Read the headers of these messages and store their columns; returns how
    many were stored. Notes the folder as complete when nothing is missing."""
    with folder.index.read() as txn:
        records = list(txn.messages(_state(folder, txn).id, uids))
    found = {}
    for record in records:
        head = _header(folder, record)
        if head is not None:
            found[record.uid] = msgkeys.keys(*head)
    with folder.index.write() as txn:
        state = _state(folder, txn)
        present = txn.slots(state.id).uids
        indexed = set(present)
        for uid, keys in found.items():
            if uid in indexed:
                txn.columns.put(state.id, uid, keys)
        first = txn.columns.upto(state.id)
        if not txn.columns.missing(state.id, present, first):
            txn.columns.set_upto(state.id, state.uidnext)
    return len(found)


def fill_at(root, name):
    """fill() of a whole folder, for the scanning process (core.mailservice)."""
    from .maildir import Store
    with Store(root) as store:
        folder = store.folder(name, build=False)
        uids = pending(folder)
        return 0 if uids is None else fill(folder, uids)


def _state(folder, txn):
    state = txn.folder(folder.name)
    if state is None:
        raise NoSuchFolder(f"folder {folder.name!r} is not indexed")
    return state


def _header(folder, record):
    """(header section in wire form, internal date) of a message; None if its
    file is gone."""
    try:
        f = open(os.path.join(folder.path, record.dir, record.filename), "rb")
    except FileNotFoundError:
        return None
    with f:
        date = record.internaldate
        if date == UNKNOWN:
            date = os.fstat(f.fileno()).st_mtime
        return msginfo.wire(read_header(f)), date


def read_header(f):
    """The header section of the message in an open file, blank line included,
    read piece by piece (at most HEADER_LIMIT bytes: beyond, it is no header)."""
    data = b""
    while len(data) < HEADER_LIMIT:
        piece = f.read(_CHUNK if not data else len(data))
        data += piece
        end = _header_end(data)
        if end is not None:
            return data[:end]
        if not piece:
            break
    return data


def _header_end(data):
    if data[:1] == b"\n" or data[:2] == b"\r\n":
        return 0
    ends = [at + len(mark) for mark in (b"\n\n", b"\n\r\n")
            if (at := data.find(mark)) >= 0]
    return min(ends) if ends else None


def values(folder, code):
    """(uids, [value]) of one column of the folder, ascending uids."""
    with folder.index.read() as txn:
        return txn.columns.walk(_state(folder, txn).id, code)


def find(folder, code, needle):
    """The uids (ascending array) whose value in this column holds `needle`
    (bytes); with an empty needle, those that have a value at all."""
    uids, found = values(folder, code)
    if not needle:
        return uids
    if b"\0" in needle:
        return array.array("I")
    blob = b"\0".join(found)
    # Where each value ends in the blob, the NUL separators counted.
    ends = list(map(operator.add, itertools.accumulate(map(len, found)),
                    range(len(found))))
    hits = array.array("I")
    at = blob.find(needle)
    while at >= 0:
        i = bisect.bisect_right(ends, at)
        hits.append(uids[i])
        at = blob.find(needle, ends[i] + 1)
    return hits
