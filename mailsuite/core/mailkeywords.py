"""Each folder's keywords: every keyword a message of the folder has been given,
in the order they were first used, which IMAP announces in FLAGS and
PERMANENTFLAGS at SELECT and again when a new one is used (RFC 3501 7.2.6).

The index keeps one value per folder in its `meta` table (`keywords:` and the
folder id: the keywords, UTF-8, separated by spaces, which no keyword holds),
added to in the transaction of the change that first uses a keyword, so that a
session learns a folder's keywords with one read, never a look at each message.
The list never shrinks: a client that was told of a keyword may go on using it
(Dovecot keeps its keyword list the same way). It holds at most MAX_KEYWORDS, so
that FLAGS stays one line of bounded length; a change that would pass that is
refused (TooManyKeywords) and, its transaction aborted, changes nothing.

    class KeywordTable                   # core.mailindex's, per transaction
    keywords_in(flags) -> [keyword]      # the flags that are not system flags
"""

import struct

_U32 = struct.Struct(">I")
PREFIX = b"keywords:"
MAX_KEYWORDS = 200


class TooManyKeywords(Exception):
    """A folder's keyword list is full; the message says how full."""


def keywords_in(flags):
    """The keywords among `flags` (RFC 9051 2.3.2: a flag without a backslash),
    sorted, as they are announced once new."""
    return sorted(flag for flag in flags if not flag.startswith("\\"))


class KeywordTable:
    """The folders' keyword lists within one LMDB transaction."""

    def __init__(self, txn, db):
        self._txn = txn
        self._db = db
        self._known = {}            # folder id -> its list, as read or written

    def _key(self, folder_id):
        return PREFIX + _U32.pack(folder_id)

    def get(self, folder_id):
        """The folder's keywords, in the order they were first used."""
        known = self._known.get(folder_id)
        if known is None:
            raw = self._txn.get(self._key(folder_id), db=self._db)
            known = raw.decode().split(" ") if raw else []
            self._known[folder_id] = known
        return known

    def note(self, folder_id, flags):
        """Add the keywords of `flags` the folder has not seen yet."""
        known = self.get(folder_id)
        fresh = [k for k in keywords_in(flags) if k not in known]
        if not fresh:
            return
        if len(known) + len(fresh) > MAX_KEYWORDS:
            raise TooManyKeywords(f"a folder holds at most {MAX_KEYWORDS} keywords")
        known.extend(fresh)
        self._txn.put(self._key(folder_id), " ".join(known).encode(), db=self._db)

    def forget(self, folder_id):
        self._txn.delete(self._key(folder_id), db=self._db)
        self._known.pop(folder_id, None)
