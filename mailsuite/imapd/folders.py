"""Folder verbs: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS,
NAMESPACE (RFC 9051 6.3; LSUB is RFC 3501 6.3.9; LIST-EXTENDED RFC 5258 and
LIST-STATUS RFC 5819 as RFC 9051 has them; SPECIAL-USE and CREATE-SPECIAL-USE RFC
6154; STATUS=SIZE RFC 8438; NAMESPACE RFC 2342).

The work is core.mailfolders', run in the mailbox service's threads; which names
LIST answers is imapd.folderlist's. Mailbox names cross the wire in modified UTF-7
(RFC 3501 5.1.3) unless the client enabled UTF8=ACCEPT (RFC 6855 3) or IMAP4rev2:
imapd.names is the one place that decides. A refused change is NO with a response
code (RFC 5530: ALREADYEXISTS, NONEXISTENT, CANNOT; RFC 6154: USEATTR) and changes
nothing.
"""

import contextlib
import logging

from ..core import mailfolders
from ..core.mailfolder import Folder, FolderError, NoSuchFolder
from ..core.mailfolders import FolderExists, SPECIAL_USES
from ..core.mailnames import DELIMITER, normalize
from ..core.mailservice import StoreError
from . import condstore, notify
from .append import limit as append_limit
from .errors import Bad, No
from .folderlist import Tree, list_entries, lsub_entries, parse_list, status_items
from .names import decode as mailbox_name, encode as wire_name, utf8 as utf8_names
from .parser import Atom, atom, expect, list_mailbox
from .pattern import compile_pattern
from .utf7 import decode as utf7_decode

log = logging.getLogger("imapd")

CAPABILITIES = ("NAMESPACE", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE",
                "CREATE-SPECIAL-USE", "STATUS=SIZE")
_USES = {use.upper(): use for use in SPECIAL_USES}


# names on the wire


def canonical(s, token):
    """A mailbox argument in its canonical form; NO [CANNOT] if no folder can
    have that name."""
    with refusals():
        return normalize(mailbox_name(s, token))


@contextlib.contextmanager
def refusals():
    """The store's refusals as NO with a response code (RFC 5530 3)."""
    try:
        yield
    except FolderExists as exc:
        raise No(str(exc), "ALREADYEXISTS") from None
    except NoSuchFolder as exc:
        raise No(str(exc), "NONEXISTENT") from None
    except FolderError as exc:
        raise No(str(exc), "CANNOT") from None


def _check_new_name(name):
    # RFC 9051 6.3.9: "%" and "*" are LIST's wildcards; a name holding them could
    # never be listed alone.
    if "%" in name or "*" in name:
        raise No("mailbox names cannot contain % or *", "CANNOT")


async def prepare(s, store, address):
    """At login: a new mailbox's special folders, and repair after a crash
    (core.mailfolders.prepare). Failing costs only those: the login goes on, and
    the next one tries again."""
    try:
        await s.mail.call(mailfolders.prepare, store)
    except (StoreError, FolderError) as exc:
        log.warning("user=%s: preparing the folders failed: %s", address, exc)


# CREATE, DELETE, RENAME


async def create(s, cmd):
    # RFC 9051 6.3.4; the USE parameter is RFC 6154 3.
    if not 1 <= len(cmd.args) <= 2:
        raise Bad("expected a mailbox name and optional parameters")
    uses = _create_params(cmd.args[1]) if len(cmd.args) == 2 else ()
    name = mailbox_name(s, cmd.args[0])
    # RFC 9051 6.3.4: a trailing delimiter only declares children to come.
    if name.endswith(DELIMITER) and name != DELIMITER:
        name = name[:-1]
    _check_new_name(name)
    with refusals():
        await s.mail.call(mailfolders.create, s.store, normalize(name), uses)
    notify.folder_changed(s, "create", normalize(name))


def _create_params(token):
    """`(USE (\\Sent ...))` -> the uses (RFC 6154 6: create-param)."""
    if not isinstance(token, list) or len(token) % 2:
        raise Bad("expected CREATE parameters: (USE (attributes))")
    uses = set()
    for name, value in zip(token[::2], token[1::2]):
        if atom(name, "a CREATE parameter") != "USE" or not isinstance(value, list):
            raise Bad("unknown CREATE parameter")
        for attribute in value:
            uses.add(_use(attribute))
    return tuple(use for use in SPECIAL_USES if use in uses)


def _use(token):
    if not isinstance(token, Atom) or not token.startswith("\\"):
        raise Bad("expected a special-use attribute")
    # RFC 6154 3: a use the server cannot give is refused with USEATTR.
    use = _USES.get(token.upper())
    if use is None:
        raise No(f"special use {token} is not supported", "USEATTR")
    return use


async def delete(s, cmd):
    # RFC 9051 6.3.5: INBOX cannot be deleted; subfolders stay.
    name = canonical(s, expect(cmd.args, 1, "a mailbox name")[0])
    with refusals():
        await s.mail.call(mailfolders.delete, s.store, name)
    notify.folder_changed(s, "delete", name)
    # The session's own selected folder is gone: back to the authenticated state.
    if s.selected is not None and s.selected.folder.name == name:
        s.select(None)


async def rename(s, cmd):
    # RFC 9051 6.3.6: subfolders follow; renaming INBOX moves its messages.
    old_token, new_token = expect(cmd.args, 2, "a mailbox name and a new name")
    old, new = canonical(s, old_token), canonical(s, new_token)
    _check_new_name(new)
    with refusals():
        await s.mail.call(mailfolders.rename, s.store, old, new)
    _follow_rename(s, old, new)
    notify.folder_changed(s, "rename", new, old)


def _follow_rename(s, old, new):
    """Sessions of this process with a renamed folder selected keep it under its
    new name; after RENAME INBOX, the INBOX they see was emptied: the renaming
    session leaves it, the others learn of it as a new UIDVALIDITY (BYE)."""
    for other in list(s.ctx.sessions):
        view = other.selected
        if view is None or other.store is not s.store:
            continue
        name = view.folder.name
        if old == "INBOX":
            if other is s and name == "INBOX":
                s.select(None)
        elif name == old or name.startswith(old + DELIMITER):
            view.folder = Folder(s.store, new + name[len(old):])


# SUBSCRIBE, UNSUBSCRIBE, NAMESPACE


async def subscribe(s, cmd, subscribed=True):
    # RFC 9051 6.3.7, 6.3.8: a name need not exist; OK if nothing changes.
    name = canonical(s, expect(cmd.args, 1, "a mailbox name")[0])
    with refusals():
        await s.mail.call(mailfolders.subscribe, s.store, name, subscribed)
    notify.folder_changed(s, "subscribe" if subscribed else "unsubscribe", name)


async def unsubscribe(s, cmd):
    await subscribe(s, cmd, subscribed=False)


async def namespace(s, cmd):
    # RFC 2342 5: one personal namespace, no prefix; no others, no shared ones.
    expect(cmd.args, 0, "no arguments")
    s.untagged(f'NAMESPACE (("" "{DELIMITER}")) NIL NIL')


# STATUS


async def status(s, cmd):
    # RFC 9051 6.3.11: answered from the index's state and slots.
    token, items = expect(cmd.args, 2, "a mailbox name and status items")
    wanted = status_items(items)
    try:
        name = canonical(s, token)
    except No:
        raise No("no such mailbox", "NONEXISTENT") from None
    found = await folder_statuses(s, [name], "SIZE" in wanted)
    if name not in found:
        raise No("no such mailbox", "NONEXISTENT")
    # RFC 7162 3.1: STATUS (HIGHESTMODSEQ) is a CONDSTORE enabling command.
    if "HIGHESTMODSEQ" in wanted:
        condstore.enable(s)
    s.untagged(status_line(s, name, wanted, found[name]))


def status_line(s, name, wanted, result):
    values = {"MESSAGES": result.messages, "UIDNEXT": result.uidnext,
              "UIDVALIDITY": result.uidvalidity, "UNSEEN": result.unseen,
              "DELETED": result.deleted, "SIZE": result.size,
              "HIGHESTMODSEQ": result.highestmodseq, "RECENT": result.recent,
              "APPENDLIMIT": append_limit(s)}
    items = " ".join(f"{item} {values[item]}" for item in wanted)
    return f"STATUS {wire_name(s, name)} ({items})"


async def folder_statuses(s, names, size=False):
    """{name: FolderStatus} of the existing folders among `names`, in one trip to
    a thread unless a folder was never indexed; another tool's changes are taken
    in the background, for the next STATUS."""
    looked = await s.mail.call(_look, s.store, names, size)
    found = {}
    for name, (folder, result, stale) in looked.items():
        if result is None:
            await s.mail.scan(folder, force=True)
            result = await s.mail.call(mailfolders.status, folder, size)
        elif stale:
            s.mail.scan_soon(folder)
        found[name] = result
    return found


def _look(store, names, size):
    looked = {}
    for name in names:
        try:
            folder = store.folder(name, build=False)
            result = mailfolders.status(folder, size)
            looked[name] = (folder, result, result is not None and folder.needs_scan())
        except NoSuchFolder:
            continue
    return looked


# LIST, LSUB


async def list_mailboxes(s, cmd):
    # RFC 9051 6.3.9 (RFC 5258): the basic form, or the extended one.
    options, reference, patterns = parse_list(cmd.args)
    reference = mailbox_name(s, reference)
    patterns = [_pattern(s, pattern) for pattern in patterns]
    if not options.extended and patterns == [""]:
        # RFC 9051 6.3.9: an empty name asks for the delimiter and the root.
        s.untagged(f'LIST (\\Noselect) "{DELIMITER}" ""')
        return
    matchers = [compile_pattern(reference + p, DELIMITER) for p in patterns if p]
    tree = await _tree(s)
    entries = list_entries(tree, lambda n: any(m.matches(n) for m in matchers), options)
    statuses = {}
    if options.status:
        statuses = await folder_statuses(s, [e.name for e in entries if e.status],
                                         "SIZE" in options.status)
    for entry in entries:
        s.untagged(_list_line(s, "LIST", entry))
        # RFC 5819 1: each STATUS follows its LIST.
        if entry.name in statuses:
            s.untagged(status_line(s, entry.name, options.status, statuses[entry.name]))


async def lsub(s, cmd):
    # RFC 3501 6.3.9
    reference, pattern = expect(cmd.args, 2, "a reference and a mailbox pattern")
    pattern = _pattern(s, pattern)
    if pattern is None:
        return
    pattern = mailbox_name(s, reference) + pattern
    matcher = compile_pattern(pattern, DELIMITER)
    tree = await _tree(s)
    for entry in lsub_entries(tree, matcher.matches, pattern.endswith("%")):
        s.untagged(_list_line(s, "LSUB", entry))


async def _tree(s):
    folders, subscribed = await s.mail.call(_read_tree, s.store)
    return Tree(folders, subscribed)


def _read_tree(store):
    return mailfolders.listing(store), mailfolders.subscribed(store)


def _list_line(s, kind, entry):
    line = (f"{kind} ({' '.join(entry.attributes)}) \"{DELIMITER}\" "
            f"{wire_name(s, entry.name)}")
    if entry.childinfo:
        criteria = " ".join(f'"{c}"' for c in entry.childinfo)
        line += f' ("CHILDINFO" ({criteria}))'
    return line


def _pattern(s, token):
    """A LIST or LSUB pattern as the store names folders; None for one that is
    not valid modified UTF-7: no folder can match it, and the command is still
    OK (as Dovecot answers), not BAD."""
    pattern = list_mailbox(token)
    if utf8_names(s):
        return pattern
    try:
        return utf7_decode(pattern)
    except No:
        return None
