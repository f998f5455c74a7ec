"""Who a local recipient address reaches, with plus-addressing: one lookup for
smtpd and submitd (at RCPT) and deliverd (at delivery), so that what was accepted
is what is delivered.

    look_up(accounts, address, delimiters) -> Recipient(targets, tag)

`user+tag@domain` (with "+" among the configured delimiters) reaches what
`user@domain` reaches, and its `tag` names the folder the message goes into when
the mailbox has one of that name (deliverd's choice, made at delivery). The order
is Postfix's: the whole address as a user or alias first (a user may be called
"a+b"), then the address without its tag, then the domain's catch-all.

Every lookup makes the same calls whether or not anybody takes the address, so
that an unknown recipient is not answered sooner than a known one (a directory
harvest learns nothing from the time of a refusal). Lookups never raise on bad
input: nobody takes a malformed address.
"""

from typing import NamedTuple


class Recipient(NamedTuple):
    targets: list           # the final local (or forwarded) addresses; [] for nobody
    tag: str | None         # the folder asked for by plus-addressing, if any


def split_tag(address, delimiters):
    """(address without its tag, tag or None): the tag is what follows the first
    delimiter of the local part. A local part that starts with a delimiter, or
    ends with it, has no tag."""
    local, at, domain = address.rpartition("@")
    cut = min((local.find(d) for d in delimiters if d in local), default=-1)
    if cut <= 0 or cut == len(local) - 1:
        return address, None
    return f"{local[:cut]}{at}{domain}", local[cut + 1:]


def look_up(accounts, address, delimiters):
    """The Recipient of `address` (see the module docstring for the order)."""
    base, tag = split_tag(address, delimiters)
    exact = accounts.resolve(address, catch_all=False)
    untagged = accounts.resolve(base, catch_all=False)
    anyone = accounts.resolve(address)
    if exact:
        return Recipient(exact, None)
    if untagged:
        return Recipient(untagged, tag)
    return Recipient(anyone, None)
