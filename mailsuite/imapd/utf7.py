"""Modified UTF-7 for mailbox names (RFC 3501 5.1.3).

IMAP4rev1 clients send and expect non-ASCII mailbox names in this encoding: printable
ASCII stands for itself ("&" is "&-"), anything else is UTF-16BE in base64 with ","
for "/", between "&" and "-". The store names folders in Unicode.
"""

import base64
import re

from .errors import No

_SHIFTED = re.compile(r"&([A-Za-z0-9+,]*)-")
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


def encode(name):
    return _UNPRINTABLE.sub(lambda m: "&" + _b64(m.group(0)) + "-",
                            name.replace("&", "&-"))


def _b64(text):
    data = base64.b64encode(text.encode("utf-16-be")).decode("ascii")
    return data.rstrip("=").replace("/", ",")


def decode(name):
    """The Unicode name. A malformed shift sequence is a well-formed mailbox
    argument that names no mailbox the server could have: NO, as Dovecot
    answers, not BAD (RFC 9051 6.3: the command was understood)."""
    def shifted(match):
        data = match.group(1)
        if not data:
            return "&"
        padded = data.replace(",", "/") + "=" * (-len(data) % 4)
        try:
            return base64.b64decode(padded, validate=True).decode("utf-16-be")
        except ValueError:
            raise No(f"invalid modified UTF-7 in mailbox name {name}") from None
    decoded = _SHIFTED.sub(shifted, name)
    if "&" in _SHIFTED.sub("", name):
        raise No(f"invalid modified UTF-7 in mailbox name {name}")
    return decoded
