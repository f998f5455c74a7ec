"""COPY and MOVE, and their UID forms (RFC 9051 6.4.7 and 6.4.9; RFC 6851), with
COPYUID (RFC 4315 3).

The store does the work in one step (core.mailcopy): the copies and, for MOVE, the
expunge of the originals are one index commit, so that no client ever sees a
message in both mailboxes or in neither (RFC 6851 4.4). A copy that would take the
mailbox past its quota is refused whole, NO [OVERQUOTA] (RFC 9208 4.3).
"""

from . import names
from .append import refusals
from .errors import No
from .fetch import check_messages
from .mailbox import report_changes
from .parser import expect, sequence_set
from .response import sequence


async def copy(s, cmd, move=False):
    # RFC 9051 6.4.7; RFC 6851 3.1 (MOVE)
    ranges, name = expect(cmd.args, 2, "a sequence set and a mailbox name")
    ranges = sequence_set(ranges)
    name = names.decode(s, name)
    view = s.selected
    # RFC 6851 3.1: MOVE expunges, which a mailbox opened read-only forbids.
    if move and view.readonly:
        raise No("mailbox is read-only", "READ-ONLY")
    uids = check_messages(view, ranges, cmd.uid)
    if not uids:
        return None
    with refusals():
        target, done = await s.mail.call(_transfer, view.folder, s.ctx.accounts, s.user,
                                 uids, name, move)
    if not done.sources:
        return None
    s.ctx.hub.wake(s.user)
    # RFC 4315 3: where each message went, in matching order.
    code = (f"COPYUID {done.uidvalidity} {sequence(done.sources)} "
            f"{sequence(done.targets)}")
    if move:
        # RFC 6851 3.3: the COPYUID goes in an untagged OK before the expunges.
        s.untagged(f"OK [{code}] moved")
        await report_changes(s)
        return None
    if view.folder.name == target:
        await report_changes(s)
    return f"[{code}] COPY completed"


async def move(s, cmd):
    return await copy(s, cmd, move=True)


def _transfer(folder, accounts, address, uids, name, move):
    """In a thread: (the target's name, core.mailcopy.Transferred)."""
    target = folder.owner.folder(name)
    if move:
        return target.name, folder.move(uids, target)
    return target.name, folder.copy(uids, target, accounts.quota(address))
