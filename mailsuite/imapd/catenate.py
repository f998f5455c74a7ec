"""APPEND's CATENATE (RFC 4469): a message made of TEXT literals and of URLs that
name messages, or sections of them, in the user's own mailboxes (RFC 5092 IMAP
URLs, in the relative form "/INBOX;UIDVALIDITY=7/;UID=3/;SECTION=HEADER" or with
an "imap://" authority naming this user).

    parse(tokens, literals) -> Catenation    # the list after CATENATE; Bad if not
    Catenation.assemble(store, user, target, most) -> core.maildir Incoming

The message is assembled in the mailbox service's threads, straight into a file
in the target folder's tmp/ (core.maildir Incoming), a part at a time, so that it
is never whole in memory. A URL that cannot be resolved (a bad form, another
user, a mailbox or UID that does not exist, a UIDVALIDITY that is not the
mailbox's, URLAUTH) refuses the whole command with NO [BADURL url] (RFC 4469 4.1);
a message past the APPENDLIMIT with NO [TOOBIG] (RFC 4469 4.2, RFC 7889). A URL
fetch is a BODY.PEEK: it sets no flag (RFC 4469 3).
"""

import re
import urllib.parse
from dataclasses import dataclass
from typing import NamedTuple

from ..core import maildir
from . import section
from .errors import Bad, No
from .parser import Atom, String

_CHUNK = 1 << 20
_URL_IN_CODE = 200          # characters of a URL repeated in [BADURL ...]
# RFC 4469 5, with its errata: url-resp-text is any TEXT-CHAR (no CR, LF or NUL)
# but "]".
_NOT_IN_CODE = re.compile(r"[\]\r\n\0]")
# RFC 5092 6: iserver, then imessagepart. Parameter names are case-insensitive.
_AUTHORITY = re.compile(r"(?i)imap://(?:([^@/;]*)(?:;AUTH=[^@/]*)?@)?[^/]*(?=/)")
_MESSAGE = re.compile(
    r"(?i)/(?P<mailbox>[^;/?]+)(?:;UIDVALIDITY=(?P<uidvalidity>[1-9]\d{0,9}))?"
    r"/;UID=(?P<uid>[1-9]\d{0,9})(?:/;SECTION=(?P<section>[^/;]*))?"
    r"(?:/;PARTIAL=(?P<start>\d{1,10})(?:\.(?P<length>[1-9]\d{0,9}))?)?")


class Text(NamedTuple):
    """A TEXT part: a Literal, or a big one's append.Upload."""
    data: object


class Url(NamedTuple):
    url: str


class BadUrl(Exception):
    """RFC 4469 4.1: a URL part that cannot be resolved; `url` is as it came."""

    def __init__(self, url):
        super().__init__(url)
        self.url = url


class TooBig(Exception):
    """The assembled message is past the APPENDLIMIT."""


def parse(tokens, literals):
    """The cat-parts (RFC 4469 5: "TEXT" SP literal / "URL" SP astring); a
    literal is one of the types `literals` (a big one has been streamed)."""
    if not isinstance(tokens, list) or not tokens or len(tokens) % 2:
        raise Bad("expected CATENATE (TEXT literal / URL url ...)")
    parts = []
    for kind, value in zip(tokens[::2], tokens[1::2]):
        kind = kind.upper() if isinstance(kind, Atom) else None
        if kind == "TEXT" and isinstance(value, literals):
            parts.append(Text(value))
        elif kind == "URL" and isinstance(value, (String, Atom)):
            url = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            parts.append(Url(str(url)))
        else:
            raise Bad("expected TEXT literal or URL url in CATENATE")
    return Catenation(parts)


@dataclass(frozen=True)
class Catenation:
    parts: list

    def known_size(self):
        """The octets of its TEXT parts, known before any URL is resolved."""
        return sum(len(p.data) if isinstance(p.data, bytes) else p.data.size
                   for p in self.parts if isinstance(p, Text))

    def assemble(self, store, user, target, most):
        """In a thread: the message, written into an Incoming of `target`."""
        incoming = store.incoming(target)
        try:
            for part in self.parts:
                for piece in _pieces(store, user, part):
                    incoming.write(piece)
                    if incoming.size > most:
                        raise TooBig(f"message over {most} octets")
            incoming.close()
        except BaseException:
            incoming.discard()
            raise
        return incoming


def _pieces(store, user, part):
    """The octets of one part, in pieces."""
    if isinstance(part, Url):
        yield resolve(store, user, part.url)
    elif isinstance(part.data, bytes):
        yield bytes(part.data)
    else:
        with open(part.data.incoming.tmp, "rb") as f:
            while piece := f.read(_CHUNK):
                yield piece


class Target(NamedTuple):
    """What an IMAP URL names (RFC 5092 6)."""
    mailbox: str
    uidvalidity: int        # 0: not given
    uid: int
    section: section.Section
    partial: tuple          # (start, length or None), or None


def parse_url(url, user):
    """The Target of an IMAP URL of this user's; BadUrl if it is not one."""
    rest = url
    authority = _AUTHORITY.match(url)
    if authority:
        # RFC 4469 3: only this server's mail, and the user's own.
        owner = urllib.parse.unquote(authority.group(1) or user)
        if owner.lower() != user.lower():
            raise BadUrl(url)
        rest = url[authority.end():]
    found = _MESSAGE.fullmatch(rest)
    if found is None:
        raise BadUrl(url)
    try:
        text = urllib.parse.unquote(found["section"] or "", errors="strict")
        chosen = section.parse(text)
        mailbox = urllib.parse.unquote(found["mailbox"], errors="strict")
    except (Bad, UnicodeDecodeError):
        raise BadUrl(url) from None
    partial = None
    if found["start"] is not None:
        length = int(found["length"]) if found["length"] else None
        partial = (int(found["start"]), length)
    return Target(mailbox, int(found["uidvalidity"] or 0), int(found["uid"]),
                  chosen, partial)


def resolve(store, user, url):
    """In a thread: the octets a URL names, as BODY.PEEK[section]<partial>."""
    target = parse_url(url, user)
    try:
        folder = store.folder(target.mailbox, build=False)
        if target.uidvalidity and folder.state().uidvalidity != target.uidvalidity:
            raise BadUrl(url)
        record = folder.record(target.uid)
        info = folder.message_info(record, structure=bool(target.section.part))
        data = folder.read(record, section.extent(info, target.section))
    except (maildir.FolderError, maildir.NoSuchMessage):
        raise BadUrl(url) from None
    data = section.body_bytes(data, info, target.section)
    if target.partial is not None:
        start, length = target.partial
        data = data[start:] if length is None else data[start:start + length]
    return data


def refused(exc):
    """The NO answer of a failed assembly."""
    if isinstance(exc, BadUrl):
        url = _NOT_IN_CODE.sub("", exc.url)[:_URL_IN_CODE]
        return No("invalid URL in CATENATE", f"BADURL {url}")
    return No(str(exc), "TOOBIG")
