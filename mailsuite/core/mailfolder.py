"""One folder of a Store: reading its state and messages, and the changes a client
makes (flags, expunge, append). See core.maildir for the contract.

A Folder keeps nothing about messages in memory: every call reads the index in its
own transaction, so a handle is cheap and always current. What one client has been
told lives in core.mailview.

Failure policy: a change is one step that succeeds or is undone. Flags are recorded
in the index and mirrored in file names: the renames are made inside the index's
write transaction and renamed back if anything fails before the commit is durable
(a full disk, say), so a NO leaves the Maildir and the index as they were. Expunge
first moves the files into tmp/ (a rename, undone the same way), commits, and only
then unlinks them; a crash in between leaves files in tmp/, which are removed after
36 hours, and index entries whose files are gone, which the next scan expunges.
A message whose file another tool moved meanwhile keeps its flags and is left to the
next scan.
"""

import array
import logging
import os
from dataclasses import dataclass

from . import msginfo
from .mailrecord import UNKNOWN, canonical_flags, suffix_for
from .mailscan import (fsync_dir, moved_externally, needs_scan, note_own_change,
                       rescan_due, stat_dirs, sync, unique_base, unlink)

log = logging.getLogger(__name__)


class FolderError(Exception):
    """A folder cannot be created or used; the message says why."""


class NoSuchFolder(FolderError):
    """There is no folder by that name."""


class NoSuchMessage(LookupError):
    """The message is no longer in the folder."""


@dataclass(frozen=True)
class FlagChange:
    """What Folder.change_flags did: `records` of the messages that exist and
    were not refused, as they now are; `modseq`, the one the messages it changed
    share (0 if it changed none); `modified`, the uids refused because they had
    changed since `unchangedsince`."""
    records: dict
    modseq: int
    modified: list


class Folder:
    """A handle on one folder of a Store."""

    def __init__(self, store, name):
        self.owner = store
        self.index = store.index
        self.name = name
        self.path = store.path(name)

    # state

    def state(self):
        """The folder's FolderState (uidvalidity, uidnext, highestmodseq)."""
        with self.index.read() as txn:
            return self._state(txn)

    def _state(self, txn):
        state = txn.folder(self.name)
        if state is None:
            raise NoSuchFolder(f"folder {self.name!r} is not indexed")
        return state

    def keywords(self):
        """Every keyword a message of the folder was given (core.mailkeywords)."""
        with self.index.read() as txn:
            return txn.folder_keywords(self._state(txn).id)

    def indexed(self):
        with self.index.read() as txn:
            return txn.folder(self.name) is not None

    def slots(self):
        """(state, Slots): the UIDs and flag bits of every message, one snapshot.
        Every change moves the folder's highestmodseq, so a snapshot taken at the
        same one is still true: the Store keeps the last, and SELECT after SELECT
        of a big folder reads only its state. Callers must not change it."""
        with self.index.read() as txn:
            return self._slots(txn, self._state(txn))

    def _slots(self, txn, state):
        stamp = (state.uidvalidity, state.highestmodseq)
        kept = self.owner.snapshots.get(self.name)
        if kept is not None and kept[0] == stamp:
            return state, kept[1]
        slots = txn.slots(state.id)
        self.owner.snapshots[self.name] = (stamp, slots)
        return state, slots

    def opening(self):
        """(state, Slots, stale) for a session opening the folder, from one look
        at the index and its directories (`stale`: needs_scan()); None if the
        index does not know the folder yet."""
        stats = self._stats()
        with self.index.read() as txn:
            state = txn.folder(self.name)
            if state is None:
                return None
            state, slots = self._slots(txn, state)
        return state, slots, needs_scan(state, stats) or rescan_due(state)

    def _stats(self):
        try:
            return stat_dirs(self.path)
        except FileNotFoundError:
            raise NoSuchFolder(f"folder {self.name!r} was removed") from None

    def uids(self):
        """Every UID in the folder, ascending (a list: for small folders and tests;
        slots() is the way for big ones)."""
        return list(self.slots()[1].uids)

    def changes_since(self, modseq):
        """(state, [(modseq, uid, expunged)], {uid: Record} of the changed ones that
        still exist): what happened after `modseq`, from one snapshot."""
        with self.index.read() as txn:
            state = self._state(txn)
            changes = txn.changes_since(state.id, modseq)
            present = [uid for _, uid, expunged in changes if not expunged]
            records = {r.uid: r for r in txn.messages(state.id, present)}
        return state, changes, records

    def change_log(self, modseq):
        """(state, [(modseq, uid, expunged)]): changes_since() without records.
        Each message that exists has one entry, at its modseq, and each expunged
        one its expunge mark; a folder's first look writes none (see
        core.mailscan.FIRST_LOOK_MODSEQ)."""
        with self.index.read() as txn:
            state = self._state(txn)
            return state, txn.changes_since(state.id, modseq)

    def claim_recent(self, upto):
        """Take the messages below UID `upto` that no session has been told of
        as recent (RFC 3501 2.3.2: one session only is); returns the folder's
        first recent UID before, so this session's recent ones are
        [returned value, upto). A read-write session does this at SELECT and
        when it hears of new messages."""
        with self.index.read() as txn:
            if self._state(txn).first_recent >= upto:
                return upto
        with self.index.write() as txn:
            state = self._state(txn)
            first = state.first_recent
            if first < upto:
                state.first_recent = upto
                txn.put_folder(state)
            return min(first, upto)

    # other tools

    def needs_scan(self):
        """True if the Maildir may hold changes the index has not seen: cheap (two
        stat calls), so it may run on a command's path where scan() may not."""
        stats = self._stats()
        with self.index.read() as txn:
            state = txn.folder(self.name)
        return state is None or needs_scan(state, stats) or rescan_due(state)

    def scan(self, force=False):
        """Take in what other Maildir tools changed; True if anything did. Costs a
        directory listing: run it off the path of a client's command."""
        if not (self.path / "cur").is_dir():
            raise NoSuchFolder(f"folder {self.name!r} was removed")
        with self.index.write() as txn:
            state = txn.folder(self.name)
            kept = None
            if state is None:
                state, kept = self.owner.new_folder_state(txn, self.name)
                force = True
            changed = sync(txn, state, self.path, force or rescan_due(state), kept)
            txn.put_folder(state)
        return changed

    # messages

    def records(self, uids):
        """{uid: Record} for the uids that exist, with their wire size and internal
        date known (looked up on the file the first time, for other tools' files)."""
        with self.index.read() as txn:
            state = self._state(txn)
            found = {r.uid: r for r in txn.messages(state.id, uids)}
        missing = [r for r in found.values() if not r.complete]
        if missing:
            found.update(self._fill_in(missing))
        return found

    def wire_sizes(self):
        """(state, uids, wire sizes) of every message, from one snapshot, sizes
        as two arrays in UID order; sizes of other tools' files are looked up
        on the files the first time and kept. Cheaper than records() of the
        whole folder: the records are not decoded."""
        with self.index.read() as txn:
            state = self._state(txn)
            uids, sizes = txn.wire_sizes(state.id)
        unknown = [uid for uid, size in zip(uids, sizes) if size == UNKNOWN]
        if unknown:
            learnt = self.records(unknown)      # one removed meanwhile is left out
            pairs = [(uid, learnt[uid].wire if size == UNKNOWN else size)
                     for uid, size in zip(uids, sizes)
                     if size != UNKNOWN or uid in learnt]
            uids = array.array("I", (uid for uid, _ in pairs))
            sizes = array.array("q", (size for _, size in pairs))
        return state, uids, sizes

    def record(self, uid):
        found = self.records([uid])
        if uid not in found:
            raise NoSuchMessage(f"no message with uid {uid}")
        return found[uid]

    def _fill_in(self, records):
        learnt = {}
        for record in records:
            try:
                with self._open(record) as f:
                    st = os.fstat(f.fileno())
                    wire = record.wire
                    if wire == UNKNOWN:
                        wire = _wire_size(f, st.st_size)
            except NoSuchMessage:
                continue
            learnt[record.uid] = record.learnt(st.st_size, wire, st.st_mtime)
        with self.index.write() as txn:
            state = self._state(txn)
            for record in learnt.values():
                if txn.message(state.id, record.uid) is not None:
                    txn.fill_in(state.id, record)
        return learnt

    def message_info(self, record, structure=False):
        """What core.msginfo says about the message, parsed once and kept in the
        index: the header's length, cached fields and IMAP's ENVELOPE and
        BODYSTRUCTURE as sent, and with `structure` the parsed envelope and
        structure too (the parts' bounds)."""
        return self.message_infos([record], structure)[record.uid]

    def message_infos(self, records, structure=False):
        """message_info() of many messages: {uid: doc}, one index transaction
        for those already parsed and one for those parsed now."""
        found = {}
        with self.index.read() as txn:
            state = self._state(txn)
            for record in records:
                doc = txn.cached(state.id, record.uid, structure)
                if doc is not None and doc.get("v") == msginfo.VERSION:
                    found[record.uid] = doc
        missing = [r for r in records if r.uid not in found]
        for record in missing:
            found[record.uid] = msginfo.analyse(self.read(record))
        if missing:
            with self.index.write() as txn:
                for record in missing:
                    if txn.message(state.id, record.uid) is not None:
                        txn.put_cache(state.id, record.uid, found[record.uid])
        return found

    def read(self, record, length=None):
        """The message as IMAP sends it (CRLF line ends), or its first `length`
        bytes of that; follows the file if another process renamed it. `record`
        may be a uid."""
        if isinstance(record, int):
            record = self.record(record)
        with self._open(record) as f:
            if length is not None and record.wire == record.size != UNKNOWN:
                return f.read(length)
            data = msginfo.wire(f.read())
        return data if length is None else data[:length]

    def _open(self, record):
        for attempt in range(3):
            try:
                return open(self.path / record.dir / record.filename, "rb")
            except FileNotFoundError:
                if attempt == 1:
                    self.scan(force=True)
                with self.index.read() as txn:
                    record = txn.message(self._state(txn).id, record.uid)
                if record is None:
                    break
        raise NoSuchMessage(f"message {record.uid if record else ''} is gone")

    # changes

    def store(self, uids, flags, mode):
        """Set, add or remove flags; returns {uid: Record} for the uids that exist.
        Changed messages share one new modseq."""
        return self.change_flags(uids, flags, mode).records

    def change_flags(self, uids, flags, mode, unchangedsince=None):
        """store(), telling what changed (FlagChange); with `unchangedsince`, a
        message whose modseq is above it is left as it is (a conditional STORE,
        RFC 7162 3.1.3), decided in the same transaction as the change."""
        if mode not in ("set", "add", "remove"):
            raise ValueError(f"bad store mode {mode!r}")
        flags = canonical_flags(flags)
        result, modified = {}, []
        with _Change(self) as change:
            state = change.state
            modseq = state.highestmodseq + 1
            for record in change.txn.messages(state.id, uids):
                if unchangedsince is not None and record.modseq > unchangedsince:
                    modified.append(record.uid)
                    continue
                new = _combine(record.flags, flags, mode)
                if new != record.flags:
                    record = change.reflag(record, new, modseq)
                result[record.uid] = record
            changed = state.highestmodseq == modseq
        return FlagChange(result, modseq if changed else 0, modified)

    def expunge(self, uids):
        """Remove these messages; returns the uids removed."""
        removed = []
        with _Change(self) as change:
            state = change.state
            modseq = state.highestmodseq + 1
            for record in change.txn.messages(state.id, uids):
                change.discard(record)
                change.txn.delete_message(state.id, record, modseq)
                removed.append(record.uid)
            if removed:
                state.highestmodseq = modseq
        change.unlink_discarded()
        return removed

    def append(self, data, flags=(), internaldate=None):
        return self.owner.deliver(unique_base(), data, self.name, flags, internaldate)

    def copy(self, uids, target, quota=0):
        """Copy messages into the Folder `target`, all or none, within `quota`
        bytes for the whole mailbox (0: none): core.mailcopy.Transferred."""
        from .mailcopy import transfer    # here: core.mailcopy imports this module
        return transfer(self, uids, target, quota)

    def move(self, uids, target):
        """Move messages into the Folder `target` in one step (RFC 6851)."""
        from .mailcopy import transfer
        return transfer(self, uids, target, move=True)


class _Change:
    """A write transaction on a folder whose file renames are undone if the
    transaction does not commit: takes in outside changes first, and afterwards
    syncs the touched directories and remembers their new mtimes."""

    def __init__(self, folder):
        self.folder = folder
        self.path = folder.path
        self.root = os.fspath(folder.path) + "/"       # file paths as strings: cheaper
        self.touched = set()
        self.renames = []           # (from, to) in the order made
        self.discarded = []         # files moved to tmp/ by expunge

    def __enter__(self):
        self.ctx = self.folder.index.write()
        self.txn = self.ctx.__enter__()
        try:
            self.state = self.folder._state(self.txn)
            self.before = stat_dirs(self.path)
            if moved_externally(self.state, self.before):
                sync(self.txn, self.state, self.path, force=True)
        except BaseException as exc:
            self.ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def reflag(self, record, flags, modseq):
        """Record new flags and rename the file to mirror them. Returns the record
        as it now is."""
        suffix = suffix_for(flags, record.suffix)
        updated = record.moved("cur", suffix, flags=flags, modseq=modseq)
        if (record.dir, record.suffix) != ("cur", suffix):
            try:
                self._rename(f"{self.root}{record.dir}/{record.filename}",
                             f"{self.root}cur/{updated.filename}")
            except FileNotFoundError:
                # Renamed by another tool during our change: leave it to the scan.
                self.state.scan = {}
                return record
            self.touched.update((record.dir, "cur"))
        self.txn.put_message(self.state.id, updated, old=record)
        self.state.highestmodseq = modseq
        return updated

    def discard(self, record):
        """Move an expunged message's file aside, into tmp/."""
        aside = f"{self.root}tmp/{record.filename}.expunged"
        try:
            self._rename(f"{self.root}{record.dir}/{record.filename}", aside)
        except FileNotFoundError:
            return
        self.discarded.append(aside)
        self.touched.update((record.dir, "tmp"))

    def _rename(self, source, target):
        os.rename(source, target)
        self.renames.append((source, target))

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                for sub in sorted(self.touched):
                    fsync_dir(self.path / sub)
                note_own_change(self.state, self.before, stat_dirs(self.path))
                self.txn.put_folder(self.state)
                self.ctx.__exit__(None, None, None)
                return False
            except BaseException:
                self._undo()
                raise
        self.ctx.__exit__(exc_type, exc, tb)
        self._undo()
        return False

    def _undo(self):
        for source, target in reversed(self.renames):
            try:
                os.rename(target, source)
            except OSError as exc:
                log.error("%s: could not undo a rename to %s: %s", self.path, target, exc)
        self.discarded.clear()

    def unlink_discarded(self):
        for path in self.discarded:
            try:
                unlink(path)
            except OSError as exc:
                log.warning("%s: left in tmp/ for later: %s", path, exc)


def _combine(current, flags, mode):
    if mode == "set":
        return flags
    if mode == "add":
        return current | flags
    return current - flags


def _wire_size(f, size):
    return msginfo.wire_size(msginfo.FileData(f)) if size else 0
