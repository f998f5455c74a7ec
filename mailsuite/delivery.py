"""The work of one delivery pass of deliverd: who gets what, and how it went.

A Batch resolves each message's pending recipients (aliases, catch-alls) to local
mailboxes, sets aside those outside our domains for the remote path (`remote`),
opens the queued messages once for all the mailboxes they go to, collects
every target's outcome, and turns them into the outcomes the spool records (a
recipient waiting for disk space is left out, its record unchanged) and one log
line per target.

A message goes into the folder its record names (`info["folder"]`: smtpd's
quarantine for a DMARC failure), made when missing; into the INBOX when it has
none, or when that folder cannot be made.
"""

import logging
import time

from .core import mailfolders
from .core.mailfolder import FolderError

log = logging.getLogger("deliverd")


def maildir_base(entry, hostname):
    """The Maildir base name of a queued message, the same in every mailbox and at
    every attempt: what makes a retried delivery find the earlier one."""
    return f"{int(entry.arrival)}.Q{entry.qid}.{hostname}"


def folders(store, batch, items):
    """{folder: [(qid, base)]}: a mailbox's share of the pass by folder."""
    found = {}
    for qid, base in items:
        folder = batch.entries[qid].info.get("folder") or "INBOX"
        found.setdefault(folder, []).append((qid, base))
    for folder in [f for f in found if f != "INBOX" and not _made(store, f)]:
        found.setdefault("INBOX", []).extend(found.pop(folder))
    return found


def _made(store, folder):
    """Whether `folder` exists in the store, made now if it did not."""
    if folder in store.folders():
        return True
    try:
        mailfolders.create(store, folder)
    except mailfolders.FolderExists:
        return True
    except FolderError as exc:
        log.error("%s: folder %s cannot be made, INBOX instead: %s", store.root,
                  folder, exc)
        return False
    return True


class Batch:
    """The work of one pass: who gets what, and how it went."""

    def __init__(self, hostname):
        self.hostname = hostname
        self.entries = {}           # qid -> Entry
        self.mailboxes = {}         # local address -> [(qid, base)]
        self.children = {}          # (qid, rcpt) -> [[target, state, why]]
        self.data = {}              # qid -> the message, a binary file (Spool.open)
        self.short_of_space = None  # why a mailbox had no room, if one had none
        self.remote = {}            # qid -> [Recipient] outside our domains

    def plan(self, entry, accounts):
        """Resolve the entry's pending recipients; queue local targets by mailbox
        and set the others aside for the remote path."""
        self.entries[entry.qid] = entry
        base = maildir_base(entry, self.hostname)
        for rcpt in entry.pending():
            if not accounts.is_local_domain(rcpt.address.rpartition("@")[2]):
                self.remote.setdefault(entry.qid, []).append(rcpt)
                continue
            targets = accounts.resolve(rcpt.address)
            if not targets:
                self.children[entry.qid, rcpt.address] = [
                    [rcpt.address, "failed", "5.1.1 no such user"]]
                continue
            children = self.children[entry.qid, rcpt.address] = []
            for target in targets:
                if accounts.get_user(target) is not None:
                    children.append([target, "done", ""])
                    self.mailboxes.setdefault(target, []).append((entry.qid, base))
                elif accounts.is_local_domain(target.rpartition("@")[2]):
                    children.append([target, "failed", "5.1.1 no such user"])
                else:
                    # Forwarding needs a new envelope (SRS): not done yet.
                    children.append([target, "deferred",
                                     "4.3.5 forwarding to another domain is not "
                                     "supported yet"])

    def open(self, spool):
        """Open every message that goes to a mailbox."""
        wanted = {qid for items in self.mailboxes.values() for qid, _ in items}
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
        deferred if any of its targets is, else done if any got it, else failed."""
        results = {}
        for (qid, rcpt), children in self.children.items():
            states = {state for _, state, _ in children}
            if "waiting" in states:
                continue
            state = "deferred" if "deferred" in states else \
                "done" if "done" in states else "failed"
            why = next((w for _, s, w in children if s == state and w), "")
            results.setdefault(qid, {})[rcpt] = (state, why)
        return results

    def log_outcomes(self):
        """One line per target."""
        now = time.time()
        for qid, entry in self.entries.items():
            delay = now - entry.arrival
            for rcpt in entry.recipients:
                for target, state, why in self.children.get((qid, rcpt.address), ()):
                    if state == "waiting":
                        continue        # the pause for space is logged once
                    orig = f", orig_to=<{rcpt.address}>" if target != rcpt.address else ""
                    log.info("%s: to=<%s>%s, delay=%.2f, status=%s",
                             qid, target, orig, delay, _status(state, why))


def _status(state, why):
    if state == "done":
        return "sent (delivered to maildir)"
    if state == "failed":
        return f"bounced ({why})"
    return f"deferred ({why})"
