"""One user's mail: a Maildir++ tree and its index (core.mailindex).

    class Store:                 # Store(root); INBOX is root/{cur,new,tmp}
        folders(); create_folder(name); folder(name, build=True) -> Folder
        deliver(base, data, folder="INBOX", flags=(), internaldate=None) -> uid
        deliver_many(items, folder="INBOX", flags=(), internaldate=None) -> [uid]
            # data: bytes, or a path or binary file copied from its start in chunks
    class Folder:                # a handle, no per-message state (core.mailfolder)
        state(); slots(); changes_since(modseq); records(uids); record(uid)
        read(record, length=None); message_info(record)
        needs_scan(); scan(force=False)
        store(uids, flags, mode) -> {uid: Record}; expunge(uids) -> [uid]
        append(data, flags=(), internaldate=None) -> uid

Folder "A/B" lives in `.A.B` (Maildir++), so "." cannot appear in a folder name.
A message file is `new/<base>,S=<size>,W=<wire size>` until its flags are first set,
then `cur/<base>,S=..,W=..:2,<letters>`: the index is authoritative for flags and the
file name mirrors them (D F P R S T), so the Maildir stays a faithful, portable copy.
Keywords other than $Forwarded (P) live only in the index. The sizes in the name are
the ones Dovecot and Maildir++ write, so either can read them back without the file.

Failure policy: delivery is tmp file, fsync, rename into new/, fsync the directory,
then the index commit, so a message the caller was told about survives a crash.
Delivery is idempotent on the base name (indexed, or a file with that base in new/
or cur/), so a retry after a crash at any point never makes a second copy. What the
index caches about a message (core.msginfo) is parsed before the commit. Changes
made by other Maildir tools are taken in (core.mailscan). A UID is never reused.
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path

from . import msginfo, msgkeys
from .mailfolder import Folder, FolderError, NoSuchFolder, NoSuchMessage
from .mailindex import Index
from .mailrecord import Record, canonical_flags, suffix_for
from .files import fsync_dir
from .mailscan import (dovecot_uidlist, index_files, make_maildir,
                       moved_externally, note_own_change, stat_dirs, sync,
                       unique_base, unlink, write_tmp)

__all__ = ["Store", "Folder", "Record", "FolderError", "NoSuchFolder",
           "NoSuchMessage", "unique_base", "normalize"]


def normalize(name):
    """The canonical API name ("inbox/x" -> "INBOX/x"); raises FolderError."""
    if not isinstance(name, str) or not name:
        raise FolderError("folder name is empty")
    parts = name.split("/")
    if parts[0].upper() == "INBOX":
        parts[0] = "INBOX"
    # The folder's directory, "." and its levels joined by "." (Maildir++), is one
    # file name: NAME_MAX, 255 bytes on Linux file systems, bounds it and so each
    # level. Checked first, so that no message below repeats an over-long name.
    try:
        size = len(os.fsencode("." + ".".join(parts)))
    except UnicodeEncodeError:
        raise FolderError("folder name is not valid Unicode") from None
    if size > 255:
        raise FolderError(f"folder name too long: {size} bytes on disk, at most 255")
    for part in parts:
        if not part:
            raise FolderError(f"folder name {name!r} has an empty level")
        if "." in part:
            raise FolderError(f"folder name {name!r}: '.' is not allowed "
                              "(it separates levels on disk)")
        if any(ord(c) < 32 or ord(c) == 127 for c in part):
            raise FolderError(f"folder name {name!r} has a control character")
    return "/".join(parts)


class Store:
    """The mail of one user, rooted at `root` (created if missing)."""

    def __init__(self, root):
        self.root = Path(root)
        self.snapshots = {}         # folder name -> the last Slots read (Folder.slots)
        make_maildir(self.root)
        self.index = Index(self.root)

    def close(self):
        self.index.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def path(self, name):
        """The directory of the folder with this canonical name."""
        if name == "INBOX":
            return self.root
        return self.root / ("." + name.replace("/", "."))

    def folders(self):
        names = []
        with os.scandir(self.root) as entries:
            for entry in entries:
                if entry.name.startswith(".") and os.path.isdir(
                        os.path.join(entry.path, "cur")):
                    names.append(entry.name[1:].replace(".", "/"))
        return ["INBOX"] + sorted(n for n in names if n and n != "INBOX")

    def create_folder(self, name):
        name = normalize(name)
        path = self.path(name)
        if name == "INBOX" or path.exists():
            raise FolderError(f"folder {name!r} already exists")
        make_maildir(path, subfolder=True)
        with self.index.write() as txn:
            if txn.folder(name) is None:
                state, kept = self.new_folder_state(txn, name)
                sync(txn, state, path, force=True, kept_uids=kept)
                txn.put_folder(state)

    def folder(self, name, build=True):
        """The Folder; a folder the index does not know yet is indexed first from
        its directory, unless `build` is false (the caller does it elsewhere)."""
        folder = Folder(self, self._existing_folder(name))
        if build and not folder.indexed():
            folder.scan(force=True)
        return folder

    def new_folder_state(self, txn, name):
        """A FolderState for a folder the index does not know, and the UIDs to
        keep ({base: uid}) when a Dovecot uidlist says which UIDs its files had."""
        kept = dovecot_uidlist(self.path(name))
        if kept is None:
            return txn.create_folder(name), {}
        uidvalidity, uidnext, uids = kept
        state = txn.create_folder(name, uidvalidity)
        state.uidnext = uidnext
        return state, uids

    def _existing_folder(self, name):
        try:
            name = normalize(name)
        except FolderError as exc:
            raise NoSuchFolder(str(exc)) from None
        if not (self.path(name) / "cur").is_dir():
            raise NoSuchFolder(f"no folder {name!r}")
        return name

    # delivery

    def deliver(self, base, data, folder="INBOX", flags=(), internaldate=None):
        """Deliver one message durably; idempotent on `base`. Returns its uid."""
        return self.deliver_many([(base, data)], folder, flags, internaldate)[0]

    def deliver_many(self, items, folder="INBOX", flags=(), internaldate=None):
        """Deliver [(base, data)] with one directory fsync and one index commit;
        data is bytes, or a path or binary file copied in chunks."""
        name = self._existing_folder(folder)
        path = self.path(name)
        for base, _ in items:
            _check_base(base)
        flags = canonical_flags(flags)
        target = ("cur", suffix_for(flags)) if flags else ("new", "")
        date = time.time() if internaldate is None else internaldate
        uids = self._already_indexed(name, [base for base, _ in items])
        ready = {}
        try:
            for base, data in items:
                if base not in uids and base not in ready:
                    ready[base] = _prepare(path, base, data, internaldate, date)
            uids.update(self._commit(name, path, ready, target, flags, date))
        finally:
            for message in ready.values():
                unlink(message.tmp)
        return [uids[base] for base, _ in items]

    def _already_indexed(self, name, bases):
        """{base: uid} for bases the index knows, so their data is not written."""
        with self.index.read() as txn:
            state = txn.folder(name)
            if state is None:
                return {}
            found = {base: txn.by_base(state.id, base) for base in bases}
        return {base: loc[0] for base, loc in found.items() if loc}

    def _commit(self, name, path, ready, target, flags, date):
        """Rename the written files into place and index them: one transaction.
        Renamed files leave `ready`; the rest are already in the folder."""
        uids, renamed = {}, []
        with self.index.write() as txn:
            state, kept = txn.folder(name), None
            if state is None:
                state, kept = self.new_folder_state(txn, name)
            before = stat_dirs(path)
            if kept is not None or moved_externally(state, before):
                # Another tool, or a crash between our rename and our commit:
                # index what is there first, so that a base already present is found.
                sync(txn, state, path, force=True, kept_uids=kept)
            for base in list(ready):
                message = ready[base]
                uid = self._present(txn, state, path, base, message, target)
                if uid is None:
                    os.rename(message.tmp, path / target[0] / (message.name + target[1]))
                    renamed.append(ready.pop(base))
                else:
                    uids[base] = uid
            if renamed:
                fsync_dir(path / target[0])
                uids.update(_index_delivered(txn, state, renamed, target, flags, date))
                note_own_change(state, before, stat_dirs(path))
            txn.put_folder(state)
        return uids

    def _present(self, txn, state, path, base, message, target):
        """The uid of a message with this base already in the folder, else None."""
        loc = txn.by_base(state.id, base)
        if loc is not None:
            return loc[0]
        for known in (message.name, base):
            for sub, suffix in (("new", ""), target):
                if os.path.exists(path / sub / (known + suffix)):
                    modseq = state.highestmodseq + 1
                    return index_files(txn, state, [(known, sub, suffix)], modseq)[known]
        return None


@dataclass
class _Ready:
    """A message written to tmp/, with what the index will keep about it."""
    base: str             # as the caller named it
    name: str             # the base name on disk: base,S=<size>,W=<wire size>
    tmp: Path
    size: int
    wire: int
    info: dict            # core.msginfo.analyse
    keys: dict            # core.msgkeys.keys: its columns


def _prepare(path, base, data, internaldate, date):
    tmp, size = write_tmp(path, base, data, internaldate)
    try:
        wire, info, head = _describe(tmp, data, size)
        keys = msgkeys.keys(head, date)
    except BaseException:
        unlink(tmp)
        raise
    return _Ready(base, f"{base},S={size},W={wire}", tmp, size, wire, info, keys)


def _describe(tmp, data, size):
    """(wire size, core.msginfo.analyse, header section) of a message: from the
    bytes given, or from the copy just written, read a piece at a time rather
    than whole."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        wire = msginfo.wire(data)
        info = msginfo.analyse(wire)
        return len(wire), info, wire[:info["header"]]
    with open(tmp, "rb") as f:
        message = msginfo.FileData(f)
        wire = msginfo.wire_size(message)
        if wire != size:
            # Bare LF line ends: rare in a queued message (smtpd writes CRLF).
            message = msginfo.wire(f.read())
        info = msginfo.analyse(message)
        return wire, info, bytes(message[:info["header"]])


def _check_base(base):
    # A base is one file name, and ":" starts the info part of a Maildir name.
    if not isinstance(base, str) or not base or base.startswith(".") \
            or "/" in base or ":" in base or "\0" in base:
        raise ValueError(f"not a Maildir base name: {base!r}")


def _index_delivered(txn, state, delivered, target, flags, date):
    state.highestmodseq += 1
    uids = {}
    first = state.uidnext
    for message in delivered:
        record = Record(state.uidnext, message.name, target[0], target[1],
                        message.size, message.wire, date, state.highestmodseq, flags)
        txn.put_message(state.id, record)
        txn.put_cache(state.id, record.uid, message.info)
        txn.columns.put(state.id, record.uid, message.keys)
        uids[message.base] = state.uidnext
        state.uidnext += 1
    txn.columns.delivered(state.id, first, state.uidnext)
    return uids
