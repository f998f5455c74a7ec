"""Copying and moving messages from one folder of a Store to another (IMAP COPY
and MOVE, RFC 9051 6.4.7 and RFC 6851), or to the same folder.

    transfer(source, uids, target, quota=0, move=False) -> Transferred
        # Folder.copy and Folder.move; source and target are Folders of one Store

Both folders live in one index, so a transfer is one write transaction: the
copies get the next UIDs of the target, with the originals' flags, keywords,
internal date, sizes and parsed-message cache, and for a move the originals are
expunged in the same commit. Nobody ever sees a message in both folders, or in
neither. A copy is a hard link, which costs no space and no reading, where the file
system allows one, else a new file; a move renames the file. Each copy gets a new
Maildir base name, so that a folder can hold two copies of one message.

Failure policy: the links, copies and renames are made inside the transaction and
undone if it does not commit (a full disk, OverQuota for a copy), so a NO leaves
both folders as they were. A message expunged meanwhile is left out; so is one
whose file another tool moved in the meantime (the next scan finds it).
"""

import errno
import logging
import os
from dataclasses import dataclass

from . import mailquota
from .mailfolder import NoSuchFolder
from .mailrecord import UNKNOWN, Record, suffix_for
from .mailscan import (fsync_dir, moved_externally, note_own_change, stat_dirs, sync,
                       unique_base, unlink, write_tmp)

log = logging.getLogger(__name__)

# A link refused for these reasons is made a copy instead.
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP,
            errno.EACCES}


@dataclass(frozen=True)
class Transferred:
    """What a transfer did: the target's UIDVALIDITY and the UIDs, in pairs
    (sources[i] became targets[i]), ascending: what RFC 4315 COPYUID reports."""
    uidvalidity: int
    sources: list
    targets: list


def transfer(source, uids, target, quota=0, move=False):
    """Copy (or move) the messages `uids` of `source` into `target`."""
    # The sizes and dates a copy's record and name need, looked up first for
    # other tools' files (in transactions of their own).
    source.records(uids)
    with _Transfer(source, target, move) as work:
        records = [r for r in work.txn.messages(work.source.id, sorted(uids))
                   if r.complete and r.size != UNKNOWN]
        if quota and not move:
            mailquota.check(work.txn.usage(), sum(r.size for r in records), quota)
        for record in records:
            work.take(record)
    return Transferred(work.target.uidvalidity, [s for s, _ in work.pairs],
                       [t for _, t in work.pairs])


class _Transfer:
    """One write transaction over two folders, whose file operations are undone
    unless it commits."""

    def __init__(self, source, target, move):
        self.folders = (source, target)
        self.move = move
        self.same = source.name == target.name
        self.pairs = []
        self.created = []           # files made in the target
        self.renames = []           # (from, to), for a move
        self.touched = set()        # (folder path, subdirectory) to fsync

    def __enter__(self):
        self.ctx = self.folders[0].index.write()
        self.txn = self.ctx.__enter__()
        try:
            self._begin()
        except BaseException as exc:
            self.ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def _begin(self):
        states = []
        for folder in self.folders[:1] if self.same else self.folders:
            state = self.txn.folder(folder.name)
            if state is None:
                raise NoSuchFolder(f"folder {folder.name!r} is not indexed")
            before = stat_dirs(folder.path)
            if moved_externally(state, before):
                sync(self.txn, state, folder.path, force=True)
            states.append((state, before))
        self.states = states
        self.source = states[0][0]
        self.target = states[-1][0]
        changed = states if self.move else states[-1:]
        self.modseq = max(state.highestmodseq for state, _ in changed) + 1

    def take(self, record):
        """Copy or move one message; a file gone meanwhile is left out."""
        source, target = self.folders
        name = f"{unique_base()},S={record.size},W={record.wire}"
        sub, suffix = ("new", "") if record.dir == "new" and not record.flags \
            else ("cur", suffix_for(record.flags, record.suffix))
        origin = source.path / record.dir / record.filename
        final = target.path / sub / (name + suffix)
        try:
            self._place(origin, final, record)
        except FileNotFoundError:
            return
        uid = self.target.uidnext
        self.target.uidnext += 1
        self.txn.put_message(self.target.id, Record(
            uid, name, sub, suffix, record.size, record.wire, record.internaldate,
            self.modseq, record.flags))
        self.txn.copy_cache(self.source.id, record.uid, self.target.id, uid)
        if self.move:
            self.txn.delete_message(self.source.id, record, self.modseq)
        self.pairs.append((record.uid, uid))
        self.touched.add((target.path, sub))

    def _place(self, origin, final, record):
        if self.move:
            os.rename(origin, final)
            self.renames.append((origin, final))
            self.touched.add((self.folders[0].path, record.dir))
            return
        try:
            os.link(origin, final)
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise
            tmp, _ = write_tmp(final.parent.parent, final.name, origin,
                               record.internaldate)
            try:
                os.rename(tmp, final)
            except BaseException:
                unlink(tmp)
                raise
        self.created.append(final)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                self._finish()
                self.ctx.__exit__(None, None, None)
                return False
            except BaseException:
                self._undo()
                raise
        self.ctx.__exit__(exc_type, exc, tb)
        self._undo()
        return False

    def _finish(self):
        for path, sub in sorted(self.touched):
            fsync_dir(path / sub)
        if not self.pairs:
            return
        # A copy changes only the target; a move both (or one, the same).
        changed = zip(self.states, self.folders) if self.move \
            else [(self.states[-1], self.folders[1])]
        for (state, before), folder in changed:
            state.highestmodseq = self.modseq
            note_own_change(state, before, stat_dirs(folder.path))
            self.txn.put_folder(state)

    def _undo(self):
        for path in self.created:
            try:
                unlink(path)
            except OSError as exc:
                log.error("%s: could not undo a copy: %s", path, exc)
        for origin, final in reversed(self.renames):
            try:
                os.rename(final, origin)
            except OSError as exc:
                log.error("%s: could not undo a move: %s", final, exc)
