"""GETQUOTA and GETQUOTAROOT (RFC 9208 4.1.1 and 4.1.2): the account's storage limit.

A user has one quota root, "", over all of their folders, with the one resource
STORAGE (RFC 9208 5.1), counted in units of 1024 octets: the size of the message
files, as the index keeps it per folder (core.mailquota). The limit is the
account's (`mailctl user quota`); a user without one has no quota root. Quotas are
set by the administrator, not by IMAP: no SETQUOTA (QUOTASET is not advertised).
"""

from ..core import maildir
from . import names
from .errors import No
from .parser import astring, expect
from .response import quoted

ROOT = ""
CAPABILITIES = ("QUOTA", "QUOTA=RES-STORAGE")


async def getquotaroot(s, cmd):
    # RFC 9208 4.1.2: the mailbox's roots, then each root's usage and limits.
    name = names.decode(s, expect(cmd.args, 1, "a mailbox name")[0])
    try:
        usage, limit = await s.mail.call(_look, s.store, s.ctx.accounts, s.user, name)
    except maildir.NoSuchFolder:
        raise No("no such mailbox", "NONEXISTENT") from None
    roots = f" {quoted(ROOT)}" if limit else ""
    s.untagged(f"QUOTAROOT {names.encode(s, name)}{roots}")
    if limit:
        s.untagged(quota_line(usage, limit))


async def getquota(s, cmd):
    # RFC 9208 4.1.1
    root = astring(expect(cmd.args, 1, "a quota root")[0])
    usage, limit = await s.mail.call(_look, s.store, s.ctx.accounts, s.user, None)
    if root != ROOT or not limit:
        raise No("no such quota root", "NONEXISTENT")
    s.untagged(quota_line(usage, limit))


def quota_line(usage, limit):
    # RFC 9208 5.1: STORAGE counts units of 1024 octets; usage is rounded up.
    return f"QUOTA {quoted(ROOT)} (STORAGE {-(-usage // 1024)} {limit // 1024})"


def _look(store, accounts, address, name):
    """In a thread: (usage, limit) in bytes, once the mailbox is known to exist."""
    if name is not None:
        store.folder(name, build=False)
    return store.usage(), accounts.quota(address)
