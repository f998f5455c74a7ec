"""What the disk-full tests share: a small file system, a tmpfs mounted (as root)
where an instance keeps its state, with a filler file that takes every free block
of it; and snapshots of a mailbox to compare before and after.

    fs = SmallFS(instance.state)        # mounts; the state dir must not exist yet
    fs.fill()                           # the disk is full: statvfs says 0 blocks
    fs.free()                           # the filler is gone: space is back
    fs.close()                          # unmounts

LMDB's map sizes are address space only: without MDB_WRITEMAP its data files are
written with pwrite and grow as they are used, so a map of gigabytes fits on a
tmpfs of a few megabytes, and a write that finds no room fails with ENOSPC (never
a SIGBUS, which writing a mapped file could cause).
"""

import errno
import os
import re
import subprocess

SIZE = "8m"
_CHUNK = 1 << 20


class SmallFS:
    def __init__(self, path, size=SIZE):
        self.path = path
        self.filler = path / "filler"
        path.mkdir(parents=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755",
                        "tmpfs", os.fspath(path)], check=True, capture_output=True)

    def free_blocks(self):
        return os.statvfs(self.path).f_bavail

    def fill(self):
        """Write the filler until the file system refuses a single byte more."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            chunk = _CHUNK
            while chunk:
                try:
                    os.write(fd, b"\0" * chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    chunk //= 2
        finally:
            os.close(fd)
        assert self.free_blocks() == 0, "the file system is not full"

    def free(self):
        self.filler.unlink()

    def close(self):
        """Unmount; lazily if something still holds a file open, so that a
        failed test never leaves a mount behind."""
        done = subprocess.run(["umount", os.fspath(self.path)], capture_output=True)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", os.fspath(self.path)], check=True,
                           capture_output=True)


def mailbox_files(instance, address):
    """The names of the message files in the INBOX's new/ and cur/, which carry
    the flags (":2,S" and so on)."""
    return sorted(f"{p.parent.name}/{p.name}" for p in instance.inbox_files(address))


_UID = re.compile(rb"\bUID (\d+)")
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")


def imap_flags(client):
    """{uid: sorted flags} of every message of the selected mailbox, as a RawImap
    client FETCHes them."""
    tagged, untagged = client.command("UID FETCH 1:* (FLAGS)", "flags")
    assert tagged.startswith(b"flags OK"), tagged
    found = {}
    for line in untagged:
        uid, flags = _UID.search(line), _FLAGS.search(line)
        assert uid and flags, line
        found[int(uid.group(1))] = sorted(flags.group(1).decode().split())
    return found
