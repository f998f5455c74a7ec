"""The maildrop a POP3 session sees, and the store work on it.

A session sees its INBOX as it was when it logged in: the UIDs and sizes are
taken once, from one snapshot of the index (Folder.wire_sizes, which reads the
packed records without decoding them), and never read again. Messages that
arrive meanwhile show at the next session, and a message another client
expunges meanwhile keeps its number and is answered `-ERR` when asked for (RFC 1939 4: messages are numbered from 1 when the
maildrop is opened, and keep their numbers for the session).

Sizes are the messages' wire sizes: every line end CRLF, as the data is sent,
without the dot-stuffing (RFC 1939 11), so a file another tool wrote with bare LF
counts what the client receives. The unique-id listing (RFC 1939 7, UIDL) is the
message's IMAP UID and its folder's UIDVALIDITY as eight upper-case hex digits
each, `%08X%08X` (Dovecot's default `pop3_uidl_format`, %08Xu%08Xv): the same
message keeps it for ever, flag changes and IMAP sessions do not touch it, and a
Maildir moved from Dovecot, whose UIDs the index keeps, keeps its UIDLs, so a mail
fetcher does not fetch it all again. Only an index rebuilt from scratch (new
UIDVALIDITY) gives new ones.

Everything here but the Maildrop's bookkeeping blocks on the disk: for the mailbox
service's threads (core.mailservice), never the event loop.
"""

import array
from dataclasses import dataclass, field

from .headers import ReadAhead
from .replies import Bad, Err, stuffed

MAX_NUMBER = 10         # digits of a message number or a line count


@dataclass
class Maildrop:
    folder: object              # core.mailfolder.Folder: the INBOX
    uidvalidity: int
    uids: array.array           # by message number - 1
    sizes: array.array          # wire sizes, likewise
    deleted: set = field(default_factory=set)   # numbers marked by DELE
    ahead: ReadAhead = field(default_factory=ReadAhead)    # for TOP n 0

    def __len__(self):
        return len(self.uids)

    def number(self, text):
        """The message number `text` names, checked: it exists and is not
        marked deleted (RFC 1939 5)."""
        if not (text.isascii() and text.isdigit()) or len(text) > MAX_NUMBER:
            raise Bad(f"not a message number: {text[:20]}")
        number = int(text)
        if not 1 <= number <= len(self.uids):
            raise Err("no such message")
        if number in self.deleted:
            raise Err(f"message {number} already deleted")
        return number

    def uid(self, number):
        return self.uids[number - 1]

    def size(self, number):
        return self.sizes[number - 1]

    def unique_id(self, number):
        return f"{self.uids[number - 1]:08X}{self.uidvalidity:08X}"

    def listing(self):
        """LIST's lines for every message not marked deleted."""
        deleted = self.deleted
        return [f"{n} {size}" for n, size in enumerate(self.sizes, 1)
                if n not in deleted]

    def unique_ids(self):
        """UIDL's lines for every message not marked deleted."""
        deleted, validity = self.deleted, f"{self.uidvalidity:08X}"
        return [f"{n} {uid:08X}{validity}" for n, uid in enumerate(self.uids, 1)
                if n not in deleted]

    def stat(self):
        """(messages, octets), those marked deleted left out (RFC 1939 5 STAT)."""
        octets = sum(self.sizes) - sum(self.sizes[n - 1] for n in self.deleted)
        return len(self.uids) - len(self.deleted), octets

    def marked(self):
        """The UIDs of the messages marked deleted."""
        return sorted(self.uids[n - 1] for n in self.deleted)


class NotIndexed(Exception):
    """The INBOX was never indexed: the mailbox service must index it first."""

    def __init__(self, folder):
        super().__init__(folder.name)
        self.folder = folder


def snapshot(store):
    """(Maildrop of the INBOX, stale): `stale` says other Maildir tools may have
    changed it since its last scan. Raises NotIndexed."""
    folder = store.folder("INBOX", build=False)
    if not folder.indexed():
        raise NotIndexed(folder)
    state, uids, sizes = folder.wire_sizes()
    return Maildrop(folder, state.uidvalidity, uids, sizes), folder.needs_scan()


def retrieve(folder, uid):
    """The whole message, stuffed (RETR)."""
    return stuffed(folder.read(folder.record(uid)))


def top(folder, uid, lines):
    """The header, the blank line and the first `lines` lines of the body,
    stuffed (RFC 1939 7, TOP). The header's length is known to the index
    (core.msginfo), so `TOP n 0` reads only the header from the file (the
    session reads those through pop3.headers)."""
    record = folder.record(uid)
    header = folder.message_info(record)["header"]
    if lines == 0:
        return stuffed(folder.read(record, header))
    want = header + 4096
    while True:
        data = folder.read(record, want)
        cut = _after_lines(data, header, lines)
        if cut is not None:
            return stuffed(data[:cut])
        if len(data) < want:
            return stuffed(data)        # the body has fewer lines: all of it
        want *= 4


def _after_lines(data, start, lines):
    """The offset just past the `lines`-th line end after `start`, or None if
    `data` has fewer."""
    parts = data[start:].split(b"\r\n", lines)
    if len(parts) <= lines:
        return None
    return len(data) - len(parts[-1])
