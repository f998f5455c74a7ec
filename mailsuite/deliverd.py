"""deliverd: the queue runner. Takes messages from the spool and delivers each local
recipient to its Maildir INBOX, and hands the others to the remote path
(mailsuite.outbound.remote), which sends them over SMTP asynchronously in this
process's event loop while the local passes run in their worker thread.

Its one socket is `wakeup`, a unix datagram socket on which smtpd, submitd and
mailctl drop a hint after each commit; it also scans the spool at start and every
`deliverd.scan_interval` seconds, and when a deferred message falls due.

One pass takes the due messages, resolves every pending recipient through the
accounts (aliases, catch-alls), delivers with one `deliver_many` per mailbox, then
records the outcomes in the spool: a message leaves the spool only when every
recipient is final. Outcomes that only say "all delivered" are recorded lazily, at
most SAVE_DELAY seconds later and in one commit for many passes: the Maildir copy
is already durable, so losing that record in a crash costs only a retry that
finds the message delivered, while every commit saved is two fsyncs less for the
disk that smtpd's acknowledgements wait on. A message is read from the spool as a
file (Spool.open) and copied into each mailbox in chunks, so a large one is never
held whole in memory. deliverd also removes the spool's orphaned message files
(Spool.remove_orphans) at start and every ORPHAN_SCAN seconds.

Failure policy: delivery is idempotent, because the Maildir base name of a message is
fixed by its queue id (`<arrival>.Q<qid>.<hostname>`) and a mailbox refuses a base it
already holds; so a crash at any point (kill -9 between the Maildir commit and the
spool commit, say) is repaired by the next pass, which finds the message delivered
and only records it. A mailbox that fails (permissions, a broken index) defers its
recipients, retried after the spool's growing backoff; a recipient nobody takes
fails, and its sender gets a failure notice; a recipient outside our domains
goes to the remote path, and a message it is working on is left out of the
passes until it is done with it. A message that would take a mailbox past its
quota (core.accounts) fails for that mailbox, 5.2.2 (RFC 3463: mailbox full);
what still fits is delivered. An exception in a pass is logged and the
pass is retried later, never a dead daemon.

A full disk passes when space returns, so it is no deferral: a delivery that fails
for lack of space (the copy or the index commit: ENOSPC, EDQUOT) leaves its
recipients' records as they were, no attempt counted, no backoff, and delivery
pauses FULL_RETRY seconds; the messages are tried again that often until there is
room. Outcomes the spool has no room to record are kept and retried as often.
The pause is logged when it begins and when it ends.
"""

import asyncio
import collections
import concurrent.futures
import errno
import logging
import signal
import time

import lmdb

from .core import activation, notify, server
from .core.accounts import Accounts
from .core.maildir import OverQuota, Store
from .core.spool import ORPHAN_SCAN, Spool, SpoolError, SpoolFull
from .delivery import Batch, folders
from .outbound.record import notice_failures
from .outbound.remote import Remote

log = logging.getLogger("deliverd")

PASS_MESSAGES = 200           # messages taken in one pass
PASS_BYTES = 64 << 20         # and at most this much message data (but at least one)
RETRY_AFTER_ERROR = 5         # seconds before a pass that raised is tried again
FULL_RETRY = 2                # seconds between tries while the disk is full
OPEN_STORES = 64              # mailboxes kept open between passes
SAVE_DELAY = 0.2              # seconds an "all delivered" outcome may wait
SAVE_MAX = 1000               # outcomes that force a save however recent
# While mail streams in, a wake-up that comes within BUSY_WINDOW seconds of the
# last delivery waits GATHER seconds before its pass, so that one pass (one index
# commit, one directory fsync per mailbox) serves several messages. A message
# after a quiet spell is delivered at once.
BUSY_WINDOW = 0.05
GATHER = 0.005


def main(argv=None):
    return server.main("deliverd", {"wakeup"}, start, argv)


async def start(cfg, sockets):
    runner = Runner(cfg)
    try:
        await runner.run(dict(sockets)["wakeup"])
    finally:
        runner.close()


class Runner:
    """The wake-up loop; the passes themselves run in one worker thread."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.spool = Spool(cfg.state_dir)
        self.accounts = Accounts(cfg.state_dir)
        self.notify_path = cfg.runtime_dir / "imapd.notify"
        self.worker = concurrent.futures.ThreadPoolExecutor(1, "deliverd-pass")
        self.stores = collections.OrderedDict()     # address -> open Store
        self.unsaved = {}           # qid -> outcome delivered but not yet recorded
        self.save_due = None        # monotonic time by which to record them
        self.orphans_due = 0.0      # monotonic time of the next look for orphan files
        self.full_until = 0.0       # monotonic time before which the disk is full
        self.released = asyncio.Event()   # the remote path let go of a message
        self.remote = Remote(cfg, self.spool, self.released.set)
        self.handoff = []           # [(entry, recipients)] for the remote path

    def close(self):
        try:
            self.worker.submit(self.save).result()
        except Exception:
            log.exception("could not record delivered messages; they will be "
                          "found delivered at the next start")
        self.worker.shutdown(wait=True)
        self.remote.recorder.close()
        while self.stores:
            self.stores.popitem()[1].close()
        self.spool.close()
        self.accounts.close()

    async def run(self, sock):
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        listener = notify.Listener(sock)
        activation.ready()
        idle_since = time.monotonic()
        while not stop.is_set():
            more, busy = await loop.run_in_executor(
                self.worker, self.safe_pass, frozenset(self.remote.in_flight))
            self._hand_off()
            if busy:
                idle_since = time.monotonic()
            if more:
                continue
            if self._idle_expired(idle_since):
                log.info("queue empty and idle for %d s: exiting",
                         self.cfg.server.idle_exit)
                break
            streaming = time.monotonic() - idle_since < BUSY_WINDOW
            await _first_of(listener.wait(self._sleep_time()), stop.wait(),
                            self.released.wait())
            self.released.clear()
            if streaming:
                await asyncio.sleep(GATHER)
        server.ignore_stop_signals()
        await self.remote.close()
        activation.stopping()
        listener.close()

    def _sleep_time(self):
        timeout = self.cfg.deliverd.scan_interval or 60
        if self.save_due is not None:
            timeout = min(timeout, max(self.save_due - time.monotonic(), 0))
        due = self.spool.next_due(skip=frozenset(self.remote.in_flight))
        if due is not None:
            timeout = min(timeout, max(due - time.time(), 0.05,
                                       self.full_until - time.monotonic()))
        if self.cfg.server.idle_exit:
            timeout = min(timeout, self.cfg.server.idle_exit)
        return timeout

    def _idle_expired(self, idle_since):
        idle_exit = self.cfg.server.idle_exit
        return bool(idle_exit) and time.monotonic() - idle_since >= idle_exit \
            and not self.remote.in_flight and self.spool.count() == 0

    def _hand_off(self):
        for entry, recipients in self.handoff:
            self.remote.submit(entry, recipients)
        self.handoff.clear()

    def safe_pass(self, skip=frozenset()):
        """run_pass(), but an exception is logged and answered with a pause."""
        try:
            return self.run_pass(skip)
        except Exception:
            log.exception("delivery pass failed; retrying in %d s", RETRY_AFTER_ERROR)
            time.sleep(RETRY_AFTER_ERROR)
            return False, True

    def run_pass(self, skip=frozenset()):
        """One pass over the due messages but those in `skip` (the remote path's).
        Returns (more are due, did anything); the remote recipients found are
        left in `handoff`."""
        self._remove_orphans_if_due()
        if time.monotonic() < self.full_until:
            self._save_if_due()
            return False, False
        due = [e for e in self.spool.due(limit=PASS_MESSAGES + len(self.unsaved),
                                         skip=skip)
               if e.qid not in self.unsaved and not e.held][:PASS_MESSAGES]
        entries = _take(due)
        if not entries:
            self._save_if_due()
            return False, False
        batch = Batch(self.cfg.server.hostname)
        for entry in entries:
            batch.plan(entry, self.accounts)
        self.handoff += [(batch.entries[qid], rcpts)
                         for qid, rcpts in batch.remote.items()]
        try:
            batch.open(self.spool)
            for address, items in batch.mailboxes.items():
                self._deliver(batch, address, items)
        finally:
            batch.close()
        results = batch.results()
        batch.log_outcomes()
        if batch.short_of_space:
            self._wait_for_space(batch.short_of_space)
        elif batch.mailboxes:
            self._room_again()
        now = {qid: outcome for qid, outcome in results.items() if not _all_done(outcome)}
        self._hold({qid: outcome for qid, outcome in results.items() if qid not in now})
        if now:
            self._notify_failures(batch.entries, now)
            self.save(now)
        else:
            self._save_if_due()
        if self.full_until:
            return False, True
        return len(entries) < len(due) or len(due) == PASS_MESSAGES, True

    def _notify_failures(self, entries, results):
        """A failure notice for the local recipients that failed (RFC 5321
        6.1: mail accepted and then not delivered is returned)."""
        for qid, outcome in results.items():
            failed = {a: why for a, (state, why) in outcome.items() if state == "failed"}
            if failed:
                try:
                    notice_failures(self.spool, self.cfg.server.hostname,
                                    entries[qid], failed)
                except SpoolError as exc:
                    log.error("%s: could not queue the failure notice: %s", qid, exc)

    def _remove_orphans_if_due(self):
        if time.monotonic() >= self.orphans_due:
            self.spool.remove_orphans()
            self.orphans_due = time.monotonic() + ORPHAN_SCAN

    def _wait_for_space(self, why):
        """Pause delivery for FULL_RETRY seconds; logged when the pause begins."""
        if not self.full_until:
            log.error("no space for delivery (%s): the messages wait, tried again "
                      "every %d s", why, FULL_RETRY)
        self.full_until = time.monotonic() + FULL_RETRY

    def _room_again(self):
        if self.full_until:
            log.info("deliveries resumed: the disk has room again")
            self.full_until = 0.0

    def _hold(self, outcomes):
        if outcomes and self.save_due is None:
            self.save_due = time.monotonic() + SAVE_DELAY
        self.unsaved.update(outcomes)

    def _save_if_due(self):
        if self.save_due is not None and (len(self.unsaved) >= SAVE_MAX
                                          or time.monotonic() >= self.save_due):
            self.save()

    def save(self, outcomes=None):
        """Record `outcomes` and every held one in one spool commit. When the
        spool has no room, they are all held and tried again FULL_RETRY seconds
        later: their messages are not taken again meanwhile."""
        results = dict(self.unsaved)
        results.update(outcomes or {})
        if not results:
            return
        try:
            removed = self.spool.update(results)
        except SpoolFull as exc:
            self._wait_for_space(exc)
            self.unsaved, self.save_due = results, self.full_until
            return
        self._room_again()
        for qid in removed:
            log.info("%s: removed", qid)
        self.unsaved.clear()
        self.save_due = None

    def _store(self, address):
        """The open Store of a mailbox; the least recently used is closed when
        too many are open (opening an index costs more than a delivery)."""
        store = self.stores.pop(address, None)
        if store is None or not store.root.is_dir():
            if store is not None:
                store.close()
            store = Store(self.accounts.mailbox_dir(address))
        self.stores[address] = store
        while len(self.stores) > OPEN_STORES:
            self.stores.popitem(last=False)[1].close()
        return store

    def _drop_store(self, address):
        store = self.stores.pop(address, None)
        if store is not None:
            store.close()

    def _deliver(self, batch, address, items):
        """Deliver a mailbox's share of the pass with one deliver_many; past its
        quota, one message at a time, so that those that fit still go in."""
        try:
            store = self._store(address)
            quota = self.accounts.quota(address)
            for folder, share in folders(store, batch, items).items():
                try:
                    store.deliver_many([(base, batch.data[qid]) for qid, base in share],
                                       folder, quota=quota)
                except OverQuota:
                    _deliver_each(batch, store, address, share, quota, folder)
        except Exception as exc:
            if _no_space(exc):
                batch.mailbox_full(address, exc)
                return
            self._drop_store(address)
            # A file-system or index error is the mailbox's state (permissions, a
            # broken index); anything else is a bug and gets its traceback.
            log.error("%s: mailbox unavailable: %s", address, exc,
                      exc_info=not isinstance(exc, (OSError, lmdb.Error)))
            batch.mailbox_failed(address, f"4.2.0 mailbox unavailable: {exc}")
            return
        notify.send(self.notify_path, address.encode())


def _deliver_each(batch, store, address, items, quota, folder):
    for qid, base in items:
        try:
            store.deliver(base, batch.data[qid], folder, quota=quota)
        except OverQuota:
            # RFC 3463 3.3 (5.2.2): the mailbox is full; a permanent failure.
            batch.target_failed(address, qid, "5.2.2 mailbox full")


async def _first_of(*coros):
    tasks = [asyncio.ensure_future(coro) for coro in coros]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()


def _all_done(outcome):
    return all(state == "done" for state, _ in outcome.values())


def _no_space(exc):
    """True if `exc` says the file system has no room: a write's ENOSPC or
    EDQUOT, or LMDB's DiskError (its ENOSPC) at an index commit."""
    return isinstance(exc, lmdb.DiskError) or (
        isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT))


def _take(entries):
    """The entries that fit in one pass's byte budget (at least one)."""
    total, taken = 0, []
    for entry in entries:
        if taken and total + entry.size > PASS_BYTES:
            break
        taken.append(entry)
        total += entry.size
    return taken


if __name__ == "__main__":
    raise SystemExit(main())
