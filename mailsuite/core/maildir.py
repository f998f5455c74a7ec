"""One user's mail: a Maildir++ tree and its index (core.mailindex).

    class Store:                 # Store(root); INBOX is root/{cur,new,tmp}
        folders(); create_folder(name); folder(name, build=True) -> Folder
        deliver(base, data, folder="INBOX", flags=(), internaldate=None, quota=0)
        deliver_many(items, folder="INBOX", flags=(), internaldate=None, quota=0)
            # data: bytes, or a path or binary file copied from its start in chunks
        add([Message], folder="INBOX", quota=0) -> [uid]   # each its own flags, date
        usage() -> bytes                 # what every folder's messages take
    usage_of(root) -> bytes              # the same, read from an index alone
    class Folder:                # a handle, no per-message state (core.mailfolder)
        state(); slots(); changes_since(modseq); records(uids); record(uid)
        keywords()                       # every keyword used (core.mailkeywords)
        read(record, length=None); message_info(record)
        needs_scan(); scan(force=False)
        store(uids, flags, mode) -> {uid: Record}; expunge(uids) -> [uid]
        append(data, flags=(), internaldate=None) -> uid
        copy(uids, target, quota=0) / move(uids, target) -> Transferred (mailcopy)

Folder "A/B" lives in `.A.B` (Maildir++; a "." in a name is escaped: core.mailnames).
A message file is `new/<base>,S=<size>,W=<wire size>` until its flags are first set,
then `cur/<base>,S=..,W=..:2,<letters>`: the index is authoritative for flags and the
file name mirrors them (D F P R S T), so the Maildir stays a faithful, portable copy.
Keywords other than $Forwarded (P) live only in the index. The sizes in the name are
the ones Dovecot and Maildir++ write, so either can read them back without the file.

Failure policy: delivery is tmp file, fsync, rename into new/, fsync the directory,
then the index commit, so a message the caller was told about survives a crash; if
the commit fails, the renames are undone, so a refusal (a full disk, OverQuota)
leaves the folder as it was. A quota is checked inside the same transaction.
Delivery is idempotent on the base name (indexed, or a file with that base in new/
or cur/), so a retry after a crash at any point never makes a second copy. What the
index caches about a message (core.msginfo) is parsed before the commit. Changes
made by other Maildir tools are taken in (core.mailscan). A UID is never reused.
"""

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from . import mailfolders, mailquota, msginfo, msgkeys
from .mailfolder import Folder, FolderError, NoSuchFolder, NoSuchMessage
from .mailindex import INDEX_DIR, Index
from .mailmessage import Incoming, Message
from .mailnames import directory, folder_of, normalize
from .mailquota import OverQuota
from .mailrecord import Record, canonical_flags, suffix_for
from .files import fsync_dir
from .mailscan import (dovecot_uidlist, index_files, make_maildir,
                       moved_externally, note_own_change, stat_dirs, sync,
                       unique_base, unlink, write_tmp)

__all__ = ["Store", "Folder", "Record", "FolderError", "NoSuchFolder",
           "NoSuchMessage", "unique_base", "normalize", "Message", "Incoming",
           "OverQuota", "usage_of"]

log = logging.getLogger(__name__)


class Store:
    """The mail of one user, rooted at `root` (created if missing)."""

    def __init__(self, root):
        self.root = Path(root)
        self.snapshots = {}         # folder name -> the last Slots read (Folder.slots)
        self.sizes = {}             # folder name -> the last size (mailfolders.status)
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
        return self.root / directory(name)

    def folders(self):
        names = []
        with os.scandir(self.root) as entries:
            for entry in entries:
                name = folder_of(entry.name)
                if name is not None and os.path.isdir(os.path.join(entry.path, "cur")):
                    names.append(name)
        return ["INBOX"] + sorted(names)

    def create_folder(self, name, uses=()):
        """Create a folder (core.mailfolders.create): FolderError if it exists."""
        mailfolders.create(self, name, uses)

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

    def deliver(self, base, data, folder="INBOX", flags=(), internaldate=None,
                quota=0):
        """Deliver one message durably; idempotent on `base`. Returns its uid."""
        return self.deliver_many([(base, data)], folder, flags, internaldate, quota)[0]

    def deliver_many(self, items, folder="INBOX", flags=(), internaldate=None,
                     quota=0):
        """Deliver [(base, data)] with one directory fsync and one index commit;
        data is bytes, or a path or binary file copied in chunks. With a `quota`
        (bytes), OverQuota if they would take the mailbox past it: then none is
        delivered."""
        return self.add([Message(data, flags, internaldate, base) for base, data in items],
                        folder, quota)

    def add(self, messages, folder="INBOX", quota=0):
        """Add Messages (core.mailmessage), each with its own flags and internal
        date, all or none, in one index commit; returns their uids. A message
        whose base is already in the folder is not written again."""
        name = self._existing_folder(folder)
        path = self.path(name)
        messages = [message.named() for message in messages]
        for message in messages:
            _check_base(message.base)
        uids = self._already_indexed(name, [message.base for message in messages])
        ready = {}
        try:
            for message in messages:
                if message.base not in uids and message.base not in ready:
                    ready[message.base] = _prepare(path, message)
            uids.update(self._commit(name, path, ready, quota))
        finally:
            for message in ready.values():
                unlink(message.tmp)
        return [uids[message.base] for message in messages]

    def incoming(self, folder="INBOX", raw=False):
        """An Incoming in the folder's tmp/ (NoSuchFolder if there is none)."""
        return Incoming(self.path(self._existing_folder(folder)), raw)

    def usage(self):
        """The bytes taken by the messages of every folder (core.mailquota)."""
        with self.index.read() as txn:
            usage = txn.usage()
        if usage is None:
            with self.index.write() as txn:
                usage = txn.usage()
        return usage

    def _already_indexed(self, name, bases):
        """{base: uid} for bases the index knows, so their data is not written."""
        with self.index.read() as txn:
            state = txn.folder(name)
            if state is None:
                return {}
            found = {base: txn.by_base(state.id, base) for base in bases}
        return {base: loc[0] for base, loc in found.items() if loc}

    def _commit(self, name, path, ready, quota):
        """Rename the written files into place and index them: one transaction,
        whose renames are undone if it does not commit. Renamed files leave
        `ready`; the rest are already in the folder."""
        uids, renamed = {}, []
        try:
            with self.index.write() as txn:
                state, kept = txn.folder(name), None
                if state is None:
                    state, kept = self.new_folder_state(txn, name)
                before = stat_dirs(path)
                if kept is not None or moved_externally(state, before):
                    # Another tool, or a crash between our rename and our commit:
                    # index what is there first, so that a base already present
                    # is found.
                    sync(txn, state, path, force=True, kept_uids=kept)
                fresh = []
                for base, message in ready.items():
                    uid = self._present(txn, state, path, base, message)
                    if uid is None:
                        fresh.append(message)
                    else:
                        uids[base] = uid
                if quota:
                    mailquota.check(txn.usage(), sum(m.size for m in fresh), quota)
                for message in fresh:
                    final = path / message.target[0] / (message.name + message.target[1])
                    os.rename(message.tmp, final)
                    renamed.append((message, final))
                if renamed:
                    for sub in sorted({message.target[0] for message in fresh}):
                        fsync_dir(path / sub)
                    uids.update(_index_delivered(txn, state, fresh))
                    note_own_change(state, before, stat_dirs(path))
                txn.put_folder(state)
        except BaseException:
            _undo(renamed)
            raise
        for message, _ in renamed:
            del ready[message.base]
        return uids

    def _present(self, txn, state, path, base, message):
        """The uid of a message with this base already in the folder, else None."""
        loc = txn.by_base(state.id, base)
        if loc is not None:
            return loc[0]
        for known in (message.name, base):
            for sub, suffix in (("new", ""), message.target):
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
    target: tuple         # (dir, suffix): ("new", "") unless it has flags
    flags: frozenset
    date: float           # the internal date


def _prepare(path, message):
    base, data = message.base, message.data
    if isinstance(data, Incoming):
        tmp, size = data.finish(message.internaldate)
    else:
        tmp, size = write_tmp(path, base, data, message.internaldate)
    flags = canonical_flags(message.flags)
    target = ("cur", suffix_for(flags)) if flags else ("new", "")
    date = time.time() if message.internaldate is None else message.internaldate
    try:
        wire, info, head = _describe(tmp, data, size)
        keys = msgkeys.keys(head, date)
    except BaseException:
        unlink(tmp)
        raise
    return _Ready(base, f"{base},S={size},W={wire}", tmp, size, wire, info, keys,
                  target, flags, date)


def _undo(renamed):
    """Put renamed files back in tmp/ (their commit failed), for the caller to
    remove."""
    for message, final in reversed(renamed):
        try:
            os.rename(final, message.tmp)
        except OSError as exc:
            log.error("%s: could not undo a delivery: %s", final, exc)


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


def _index_delivered(txn, state, delivered):
    state.highestmodseq += 1
    uids = {}
    first = state.uidnext
    for message in delivered:
        record = Record(state.uidnext, message.name, *message.target, message.size,
                        message.wire, message.date, state.highestmodseq, message.flags)
        txn.put_message(state.id, record)
        txn.put_cache(state.id, record.uid, message.info)
        txn.columns.put(state.id, record.uid, message.keys)
        uids[message.base] = state.uidnext
        state.uidnext += 1
    txn.columns.delivered(state.id, first, state.uidnext)
    return uids


def usage_of(root):
    """A mailbox's usage (Store.usage) read from its index alone, creating
    nothing: 0 for a mailbox that has no index yet."""
    if not (Path(root) / INDEX_DIR).is_dir():
        return 0
    index = Index(root)
    try:
        with index.read() as txn:
            usage = txn.usage()
        if usage is None:
            with index.write() as txn:
                usage = txn.usage()
        return usage
    finally:
        index.close()
