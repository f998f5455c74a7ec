"""The selected mailbox's keywords, as a session tells its client of them.

SELECT and EXAMINE list the flags of the mailbox in FLAGS and those the client
may set in PERMANENTFLAGS (RFC 3501 7.2.6 and 7.1): the system flags, then every
keyword the folder's messages were given (core.mailkeywords), and `\\*` while new
keywords can still be made. When a keyword new to the session appears (this
session or another one set it with STORE, APPEND or COPY), the client is sent
the two again before it hears of a message that has it, as Dovecot does: a
client keeps its list of the mailbox's flags from the last FLAGS it got. The
session's list, `view.keywords`, only grows while the mailbox is selected.
"""

from ..core.mailkeywords import MAX_KEYWORDS, keywords_in

SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")


def flags_response(view):
    """FLAGS: the system flags and the view's keywords (RFC 3501 7.2.6)."""
    return f"FLAGS ({' '.join(SYSTEM_FLAGS + tuple(view.keywords))})"


def permanent_response(view):
    """PERMANENTFLAGS (RFC 3501 7.1): none in a read-only view; `\\*` while
    the folder can take new keywords."""
    if view.readonly:
        return "OK [PERMANENTFLAGS ()] no permanent flags permitted"
    flags = list(SYSTEM_FLAGS) + view.keywords
    if len(view.keywords) < MAX_KEYWORDS:
        flags.append("\\*")
    return f"OK [PERMANENTFLAGS ({' '.join(flags)})] flags that can be changed"


def announce(s, view):
    s.untagged(flags_response(view))
    s.untagged(permanent_response(view))


async def announce_new(s, records=(), arrived=False):
    """Tell the client of the keywords it has not heard of yet: those of
    `records`, or any the folder gained, if messages `arrived`."""
    view = s.selected
    if not arrived and all(keyword in view.keywords for record in records
                           for keyword in keywords_in(record.flags)):
        return
    keywords = await s.mail.call(view.folder.keywords)
    fresh = [keyword for keyword in keywords if keyword not in view.keywords]
    if fresh:
        view.keywords = view.keywords + fresh
        announce(s, view)
