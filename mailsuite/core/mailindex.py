"""The per-user mailbox index: one LMDB environment at `<root>/mailsuite.index/`.

It holds what the Maildir cannot: UIDs, UIDVALIDITY, MODSEQ, keywords, and where each
message's file is, so that a folder opens without a directory scan. Tables:

    folders   name (UTF-8)              -> JSON {id, uidvalidity, uidnext,
                                             highestmodseq, scan}
    messages  folder id + uid (2x u32)  -> JSON {base, dir, suffix, size, date,
                                             modseq, flags}
    names     folder id + base name     -> uid (u32) + dir (b"n"|b"c") + suffix
    changes   folder id + modseq (u64) + uid -> b"" (changed) | b"x" (expunged)
    meta      counters: the last folder id, the last UIDVALIDITY given

Keys are big-endian so a cursor walks a folder in UID (or MODSEQ) order. `names`
answers "is this file already indexed?" and lets a rescan compare a directory
listing without decoding records; `changes` lets an open folder catch up with what
others did since its last look in time proportional to the change.

Failure policy: every commit is fsync'ed, because a UID that was handed out must
never be handed out again. The index is otherwise a cache of the Maildir: deleting
the directory rebuilds it at the next open (with new UIDVALIDITYs).
"""

import json
import os
import struct
import time
from dataclasses import dataclass, replace
from pathlib import Path

from . import lmdbenv

INDEX_DIR = "mailsuite.index"
MAP_SIZE = 4 << 30        # address space only; ~20 million messages
TABLES = ("folders", "messages", "names", "changes", "meta")

# Maildir info letters (cr.yp.to/proto/maildir.html), in the order they must appear.
LETTERS = {"\\Draft": "D", "\\Flagged": "F", "$Forwarded": "P", "\\Answered": "R",
           "\\Seen": "S", "\\Deleted": "T"}
_BY_LETTER = {letter: flag for flag, letter in LETTERS.items()}
_CANONICAL = {flag.lower(): flag for flag in LETTERS}

# Records are decoded by the thousand when a folder opens: skip json.loads's
# encoding detection, they are always UTF-8.
_decode = json.JSONDecoder().decode
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def canonical_flags(flags):
    """System flags (and $Forwarded) in their canonical case; keywords as given."""
    return frozenset(_CANONICAL.get(f.lower(), f) for f in flags)


def suffix_for(flags, old_suffix=""):
    """The `:2,<letters>` suffix for `flags`, keeping letters we do not own
    (other programs' keyword letters a-z) from the old suffix."""
    old = old_suffix[3:] if old_suffix.startswith(":2,") else ""
    kept = [c for c in old if c not in _BY_LETTER]
    ours = [LETTERS[f] for f in flags if f in LETTERS]
    return ":2," + "".join(sorted(set(ours + kept)))


def flags_from_suffix(suffix):
    """The mirrored flags that a file name's suffix says are set."""
    if not suffix.startswith(":2,"):
        return frozenset()
    return frozenset(_BY_LETTER[c] for c in suffix[3:] if c in _BY_LETTER)


def mirrored(flags):
    return frozenset(f for f in flags if f in LETTERS)


@dataclass(frozen=True)
class MessageInfo:
    uid: int
    flags: frozenset
    size: int
    internaldate: float
    modseq: int


@dataclass(frozen=True)
class Record:
    """One message as the index knows it: its file is `<dir>/<base><suffix>`."""
    uid: int
    base: str
    dir: str              # "new" | "cur"
    suffix: str           # "" or ":2,<letters>"
    size: int
    internaldate: float
    modseq: int
    flags: frozenset

    @property
    def filename(self):
        return self.base + self.suffix

    def info(self):
        return MessageInfo(self.uid, self.flags, self.size, self.internaldate,
                           self.modseq)

    def moved(self, dir, suffix, **changes):
        return replace(self, dir=dir, suffix=suffix, **changes)

    def to_json(self):
        return json.dumps({
            "base": self.base, "dir": self.dir, "suffix": self.suffix,
            "size": self.size, "date": self.internaldate, "modseq": self.modseq,
            "flags": sorted(self.flags)}, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, uid, raw):
        doc = _decode(raw.decode())
        return cls(uid, doc["base"], doc["dir"], doc["suffix"], doc["size"],
                   doc["date"], doc["modseq"], frozenset(doc["flags"]))


@dataclass
class FolderState:
    """A folder's counters, and what its directories looked like at the last look:
    scan = {"new": [mtime_ns, settled], "cur": [...], "at": time of the last scan}."""
    name: str
    id: int
    uidvalidity: int
    uidnext: int = 1
    highestmodseq: int = 1
    scan: dict = None

    def to_json(self):
        return json.dumps({
            "id": self.id, "uidvalidity": self.uidvalidity, "uidnext": self.uidnext,
            "highestmodseq": self.highestmodseq, "scan": self.scan or {}},
            separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, name, raw):
        doc = json.loads(raw)
        return cls(name, doc["id"], doc["uidvalidity"], doc["uidnext"],
                   doc["highestmodseq"], doc["scan"])


def _location(uid, dir, suffix):
    return _U32.pack(uid) + (b"n" if dir == "new" else b"c") + os.fsencode(suffix)


class Index(lmdbenv.Handle):
    """The index of one user's mail; `with index.write() as txn:` to change it."""

    def __init__(self, root):
        self._shared = lmdbenv.acquire(Path(root) / INDEX_DIR, TABLES,
                                       map_size=MAP_SIZE, sync=True, metasync=True)

    def read(self):
        return Txn(self._shared, write=False)

    def write(self):
        return Txn(self._shared, write=True)


class Txn:
    """One LMDB transaction with the index's vocabulary."""

    def __init__(self, shared, write):
        self._env = shared.env
        self._db = shared.db
        self._write = write
        self._txn = None

    def __enter__(self):
        self._txn = self._env.begin(write=self._write)
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self._txn.commit()
        else:
            self._txn.abort()

    # folders

    def folder(self, name):
        raw = self._txn.get(name.encode(), db=self._db["folders"])
        return None if raw is None else FolderState.from_json(name, raw)

    def create_folder(self, name):
        """A new folder record with a UIDVALIDITY never given before in this index."""
        folder_id = self._counter(b"folder_id", 0) + 1
        last = self._counter(b"uidvalidity", 0)
        uidvalidity = max(int(time.time()), last + 1) & 0xFFFFFFFF
        self._txn.put(b"folder_id", _U32.pack(folder_id), db=self._db["meta"])
        self._txn.put(b"uidvalidity", _U32.pack(uidvalidity), db=self._db["meta"])
        state = FolderState(name, folder_id, uidvalidity, scan={})
        self.put_folder(state)
        return state

    def put_folder(self, state):
        self._txn.put(state.name.encode(), state.to_json(), db=self._db["folders"])

    def folder_names(self):
        keys = self._txn.cursor(db=self._db["folders"]).iternext(values=False)
        return [key.decode() for key in keys]

    def _counter(self, key, default):
        raw = self._txn.get(key, db=self._db["meta"])
        return default if raw is None else _U32.unpack(raw)[0]

    # messages

    def message(self, folder_id, uid):
        raw = self._txn.get(_U32.pack(folder_id) + _U32.pack(uid),
                            db=self._db["messages"])
        return None if raw is None else Record.from_json(uid, raw)

    def messages(self, folder_id):
        """Every record of a folder, in UID order."""
        prefix = _U32.pack(folder_id)
        cursor = self._txn.cursor(db=self._db["messages"])
        if not cursor.set_range(prefix):
            return
        for key, raw in cursor:
            if key[:4] != prefix:
                return
            yield Record.from_json(_U32.unpack(key[4:])[0], raw)

    def put_message(self, folder_id, record, old=None):
        """Store a new or changed record, keeping names and changes in step."""
        prefix = _U32.pack(folder_id)
        uid = _U32.pack(record.uid)
        self._txn.put(prefix + uid, record.to_json(), db=self._db["messages"])
        self._txn.put(prefix + os.fsencode(record.base),
                      _location(record.uid, record.dir, record.suffix),
                      db=self._db["names"])
        if old is not None:
            self._txn.delete(prefix + _U64.pack(old.modseq) + uid, db=self._db["changes"])
        self._txn.put(prefix + _U64.pack(record.modseq) + uid, b"",
                      db=self._db["changes"])

    def delete_message(self, folder_id, record, modseq):
        """Remove a record, leaving an expunge mark at `modseq` for catching up."""
        prefix = _U32.pack(folder_id)
        uid = _U32.pack(record.uid)
        self._txn.delete(prefix + uid, db=self._db["messages"])
        self._txn.delete(prefix + os.fsencode(record.base), db=self._db["names"])
        self._txn.delete(prefix + _U64.pack(record.modseq) + uid, db=self._db["changes"])
        self._txn.put(prefix + _U64.pack(modseq) + uid, b"x", db=self._db["changes"])

    def by_base(self, folder_id, base):
        """(uid, dir, suffix) of the indexed file with this base name, or None."""
        key = _U32.pack(folder_id) + os.fsencode(base)
        raw = self._txn.get(key, db=self._db["names"])
        return None if raw is None else _parse_location(raw)

    def locations(self, folder_id):
        """{base: (uid, dir, suffix)} for the whole folder."""
        prefix = _U32.pack(folder_id)
        cursor = self._txn.cursor(db=self._db["names"])
        found = {}
        if not cursor.set_range(prefix):
            return found
        for key, raw in cursor:
            if key[:4] != prefix:
                break
            found[os.fsdecode(key[4:])] = _parse_location(raw)
        return found

    def changes_since(self, folder_id, modseq):
        """[(modseq, uid, expunged)] for changes after `modseq`, oldest first."""
        prefix = _U32.pack(folder_id)
        cursor = self._txn.cursor(db=self._db["changes"])
        found = []
        if not cursor.set_range(prefix + _U64.pack(modseq + 1)):
            return found
        for key, value in cursor:
            if key[:4] != prefix:
                break
            found.append((_U64.unpack(key[4:12])[0], _U32.unpack(key[12:])[0],
                          value == b"x"))
        return found


def _parse_location(raw):
    uid = _U32.unpack(raw[:4])[0]
    return uid, ("new" if raw[4:5] == b"n" else "cur"), os.fsdecode(raw[5:])
