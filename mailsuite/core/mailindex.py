"""The per-user mailbox index: one LMDB environment at `<root>/mailsuite.index/`.

It holds what the Maildir cannot: UIDs, UIDVALIDITY, MODSEQ, keywords, where each
message's file is, its size on the wire and what was parsed from it, so that a folder
opens without a directory scan and a FETCH of headers never reads the file. Tables:

    folders   name (UTF-8)                 -> JSON {id, uidvalidity, uidnext,
                                                highestmodseq, scan}
    slots     folder id + first uid (u32s) -> up to SLOT_SIZE (uid, flag bits) pairs:
                                              the UIDs as a native u32 array, then one
                                              byte of flag bits per message
    messages  folder id + uid              -> Record, packed (RECORD + names)
    names     folder id + name_key(base)   -> uid (u32) + dir (b"n"|b"c") + suffix
    changes   folder id + modseq (u64) + uid -> b"" (changed) | b"x" (expunged)
    cache     folder id + uid              -> JSON: what core.msginfo parsed
    meta      counters: the last folder id, the last UIDVALIDITY given

Keys are big-endian so a cursor walks a folder in UID (or MODSEQ) order. `slots` is
what SELECT and a FETCH FLAGS of the whole folder read: 100,000 messages are about
100 values of 5 KB, turned into one array and one bytes object in C, never into
100,000 Python objects; every change to a message keeps its slot in step within the
same transaction. `names` answers "is this file already indexed?" and lets a rescan
compare a directory listing without decoding records; `changes` lets an open folder
catch up with what others did since its last look, in time proportional to the
change.

A record's `wire` size (the message with CRLF line ends, what IMAP counts) and
`internaldate` are -1 when a scan found a file of another tool and nobody asked yet;
core.mailfolder fills them in on first use.

Failure policy: every commit is fsync'ed, because a UID that was handed out must
never be handed out again. The index is otherwise a cache of the Maildir: deleting
the directory rebuilds it at the next open.
"""

import array
import bisect
import json
import os
import struct
import time
from dataclasses import dataclass, replace
from pathlib import Path

from . import lmdbenv
from .files import write_atomic

INDEX_DIR = "mailsuite.index"
# Outside the index, so that an index deleted and rebuilt never reuses a UIDVALIDITY.
UIDVALIDITY_FILE = "mailsuite.uidvalidity"
MAP_SIZE = 4 << 30        # address space only; ~20 million messages
TABLES = ("folders", "slots", "messages", "names", "changes", "cache", "meta")
SLOT_SIZE = 1024
UNKNOWN = -1

# Maildir info letters (cr.yp.to/proto/maildir.html), in the order they must appear.
LETTERS = {"\\Draft": "D", "\\Flagged": "F", "$Forwarded": "P", "\\Answered": "R",
           "\\Seen": "S", "\\Deleted": "T"}
_BY_LETTER = {letter: flag for flag, letter in LETTERS.items()}
_CANONICAL = {flag.lower(): flag for flag in LETTERS}

# One byte of flag bits per message in `slots`: the mirrored flags, and a bit that
# says the message has keywords (which only its record holds).
BITS = {"\\Seen": 1, "\\Answered": 2, "\\Flagged": 4, "\\Deleted": 8, "\\Draft": 16,
        "$Forwarded": 32}
KEYWORDS_BIT = 64
SEEN, DELETED = BITS["\\Seen"], BITS["\\Deleted"]

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
# size, wire size, internal date, modseq, dir (0 new, 1 cur), flag bits, and the
# lengths of the base name and suffix that follow; keywords take the rest.
_RECORD = struct.Struct(">qqdQBBHH")


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


def bits_of(flags):
    bits = 0
    for flag in flags:
        bits |= BITS.get(flag, KEYWORDS_BIT)
    return bits


def keywords_of(flags):
    return sorted(f for f in flags if f not in BITS)


_FLAGS_OF_BITS = [frozenset(f for f, bit in BITS.items() if n & bit) for n in range(256)]


def system_flags(bits):
    """The flags a slot's bits stand for (keywords excluded)."""
    return _FLAGS_OF_BITS[bits]


@dataclass(frozen=True)
class Record:
    """One message as the index knows it: its file is `<dir>/<base><suffix>`."""
    uid: int
    base: str
    dir: str              # "new" | "cur"
    suffix: str           # "" or ":2,<letters>"
    size: int             # of the file
    wire: int             # with CRLF line ends; UNKNOWN until first needed
    internaldate: float   # UNKNOWN until first needed
    modseq: int
    flags: frozenset

    @property
    def filename(self):
        return self.base + self.suffix

    @property
    def complete(self):
        return self.wire != UNKNOWN and self.internaldate != UNKNOWN

    def moved(self, dir, suffix, **changes):
        return replace(self, dir=dir, suffix=suffix, **changes)

    def pack(self):
        base, suffix = _encode(self.base), _encode(self.suffix)
        keywords = " ".join(keywords_of(self.flags)).encode()
        return _RECORD.pack(self.size, self.wire, self.internaldate, self.modseq,
                            self.dir == "cur", bits_of(self.flags), len(base),
                            len(suffix)) + base + suffix + keywords

    @classmethod
    def unpack(cls, uid, raw):
        size, wire, date, modseq, cur, bits, nbase, nsuffix = _RECORD.unpack_from(raw)
        at = _RECORD.size
        base = os.fsdecode(raw[at:at + nbase])
        suffix = os.fsdecode(raw[at + nbase:at + nbase + nsuffix])
        flags = system_flags(bits)
        rest = bytes(raw[at + nbase + nsuffix:])
        if rest:
            flags = flags | frozenset(rest.decode().split(" "))
        return cls(uid, base, "cur" if cur else "new", suffix, size, wire, date,
                   modseq, flags)


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


@dataclass(frozen=True)
class Slots:
    """A folder's UIDs in ascending order and one byte of flag bits for each."""
    uids: array.array
    bits: bytes


def name_key(base):
    """What identifies a file in `names`: its base without the `,S=` and `,W=`
    size fields, so that a delivery finds its own earlier copy by the base it
    chose, whatever sizes the name carries."""
    return name_fields(base)[0]


def name_fields(base):
    """(name_key, size, wire size) of a Maildir base name: the sizes from its
    `,S=` and `,W=` fields (Maildir++ and Dovecot write them), UNKNOWN if absent."""
    if "," not in base:
        return base, UNKNOWN, UNKNOWN
    # The usual shape, "<unique>,S=<size>,W=<wire>", without the general loop.
    head, _, tail = base.partition(",S=")
    size, _, wire = tail.partition(",W=")
    if size.isdigit() and wire.isdigit() and "," not in head:
        return head, int(size), int(wire)
    kept, size, wire = [], UNKNOWN, UNKNOWN
    for i, field in enumerate(base.split(",")):
        if i and field[:2] == "S=" and field[2:].isdigit():
            size = int(field[2:])
        elif i and field[:2] == "W=" and field[2:].isdigit():
            wire = int(field[2:])
        else:
            kept.append(field)
    return ",".join(kept), size, wire


def _encode(name):
    """A file name's bytes (os.fsencode, without its cost per call)."""
    return name.encode("utf-8", "surrogateescape")


_SUFFIX_BITS = {}


def _suffix_bits(suffix):
    bits = _SUFFIX_BITS.get(suffix)
    if bits is None:
        bits = bits_of(flags_from_suffix(suffix))
        if len(_SUFFIX_BITS) < 4096:
            _SUFFIX_BITS[suffix] = bits
    return bits


def _location(uid, dir, suffix):
    return _U32.pack(uid) + (b"n" if dir == "new" else b"c") + _encode(suffix)


def _parse_location(raw):
    uid = _U32.unpack(raw[:4])[0]
    return uid, ("new" if raw[4:5] == b"n" else "cur"), os.fsdecode(raw[5:])


def _split_slot(raw):
    count = len(raw) // 5
    uids = array.array("I")
    uids.frombytes(raw[:4 * count])
    return uids, bytearray(raw[4 * count:])


class Index(lmdbenv.Handle):
    """The index of one user's mail; `with index.write() as txn:` to change it."""

    def __init__(self, root):
        self.root = Path(root)
        self._shared = lmdbenv.acquire(self.root / INDEX_DIR, TABLES,
                                       map_size=MAP_SIZE, sync=True, metasync=True)

    def read(self):
        return Txn(self, write=False)

    def write(self):
        return Txn(self, write=True)


class Txn:
    """One LMDB transaction with the index's vocabulary."""

    def __init__(self, index, write):
        self._index = index
        self._env = index._shared.env
        self._db = index._shared.db
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

    def create_folder(self, name, uidvalidity=None):
        """A new folder record with a UIDVALIDITY never given before for this
        mailbox (unless `uidvalidity` is given: one kept from another index)."""
        folder_id = self._counter(b"folder_id", 0) + 1
        if uidvalidity is None:
            uidvalidity = self._new_uidvalidity()
        self._txn.put(b"folder_id", _U32.pack(folder_id), db=self._db["meta"])
        state = FolderState(name, folder_id, uidvalidity, scan={})
        self.put_folder(state)
        return state

    def _new_uidvalidity(self):
        # RFC 9051 2.3.1.1: a UIDVALIDITY must never be reused for a mailbox name,
        # even after the index is lost; the last one given is also kept in a file.
        path = self._index.root / UIDVALIDITY_FILE
        try:
            last_file = int(path.read_text().strip() or 0)
        except (OSError, ValueError):
            last_file = 0
        last = max(self._counter(b"uidvalidity", 0), last_file)
        value = max(int(time.time()), last + 1) & 0xFFFFFFFF
        self._txn.put(b"uidvalidity", _U32.pack(value), db=self._db["meta"])
        write_atomic(path, f"{value}\n".encode(), mode=0o600)
        return value

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
        return None if raw is None else Record.unpack(uid, raw)

    def messages(self, folder_id, uids=None):
        """Records of a folder in UID order: all of them, or those of `uids`."""
        prefix = _U32.pack(folder_id)
        if uids is not None:
            get = self._txn.get
            db = self._db["messages"]
            for uid in uids:
                raw = get(prefix + _U32.pack(uid), db=db)
                if raw is not None:
                    yield Record.unpack(uid, raw)
            return
        cursor = self._txn.cursor(db=self._db["messages"])
        if not cursor.set_range(prefix):
            return
        for key, raw in cursor:
            if key[:4] != prefix:
                return
            yield Record.unpack(_U32.unpack(key[4:])[0], raw)

    def put_message(self, folder_id, record, old=None):
        """Store a new or changed record, keeping slots, names and changes in step."""
        prefix = _U32.pack(folder_id)
        uid = _U32.pack(record.uid)
        self._txn.put(prefix + uid, record.pack(), db=self._db["messages"])
        if old is None or old.base != record.base or (old.dir, old.suffix) != (
                record.dir, record.suffix):
            self._txn.put(prefix + _encode(name_key(record.base)),
                          _location(record.uid, record.dir, record.suffix),
                          db=self._db["names"])
        if old is not None:
            self._txn.delete(prefix + _U64.pack(old.modseq) + uid, db=self._db["changes"])
        self._txn.put(prefix + _U64.pack(record.modseq) + uid, b"",
                      db=self._db["changes"])
        bits = bits_of(record.flags)
        if old is None:
            self._slot_append(folder_id, record.uid, bits)
        elif bits != bits_of(old.flags):
            self._slot_set(folder_id, record.uid, bits)

    def fill_in(self, folder_id, record):
        """Store what was learnt about a message (sizes, date): no modseq change."""
        self._txn.put(_U32.pack(folder_id) + _U32.pack(record.uid), record.pack(),
                      db=self._db["messages"])

    def delete_message(self, folder_id, record, modseq):
        """Remove a record, leaving an expunge mark at `modseq` for catching up."""
        prefix = _U32.pack(folder_id)
        uid = _U32.pack(record.uid)
        self._txn.delete(prefix + uid, db=self._db["messages"])
        self._txn.delete(prefix + uid, db=self._db["cache"])
        self._txn.delete(prefix + _encode(name_key(record.base)),
                         db=self._db["names"])
        self._txn.delete(prefix + _U64.pack(record.modseq) + uid, db=self._db["changes"])
        self._txn.put(prefix + _U64.pack(modseq) + uid, b"x", db=self._db["changes"])
        self._slot_remove(folder_id, record.uid)

    def by_base(self, folder_id, base):
        """(uid, dir, suffix) of the indexed file with this base name (size fields
        aside), or None."""
        key = _U32.pack(folder_id) + _encode(name_key(base))
        raw = self._txn.get(key, db=self._db["names"])
        return None if raw is None else _parse_location(raw)

    def locations(self, folder_id):
        """{name_key(base): (uid, dir, suffix)} for the whole folder."""
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

    # the parsed-message cache (core.msginfo)

    def cached(self, folder_id, uid):
        raw = self._txn.get(_U32.pack(folder_id) + _U32.pack(uid), db=self._db["cache"])
        return None if raw is None else json.loads(raw)

    def put_cache(self, folder_id, uid, doc):
        self._txn.put(_U32.pack(folder_id) + _U32.pack(uid),
                      json.dumps(doc, separators=(",", ":")).encode(),
                      db=self._db["cache"])

    # many files found at once (a folder indexed from its directory)

    def insert_found(self, folder_id, found, modseq, log_changes=True):
        """Index files found on disk: `found` is [(uid, base, dir, suffix)] in
        ascending UID order, above every UID the folder has; flags come from the
        suffix, sizes from the name if it has them; the internal date is left for
        the first look. One write per table: the path a 100,000-message folder
        takes. Change-log entries are only needed where a session may already
        watch the folder."""
        prefix = _U32.pack(folder_id)
        u32, pack = _U32.pack, _RECORD.pack
        messages, names, slots = [], [], []
        for uid, base, sub, suffix in found:
            key, size, wire = name_fields(base)
            raw_base, raw_suffix = _encode(base), _encode(suffix)
            bits = _suffix_bits(suffix)
            cur = sub == "cur"
            packed_uid = u32(uid)
            messages.append((prefix + packed_uid,
                             pack(size, wire, UNKNOWN, modseq, cur, bits, len(raw_base),
                                  len(raw_suffix)) + raw_base + raw_suffix))
            names.append((prefix + _encode(key),
                          packed_uid + (b"c" if cur else b"n") + raw_suffix))
            slots.append((uid, bits))
        self._txn.cursor(db=self._db["messages"]).putmulti(messages)
        self._txn.cursor(db=self._db["names"]).putmulti(names)
        if log_changes:
            changes = [(prefix + _U64.pack(modseq) + u32(uid), b"") for uid, *_ in found]
            self._txn.cursor(db=self._db["changes"]).putmulti(changes)
        self._slots_extend(folder_id, slots)

    # slots

    def slots(self, folder_id):
        """The folder's UIDs and flag bits (Slots), read in C-sized pieces."""
        prefix = _U32.pack(folder_id)
        uids = array.array("I")
        bits = []
        cursor = self._txn.cursor(db=self._db["slots"])
        if cursor.set_range(prefix):
            for key, raw in cursor:
                if key[:4] != prefix:
                    break
                count = len(raw) // 5
                uids.frombytes(raw[:4 * count])
                bits.append(raw[4 * count:])
        return Slots(uids, b"".join(bits))

    def _slot_of(self, folder_id, uid):
        """The key and value of the slot that holds `uid` (or would hold it: the
        last one whose first uid is not above it), or (None, None)."""
        prefix = _U32.pack(folder_id)
        cursor = self._txn.cursor(db=self._db["slots"])
        if cursor.set_range(prefix + _U32.pack(uid + 1) if uid < 0xFFFFFFFF
                            else _U32.pack(folder_id + 1)):
            found = cursor.prev()
        else:
            found = cursor.last()
        if not found or cursor.key()[:4] != prefix:
            return None, None
        return cursor.key(), cursor.value()

    def _put_slot(self, key, uids, bits):
        if uids:
            self._txn.put(key, uids.tobytes() + bytes(bits), db=self._db["slots"])
        else:
            self._txn.delete(key, db=self._db["slots"])

    def _slot_append(self, folder_id, uid, bits):
        key, raw = self._slot_of(folder_id, uid)
        if key is None or len(raw) // 5 >= SLOT_SIZE:
            key, uids, flags = _U32.pack(folder_id) + _U32.pack(uid), array.array("I"), \
                bytearray()
        else:
            uids, flags = _split_slot(raw)
        at = bisect.bisect_left(uids, uid)
        if at < len(uids) and uids[at] == uid:
            flags[at] = bits
        else:
            uids.insert(at, uid)
            flags.insert(at, bits)
        self._put_slot(key, uids, flags)

    def _slots_extend(self, folder_id, pairs):
        """Append (uid, bits) pairs, ascending and above every uid of the folder."""
        if not pairs:
            return
        key, raw = self._slot_of(folder_id, pairs[0][0])
        if key is None or len(raw) // 5 >= SLOT_SIZE:
            key, uids, flags = None, array.array("I"), bytearray()
        else:
            uids, flags = _split_slot(raw)
        for uid, bits in pairs:
            if len(uids) >= SLOT_SIZE:
                self._put_slot(key, uids, flags)
                key, uids, flags = None, array.array("I"), bytearray()
            if key is None:
                key = _U32.pack(folder_id) + _U32.pack(uid)
            uids.append(uid)
            flags.append(bits)
        self._put_slot(key, uids, flags)

    def _slot_set(self, folder_id, uid, bits):
        key, raw = self._slot_of(folder_id, uid)
        if key is None:
            return
        uids, flags = _split_slot(raw)
        at = bisect.bisect_left(uids, uid)
        if at < len(uids) and uids[at] == uid:
            flags[at] = bits
            self._put_slot(key, uids, flags)

    def _slot_remove(self, folder_id, uid):
        key, raw = self._slot_of(folder_id, uid)
        if key is None:
            return
        uids, flags = _split_slot(raw)
        at = bisect.bisect_left(uids, uid)
        if at < len(uids) and uids[at] == uid:
            del uids[at]
            del flags[at]
            self._put_slot(key, uids, flags)
