"""A folder of a Store as one client sees it: a snapshot of UIDs and MessageInfo
that refresh() brings up to date, and the changes a client makes (flags, expunge,
append). See core.maildir for the contract.

Failure policy: the index is authoritative for flags, and the file name follows
it (a rename per change, the directory fsync'ed before the commit); a message
whose file was moved by another tool meanwhile keeps its flags and is left to the
next scan. Expunge removes the file first, then the entry, so a crash between the
two leaves an entry whose file is gone, which the next scan expunges.
"""

import os

from .mailindex import canonical_flags, suffix_for
from .mailscan import (fsync_dir, moved_externally, needs_scan, note_own_change,
                       stat_dirs, sync, unique_base, unlink)


class FolderError(Exception):
    """A folder cannot be created or used; the message says why."""


class NoSuchFolder(FolderError):
    """There is no folder by that name."""


class NoSuchMessage(LookupError):
    """The message is no longer in the folder."""


class Folder:
    """One folder as of the last refresh(): its UIDs and their MessageInfo."""

    def __init__(self, store, name):
        self._store = store
        self.name = name
        self.path = store.path(name)
        self.uidvalidity = self.uidnext = self.highestmodseq = 0
        self._records = None      # uid -> Record
        self._uids = []
        self.refresh()

    def refresh(self):
        """Take in changes by other processes and other Maildir tools."""
        changed = self._scan_if_needed()
        with self._store.index.read() as txn:
            state = txn.folder(self.name)
            if self._records is None or state.uidvalidity != self.uidvalidity:
                self._load(txn, state)
                changed = True
            elif state.highestmodseq != self.highestmodseq:
                changed = self._catch_up(txn, state) or changed
        changed = changed or state.uidnext != self.uidnext
        self.uidvalidity, self.uidnext = state.uidvalidity, state.uidnext
        self.highestmodseq = state.highestmodseq
        return changed

    def _scan_if_needed(self, force=False):
        try:
            stats = stat_dirs(self.path)
        except FileNotFoundError:
            raise NoSuchFolder(f"folder {self.name!r} was removed") from None
        with self._store.index.read() as txn:
            state = txn.folder(self.name)
        if state is not None and not force and not needs_scan(state, stats):
            return False
        with self._store.index.write() as txn:
            state = txn.folder(self.name) or txn.create_folder(self.name)
            changed = sync(txn, state, self.path, force)
            txn.put_folder(state)
        return changed

    def _load(self, txn, state):
        self._records = {record.uid: record for record in txn.messages(state.id)}
        self._uids = sorted(self._records)

    def _catch_up(self, txn, state):
        """Apply what changed since our highestmodseq; True if anything did."""
        gone, fresh = set(), {}
        for _, uid, expunged in txn.changes_since(state.id, self.highestmodseq):
            record = None if expunged else txn.message(state.id, uid)
            if record is None:
                gone.add(uid)
            else:
                fresh[uid] = record
        gone &= self._records.keys()
        added = sorted(uid for uid in fresh if uid not in self._records)
        changed = bool(gone or added) or any(
            self._records[uid] != record for uid, record in fresh.items()
            if uid in self._records)
        for uid in gone:
            del self._records[uid]
        self._records.update(fresh)
        if gone or (added and self._uids and added[0] < self._uids[-1]):
            self._uids = sorted(self._records)
        else:
            self._uids.extend(added)
        return changed

    def uids(self):
        """The uids in the folder as of the last refresh(), ascending (a copy)."""
        return list(self._uids)

    def info(self, uid):
        return self._record(uid).info()

    def _record(self, uid):
        try:
            return self._records[uid]
        except KeyError:
            raise NoSuchMessage(f"no message with uid {uid}") from None

    def read(self, uid):
        """The whole message. Follows the file if another process renamed it."""
        record = self._record(uid)
        for attempt in range(3):
            try:
                with open(self.path / record.dir / record.filename, "rb") as f:
                    return f.read()
            except FileNotFoundError:
                if attempt == 1:
                    self._scan_if_needed(force=True)
                with self._store.index.read() as txn:
                    record = txn.message(self._folder_id(txn), uid)
                if record is None:
                    break
        raise NoSuchMessage(f"message {uid} is gone")

    def _folder_id(self, txn):
        return txn.folder(self.name).id

    # changes

    def store(self, uids, flags, mode):
        """Set, add or remove flags; returns {uid: MessageInfo} for the uids that
        exist. Changed messages share one new modseq."""
        if mode not in ("set", "add", "remove"):
            raise ValueError(f"bad store mode {mode!r}")
        flags = canonical_flags(flags)
        result = {}
        with self._changing() as (txn, state, touched):
            modseq = state.highestmodseq + 1
            for uid in uids:
                record = txn.message(state.id, uid)
                if record is None:
                    continue
                new = _combine(record.flags, flags, mode)
                if new != record.flags:
                    record = self._reflag(txn, state, record, new, modseq, touched)
                    if record.modseq == modseq:
                        state.highestmodseq = modseq
                result[uid] = record
        for uid, record in result.items():
            if uid in self._records:
                self._records[uid] = record
        return {uid: record.info() for uid, record in result.items()}

    def _reflag(self, txn, state, record, flags, modseq, touched):
        """Record new flags and rename the file to mirror them; `touched` collects
        the directories to fsync. Returns the record as it now is."""
        suffix = suffix_for(flags, record.suffix)
        updated = record.moved("cur", suffix, flags=flags, modseq=modseq)
        if (record.dir, record.suffix) != ("cur", suffix):
            try:
                os.rename(self.path / record.dir / record.filename,
                          self.path / "cur" / updated.filename)
            except FileNotFoundError:
                # Renamed by another tool during our change: leave it to the scan.
                state.scan = {}
                return record
            touched.update((record.dir, "cur"))
        txn.put_message(state.id, updated, old=record)
        return updated

    def expunge(self, uids):
        """Remove these messages (files first, then entries); returns those removed."""
        removed = []
        with self._changing() as (txn, state, touched):
            modseq = state.highestmodseq + 1
            for uid in uids:
                record = txn.message(state.id, uid)
                if record is None:
                    continue
                unlink(self.path / record.dir / record.filename)
                txn.delete_message(state.id, record, modseq)
                touched.add(record.dir)
                removed.append(uid)
            if removed:
                state.highestmodseq = modseq
        for uid in removed:
            self._records.pop(uid, None)
        if removed:
            self._uids = [uid for uid in self._uids if uid in self._records]
        return removed

    def append(self, data, flags=(), internaldate=None):
        return self._store.deliver(unique_base(), data, self.name, flags, internaldate)

    def _changing(self):
        return _Change(self)


class _Change:
    """A write transaction on a folder that renames or removes files: takes in
    outside changes first, and afterwards syncs the touched directories and
    remembers their new mtimes."""

    def __init__(self, folder):
        self.folder = folder
        self.touched = set()

    def __enter__(self):
        self.ctx = self.folder._store.index.write()
        self.txn = self.ctx.__enter__()
        try:
            self.state = self.txn.folder(self.folder.name)
            self.before = stat_dirs(self.folder.path)
            if moved_externally(self.state, self.before):
                sync(self.txn, self.state, self.folder.path, force=True)
        except BaseException as exc:
            self.ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self.txn, self.state, self.touched

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                for sub in sorted(self.touched):
                    fsync_dir(self.folder.path / sub)
                note_own_change(self.state, self.before, stat_dirs(self.folder.path))
                self.txn.put_folder(self.state)
            except BaseException as error:
                self.ctx.__exit__(type(error), error, error.__traceback__)
                raise
        return self.ctx.__exit__(exc_type, exc, tb)


def _combine(current, flags, mode):
    if mode == "set":
        return flags
    if mode == "add":
        return current | flags
    return current - flags
