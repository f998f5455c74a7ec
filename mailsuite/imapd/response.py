"""Formatting the data in server responses (RFC 9051 4 and 7; RFC 3501 the same).

Mailbox names go out quoted (they are ASCII once in modified UTF-7); message data
always goes out as a literal, byte for byte.
"""

import time

# A verb returns this when it has written its own tagged answer (STARTTLS).
ANSWERED = object()

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SYSTEM_ORDER = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")


def literal(data):
    """RFC 9051 4.3: {n} CRLF followed by n octets."""
    return b"{%d}\r\n" % len(data) + bytes(data)


def quoted(text):
    """A quoted string (RFC 9051 4.3) for text known to be printable ASCII."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def flags(values):
    """`(\\Seen $Label)`: system flags first, in the RFC's order, then keywords."""
    ordered = [f for f in _SYSTEM_ORDER if f in values]
    ordered += sorted(f for f in values if f not in _SYSTEM_ORDER)
    return "(" + " ".join(ordered) + ")"


def internaldate(epoch):
    """RFC 9051 9 date-time, in UTC: "17-Jul-1996 09:44:25 +0000"."""
    t = time.gmtime(epoch)
    return (f'"{t.tm_mday:2d}-{_MONTHS[t.tm_mon - 1]}-{t.tm_year:04d} '
            f'{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"')


def status(tag, kind, text, code=None):
    """One status line, `tag OK [CODE] text` (RFC 9051 7.1)."""
    code = f"[{code}] " if code else ""
    return f"{tag} {kind} {code}{text}\r\n".encode("utf-8")
