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
    cache     folder id + uid + b"h"|b"s"  -> JSON: what core.msginfo parsed, in two:
                                              the header (length, cached fields)
                                              and the structure (ENVELOPE,
                                              BODYSTRUCTURE), so that a header
                                              fetch decodes only the small half
    columns   folder id + code + uid       -> what SEARCH, SORT and THREAD compare
                                              (core.mailcolumns, core.msgkeys)
    meta      counters: the last folder id, the last UIDVALIDITY given, each
              folder's size in bytes (core.mailquota: what QUOTA counts), its
              keywords (core.mailkeywords) and how far each folder's columns
              are complete

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
import json
import os
import struct
import sys
import time
from pathlib import Path

from . import lmdbenv
from .files import write_atomic
from .mailrecord import (BITS, KEYWORDS_BIT, SUFFIX_BITS, RECORD, UNKNOWN,
                         FolderState, Record, bits_of,
                         encode_name, flags_from_suffix, name_fields, name_key,
                         suffix_bits)
from .mailcolumns import ColumnTable
from .mailkeywords import KeywordTable
from .mailquota import SizeTable
from .mailslots import SlotTable

INDEX_DIR = "mailsuite.index"
# Outside the index, so that an index deleted and rebuilt never reuses a UIDVALIDITY.
UIDVALIDITY_FILE = "mailsuite.uidvalidity"
MAP_SIZE = 4 << 30        # address space only; ~20 million messages
TABLES = ("folders", "slots", "messages", "names", "changes", "cache", "columns",
          "meta")
# 1: JSON message records (mailsuite 0.1); 2: packed records, slots, the cache.
FORMAT = 2
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_SIZES = struct.Struct(">qq")      # the first two fields of RECORD: size, wire size
_NAMES_PENDING = b"names-pending:"
_SIZE_AND_DATE = struct.Struct(RECORD.format[:4])     # size, wire size, date

_STRUCTURE = ("envelope", "body")
# The flag bits of a message with a keyword: $Forwarded is one (RFC 5550 5.9).
_KEYWORD_BITS = KEYWORDS_BIT | BITS["$Forwarded"]
# The cache is read by the thousand: skip json.loads's encoding detection.
_decode = json.JSONDecoder().decode


def _dumps(doc):
    return json.dumps(doc, separators=(",", ":")).encode()


def _location(uid, dir, suffix):
    return _U32.pack(uid) + (b"n" if dir == "new" else b"c") + encode_name(suffix)


def _parse_location(raw):
    uid = _U32.unpack(raw[:4])[0]
    return uid, ("new" if raw[4:5] == b"n" else "cur"), os.fsdecode(raw[5:])


class Index(lmdbenv.Handle):
    """The index of one user's mail; `with index.write() as txn:` to change it."""

    def __init__(self, root):
        self.root = Path(root)
        self._shared = lmdbenv.acquire(self.root / INDEX_DIR, TABLES,
                                       map_size=MAP_SIZE, sync=True, metasync=True)
        with self.read() as txn:
            current = txn.format() == FORMAT
        if not current:
            with self.write() as txn:
                txn.upgrade()

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
        self._slots = None
        self._sizes = None

    def __enter__(self):
        self._txn = self._env.begin(write=self._write)
        self._slots = SlotTable(self._txn, self._db["slots"])
        self.columns = ColumnTable(self._txn, self._db["columns"], self._db["meta"])
        self._sizes = SizeTable(self._txn, self._db["meta"])
        self.keywords = KeywordTable(self._txn, self._db["meta"])
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                self._slots.flush()
                self._sizes.flush()
            except BaseException:
                self._txn.abort()
                raise
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
        self._sizes.start(folder_id)
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

    def rename_folder(self, state, name):
        """Give a folder another name; its id, UIDs and UIDVALIDITY stay."""
        self._txn.delete(state.name.encode(), db=self._db["folders"])
        state.name = name
        self.put_folder(state)

    def drop_folder(self, state):
        """Forget a folder and all the index holds about its messages."""
        prefix = _U32.pack(state.id)
        for table in ("slots", "messages", "names", "changes", "cache", "columns"):
            cursor = self._txn.cursor(db=self._db[table])
            if cursor.set_range(prefix):
                while cursor.key()[:4] == prefix and cursor.delete():
                    pass
        self._txn.delete(_NAMES_PENDING + prefix, db=self._db["meta"])
        self.columns.forget(state.id)
        self.keywords.forget(state.id)
        self._txn.delete(state.name.encode(), db=self._db["folders"])

    def folder_names(self):
        keys = self._txn.cursor(db=self._db["folders"]).iternext(values=False)
        return [key.decode() for key in keys]

    def format(self):
        raw = self._txn.get(b"format", db=self._db["meta"])
        return None if raw is None else _U32.unpack(raw)[0]

    def upgrade(self):
        """Bring an index of an earlier format to this one, keeping every UID,
        flag and keyword: an index of format 1 has JSON message records and no
        slots."""
        if self.format() != FORMAT:
            for name in self.folder_names():
                self._upgrade_folder(self.folder(name))
            self._txn.put(b"format", _U32.pack(FORMAT), db=self._db["meta"])

    def _upgrade_folder(self, state):
        prefix = _U32.pack(state.id)
        old = []
        cursor = self._txn.cursor(db=self._db["messages"])
        if cursor.set_range(prefix):
            for key, raw in cursor:
                if key[:4] != prefix:
                    break
                doc = json.loads(raw)
                old.append(Record(_U32.unpack(key[4:])[0], doc["base"], doc["dir"],
                                  doc["suffix"], doc["size"], UNKNOWN, doc["date"],
                                  doc["modseq"], frozenset(doc["flags"])))
        for record in old:
            self._txn.delete(prefix + _U32.pack(record.uid), db=self._db["messages"])
            self._txn.delete(prefix + encode_name(record.base), db=self._db["names"])
        for record in old:
            self._txn.put(prefix + _U32.pack(record.uid), record.pack(),
                          db=self._db["messages"])
            self._txn.put(prefix + encode_name(name_key(record.base)),
                          _location(record.uid, record.dir, record.suffix),
                          db=self._db["names"])
        self._slots.extend(state.id, [(r.uid, bits_of(r.flags)) for r in old])

    def _counter(self, key, default):
        raw = self._txn.get(key, db=self._db["meta"])
        return default if raw is None else _U32.unpack(raw)[0]

    # messages

    def message(self, folder_id, uid):
        raw = self._txn.get(_U32.pack(folder_id) + _U32.pack(uid),
                            db=self._db["messages"])
        return None if raw is None else Record.unpack(uid, raw)

    def has_messages(self, folder_id):
        prefix = _U32.pack(folder_id)
        cursor = self._txn.cursor(db=self._db["messages"])
        return cursor.set_range(prefix) and cursor.key()[:4] == prefix

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

    def sizes_and_dates(self, folder_id):
        """(uids array, [wire size], [internal date]) of every message of a
        folder, ascending, read without building records (SEARCH LARGER, SORT
        SIZE...); UNKNOWN where nobody has looked at another tool's file yet."""
        prefix = _U32.pack(folder_id)
        cursor = self._txn.cursor(db=self._db["messages"])
        keys, wires, dates = [], [], []
        unpack = _SIZE_AND_DATE.unpack_from
        if cursor.set_range(prefix):
            for key, raw in cursor:
                if key[:4] != prefix:
                    break
                keys.append(key[4:])
                _, wire, date = unpack(raw)
                wires.append(wire)
                dates.append(date)
        uids = array.array("I")
        uids.frombytes(b"".join(keys))
        if sys.byteorder == "little":
            uids.byteswap()
        return uids, wires, dates

    def put_message(self, folder_id, record, old=None):
        """Store a new or changed record, keeping slots, names and changes in step."""
        prefix = _U32.pack(folder_id)
        uid = _U32.pack(record.uid)
        self._txn.put(prefix + uid, record.pack(), db=self._db["messages"])
        if old is None or old.base != record.base or (old.dir, old.suffix) != (
                record.dir, record.suffix):
            self._txn.put(prefix + encode_name(name_key(record.base)),
                          _location(record.uid, record.dir, record.suffix),
                          db=self._db["names"])
        if old is not None:
            self._txn.delete(prefix + _U64.pack(old.modseq) + uid, db=self._db["changes"])
        self._txn.put(prefix + _U64.pack(record.modseq) + uid, b"",
                      db=self._db["changes"])
        bits = bits_of(record.flags)
        if bits & _KEYWORD_BITS:
            self.keywords.note(folder_id, record.flags)
        if old is None:
            self._sizes.add(folder_id, max(record.size, 0))
            self._slots.append(folder_id, record.uid, bits)
        elif bits != bits_of(old.flags):
            self._slots.set(folder_id, record.uid, bits)

    def fill_in(self, folder_id, record):
        """Store what was learnt about a message (sizes, date): no modseq change."""
        old = self.message(folder_id, record.uid)
        if old is not None:
            self._sizes.add(folder_id, max(record.size, 0) - max(old.size, 0))
        self._txn.put(_U32.pack(folder_id) + _U32.pack(record.uid), record.pack(),
                      db=self._db["messages"])

    def delete_message(self, folder_id, record, modseq):
        """Remove a record, leaving an expunge mark at `modseq` for catching up."""
        prefix = _U32.pack(folder_id)
        uid = _U32.pack(record.uid)
        self._txn.delete(prefix + uid, db=self._db["messages"])
        self._txn.delete(prefix + uid + b"h", db=self._db["cache"])
        self._txn.delete(prefix + uid + b"s", db=self._db["cache"])
        self.columns.remove(folder_id, record.uid)
        self._txn.delete(prefix + encode_name(name_key(record.base)),
                         db=self._db["names"])
        self._txn.delete(prefix + _U64.pack(record.modseq) + uid, db=self._db["changes"])
        self._txn.put(prefix + _U64.pack(modseq) + uid, b"x", db=self._db["changes"])
        self._slots.remove(folder_id, record.uid)
        self._sizes.add(folder_id, -max(record.size, 0))

    def by_base(self, folder_id, base):
        """(uid, dir, suffix) of the indexed file with this base name (size fields
        aside), or None. In a read transaction, None may also mean "not known yet"
        (see _names_ready): ask again in a write transaction before acting on it."""
        if not self._names_ready(folder_id):
            return None
        key = _U32.pack(folder_id) + encode_name(name_key(base))
        raw = self._txn.get(key, db=self._db["names"])
        return None if raw is None else _parse_location(raw)

    def locations(self, folder_id):
        """{name_key(base): (uid, dir, suffix)} for the whole folder (in a write
        transaction)."""
        self._names_ready(folder_id)
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

    def wire_sizes(self, folder_id):
        """(uids, wire sizes) of every message of a folder, two arrays in UID order,
        read from the packed records without decoding them (a size not learnt yet
        is UNKNOWN): what POP3's STAT and LIST need of a whole folder."""
        prefix = _U32.pack(folder_id)
        uids, sizes = array.array("I"), array.array("q")
        cursor = self._txn.cursor(db=self._db["messages"])
        if not cursor.set_range(prefix):
            return uids, sizes
        unpack_uid, unpack_sizes = _U32.unpack_from, _SIZES.unpack_from
        for key, raw in cursor.iternext():
            if key[:4] != prefix:
                break
            uids.append(unpack_uid(key, 4)[0])
            sizes.append(unpack_sizes(raw)[1])
        return uids, sizes

    def sizes(self, folder_id):
        """(the sum of the known wire sizes, [uids whose wire size is unknown]) of
        a folder's messages: only the two sizes of each record are decoded."""
        prefix = _U32.pack(folder_id)
        cursor = self._txn.cursor(db=self._db["messages"])
        total, unknown = 0, []
        if not cursor.set_range(prefix):
            return total, unknown
        sizes = _SIZES.unpack_from
        for key, raw in cursor:
            if key[:4] != prefix:
                break
            wire = sizes(raw)[1]
            if wire == UNKNOWN:
                unknown.append(_U32.unpack(key[4:])[0])
            else:
                total += wire
        return total, unknown

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

    def cached(self, folder_id, uid, structure=False):
        """What core.msginfo said of a message: its header half, and its structure
        half too if asked; None if either is missing."""
        key = _U32.pack(folder_id) + _U32.pack(uid)
        raw = self._txn.get(key + b"h", db=self._db["cache"])
        if raw is None:
            return None
        doc = _decode(bytes(raw).decode())
        if structure:
            raw = self._txn.get(key + b"s", db=self._db["cache"])
            if raw is None:
                return None
            doc.update(_decode(bytes(raw).decode()))
        return doc

    def copy_cache(self, folder_id, uid, to_folder, to_uid):
        """Give a copy of a message what was parsed of the original, as it is,
        its columns included."""
        source = _U32.pack(folder_id) + _U32.pack(uid)
        target = _U32.pack(to_folder) + _U32.pack(to_uid)
        for half in (b"h", b"s"):
            raw = self._txn.get(source + half, db=self._db["cache"])
            if raw is not None:
                self._txn.put(target + half, raw, db=self._db["cache"])
        self.columns.copy(folder_id, uid, to_folder, to_uid)

    def put_cache(self, folder_id, uid, doc):
        key = _U32.pack(folder_id) + _U32.pack(uid)
        head = {k: v for k, v in doc.items() if k not in _STRUCTURE}
        rest = {k: v for k, v in doc.items() if k in _STRUCTURE}
        self._txn.put(key + b"h", _dumps(head), db=self._db["cache"])
        self._txn.put(key + b"s", _dumps(rest), db=self._db["cache"])

    # many files found at once (a folder indexed from its directory)

    def insert_found(self, folder_id, found, modseq):
        """Index files found on disk: `found` is [(uid, base, dir, suffix)] in
        ascending UID order, above every UID the folder has; flags come from the
        suffix, sizes from the name if it has them; the internal date is left for
        the first look at the file."""
        records = []
        for uid, base, sub, suffix in found:
            _, size, wire = name_fields(base)
            records.append(Record(uid, base, sub, suffix, size, wire, UNKNOWN, modseq,
                                  flags_from_suffix(suffix)))
        prefix = _U32.pack(folder_id)
        self._txn.cursor(db=self._db["messages"]).putmulti(
            [(prefix + _U32.pack(r.uid), r.pack()) for r in records])
        self._txn.cursor(db=self._db["names"]).putmulti(
            [(prefix + encode_name(name_key(r.base)), _location(r.uid, r.dir, r.suffix))
             for r in records])
        self._txn.cursor(db=self._db["changes"]).putmulti(
            [(prefix + _U64.pack(modseq) + _U32.pack(r.uid), b"") for r in records])
        slots = [(r.uid, bits_of(r.flags)) for r in records]
        self._slots.extend(folder_id, slots)
        self._sizes.add(folder_id, sum(max(r.size, 0) for r in records))
        self._note_forwarded(folder_id, slots)

    def insert_listing(self, folder_id, listing, first_uid, modseq):
        """Index a folder seen for the first time from its directory listing:
        `listing` is the sorted file names, those of cur/ marked with a final "/"
        (no file name has one), and gives the UIDs from `first_uid` on. The path
        a 100,000-message folder takes, so it does as little per file as it can:
        nobody watches the folder's change log yet, and its `names` are left for
        the first writer that needs them (_names_ready); a client selecting the
        folder waits for neither. Returns the number of messages indexed."""
        prefix = _U32.pack(folder_id)
        u32, pack, bits_of_suffix = _U32.pack, RECORD.pack, SUFFIX_BITS.get
        messages, slots = [], []
        uid, last, total = first_uid, None, 0
        for name in listing:
            cur = name[-1] == "/"
            if cur:
                name = name[:-1]
            base, colon, info = name.partition(":")
            if base == last:
                continue            # renamed from new/ to cur/ during the listing
            last = base
            suffix = colon + info
            bits = bits_of_suffix(suffix)
            if bits is None:
                bits = suffix_bits(suffix)
            size = wire = UNKNOWN
            if "," in base:
                _, size, wire = name_fields(base)
                total += max(size, 0)
            raw_base, raw_suffix = encode_name(base), encode_name(suffix)
            messages.append((prefix + u32(uid),
                             pack(size, wire, UNKNOWN, modseq, cur, bits, len(raw_base),
                                  len(raw_suffix)) + raw_base + raw_suffix))
            slots.append((uid, bits))
            uid += 1
        self._txn.put(_NAMES_PENDING + prefix, b"", db=self._db["meta"])
        self._txn.cursor(db=self._db["messages"]).putmulti(messages)
        self._slots.extend(folder_id, slots)
        self._sizes.add(folder_id, total)
        self._note_forwarded(folder_id, slots)
        return len(messages)

    def _note_forwarded(self, folder_id, slots):
        """A file name's only keyword is $Forwarded (its letter P)."""
        if any(bits & _KEYWORD_BITS for _, bits in slots):
            self.keywords.note(folder_id, ["$Forwarded"])

    def _names_ready(self, folder_id):
        """True when the folder's `names` are complete; a write transaction
        completes them from the records if a first look left them out."""
        prefix = _U32.pack(folder_id)
        if self._txn.get(_NAMES_PENDING + prefix, db=self._db["meta"]) is None:
            return True
        if not self._write:
            return False
        names = []
        for record in self.messages(folder_id):
            names.append((prefix + encode_name(name_key(record.base)),
                          _location(record.uid, record.dir, record.suffix)))
        self._txn.cursor(db=self._db["names"]).putmulti(names)
        self._txn.delete(_NAMES_PENDING + prefix, db=self._db["meta"])
        return True

    # slots

    def folder_keywords(self, folder_id):
        """The folder's keywords, in the order of first use (core.mailkeywords)."""
        return list(self.keywords.get(folder_id))

    def slots(self, folder_id):
        """The folder's UIDs and flag bits (mailslots.Slots)."""
        return self._slots.read(folder_id)

    # sizes (core.mailquota)

    def usage(self):
        """The bytes taken by the messages of every folder; None in a read
        transaction that finds a folder not counted yet (ask a write one)."""
        total = 0
        for name in self.folder_names():
            folder_id = self.folder(name).id
            size = self._sizes.get(folder_id)
            if size is None:
                if not self._write:
                    return None
                size = self._count_size(folder_id)
            total += size
        return total

    def _count_size(self, folder_id):
        prefix = _U32.pack(folder_id)
        total = 0
        cursor = self._txn.cursor(db=self._db["messages"])
        if cursor.set_range(prefix):
            for key, raw in cursor:
                if key[:4] != prefix:
                    break
                total += max(RECORD.unpack_from(raw)[0], 0)
        self._sizes.start(folder_id, total)
        return total
