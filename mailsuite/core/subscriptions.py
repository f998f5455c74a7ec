"""A user's subscribed folder names (RFC 9051 6.3.7, 6.3.8): the `subscriptions`
file at the Maildir's root, in Dovecot's format, so that a Maildir moved between
the two keeps them.

Dovecot's version 2 file is the line "V<TAB>2", an empty line, then one name per
line, its levels separated by TAB and written as on disk (core.mailnames: "." and
"\\" escaped), with TAB, CR, LF and \\001 escaped as \\001 followed by "t", "r",
"n" or "1". We write that; we also read Dovecot's older version 1, plain names with
"." between levels. A name is subscribed whether or not a folder has it (RFC 9051
6.3.7: a subscription outlives its folder).

Failure policy: the file is replaced atomically (core.files.write_atomic); a line
that is not a valid name is skipped when read, and dropped at the next write. The
callers hold the Maildir's lock (core.files.locked_dir) while they change it.
"""

from . import mailnames
from .files import write_atomic
from .mailfolder import FolderError

FILE = "subscriptions"
HEADER = "V\t2\n\n"
_TAB_ESCAPES = {"\x01": "\x011", "\t": "\x01t", "\r": "\x01r", "\n": "\x01n"}
_TAB_UNESCAPES = {"1": "\x01", "t": "\t", "r": "\r", "n": "\n"}


def read(root):
    """The subscribed names, in the file's order, each once."""
    try:
        data = (root / FILE).read_bytes()
    except FileNotFoundError:
        return []
    version2 = data.startswith(HEADER.encode())
    lines = data[len(HEADER):] if version2 else data
    names = {}
    for line in lines.split(b"\n"):
        name = _parse(line, "\t" if version2 else ".")
        if name is not None:
            names.setdefault(name)
    return list(names)


def _parse(raw, separator):
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # Older writers ended a name with its separator (a level to come).
    line = line.removesuffix(separator)
    if not line:
        return None
    levels = line.split(separator)
    if separator == "\t":
        levels = [_tab_unescape(level) for level in levels]
    try:
        return mailnames.normalize(mailnames.DELIMITER.join(
            mailnames.unescape(level) for level in levels))
    except FolderError:
        return None


def change(root, names, subscribed):
    """Subscribe (or unsubscribe) the canonical `names`; True if the file changed."""
    current = read(root)
    if subscribed:
        updated = current + [n for n in names if n not in current]
    else:
        updated = [n for n in current if n not in names]
    if updated == current:
        return False
    lines = [_line(name) for name in updated]
    write_atomic(root / FILE, (HEADER + "".join(lines)).encode("utf-8"), mode=0o600)
    return True


def _line(name):
    levels = mailnames.disk_levels(name.split(mailnames.DELIMITER))
    return "\t".join(_tab_escape(level) for level in levels) + "\n"


def _tab_escape(text):
    return "".join(_TAB_ESCAPES.get(c, c) for c in text)


def _tab_unescape(text):
    out, chars = [], iter(text)
    for c in chars:
        out.append(_TAB_UNESCAPES.get(next(chars, ""), "") if c == "\x01" else c)
    return "".join(out)
