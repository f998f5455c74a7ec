"""Crash-safe file writes outside LMDB: temp file in the same directory, fsync,
rename, fsync the directory. A reader sees the old file or the new one, never a
part of either. And a lock on a directory, for changes made of several steps."""

import contextlib
import fcntl
import os
from pathlib import Path


def write_atomic(path, data, mode=0o644, gid=None):
    """Replace `path` by `data`. The new file has its mode (and group) before it
    gets its name, so a key is never readable by others, not even briefly."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        if gid is not None:
            os.fchown(fd, -1, gid)
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path):
    """Make the entries of directory `path` (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked_dir(path):
    """Hold an exclusive lock on directory `path` (flock): it serializes every
    holder, in this process (each call opens its own descriptor) and in others.
    Not reentrant: a holder must not ask again."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
