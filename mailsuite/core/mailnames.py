"""Folder names, and the Maildir++ directories that hold them.

A folder's name is Unicode, its levels joined by "/" ("Archive/2024"); INBOX is the
Maildir's root and any other folder is one directory below it, "." followed by the
levels joined by "." (`.Archive.2024`). So a level cannot hold "." as it is: "." and
the escape character "\\" are written as "\\2e" and "\\5c" on disk, the way
Dovecot's listescape plugin writes them (with a "~" that begins a name, "\\7e"), so
that "v1.2" is `.v1\\2e2` and a Maildir moved between the two keeps its names
(docs/decisions/0008). A directory name that is not the one we would write for its
folder (other escapes, ".inbox.x") is not taken for a folder: one name, one place.

What a name can never do is leave the user's directory: "/" only separates levels,
a level is never empty (no "/etc", "a//b" or "a/"), "." and ".." are escaped like
any other ".", control characters (NUL included) are refused, and the directory's
name is one file name of at most NAME_MAX (255) bytes, checked before anything
touches the file system.
"""

import re

from .mailfolder import FolderError

DELIMITER = "/"
ESCAPE = "\\"
NAME_MAX = 255          # bytes of one file name on Linux file systems
# Every directory of ours that is not a folder begins with this (never with "."),
# so that nothing listing folders ever takes it for one.
PRIVATE = "mailsuite."

_ESCAPED = re.compile(r"\\([0-9a-fA-F]{2})")


def normalize(name):
    """The canonical name ("inbox/x" -> "INBOX/x"); raises FolderError."""
    if not isinstance(name, str) or not name:
        raise FolderError("folder name is empty")
    levels = name.split(DELIMITER)
    if levels[0].upper() == "INBOX":
        levels[0] = "INBOX"
    # Checked first, so that no message below repeats an over-long name.
    size = _disk_size(levels)
    if size > NAME_MAX:
        raise FolderError(f"folder name too long: {size} bytes on disk, "
                          f"at most {NAME_MAX}")
    for level in levels:
        if not level:
            raise FolderError(f"folder name {_shown(name)} has an empty level")
        if any(ord(c) < 32 or ord(c) == 127 for c in level):
            raise FolderError(f"folder name {_shown(name)} has a control character")
    return DELIMITER.join(levels)


def _disk_size(levels):
    try:
        return len(directory_of(levels).encode("utf-8"))
    except UnicodeEncodeError:
        # A lone surrogate: no file name can hold it, and no client can read it.
        raise FolderError("folder name is not valid Unicode") from None


def _shown(name):
    return repr(name if len(name) <= 60 else name[:57] + "...")


def directory(name):
    """The directory name, below the Maildir's root, of the folder with this
    canonical name (not INBOX, which is the root itself)."""
    return directory_of(name.split(DELIMITER))


def directory_of(levels):
    return "." + ".".join(disk_levels(levels))


def disk_levels(levels):
    """The levels of a name as they are written on disk."""
    disk = [escape(level) for level in levels]
    if disk and disk[0].startswith("~"):
        disk[0] = ESCAPE + "7e" + disk[0][1:]
    return disk


def escape(level):
    return level.replace(ESCAPE, ESCAPE + "5c").replace(".", ESCAPE + "2e")


def unescape(level):
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16))
                        if int(m.group(1), 16) < 0x80 else m.group(0), level)


def folder_of(entry):
    """The folder name a directory name in the root stands for, or None if it
    stands for none (not a folder's, not UTF-8, or a name we would refuse)."""
    if not entry.startswith(".") or entry in (".", ".."):
        return None
    try:
        entry.encode("utf-8")
    except UnicodeEncodeError:
        return None             # bytes that are not UTF-8, kept by surrogateescape
    levels = [unescape(level) for level in entry[1:].split(".")]
    if any(DELIMITER in level for level in levels):
        return None
    try:
        name = normalize(DELIMITER.join(levels))
    except FolderError:
        return None
    return name if name != "INBOX" and directory(name) == entry else None


def parent_names(name):
    """"A/B/C" -> ["A", "A/B"]."""
    levels = name.split(DELIMITER)
    return [DELIMITER.join(levels[:n]) for n in range(1, len(levels))]
