"""The spool's message files: a message too large to sit in its LMDB record (over
INLINE_MAX bytes) lives in `<state_dir>/spool/files/<qid>`, written as it arrives,
so that nobody holds it whole in memory. core.spool owns the records, and with
them the knowledge of which files are referred to.

    INLINE_MAX                   # bytes a message may have and stay in its record
    class SpoolError(Exception); class SpoolFull(SpoolError)
    class Draft:                 # a message being received: Spool.draft(qid)
        qid; size; on_disk
        async write(data)        # memory up to INLINE_MAX, then the file, which is
                                 # written off the event loop
        async prepend(data)      # bytes in front of what was written
        value() -> bytes         # the bytes of a draft that stayed in memory
        discard()                # drop it and its file, unless the queue took it
        # the queue's side: take(); seal() (blocking); remove_file()
    old_files(directory, now) -> [name];  remove(directory, qids)

Failure policy: a write that fails raises SpoolError (SpoolFull when the disk or
the quota is full) and the caller discards the draft, which removes its file.
Once the queue took the draft (`take`), the file is the queue's: `seal` fsyncs
it and its directory before the commit that records it, and the queue removes it
if that commit fails. A crash in between leaves a file no record refers to: it is
removed by Spool.remove_orphans once ORPHAN_AGE old.
"""

import asyncio
import errno
import logging
import os
import threading
from pathlib import Path

import lmdb

from .files import fsync_dir

log = logging.getLogger(__name__)

INLINE_MAX = 256 << 10
# A draft's file is written at least every smtpd.command_timeout while its data
# arrives, and committed seconds after its last write: a file no record refers
# to that is this old was left by a crash.
ORPHAN_AGE = 24 * 3600
_FULL = (errno.ENOSPC, errno.EDQUOT)


class SpoolError(Exception):
    """The queue could not take or change a message."""


class SpoolFull(SpoolError):
    """The queue has no room for the message (disk, quota or map full)."""


def spool_error(exc):
    """The SpoolError that stands for `exc`."""
    if isinstance(exc, SpoolError):
        return exc
    if isinstance(exc, (lmdb.MapFullError, lmdb.DiskError)) or (
            isinstance(exc, OSError) and exc.errno in _FULL):
        return SpoolFull(f"queue is full: {exc}")
    return SpoolError(f"queue write failed: {exc}")


class Draft:
    """A message on its way into the queue. Its writes are awaited one at a time;
    discard() may come at any moment (a cancelled session), even while a write
    runs in its thread: the file is then closed and removed by that thread, and a
    write that had not begun does nothing."""

    def __init__(self, directory, qid):
        self.qid = qid
        self.size = 0
        self.directory = directory      # the file, when needed, is directory/qid
        self.on_disk = False
        self._parts = []
        self._fd = None
        self._lock = threading.Lock()
        self._writing = False
        self._dropped = False
        self._taken = False

    async def write(self, data):
        """Add bytes to the message; raises SpoolError."""
        if not self.on_disk and self.size + len(data) <= INLINE_MAX:
            self._parts.append(data)
        else:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, self._write_file, data)
        self.size += len(data)

    async def prepend(self, data):
        """Put bytes in front of the message (submitd's DKIM-Signature fields, known
        only once the whole message is in); raises SpoolError. A message in its
        file is copied in the kernel behind the new bytes, into a new file that
        then takes the old one's name."""
        if not self.on_disk and self.size + len(data) <= INLINE_MAX:
            self._parts.insert(0, data)
        else:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, self._prepend_file, data)
        self.size += len(data)

    def value(self):
        if self.on_disk:
            raise ValueError(f"{self.qid}: the message is in a file")
        return b"".join(self._parts)

    def _write_file(self, data):
        self._in_thread(self._append, data)

    def _prepend_file(self, data):
        self._in_thread(self._put_in_front, data)

    def _in_thread(self, step, data):
        with self._lock:
            if self._dropped:
                return
            self._writing = True
        try:
            step(data)
        except OSError as exc:
            raise spool_error(exc) from None
        finally:
            with self._lock:
                self._writing = False
                dropped = self._dropped
            if dropped:
                self.remove_file()

    def _append(self, data):
        if self._fd is None:
            self._create()
        _write_all(self._fd, data)

    def _put_in_front(self, data):
        if self._fd is None:
            self._parts.insert(0, data)
            return self._create()
        path = self.directory / self.qid
        # A crash before the rename leaves "<qid>.new", which no record names:
        # Spool.remove_orphans removes it.
        aside = path.with_name(f"{self.qid}.new")
        fd = os.open(aside, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            _write_all(fd, data)
            with open(path, "rb") as source:
                _copy_all(source.fileno(), fd)
            os.rename(aside, path)
        except BaseException:
            os.close(fd)
            aside.unlink(missing_ok=True)
            raise
        os.close(self._fd)
        self._fd = fd

    def _create(self):
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        path = self.directory / self.qid
        try:
            self._fd = os.open(path, flags, 0o600)
        except FileNotFoundError:
            self.directory.mkdir(mode=0o700, exist_ok=True)
            fsync_dir(self.directory.parent)
            self._fd = os.open(path, flags, 0o600)
        self.on_disk = True
        parts, self._parts = self._parts, []
        for part in parts:
            _write_all(self._fd, part)

    def take(self):
        """The queue takes the file: from now on it keeps it or removes it."""
        self._taken = True

    def seal(self):
        """Make the file durable: its bytes, then its name (blocking)."""
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(self.directory)

    def discard(self):
        """Drop the message, and remove its file unless the queue took it."""
        self._parts = []
        with self._lock:
            if self._taken or self._dropped:
                return
            self._dropped = True
            writing = self._writing
        if not writing:
            self.remove_file()

    def remove_file(self):
        """Close and unlink the file (also the queue's cleanup after a failed
        commit). A file that cannot be unlinked is left to Spool.remove_orphans."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if not self.on_disk:
            return
        try:
            remove(self.directory, [self.qid])
        except OSError as exc:
            log.warning("%s: message file not removed: %s", self.qid, exc)


def _copy_all(source, target):
    """Copy the rest of `source` to `target` in the kernel (both descriptors)."""
    while os.copy_file_range(source, target, 1 << 30):
        pass


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def old_files(directory, now):
    """The names in `directory` whose files were last written ORPHAN_AGE before
    `now` (epoch seconds)."""
    found = []
    try:
        entries = os.scandir(directory)
    except FileNotFoundError:
        return found
    with entries:
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and \
                        entry.stat(follow_symlinks=False).st_mtime <= now - ORPHAN_AGE:
                    found.append(entry.name)
            except FileNotFoundError:
                continue
    return found


def remove(directory, qids):
    """Unlink the files of `qids`; a file already gone is fine."""
    for qid in qids:
        try:
            os.unlink(Path(directory) / qid)
        except FileNotFoundError:
            pass
