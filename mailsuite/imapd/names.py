"""Mailbox names as a session reads and writes them: in modified UTF-7 for an
IMAP4rev1 client (RFC 3501 5.1.3), in UTF-8 for one that has enabled UTF8=ACCEPT
(RFC 6855 3) or IMAP4rev2 (RFC 9051 5.1). The store names folders in Unicode.
"""

from .parser import mailbox
from .response import quoted
from .utf7 import decode as utf7_decode, encode as utf7_encode

UTF8_EXTENSIONS = frozenset({"UTF8=ACCEPT", "IMAP4rev2"})


def utf8(s):
    """True if the session speaks UTF-8 in names and quoted strings."""
    return not UTF8_EXTENSIONS.isdisjoint(s.enabled)


def decode(s, token):
    """The folder name a command's argument names (parser.mailbox's rules)."""
    name = mailbox(token)
    return name if utf8(s) else utf7_decode(name)


def encode(s, name):
    """The folder name as a quoted string for a response; a character that is
    not printable goes out as "?" (response.text), only in a UTF-8 session."""
    return quoted(name if utf8(s) else utf7_encode(name))
