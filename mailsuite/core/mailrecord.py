"""What the mailbox index records about messages and folders, and how: flags and
the Maildir letters that mirror them, the one byte of flag bits per message kept
in a folder's slots, the packed message record, the folder's state, and what a
Maildir file name says (core.mailindex keeps these in LMDB).
"""

import json
import os
import struct
from dataclasses import dataclass

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

# size, wire size, internal date, modseq, dir (0 new, 1 cur), flag bits, and the
# lengths of the base name and suffix that follow; keywords take the rest.
RECORD = struct.Struct(">qqdQBBHH")


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

    def moved(self, dir, suffix, flags=None, modseq=None):
        """This record with its file in `dir` with `suffix` (and new flags and
        modseq if given)."""
        return Record(self.uid, self.base, dir, suffix, self.size, self.wire,
                      self.internaldate, self.modseq if modseq is None else modseq,
                      self.flags if flags is None else flags)

    def learnt(self, size, wire, internaldate):
        """This record with what a look at its file told."""
        return Record(self.uid, self.base, self.dir, self.suffix, size, wire,
                      internaldate, self.modseq, self.flags)

    def pack(self):
        base, suffix = encode_name(self.base), encode_name(self.suffix)
        keywords = " ".join(keywords_of(self.flags)).encode()
        return RECORD.pack(self.size, self.wire, self.internaldate, self.modseq,
                            self.dir == "cur", bits_of(self.flags), len(base),
                            len(suffix)) + base + suffix + keywords

    @classmethod
    def unpack(cls, uid, raw):
        size, wire, date, modseq, cur, bits, nbase, nsuffix = RECORD.unpack_from(raw)
        at = RECORD.size
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
    scan = {"new": [mtime_ns, settled], "cur": [...], "at": time of the last scan}.
    `first_recent` is the lowest UID no session has yet been told of as recent
    (IMAP4rev1's \\Recent, RFC 3501 2.3.2)."""
    name: str
    id: int
    uidvalidity: int
    uidnext: int = 1
    highestmodseq: int = 1
    scan: dict = None
    first_recent: int = 1

    def to_json(self):
        return json.dumps({
            "id": self.id, "uidvalidity": self.uidvalidity, "uidnext": self.uidnext,
            "highestmodseq": self.highestmodseq, "scan": self.scan or {},
            "recent": self.first_recent}, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, name, raw):
        doc = json.loads(raw)
        # An index written before `recent` was kept: every message is recent
        # (RFC 3501 2.3.2: when in doubt, a message is recent).
        return cls(name, doc["id"], doc["uidvalidity"], doc["uidnext"],
                   doc["highestmodseq"], doc["scan"], doc.get("recent", 1))


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


def encode_name(name):
    """A file name's bytes (os.fsencode, without its cost per call)."""
    return name.encode("utf-8", "surrogateescape")


# suffix -> flag bits, filled as suffixes are seen (a few dozen in practice).
SUFFIX_BITS = {}


def suffix_bits(suffix):
    bits = SUFFIX_BITS.get(suffix)
    if bits is None:
        bits = bits_of(flags_from_suffix(suffix))
        if len(SUFFIX_BITS) < 4096:
            SUFFIX_BITS[suffix] = bits
    return bits
