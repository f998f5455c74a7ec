"""The file-system side of a Maildir folder: creating it, writing into tmp/, naming
files, and taking in changes that other Maildir tools made behind the index's back.

A folder record remembers its new/ and cur/ mtimes at the last scan. A directory
whose mtime moved was changed by someone else, and is scanned: its listing is
compared with the index's `names` table. Our own renames and deliveries record the
mtime they produce in the same transaction, so they never cause a scan: a busy
INBOX is not listed after every delivery.

Mtimes come from a coarse clock: a change made later within the same tick leaves
the mtime as it was. After a scan (someone else is at work in the folder), an mtime
whose tick was not surely over is kept "unsettled" and the next look scans once
more, as Dovecot does. After our own change we take that small risk instead of a
scan, and cover it with a full scan at most every RESCAN_INTERVAL seconds (which the
mailbox service runs in the background): a file another tool drops in the same few
milliseconds as one of our changes shows up late, never is lost.

A scan takes from a file's name all it can (flags from the `:2,` letters, sizes from
`,S=` and `,W=`) and leaves the rest (the internal date, sizes a name lacks) for the
first time a client asks, so that indexing a 100,000-message folder is one
directory listing and one batch of writes. A folder indexed for the first time
keeps the UIDs of a Dovecot `dovecot-uidlist`.

Failure policy: a file that vanishes from the listing is checked with a second
listing before it is expunged, since a rename racing a listing can hide a file from
readdir; files left in tmp/ for 36 hours by a crashed writer are removed (the
Maildir convention); files we cannot stat are left for the next scan.
"""

import errno
import os
import socket
import time
from itertools import count

from .files import fsync_dir
from .mailrecord import flags_from_suffix, mirrored, name_key

SUBDIRS = ("new", "cur")
TMP_MAX_AGE = 36 * 3600
RESCAN_INTERVAL = 120

_sequence = count()
# How long after an mtime its clock tick is surely over: file systems with
# nanosecond timestamps tick at most every 10 ms; a whole-second mtime hints at a
# file system that only stores seconds.
_SETTLE_NS = 100_000_000
_SETTLE_COARSE_NS = 2_000_000_000


def make_maildir(path, subfolder=False):
    """Create cur/, new/, tmp/ under `path` if missing (tmp/ last: it marks done)."""
    if (path / "tmp").is_dir():
        return
    created = not path.exists()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(mode=0o700, exist_ok=True)
    if subfolder:
        # Maildir++: marks a folder, as opposed to a user's root.
        (path / "maildirfolder").touch(mode=0o600)
    fsync_dir(path)
    if created:
        fsync_dir(path.parent)


def stat_dirs(path):
    """{"new": mtime_ns, "cur": mtime_ns}."""
    return {sub: os.stat(path / sub).st_mtime_ns for sub in SUBDIRS}


def _settled(mtime_ns):
    window = _SETTLE_COARSE_NS if mtime_ns % 1_000_000_000 == 0 else _SETTLE_NS
    return time.time_ns() - mtime_ns >= window


def needs_scan(state, stats):
    """True if a directory changed since the last scan, or might have."""
    scan = state.scan or {}
    return any(scan.get(sub) is None or scan[sub][0] != stats[sub] or not scan[sub][1]
               for sub in SUBDIRS)


def rescan_due(state, now=None):
    """True when the last full scan is older than RESCAN_INTERVAL: the cover for a
    change made by another tool in the same clock tick as one of ours."""
    now = time.time() if now is None else now
    return now - (state.scan or {}).get("at", 0) > RESCAN_INTERVAL


def moved_externally(state, stats):
    """True if a directory's mtime differs from the one remembered."""
    scan = state.scan or {}
    return any(scan.get(sub) is None or scan[sub][0] != stats[sub] for sub in SUBDIRS)


def note_own_change(state, before, after):
    """Remember the mtimes our own change produced, where nobody else had changed
    the directory since our last look (else leave it to be scanned). Whether the
    old mtime was settled carries over."""
    scan = state.scan if state.scan is not None else {}
    for sub in SUBDIRS:
        old = scan.get(sub)
        if old is not None and old[0] == before[sub]:
            scan[sub] = [after[sub], old[1]]
    state.scan = scan


def list_files(path):
    """{name_key(base): (dir, suffix, base)}; new/ is listed before cur/, so a file
    moving from new/ to cur/ during the listing is seen at least once."""
    found = {}
    for sub in SUBDIRS:
        for name in os.listdir(path / sub):
            if name[0] == ".":
                continue
            base, colon, info = name.partition(":")
            found[name_key(base) if "," in base else base] = (sub, colon + info, base)
    return found


def index_files(txn, state, files, modseq, uids=None):
    """Give files found on disk [(base, dir, suffix)] uids (`uids` may map a base to
    the uid another index gave it); returns {base: uid}. What the name does not say
    (the internal date, sizes) is left for the first look at the file."""
    found, given = [], {}
    uidnext = state.uidnext
    for base, sub, suffix in files:
        uid = uids.get(name_key(base)) if uids else None
        if uid is None:
            uid, uidnext = uidnext, uidnext + 1
        found.append((uid, base, sub, suffix))
        given[base] = uid
    if uids:
        found.sort()
        uidnext = max([uidnext] + [entry[0] + 1 for entry in found])
    txn.insert_found(state.id, found, modseq)
    state.uidnext = uidnext
    if found:
        state.highestmodseq = max(state.highestmodseq, modseq)
    return given


def sync(txn, state, path, force=False, kept_uids=None):
    """Bring the index of one folder in line with its directories; True if changed.
    `kept_uids` ({base: uid}) gives files the UIDs an earlier index gave them."""
    stats = stat_dirs(path)        # before listing: a later change shows next time
    if not force and not needs_scan(state, stats):
        return False
    if not state.scan and state.highestmodseq == 1 and not kept_uids \
            and not txn.has_messages(state.id):
        changed = _first_look(txn, state, path)
        _note_scan(state, stats)
        _clean_tmp(path)
        return changed
    on_disk = list_files(path)
    known = txn.locations(state.id)
    vanished = [base for base in known if base not in on_disk]
    if vanished:
        again = list_files(path)
        for base in vanished:
            if base in again:
                on_disk[base] = again[base]
        vanished = [base for base in vanished if base not in on_disk]
    added = sorted(key for key in on_disk if key not in known)
    moved = [key for key in on_disk
             if key in known and known[key][1:] != on_disk[key][:2]]
    modseq = state.highestmodseq + 1
    for base in vanished:
        record = txn.message(state.id, known[base][0])
        if record is not None:
            txn.delete_message(state.id, record, modseq)
    for key in moved:
        _take_rename(txn, state, known[key][0], *on_disk[key][:2], modseq)
    index_files(txn, state, [(on_disk[k][2], *on_disk[k][:2]) for k in added], modseq,
                kept_uids)
    if vanished or moved or added:
        state.highestmodseq = modseq
    _note_scan(state, stats)
    _clean_tmp(path)
    return bool(vanished or moved or added)


def _note_scan(state, stats):
    state.scan = {sub: [stats[sub], _settled(stats[sub])] for sub in SUBDIRS}
    state.scan["at"] = time.time()


# The first look at a folder (its first scan, before anyone can have it open)
# indexes its files at this modseq and, to be quick, writes no change-log entries
# for them: a reader of the change log from an earlier modseq must take every
# message as changed.
FIRST_LOOK_MODSEQ = 2


def _first_look(txn, state, path):
    """Index a folder the index has never seen: every file is new. UIDs follow
    the order of the names, that is of delivery time (Maildir's names begin with
    it), as clients expect."""
    listing = [name for name in os.listdir(path / "new") if name[0] != "."]
    listing += [name + "/" for name in os.listdir(path / "cur") if name[0] != "."]
    if not listing:
        return False
    listing.sort()
    modseq = FIRST_LOOK_MODSEQ
    state.uidnext += txn.insert_listing(state.id, listing, state.uidnext, modseq)
    state.highestmodseq = modseq
    return True


def _take_rename(txn, state, uid, sub, suffix, modseq):
    """A file renamed by another tool: new place, and its letters if they changed."""
    record = txn.message(state.id, uid)
    if record is None:
        return
    flags = record.flags
    letters = flags_from_suffix(suffix)
    if letters != mirrored(flags):
        flags = (flags - mirrored(flags)) | letters
    txn.put_message(state.id, record.moved(sub, suffix, flags=flags, modseq=modseq),
                    old=record)


def dovecot_uidlist(path):
    """(uidvalidity, uidnext, {base: uid}) from a Dovecot `dovecot-uidlist` in the
    folder, so that a Maildir moved from Dovecot keeps its UIDs; None if there is
    none or it cannot be read."""
    try:
        lines = (path / "dovecot-uidlist").read_text("utf-8", "replace").splitlines()
    except OSError:
        return None
    if not lines:
        return None
    head = lines[0].split()
    try:
        if head[0] == "3":
            fields = {f[0]: f[1:] for f in head[1:] if f}
            validity, uidnext = int(fields["V"]), int(fields["N"])
        else:
            validity, uidnext = int(head[1]), int(head[2])
    except (IndexError, KeyError, ValueError):
        return None
    uids = {}
    for line in lines[1:]:
        number, _, rest = line.partition(" ")
        name = rest.rpartition(":")[2] if head[0] == "3" else rest
        if number.isdigit() and name:
            uids[name_key(name.partition(":")[0])] = int(number)
    if not 0 < validity < 2 ** 32:
        return None
    return validity, max([uidnext] + [u + 1 for u in uids.values()]), uids


def _clean_tmp(path):
    limit = time.time() - TMP_MAX_AGE
    with os.scandir(path / "tmp") as entries:
        for entry in entries:
            try:
                # ctime, not mtime: a writer sets mtime to the internal date.
                if entry.stat(follow_symlinks=False).st_ctime < limit:
                    os.unlink(entry.path)
            except OSError:
                pass


def unique_base():
    """A new Maildir base name: seconds, microseconds, pid, counter, host."""
    now = time.time()
    host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
    return (f"{int(now)}.M{int(now * 1e6) % 1000000}P{os.getpid()}"
            f"Q{next(_sequence)}.{host}")



def write_tmp(path, base, data, internaldate):
    """tmp/<base>.<pid>, written and fsync'ed; returns (its path, its size). Its
    mtime is the internal date if given (so that an index rebuilt from the files
    finds it again). The pid keeps two writers of one base from writing into the
    same file. `data` is bytes, or a path or binary file to copy from (from its
    start, in chunks: a large message is never read whole)."""
    tmp = path / "tmp" / f"{base}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        size = _write_data(fd, data)
        if internaldate is not None:
            ns = int(internaldate * 1e9)
            os.utime(fd, ns=(ns, ns))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        unlink(tmp)
        raise
    os.close(fd)
    return tmp, size


COPY_CHUNK = 1 << 20          # bytes per copy call when delivering from a file


def _write_data(fd, data):
    if isinstance(data, (bytes, bytearray, memoryview)):
        _write_all(fd, data)
        return len(data)
    if isinstance(data, os.PathLike):
        with open(data, "rb") as source:
            return _copy(fd, source)
    return _copy(fd, data)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _copy(fd, source):
    """Copy a binary file from its start; in the kernel when it has a descriptor
    (the source's position is left alone: one open file serves many mailboxes)."""
    try:
        src = source.fileno()
    except OSError:                       # io.UnsupportedOperation: in memory
        source.seek(0)
        size = 0
        while chunk := source.read(COPY_CHUNK):
            _write_all(fd, chunk)
            size += len(chunk)
        return size
    size = 0
    while n := _copy_range(src, fd, size):
        size += n
    return size


def _copy_range(src, fd, offset):
    try:
        return os.copy_file_range(src, fd, COPY_CHUNK, offset)
    except OSError as exc:
        # Across file systems, or a kernel without it: sendfile copies anyway.
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL,
                             errno.EOPNOTSUPP):
            raise
    return os.sendfile(fd, src, offset, COPY_CHUNK)


def unlink(path):
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
