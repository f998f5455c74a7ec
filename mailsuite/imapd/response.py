"""Formatting the data in server responses (RFC 9051 4 and 7; RFC 3501 the same).

Mailbox names go out quoted (they are ASCII once in modified UTF-7); message data
always goes out as a literal, byte for byte. Every line of text, status responses
and untagged ones, goes through `text()`, so that nothing a client sent can come
back raw: a quoted name with CR LF would forge responses, and a text ending in
"{3}" would make the client read the next response as a literal.
"""

import re
import time

# A verb returns this when it has written its own tagged answer (STARTTLS).
ANSWERED = object()
MAX_TEXT = 200              # characters of text in a status response
MAX_UNTAGGED = 64 * 1024    # characters of an untagged response line

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SYSTEM_ORDER = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft",
                 "\\Recent")
_NOT_TEXT = re.compile(r"[^\x20-\x7e]")


def literal(data):
    """RFC 9051 4.3: {n} CRLF followed by n octets."""
    return b"{%d}\r\n" % len(data) + bytes(data)


def quoted(text):
    """A quoted string (RFC 9051 4.3) for text known to be printable ASCII."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sequence(numbers):
    """RFC 9051 9 sequence-set of ascending numbers, runs as ranges: "1:3,7"."""
    runs = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in runs)


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


def text(value, limit=MAX_TEXT, utf8=False):
    """`value` as text that is safe to send (RFC 9051 9: TEXT-CHAR is any 7-bit
    character but CR and LF): anything but printable ASCII becomes "?", more
    than `limit` characters are cut (marked "..."), and a final "}" gets a "."
    after it, since a line ending in "{n}" announces a literal (RFC 9051 4.3).
    With `utf8` (a session that enabled UTF-8, RFC 6855 3), printable non-ASCII
    characters are kept."""
    if utf8:
        value = "".join(c if c.isprintable() else "?" for c in str(value))
    else:
        value = _NOT_TEXT.sub("?", str(value))
    if len(value) > limit:
        value = value[:limit - 3] + "..."
    return value + "." if value.endswith("}") else value


def status(tag, kind, message, code=None):
    """One status line, `tag OK [CODE] text` (RFC 9051 7.1). `tag` is "*" or a
    tag as the parser read it (tag characters only); `message` may hold client
    input: it goes through text()."""
    code = f"[{code}] " if code else ""
    return f"{tag} {kind} {code}{text(message) or '(no text)'}\r\n".encode("ascii")


def completed(tag, message):
    """A verb's tagged OK. A response code the verb put first, "[CODE ...] text",
    is the server's own and goes out whole: CAPABILITY after LOGIN (RFC 9051
    7.1) or COPYUID of many messages (RFC 4315 3) is longer than a status text
    may be, and a code cut short is one no client can parse."""
    code, rest = None, message
    if message.startswith("[") and "] " in message:
        code, _, rest = message[1:].partition("] ")
        code = text(code, MAX_UNTAGGED)
    return status(tag, "OK", rest, code)


def untagged(line, utf8=False):
    """One untagged response, `* line` (RFC 9051 7), through text()."""
    return b"* " + text(line, MAX_UNTAGGED, utf8).encode("utf-8") + b"\r\n"
