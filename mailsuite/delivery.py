"""The work of one delivery pass of deliverd: who gets what, and how it went.

A Batch resolves each message's pending recipients (aliases, plus-addressing,
catch-alls: core.recipients, as smtpd did at RCPT) to local mailboxes, sets
aside those outside our domains for the remote path (`remote`) and an alias's
targets outside them for forwarding (`forwards`: the runner adds them to the
message's recipients, Spool.forward, then to `remote`), opens the queued
messages once for all the mailboxes they go to, collects every target's outcome,
and turns them into the outcomes the spool records (a recipient waiting for disk
space is left out, its record unchanged) and one log line per target.

Within a mailbox a message goes into the folder its record names
(`info["folder"]`: smtpd's Junk for a DMARC quarantine or rspamd's verdict),
made when missing; else into the existing folder its plus-addressing tag names;
else into the INBOX (`by_folder`).
"""

import logging
import time

from .core import mailfolders, metrics
from .core.mailfolder import FolderError
from .core.recipients import look_up
from .core.spool import SpoolError
from .outbound.record import notice_deliveries

log = logging.getLogger("deliverd")


def folder_for(tag, folders):
    """The folder plus-addressing's `tag` names among `folders` (any case),
    else the INBOX: a tag never creates a folder."""
    wanted = (tag or "").lower()
    return next((name for name in folders if name.lower() == wanted), "INBOX")


def by_folder(store, batch, items):
    """{folder: [(qid, base)]}: where each message of a mailbox goes: the folder
    its record names (smtpd's Junk: a DMARC quarantine, rspamd's verdict), made if
    missing; else the folder its
    plus-addressing tag names, if there is one; else the INBOX."""
    named = {qid: batch.entries[qid].info.get("folder") for qid, _, _ in items}
    # Listed only when asked: most mail has neither. A tag never names the INBOX.
    folders = store.folders()[1:] if any(tag for *_, tag in items) or any(
        named.values()) else []
    shares = {}
    for qid, base, tag in items:
        folder = named[qid] and _made(store, named[qid], folders)
        if not folder:
            folder = folder_for(tag, folders) if tag else "INBOX"
        shares.setdefault(folder, []).append((qid, base))
    return shares


def _made(store, folder, folders):
    """`folder`, made now if it was missing; None if it cannot be made."""
    if folder in folders:
        return folder
    try:
        mailfolders.create(store, folder)
    except mailfolders.FolderExists:
        pass
    except FolderError as exc:
        log.error("%s: folder %s cannot be made, delivered elsewhere: %s",
                  store.root, folder, exc)
        return None
    folders.append(folder)
    return folder


def maildir_base(entry, hostname):
    """The Maildir base name of a queued message, the same in every mailbox and at
    every attempt: what makes a retried delivery find the earlier one."""
    return f"{int(entry.arrival)}.Q{entry.qid}.{hostname}"


class Batch:
    """The work of one pass: who gets what, and how it went."""

    def __init__(self, hostname, delimiters=""):
        self.hostname = hostname
        self.delimiters = delimiters    # plus-addressing's (smtpd.recipient_delimiter)
        self.entries = {}           # qid -> Entry
        self.mailboxes = {}         # local address -> [(qid, base, tag or None)]
        self.children = {}          # (qid, rcpt) -> [[target, state, why]]
        self.data = {}              # qid -> the message, a binary file (Spool.open)
        self.short_of_space = None  # why a mailbox had no room, if one had none
        self.remote = {}            # qid -> [Recipient] outside our domains
        self.forwards = {}          # qid -> {alias: [target outside our domains]}

    def plan(self, entry, accounts):
        """Resolve the entry's pending recipients; queue local targets by mailbox
        and set the others aside for the remote path."""
        self.entries[entry.qid] = entry
        base = maildir_base(entry, self.hostname)
        for rcpt in entry.pending():
            if not accounts.is_local_domain(rcpt.address.rpartition("@")[2]):
                self.remote.setdefault(entry.qid, []).append(rcpt)
                continue
            targets, tag = look_up(accounts, rcpt.address, self.delimiters)
            if not targets:
                self.children[entry.qid, rcpt.address] = [
                    [rcpt.address, "failed", "5.1.1 no such user"]]
                continue
            children = self.children[entry.qid, rcpt.address] = []
            for target in targets:
                if accounts.get_user(target) is not None:
                    children.append([target, "done", ""])
                    self.mailboxes.setdefault(target, []).append(
                        (entry.qid, base, tag))
                elif accounts.is_local_domain(target.rpartition("@")[2]):
                    children.append([target, "failed", "5.1.1 no such user"])
                else:
                    # Done for the alias once Spool.forward has made the
                    # target a recipient (decision 0015).
                    children.append([target, "forwarded", ""])
                    self.forwards.setdefault(entry.qid, {}).setdefault(
                        rcpt.address, []).append(target)

    def forward(self, spool):
        """Make the aliases' targets outside our domains recipients of their
        messages (durable before the aliases are recorded as done), for the
        remote path."""
        for qid, targets in self.forwards.items():
            try:
                entry = spool.forward(qid, targets)
            except SpoolError as exc:
                log.error("%s: could not forward: %s", qid, exc)
                self.forward_failed(qid, f"4.3.0 could not forward: {exc}")
                continue
            if entry is not None:
                self.forwarded(entry)

    def forwarded(self, entry):
        """`entry` as Spool.forward left it: its forwarded targets join the
        recipients for the remote path."""
        self.entries[entry.qid] = entry
        targets = {t for ts in self.forwards[entry.qid].values() for t in ts}
        wanted = targets | {r.address for r in self.remote.get(entry.qid, ())}
        self.remote[entry.qid] = [r for r in entry.pending() if r.address in wanted]

    def forward_failed(self, qid, why):
        """The targets could not be added: their aliases wait for a retry."""
        for (message, _), children in self.children.items():
            for child in children:
                if message == qid and child[1] == "forwarded":
                    child[1:] = ["deferred", why]

    def open(self, spool):
        """Open every message that goes to a mailbox."""
        wanted = {item[0] for items in self.mailboxes.values() for item in items}
        for qid in sorted(wanted):
            try:
                self.data[qid] = spool.open(qid)
            except KeyError:
                self._forget(qid)      # removed meanwhile (mailctl queue delete)

    def close(self):
        for message in self.data.values():
            message.close()
        self.data.clear()

    def _forget(self, qid):
        for address, items in list(self.mailboxes.items()):
            items[:] = [item for item in items if item[0] != qid]
            if not items:
                del self.mailboxes[address]
        for key in [key for key in self.children if key[0] == qid]:
            del self.children[key]

    def mailbox_failed(self, address, why, state="deferred"):
        for children in self.children.values():
            for child in children:
                if child[0] == address and child[1] == "done":
                    child[1:] = [state, why]

    def target_failed(self, address, qid, why):
        """One message could not go into the mailbox: it fails for it."""
        for (message, _), children in self.children.items():
            for child in children:
                if message == qid and child[0] == address and child[1] == "done":
                    child[1:] = ["failed", why]

    def mailbox_full(self, address, exc):
        """The mailbox had no room: its targets wait, recorded nowhere."""
        self.short_of_space = self.short_of_space or f"{address}: {exc}"
        self.mailbox_failed(address, "no space", "waiting")

    def results(self):
        """{qid: {rcpt: (state, why)}} for Spool.update: a recipient with a target
        waiting for space is left out (its record stays as it was), else it is
        deferred if any of its targets is, else done if any got it (or was
        forwarded), else failed."""
        results = {}
        for (qid, rcpt), children in self.children.items():
            states = {state for _, state, _ in children}
            if "waiting" in states:
                continue
            state = "deferred" if "deferred" in states else \
                "done" if states & {"done", "forwarded"} else "failed"
            why = next((w for _, s, w in children if s == state and w), "")
            results.setdefault(qid, {})[rcpt] = (state, why)
        return results

    def delivered(self):
        """{qid: [recipient]}: the recipients final with a copy in a mailbox."""
        found = {}
        for (qid, rcpt), children in self.children.items():
            states = {state for _, state, _ in children}
            if "done" in states and not states & {"deferred", "waiting"}:
                found.setdefault(qid, []).append(rcpt)
        return found

    def notice_deliveries(self, spool):
        """A success notice for the recipients delivered that asked for one
        (NOTIFY=SUCCESS, RFC 3461 4.1), queued before their record: a crash
        may repeat it, never lose it."""
        for qid, delivered in self.delivered().items():
            entry = self.entries[qid]
            asked = [r.address for r in entry.recipients
                     if "SUCCESS" in r.notify and r.address in delivered]
            if not asked:
                continue
            try:
                notice_deliveries(spool, self.hostname, entry, asked)
            except SpoolError as exc:
                log.error("%s: could not queue the delivery notice: %s", qid, exc)

    def log_outcomes(self):
        """One line per target."""
        now = time.time()
        for qid, entry in self.entries.items():
            delay = now - entry.arrival
            for rcpt in entry.recipients:
                for target, state, why in self.children.get((qid, rcpt.address), ()):
                    if state == "waiting":
                        continue        # the pause for space is logged once
                    if state == "done":
                        metrics.delivered("local", delay)
                    orig = f", orig_to=<{rcpt.address}>" if target != rcpt.address else ""
                    log.info("%s: to=<%s>%s, delay=%.2f, status=%s",
                             qid, target, orig, delay, _status(state, why))


def _status(state, why):
    if state == "done":
        return "sent (delivered to maildir)"
    if state == "forwarded":
        return "forwarded (queued for the remote path)"
    if state == "failed":
        return f"bounced ({why})"
    return f"deferred ({why})"
