"""APPEND (RFC 9051 6.3.12), with MULTIAPPEND (RFC 3502), APPENDUID (RFC 4315 3) and
APPENDLIMIT (RFC 7889).

A message's literal is announced before it is sent, and read_command (parser.py)
asks this module's `receiver` about every synchronizing literal of a logged-in
session before it answers "+": an APPEND over the size limit, into a mailbox that
does not exist, or past the account's quota is refused then, before a byte of the
message is sent. A message literal too big to keep in memory (IN_MEMORY) goes into
a file in the folder's tmp/ as its pieces arrive (core.maildir Incoming, written in
the mailbox service's threads), and the store renames that file into place: a
message of any size costs the session a piece of the stream, never the message.

A message's binary parts (RFC 3516 4.4) are stored base64-encoded (binarymime):
a big binary literal (literal8) is written to its file as it came, then read
back into another file, the one stored.

All the messages of one command are added in one index commit: all of them or none
(RFC 3502 6). A NO leaves the mailbox as it was; files of a refused or failed
command are removed (Session.next_command discards them).
"""

import contextlib
import dataclasses
import datetime
import logging
import re

from ..core import maildir, mailquota
from ..core.mailkeywords import TooManyKeywords
from ..core.mailservice import StoreError
from . import catenate, names
from .binarymime import encode_binary_file, encode_binary_parts
from .errors import Bad, No
from .mailbox import report_changes
from .parser import Atom, Literal, Received, String, flag_list, parse_command
from .response import sequence

log = logging.getLogger("imapd")

IN_MEMORY = 256 * 1024      # an APPEND's literals past this much go to files
_APPEND = re.compile(rb"[^ ]+ APPEND ", re.IGNORECASE)
_LITERAL_START = re.compile(rb" ?(?:UTF8 \()?~?\Z", re.IGNORECASE)
# RFC 4469 5: a cat-part's literal, "TEXT {n}" (or a URL's astring as a literal).
_CAT_PART = re.compile(rb" (?:TEXT|URL) ~?\Z", re.IGNORECASE)
_MONTHS = {m: n for n, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
     "Dec"), 1)}
# RFC 9051 9: date-time; the day is "DD" or " D" (and "D", as some clients send it).
_DATE_TIME = re.compile(r"( ?\d|\d\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) "
                        r"([+-])(\d\d)(\d\d)\Z")


def limit(s):
    """The largest message APPEND takes: the APPENDLIMIT capability (RFC 7889)."""
    return s.cfg.imapd.max_message_size


async def append(s, cmd):
    # RFC 9051 6.3.12; RFC 3502: several messages, all or none.
    if not cmd.args:
        raise Bad("expected a mailbox and a message")
    name = names.decode(s, cmd.args[0])
    messages = parse_messages(cmd.args[1:], limit(s), names.utf8(s))
    with refusals():
        folder, uidvalidity, uids = await s.mail.call(
            _add, s.store, s.ctx.accounts, s.user, name, messages, limit(s))
    # RFC 9051 6.3.12: into the selected mailbox, the client hears of it now.
    if s.selected is not None and s.selected.folder.name == folder:
        await report_changes(s)
    s.ctx.hub.wake(s.user)
    # RFC 4315 3: the UIDVALIDITY and the UIDs the messages got.
    return f"[APPENDUID {uidvalidity} {sequence(uids)}] APPEND completed"


def parse_messages(tokens, most, utf8=False):
    """[maildir.Message] of APPEND's arguments after the mailbox: each is
    [flag list] [date-time] literal (RFC 3502 8), or, in a session that enabled
    UTF8=ACCEPT, [flag list] [date-time] UTF8 (literal8) (RFC 6855 4), or
    [flag list] [date-time] CATENATE (parts) (RFC 4469 5), whose data is a
    catenate.Catenation."""
    messages, at = [], 0
    while at < len(tokens):
        flags, date = (), None
        if isinstance(tokens[at], list):
            flags = flag_list([tokens[at]])
            at += 1
        if at < len(tokens) and isinstance(tokens[at], String) \
                and not isinstance(tokens[at], Literal):
            date = date_time(tokens[at])
            at += 1
        if at < len(tokens) and _is_utf8_data(tokens[at]):
            # RFC 6855 4: only once the client has enabled UTF8=ACCEPT.
            if not utf8:
                raise Bad("UTF8 APPEND data needs ENABLE UTF8=ACCEPT first")
            at += 1
            if at == len(tokens) or not isinstance(tokens[at], list) \
                    or len(tokens[at]) != 1:
                raise Bad("expected UTF8 (literal8)")
            tokens = tokens[:at] + tokens[at] + tokens[at + 1:]
        if at + 1 < len(tokens) and _is_catenate(tokens[at]):
            messages.append(_catenation(tokens[at + 1], flags, date, most))
            at += 2
            continue
        if at == len(tokens) or not isinstance(tokens[at], (Literal, Upload)):
            raise Bad("expected a message as a literal")
        data = tokens[at]
        size = data.size if isinstance(data, Upload) else len(data)
        # RFC 7889 4 (a non-synchronizing literal is not asked about before).
        if size > most:
            raise No(f"message over {most} octets", "TOOBIG")
        data = data.incoming if isinstance(data, Upload) else bytes(data)
        messages.append(maildir.Message(data, frozenset(flags), date))
        at += 1
    if not messages:
        raise Bad("expected a message")
    return messages


def _is_utf8_data(token):
    return isinstance(token, Atom) and token.upper() == "UTF8"


def _is_catenate(token):
    return isinstance(token, Atom) and token.upper() == "CATENATE"


def _catenation(token, flags, date, most):
    """A message to be assembled from CATENATE's parts (RFC 4469 5)."""
    catenation = catenate.parse(token, (Literal, Upload))
    # RFC 4469 4.2: TOOBIG, as soon as the TEXT parts alone say so.
    if catenation.known_size() > most:
        raise No(f"message over {most} octets", "TOOBIG")
    return maildir.Message(catenation, frozenset(flags), date)


def date_time(token):
    """RFC 9051 9 date-time, as seconds since the epoch; Bad if malformed."""
    match = _DATE_TIME.match(token.decode("ascii", "replace"))
    month = _MONTHS.get(match.group(2).title()) if match else None
    if month is None:
        raise Bad("invalid date-time")
    day, _, year, hour, minute, second, sign, zh, zm = match.groups()
    zone = datetime.timedelta(hours=int(zh), minutes=int(zm))
    try:
        when = datetime.datetime(
            int(year), month, int(day), int(hour), int(minute), int(second),
            tzinfo=datetime.timezone(zone if sign == "+" else -zone))
    except ValueError:
        raise Bad("invalid date-time") from None
    return when.timestamp()


def _add(store, accounts, address, name, messages, most):
    """In a thread: (folder name, its UIDVALIDITY, the new UIDs). The files made
    for the messages (_stored_form) are removed once the command is done (those
    added are no longer there)."""
    folder = store.folder(name)
    made = []
    try:
        ready = [_stored_form(store, address, folder.name, message, most, made)
                 for message in messages]
        uids = store.add(ready, folder.name, accounts.quota(address))
    finally:
        for incoming in made:
            incoming.discard()
    return folder.name, folder.state().uidvalidity, uids


def _stored_form(store, address, target, message, most, made):
    """The message as it is stored: a CATENATE one's parts put together
    (catenate.py), binary parts base64-encoded (binarymime); the files made for
    it are added to `made`."""
    data = message.data
    if isinstance(data, catenate.Catenation):
        data = data.assemble(store, address, target, most)
        made.append(data)
    elif isinstance(data, maildir.Incoming) and data.raw:
        raw, data = data, store.incoming(target)
        made.append(data)
        encode_binary_file(raw.tmp, data)
        data.close()
    elif isinstance(data, bytes):
        data = encode_binary_parts(data)
    return dataclasses.replace(message, data=data)


@contextlib.contextmanager
def refusals():
    """The store's refusals as IMAP answers (RFC 9051 7.1, RFC 9208 4.3)."""
    try:
        yield
    except maildir.NoSuchFolder:
        # RFC 9051 6.3.12: a mailbox is never made by APPEND or COPY.
        raise No("no such mailbox", "TRYCREATE") from None
    except maildir.OverQuota as exc:
        raise No(str(exc), "OVERQUOTA") from None
    except (catenate.BadUrl, catenate.TooBig) as exc:
        raise catenate.refused(exc) from None
    except TooManyKeywords as exc:
        # RFC 5530 3: the folder's keyword list is full (core.mailkeywords).
        raise No(str(exc), "LIMIT") from None


# the literals of big messages


def receiver(s):
    """read_command's hook for a logged-in session (see the module docstring)."""
    async def receive(head, size):
        name = _target(s, head)
        if name is None:
            return None
        # RFC 7889 4: over the limit, NO [TOOBIG] before the message is sent.
        if size > limit(s):
            raise No(f"message over {limit(s)} octets", "TOOBIG")
        if len(head) + size <= IN_MEMORY:
            return None
        earlier = sum(sink.size for sink in head.streamed.values())
        # RFC 3516 4.2: a literal8's octets are kept as they come, for APPEND
        # to find its binary parts in (binarymime).
        raw = head[:head.rindex(b"{")].endswith(b"~")
        with refusals(), unavailable(s):
            incoming = await s.mail.call(_incoming, s.store, s.ctx.accounts, s.user,
                                         name, earlier + size, raw)
        return Upload(s, incoming, size)
    return receive


def _target(s, head):
    """The mailbox of the APPEND whose message literal `head` ends announcing;
    None for another command or literal (an APPEND's mailbox may be one)."""
    if not _APPEND.match(head):
        return None
    # What comes before the literal: "... {n}", "... ~{n}" (RFC 3516 literal8)
    # or "... UTF8 (~{n}" (RFC 6855 4), parsed without those; in a CATENATE
    # list, "... (... TEXT {n}" (RFC 4469 5), parsed with the list closed.
    before = head[:head.rindex(b"{")]
    part = _CAT_PART.search(before)
    if part is not None:
        before = before[:part.start()] + b")"
    else:
        before = _LITERAL_START.sub(b"", before, count=1)
    try:
        cmd = parse_command(Received(before, head.streamed))
    except Bad:
        return None         # malformed: the command will be answered BAD

    if cmd.name != "APPEND" or not cmd.args:
        return None
    return names.decode(s, cmd.args[0])


def _incoming(store, accounts, address, name, size, raw):
    """In a thread: an Incoming in the folder, if `size` more bytes fit the quota."""
    mailquota.check(store.usage(), size, accounts.quota(address))
    return store.incoming(name, raw)


@contextlib.contextmanager
def unavailable(s):
    """A store failure while a command is still being read: NO [UNAVAILABLE]."""
    try:
        yield
    except StoreError as exc:
        log.error("%s: mailbox store failed: %s", s.who(), exc)
        raise No("mailbox temporarily unavailable", "UNAVAILABLE") from None


class Upload:
    """Where one big message literal goes: a core.maildir Incoming, written in the
    mailbox service's threads as its pieces arrive (read_command's sink)."""

    def __init__(self, s, incoming, size):
        self.s = s
        self.incoming = incoming
        self.size = size            # as announced

    async def write(self, piece):
        with unavailable(self.s):
            await self.s.mail.call(self.incoming.write, piece)

    async def close(self):
        with unavailable(self.s):
            await self.s.mail.call(self.incoming.close)

    async def discard(self):
        try:
            await self.s.mail.call(self.incoming.discard)
        except (StoreError, RuntimeError) as exc:
            # A failing disk, or a daemon stopping (its threads gone): tmp/ is
            # cleared of old files anyway (core.mailscan).
            log.warning("%s: left in tmp/ for later: %s", self.incoming.tmp, exc)
