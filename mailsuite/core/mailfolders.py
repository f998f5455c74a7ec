"""Folder operations on one user's Store: create (with special uses, RFC 6154),
delete, rename (INBOX too), subscriptions, what LIST and STATUS report, and the
special folders every user gets.

    create(store, name, uses=())      # FolderExists, FolderError
    delete(store, name)               # NoSuchFolder, FolderError (INBOX)
    rename(store, old, new)           # NoSuchFolder, FolderExists, FolderError
    subscribe(store, name, subscribed=True); subscribed(store) -> [name]
    listing(store) -> [FolderInfo(name, uses)]
    status(folder, size=False) -> FolderStatus | None (never indexed yet)
    prepare(store)                    # at login: the special folders, crash repair

A folder's special uses live in its directory (`mailsuite.special-use`, one per
line), so they follow it through renames and move with the Maildir. The five
special folders (Sent, Drafts, Trash, Junk, Archive) are made once per mailbox, at
its first login (`mailsuite.special-folders` at the root records it), and
subscribed with INBOX; a folder of that name that exists already is given the use.
A user who deletes one later is not given it back (docs/decisions/0008).

Failure policy: every change holds the Maildir's lock (core.files.locked_dir), so
two of them never interleave, and is one step as far as the file system allows. A
new folder is built aside and renamed into place; a deleted one is renamed aside
before its index entry goes; renames are undone if the index commit fails. Work
left aside by a crash (`mailsuite.*` directories) is finished or undone by the next
prepare(). RENAME keeps the folder's UIDVALIDITY and UIDs (RFC 9051 6.3.6); a name
deleted or renamed away and created again gets a UIDVALIDITY never given before.
"""

import bisect
import os
import shutil
from dataclasses import dataclass
from typing import NamedTuple

from . import subscriptions
from .files import fsync_dir, locked_dir, write_atomic
from .mailfolder import FolderError, NoSuchFolder
from .mailnames import DELIMITER, PRIVATE, normalize
from .mailrecord import DELETED, SEEN
from .mailscan import make_maildir, sync, unique_base

# RFC 6154 2: the uses a folder of ours can have (\All and \Flagged are virtual).
SPECIAL_USES = ("\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash")
SPECIAL_FOLDERS = {"\\Sent": "Sent", "\\Drafts": "Drafts", "\\Trash": "Trash",
                   "\\Junk": "Junk", "\\Archive": "Archive"}
USE_FILE = "mailsuite.special-use"
PREPARED = "mailsuite.special-folders"
_ASIDE = (PRIVATE + "creating.", PRIVATE + "deleted.", PRIVATE + "renaming.")
_COUNT_DELETED = bytes(1 if n & DELETED else 0 for n in range(256))
_COUNT_SEEN = bytes(1 if n & SEEN else 0 for n in range(256))


class FolderExists(FolderError):
    """A folder by that name exists already."""


class FolderInfo(NamedTuple):
    name: str
    uses: tuple          # special uses, in SPECIAL_USES order


@dataclass(frozen=True)
class FolderStatus:
    """What STATUS reports (RFC 9051 6.3.11; SIZE is RFC 8438)."""
    messages: int
    unseen: int
    deleted: int
    uidnext: int
    uidvalidity: int
    highestmodseq: int
    size: int = None        # computed only when asked
    recent: int = 0         # messages no session has taken as \\Recent yet


# creating


def create(store, name, uses=()):
    name = normalize(name)
    with locked_dir(store.root):
        _create(store, name, uses)


def _create(store, name, uses):
    path = store.path(name)
    if name == "INBOX" or path.exists():
        raise FolderExists(f"folder {name!r} already exists")
    aside = store.root / f"{_ASIDE[0]}{unique_base()}"
    make_maildir(aside, subfolder=True)
    try:
        if uses:
            _write_uses(aside, uses)
        os.rename(aside, path)
    except BaseException:
        shutil.rmtree(aside, ignore_errors=True)
        raise
    try:
        fsync_dir(store.root)
        with store.index.write() as txn:
            stale = txn.folder(name)
            if stale is not None:
                txn.drop_folder(stale)      # a crash kept it past its folder
            state, kept = store.new_folder_state(txn, name)
            sync(txn, state, path, force=True, kept_uids=kept)
            txn.put_folder(state)
    except BaseException:
        os.rename(path, aside)
        shutil.rmtree(aside, ignore_errors=True)
        raise
    _forget(store, name)


def _write_uses(path, uses):
    text = "".join(f"{use}\n" for use in SPECIAL_USES if use in uses)
    write_atomic(path / USE_FILE, text.encode("ascii"), mode=0o600)


# deleting


def delete(store, name):
    """Delete a folder and its messages; its subfolders stay (RFC 9051 6.3.5)."""
    name = normalize(name)
    if name == "INBOX":
        raise FolderError("INBOX cannot be deleted")
    with locked_dir(store.root):
        path = store.path(name)
        if not (path / "cur").is_dir():
            raise NoSuchFolder(f"no folder {name!r}")
        aside = store.root / f"{_ASIDE[1]}{unique_base()}"
        os.rename(path, aside)
        try:
            fsync_dir(store.root)
            with store.index.write() as txn:
                state = txn.folder(name)
                if state is not None:
                    txn.drop_folder(state)
        except BaseException:
            os.rename(aside, path)
            raise
        _forget(store, name)
    shutil.rmtree(aside, ignore_errors=True)


# renaming


def rename(store, old, new):
    """Rename a folder and its subfolders (RFC 9051 6.3.6); renaming INBOX moves
    its messages into a new folder and leaves INBOX empty, its subfolders alone."""
    old, new = normalize(old), normalize(new)
    if new == "INBOX" or new == old:
        raise FolderExists(f"folder {new!r} already exists")
    if old != "INBOX" and new.startswith(old + DELIMITER):
        raise FolderError(f"cannot rename {old!r} into itself")
    with locked_dir(store.root):
        if old == "INBOX":
            _rename_inbox(store, new)
        else:
            _rename_tree(store, old, new)


def _rename_tree(store, old, new):
    moves = [(name, new + name[len(old):]) for name in store.folders()
             if name == old or name.startswith(old + DELIMITER)]
    if not moves:
        raise NoSuchFolder(f"no folder {old!r}")
    for _, target in moves:
        if store.path(normalize(target)).exists():
            raise FolderExists(f"folder {target!r} already exists")
    done = []
    try:
        for source, target in moves:
            os.rename(store.path(source), store.path(target))
            done.append((source, target))
        fsync_dir(store.root)
        with store.index.write() as txn:
            for source, target in moves:
                _move_state(txn, source, target)
    except BaseException:
        for source, target in reversed(done):
            os.rename(store.path(target), store.path(source))
        raise
    for source, target in moves:
        _forget(store, source, target)


def _move_state(txn, source, target):
    stale = txn.folder(target)
    if stale is not None:
        txn.drop_folder(stale)
    state = txn.folder(source)
    if state is not None:
        txn.rename_folder(state, target)
    return state


def _rename_inbox(store, new):
    target = store.path(new)
    if target.exists():
        raise FolderExists(f"folder {new!r} already exists")
    store.folder("INBOX")           # indexed first: its UIDs go with its messages
    aside = store.root / f"{_ASIDE[2]}{unique_base()}"
    make_maildir(aside, subfolder=True)
    try:
        with store.index.write() as txn:
            _move_files(store.root, aside)
            os.rename(aside, target)
            fsync_dir(store.root)
            state = _move_state(txn, "INBOX", new)
            state.scan = {}         # its directories changed: look again
            txn.put_folder(state)
            txn.create_folder("INBOX")
    except BaseException:
        if target.exists() and not aside.exists():
            os.rename(target, aside)
        _move_files(aside, store.root)
        shutil.rmtree(aside, ignore_errors=True)
        raise
    _forget(store, "INBOX", new)


def _move_files(source, target):
    """Move every message file of source's new/ and cur/ to target's."""
    for sub in ("new", "cur"):
        for entry in os.listdir(source / sub):
            os.rename(source / sub / entry, target / sub / entry)
        fsync_dir(source / sub)
        fsync_dir(target / sub)


def _forget(store, *names):
    for name in names:
        store.snapshots.pop(name, None)
        store.sizes.pop(name, None)


# subscriptions and listing


def subscribe(store, name, subscribed=True):
    name = normalize(name)
    with locked_dir(store.root):
        subscriptions.change(store.root, [name], subscribed)


def subscribed(store):
    return subscriptions.read(store.root)


def listing(store):
    """Every folder with its special uses, INBOX first."""
    return [FolderInfo(name, () if name == "INBOX" else _read_uses(store.path(name)))
            for name in store.folders()]


def _read_uses(path):
    try:
        lines = (path / USE_FILE).read_text("ascii", "replace").split()
    except FileNotFoundError:
        return ()
    return tuple(use for use in SPECIAL_USES if use in lines)


# status


def status(folder, size=False):
    """The folder's FolderStatus from its state and slots (no per-message work),
    and its size from the records' sizes (kept until the folder changes); None if
    the folder was never indexed."""
    if not folder.indexed():
        return None
    state, slots = folder.slots()
    return FolderStatus(
        len(slots.uids), slots.unseen, slots.bits.translate(_COUNT_DELETED).count(1),
        state.uidnext, state.uidvalidity, state.highestmodseq,
        _size(folder, state) if size else None,
        len(slots.uids) - bisect.bisect_left(slots.uids, state.first_recent))


def _size(folder, state):
    stamp = (state.uidvalidity, state.highestmodseq)
    kept = folder.owner.sizes.get(folder.name)
    if kept is not None and kept[0] == stamp:
        return kept[1]
    with folder.index.read() as txn:
        total, unknown = txn.sizes(state.id)
    if unknown:
        # Other tools' files: their wire size is learnt (and kept) now.
        total += sum(r.wire for r in folder.records(unknown).values())
    folder.owner.sizes[folder.name] = (stamp, total)
    return total


# the special folders, and repair after a crash


def prepare(store):
    """At login: make the special folders if this mailbox never had them, and
    finish or undo work a crash left aside. Cheap when there is nothing to do:
    one listing of the root."""
    entries = os.listdir(store.root)
    leftovers = [e for e in entries if e.startswith(_ASIDE)]
    if not leftovers and PREPARED in entries:
        return
    with locked_dir(store.root):
        for entry in leftovers:
            _repair(store, store.root / entry)
        if not (store.root / PREPARED).exists():
            _make_special_folders(store)


def _repair(store, path):
    if path.name.startswith(_ASIDE[2]) and (path / "cur").is_dir():
        # An INBOX rename that never committed: its messages go back.
        _move_files(path, store.root)
    shutil.rmtree(path, ignore_errors=True)


def _make_special_folders(store):
    have = {use for info in listing(store) for use in info.uses}
    for use, name in SPECIAL_FOLDERS.items():
        if use in have:
            continue
        path = store.path(name)
        if (path / "cur").is_dir():
            _write_uses(path, set(_read_uses(path)) | {use})
        else:
            _create(store, name, (use,))
    subscriptions.change(store.root, ["INBOX", *SPECIAL_FOLDERS.values()], True)
    write_atomic(store.root / PREPARED, b"", mode=0o600)
