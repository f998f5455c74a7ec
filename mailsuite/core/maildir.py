"""One user's mail: a Maildir++ tree and its index (core.mailindex).

    class Store:                 # Store(root); INBOX is root/{cur,new,tmp}
        folders(); create_folder(name); folder(name) -> Folder
        deliver(base, data, folder="INBOX", flags=(), internaldate=None) -> uid
        deliver_many(items, folder="INBOX", flags=(), internaldate=None) -> [uid]
            # data: bytes, or a path or binary file copied from its start in chunks
    class Folder:                # a snapshot, brought up to date by refresh()
        name, uidvalidity, uidnext, highestmodseq; refresh() -> bool
        uids(); info(uid) -> MessageInfo; read(uid) -> bytes
        store(uids, flags, mode) -> {uid: MessageInfo}; expunge(uids) -> [uid]
        append(data, flags=(), internaldate=None) -> uid

Folder "A/B" lives in `.A.B` (Maildir++), so "." cannot appear in a folder name.
A message file is `new/<base>` until its flags are first set, then
`cur/<base>:2,<letters>`: the index is authoritative for flags and the file name
mirrors them (D F P R S T), so the Maildir stays a faithful, portable copy.
Keywords other than $Forwarded (P) live only in the index.

Failure policy: delivery is tmp file, fsync, rename into new/, fsync the directory,
then the index commit, so a message the caller was told about survives a crash.
Delivery is idempotent on the base name (indexed, or a file with that base in new/
or cur/), so a retry after a crash at any point never makes a second copy. Changes
made by other Maildir tools are taken in (core.mailscan). A UID is never reused.
Folder lives in core.mailfolder, the index in core.mailindex.
"""

import os
import time
from pathlib import Path

from .mailfolder import Folder, FolderError, NoSuchFolder, NoSuchMessage
from .mailindex import Index, MessageInfo, Record, canonical_flags, suffix_for
from .files import fsync_dir
from .mailscan import (index_files, make_maildir, moved_externally,
                       note_own_change, stat_dirs, sync, unique_base, unlink,
                       write_tmp)

__all__ = ["Store", "Folder", "MessageInfo", "FolderError", "NoSuchFolder",
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
                txn.create_folder(name)

    def folder(self, name):
        return Folder(self, self._existing_folder(name))

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
        tmps = {}
        try:
            for base, data in items:
                if base not in uids and base not in tmps:
                    tmps[base] = write_tmp(path, base, data, internaldate)
            uids.update(self._commit(name, path, tmps, target, flags, date))
        finally:
            for tmp, _ in tmps.values():
                unlink(tmp)
        return [uids[base] for base, _ in items]

    def _already_indexed(self, name, bases):
        """{base: uid} for bases the index knows, so their data is not written."""
        with self.index.read() as txn:
            state = txn.folder(name)
            if state is None:
                return {}
            found = {base: txn.by_base(state.id, base) for base in bases}
        return {base: loc[0] for base, loc in found.items() if loc}

    def _commit(self, name, path, tmps, target, flags, date):
        """Rename the written files into place and index them: one transaction.
        Renamed files leave `tmps`; the rest are already in the folder."""
        uids, renamed = {}, []
        with self.index.write() as txn:
            state = txn.folder(name) or txn.create_folder(name)
            before = stat_dirs(path)
            if moved_externally(state, before):
                # Another tool, or a crash between our rename and our commit:
                # index what is there first, so that a base already present is found.
                sync(txn, state, path, force=True)
            for base in list(tmps):
                uid = self._present(txn, state, path, base, target)
                if uid is None:
                    os.rename(tmps[base][0], path / target[0] / (base + target[1]))
                    renamed.append((base, tmps.pop(base)[1]))
                else:
                    uids[base] = uid
            if renamed:
                fsync_dir(path / target[0])
                uids.update(_index_delivered(txn, state, renamed, target, flags, date))
                note_own_change(state, before, stat_dirs(path))
            txn.put_folder(state)
        return uids

    def _present(self, txn, state, path, base, target):
        """The uid of a message with this base already in the folder, else None."""
        loc = txn.by_base(state.id, base)
        if loc is not None:
            return loc[0]
        for sub, suffix in (("new", ""), target):
            if os.path.exists(path / sub / (base + suffix)):
                modseq = state.highestmodseq + 1
                return index_files(txn, state, path, [(base, sub, suffix)], modseq)[base]
        return None


def _check_base(base):
    # A base is one file name, and ":" starts the info part of a Maildir name.
    if not isinstance(base, str) or not base or base.startswith(".") \
            or "/" in base or ":" in base or "\0" in base:
        raise ValueError(f"not a Maildir base name: {base!r}")


def _index_delivered(txn, state, delivered, target, flags, date):
    state.highestmodseq += 1
    uids = {}
    for base, size in delivered:
        record = Record(state.uidnext, base, target[0], target[1], size, date,
                        state.highestmodseq, flags)
        txn.put_message(state.id, record)
        uids[base] = state.uidnext
        state.uidnext += 1
    return uids
