"""A message on its way into a folder (core.maildir's Store.add).

    Message(data, flags=(), internaldate=None, base=None)
        # data: bytes; a path or binary file (copied in chunks); or an Incoming
    incoming = Incoming(folder_path)       # IMAP APPEND's big literals
    incoming.write(piece) ...; incoming.close()
    Store.add([Message(incoming, ...)])    # the file is renamed into place
    incoming.discard()                     # harmless once added

An Incoming is a file in a folder's tmp/, written as the client's bytes arrive, so
that a large message is never whole in memory; Store.add renames it into place
rather than copying it. Its line ends are made CRLF on the way (RFC 9051 2.2: IMAP
messages have them; a bare LF would have to be counted and converted on every read),
unless it is `raw`: the octets of a binary literal (RFC 3516), which imapd reads
back to store its binary parts base64-encoded, then discards.

Failure policy: a file that is not added is removed by discard(); one left by a
crash is removed with the rest of tmp/ after 36 hours (core.mailscan).
"""

import os
from dataclasses import dataclass

from .mailscan import unique_base, unlink


@dataclass(frozen=True)
class Message:
    """A message to add: its data, flags, internal date (None: now) and Maildir
    base name (None: a new one, or the Incoming's)."""
    data: object
    flags: frozenset = frozenset()
    internaldate: float = None
    base: str = None

    def named(self):
        """This message with its base name chosen."""
        if self.base is not None:
            return self
        base = self.data.base if isinstance(self.data, Incoming) else unique_base()
        return Message(self.data, self.flags, self.internaldate, base)


class Incoming:
    """A message being received into `folder_path`/tmp/, piece by piece."""

    def __init__(self, folder_path, raw=False):
        self.base = unique_base()
        self.raw = raw
        self.tmp = folder_path / "tmp" / f"{self.base}.{os.getpid()}"
        self._fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                           0o600)
        self.size = 0
        self._cr = False            # the last piece ended with CR

    def write(self, piece):
        if b"\n" in piece and not self.raw:
            fixed = piece.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            if self._cr and piece[:1] == b"\n":
                fixed = fixed[1:]   # its CR came at the end of the last piece
            piece = fixed
        view = memoryview(piece)
        while view:
            view = view[os.write(self._fd, view):]
        self.size += len(piece)
        self._cr = piece[-1:] == b"\r" or (self._cr and not piece)

    def close(self):
        """Stop writing: the file is whole (a command may hold many at once)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def finish(self, internaldate=None):
        """Make the file durable, its mtime the internal date if one is given (so
        that an index rebuilt from the files finds it again); (path, size)."""
        self.close()
        fd = os.open(self.tmp, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if internaldate is not None:
                ns = int(internaldate * 1e9)
                os.utime(fd, ns=(ns, ns))
            os.fsync(fd)
        finally:
            os.close(fd)
        return self.tmp, self.size

    def discard(self):
        """Remove the file, unless Store.add took it."""
        self.close()
        unlink(self.tmp)
